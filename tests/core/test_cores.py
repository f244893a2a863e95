"""The one core count: affinity mask within a cgroup v2 quota, and who asks it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seemore_core import plan
from seemore_core.cores import machine_cores


def _affinity() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        (None, lambda n: n),  # no cgroup v2 file: the affinity mask alone
        ("max 100000\n", lambda n: n),  # no quota
        ("50000 100000\n", lambda n: 1),  # half a CPU still runs on one
        ("150000 100000\n", lambda n: min(n, 2)),  # 1.5 CPUs round up to 2
        ("garbage\n", lambda n: n),  # unreadable quota: ignored, not fatal
    ],
)
def test_machine_cores_reads_the_quota(tmp_path: Path, cpu_max: str | None, expected) -> None:
    f = tmp_path / "cpu.max"
    if cpu_max is not None:
        f.write_text(cpu_max)
    assert machine_cores(f) == expected(_affinity())


def test_plan_and_estimate_follow_the_one_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretending the machine has 4 cores, then 1, changes the tile plan's core count and
    # the work estimate's time the same way: both ask machine_cores.
    import torch

    from seemore_core import budget
    from seemore_core.arch.config import variant_config

    cfg = variant_config("T", 4)
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        seconds = {}
        for n in (4, 1):
            monkeypatch.setattr(plan, "machine_cores", lambda n=n: n)
            monkeypatch.setattr(budget, "machine_cores", lambda n=n: n)
            assert plan.usable_cores() == n
            seconds[n] = budget.estimate_work(640, 480, cfg).seconds
    finally:
        torch.set_num_threads(before)
    assert seconds[1] == pytest.approx(4 * seconds[4])
