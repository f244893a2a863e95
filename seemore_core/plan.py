"""How an upscale runs on the machine as it is now: tile size, tile workers, threads.

A desktop is never idle. On a CPU whose cores are partly taken by other programs, one
OpenMP parallel region per op (two threads on many small tiles) waits at every barrier
for the thread the scheduler preempted: measured 1.4-2.3x slower than one whole-image
pass (issue 18). So the CPU plan counts the cores free *now* and spends them on tile
workers with one intra-op thread each, which never wait for each other inside a pass;
with one core free it runs one thread, and a whole-image pass up to a larger size.
Figures: benchmarks/README.md, "run plan".

Every decision lives in `plan_run`; `measure_cpu` only gathers the figures it reads, so
tests inject figures instead of loading the machine.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .cores import machine_cores
from .tiling import round_tile

# Tile side (input px): a tile's working set stays nearer the caches than a whole big
# pass. One thread on a loaded machine, x4 at 512 px: tiles of 128 px 1.5x faster than
# one whole pass. Against 128 px, 192 px tiles recompute less halo (the SME pass reads
# 6 px around each tile) for the same cache behaviour: T x4 on the idle 2-core machine,
# median of 3 interleaved, 192 px was 1.02-1.04x with two tile workers (720x576, 512x512,
# 500x480) and 1.11x with one thread (720x576); 256 px won on two of those images and
# lost on the third (benchmarks/results/cpu-2core-2026-12-02-idle.txt).
CPU_TILE = 192
# Above this many input pixels a whole pass is slower than tiles (falls out of cache).
CPU_WHOLE_MAX_PIXELS = 320 * 320
# The same with one free core: one thread has no barrier to lose and a whole pass has
# no halo to recompute, so it stays ahead of tiles up to a larger size (x4 at 384 px).
CPU_BUSY_WHOLE_MAX_PIXELS = 384 * 384
GPU_TILE = 512
# A core counts as free when less than this share of it is taken by others: a browser
# tab's occasional work should not halve the plan, a spinning job should.
FREE_ROUNDING = 0.5


@dataclass(frozen=True)
class CpuState:
    """The CPU as this process finds it: how many cores it may use and how busy they are."""

    cores: int  # CPUs we may run on: affinity, cgroup quota and torch's thread cap
    busy: float  # cores' worth of work other processes ran over the sample window
    source: str  # how `busy` was measured, for reports

    @property
    def free_cores(self) -> int:
        """Cores we can expect to have to ourselves, at least 1."""
        free = self.cores - max(0.0, self.busy)
        return max(1, min(self.cores, math.floor(free + FREE_ROUNDING)))


@dataclass(frozen=True)
class RunPlan:
    tile: int  # input px per tile side; 0: one whole-image pass
    workers: int  # tiles run concurrently, each with `threads` intra-op threads
    threads: int | None  # intra-op threads per worker; None: leave torch's setting
    free_cores: int | None  # what the CPU plan was based on (None off the CPU)
    reason: str


def plan_run(
    device: str,
    h: int,
    w: int,
    grid: int,
    *,
    tile: int | None,
    workers: int | None,
    whole_fits: bool,
    cpu: CpuState | None,
) -> RunPlan:
    """The one place that picks tile size, tile workers and threads.

    `tile`/`workers`: the caller's choice (None: auto). `whole_fits`: a whole-image pass
    fits comfortably in free memory. `cpu`: the CPU's state (needed on the CPU only).
    Raising on an impossible explicit request is the engine's job, not this function's.
    """
    if h < grid or w < grid:
        tile = 0  # smaller than one pooling cell: the network pads it whole
    elif tile is not None and tile > 0:
        tile = round_tile(tile, grid)
    if device != "cpu":
        # GPUs: one stream; the whole image when it fits, else big tiles.
        if tile is None:
            tile = 0 if whole_fits else round_tile(GPU_TILE, grid)
        return RunPlan(tile, 1, None, None, "gpu: one stream")
    assert cpu is not None, "the CPU plan needs the CPU's state"
    free = cpu.free_cores
    why = f"{free} of {cpu.cores} cores free ({cpu.source})"
    if tile is None:
        small = h * w <= (CPU_WHOLE_MAX_PIXELS if free >= 2 else CPU_BUSY_WHOLE_MAX_PIXELS)
        tile = 0 if small and whole_fits else round_tile(CPU_TILE, grid)
    if tile == 0:
        # One pass: its ops are large, so intra-op threads on the free cores pay off.
        return RunPlan(0, 1, free, free, f"whole image; {why}")
    n_tiles = math.ceil(h / tile) * math.ceil(w / tile)
    if workers is None:
        workers = min(free, n_tiles)
    workers = max(1, workers)
    # Tile workers get one thread each: no barrier between cores inside a pass. A single
    # worker keeps the free cores as intra-op threads (what an explicit workers=1 asks).
    threads = 1 if workers > 1 else free
    return RunPlan(tile, workers, threads, free, f"{workers} tile workers x {threads}; {why}")


# -- measuring the CPU ---------------------------------------------------------------------


def usable_cores() -> int:
    """CPUs this process may run on (``cores.machine_cores``) within torch's thread cap.

    torch's cap carries OMP_NUM_THREADS or a caller's torch.set_num_threads: a process
    told to use one thread gets a one-core plan.
    """
    return max(1, min(machine_cores(), torch.get_num_threads()))


def _stat_jiffies() -> tuple[int, int, int] | None:
    """(busy, total jiffies over all CPUs, number of CPUs) from /proc/stat, or None."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    if not lines or not lines[0].startswith("cpu "):
        return None
    v = [int(x) for x in lines[0].split()[1:9]]
    # user nice system idle iowait irq softirq steal. Niced time counts as busy: with
    # autogroup scheduling (the Linux default) a niced job in another session still
    # gets an equal share. Steal is time the hypervisor gave to other guests.
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    total = busy + v[3] + v[4]
    ncpu = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return busy, total, max(1, ncpu)


def measure_cpu(window_s: float = 0.1) -> CpuState:
    """Sample how many cores other processes keep busy, excluding this process's own use.

    /proc/stat over a short window: it tells the present, not the last minute (a load
    average lags, and counts this process's previous run). Elsewhere: the load average.
    """
    cores = usable_cores()
    first = _stat_jiffies()
    if first is not None:
        own0 = _own_cpu_s()
        time.sleep(window_s)
        second = _stat_jiffies()
        own = _own_cpu_s() - own0
        if second is not None and second[1] > first[1]:
            hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            ncpu = second[2]
            per_cpu = (second[1] - first[1]) / ncpu  # jiffies each CPU lived through
            others = max(0.0, (second[0] - first[0] - own * hz) / per_cpu)
            # Others spread over every CPU; count the part that falls on ours.
            return CpuState(cores, others * min(1.0, cores / ncpu), "/proc/stat")
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return CpuState(cores, 0.0, "unmeasured")
    return CpuState(cores, load, "load average")


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system
