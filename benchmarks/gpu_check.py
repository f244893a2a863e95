"""CUDA readiness in one command (under 8 minutes on one GPU): correctness, precision,
speed, memory and training, written as a JSON and a text report.

    python benchmarks/gpu_check.py [--set5 DIR] [--out benchmarks/results] [--budget 420]
    python benchmarks/gpu_check.py --dry-run [--out DIR]      # the same code on the CPU

Checks, in order (each is timed; one that fails or raises is recorded and the rest go on;
one that would run past the time budget is skipped, with the reason):

1. tiled == whole: the engine's exact tiled run against one whole-image pass, max abs
   difference below 1e-4 (fp32, TF32 off).
2. precision: Set5 x4 Y-PSNR with fp32, bf16 and fp16 (fp16 is refused on the CPU).
   The issue-3 rule: half precision becomes the GPU default only within 0.01 dB of fp32;
   the report says which precision that makes the default (the faster of those within).
3. speed: the reference network (benchmarks/reference_seemore.py) against the engine's
   network, cudnn.benchmark on: NCHW vs channels-last, fp32 / TF32 / bf16 / fp16, a
   frozen fixed-route TorchScript trace, and that trace replayed as a CUDA graph (the
   router's expert choice is a host sync, so only a fixed-route forward can be captured),
   plus the engine's whole `upscale` call (host copies included). Medians of CUDA-synced
   runs.
4. memory: peak GPU memory of `Engine.upscale` at 4 and 16 MP input (x4, uint8 output),
   its default plan and 512-px tiles.
5. training: a few `seemore_core.train` Trainer steps on the device (loss finite,
   weights moved); with two or more GPUs, the same steps as DDP over NCCL via torchrun.

--dry-run runs every check on the CPU with tiny sizes (what tests/benchmarks runs), the
CUDA-only parts reported as skipped with the reason. Exit status: 0 when no check
failed, 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from onnx_peer import trace_fixed  # noqa: E402
from reference_seemore import reference_forward  # noqa: E402

from seemore_core.arch import SeemoRe, build  # noqa: E402
from seemore_core.engine import Engine, EngineOptions  # noqa: E402

TILED_TOL = 1e-4
HALF_TOL_DB = 0.01  # issue 3: half precision only when it costs at most this much PSNR
DEFAULT_SET5 = ROOT.parent / "shared" / "data" / "benchmark" / "Set5"


@dataclass(frozen=True)
class Sizes:
    """How big each check runs: the real sizes on a GPU, tiny ones in the dry run."""

    tiled_hw: tuple[int, int]  # input of the tiled == whole check
    tile: int
    speed_side: int  # square input of the speed check
    speed_repeat: int
    set5_crop: int  # 0: whole Set5 images; else HR centre crops of this side
    set5_images: int  # 0: all
    memory_mp: tuple[float, ...]
    memory_tile: int
    train_steps: int
    train_warmup: int
    train_batch: int
    train_patch: int
    train_image: int  # side of the synthetic training photos


GPU_SIZES = Sizes((1536, 1040), 256, 512, 10, 0, 0, (4.0, 16.0), 512, 30, 5, 16, 48, 256)
DRY_SIZES = Sizes((48, 64), 32, 32, 1, 48, 1, (0.001, 0.004), 32, 2, 1, 2, 16, 64)


@dataclass
class Check:
    name: str
    status: str  # pass | fail | info | skipped | error
    seconds: float
    summary: str  # one line
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    created: str
    dry_run: bool
    device: str
    env: dict[str, Any]
    sizes: dict[str, Any]
    checks: list[Check]
    half_precision_default: str  # what the GPU default precision should be, by the rule
    elapsed_s: float


class Skip(Exception):
    """A check that cannot run here (no CUDA, one GPU, no data): recorded as skipped."""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _median_s(fn: Callable[[], object], dev: torch.device, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(dev)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _load_model(scale: int) -> tuple[SeemoRe, str]:
    """The bundled trained T weights (realistic routing and PSNR), else random ones."""
    try:
        from seemore_core.models import load

        return load("T", scale).eval(), f"bundled T x{scale}"
    except Exception as e:  # noqa: BLE001 - any failure to find weights means random ones
        torch.manual_seed(0)
        return build("T", scale), f"random T x{scale} (bundled weights unavailable: {e})"


def env_info(dev: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_cores": len(os.sched_getaffinity(0)),
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
    }
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info |= {
            "gpu": p.name,
            "gpus": torch.cuda.device_count(),
            "capability": f"{p.major}.{p.minor}",
            "gpu_memory_gib": round(p.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
        try:  # a tuple in recent torch, an int in older ones
            info["nccl"] = str(torch.cuda.nccl.version())
        except Exception as e:  # noqa: BLE001 - a build without NCCL is a finding
            info["nccl"] = f"unavailable ({type(e).__name__})"
    return info


# --- 1. tiled == whole ---------------------------------------------------------------


def check_tiled(dev: torch.device, sz: Sizes, model: SeemoRe) -> Check:
    h, w = sz.tiled_hw
    img = np.random.default_rng(1).random((h, w, 3), dtype=np.float32)
    eng = Engine(model, device=str(dev), precision="fp32")
    whole = eng.upscale(img, EngineOptions(tile=0))
    tiled = eng.upscale(img, EngineOptions(tile=sz.tile))
    diff = float(np.abs(whole.image - tiled.image).max())
    ok = diff < TILED_TOL and tiled.report.tiles > 1 and whole.report.tile == 0
    return Check(
        "tiled_equals_whole",
        "pass" if ok else "fail",
        0.0,
        f"{w}x{h} x{model.scale}, {tiled.report.tiles} tiles of {tiled.report.tile} px vs one "
        f"pass: max abs diff {diff:.2e} (limit {TILED_TOL:g})",
        {
            "max_abs_diff": diff,
            "tiles": tiled.report.tiles,
            "tile": tiled.report.tile,
            "input_hw": [h, w],
            "whole_s": whole.report.seconds,
            "tiled_s": tiled.report.seconds,
        },
    )


# --- 2. precision ----------------------------------------------------------------------


def _set5_dir(src: Path, sz: Sizes, scale: int, tmp: Path) -> Path:
    """Set5 itself, or (dry run) a few HR centre crops in Set5's layout, LR made from them."""
    if not (src / "HR").is_dir():
        raise Skip(f"no Set5 at {src} (pass --set5 DIR with DIR/HR/*.png)")
    if not sz.set5_crop:
        return src
    from PIL import Image

    out = tmp / "Set5-crops"
    (out / "HR").mkdir(parents=True)
    names = sorted(p for p in (src / "HR").iterdir() if p.suffix.lower() == ".png")
    for p in names[: sz.set5_images or None]:
        with Image.open(p) as im:
            rgb = np.asarray(im.convert("RGB"))
        c = sz.set5_crop - sz.set5_crop % scale
        y, x = (rgb.shape[0] - c) // 2, (rgb.shape[1] - c) // 2
        Image.fromarray(rgb[y : y + c, x : x + c]).save(out / "HR" / p.name)
    return out


def check_precision(dev: torch.device, sz: Sizes, model: SeemoRe, set5: Path, tmp: Path) -> Check:
    from seemore_core.evaluate import engine_upscaler, evaluate_dataset

    data = _set5_dir(set5, sz, model.scale, tmp)
    precisions = ["fp32", "bf16"] + (["fp16"] if dev.type == "cuda" else [])
    psnr: dict[str, float] = {}
    secs: dict[str, float] = {}
    for prec in precisions:
        eng = Engine(model, device=str(dev), precision=prec)
        t = time.perf_counter()
        psnr[prec] = evaluate_dataset(data, model.scale, engine_upscaler(eng, tile=0)).psnr_y
        secs[prec] = time.perf_counter() - t
    drops = {p: psnr["fp32"] - v for p, v in psnr.items() if p != "fp32"}
    within = [p for p, d in drops.items() if d <= HALF_TOL_DB]
    text = ", ".join(f"{p} {v:.4f} dB" for p, v in psnr.items())
    return Check(
        "precision_set5",
        "info",
        0.0,
        f"Set5 x{model.scale} Y-PSNR: {text}; within {HALF_TOL_DB} dB of fp32: "
        f"{', '.join(within) or 'none'}"
        + ("" if dev.type == "cuda" else " (fp16 not run: the CPU refuses it)"),
        {
            "psnr_y": psnr,
            "drop_db": drops,
            "within_tolerance": within,
            "eval_s": secs,
            "images": len(list((data / "HR").iterdir())),
            "data": str(data if not sz.set5_crop else f"{set5} (centre crops)"),
        },
    )


# --- 3. speed ----------------------------------------------------------------------------


def check_speed(dev: torch.device, sz: Sizes, model: SeemoRe) -> Check:
    n, rep = sz.speed_side, sz.speed_repeat
    cl = torch.channels_last
    x = torch.from_numpy(np.random.default_rng(2).random((1, 3, n, n), dtype=np.float32)).to(dev)
    sd = {k: v.to(dev) for k, v in model.state_dict().items()}
    times: dict[str, float] = {}
    diffs: dict[str, float] = {}
    notes: dict[str, str] = {}
    with torch.no_grad():
        ref_out = reference_forward(sd, model.cfg, x)
        times["reference fp32 NCHW"] = _median_s(
            lambda: reference_forward(sd, model.cfg, x), dev, rep
        )
        eng = Engine(model, device=str(dev), precision="fp32")  # fused copy, channels-last
        net = eng.model
        xc = x.contiguous(memory_format=cl)

        def timed(label: str, fn: Callable[[], torch.Tensor]) -> None:
            out = fn()
            diffs[label] = float((out.float() - ref_out).abs().max())
            times[label] = _median_s(fn, dev, rep)

        timed("engine fp32 channels-last", lambda: net(xc))
        nchw = Engine(model, device=str(dev), precision="fp32").model.to(
            memory_format=torch.contiguous_format
        )
        timed("engine fp32 NCHW", lambda: nchw(x))
        if dev.type == "cuda":
            torch.backends.cudnn.allow_tf32 = True
            try:
                timed("engine tf32 channels-last", lambda: net(xc))
            finally:
                torch.backends.cudnn.allow_tf32 = False
        halves = ["bf16", "fp16"] if dev.type == "cuda" else ["bf16"]
        for prec in halves:
            half = Engine(model, device=str(dev), precision=prec)
            xh = xc.to(half.dtype)
            timed(f"engine {prec} channels-last", lambda h=half, xh=xh: h.model(xh))
        try:
            # The plain network: oneDNN's fused CPU ops (the fast copy) cannot be traced,
            # and on CUDA the two differ only in how convs are split.
            # fast=False moves the module it is given: a copy, so `model` stays put.
            plain = Engine(copy.deepcopy(model), str(dev), "fp32", fast=False).model
            traced = trace_fixed(plain, xc)
            timed("fixed-route trace fp32", lambda: traced(xc))
            if dev.type != "cuda":
                notes["cuda graph"] = "skipped: needs CUDA"
            else:
                replay = _cuda_graph(traced, xc)
                timed("fixed-route CUDA graph fp32", replay)
        except Exception as e:  # noqa: BLE001 - a capture that fails is a finding, not a crash
            notes["trace/graph"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        img = x[0].permute(1, 2, 0).cpu().numpy()
        times["engine.upscale (host copies)"] = _median_s(
            lambda: eng.upscale(img, EngineOptions(tile=0)), dev, max(1, rep // 2), warmup=1
        )
    t_ref = times["reference fp32 NCHW"]
    ratios = {k: t_ref / v for k, v in times.items()}
    fast = min((k for k in times if k != "reference fp32 NCHW"), key=times.__getitem__)
    if "fixed-route CUDA graph fp32" in times:
        # Whether graphs help: the replay against the same trace launched op by op.
        notes["cuda graph speed-up"] = (
            f"{times['fixed-route trace fp32'] / times['fixed-route CUDA graph fp32']:.2f}x "
            "the trace launched op by op"
        )
    exact = {k: v for k, v in diffs.items() if "fp32" in k}
    worst = max(exact.values())
    return Check(
        "speed",
        "pass" if worst < TILED_TOL else "fail",
        0.0,
        f"{n}x{n} x{model.scale}: fastest {fast} at {ratios[fast]:.2f}x the reference "
        f"({times[fast] * 1e3:.1f} ms); fp32 paths within {worst:.1e} of the reference"
        + (f"; {'; '.join(f'{k}: {v}' for k, v in notes.items())}" if notes else ""),
        {
            "median_s": times,
            "x_reference": ratios,
            "max_diff_vs_reference": diffs,
            "megapixels_per_s": {k: n * n / 1e6 / v for k, v in times.items()},
            "notes": notes,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        },
    )


def _cuda_graph(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """Capture fn(x) into a CUDA graph; the returned callable replays it on x's storage."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up outside the capture: cuDNN picks its algorithms here
            fn(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = fn(static_x)

    def replay() -> torch.Tensor:
        graph.replay()
        return static_y

    return replay


# --- 4. memory ---------------------------------------------------------------------------


def check_memory(dev: torch.device, sz: Sizes, model: SeemoRe) -> Check:
    eng = Engine(model, device=str(dev), precision="fp32")
    rows: list[dict[str, Any]] = []
    for mp in sz.memory_mp:
        side = int(round(math.sqrt(mp * 1e6)))
        img = np.random.default_rng(3).random((side, side, 3), dtype=np.float32)
        for label, tile in (("auto", None), (f"tile {sz.memory_tile}", sz.memory_tile)):
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            res = eng.upscale(img, EngineOptions(tile=tile, output="uint8"))
            peak = res.report.peak_memory_bytes
            if peak is None:  # CPU: the process's resident high-water mark instead
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            rows.append(
                {
                    "megapixels": mp,
                    "side": side,
                    "plan": label,
                    "tile": res.report.tile,
                    "tiles": res.report.tiles,
                    "peak_bytes": int(peak),
                    "seconds": res.report.seconds,
                    "warnings": res.report.warnings,
                }
            )
            del res
    kind = "GPU max_memory_allocated" if dev.type == "cuda" else "process max RSS (CPU)"
    text = "; ".join(
        f"{r['megapixels']:g} MP {r['plan']}: {r['peak_bytes'] / 2**30:.2f} GiB, "
        f"{r['seconds']:.1f} s"
        for r in rows
    )
    return Check("memory", "info", 0.0, f"peak ({kind}): {text}", {"rows": rows, "kind": kind})


# --- 5. training -------------------------------------------------------------------------


def _train_photos(folder: Path, n: int, side: int) -> Path:
    """A few smooth synthetic photos (gradients, discs, noise): training data anywhere."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:side, 0:side] / side
    for i in range(n):
        img = np.stack([(xx * (i + 1)) % 1, yy, (xx + yy) / 2], -1)
        for _ in range(6):
            cy, cx, r = rng.random(3) * [1, 1, 0.3]
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.random(3)
        img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"synthetic_{i}.png")
    return folder


def train_steps(
    device: str, steps: int, warmup: int, batch: int, patch: int, photos: Path, out: Path
) -> dict[str, Any]:
    """Run Trainer steps (DDP when torchrun started this process); rank 0's figures."""
    from seemore_core.train.config import TrainConfig
    from seemore_core.train.loop import Trainer

    cfg = TrainConfig(
        variant="T",
        scale=4,
        train_dirs=[str(photos)],
        val_dir=None,
        out_dir=str(out),
        patch_size=patch,
        batch_size=batch,
        device=device,
        seed=0,
    )
    trainer = Trainer(cfg, log=lambda s: None)
    dev = trainer.device
    before = [p.detach().clone() for p in trainer.model.parameters()]
    losses = [trainer.train_step()["loss"] for _ in range(warmup)]
    _sync(dev)
    if trainer.distributed:
        torch.distributed.barrier()
    t = time.perf_counter()
    losses += [trainer.train_step()["loss"] for _ in range(steps)]
    _sync(dev)
    dt = time.perf_counter() - t
    moved = max(
        float((p.detach() - b).abs().max())
        for p, b in zip(trainer.model.parameters(), before, strict=True)
    )
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
    result = {
        "world": trainer.world,
        "backend": torch.distributed.get_backend() if trainer.distributed else None,
        "device": str(dev),
        "steps": steps,
        "steps_per_s": steps / dt,
        "losses": losses,
        "weights_moved": moved,
        "peak_bytes": peak,
        "batch": batch,
        "patch": patch,
    }
    if trainer.distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return result


def check_train(dev: torch.device, sz: Sizes, tmp: Path, ddp: bool, budget: Budget) -> Check:
    photos = _train_photos(tmp / "photos", 4, sz.train_image)
    args = (sz.train_steps, sz.train_warmup, sz.train_batch, sz.train_patch, photos)
    one = train_steps(str(dev), *args, tmp / "run1")
    values: dict[str, Any] = {"single": one}
    ok = all(math.isfinite(v) for v in one["losses"]) and one["weights_moved"] > 0
    text = (
        f"1 process on {dev.type}: {one['steps_per_s']:.2f} steps/s (batch {sz.train_batch}, "
        f"patch {sz.train_patch}), loss {one['losses'][0]:.4f} -> {one['losses'][-1]:.4f}"
    )
    if ddp:
        two = _torchrun_train(dev, args, tmp / "run2", budget)
        values["ddp"] = two
        ok = ok and all(math.isfinite(v) for v in two["losses"]) and two["weights_moved"] > 0
        text += (
            f"; DDP {two['world']} x {two['backend']}: {two['steps_per_s']:.2f} steps/s "
            f"({two['steps_per_s'] / one['steps_per_s']:.2f}x one process)"
        )
    else:
        text += "; DDP not run (needs 2 GPUs)"
    return Check("train", "pass" if ok else "fail", 0.0, text, values)


def _torchrun_train(
    dev: torch.device, args: tuple[Any, ...], out: Path, budget: Budget
) -> dict[str, Any]:
    steps, warmup, batch, patch, photos = args
    n = 2
    env = dict(os.environ)
    if dev.type == "cpu":
        env["OMP_NUM_THREADS"] = "1"  # one core per rank, as on a CPU DDP run
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n}",
        __file__,
        "_train",
        json.dumps(
            {
                # auto: each rank takes the GPU of its LOCAL_RANK (an explicit "cuda"
                # would put both ranks on GPU 0), or the CPU.
                "device": "auto",
                "steps": steps,
                "warmup": warmup,
                "batch": batch,
                "patch": patch,
                "photos": str(photos),
                "out": str(out),
            }
        ),
    ]
    r = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=max(30.0, budget.left())
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"torchrun exited {r.returncode}: {' | '.join(tail)}")
    return json.loads(lines[-1])


def _train_worker(spec: str) -> None:
    a = json.loads(spec)
    result = train_steps(
        a["device"],
        a["steps"],
        a["warmup"],
        a["batch"],
        a["patch"],
        Path(a["photos"]),
        Path(a["out"]),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result), flush=True)


# --- the run -------------------------------------------------------------------------------


def half_default(checks: list[Check]) -> str:
    """fp32, or the fastest half precision within HALF_TOL_DB of it on Set5 (issue 3)."""
    prec = next((c for c in checks if c.name == "precision_set5" and c.values), None)
    speed = next((c for c in checks if c.name == "speed" and c.values), None)
    if prec is None:
        return "fp32 (precision check did not run)"
    within: list[str] = prec.values["within_tolerance"]
    if not within:
        return "fp32 (no half precision within 0.01 dB)"
    if speed is not None:
        t = speed.values["median_s"]
        within = sorted(within, key=lambda p: t.get(f"engine {p} channels-last", math.inf))
    best = within[0]
    return f"{best} (within {prec.values['drop_db'][best]:.4f} dB of fp32 on Set5)"


def run(args: argparse.Namespace) -> Report:
    t0 = time.monotonic()
    budget = Budget(args.budget)
    if args.dry_run:
        dev, sz = torch.device("cpu"), DRY_SIZES
        # One thread: on a busy machine every OpenMP region of two threads waits for the
        # descheduled one (tens of times slower here), and the dry run checks code paths.
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU here; use --dry-run to run the checks on the CPU")
        dev, sz = torch.device("cuda", 0), GPU_SIZES
        torch.backends.cudnn.benchmark = True
        # fp32 means fp32: TF32 is timed as its own variant in the speed check.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    model, weights = _load_model(4)
    ddp = (dev.type == "cuda" and torch.cuda.device_count() >= 2) or (
        dev.type == "cpu" and args.ddp_on_cpu
    )
    checks: list[Check] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        plan: list[tuple[str, float, Callable[[], Check]]] = [
            ("tiled_equals_whole", 20, lambda: check_tiled(dev, sz, model)),
            ("precision_set5", 40, lambda: check_precision(dev, sz, model, args.set5, tmp)),
            ("speed", 60, lambda: check_speed(dev, sz, model)),
            ("memory", 60, lambda: check_memory(dev, sz, model)),
            ("train", 60, lambda: check_train(dev, sz, tmp, ddp, budget)),
        ]
        for name, need, fn in plan:
            if not args.dry_run and budget.left() < need:
                checks.append(
                    Check(name, "skipped", 0.0, f"skipped: {budget.left():.0f} s of budget left")
                )
                continue
            t = time.monotonic()
            try:
                c = fn()
            except Skip as e:
                c = Check(name, "skipped", 0.0, f"skipped: {e}")
            except Exception as e:  # noqa: BLE001 - one broken check must not hide the others
                where = traceback.extract_tb(e.__traceback__)[-1]
                c = Check(
                    name,
                    "error",
                    0.0,
                    f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''} "
                    f"({Path(where.filename).name}:{where.lineno})",
                )
            c.seconds = time.monotonic() - t
            checks.append(c)
            print(f"[{c.status}] {c.name} ({c.seconds:.1f} s): {c.summary}", flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    env = env_info(dev) | {"weights": weights, "ddp": ddp}
    return Report(
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        dry_run=bool(args.dry_run),
        device=env.get("gpu", "cpu"),
        env=env,
        sizes=asdict(sz),
        checks=checks,
        half_precision_default=half_default(checks),
        elapsed_s=time.monotonic() - t0,
    )


def render_text(r: Report) -> str:
    lines = [
        f"gpu_check {'DRY RUN on the CPU' if r.dry_run else 'on ' + r.device}, {r.created}, "
        f"{r.elapsed_s:.0f} s",
        "env: " + ", ".join(f"{k} {v}" for k, v in r.env.items()),
        "",
    ]
    for c in r.checks:
        lines.append(f"[{c.status}] {c.name} ({c.seconds:.1f} s): {c.summary}")
        if c.name == "speed" and c.values:
            lines.append(f"    {'variant':<32}{'median ms':>10}{'x ref':>8}{'max diff':>10}")
            for k, v in c.values["median_s"].items():
                d = c.values["max_diff_vs_reference"].get(k)
                lines.append(
                    f"    {k:<32}{v * 1e3:>10.2f}{c.values['x_reference'][k]:>8.2f}"
                    f"{'' if d is None else f'{d:.1e}':>10}"
                )
    dry = " [dry run: CPU figures at tiny sizes, not the GPU decision]" if r.dry_run else ""
    lines += ["", f"half precision as the GPU default: {r.half_precision_default}{dry}"]
    return "\n".join(lines) + "\n"


def write_report(r: Report, out: Path) -> tuple[Path, Path]:
    """<out>/gpu-check-<device>-<time>.json and .txt, atomically, never over a file."""
    from seemore_core.atomic import write_bytes_atomic
    from seemore_core.errors import OutputExistsError

    kind = (
        "dryrun-cpu"
        if r.dry_run
        else "".join(ch if ch.isalnum() else "-" for ch in r.device.lower()).strip("-")
    )
    stem = f"gpu-check-{kind}-{r.created.replace(':', '').replace('-', '')}"
    for i in range(100):
        base = out / (stem if i == 0 else f"{stem}-{i}")
        try:
            js = write_bytes_atomic(
                base.with_suffix(".json"), json.dumps(asdict(r), indent=2).encode(), False
            )
        except OutputExistsError:
            continue
        txt = write_bytes_atomic(base.with_suffix(".txt"), render_text(r).encode(), False)
        return js, txt
    raise SystemExit(f"could not find a free report name in {out}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_train":
        _train_worker(sys.argv[2])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    p.add_argument("--out", type=Path, default=HERE / "results", help="report folder")
    p.add_argument("--set5", type=Path, default=DEFAULT_SET5, help="Set5 folder (HR/*.png)")
    p.add_argument(
        "--budget", type=float, default=420.0, help="seconds; checks that would overrun skip"
    )
    p.add_argument(
        "--ddp-on-cpu",
        action="store_true",
        help="dry run: also run the DDP training path (2 processes over gloo)",
    )
    args = p.parse_args()
    if not args.out.is_dir():
        p.error(f"--out {args.out}: no such folder")
    from seemore_core.errors import SeemoreError

    report = run(args)
    try:
        js, txt = write_report(report, args.out)
    except SeemoreError as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"\nhalf precision as the GPU default: {report.half_precision_default}")
    print(f"wrote {js} and {txt}")
    sys.exit(1 if any(c.status in ("fail", "error") for c in report.checks) else 0)


if __name__ == "__main__":
    main()
