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

from .errors import SeemoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in the command line: exit code 2."""


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


def _collect_inputs(inputs: list[str], recursive: bool) -> list[Path]:
    from .imageio import is_image_path

    found: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            found += sorted(q for q in it if q.is_file() and is_image_path(q))
        else:
            found.append(p)  # a missing or bad file is reported by the batch loop
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
    from .engine import Engine, EngineOptions
    from .imageio import ImageIOError, read_image, upscale_alpha, write_image
    from .progress import Progress

    files = _collect_inputs(args.inputs, args.recursive)
    several = len(args.inputs) > 1 or any(Path(i).is_dir() for i in args.inputs)
    out = Path(args.output)
    if several:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a folder (several inputs need a folder)")
        if not files:
            raise UsageError("no image files found in the given input(s)")
    elif out.is_dir():
        out = out / f"{Path(args.inputs[0]).stem}.png"
    engine = _engine(args)
    assert isinstance(engine, Engine)
    opts = EngineOptions(tile=args.tile)
    failed = 0
    for src in files:
        dst = out / f"{src.stem}.png" if several else out
        try:
            if dst.resolve() == src.resolve():
                raise ImageIOError(f"{dst}: refusing to write the output over its input")
            if dst.exists() and not args.overwrite:
                print(f"skipped {src}: {dst} exists (use --overwrite)", file=sys.stderr)
                continue
            img = read_image(src, max_pixels=args.max_pixels)
            for note in img.notes:
                print(f"{src}: {note}", file=sys.stderr)
            progress = Progress(None if args.quiet else _print_progress)
            # Integer output: a quarter of float32's memory for the (largest) array.
            opts.output = "uint16" if img.bit_depth == 16 else "uint8"
            res = engine.upscale(img.rgb, opts, progress)
            if not args.quiet:
                print(file=sys.stderr)
            alpha = None if img.alpha is None else upscale_alpha(img.alpha, engine.scale)
            if several:
                dst.parent.mkdir(parents=True, exist_ok=True)
            write_image(dst, res.image, alpha=alpha, like=img, overwrite=args.overwrite)
            r = res.report
            for warning in r.warnings:
                print(f"{src}: {warning}", file=sys.stderr)
            tiling = "whole image" if r.tile == 0 else f"{r.tiles} tiles of {r.tile} px"
            print(
                f"{src} -> {dst} ({r.device}, {r.precision}, {tiling}, {r.seconds:.1f} s)",
                file=sys.stderr,
            )
        except SeemoreError as e:
            failed += 1
            err(str(e))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from .arch import SeemoRe, count_macs, count_params
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(args.checkpoint)
    cfg = ck.config
    params = count_params(SeemoRe(cfg))
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
    from .evaluate import bicubic_upscaler, evaluate_dataset

    if args.model and args.model.lower() == "bicubic":
        if args.scale is None:
            raise UsageError("--model bicubic needs --scale")
        scale = args.scale
        upscale = bicubic_upscaler(scale)
    else:
        from .engine import Engine, EngineOptions

        engine = _engine(args)
        assert isinstance(engine, Engine)
        scale = engine.scale
        opts = EngineOptions(tile=args.tile)

        def upscale(lr: object) -> object:
            import numpy as np

            assert isinstance(lr, np.ndarray)
            return engine.upscale(lr.astype(np.float32) / 255.0, opts).image

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
            "in one pass; default: auto from free memory",
        )

    u = sub.add_parser("upscale", help="upscale images")
    u.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    u.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    model_opts(u)
    u.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    u.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    u.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    u.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="raise the decompression-bomb limit (pixels per image)",
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
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as e:
        err(str(e))
        return EXIT_USAGE
    except SeemoreError as e:
        err(str(e))
        return EXIT_FAILED
    except KeyboardInterrupt:
        err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
