"""Engine speed and memory, as ratios against references measured in the same run.

    python benchmarks/bench_engine.py speed  [--size 512] [--repeat 1] [--models Tx2 ...]
    python benchmarks/bench_engine.py memory [--mp 1 4 16] [--scale 4] [--front-cache off]
    python benchmarks/bench_engine.py huge   [--mp 48]       # one long run, wall time + peak

speed: megapixels (input) per second of the straightforward reference forward
(benchmarks/reference_seemore.py) and of the engine (its default plan, and one
whole-image pass), same weights, for T/B/L at x2 and x4; prints each ratio and the max
abs difference of the engine's output from the reference's.
--cpu-time uses the process's CPU time instead of wall time, which is steadier on a
shared machine (both sides are measured the same way).
memory: each size runs in a fresh subprocess; prints its peak anonymous memory, the
input+output image bytes, the full-size feature maps held in RAM, and what lies beyond
them (which must not grow with the image).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
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


def speed(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    n = args.size
    rng = np.random.default_rng(0)
    img = rng.random((n, n, 3), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    mp = n * n / 1e6
    print(
        f"input {n}x{n}, threads {torch.get_num_threads()}, "
        f"{'CPU time' if args.cpu_time else 'wall time'}, best of {args.repeat} "
        "(the three runs interleaved)"
    )
    print(
        "engine: its default plan (on CPU above "
        f"{Engine.CPU_WHOLE_MAX_PIXELS} pixels, tiles of {Engine.DEFAULT_TILE['cpu']} px with "
        "the front cache); whole: the same fused network in one pass"
    )
    print(
        f"{'model':<6}{'ref MP/s':>10}{'engine MP/s':>13}{'ratio':>7}"
        f"{'whole MP/s':>12}{'ratio':>7}{'max diff':>10}"
    )
    for name in args.models:
        variant, scale = name[0], int(name[-1])
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
    auto, whole = EngineOptions(), EngineOptions(tile=0)
    runs = {
        "ref": lambda: reference_forward(sd, cfg, x),
        "engine": lambda: eng.upscale(img, auto),
        "whole": lambda: eng.upscale(img, whole),
    }
    with torch.no_grad():
        ref_out = reference_forward(sd, cfg, x)
        out = eng.upscale(img, auto).image
        eng.upscale(img, whole)  # warm-up: allocator, oneDNN primitive caches
        best = dict.fromkeys(runs, float("inf"))
        # Interleaved, so a noisy neighbour slows all three alike; best of each.
        for _ in range(args.repeat):
            for name, fn in runs.items():
                t = _clock(args.cpu_time)
                fn()
                best[name] = min(best[name], _clock(args.cpu_time) - t)
    ref_img = ref_out[0].clamp(0, 1).permute(1, 2, 0).numpy()
    diff = float(np.abs(out - ref_img).max())
    t_ref = best["ref"]
    print(
        f"{variant} x{scale:<3}{mp / t_ref:>10.4f}{mp / best['engine']:>13.4f}"
        f"{t_ref / best['engine']:>7.2f}{mp / best['whole']:>12.4f}"
        f"{t_ref / best['whole']:>7.2f}{diff:>10.1e}"
    )


class _AnonPeak:
    """Peak anonymous memory (RssAnon) of this process, sampled every 50 ms.

    Anonymous, not resident: pages of memory-mapped feature maps are file-backed page
    cache, which the kernel writes back and drops under pressure.
    """

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(0.05)

    def __enter__(self) -> _AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def _one_run(mp: float, scale: int, tile: int | None, mmap: str | None, cache: str) -> None:
    side = int((mp * 1e6) ** 0.5)
    img = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    eng = Engine(build("T", scale), device="cpu")
    front = {"auto": None, "on": True, "off": False}[cache]
    opts = EngineOptions(tile=tile, output="uint8", mmap_dir=mmap, front_cache=front)
    with _AnonPeak() as anon:
        t = time.perf_counter()
        res = eng.upscale(img, opts)
        wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    images = img.nbytes + res.image.nbytes
    maps = 0 if mmap else res.report.full_maps * eng.map_bytes(side, side)
    print(
        json.dumps(
            {
                "side": side,
                "wall_s": wall,
                "peak_rss": peak,
                "peak_anon": anon.peak,
                "images": images,
                "maps_ram": maps,
                "full_maps": res.report.full_maps,
                "tile": res.report.tile,
                "tiles": res.report.tiles,
            }
        )
    )


def memory(args: argparse.Namespace) -> None:
    print(
        f"SeemoRe-T x{args.scale}, tile {args.tile or 'auto'}, uint8 output, front cache "
        f"{args.front_cache}, maps {'memory-mapped in ' + args.mmap if args.mmap else 'in RAM'};"
        " one fresh process per size"
    )
    print(
        "beyond = peak anonymous memory - input and output images - full-size maps in RAM "
        "(the part that must grow with the tile, not the image)"
    )
    print(
        f"{'input':>8}{'side':>7}{'tile':>6}{'maps':>6}{'peak anon GiB':>15}{'peak RSS GiB':>14}"
        f"{'images GiB':>12}{'maps GiB':>10}{'beyond MiB':>12}{'wall s':>9}"
    )
    for mp in args.mp:
        r = _child(mp, args)
        beyond = r["peak_anon"] - r["images"] - r["maps_ram"]
        print(
            f"{mp:>6g} MP{r['side']:>7}{r['tile']:>6}{r['full_maps']:>6}"
            f"{r['peak_anon'] / 2**30:>15.2f}{r['peak_rss'] / 2**30:>14.2f}"
            f"{r['images'] / 2**30:>12.2f}{r['maps_ram'] / 2**30:>10.2f}"
            f"{beyond / 2**20:>12.0f}{r['wall_s']:>9.1f}",
            flush=True,
        )


def _child(mp: float, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "_run",
        str(mp),
        str(args.scale),
        str(args.tile or -1),
        args.mmap or "",
        args.front_cache,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        mp, scale, tile, mmap, cache = sys.argv[2:7]
        t = int(tile)
        _one_run(float(mp), int(scale), None if t < 0 else t, mmap or None, cache)
        return
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--size", type=int, default=512)
    s.add_argument("--repeat", type=int, default=1)
    s.add_argument("--models", nargs="+", default=["Tx2", "Tx4", "Bx2", "Bx4", "Lx2", "Lx4"])
    s.add_argument("--cpu-time", action="store_true")
    for name, default in (("memory", [1.0, 4.0, 16.0]), ("huge", [48.0])):
        m = sub.add_parser(name)
        m.add_argument("--mp", type=float, nargs="+", default=default)
        m.add_argument("--scale", type=int, default=4)
        m.add_argument("--tile", type=int, default=None)
        m.add_argument("--mmap", default=None, help="folder for memory-mapped feature maps")
        m.add_argument(
            "--front-cache",
            choices=("auto", "on", "off"),
            default="off",
            help="off (default here): the bounded-memory mode, two full-size maps",
        )
    args = p.parse_args()
    if args.cmd == "speed":
        speed(args)
    else:
        memory(args)


if __name__ == "__main__":
    main()
