"""Training throughput on the CPU: one process using every core, against N processes of
one thread each (DDP over gloo), same model, patch and batch per optimiser step.

    python benchmarks/bench_train.py [--procs 2] [--steps 12] [--warmup 3] [--scale 2]
    python benchmarks/bench_train.py --before REF [--rounds 3] [--busy 1] [--scale 4]

Each layout runs in fresh processes started by torchrun; rank 0 times `--steps` optimiser
steps after `--warmup` untimed ones and reports steps/s. Prints both figures and the
ratio of the DDP layout to the single process (the reference, measured in the same run).
Ranks draw crops from a few training photos; the step time does not depend on how many.

--before REF: the code as of git REF (checked out in a temporary worktree) against the
working tree, one process of `--threads` threads each, alternated `--rounds` times in
the same run, with `--busy N` spinning processes of ours for the whole measurement (a
desktop is never idle); prints the median steps/s of each and the ratio after/before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    import torch

    from seemore_core.train.config import TrainConfig
    from seemore_core.train.loop import Trainer

    photos = sorted((ROOT.parent / "shared" / "data" / "train").rglob("*.png"))[:12]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "photos"
        data.mkdir()
        for p in photos:
            (data / p.name).symlink_to(p)
        cfg = TrainConfig(
            variant="T",
            scale=args.scale,
            train_dirs=[str(data)],
            val_dir=None,
            out_dir=str(Path(tmp) / "run"),
            patch_size=args.patch,
            batch_size=args.batch,
            threads=args.threads,
            init_from=args.init or None,
        )
        trainer = Trainer(cfg, log=lambda s: None)
        for _ in range(args.warmup):
            trainer.train_step()
        if trainer.distributed:
            torch.distributed.barrier()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        dt = time.perf_counter() - t0
        if trainer.rank == 0:
            print(json.dumps({"steps_per_s": args.steps / dt, "world": trainer.world}))
        if trainer.distributed:
            torch.distributed.destroy_process_group()


def _timed_worker(
    launcher: list[str], threads: int, args: argparse.Namespace, tree: Path, env: dict[str, str]
) -> float:
    """Run the worker under `launcher` in `tree`; rank 0's steps/s."""
    cmd = [*launcher, __file__, "--worker", "--threads", str(threads)]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--scale", str(args.scale)]
    cmd += ["--patch", str(args.patch), "--batch", str(args.batch), "--init", args.init]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **env}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    line = [x for x in r.stdout.splitlines() if x.startswith("{")][-1]
    return float(json.loads(line)["steps_per_s"])


def run_layout(procs: int, threads: int, args: argparse.Namespace) -> float:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs)]
    return _timed_worker(launcher, threads, args, ROOT, {})


def run_single(tree: Path, args: argparse.Namespace) -> float:
    """One process training with the seemore_core found in `tree` (PYTHONPATH first)."""
    return _timed_worker([sys.executable], args.threads, args, tree, {"PYTHONPATH": str(tree)})


def before_after(args: argparse.Namespace) -> None:
    from bench_engine import BusyLoad

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(old), args.before], check=True)
        try:
            (old / "seemore_core" / "__init__.py").stat()  # the REF has the package
            before: list[float] = []
            after: list[float] = []
            with BusyLoad(args.busy):
                for _ in range(args.rounds):
                    before.append(run_single(old, args))
                    after.append(run_single(ROOT, args))
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(old)], check=False)
    b, a = statistics.median(before), statistics.median(after)
    print(
        f"SeemoRe-T x{args.scale}, batch {args.batch}, LR patch {args.patch}, "
        f"{args.threads} thread(s), {args.busy} busy processes of ours, "
        f"median of {args.rounds} alternated runs"
    )
    print(f"  before ({args.before}): {b:.3f} steps/s (reference)  runs {_fmt(before)}")
    print(f"  after (working tree): {a:.3f} steps/s  ratio {a / b:.2f}x  runs {_fmt(after)}")


def _fmt(xs: list[float]) -> str:
    return " ".join(f"{x:.3f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--init",
        default=str(ROOT / "resources" / "weights" / "seemore_T_x2.safetensors"),
        help="weights to start from ('' for random): trained weights step at another speed",
    )
    ap.add_argument("--before", help="git ref to compare the working tree against")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--busy", type=int, default=0, help="spinning processes during --before")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.before:
        before_after(args)
        return
    n = args.procs
    one = run_layout(1, n, args)
    ddp = run_layout(n, 1, args)
    print(f"SeemoRe-T x{args.scale}, batch {args.batch}, LR patch {args.patch}, {n} cores")
    print(f"  1 process x {n} threads : {one:.3f} steps/s (reference)")
    print(f"  {n} processes x 1 thread: {ddp:.3f} steps/s  ratio {ddp / one:.2f}x")


if __name__ == "__main__":
    main()
