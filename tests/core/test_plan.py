"""The run plan (issue 18): tile size, tile workers and threads from the free cores.

Plan decisions are tested with injected CPU figures, never by loading the machine or
timing anything; the engine tests check that parallel tile workers give the serial,
whole-image result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from enginekit import photo_like, progress_seen_when_cancelled_at

import seemore_core.plan as plan_mod
from seemore_core.arch import build
from seemore_core.engine import Engine, EngineError, EngineOptions
from seemore_core.plan import (
    CPU_BUSY_WHOLE_MAX_PIXELS,
    CPU_TILE,
    CPU_WHOLE_MAX_PIXELS,
    CpuState,
    RunPlan,
    measure_cpu,
    plan_run,
    usable_cores,
)
from seemore_core.progress import Progress, ProgressInfo

GRID = 16


def _cpu(cores: int, busy: float) -> CpuState:
    return CpuState(cores=cores, busy=busy, source="test")


def _plan(
    h: int, w: int, cpu: CpuState, tile: int | None = None, workers: int | None = None
) -> RunPlan:
    return plan_run("cpu", h, w, GRID, tile=tile, workers=workers, whole_fits=True, cpu=cpu)


# -- decisions from injected figures ----------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "busy", "free"),
    [(2, 0.0, 2), (2, 0.3, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 2.0, 1), (2, 9.0, 1), (8, 2.2, 6)],
)
def test_free_cores_round_and_never_drop_below_one(cores: int, busy: float, free: int) -> None:
    assert _cpu(cores, busy).free_cores == free


def test_idle_cpu_runs_small_tiles_on_one_worker_per_core() -> None:
    p = _plan(512, 512, _cpu(2, 0.0))
    assert (p.tile, p.workers, p.threads) == (CPU_TILE, 2, 1)


def test_one_core_taken_runs_one_single_threaded_worker() -> None:
    # The issue-18 case: another process keeps one of two cores busy.
    p = _plan(512, 512, _cpu(2, 1.0))
    assert (p.tile, p.workers, p.threads) == (CPU_TILE, 1, 1)
    assert "1 of 2 cores free" in p.reason


def test_one_free_core_takes_bigger_images_whole() -> None:
    assert CPU_BUSY_WHOLE_MAX_PIXELS > CPU_WHOLE_MAX_PIXELS
    h = w = 352  # between the two limits
    assert CPU_WHOLE_MAX_PIXELS < h * w <= CPU_BUSY_WHOLE_MAX_PIXELS
    idle, busy = _plan(h, w, _cpu(2, 0.0)), _plan(h, w, _cpu(2, 1.2))
    assert (idle.tile, idle.workers) == (CPU_TILE, 2)
    assert (busy.tile, busy.workers, busy.threads) == (0, 1, 1)


def test_small_images_go_whole_with_the_free_cores_as_threads() -> None:
    p = _plan(256, 256, _cpu(2, 0.0))
    assert (p.tile, p.workers, p.threads) == (0, 1, 2)
    p = _plan(256, 256, _cpu(2, 1.5))
    assert (p.tile, p.workers, p.threads) == (0, 1, 1)


def test_small_images_tile_when_a_whole_pass_does_not_fit() -> None:
    p = plan_run("cpu", 256, 256, GRID, tile=None, workers=None, whole_fits=False, cpu=_cpu(2, 0))
    assert p.tile == CPU_TILE and p.workers == 2


def test_explicit_tile_and_workers_are_kept() -> None:
    p = _plan(512, 512, _cpu(2, 0.0), tile=40)
    assert (p.tile, p.workers, p.threads) == (48, 2, 1)  # rounded up to the pooling grid
    # One worker: tiles in turn, the free cores as intra-op threads (the old plan).
    p = _plan(512, 512, _cpu(2, 0.0), tile=128, workers=1)
    assert (p.workers, p.threads) == (1, 2)
    p = _plan(512, 512, _cpu(2, 0.0), tile=0)
    assert (p.tile, p.workers, p.threads) == (0, 1, 2)


def test_workers_never_outnumber_tiles() -> None:
    p = _plan(200, 200, _cpu(8, 0.0), tile=128)  # 2 x 2 tiles
    assert p.workers == 4 and p.threads == 1


def test_tiny_images_and_gpus() -> None:
    assert _plan(8, 300, _cpu(2, 0.0), tile=64).tile == 0
    gpu = plan_run("cuda", 2000, 2000, GRID, tile=None, workers=None, whole_fits=True, cpu=None)
    assert (gpu.tile, gpu.workers, gpu.threads) == (0, 1, None)  # torch's threads untouched
    gpu = plan_run("cuda", 2000, 2000, GRID, tile=None, workers=None, whole_fits=False, cpu=None)
    assert gpu.tile == 512 and gpu.workers == 1


# -- measuring -----------------------------------------------------------------------------


def _seq(*values):  # type: ignore[no-untyped-def]
    it: Iterator = iter(values)
    return lambda *a: next(it)


def test_measure_cpu_counts_others_not_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_mod, "usable_cores", lambda: 2)
    monkeypatch.setattr(plan_mod.time, "sleep", lambda s: None)
    monkeypatch.setattr(plan_mod.os, "sysconf", lambda name: 100)
    # 2 CPUs lived 100 jiffies each; 150 of the 200 were busy, 50 of them ours (0.5 s).
    monkeypatch.setattr(plan_mod, "_stat_jiffies", _seq((1000, 5000, 2), (1150, 5200, 2)))
    monkeypatch.setattr(plan_mod, "_own_cpu_s", _seq(3.0, 3.5))
    cpu = measure_cpu()
    assert cpu.source == "/proc/stat"
    assert cpu.busy == pytest.approx(1.0)
    assert cpu.free_cores == 1


def test_measure_cpu_falls_back_to_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_mod, "usable_cores", lambda: 4)
    monkeypatch.setattr(plan_mod, "_stat_jiffies", lambda: None)
    monkeypatch.setattr(plan_mod.os, "getloadavg", lambda: (2.6, 1.0, 1.0))
    cpu = measure_cpu()
    assert (cpu.source, cpu.busy, cpu.free_cores) == ("load average", 2.6, 1)


def test_usable_cores_obey_torchs_thread_cap() -> None:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert usable_cores() == 1
    finally:
        torch.set_num_threads(old)


def test_measure_cpu_on_this_machine_gives_sane_figures() -> None:
    cpu = measure_cpu(0.02)
    assert 1 <= cpu.free_cores <= cpu.cores and cpu.busy >= 0


# -- the engine with parallel tile workers ----------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Engine:
    torch.manual_seed(0)
    e = Engine(build("T", 2), device="cpu")
    e.cpu_state = lambda: _cpu(2, 0.0)  # an idle 2-core machine, whatever this one does
    return e


def test_parallel_tiles_equal_serial_tiles_and_the_whole_image(engine: Engine) -> None:
    img = photo_like(45, 53, seed=3)
    whole = engine.upscale(img, EngineOptions(tile=0))
    serial = engine.upscale(img, EngineOptions(tile=16, workers=1))
    par = engine.upscale(img, EngineOptions(tile=16))  # auto workers: 2 free cores
    assert (par.report.workers, par.report.threads) == (2, 1)
    assert (serial.report.workers, serial.report.threads) == (1, 2)
    assert float(np.abs(par.image - serial.image).max()) <= 1e-6
    assert float(np.abs(par.image - whole.image).max()) <= 1e-4
    for a, b in zip(par.routing, whole.routing, strict=True):
        assert torch.equal(a.chosen, b.chosen)
        assert torch.allclose(a.probs, b.probs, atol=1e-5)


def test_parallel_tiles_keep_a_feature_region(engine: Engine) -> None:
    img = photo_like(48, 40)
    pts = ("rme_in", "more_out", "see_out")
    region = (5, 9, 20, 17)
    whole = engine.upscale(img, EngineOptions(tile=0, feature_points=pts, feature_region=region))
    par = engine.upscale(
        img, EngineOptions(tile=16, workers=3, feature_points=pts, feature_region=region)
    )
    assert set(par.features) == set(whole.features)
    for k, v in whole.features.items():
        assert float((par.features[k] - v).abs().max()) <= 1e-4, k


def test_tiles_run_in_worker_threads_with_one_intra_op_thread(engine: Engine) -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()
    head = engine.model.head

    def spy(x: torch.Tensor) -> torch.Tensor:
        with lock:
            seen.append((threading.current_thread().name, torch.get_num_threads()))
        return head(x)

    before = torch.get_num_threads()
    engine.model.head = spy  # type: ignore[method-assign]
    try:
        engine.upscale(photo_like(40, 40), EngineOptions(tile=16))
    finally:
        del engine.model.head
    assert seen and all(name.startswith("seemore-tile") and n == 1 for name, n in seen)
    assert torch.get_num_threads() == before  # the caller's setting is put back


def test_parallel_progress_is_in_order_and_cancel_stops_it(engine: Engine) -> None:
    seen: list[ProgressInfo] = []
    res = engine.upscale(photo_like(40, 40), EngineOptions(tile=16), Progress(seen.append))
    work = [p.done for p in seen if p.stage == "upscale" and p.done > 0]
    assert work == list(range(1, res.report.tiles * (2 + 3 * 6) + 1))

    calls = progress_seen_when_cancelled_at(engine, 3)
    assert max(calls) == 3


def test_engine_plan_follows_the_cpu_state(engine: Engine) -> None:
    assert engine.plan(512, 512, None).workers == 2
    busy = engine.plan(512, 512, None, cpu=_cpu(2, 1.0))
    assert (busy.tile, busy.workers, busy.threads) == (CPU_TILE, 1, 1)
    with pytest.raises(EngineError, match="workers"):
        engine.upscale(photo_like(20, 20), EngineOptions(tile=16, workers=0))
