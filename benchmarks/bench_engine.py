"""Engine speed and memory, as ratios against references measured in the same run.

    python benchmarks/bench_engine.py speed  [--size 512] [--repeat 1] [--models Tx2 ...]
    python benchmarks/bench_engine.py memory [--mp 1 4 16] [--scale 4] [--front-cache off]
    python benchmarks/bench_engine.py huge   [--mp 48]       # one long run, wall time + peak
    python benchmarks/bench_engine.py gmacs  [--size 512] [--scale 4] [--busy 1] [--repeat 3]
    python benchmarks/bench_engine.py process [--image IMG] [--weights W] [--busy 1] [--repeat 3]
    python benchmarks/bench_engine.py plan   [--size 384] [--busy 1] [--repeat 3] [--variants 128x1]

speed: megapixels (input) per second of the straightforward reference forward
(benchmarks/reference_seemore.py) and of the engine (its default plan, and one
whole-image pass), same weights, for T/B/L at x2 and x4; prints each ratio and the max
abs difference of the engine's output from the reference's.
--cpu-time uses the process's CPU time instead of wall time, which is steadier on a
shared machine (both sides are measured the same way).
memory: each size runs in a fresh subprocess; prints its peak anonymous memory, the
input+output image bytes, the full-size feature maps held in RAM, and what lies beyond
them (which must not grow with the image).
gmacs: effective GMAC/s of SeemoRe-T (MACs of the image's actual routing by formula,
arch/facts.py) for the reference, the engine's default plan and a whole-image pass,
against the CPU's fp32 peak: derived from its flags, clock and cores (`cpu_peak`) and
measured as the best single-thread sgemm rate; by wall time and per busy CPU-second.
process: whole processes, as a user runs them: `seemore upscale IMG` against a process
running the reference network on the same weights and image, alternated, `--repeat`
times each; medians of wall time (imports and file I/O included on both sides), their
ratio, and the largest difference between the two 8-bit outputs (in levels).
plan: the engine's automatic plan (seemore_core.plan: tile, tile workers, threads from
the cores free now) against `--tile 0` and the reference, interleaved, in one process;
prints the plan the engine chose and why, the CPU state it measured, medians, each
ratio against the reference and against tile 0, and each output's max difference from
the reference. --variants adds fixed plans, TILExWORKERS (128x1: 128 px tiles in turn
with the free cores as intra-op threads; 256x2: two workers). --old adds the plan before
issue 18: tiles in turn or one whole pass, every core an intra-op thread, busy or not.
--busy N (speed, gmacs, process, plan): N processes of our own spin on the CPU for the
whole measurement and are stopped after it, so the busy case is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_seemore import reference_forward  # noqa: E402

from seemore_core.arch import build, count_macs  # noqa: E402
from seemore_core.engine import Engine, EngineOptions  # noqa: E402


def _clock(cpu: bool) -> float:
    return time.process_time() if cpu else time.perf_counter()


# A spinning Python loop keeps one core's integer pipes busy the way a browser tab or
# another job does; the measured code then competes for that core with the scheduler.
_SPIN = "import signal, sys; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nwhile 1: pass"


class BusyLoad:
    """N CPU-bound processes of our own for the duration of a `with` block.

    Started before and stopped (SIGTERM, then SIGKILL) after, whatever happens inside, so
    a benchmark's busy case is reproducible and leaves nothing behind.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoad:
        for _ in range(self.processes):
            self._procs.append(subprocess.Popen([sys.executable, "-c", _SPIN]))
        if self._procs:
            time.sleep(0.5)  # let them get scheduled before the first timing
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]


@dataclass(frozen=True)
class CpuPeak:
    """The CPU's fp32 multiply-accumulate peak, derived from what the OS says about it."""

    cores: int
    ghz: float
    lanes: int  # fp32 lanes of one vector FMA (8 with AVX2, 16 with AVX-512)
    fma_units: int  # vector FMA pipes per core (an assumption: 2 on every AVX2-era core)
    how: str

    @property
    def gmacs(self) -> float:
        return self.cores * self.ghz * self.lanes * self.fma_units

    @property
    def per_core_gmacs(self) -> float:
        return self.gmacs / self.cores


def cpu_peak(cores: int | None = None, cpuinfo: str | None = None) -> CpuPeak:
    """cores x clock x FMA lanes x FMA pipes, from /proc/cpuinfo (Linux).

    Haswell and later Intel cores and Zen 2 and later AMD cores have two 256-bit FMA
    pipes (16 fp32 MACs a cycle); AVX-512 doubles the lanes (some parts have one 512-bit
    pipe: then this is an upper bound). The clock is the base or nominal one the kernel
    reports (no turbo), so the peak is what all cores sustain together.
    """
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    # x86 lists "flags", ARM "Features"; neither present: assume the baseline SSE/NEON.
    found = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.M)
    flags = set(found.group(1).split()) if found else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    ghz = max(mhz) / 1000 if mhz else 2.0
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2+FMA"
    else:
        lanes, isa = 4, "SSE (no FMA: counted as mul+add pairs)"
    n = cores or len(os.sched_getaffinity(0))
    how = (
        f"{n} cores x {ghz:.3f} GHz (cpu MHz in /proc/cpuinfo"
        f"{'' if mhz else ': absent, 2 GHz assumed'}) x {lanes} fp32 lanes ({isa}) x 2 FMA pipes"
    )
    return CpuPeak(n, ghz, lanes, 2, how)


def measured_core_gmacs(side: int = 1024, rounds: int = 3) -> float:
    """Best single-thread sgemm rate (MKL/oneDNN via torch.mm) in GMAC per CPU-second.

    CPU time, not wall time: on a shared machine the thread is preempted, but while it
    runs it shows what one core reaches on the friendliest fp32 kernel there is.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(side, side)
        b = torch.randn(side, side)
        torch.mm(a, b)
        best = 0.0
        for _ in range(rounds):
            t = time.thread_time()
            torch.mm(a, b)
            dt = max(time.thread_time() - t, 1e-9)
            best = max(best, side**3 / dt / 1e9)
        return best
    finally:
        torch.set_num_threads(old)


def routed_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """MACs of one forward on x with the experts this image actually chose (count_macs
    counts the largest top-k ranks, the worst case)."""
    cfg = model.cfg  # type: ignore[attr-defined]
    h, w = x.shape[-2:]
    worst = count_macs(cfg, h, w)
    with torch.no_grad():
        routing = model.inspect(x).routing  # type: ignore[operator]
    top = sum(sorted(cfg.ranks, reverse=True)[: cfg.topk])
    # Each expert costs 3 * C * rank MACs a pixel (two C->d projections and one d->C).
    spare = sum(
        3 * cfg.embedding_dim * (top - sum(cfg.ranks[int(j)] for j in r.chosen[0])) * h * w
        for r in routing
    )
    return worst - spare


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
        "engine: its automatic plan (seemore_core.plan: on CPU above "
        f"{Engine.CPU_WHOLE_MAX_PIXELS} pixels, tiles of {Engine.DEFAULT_TILE['cpu']} px with "
        "the front cache, one tile worker per free core); whole: the same fused network "
        "in one pass"
    )
    print(
        f"{'model':<6}{'ref MP/s':>10}{'engine MP/s':>13}{'ratio':>7}"
        f"{'whole MP/s':>12}{'ratio':>7}{'max diff':>10}"
    )
    with BusyLoad(args.busy) as load:
        if load.processes:
            print(f"{load.processes} busy processes of ours spinning meanwhile")
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


def gmacs(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    n, scale = args.size, args.scale
    torch.manual_seed(0)
    model = build("T", scale)
    img = np.random.default_rng(0).random((n, n, 3), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    macs = routed_macs(model, x)
    peak = cpu_peak()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    eng = Engine(model, device="cpu")
    runs = {"reference": lambda: reference_forward(sd, model.cfg, x)}
    for tile in args.tiles:
        label = "engine auto" if tile < 0 else f"engine tile {tile}" if tile else "engine whole"
        opts = EngineOptions(tile=None if tile < 0 else tile)
        runs[label] = lambda o=opts: eng.upscale(img, o)
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    with torch.no_grad(), BusyLoad(args.busy):
        core = measured_core_gmacs()
        for fn in runs.values():
            fn()  # warm-up: allocator, oneDNN primitive caches
        for _ in range(args.repeat):
            for name, fn in runs.items():  # interleaved rounds
                w, c = time.perf_counter(), time.process_time()
                fn()
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - w)
    threads = torch.get_num_threads()
    print(
        f"SeemoRe-T x{scale}, input {n}x{n}, {macs / 1e9:.2f} GMAC with this image's routing; "
        f"{threads} threads; {args.busy} busy processes of ours; median of {args.repeat} "
        f"interleaved rounds; load average before: {os.getloadavg()[0]:.1f}"
    )
    print(f"fp32 peak (derived): {peak.gmacs:.1f} GMAC/s = {peak.how}")
    print(
        f"fp32 per core (measured): {core:.1f} GMAC per CPU-second, best single-thread sgemm "
        f"1024^3 ({100 * core / peak.per_core_gmacs:.0f}% of the derived per-core peak)"
    )
    print(
        "GMAC/s: MACs / wall time, % of the machine's peak; per CPU-s: MACs / the process's "
        "CPU time, % of one core's peak (immune to time the scheduler gave to others, but "
        "it counts OpenMP threads spinning at barriers as work)"
    )
    print(
        f"{'':<18}{'wall s':>8}{'x ref':>7}{'GMAC/s':>8}{'% peak':>8}"
        f"{'CPU s':>8}{'per CPU-s':>11}{'% core':>8}"
    )
    t_ref = statistics.median(wall["reference"])
    for name in runs:
        tw, tc = statistics.median(wall[name]), statistics.median(cpu[name])
        rate, per_cpu = macs / tw / 1e9, macs / tc / 1e9
        print(
            f"{name:<18}{tw:>8.2f}{t_ref / tw:>7.2f}{rate:>8.2f}"
            f"{100 * rate / peak.gmacs:>7.1f}%{tc:>8.2f}{per_cpu:>11.2f}"
            f"{100 * per_cpu / peak.per_core_gmacs:>7.1f}%"
        )


def plan(args: argparse.Namespace) -> None:
    from seemore_core.plan import CpuState, measure_cpu, usable_cores

    n, scale = args.size, args.scale
    torch.manual_seed(0)
    model = build("T", scale)
    img = np.random.default_rng(0).random((n, n, 3), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    eng = Engine(model, device="cpu")
    plans: list[str] = []  # what the auto plan chose on each run, and why

    def auto() -> np.ndarray:
        res = eng.upscale(img)
        r = res.report
        plans.append(f"tile {r.tile}, {r.workers} workers x {r.threads} threads ({r.plan})")
        return res.image

    runs = {
        "reference": lambda: reference_forward(sd, model.cfg, x)[0].clamp(0, 1).permute(1, 2, 0),
        "engine auto": auto,
        "engine tile 0": lambda: eng.upscale(img, EngineOptions(tile=0)).image,
    }
    for v in args.variants:
        tile, workers = (int(p) for p in v.split("x"))
        opts = EngineOptions(tile=tile, workers=workers)
        runs[f"tile {tile} x{workers} workers"] = lambda o=opts: eng.upscale(img, o).image
    if args.old:
        # The plan before issue 18: tiles in turn (above 320x320 px) or one whole pass,
        # every core as an intra-op thread whatever else runs. Reproduced by telling the
        # plan that the machine is idle.
        idle = CpuState(usable_cores(), 0.0, "pretended idle")

        def old(opts: EngineOptions) -> np.ndarray:
            measured, eng.cpu_state = eng.cpu_state, lambda: idle
            try:
                return eng.upscale(img, opts).image
            finally:
                eng.cpu_state = measured

        runs[f"old auto ({idle.cores} thr)"] = lambda: old(EngineOptions(workers=1))
        runs[f"old tile 0 ({idle.cores} thr)"] = lambda: old(EngineOptions(tile=0))
    wall: dict[str, list[float]] = {k: [] for k in runs}
    outs: dict[str, np.ndarray] = {}
    with torch.no_grad(), BusyLoad(args.busy):
        load = os.getloadavg()[0]
        cpu = measure_cpu()
        for name, fn in runs.items():
            outs[name] = np.asarray(fn())  # warm-up: allocator, oneDNN primitive caches
        for _ in range(args.repeat):
            for name, fn in runs.items():  # interleaved rounds
                t = time.perf_counter()
                fn()
                wall[name].append(time.perf_counter() - t)
    print(
        f"SeemoRe-T x{scale}, input {n}x{n}; torch threads {torch.get_num_threads()}; "
        f"{args.busy} busy processes of ours; load average {load:.1f} once they ran; "
        f"median of {args.repeat} interleaved rounds"
    )
    print(
        f"CPU as measured before the runs: {cpu.busy:.2f} of {cpu.cores} cores busy ({cpu.source})"
    )
    counts = {p: plans.count(p) for p in dict.fromkeys(plans)}
    print("auto plans chosen: " + " | ".join(f"{k} x{v}" for k, v in counts.items()))
    print(f"{'':<24}{'median s':>9}{'best s':>8}{'x ref':>7}{'x tile 0':>9}{'max diff':>10}")
    med = {k: statistics.median(v) for k, v in wall.items()}
    for name in runs:
        diff = float(np.abs(outs[name] - outs["reference"]).max())
        print(
            f"{name:<24}{med[name]:>9.2f}{min(wall[name]):>8.2f}"
            f"{med['reference'] / med[name]:>7.2f}{med['engine tile 0'] / med[name]:>9.2f}"
            f"{diff:>10.1e}"
        )


def _reference_process(image: str, weights: str, out: str) -> None:
    """The yardstick as a whole process: load, reference forward, 8-bit PNG."""
    from PIL import Image

    from seemore_core.checkpoint import load_model

    model = load_model(weights)
    with Image.open(image) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    y = reference_forward(model.state_dict(), model.cfg, x)[0].clamp(0, 1)
    img = y.permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
    Image.fromarray(img).save(out)


def process(args: argparse.Namespace) -> None:
    from PIL import Image

    from seemore_core.models import bundled_path

    weights = str(args.weights or bundled_path("T", args.scale))
    if not Path(args.image).is_file():
        raise SystemExit(f"no image at {args.image}")
    with tempfile.TemporaryDirectory() as tmp:
        outs = {"reference": f"{tmp}/ref.png", "seemore": f"{tmp}/seemore.png"}
        cmds = {
            "reference": [sys.executable, __file__, "_ref", args.image, weights, outs["reference"]],
            "seemore": [sys.executable, "-m", "seemore_core.cli", "upscale", args.image]
            + ["-o", outs["seemore"], "--model", weights, "--device", "cpu", "--overwrite", "-q"]
            + (["--tile", str(args.tile)] if args.tile is not None else []),
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        with BusyLoad(args.busy):
            load = os.getloadavg()[0]
            for _ in range(args.repeat):
                for name, cmd in cmds.items():  # alternated, so load drifts hit both
                    t = time.perf_counter()
                    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                    times[name].append(time.perf_counter() - t)
                    if r.returncode:
                        raise SystemExit(f"{name} failed: {r.stderr.strip()[-500:]}")
        a, b = (np.asarray(Image.open(outs[k]), dtype=np.int16) for k in ("reference", "seemore"))
    levels = int(np.abs(a - b).max())
    med = {k: statistics.median(v) for k, v in times.items()}
    with Image.open(args.image) as im:
        w, h = im.size
    print(
        f"{Path(weights).name}, {Path(args.image).name} {w}x{h} -> {a.shape[1]}x"
        f"{a.shape[0]}; {args.busy} busy processes of ours (load average {load:.1f} once "
        f"they ran); median of {args.repeat} alternated whole processes"
    )
    print(
        f"reference {med['reference']:.1f} s {sorted(round(t, 1) for t in times['reference'])}; "
        f"seemore upscale{'' if args.tile is None else f' --tile {args.tile}'} "
        f"{med['seemore']:.1f} s {sorted(round(t, 1) for t in times['seemore'])}"
    )
    print(
        f"ratio {med['reference'] / med['seemore']:.2f}x the reference; "
        f"outputs differ by at most {levels} level(s) of 255"
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
    if len(sys.argv) == 5 and sys.argv[1] == "_ref":
        _reference_process(*sys.argv[2:5])
        return
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
    s.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile")
    g = sub.add_parser("gmacs")
    g.add_argument("--size", type=int, default=512)
    g.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    g.add_argument("--repeat", type=int, default=3)
    g.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile")
    g.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's)")
    g.add_argument(
        "--tiles",
        type=int,
        nargs="+",
        default=[-1, 0],
        help="engine plans to time: -1 auto, 0 whole image, N tiles of N px",
    )
    barbara = ROOT.parent / "shared" / "data" / "benchmark" / "Set14" / "HR" / "barbara.png"
    pr = sub.add_parser("process")
    pr.add_argument("--image", default=str(barbara))
    pr.add_argument("--weights", default=None, help="checkpoint (default: bundled T x{scale})")
    pr.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    pr.add_argument("--tile", type=int, default=None, help="seemore --tile (default: auto)")
    pr.add_argument("--repeat", type=int, default=3)
    pr.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile")
    pl = sub.add_parser("plan")
    pl.add_argument("--size", type=int, default=384)
    pl.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    pl.add_argument("--repeat", type=int, default=3)
    pl.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile")
    pl.add_argument(
        "--variants", nargs="*", default=[], help="fixed plans TILExWORKERS, e.g. 128x1 256x2"
    )
    pl.add_argument(
        "--old", action="store_true", help="also time the plan before issue 18 (all threads)"
    )
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
    elif args.cmd == "gmacs":
        gmacs(args)
    elif args.cmd == "process":
        process(args)
    elif args.cmd == "plan":
        plan(args)
    else:
        memory(args)


if __name__ == "__main__":
    main()
