"""Router-only ablation: train only the routers' weights on the balance loss, cheaply.

    python tools/router_ablation.py WEIGHTS --scale 4 --steps 200 --out runs/abl/x.safetensors
        [--temperature 0.1] [--noise 0.0] [--lr 0.01] [--batch 16] [--patch 48]

Why: a full training step costs ~5 s of both cores here; the balance loss sees detached
features, so training the routers alone needs only the network's forward pass (no
backward through it), several times cheaper. It answers whether a balance objective
learned on training crops spreads the choice of whole images, and what the experts lose
when routed differently before any fine-tuning adapts them. Training photos only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seemore_core.checkpoint import load_model, save_safetensors  # noqa: E402
from seemore_core.train.data import PatchSampler, list_images, load_hr  # noqa: E402
from seemore_core.train.expert_init import warm_start_experts  # noqa: E402
from seemore_core.train.routing import RouterTap, balance_loss, router_linears  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", required=True)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy machine")
    ap.add_argument(
        "--warm-start",
        action="store_true",
        help="first copy each block's trained expert into its unused ones (expert_init.py)",
    )
    ap.add_argument("--train-dir", default=str(ROOT.parent / "shared" / "data" / "train"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    # channels_last: the depthwise and striped convs run several times faster on CPU.
    model = load_model(args.weights).to(memory_format=torch.channels_last)
    assert model.scale == args.scale
    for p in model.parameters():
        p.requires_grad_(False)
    routers = router_linears(model)
    for lin in routers:
        lin.weight.requires_grad_(True)
    tap = RouterTap(args.noise, keep=True).attach(model)
    opt = torch.optim.Adam([lin.weight for lin in routers], lr=args.lr)
    images = load_hr(list_images([args.train_dir]), args.patch * args.scale)
    sampler = PatchSampler(images, args.patch, args.scale, args.seed)
    if args.warm_start:
        # Crops from a generator of their own, so the router steps below see the same
        # batches with and without --warm-start.
        probe = PatchSampler(images, args.patch, args.scale, args.seed + 1)
        cl = torch.channels_last
        crops = [probe.batch(args.batch)[0].contiguous(memory_format=cl) for _ in range(2)]
        for w in warm_start_experts(model, crops):
            print(f"block {w.block}: expert {w.source} copied to {w.copied_to}", flush=True)
    model.train()
    t0 = time.monotonic()
    for step in range(1, args.steps + 1):
        lr_img, _ = sampler.batch(args.batch)
        with torch.no_grad():
            model(lr_img.contiguous(memory_format=torch.channels_last))
        loss = balance_loss(*tap.take(), args.noise, args.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0 or step == args.steps:
            print(f"step {step} balance {float(loss):.4f} {time.monotonic() - t0:.0f}s", flush=True)
    tap.detach()
    model.eval().to(memory_format=torch.contiguous_format)
    for lin in routers:
        lin.weight.requires_grad_(False)
    save_safetensors(
        model,
        args.out,
        {"router_ablation": " ".join(sys.argv[1:]), "train_steps": str(args.steps)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
