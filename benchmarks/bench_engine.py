"""Engine speed and memory, as ratios against references measured in the same run.

    python benchmarks/bench_engine.py speed [--size 96] [--repeat 3] [--cpu-time]
    python benchmarks/bench_engine.py memory [--mp 1 4 16] [--scale 4]
    python benchmarks/bench_engine.py huge   [--mp 48]       # one long run, wall time + peak

speed: megapixels (input) per second of the straightforward reference forward
(benchmarks/reference_seemore.py) and of the engine (whole image, and tiled), same
weights, for T/B/L at x2 and x4; prints each ratio and the max abs difference.
--cpu-time uses the process's CPU time instead of wall time, which is steadier on a
shared machine (both sides are measured the same way).
memory: each size runs in a fresh subprocess; prints its peak resident memory, the
input+output image bytes, and the peak beyond them per input megapixel.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_seemore import reference_forward  # noqa: E402

from seemore_core.arch import build  # noqa: E402
from seemore_core.engine import Engine, EngineOptions  # noqa: E402


def _clock(cpu: bool) -> float:
    return time.process_time() if cpu else time.perf_counter()


def _timed(fn, repeat: int, cpu: bool) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: allocator, oneDNN primitive caches
    best = float("inf")
    for _ in range(repeat):
        t = _clock(cpu)
        fn()
        best = min(best, _clock(cpu) - t)
    return best


def speed(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    n = args.size
    rng = np.random.default_rng(0)
    img = rng.random((n, n, 3), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    mp = n * n / 1e6
    print(
        f"input {n}x{n}, threads {torch.get_num_threads()}, "
        f"{'CPU time' if args.cpu_time else 'wall time'}, best of {args.repeat}"
    )
    print(
        f"{'model':<6}{'ref MP/s':>10}{'whole MP/s':>12}{'ratio':>7}"
        f"{'tiled MP/s':>12}{'ratio':>7}{'max diff':>10}"
    )
    for variant in ("T", "B", "L"):
        for scale in (2, 4):
            _speed_row(variant, scale, img, x, mp, args)


def _speed_row(
    variant: str,
    scale: int,
    img: np.ndarray,
    x: torch.Tensor,
    mp: float,
    args: argparse.Namespace,
) -> None:
    model = build(variant, scale)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = model.cfg
    eng = Engine(model, device="cpu")
    with torch.no_grad():
        ref_out = reference_forward(sd, cfg, x)
        t_ref = _timed(lambda: reference_forward(sd, cfg, x), args.repeat, args.cpu_time)
    whole = EngineOptions(tile=0)
    tiled = EngineOptions(tile=args.tile)
    out = eng.upscale(img, whole).image
    t_whole = _timed(lambda: eng.upscale(img, whole), args.repeat, args.cpu_time)
    t_tiled = _timed(lambda: eng.upscale(img, tiled), args.repeat, args.cpu_time)
    ref_img = ref_out[0].clamp(0, 1).permute(1, 2, 0).numpy()
    diff = float(np.abs(out - ref_img).max())
    print(
        f"{variant} x{scale:<3}{mp / t_ref:>10.4f}{mp / t_whole:>12.4f}"
        f"{t_ref / t_whole:>7.2f}{mp / t_tiled:>12.4f}{t_ref / t_tiled:>7.2f}{diff:>10.1e}"
    )


def _one_run(mp: float, scale: int, tile: int | None, mmap: str | None) -> None:
    side = int((mp * 1e6) ** 0.5)
    img = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    eng = Engine(build("T", scale), device="cpu")
    t = time.perf_counter()
    res = eng.upscale(img, EngineOptions(tile=tile, output="uint8", mmap_dir=mmap))
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    images = img.nbytes + res.image.nbytes
    print(
        json.dumps(
            {
                "side": side,
                "wall_s": wall,
                "peak_rss": peak,
                "images": images,
                "tile": res.report.tile,
                "tiles": res.report.tiles,
            }
        )
    )


def memory(args: argparse.Namespace) -> None:
    print(
        f"SeemoRe-T x{args.scale}, tile {args.tile or 'auto'}, uint8 output; "
        "peak RSS per run (fresh process)"
    )
    print(
        f"{'input':>8}{'side':>7}{'tile':>6}{'peak GiB':>10}{'images GiB':>12}"
        f"{'beyond/MP MiB':>15}{'wall s':>8}"
    )
    base = None
    for mp in args.mp:
        r = _child(mp, args)
        beyond = r["peak_rss"] - r["images"]
        base = base or beyond / mp
        print(
            f"{mp:>6} MP{r['side']:>7}{r['tile']:>6}{r['peak_rss'] / 2**30:>10.2f}"
            f"{r['images'] / 2**30:>12.2f}{beyond / mp / 2**20:>15.1f}{r['wall_s']:>8.1f}"
        )
    print("(beyond/MP falling with size = memory grows with the tile, not the image)")


def _child(mp: float, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "_run",
        str(mp),
        str(args.scale),
        str(args.tile or -1),
        args.mmap or "",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        mp, scale, tile, mmap = sys.argv[2:6]
        t = int(tile)
        _one_run(float(mp), int(scale), None if t < 0 else t, mmap or None)
        return
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--size", type=int, default=96)
    s.add_argument("--tile", type=int, default=64)
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--cpu-time", action="store_true")
    for name, default in (("memory", [1.0, 4.0, 16.0]), ("huge", [48.0])):
        m = sub.add_parser(name)
        m.add_argument("--mp", type=float, nargs="+", default=default)
        m.add_argument("--scale", type=int, default=4)
        m.add_argument("--tile", type=int, default=None)
        m.add_argument("--mmap", default=None, help="folder for memory-mapped feature maps")
    args = p.parse_args()
    if args.cmd == "speed":
        speed(args)
    else:
        memory(args)


if __name__ == "__main__":
    main()
