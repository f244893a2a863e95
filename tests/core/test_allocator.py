"""keep_freed_memory: freed feature maps are reused instead of refaulted from the kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seemore_core.allocator import keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]

# A forward's pattern: maps of a few MB allocated, written and freed in turn, with one
# held while the next is made. Counts the page faults the loop costs.
_PROBE = """
import json, resource, sys
sys.path.insert(0, {root!r})
import torch
if {apply}:
    from seemore_core.allocator import keep_freed_memory
    assert keep_freed_memory()
torch.set_num_threads(1)
x = torch.ones(1, 36, 192, 192)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rounds(n):
    global x
    for _ in range(n):
        y = x * 1.0001
        z = y + 1e-4
        x = z.clone()
rounds(20)  # warm-up: the heap grows to its working size once
before = faults()
rounds(60)
print(json.dumps(faults() - before))
"""


def _faults(apply: bool) -> int:
    code = _PROBE.format(root=str(ROOT), apply=apply)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_maps_are_reused_not_refaulted() -> None:
    if not keep_freed_memory():
        pytest.skip("this C library has no mallopt (not glibc)")
    # 60 rounds x 3 maps of 5.3 MB, 1300 pages each when a map comes fresh. Measured:
    # glibc's defaults refault about a third of them (~20k faults), kept: none.
    plain, kept = _faults(False), _faults(True)
    assert kept * 10 < plain, (kept, plain)
    assert kept < 1300  # not even one map's worth over the 180 allocations


def test_applying_twice_is_harmless() -> None:
    assert keep_freed_memory() == keep_freed_memory()
