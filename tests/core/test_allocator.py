"""keep_freed_memory: a map-sized block comes from the heap and stays there once freed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seemore_core.allocator import MMAP_BYTES, keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]

# glibc's own accounting (mallinfo2, glibc 2.33+): `hblkhd` counts bytes in blocks served
# by mmap (returned to the kernel when freed, refaulted when asked again), `arena` the
# heap's size (which shrinks when the top of the heap is trimmed). A fresh process, then
# 20 MB allocated, written and freed, as a tile's map is.
_PROBE = """
import ctypes, json, sys
sys.path.insert(0, {root!r})
import torch
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
if {apply}:
    from seemore_core.allocator import keep_freed_memory
    assert keep_freed_memory()
def info():
    i = libc.mallinfo2()
    return {{"arena": i.arena, "mmapped": i.hblkhd}}
out = {{"start": info()}}
t = torch.ones(5 * 1024 * 1024)  # 20 MB
out["held"] = info()
del t
out["freed"] = info()
print(json.dumps(out))
"""

MB20 = 20 * 1024 * 1024


def _probe(apply: bool) -> dict[str, dict[str, int]]:
    code = _PROBE.format(root=str(ROOT), apply=apply)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_map_sized_blocks_come_from_the_heap_and_stay() -> None:
    if not keep_freed_memory():
        pytest.skip("this C library has no mallopt (not glibc)")
    assert MB20 < MMAP_BYTES
    plain, kept = _probe(False), _probe(True)
    # glibc's defaults: the first 20 MB block is mmapped, and given back when freed.
    assert plain["held"]["mmapped"] - plain["start"]["mmapped"] >= MB20
    assert plain["freed"]["mmapped"] == plain["start"]["mmapped"]
    # Kept: it comes from the heap, and the heap keeps its pages when it is freed (no
    # trim), so they are there, already faulted in, for the next map.
    assert kept["held"]["mmapped"] == kept["start"]["mmapped"]
    assert kept["held"]["arena"] - kept["start"]["arena"] >= MB20
    assert kept["freed"]["arena"] == kept["held"]["arena"]


def test_applying_twice_is_harmless() -> None:
    assert keep_freed_memory() == keep_freed_memory()
