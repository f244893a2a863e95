"""Bundle a training run's EMA weights in resources/weights and rewrite the model card.

    python tools/release_weights.py runs/T_x2 [--benchmark ../shared/data/benchmark]

Exports runs/T_x2/last.pth's EMA weights as resources/weights/seemore_T_x{s}.safetensors
(the authors' key names, hyperparameters and training facts in the metadata), measures
Set5/Set14 PSNR/SSIM (Y) of it and of bicubic, stores the figures in
resources/weights/eval.json, and writes MODEL_CARD.md from every bundled model.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from seemore_core.checkpoint import model_from_state_dict, read_checkpoint, save_safetensors
from seemore_core.engine import Engine
from seemore_core.evaluate import bicubic_upscaler, engine_upscaler, evaluate_dataset
from seemore_core.imageio import write_bytes_atomic
from seemore_core.models import bundled_path, weights_dir
from seemore_core.routing_stats import gather_inputs, usage_picture
from seemore_core.routing_stats import measure as measure_routing_stats
from seemore_core.train.history import describe_schedule

PAPER = {  # the paper's SeemoRe-T rows (PSNR dB, Y)
    2: {"Set5": 38.06, "Set14": 33.65},
    3: {"Set5": 34.46, "Set14": 30.44},
    4: {"Set5": 32.31, "Set14": 28.72},
}
SETS = ("Set5", "Set14")


def measure(model: torch.nn.Module, scale: int, bench: Path) -> dict[str, dict[str, float]]:
    upscale = engine_upscaler(Engine(model, device="cpu"))
    out: dict[str, dict[str, float]] = {}
    for name in SETS:
        r = evaluate_dataset(bench / name, scale, upscale)
        b = evaluate_dataset(bench / name, scale, bicubic_upscaler(scale))
        out[name] = {
            "psnr": r.psnr_y,
            "ssim": r.ssim_y,
            "bicubic_psnr": b.psnr_y,
            "bicubic_ssim": b.ssim_y,
        }
    return out


def measure_routing(model: torch.nn.Module, scale: int, bench: Path) -> dict[str, object]:
    """Routing over the Set5+Set14 LR images routed whole, and its Figure-5 picture."""
    engine = Engine(model, device="cpu")
    stats = measure_routing_stats(engine, gather_inputs([bench / n for n in SETS], scale))
    usage_picture(stats, weights_dir() / f"routing_T_x{scale}.png", f"SeemoRe-T x{scale}", True)
    data = stats.to_json()
    data.pop("images")
    data.pop("chosen")
    return data


def routing_lines(evals: dict[str, dict]) -> list[str]:  # type: ignore[type-arg]
    lines = [
        "",
        "## Routing (which expert each block chooses)",
        "",
        "Over the 19 Set5 + Set14 LR images, each routed whole as an upscale routes it",
        "(`seemore routing-stats`): the share of images whose top-1 expert was E0/E1/E2",
        "(ranks 2/4/8) in each block, and the normalised entropy of that choice (0: every",
        "image chose the same expert; 1: evenly spread). The paper's Figure 5 has early",
        "blocks choosing diverse ranks; the routing target of the second release is two",
        "or more experts each chosen for >= 15% of the images in two of blocks 0-2.",
        "",
        "| model | " + " | ".join(f"block {b}" for b in range(6)) + " | diverse of blocks 0-2 |",
        "|---|" + "---|" * 7,
    ]
    for key in sorted(evals):
        r = evals[key].get("routing")
        if not r:
            continue
        cells = [
            "/".join(f"{round(v * 100)}" for v in b["share"]) + f" (H {b['entropy']:.2f})"
            for b in r["blocks"]
        ]
        lines.append(
            f"| T x{evals[key]['scale']} | "
            + " | ".join(cells)
            + f" | {r['diverse_blocks_of_first_3']} |"
        )
    lines += [
        "",
        "Pictures: "
        + ", ".join(
            f"[T x{evals[k]['scale']}](routing_T_x{evals[k]['scale']}.png)"
            for k in sorted(evals)
            if evals[k].get("routing")
        ),
        "",
        "The first release's routers are constant: every image chooses the same experts,",
        "because the router logits move 10-100x less between images than their constant",
        "preference (measured in ../shared/docs/routing-diagnosis.md). Work on a training",
        "recipe that makes the choice follow the image is recorded in",
        "docs/routing-ablations.md.",
    ]
    return lines


def write_card(evals: dict[str, dict]) -> None:  # type: ignore[type-arg]
    lines = [
        "# Bundled SeemoRe weights: model card",
        "",
        "Trained by this project with its own `seemore train` (no official weights are",
        "used). Architecture: SeemoRe-T (6 residual groups, width 36, 3 low-rank experts",
        "of rank 2/4/8, top-1 routing, striped kernel 11), as in the ICML 2024 paper.",
        "",
        "- Data: the classic 291 set (T91 + BSDS300 train, 291 photos, ~36 MP). Never",
        "  the benchmark images. LR made on the fly with MATLAB-exact bicubic (8-bit",
        "  rounding after each pass), random crops, flips and 90-degree rotations.",
        "- Loss: L1 + 0.1 x L1 of the 2-D FFT (the paper's). Adam with the learning",
        "  rates below (read from each run's log), EMA of the weights (decay 0.999, 0.998",
        "  in the later sessions; the EMA weights are shipped).",
        "- Evaluation: PSNR/SSIM on Y (BT.601), `scale` pixels cropped, outputs",
        "  clamped and rounded to 8 bits; `seemore eval` reproduces the bicubic rows.",
        "",
        "| model | started from | steps | batch x patch (LR) | train time | hardware |"
        " Set5 PSNR/SSIM | Set14 PSNR/SSIM | bicubic Set5 / Set14 | paper Set5 / Set14 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(evals):
        e = evals[key]
        s = e["scale"]
        m = e["sets"]
        hours = e["train_seconds"] / 3600
        init = e.get("init") or {}
        start = (
            f"T x{init['scale']} ({init.get('train_steps', '?')} steps)"
            if init.get("scale")
            else "scratch"
        )
        lines.append(
            f"| T x{s} | {start} | {e['steps']} | {e['batch']} x {e['patch']}px | {hours:.1f} h |"
            f" {e['hardware']} | {m['Set5']['psnr']:.2f} / {m['Set5']['ssim']:.4f} |"
            f" {m['Set14']['psnr']:.2f} / {m['Set14']['ssim']:.4f} |"
            f" {m['Set5']['bicubic_psnr']:.2f} / {m['Set14']['bicubic_psnr']:.2f} |"
            f" {PAPER[s]['Set5']:.2f} / {PAPER[s]['Set14']:.2f} |"
        )
    notes = [
        f"- T x{evals[k]['scale']}: "
        + ". ".join(t for t in (evals[k].get("schedule"), evals[k].get("note")) if t)
        for k in sorted(evals)
        if evals[k].get("schedule") or evals[k].get("note")
    ]
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        "The paper trains 500K iterations of batch 32 on DIV2K + Flickr2K on GPUs; these",
        "weights had a small fraction of that on CPUs, so they are below the paper and",
        "training goes on (`seemore train --config configs/T_x{2,3,4}_cpu.toml` resumes).",
        "x3 and x4 start from the x2 weights (all but the upsampler), as the configs say;",
        "their steps and train time are their own, on top of the x2 run's.",
    ]
    lines += routing_lines(evals)
    lines.append("")
    _write_atomic(weights_dir() / "MODEL_CARD.md", "\n".join(lines))


@contextlib.contextmanager
def _release_lock() -> Iterator[None]:
    # Releases of x2/x3/x4 may run side by side (each measures for minutes); eval.json
    # and the card are read, updated and written by one of them at a time.
    with open(Path(tempfile.gettempdir()) / "seemore-release.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run", type=Path, nargs="?", help="training folder holding last.pth")
    p.add_argument(
        "--refresh-routing",
        action="store_true",
        help="re-measure the routing of every bundled model and rewrite the card (no release)",
    )
    p.add_argument("--benchmark", type=Path, default=Path("../shared/data/benchmark"))
    p.add_argument("--hardware", default=f"{platform.machine()} CPU, 2 cores")
    p.add_argument(
        "--train-seconds",
        type=float,
        default=None,
        help="total wall time, when the run's own count misses chunks (older code)",
    )
    p.add_argument("--note", default="", help="a line for the model card (how it was run)")
    args = p.parse_args()
    if args.refresh_routing:
        refresh_routing(args.benchmark)
        return
    if args.run is None:
        p.error("give a training folder, or --refresh-routing")
    ck = read_checkpoint(args.run / "last.pth")
    model = model_from_state_dict(ck.state_dict, ck.config)
    raw = torch.load(args.run / "last.pth", map_location="cpu", weights_only=True)
    tc = json.loads(raw["train_config"])
    steps = int(raw["step"])
    seconds = args.train_seconds or float(raw.get("train_seconds", 0.0))
    s = ck.config.scale
    sets = measure(model, s, args.benchmark)
    routing = measure_routing(model, s, args.benchmark)
    meta = {
        "train_steps": str(steps),
        "train_seconds": f"{seconds:.0f}",
        "train_data": "T91 + BSD200 (291 photos)",
        "set5_psnr_y": f"{sets['Set5']['psnr']:.3f}",
        "set14_psnr_y": f"{sets['Set14']['psnr']:.3f}",
    }
    out = save_safetensors(model, bundled_path("T", s), meta)
    entry = {
        "scale": s,
        "steps": steps,
        "batch": tc["batch_size"],
        "patch": tc["patch_size"],
        "train_seconds": seconds,
        "hardware": args.hardware,
        "init": json.loads(raw.get("init_meta", "{}")),
        "schedule": describe_schedule(json.loads(raw.get("history", "[]"))),
        "note": args.note,
        "sets": sets,
        "routing": routing,
    }
    evals_path = weights_dir() / "eval.json"
    with _release_lock():
        evals = json.loads(evals_path.read_text()) if evals_path.is_file() else {}
        evals[f"T_x{s}"] = entry
        _write_atomic(evals_path, json.dumps(evals, indent=2) + "\n")
        write_card(evals)
    print(f"wrote {out}: Set5 {sets['Set5']['psnr']:.2f} dB, Set14 {sets['Set14']['psnr']:.2f} dB")


def refresh_routing(bench: Path) -> None:
    evals_path = weights_dir() / "eval.json"
    routing = {}
    for key in json.loads(evals_path.read_text()):
        ck = read_checkpoint(weights_dir() / f"seemore_{key}.safetensors")
        model = model_from_state_dict(ck.state_dict, ck.config)
        routing[key] = measure_routing(model, ck.config.scale, bench)
        print(f"{key}: diverse blocks of 0-2: {routing[key]['diverse_blocks_of_first_3']}")
    with _release_lock():
        evals = json.loads(evals_path.read_text())
        for key, r in routing.items():
            evals[key]["routing"] = r
        _write_atomic(evals_path, json.dumps(evals, indent=2) + "\n")
        write_card(evals)


if __name__ == "__main__":
    main()
