"""The `seemore` command: upscale, info, inspect, eval, train.

User mistakes end in one line on stderr and a non-zero exit code, never a traceback.
Exit codes: 0 done, 1 some inputs failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import Cancelled, SeemoreError, UsageError
from .paths import describe_os_error
from .signals import exit_code, stop_message, stop_on_sigterm

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def err(msg: str) -> None:
    print(f"seemore: {msg}", file=sys.stderr, flush=True)


def _load_model_arg(value: str | None, scale: int | None) -> tuple[object, int]:
    """Resolve --model/--scale: a checkpoint's own scale wins; a different --scale is a mistake."""
    from pathlib import Path

    from .checkpoint import load_model
    from .models import resolve_model_path

    if value is not None and Path(value).exists():
        model = load_model(value)
        if scale is not None and scale != model.scale:
            raise UsageError(
                f"--scale {scale} conflicts with {value}, which is a x{model.scale} checkpoint"
            )
        return model, model.scale
    s = 4 if scale is None else scale
    return load_model(resolve_model_path(value, s)), s


def _engine(args: argparse.Namespace) -> object:
    from .engine import Engine

    model, _ = _load_model_arg(args.model, args.scale)
    return Engine(model, device=args.device, precision=getattr(args, "precision", "auto"))


def _collect_inputs(inputs: list[str], recursive: bool, exclude: Path | None = None) -> list[Path]:
    """The images to upscale: files as given, and folder entries named like images.

    Entries named like images that cannot be read (a FIFO, a broken link, a folder when not
    recursing) are kept, so that the batch reports each of them instead of skipping it
    silently. When recursing, folders are descended into, except ``exclude`` (the output
    folder: a rerun must not take the previous run's outputs as inputs).
    """
    import os

    from .imageio import is_image_path

    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.is_dir():
            found.append(p)  # a missing or bad file is reported by the batch loop
        elif not recursive:
            found += sorted(q for q in p.iterdir() if is_image_path(q))
        else:
            batch: list[Path] = []
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if Path(root, d).resolve() != skip]
                batch += (Path(root, n) for n in names if is_image_path(n))
            found += sorted(batch)
    return found


def _print_progress(info: object) -> None:
    from .progress import ProgressInfo

    assert isinstance(info, ProgressInfo)
    eta = f", ETA {info.eta_s:.0f} s" if info.eta_s is not None and info.done else ""
    print(
        f"\r  {info.stage} {info.fraction * 100:5.1f}% ({info.done}/{info.total}){eta}   ",
        end="",
        file=sys.stderr,
        flush=True,
    )


def cmd_upscale(args: argparse.Namespace) -> int:
    import os
    from contextlib import suppress

    from .engine import Engine, EngineOptions
    from .imageio import (
        DEFAULT_MAX_PIXELS,
        WRITE_SUFFIXES,
        ImageIOError,
        OutputExistsError,
        read_image,
        upscale_alpha,
        write_image,
    )
    from .progress import Progress
    from .signals import sweep_before_run

    # The suffix given to outputs named after their input; and the other spellings a
    # single output's name may use.
    suffix_of = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
    named_formats = {**WRITE_SUFFIXES, "jpe": "JPEG", "jfif": "JPEG", "dib": "BMP", "apng": "PNG"}
    chosen = WRITE_SUFFIXES[args.format] if args.format else None
    several = len(args.inputs) > 1 or any(Path(i).is_dir() for i in args.inputs)
    out = Path(args.output)
    # "-o results/" names a folder even before it exists.
    make_folder = several or args.output.endswith(("/", os.sep))
    if several:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a folder (several inputs need a folder)")
        fmt = chosen or "PNG"
        files = _collect_inputs(args.inputs, args.recursive, exclude=out)
        if not files:
            raise UsageError("no image files found in the given input(s)")
    else:
        files = [Path(args.inputs[0])]
        if out.is_dir() or make_folder:
            fmt = chosen or "PNG"
            out = out / f"{files[0].stem}{suffix_of[fmt]}"
        else:
            suffix = out.suffix.lower().lstrip(".")
            named = named_formats.get(suffix)
            if suffix == "gif":
                raise UsageError(f"{out}: GIF cannot be written; use .png, .jpg, .webp, .tif, .bmp")
            if chosen and named and chosen != named:
                raise UsageError(f"--format {args.format} conflicts with the output name {out}")
            # A name without an image suffix ("result", "x.out") gets PNG, as folders do.
            fmt = chosen or named or "PNG"
    if args.quality is not None and fmt not in ("JPEG", "WEBP"):
        raise UsageError(f"--quality is for JPEG and WebP output, and this output is {fmt}")
    quality = 95 if args.quality is None else args.quality
    # The bomb guard stays on unless asked otherwise: 0 switches it off.
    max_pixels = args.max_pixels if args.max_pixels is not None else DEFAULT_MAX_PIXELS

    if (swept := sweep_before_run(out, several)) is not None:  # seemore_core.signals
        err(swept)
    engine = _engine(args)
    assert isinstance(engine, Engine)
    opts = EngineOptions(tile=args.tile)
    failed = 0
    done: dict[Path, Path] = {}  # output -> its input, to catch two inputs with one output
    for src in files:
        dst = out / f"{src.stem}{suffix_of[fmt]}" if several else out
        try:
            same = False
            with suppress(OSError):  # an unreadable input is reported by read_image below
                same = dst.resolve() == src.resolve() or (
                    dst.exists() and src.exists() and os.path.samefile(dst, src)
                )
            if same:
                raise ImageIOError(src, f"refusing to write the output {dst} over its input")
            other = done.get(dst.resolve())
            if other is not None:
                raise ImageIOError(
                    src, f"its output {dst} is also the output of {other}: rename one of them"
                )
            if dst.exists() and not args.overwrite:
                print(f"skipped {src}: {dst} exists (use --overwrite)", file=sys.stderr)
                done[dst.resolve()] = src
                continue
            img = read_image(src, max_pixels=max_pixels or None)
            for note in img.notes:
                print(f"{src}: {note}", file=sys.stderr)
            progress = Progress(None if args.quiet else _print_progress)
            # Integer output: a quarter of float32's memory for the (largest) array.
            opts.output = "uint16" if img.bit_depth == 16 else "uint8"
            res = engine.upscale(img.rgb, opts, progress)
            if not args.quiet:
                print(file=sys.stderr)
            alpha = None if img.alpha is None else upscale_alpha(img.alpha, engine.scale)
            if make_folder:
                try:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ImageIOError(dst.parent, f"cannot create the folder: {e.strerror}") from e
            write_image(
                dst,
                res.image,
                alpha=alpha,
                like=img,
                format=fmt,
                quality=quality,
                overwrite=args.overwrite,
            )
            done[dst.resolve()] = src
            r = res.report
            for warning in r.warnings:
                print(f"{src}: {warning}", file=sys.stderr)
            tiling = "whole image" if r.tile == 0 else f"{r.tiles} tiles of {r.tile} px"
            print(
                f"{src} -> {dst} ({r.device}, {r.precision}, {tiling}, {r.seconds:.1f} s)",
                file=sys.stderr,
            )
        except OutputExistsError:
            # Created by someone else since the check above: theirs is kept, as asked.
            print(f"skipped {src}: {dst} exists (use --overwrite)", file=sys.stderr)
        except SeemoreError as e:
            failed += 1
            err(str(e))
        except MemoryError:
            failed += 1
            err(f"{src}: not enough memory to upscale this image (try a smaller --tile)")
        except Exception as e:  # one broken input must not end the batch; say which and why
            failed += 1
            err(f"{src}: unexpected error ({type(e).__name__}: {e})")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from .arch import count_macs
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(args.checkpoint)
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
    from .engine import Engine, EngineOptions
    from .imageio import read_image

    engine = _engine(args)
    assert isinstance(engine, Engine)
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

    def model_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--model",
            metavar="NAME_OR_PATH",
            help="a checkpoint file (.pth/.safetensors) or a bundled model name (T); default T",
        )
        sp.add_argument(
            "--scale",
            type=int,
            choices=(2, 3, 4),
            help="upscaling factor for bundled models (default 4); a checkpoint has its own",
        )
        sp.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda or mps")
        sp.add_argument(
            "--tile",
            type=int,
            default=None,
            metavar="N",
            help="input pixels per tile side, rounded up to the pooling grid; 0 = whole image "
            "in one pass; default: auto (CPU: whole up to 320x320, else 128-pixel tiles; "
            "GPU: whole when it fits in free memory, else 512). Tiled output equals "
            "whole-image output",
        )

    from collections.abc import Callable

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
    u.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    u.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    u.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    u.add_argument(
        "--format",
        type=str.lower,
        choices=("png", "jpeg", "jpg", "webp", "tiff", "tif", "bmp"),
        help="output format; default: the output file's suffix, else png (always png for "
        "folders). 16-bit inputs stay 16-bit in png and tiff",
    )
    u.add_argument(
        "--quality",
        type=positive_int(1, 100),
        metavar="N",
        help="JPEG/WebP quality, 1-100 (default 95; WebP at 100 is lossless)",
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
    u.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    u.set_defaults(func=cmd_upscale)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("checkpoint")
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
    b.add_argument("--device", default="auto")
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
        err(str(e))
        return EXIT_USAGE
    except Cancelled:
        err("cancelled")
        return 130
    except SeemoreError as e:
        err(str(e))
        return EXIT_FAILED
    except OSError as e:  # a path problem no check above worded: still one line
        err(describe_os_error(e))
        return EXIT_FAILED
    except KeyboardInterrupt as e:  # Ctrl+C, or SIGTERM/SIGHUP (seemore_core.signals)
        err(stop_message(e))
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
