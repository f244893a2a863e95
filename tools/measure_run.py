"""One row of the routing ablation table: PSNR and routing of a run's EMA weights.

    python tools/measure_run.py runs/T_x4_route/last.pth --scale 4 [--label NAME] [--json]

Set5 and Set14 PSNR/SSIM (Y, whole images, the benchmark protocol of `seemore eval`) and
routing statistics over the 19 Set5+Set14 LR images routed whole (`seemore
routing-stats`). Validation only: nothing here feeds back into training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seemore_core.checkpoint import load_model  # noqa: E402
from seemore_core.engine import Engine  # noqa: E402
from seemore_core.evaluate import engine_upscaler, evaluate_dataset  # noqa: E402
from seemore_core.routing_stats import gather_inputs, measure  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "data" / "benchmark"))
    ap.add_argument("--label", default="")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    assert model.scale == args.scale, (model.scale, args.scale)
    engine = Engine(model, device="cpu")
    bench = Path(args.bench)
    psnr = {}
    for name in ("Set5", "Set14"):
        r = evaluate_dataset(bench / name, args.scale, engine_upscaler(engine))
        psnr[name] = (round(r.psnr_y, 3), round(r.ssim_y, 4))
    stats = measure(engine, gather_inputs([bench / "Set5", bench / "Set14"], args.scale))
    step = ""
    try:
        st = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        step = str(int(st["step"])) if isinstance(st, dict) and "step" in st else ""
    except Exception:  # a .safetensors file: no step record here
        pass
    row = {
        "label": args.label or args.checkpoint,
        "step": step,
        "set5": psnr["Set5"],
        "set14": psnr["Set14"],
        "shares": [b.share for b in stats.blocks],
        "entropy": [b.entropy for b in stats.blocks],
        "diverse_blocks_of_first_3": stats.diverse_blocks(),
    }
    if args.json:
        print(json.dumps(row))
        return 0
    shares = " / ".join("-".join(f"{round(s * 100)}" for s in b.share) for b in stats.blocks[:3])
    ent = " ".join(f"{b.entropy:.2f}" for b in stats.blocks)
    print(
        f"| {row['label']} | {step} | {psnr['Set5'][0]:.3f} | {psnr['Set14'][0]:.3f} | "
        f"{shares} | {ent} | {row['diverse_blocks_of_first_3']} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
