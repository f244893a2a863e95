"""Bundle a training run's EMA weights in resources/weights and rewrite the model card.

    python tools/release_weights.py runs/T_x2 [--benchmark ../shared/data/benchmark]
    python tools/release_weights.py runs/T_photo_x4 --name T-photo

Exports runs/T_x2/last.pth's EMA weights as resources/weights/seemore_{NAME}_x{s}.safetensors
(NAME one of names.BUNDLED_NAMES, default T; the authors' key names, hyperparameters and
training facts in the metadata), measures Set5/Set14 PSNR/SSIM (Y) of it and of bicubic,
stores the figures in resources/weights/eval.json under "{NAME}_x{s}", and writes
MODEL_CARD.md from every bundled model.

When the degraded validation sets exist (``--degraded``, default runs/degraded/{Set5,Set14}
with LR_bicubic/X{s}, built by tools/make_degraded_set.py), it also measures PSNR on that
degraded input: of the released model, of the bundled clean T at the same scale and of
bicubic, so the card can say what a photo model gains where it is meant to be used.
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
from seemore_core.evaluate import bicubic_upscaler, engine_upscaler, evaluate_dataset, find_pairs
from seemore_core.imageio import write_bytes_atomic
from seemore_core.models import bundled_path, weights_dir
from seemore_core.names import BUNDLED, BUNDLED_NAMES, bundled_info
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


def degraded_sets(root: Path, scale: int) -> list[Path]:
    """The degraded validation folders with an LR for every HR at this scale.

    A folder missing some LR would be filled in with clean bicubic LR by
    `evaluate_dataset`, which would pass clean figures off as degraded ones: skipped.
    """
    found = []
    for name in SETS:
        d = root / name
        if (d / "HR").is_dir():
            pairs = find_pairs(d, scale)
            if pairs and all(lr is not None for _, _, lr in pairs):
                found.append(d)
    return found


def measure_degraded(
    model: torch.nn.Module, clean_t: torch.nn.Module | None, scale: int, sets: list[Path]
) -> dict[str, dict[str, float]]:
    """PSNR/SSIM (Y) on degraded LR of the model, the clean T (when given) and bicubic."""
    upscale = engine_upscaler(Engine(model, device="cpu"))
    t_upscale = engine_upscaler(Engine(clean_t, device="cpu")) if clean_t is not None else None
    out: dict[str, dict[str, float]] = {}
    for d in sets:
        r = evaluate_dataset(d, scale, upscale)
        b = evaluate_dataset(d, scale, bicubic_upscaler(scale))
        row = {"psnr": r.psnr_y, "ssim": r.ssim_y, "bicubic_psnr": b.psnr_y}
        if t_upscale is not None:
            row["T_psnr"] = evaluate_dataset(d, scale, t_upscale).psnr_y
        out[d.name] = row
    return out


def key_name(key: str) -> str:
    """The bundled name of an eval.json key ("T-photo_x4" -> "T-photo")."""
    return key.rpartition("_x")[0]


def key_order(key: str) -> tuple[int, str, int]:
    # Names in names.BUNDLED order (T first, so its rows stay where they were), then scale.
    name, _, s = key.rpartition("_x")
    rank = BUNDLED_NAMES.index(name) if name in BUNDLED_NAMES else len(BUNDLED_NAMES)
    return rank, name, int(s) if s.isdigit() else 0


def measure_routing(
    model: torch.nn.Module, scale: int, bench: Path, name: str = "T"
) -> dict[str, object]:
    """Routing over the Set5+Set14 LR images routed whole, and its Figure-5 picture."""
    engine = Engine(model, device="cpu")
    stats = measure_routing_stats(engine, gather_inputs([bench / n for n in SETS], scale))
    usage_picture(
        stats, weights_dir() / f"routing_{name}_x{scale}.png", f"SeemoRe-{name} x{scale}", True
    )
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
    for key in sorted(evals, key=key_order):
        r = evals[key].get("routing")
        if not r:
            continue
        cells = [
            "/".join(f"{round(v * 100)}" for v in b["share"]) + f" (H {b['entropy']:.2f})"
            for b in r["blocks"]
        ]
        lines.append(
            f"| {key_name(key)} x{evals[key]['scale']} | "
            + " | ".join(cells)
            + f" | {r['diverse_blocks_of_first_3']} |"
        )
    lines += [
        "",
        "Pictures: "
        + ", ".join(
            f"[{key_name(k)} x{evals[k]['scale']}](routing_{k}.png)"
            for k in sorted(evals, key=key_order)
            if evals[k].get("routing")
        ),
        "",
        "The first release's routers were constant: every image chose the same experts,",
        "because the router logits moved 10-100x less between images than their constant",
        "preference (measured in ../shared/docs/routing-diagnosis.md), and top-1 training",
        "only ever trained the expert chosen first. The second release's recipe",
        "(docs/routing-ablations.md): each block's trained expert is copied into its",
        "unused ones (seemore_core/train/expert_init.py), the routers alone are trained",
        "on an information-form balance loss over training crops (the sharpened clean",
        "choice spread over the batch, each crop's choice decided), then the whole",
        "network is fine-tuned with that loss kept, so the experts adapt to the new",
        "routing and PSNR comes back.",
    ]
    constant = [
        f"{key_name(k)} x{evals[k]['scale']}"
        for k in sorted(evals, key=key_order)
        if evals[k].get("routing") and evals[k]["routing"]["diverse_blocks_of_first_3"] == 0
    ]
    if constant:
        lines += ["", "Still routed as the first release (constant): " + ", ".join(constant) + "."]
    return lines


def _pair(sets: dict[str, dict[str, float]] | None, field: str) -> str:
    """ "Set5 / Set14" figures of one field, "-" where a set was not measured."""
    cells = []
    for name in SETS:
        v = (sets or {}).get(name, {}).get(field)
        cells.append(f"{v:.2f}" if isinstance(v, (int, float)) else "-")
    return " / ".join(cells)


def photo_lines(evals: dict[str, dict]) -> list[str]:  # type: ignore[type-arg]
    """The T-photo table: clean and degraded PSNR beside the clean T and bicubic."""
    keys = sorted((k for k in evals if key_name(k) == "T-photo"), key=key_order)
    if not keys:
        return []
    lines = [
        "",
        "## T-photo: for real photos (JPEG, noise, blur)",
        "",
        "SeemoRe-T fine-tuned from the clean T weights on the same 291 photos with LR made",
        "by the real-photo pipeline (`seemore_core/train/degrade.py`: blur, bicubic/",
        "bilinear/area downscale with jitter, Gaussian/Poisson noise, JPEG q30-95,",
        "sometimes twice), L1 + FFT loss, EMA; no GAN, so it invents no texture.",
        "Degraded input: Set5/Set14 degraded by that pipeline at fixed seeds",
        "(`tools/make_degraded_set.py`, runs/degraded; `seemore eval` reads it). PSNR-Y dB.",
        "",
        "| model | started from | steps | train time | hardware | clean Set5 / Set14 |"
        " clean T: Set5 / Set14 | degraded Set5 / Set14 | degraded, T: Set5 / Set14 |"
        " degraded, bicubic: Set5 / Set14 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        e = evals[key]
        s = e["scale"]
        init = e.get("init") or {}
        start = f"T x{init['scale']}" if init.get("scale") else "scratch"
        if init.get("train_steps"):
            start += f" ({init['train_steps']} steps)"
        deg = e.get("degraded")
        lines.append(
            f"| T-photo x{s} | {start} | {e['steps']} | {e['train_seconds'] / 3600:.1f} h |"
            f" {e['hardware']} | {_pair(e['sets'], 'psnr')} |"
            f" {_pair((evals.get(f'T_x{s}') or {}).get('sets'), 'psnr')} |"
            f" {_pair(deg, 'psnr')} | {_pair(deg, 'T_psnr')} | {_pair(deg, 'bicubic_psnr')} |"
        )
    notes = [
        f"- T-photo x{evals[k]['scale']}: "
        + ". ".join(t for t in (evals[k].get("schedule"), evals[k].get("note")) if t)
        for k in keys
        if evals[k].get("schedule") or evals[k].get("note")
    ]
    return lines + (["", *notes] if notes else [])


def purpose_lines(evals: dict[str, dict]) -> list[str]:  # type: ignore[type-arg]
    """What each bundled family is for (names.BUNDLED), for those released."""
    present = {key_name(k) for k in evals}
    lines = ["", "## Which model", ""]
    for b in BUNDLED:
        if b.name in present:
            lines.append(f"- **{b.name}** ({b.purpose}): {PURPOSE_DETAIL.get(b.name, '')}".rstrip())
    return lines


# The card's longer word on each family; names.BUNDLED holds the one-line purpose.
PURPOSE_DETAIL = {
    "T": "bicubic-downscaled, noise-free sources (renders, screenshots, clean scans).",
    "T-photo": "phone photos, web JPEGs and scans; it removes JPEG blocks, noise and "
    "mild blur while upscaling, and is a little softer than T on clean input.",
}


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
    clean = {k: e for k, e in evals.items() if key_name(k) == "T"}
    for key in sorted(clean):
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
        for k in sorted(clean)
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
    lines += photo_lines(evals)
    lines += purpose_lines(evals)
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
        "--name",
        default="T",
        help=f"the bundled name to release it as: {', '.join(BUNDLED_NAMES)} (default T)",
    )
    p.add_argument(
        "--degraded",
        type=Path,
        default=Path("runs/degraded"),
        help="degraded validation sets (NAME/HR, NAME/LR_bicubic/X{s}); skipped when absent",
    )
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
    info = bundled_info(args.name)
    if info is None:
        p.error(f"unknown name {args.name!r}: use one of {', '.join(BUNDLED_NAMES)}")
    name = info.name
    ck = read_checkpoint(args.run / "last.pth")
    model = model_from_state_dict(ck.state_dict, ck.config)
    raw = torch.load(args.run / "last.pth", map_location="cpu", weights_only=True)
    tc = json.loads(raw["train_config"])
    steps = int(raw["step"])
    seconds = args.train_seconds or float(raw.get("train_seconds", 0.0))
    s = ck.config.scale
    sets = measure(model, s, args.benchmark)
    routing = measure_routing(model, s, args.benchmark, name)
    degraded: dict[str, dict[str, float]] = {}
    if found := degraded_sets(args.degraded, s):
        clean_path = bundled_path("T", s)
        clean_t = None
        if name != "T" and clean_path.is_file():
            ct = read_checkpoint(clean_path)
            clean_t = model_from_state_dict(ct.state_dict, ct.config)
        degraded = measure_degraded(model, clean_t, s, found)
    meta = {
        "model_name": name,
        "purpose": info.purpose,
        "train_steps": str(steps),
        "train_seconds": f"{seconds:.0f}",
        "train_data": "T91 + BSD200 (291 photos)",
        "set5_psnr_y": f"{sets['Set5']['psnr']:.3f}",
        "set14_psnr_y": f"{sets['Set14']['psnr']:.3f}",
        **{f"degraded_{k.lower()}_psnr_y": f"{v['psnr']:.3f}" for k, v in degraded.items()},
    }
    out = save_safetensors(model, bundled_path(name, s), meta)
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
    if degraded:
        entry["degraded"] = degraded
    evals_path = weights_dir() / "eval.json"
    with _release_lock():
        evals = json.loads(evals_path.read_text()) if evals_path.is_file() else {}
        evals[f"{name}_x{s}"] = entry
        _write_atomic(evals_path, json.dumps(evals, indent=2) + "\n")
        write_card(evals)
    print(f"wrote {out}: Set5 {sets['Set5']['psnr']:.2f} dB, Set14 {sets['Set14']['psnr']:.2f} dB")
    for set_name, r in degraded.items():
        t = f", clean T {r['T_psnr']:.2f}" if "T_psnr" in r else ""
        print(f"degraded {set_name}: {r['psnr']:.2f} dB{t}, bicubic {r['bicubic_psnr']:.2f} dB")


def refresh_routing(bench: Path) -> None:
    evals_path = weights_dir() / "eval.json"
    routing = {}
    for key in json.loads(evals_path.read_text()):
        ck = read_checkpoint(weights_dir() / f"seemore_{key}.safetensors")
        model = model_from_state_dict(ck.state_dict, ck.config)
        routing[key] = measure_routing(model, ck.config.scale, bench, key_name(key))
        print(f"{key}: diverse blocks of 0-2: {routing[key]['diverse_blocks_of_first_3']}")
    with _release_lock():
        evals = json.loads(evals_path.read_text())
        for key, r in routing.items():
            evals[key]["routing"] = r
        _write_atomic(evals_path, json.dumps(evals, indent=2) + "\n")
        write_card(evals)


if __name__ == "__main__":
    main()
