"""How many CPUs this process may run on: the one answer every part of the core asks.

The tile plan, the PNG filter's thread pool, the work estimate and the app's worker all
size themselves by it. Torch-free on purpose: the PNG writer and the app import it
without loading torch, and torch's own thread cap is a separate, caller-side question
(``plan.usable_cores`` adds it).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 quota file: a container limited to 1.5 CPUs on a 16-core host has 16 in its
# affinity mask but gets the time of 2 at most.
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def machine_cores(cgroup_cpu_max: Path = _CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on: its affinity mask, within a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        n = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)
