"""The benchmark helpers whose output the figures rest on: the busy load really runs and
really stops, the fp32 peak follows from the CPU's description, the ONNX peer is exact.

No timing is asserted here: speed ratios are measured in the benchmarks' own runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_engine import BusyLoad, cpu_peak, routed_macs  # noqa: E402

from seemore_core.arch import build, count_macs  # noqa: E402

CPUINFO = """processor\t: 0
model name\t: AMD EPYC
cpu MHz\t\t: 2445.402
flags\t\t: fpu sse sse2 avx fma avx2 bmi2
processor\t: 1
cpu MHz\t\t: 2445.402
flags\t\t: fpu sse sse2 avx fma avx2 bmi2
"""


def _utime(pid: int) -> int:
    """User CPU ticks of a process (field 14 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[11])


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_busy_load_runs_inside_and_is_gone_after() -> None:
    with BusyLoad(2) as load:
        pids = load.pids
        assert len(pids) == 2 and os.getpid() not in pids
        assert all(_state(p) is not None for p in pids)
        # Spinning, not sleeping: each one's user CPU time grows (polled, since on a busy
        # machine a spinner may wait its turn for a while).
        start = [_utime(p) for p in pids]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            _utime(p) > t0 for p, t0 in zip(pids, start, strict=True)
        ):
            time.sleep(0.1)
        assert all(_utime(p) > t0 for p, t0 in zip(pids, start, strict=True))
    assert load.pids == []
    assert all(_state(p) in (None, "Z") for p in pids)  # reaped (or at most a zombie)


def test_busy_load_stops_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError), BusyLoad(1) as load:
        pid = load.pids[0]
        raise RuntimeError("benchmark failed")
    assert _state(pid) in (None, "Z")


def test_zero_busy_processes_start_nothing() -> None:
    with BusyLoad(0) as load:
        assert load.pids == []


def test_peak_from_the_cpu_description() -> None:
    p = cpu_peak(cores=2, cpuinfo=CPUINFO)
    # The figure quoted in issue 18: 2 cores x 2.445 GHz x 8 lanes x 2 FMA pipes.
    assert (p.cores, p.lanes, p.fma_units) == (2, 8, 2)
    assert p.gmacs == pytest.approx(78.25, abs=0.01)
    assert p.per_core_gmacs == pytest.approx(p.gmacs / 2)
    assert "AVX2+FMA" in p.how and "2.445 GHz" in p.how
    wide = cpu_peak(cores=2, cpuinfo=CPUINFO.replace("avx2", "avx2 avx512f"))
    assert wide.gmacs == pytest.approx(2 * p.gmacs)
    arm = cpu_peak(cores=4, cpuinfo="processor\t: 0\nFeatures\t: fp asimd\n")
    assert arm.lanes == 4 and arm.ghz == 2.0 and "assumed" in arm.how


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Two threads on a loaded 2-core machine wait at every barrier for the descheduled
    # one; these tests check arithmetic, not speed.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_routed_macs_counts_the_chosen_experts(one_thread: None) -> None:
    torch.manual_seed(0)
    model = build("T", 2)
    x = torch.rand(1, 3, 16, 24)
    worst = count_macs(model.cfg, 16, 24)
    macs = routed_macs(model, x)
    with torch.no_grad():
        chosen = [int(r.chosen[0, 0]) for r in model.inspect(x).routing]
    c, ranks = model.cfg.embedding_dim, model.cfg.ranks
    # Each block saves 3 C (d_max - d_chosen) MACs a pixel against the worst case.
    saved = sum(3 * c * (max(ranks) - ranks[j]) * 16 * 24 for j in chosen)
    assert saved > 0  # random weights route some block to a smaller expert
    assert macs == worst - saved
    assert 0 < macs <= worst


@pytest.mark.slow
def test_onnx_export_is_exact_against_the_reference(tmp_path: Path, one_thread: None) -> None:
    ort = pytest.importorskip("onnxruntime")
    from onnx_peer import EXACT, export_onnx
    from reference_seemore import reference_forward

    torch.manual_seed(0)
    model = build("T", 2)
    x = torch.rand(1, 3, 32, 48)
    path = export_onnx(model, x, tmp_path / "t.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(sess.run(None, {"x": x.numpy()})[0])
    ref = reference_forward(model.state_dict(), model.cfg, x)
    assert got.shape == (1, 3, 64, 96)
    assert float((got - ref).abs().max()) < EXACT
