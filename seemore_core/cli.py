"""The `seemore` command: upscale, info, inspect, eval, train.

User mistakes end in one line on stderr and a non-zero exit code, never a traceback.
Exit codes: 0 done, 1 some inputs failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import Cancelled, SeemoreError, UsageError
from .jobs import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PATTERN,
    ItemResult,
    Listener,
    ModelRef,
    PlanItem,
    UpscaleRequest,
    check,
    load_model,
    model_scales,
    plan,
    resolve,
    run,
)
from .names import (
    BUNDLED_NAMES,
    DEFAULT_PNG_LEVEL,
    DEFAULT_QUALITY,
    DEFAULT_VARIANT,
    DEVICES,
    FORMAT_CHOICES,
    PNG_LEVELS,
    PRECISIONS,
    QUALITY_RANGE,
    SCALES,
)
from .progress import Progress, ProgressInfo
from .target import TargetSize

if TYPE_CHECKING:
    from .engine import Engine
from .paths import describe_os_error
from .signals import exit_code, stop_message, stop_on_sigterm

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def err(msg: str) -> None:
    print(f"seemore: {msg}", file=sys.stderr, flush=True)


# Core messages name no option (the app shows them too); these are the command line's
# own hints for the settings they name.
_HINTS: dict[str, Callable[[object], str]] = {
    "tile": lambda _: "--tile N, or omit --tile",
    "max_pixels": lambda v: f"--max-pixels {v}",
    "model": lambda _: "--model FILE",
    "scale": lambda _: "--scale",
    "quality": lambda _: "--quality",
    "format": lambda _: "--format",
    "png_level": lambda _: "--png-compress",
}


def _with_hint(e: SeemoreError) -> str:
    hint = _HINTS.get(e.option or "")
    return f"{e} ({hint(e.value)})" if hint is not None else str(e)


def _device(text: str) -> str:
    """--device: one of DEVICES or cuda:N; anything else is a usage error (exit 2)."""
    name = text.lower()
    if name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise argparse.ArgumentTypeError(f"unknown device {text!r}; use {', '.join(DEVICES)}")


def _model_ref(value: str | None, scale: int | None) -> ModelRef:
    return ModelRef(DEFAULT_VARIANT if value is None else value, scale)


def _engine(args: argparse.Namespace) -> Engine:
    from .engine import Engine

    model = load_model(_model_ref(args.model, args.scale))
    return Engine(model, device=args.device, precision=getattr(args, "precision", "auto"))


class _EngineAt:
    """Engines by scale for a target size: built when an image first needs one, and only
    the latest kept (a batch of similar images needs one scale; two never sit in memory)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engine: Engine | None = None

    def __call__(self, scale: int) -> Engine:
        if self.engine is None or self.engine.scale != scale:
            self.engine = None
            self.engine = _engine(argparse.Namespace(**{**vars(self.args), "scale": scale}))
        return self.engine


def _target(args: argparse.Namespace) -> TargetSize | None:
    target = TargetSize.from_options(args.width, args.height, args.longest)
    if target is not None and args.scale is not None:
        raise UsageError(
            "--scale and a target size (--width, --height, --longest) contradict each "
            "other: the target picks the scale (the next larger one), so give one of them"
        )
    return target


class _Bar:
    """The batch's progress on stderr: overall count, current file, elapsed and ETA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def started(self, item: PlanItem, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=sys.stderr,
                unit="file",
                dynamic_ncols=True,
                bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}",
            )
        self.bar.set_description_str(f"{item.index}/{total} files", refresh=False)
        self.bar.set_postfix_str(item.source.name, refresh=False)
        self._at(item.index - 1)

    def progress(self, item: PlanItem, info: ProgressInfo) -> None:
        # Fractions of files, so the ETA follows the work inside a large image too.
        self._at(item.index - 1 + min(info.fraction, 1.0))

    def _at(self, n: float) -> None:
        if self.bar is not None:
            self.bar.n = n
            self.bar.refresh()

    def finished(self, result: ItemResult) -> None:
        self._at(result.item.index)
        if result.status != "failed":
            self.write(result.line)
        else:
            hinted = _with_hint(result.error) if result.error is not None else result.message
            self.write(f"seemore: {result.line.replace(result.message, hinted, 1)}")

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_upscale(args: argparse.Namespace) -> int:
    from .signals import sweep_before_run

    request = UpscaleRequest(
        inputs=[Path(i) for i in args.inputs],
        output=Path(args.output),
        # "-o results/" names a folder even before it exists (Path drops the separator).
        output_is_folder=True if args.output.endswith(("/", os.sep)) else None,
        recursive=args.recursive,
        format=args.format,
        quality=args.quality,
        png_level=args.png_compress,
        target=_target(args),
        pattern=args.name,
        overwrite=args.overwrite,
        # The bomb guard stays on unless asked otherwise: 0 switches it off.
        max_pixels=args.max_pixels if args.max_pixels is not None else DEFAULT_MAX_PIXELS,
        tile=args.tile,
    )
    request = replace(request, max_pixels=request.max_pixels or None)
    _, is_folder = check(request)  # usage errors before the model loads
    if (swept := sweep_before_run(request.output, is_folder)) is not None:
        err(swept)
    ref = _model_ref(args.model, args.scale)
    engine: Engine | _EngineAt
    if request.target is None:
        engine = _engine(args)
        job = plan(request, engine.scale, ref.stem)
    else:
        # A checkpoint file has one scale; a bundled name has those it ships with.
        scales = model_scales(ref)
        engine = _EngineAt(args)
        job = plan(request, scales[-1], ref.stem, scales)
    bar = _Bar(args.quiet)
    listener = Listener(bar.started, bar.progress, bar.finished)
    try:
        summary = run(job, engine, Progress(), listener)
    finally:
        bar.close()
    skipped = summary.of("skipped")
    hint = " (--overwrite replaces existing outputs)" if skipped else ""
    print(summary.line + hint, file=sys.stderr)
    return EXIT_FAILED if summary.of("failed") else EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from .arch import count_macs
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(resolve(_model_ref(args.checkpoint, args.scale)))
    cfg = ck.config
    params = ck.params  # by formula: info never builds (allocates) the network
    s = cfg.scale
    gmacs = count_macs(cfg, 720 // s, 1280 // s) / 1e9
    info = {
        "file": str(ck.path),
        "variant": cfg.variant or "custom",
        "weights": ck.source or "state dict",
        **cfg.to_dict(),
        "expert_ranks": list(cfg.ranks),
        "params": params,
        "gmacs_1280x720_output": round(gmacs, 2),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>22}: {v}")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from .engine import EngineOptions
    from .imageio import read_image

    engine = _engine(args)
    img = read_image(Path(args.image))
    res = engine.upscale(img.rgb, EngineOptions(tile=args.tile))
    blocks = [
        {
            "block": r.block,
            "probs": [round(float(p), 6) for p in r.probs[0]],
            "chosen": [int(c) for c in r.chosen[0]],
            "weights": [round(float(w), 6) for w in r.weights[0]],
        }
        for r in res.routing
    ]
    if args.json:
        print(json.dumps({"image": str(args.image), "scale": engine.scale, "blocks": blocks}))
    else:
        for b in blocks:
            bars = "  ".join(f"E{j} {p:5.3f}" for j, p in enumerate(b["probs"]))
            print(f"block {b['block']:>2}: {bars}   chosen {b['chosen']}")
    return EXIT_OK


def cmd_routing_stats(args: argparse.Namespace) -> int:
    from .routing_stats import format_table, gather_inputs, measure, usage_picture

    engine = _engine(args)
    stats = measure(engine, gather_inputs(args.inputs, engine.scale))
    if args.plot:
        usage_picture(stats, args.plot, f"routing, x{engine.scale}", args.overwrite)
    if args.json:
        print(json.dumps(stats.to_json()))
    else:
        print(format_table(stats))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import bicubic_upscaler, engine_upscaler, evaluate_dataset

    if args.model and args.model.lower() == "bicubic":
        if args.scale is None:
            raise UsageError("--model bicubic needs --scale")
        scale = args.scale
        upscale = bicubic_upscaler(scale)
    else:
        from .engine import Engine

        engine = _engine(args)
        assert isinstance(engine, Engine)
        scale = engine.scale
        upscale = engine_upscaler(engine, args.tile)

    results = []
    for d in args.dirs:
        if not Path(d, "HR").is_dir():
            raise UsageError(f"{d}: no HR/ folder (expected DIR/HR/*.png)")
        r = evaluate_dataset(Path(d), scale, upscale)
        results.append(
            {
                "dataset": r.dataset,
                "scale": r.scale,
                "psnr_y": round(r.psnr_y, 4),
                "ssim_y": round(r.ssim_y, 5),
                "images": r.images,
            }
        )
    if args.json:
        print(json.dumps({"model": args.model or "T", "results": results}))
    else:
        print(f"{'dataset':<12} {'scale':>5} {'PSNR-Y':>8} {'SSIM-Y':>8} {'images':>6}")
        for r in results:
            print(
                f"{r['dataset']:<12} {'x' + str(r['scale']):>5} {r['psnr_y']:>8.2f} "
                f"{r['ssim_y']:>8.4f} {r['images']:>6}"
            )
    return EXIT_OK


def _reset_peak_rss() -> bool:
    # Hand freed heap back to the OS first, or a row reuses the previous row's pages and
    # shows no growth; then (Linux) writing 5 to clear_refs resets VmHWM for this row.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _proc_status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    """The paper's Table 3 on this machine: params, GMACs, runtime and peak memory."""
    import time

    import numpy as np
    import torch

    from .arch import build, count_macs, count_params
    from .checkpoint import load_model
    from .engine import Engine, EngineOptions
    from .models import bundled_path

    rows = []
    for scale in args.scales:
        p = bundled_path(args.variant, scale)
        model = load_model(p) if p.is_file() else build(args.variant, scale)
        weights = "bundled" if p.is_file() else "random"
        engine = Engine(model, device=args.device)
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            iw, ih = w // scale, h // scale  # sizes are outputs, as the paper counts
            img = np.random.default_rng(0).random((ih, iw, 3), dtype=np.float32)
            engine.upscale(img[: min(ih, 32), : min(iw, 32)], EngineOptions(tile=0))  # warm-up
            if engine.device.type == "cuda":
                torch.cuda.synchronize()
            reset = _reset_peak_rss()
            before = _proc_status("VmRSS") or 0
            t = time.perf_counter()
            res = engine.upscale(img, EngineOptions(tile=args.tile))
            if engine.device.type == "cuda":
                torch.cuda.synchronize()
            secs = time.perf_counter() - t
            hwm = _proc_status("VmHWM") if reset else None
            # The run's own peak: above what the process held before it (torch, weights).
            peak = res.report.peak_memory_bytes or (None if hwm is None else hwm - before)
            rows.append(
                {
                    "model": f"SeemoRe-{args.variant.upper()}",
                    "weights": weights,
                    "scale": scale,
                    "output": f"{iw * scale}x{ih * scale}",
                    "params": count_params(model),
                    "gmacs": round(count_macs(model.cfg, ih, iw) / 1e9, 2),
                    "seconds": round(secs, 3),
                    "peak_memory_mib": None if peak is None else round(peak / 2**20, 1),
                    "device": res.report.device,
                    "tile": res.report.tile,
                }
            )
    if args.json:
        print(json.dumps({"results": rows}))
        return EXIT_OK
    print(
        f"{'model':<12}{'scale':>6}{'output':>11}{'params':>9}{'GMACs':>8}{'time s':>9}"
        f"{'peak MiB':>10}  device"
    )
    for r in rows:
        peak = "-" if r["peak_memory_mib"] is None else f"{r['peak_memory_mib']:.0f}"
        print(
            f"{r['model']:<12}{'x' + str(r['scale']):>6}{r['output']:>11}"
            f"{r['params'] / 1000:>8.0f}K{r['gmacs']:>8.2f}{r['seconds']:>9.2f}{peak:>10}  "
            f"{r['device']}{' (random weights)' if r['weights'] == 'random' else ''}"
        )
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .train.config import TrainConfig
    from .train.loop import Trainer

    cfg = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
    try:
        cfg.override(args.set or [])
    except ValueError as e:
        raise UsageError(str(e)) from None
    trainer = Trainer(cfg)
    if args.export_only is None:
        trainer.run(max_steps=args.steps, max_seconds=args.minutes * 60 if args.minutes else None)
    if args.export or args.export_only:
        path = trainer.export(args.export or args.export_only)
        print(f"exported EMA weights at step {trainer.step} to {path}", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seemore", description="Image super-resolution with SeemoRe (ICML 2024)."
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def scale_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--scale",
            type=int,
            choices=SCALES,
            help="upscaling factor for bundled models (default 4); a checkpoint has its own",
        )

    def model_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--model",
            metavar="NAME_OR_PATH",
            help="a checkpoint file (.pth/.safetensors) or a bundled model name "
            f"({', '.join(BUNDLED_NAMES)}; any case); default {DEFAULT_VARIANT}",
        )
        scale_opt(sp)
        sp.add_argument(
            "--device",
            type=_device,
            default="auto",
            metavar="DEVICE",
            help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N or mps",
        )
        sp.add_argument(
            "--tile",
            type=int,
            default=None,
            metavar="N",
            help="input pixels per tile side, rounded up to the pooling grid; 0 = whole image "
            "in one pass; default: auto (CPU: whole up to 320x320, else 192-pixel tiles; "
            "GPU: whole when it fits in free memory, else 512). Tiled output equals "
            "whole-image output",
        )

    def positive_int(lo: int, hi: int | None) -> Callable[[str], int]:
        def parse(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
            if value < lo or (hi is not None and value > hi):
                span = f"{lo} to {hi}" if hi is not None else f"at least {lo}"
                raise argparse.ArgumentTypeError(f"{value} is out of range ({span})")
            return value

        return parse

    u = sub.add_parser("upscale", help="upscale images")
    u.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    u.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    model_opts(u)
    u.add_argument("--precision", default="auto", choices=PRECISIONS)
    u.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    u.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    u.add_argument(
        "--format",
        type=str.lower,
        choices=FORMAT_CHOICES,
        help="output format; default: the output file's suffix, else png (always png for "
        "folders). 16-bit inputs stay 16-bit in png and tiff",
    )
    u.add_argument(
        "--quality",
        type=positive_int(*QUALITY_RANGE),
        metavar="N",
        help=f"JPEG/WebP quality, {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]} (default "
        f"{DEFAULT_QUALITY}; WebP at {QUALITY_RANGE[1]} is lossless)",
    )
    u.add_argument(
        "--png-compress",
        type=positive_int(*PNG_LEVELS),
        metavar="N",
        help=f"PNG compression level, {PNG_LEVELS[0]}-{PNG_LEVELS[1]}: 0 fastest and largest, "
        f"9 slowest and smallest; the pixels are the same (default {DEFAULT_PNG_LEVEL})",
    )
    size = u.add_argument_group(
        "output size by target (instead of --scale; give one)",
        "run the smallest of the model's scales that reaches the target, then shrink to "
        "the exact size with Lanczos; the aspect ratio is kept",
    )
    for side, what in (
        ("width", "output width"),
        ("height", "output height"),
        ("longest", "output's longest side"),
    ):
        size.add_argument(
            f"--{side}", type=positive_int(1, None), metavar="PX", help=f"the {what} in pixels"
        )
    u.add_argument(
        "--max-pixels",
        type=positive_int(0, None),
        default=None,
        metavar="N",
        help="refuse inputs with more pixels (a guard against decompression bombs) and "
        "outputs with more pixels (input x scale^2); default 89478485 for inputs and "
        "1000000000 for outputs; 0 = no limit (memory and disk are still checked)",
    )
    u.add_argument(
        "--name",
        default=DEFAULT_PATTERN,
        metavar="PATTERN",
        help="name of each output in a folder, without suffix: {stem} (the input's), "
        "{scale}, {model}, {index} (default {stem})",
    )
    u.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    u.set_defaults(func=cmd_upscale)

    i = sub.add_parser("info", help="describe a checkpoint or a bundled model")
    i.add_argument(
        "checkpoint",
        metavar="NAME_OR_PATH",
        help=f"a checkpoint file or a bundled model name ({', '.join(BUNDLED_NAMES)})",
    )
    scale_opt(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    n = sub.add_parser("inspect", help="show the experts each block chose for an image")
    n.add_argument("image")
    model_opts(n)
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_inspect)

    e = sub.add_parser("eval", help="PSNR/SSIM (Y) over benchmark folders DIR/HR[/LR_bicubic]")
    e.add_argument("dirs", nargs="+", metavar="DIR")
    model_opts(e)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="params, GMACs, runtime and peak memory (paper's Table 3)")
    b.add_argument("--variant", default="T", choices=("T", "B", "L", "t", "b", "l"))
    b.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], choices=(2, 3, 4))
    b.add_argument(
        "--sizes",
        nargs="+",
        default=["640x360", "1280x720"],
        metavar="WxH",
        help="output sizes (the paper times a 1280x720 output)",
    )
    b.add_argument("--device", type=_device, default="auto", metavar="DEVICE")
    b.add_argument("--tile", type=int, default=None)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser("train", help="train a SeemoRe network (resumes from OUT_DIR/last.pth)")
    t.add_argument("--config", help="TOML file of training options (see configs/)")
    t.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override an option (repeatable)"
    )
    t.add_argument("--steps", type=int, help="stop after this many more steps (a chunk)")
    t.add_argument("--minutes", type=float, help="stop after this many minutes (a chunk)")
    t.add_argument("--export", metavar="FILE.safetensors", help="export EMA weights when done")
    t.add_argument(
        "--export-only", metavar="FILE.safetensors", help="export the last checkpoint's EMA weights"
    )
    t.set_defaults(func=cmd_train)

    r = sub.add_parser(
        "routing-stats",
        help="per block: how often each expert is chosen over a set of images (Figure 5)",
    )
    r.add_argument(
        "inputs",
        nargs="+",
        metavar="DIR_OR_FILE",
        help="images, folders, or "
        "benchmark folders (DIR/HR with DIR/LR_bicubic/X{N}: their LR images)",
    )
    model_opts(r)
    r.add_argument("--json", action="store_true")
    r.add_argument("--plot", metavar="FILE.png", help="write the depth x expert picture")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")
    r.set_defaults(func=cmd_routing_stats)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stop_on_sigterm()  # SIGTERM stops like Ctrl+C: temporary files removed, exit 143
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as e:
        err(_with_hint(e))
        return EXIT_USAGE
    except Cancelled:
        err("cancelled")
        return 130
    except SeemoreError as e:
        err(_with_hint(e))
        return EXIT_FAILED
    except OSError as e:  # a path problem no check above worded: still one line
        err(describe_os_error(e))
        return EXIT_FAILED
    except KeyboardInterrupt as e:  # Ctrl+C, or SIGTERM/SIGHUP (seemore_core.signals)
        err(stop_message(e))
        return exit_code(e)


def console() -> NoReturn:
    """The `seemore` command: main(), then an exit without the interpreter's teardown.

    Why: after a torch process has done its work, Python's finalisation (clearing every
    module and collecting torch's objects) took 0.7-1.0 s on the project's 2-core
    machine, 7-9% of a whole `seemore upscale` of a 720x576 photo at x4. Everything
    the command writes is closed (and fsynced) before main() returns, so the exit
    only has to run the atexit handlers (temporary folders, logging) and flush the
    standard streams itself. Library callers of main() are not affected.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe or stream: nothing to flush
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
