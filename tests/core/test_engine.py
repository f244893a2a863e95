"""The engine: tiled == whole, progress, cancel, OOM retry, devices, records."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch
from enginekit import photo_like, progress_seen_when_cancelled_at

from seemore_core.arch import build
from seemore_core.engine import Engine, EngineError, EngineOptions, select_device, select_dtype
from seemore_core.errors import Cancelled
from seemore_core.plan import CpuState
from seemore_core.progress import Progress, ProgressInfo
from seemore_core.tiling import upsample_window


@pytest.fixture(scope="module")
def engines() -> dict[int, Engine]:
    torch.manual_seed(0)
    return {s: Engine(build("T", s), device="cpu") for s in (2, 3, 4)}


@pytest.mark.parametrize(
    ("scale", "hw", "tile"),
    [(2, (45, 47), 16), (3, (50, 75), 32), (4, (37, 53), 48), (2, (70, 64), 40), (3, (33, 90), 17)],
)
def test_tiled_equals_whole(
    engines: dict[int, Engine], scale: int, hw: tuple[int, int], tile: int
) -> None:
    e = engines[scale]
    img = photo_like(*hw, seed=scale)
    whole = e.upscale(img, EngineOptions(tile=0))
    tiled = e.upscale(img, EngineOptions(tile=tile))
    assert whole.report.tiles == 1 and tiled.report.tiles > 1
    assert tiled.image.shape == (hw[0] * scale, hw[1] * scale, 3)
    assert float(np.abs(tiled.image - whole.image).max()) <= 1e-4
    for a, b in zip(tiled.routing, whole.routing, strict=True):
        assert torch.equal(a.chosen, b.chosen)
        assert torch.allclose(a.probs, b.probs, atol=1e-5)


def test_tiled_integer_output_matches_8bit_rounding(engines: dict[int, Engine]) -> None:
    e = engines[2]
    img = photo_like(40, 40)
    whole = e.upscale(img, EngineOptions(tile=0, output="uint8"))
    tiled = e.upscale(img, EngineOptions(tile=16, output="uint8"))
    assert whole.image.dtype == np.uint8
    # Identical 8-bit results but for values that sit on a rounding boundary.
    assert np.mean(whole.image != tiled.image) < 1e-3
    assert int(np.abs(whole.image.astype(int) - tiled.image).max()) <= 1


def test_tiled_features_for_a_region(engines: dict[int, Engine]) -> None:
    e = engines[2]
    img = photo_like(48, 40)
    pts = ("rme_in", "more_out", "sme_out", "see_out", "expert_lowrank")
    region = (5, 9, 20, 17)  # x, y, w, h
    whole = e.upscale(img, EngineOptions(tile=0, feature_points=pts, feature_region=region))
    tiled = e.upscale(img, EngineOptions(tile=16, feature_points=pts, feature_region=region))
    assert set(tiled.features) == set(whole.features)
    for k, v in whole.features.items():
        assert v.shape[-2:] == (17, 20)
        assert float((tiled.features[k] - v).abs().max()) <= 1e-4, k


@pytest.mark.parametrize("scale", [2, 4])
def test_front_cache_on_and_off_give_the_whole_image_result(
    engines: dict[int, Engine], monkeypatch: pytest.MonkeyPatch, scale: int
) -> None:
    """Pass B either reads the front's maps cached by pass A or recomputes them."""
    e = engines[scale]
    img = photo_like(53, 38, seed=7)
    whole = e.upscale(img, EngineOptions(tile=0)).image
    for fits in (True, False):
        monkeypatch.setattr(Engine, "front_cache_fits", lambda self, h, w, f=fits: f)
        tiled = e.upscale(img, EngineOptions(tile=20)).image
        assert float(np.abs(tiled - whole).max()) <= 1e-4, fits


IDLE = CpuState(cores=2, busy=0.0, source="test")


def test_auto_plan_tiles_big_images_on_cpu(engines: dict[int, Engine]) -> None:
    e = engines[2]
    t = Engine.DEFAULT_TILE["cpu"]
    assert e.plan_tile(300, 300, None, IDLE) == 0
    assert e.plan_tile(400, 300, None, IDLE) == t


def test_memory_mapped_maps_give_the_same_result(engines: dict[int, Engine], tmp_path) -> None:
    e = engines[3]
    img = photo_like(40, 36)
    ram = e.upscale(img, EngineOptions(tile=16))
    disk = e.upscale(img, EngineOptions(tile=16, mmap_dir=str(tmp_path)))
    assert float(np.abs(ram.image - disk.image).max()) <= 1e-5
    assert list(tmp_path.iterdir()) == []  # temporary maps are removed


def test_maps_go_to_files_when_ram_is_short(
    engines: dict[int, Engine], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import seemore_core.engine as eng

    e = engines[2]
    img = photo_like(40, 44)
    want = e.upscale(img, EngineOptions(tile=0)).image
    monkeypatch.setattr(eng, "available_memory", lambda device: 1 << 16)
    monkeypatch.setattr(eng.tempfile, "gettempdir", lambda: str(tmp_path))
    res = e.upscale(img)  # auto: tiles, and the maps (0.5 MB) cannot be held in 64 KiB
    assert res.report.tile > 0 and res.report.full_maps == 2
    assert any("kept in files" in w for w in res.report.warnings)
    assert float(np.abs(res.image - want).max()) <= 1e-4
    assert list(tmp_path.iterdir()) == []  # the map files are gone afterwards
    # No room on disk either: a clear error before any work.
    monkeypatch.setattr(eng.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
    with pytest.raises(EngineError, match="free some space"):
        e.upscale(img)


def test_upsample_window_matches_interpolate() -> None:
    coarse = torch.rand(1, 4, 5, 7)
    full = torch.nn.functional.interpolate(coarse, size=(83, 117), mode="bilinear")
    part = upsample_window(coarse, (83, 117), (10, 50, 3, 99))
    assert float((part - full[..., 10:50, 3:99]).abs().max()) < 1e-6
    # Born channels-last, the layout of the k it is added to (no layout change there).
    assert part.is_contiguous(memory_format=torch.channels_last)
    cl = coarse.contiguous(memory_format=torch.channels_last)
    assert torch.equal(upsample_window(cl, (83, 117), (10, 50, 3, 99)), part)
    # Added onto a map in the same pass: the sum, still channels-last.
    k = torch.rand(1, 4, 40, 96).contiguous(memory_format=torch.channels_last)
    summed = upsample_window(coarse, (83, 117), (10, 50, 3, 99), add_to=k)
    assert float((summed - (k + full[..., 10:50, 3:99])).abs().max()) < 1e-6
    assert summed.is_contiguous(memory_format=torch.channels_last)
    # Windows at the image's edges (the clamped neighbours) and a coarse map of one cell.
    for win in ((0, 83, 0, 117), (80, 83, 110, 117), (0, 1, 116, 117)):
        got = upsample_window(coarse, (83, 117), win)
        assert float((got - full[..., win[0] : win[1], win[2] : win[3]]).abs().max()) < 1e-6
    one = torch.rand(1, 4, 1, 1)
    spread = torch.nn.functional.interpolate(one, size=(9, 5), mode="bilinear")
    assert float((upsample_window(one, (9, 5), (0, 9, 0, 5)) - spread).abs().max()) < 1e-6


def test_progress_reports_every_tile_and_eta(engines: dict[int, Engine]) -> None:
    seen: list[ProgressInfo] = []
    e = engines[2]
    res = e.upscale(photo_like(40, 40), EngineOptions(tile=16), Progress(seen.append))
    tiles = res.report.tiles
    work = [p for p in seen if p.stage == "upscale" and p.done > 0]
    # A report per tile per pass: head, 3 passes per block, tail.
    assert len(work) == tiles * (2 + 3 * 6)
    assert [p.done for p in work] == list(range(1, len(work) + 1))
    assert work[-1].fraction == 1.0
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in work)


def test_cancel_takes_effect_within_one_tile(engines: dict[int, Engine]) -> None:
    e = engines[2]
    calls = progress_seen_when_cancelled_at(e, 3)
    assert max(calls) == 3  # no tile ran after the cancel


def test_cancel_from_another_thread(engines: dict[int, Engine]) -> None:
    e = engines[2]
    progress = Progress()
    started = threading.Event()
    progress.callback = lambda p: started.set()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            e.upscale(photo_like(96, 96), EngineOptions(tile=16), progress)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    assert started.wait(60)
    progress.cancel()
    t.join(60)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)


def test_out_of_memory_retries_with_smaller_tiles(
    engines: dict[int, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    e = engines[2]
    real = e._run
    tiles_tried: list[int] = []

    def flaky(x, tile, opts, progress, *store, **kw):  # type: ignore[no-untyped-def]
        tiles_tried.append(tile)
        if tile == 0 or tile > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(x, tile, opts, progress, *store, **kw)

    monkeypatch.setattr(e, "_run", flaky)
    img = photo_like(48, 48)
    res = e.upscale(img, EngineOptions(tile=0))
    assert tiles_tried == [0, 24, 16]
    assert res.report.tile == 16 and len(res.report.warnings) == 2
    assert "out of memory" in res.report.warnings[0]
    monkeypatch.undo()
    assert float(np.abs(res.image - e.upscale(img, EngineOptions(tile=0)).image).max()) <= 1e-4


def test_whole_image_refused_up_front_when_it_cannot_fit(
    engines: dict[int, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    import seemore_core.engine as eng

    monkeypatch.setattr(eng, "available_memory", lambda device: 1 << 20)
    e = engines[2]
    with pytest.raises(EngineError, match="GiB"):
        e.upscale(photo_like(64, 64), EngineOptions(tile=0))
    # Auto picks tiles instead.
    assert e.plan_tile(640, 480, None, IDLE) == Engine.DEFAULT_TILE["cpu"]


def test_per_tile_routing_returns_a_map(engines: dict[int, Engine]) -> None:
    e = engines[2]
    res = e.upscale(photo_like(64, 48), EngineOptions(tile=32, per_tile_routing=True))
    tr = res.tile_routing
    assert tr is not None
    assert len(tr.tiles) == 4 and tr.chosen.shape == (4, 6) and tr.probs.shape == (4, 6, 3)
    assert np.allclose(tr.probs.sum(-1), 1, atol=1e-5)
    assert (tr.chosen == tr.probs.argmax(-1)).all()
    assert res.image.shape == (128, 96, 3)


def test_tiny_images_go_whole(engines: dict[int, Engine]) -> None:
    res = engines[4].upscale(photo_like(1, 1), EngineOptions(tile=16))
    assert res.image.shape == (4, 4, 3) and res.report.tile == 0


def test_device_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert select_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto").type in ("cpu", "mps")
    with pytest.raises(EngineError, match="no CUDA"):
        select_device("cuda")
    with pytest.raises(EngineError, match="unknown device"):
        select_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto").type == "cuda"
    assert select_dtype("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(EngineError):
        select_dtype("fp16", torch.device("cpu"))


def test_bf16_on_cpu_is_close_and_said(engines: dict[int, Engine]) -> None:
    model = build("T", 2)
    img = photo_like(32, 32)
    ref = Engine(model, device="cpu").upscale(img, EngineOptions(tile=0)).image
    res = Engine(copy.deepcopy(model), device="cpu", precision="bf16")
    out = res.upscale(img, EngineOptions(tile=0))
    assert out.report.precision == "bf16"
    assert float(np.abs(out.image - ref).max()) < 0.1
