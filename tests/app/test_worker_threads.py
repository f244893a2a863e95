"""The worker leaves the UI thread a core: torch threads at cores - 1 during a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from seemore_app import worker as worker_module
from seemore_app.worker import ModelChoice, UpscaleJob, Worker, run_threads

from seemore_core.engine import Engine

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"


def test_run_threads_leave_one_core_and_never_reach_zero() -> None:
    assert run_threads(8, 8) == 7
    assert run_threads(2, 2) == 1
    assert run_threads(1, 1) == 1  # one core: the run still needs a thread
    assert run_threads(16, 4) == 4  # OMP_NUM_THREADS=4 is kept, not raised


@pytest.mark.parametrize(("cores", "expected"), [(3, 2), (1, 1)])
def test_an_upscale_runs_on_cores_minus_one_and_restores(
    qapp, monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    seen: list[int] = []
    upscale = Engine.upscale

    def recording(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(torch.get_num_threads())  # the cap the engine plans within
        return upscale(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "upscale", recording)
    monkeypatch.setattr(worker_module, "machine_cores", lambda: cores)
    before = torch.get_num_threads()
    torch.set_num_threads(4)  # what the process had before the run
    try:
        w = Worker()
        outputs: list[object] = []
        failures: list[str] = []
        w.output.connect(outputs.append)
        w.failed.connect(lambda _job, msg: failures.append(msg))
        rgb = np.random.default_rng(0).random((12, 16, 3), dtype=np.float32)
        w.run(UpscaleJob(1, rgb, ModelChoice("file", str(CKPT), 2), device="cpu"))
        assert failures == []
        assert outputs and outputs[-1].image.shape == (24, 32, 3)
        assert seen == [expected]
        assert torch.get_num_threads() == 4  # put back after the run
    finally:
        torch.set_num_threads(before)


def test_threads_are_restored_when_a_run_fails(qapp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "machine_cores", lambda: 3)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        w = Worker()
        failures: list[str] = []
        w.failed.connect(lambda _job, msg: failures.append(msg))
        rgb = np.zeros((4, 4, 3), np.float32)
        w.run(UpscaleJob(1, rgb, ModelChoice("file", str(ASSETS / "missing.pth"), 2)))
        assert len(failures) == 1 and "missing.pth" in failures[0]
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
