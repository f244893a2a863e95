"""The training loop: Adam with step decay, EMA weights, validation, exact resumes.

A training checkpoint is a BasicSR-style dict (`params`, `params_ema`) plus the optimiser,
scheduler, step and random state, so `load_model` reads it as it is and a resumed run
continues exactly where the killed one would have gone. Several GPUs, or several CPU
cores: start with `torchrun --nproc_per_node N -m seemore_core.cli train ...` (DDP, one
process per GPU, or per core with `--set threads=1`); `batch_size` is split over the
processes, so the run follows the same recipe on any layout.
"""

from __future__ import annotations

import bisect
import copy
import io
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..arch import SeemoRe, build
from ..atomic import write_bytes_atomic
from ..checkpoint import read_checkpoint, save_safetensors
from ..engine import select_device
from ..errors import ConfigError, EngineError
from ..names import DEVICES
from .config import TrainConfig
from .data import PatchSampler, list_images, load_hr
from .degrade import DegradeConfig
from .loss import sr_loss
from .routing import RouterTap, balance_loss, router_parameter_names

LAST = "last.pth"


def pick_device(name: str) -> torch.device:
    """The training device: the engine's choice (`auto`: CUDA, MPS, CPU), except that
    `auto` on CUDA takes this DDP rank's GPU; a bad name is a usage error."""
    if name == "auto" and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if name.split(":")[0] not in DEVICES:
        raise ConfigError(f"device: {name!r} is not one of {', '.join(DEVICES)} (or cuda:N)")
    try:
        return select_device(name)
    except EngineError as e:
        raise ConfigError(f"device: {e}") from None
    except RuntimeError:  # torch's own parse, e.g. "cuda:x"
        raise ConfigError(f"device: {name!r} is not a device name") from None


@dataclass
class StepLog:
    step: int
    loss: float
    l1: float
    fft: float
    lr: float
    steps_per_s: float
    eta_s: float
    val_psnr: float | None
    balance: float | None = None


def _atomic_torch_save(obj: object, path: Path) -> None:
    # Serialised in memory (checkpoints are a few MB), then the shared fsynced writer.
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getbuffer(), overwrite=True)


def validate(model: nn.Module, val_dir: str | Path, scale: int, device: torch.device) -> float:
    """Mean Y-PSNR over a benchmark folder, whole images, clamped and rounded to 8 bits."""
    from ..evaluate import evaluate_dataset

    def upscale(lr: np.ndarray) -> np.ndarray:
        # A copy: the evaluation cache hands out read-only arrays, which torch warns about.
        x = torch.from_numpy(np.array(lr)).permute(2, 0, 1)[None]
        x = x.float().div(255).to(device)
        with torch.no_grad():
            y = model(x)
        return y[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    was_training = model.training
    model.eval()
    try:
        return evaluate_dataset(Path(val_dir), scale, upscale).psnr_y
    finally:
        model.train(was_training)


class _StopOnSignal:
    """Ctrl+C or SIGTERM during training: finish the step, save, stop (a second Ctrl+C
    interrupts at once). Only the main thread can install handlers; elsewhere a no-op."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


class Trainer:
    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        self.rank = torch.distributed.get_rank() if self.distributed else 0
        self.world = torch.distributed.get_world_size() if self.distributed else 1
        if self.rank != 0:
            self.log = lambda s: None  # one log per run, not one per rank
        # batch_size is the batch of one optimiser step whatever the hardware, so a
        # config means the same run on one CPU or split over N ranks (gradients average).
        if cfg.batch_size % self.world:
            raise ConfigError(
                f"batch_size {cfg.batch_size} does not split over {self.world} processes"
            )
        self.local_batch = cfg.batch_size // self.world
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        # Tiny gradients become denormal floats, which slow CPU kernels many times over.
        torch.set_flush_denormal(True)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)

        self.model: SeemoRe = build(cfg.variant, cfg.scale).to(self.device)
        self.init_meta: dict[str, str] = {}
        resuming = (self.out / LAST).exists()
        # A resumed run takes its weights and the record of where they began from its
        # checkpoint; the init file may have been retrained and replaced since.
        if cfg.init_from and not resuming:
            self._init_from(cfg.init_from)
        # channels_last halves the step time of these depthwise-heavy convs on CPU.
        self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.net: nn.Module = self.model
        if cfg.compile:
            # Fixed batch shapes: one compile (about 2 minutes on 2 CPU cores), then a
            # fused graph; checkpoints keep the plain module's keys.
            self.net = torch.compile(self.model)  # type: ignore[assignment]
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # The only buffer is the constant RGB mean: nothing to broadcast (and its
            # channels-last (1,3,1,1) strides trip DDP's coalesced broadcast).
            self.net = nn.parallel.DistributedDataParallel(
                self.net, device_ids=ids, broadcast_buffers=False
            )
        # The routing recipe hooks the routers of the trained model (not the EMA copy,
        # made above, which must stay the plain network).
        self.tap: RouterTap | None = None
        if cfg.router_noise > 0 or cfg.balance_weight > 0:
            self.tap = RouterTap(cfg.router_noise, keep=cfg.balance_weight > 0)
            self.tap.attach(self.model)
        self.opt = torch.optim.Adam(self._param_groups(), lr=cfg.lr, betas=cfg.betas)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, cfg.milestones, cfg.gamma)
        self.step = 0
        self.best_psnr: float | None = None
        self.train_seconds = 0.0  # wall time spent in run(), summed over resumed chunks
        self.history: list[dict[str, float]] = []

        images = load_hr(list_images(cfg.train_dirs), cfg.patch_size * cfg.scale)
        # Each DDP rank draws its own crops, local_batch of them per step.
        degradation = DegradeConfig.from_dict(cfg.degradation) if cfg.degradation else None
        self.sampler = PatchSampler(
            images, cfg.patch_size, cfg.scale, cfg.seed + self.rank, degradation
        )
        if resuming:
            self.resume(self.out / LAST)

    def _param_groups(self) -> list[dict[str, object]]:
        cfg = self.cfg
        if cfg.router_lr_mult == 1.0:
            return [{"params": list(self.model.parameters()), "lr_mult": 1.0}]
        routers = router_parameter_names(self.model)
        named = list(self.model.named_parameters())
        return [
            {"params": [p for n, p in named if n not in routers], "lr_mult": 1.0},
            {
                "params": [p for n, p in named if n in routers],
                "lr": cfg.lr * cfg.router_lr_mult,
                "lr_mult": cfg.router_lr_mult,
            },
        ]

    def _init_from(self, path: str) -> None:
        # Fine-tuning x3/x4 from x2: everything but the upsampler has the same shape.
        ck = read_checkpoint(path)
        src = ck.state_dict
        # What the run started from, for the model card (the file may be replaced later).
        self.init_meta = {
            "path": str(path),
            "scale": str(ck.config.scale),
            **{k: v for k, v in ck.metadata.items() if k.startswith("train_")},
        }
        own = self.model.state_dict()
        take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        own.update(take)
        self.model.load_state_dict(own)
        self.log(f"initialised {len(take)}/{len(own)} tensors from {path}")

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: a fixed 0.999 would keep most of the random initial weights for the
        # first thousands of steps; (1 + t) / (10 + t) lets the average follow early on.
        d = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
            e.lerp_(p, 1 - d)

    def state(self) -> dict[str, object]:
        return {
            "params": self.model.state_dict(),
            "params_ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            "sampler_rng_ranks": self._sampler_states(),
            "torch_rng": torch.get_rng_state(),
            "best_psnr": -1.0 if self.best_psnr is None else self.best_psnr,
            "train_seconds": self.train_seconds,
            "history": json.dumps(self.history),
            "train_config": json.dumps(self.cfg.to_dict()),
            "init_meta": json.dumps(self.init_meta),
        }

    def _sampler_states(self) -> torch.Tensor:
        """Every rank's crop generator state, one row each (a collective under DDP)."""
        own = self.sampler.state()
        if not self.distributed:
            return own[None]
        # NCCL moves only CUDA tensors; gloo takes them where they are.
        own = own.to(self.device)
        rows = [torch.empty_like(own) for _ in range(self.world)]
        torch.distributed.all_gather(rows, own)
        return torch.stack(rows).cpu()

    def save(self, path: Path | None = None) -> Path:
        path = path or self.out / LAST
        # Every rank builds the state: gathering the crop generators takes all of them.
        state = self.state()
        if self.rank == 0:
            _atomic_torch_save(state, path)
        return path

    def resume(self, path: Path) -> None:
        st = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(st["params"])
        self.ema.load_state_dict(st["params_ema"])
        saved_groups = len(st["optimizer"]["param_groups"])
        if saved_groups != len(self.opt.param_groups):
            raise ConfigError(
                f"{path} was trained with router_lr_mult "
                f"{'1' if saved_groups == 1 else 'other than 1'}; resume it with the same "
                "setting, or start a new out_dir with init_from pointing at it"
            )
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.step = int(st["step"])
        # Checkpoints from before per-rank states hold rank 0's alone.
        ranks = st["sampler_rng_ranks"] if "sampler_rng_ranks" in st else st["sampler_rng"][None]
        if self.rank < len(ranks):
            self.sampler.set_state(ranks[self.rank].clone())  # a row view segfaults set_state
        else:
            # Saved with fewer ranks: a fresh stream, as rank 0's state would make this
            # rank draw the very crops rank 0 draws.
            self.sampler.gen.manual_seed(self.cfg.seed + self.rank + 1_000_003 * self.step)
        torch.set_rng_state(st["torch_rng"])
        self.best_psnr = None if st["best_psnr"] < 0 else float(st["best_psnr"])
        self.history = json.loads(st["history"])
        self.train_seconds = float(st.get("train_seconds", 0.0))
        self.init_meta = json.loads(st.get("init_meta", "{}"))
        self.log(f"resumed {path} at step {self.step}")
        self._apply_schedule(json.loads(st["train_config"]))

    def _apply_schedule(self, saved: dict[str, object]) -> None:
        # The scheduler's saved state would silently keep the old plan; a run resumed
        # with a new lr, milestones or gamma in its config (say, to decay the rate over
        # the steps a session has left) follows the config from this step on.
        cfg = self.cfg
        plan = (cfg.lr, sorted(cfg.milestones), cfg.gamma)
        old = (saved.get("lr"), sorted(saved.get("milestones") or []), saved.get("gamma"))
        if plan == old:
            return
        passed = bisect.bisect_right(plan[1], self.step)
        lr = cfg.lr * cfg.gamma**passed
        self.sched.milestones = Counter(cfg.milestones)
        self.sched.gamma = cfg.gamma
        mults = [float(g.get("lr_mult", 1.0)) for g in self.opt.param_groups]
        self.sched.base_lrs = [cfg.lr * m for m in mults]
        for group, m in zip(self.opt.param_groups, mults, strict=True):
            group["lr"] = lr * m
            group["initial_lr"] = cfg.lr * m
        self.sched._last_lr = [lr * m for m in mults]  # type: ignore[attr-defined]
        self.history.append({"step": self.step, "lr": lr})
        self.log(
            f"schedule changed on resume: lr {old[0]} milestones {old[1]} gamma {old[2]}"
            f" -> lr {cfg.lr} milestones {plan[1]} gamma {cfg.gamma}; lr now {lr:.2e}"
        )

    def train_step(self) -> dict[str, float]:
        lr_img, hr = self.sampler.batch(self.local_batch)
        cl = torch.channels_last
        lr_img = lr_img.to(self.device).contiguous(memory_format=cl)
        hr = hr.to(self.device)
        use_bf16 = self.cfg.bf16 and self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            sr = self.net(lr_img)
        loss, parts = sr_loss(sr.float(), hr, self.cfg.fft_weight)
        if self.tap is not None and self.tap.keep:
            bal = balance_loss(
                *self.tap.take(), self.cfg.router_noise, self.cfg.balance_temperature
            )
            loss = loss + self.cfg.balance_weight * bal
            parts["balance"] = float(bal.detach())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        self._update_ema()
        self.step += 1
        return {"loss": float(loss.detach()), **parts}

    def run(self, max_steps: int | None = None, max_seconds: float | None = None) -> None:
        """Train until `iterations`, or for at most max_steps / max_seconds more (chunks)."""
        cfg = self.cfg
        stop_at = (
            cfg.iterations if max_steps is None else min(cfg.iterations, self.step + max_steps)
        )
        with _StopOnSignal() as stop:
            self._loop(stop_at, max_seconds, stop)

    def _loop(self, stop_at: int, max_seconds: float | None, stop: _StopOnSignal) -> None:
        cfg = self.cfg
        t0 = time.monotonic()
        t_last, s_last = t0, self.step
        seconds_before = self.train_seconds
        acc: dict[str, float] = {}
        n_acc = 0
        while self.step < stop_at:
            parts = self.train_step()
            for k, v in parts.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            val = None
            if cfg.val_dir and cfg.val_every and self.step % cfg.val_every == 0 and self.rank == 0:
                val = validate(self.ema, cfg.val_dir, cfg.scale, self.device)
                self.best_psnr = val if self.best_psnr is None else max(self.best_psnr, val)
            lr = self.opt.param_groups[0]["lr"]
            # The first step and each change of rate are logged at their step, so the log
            # holds the exact schedule (model cards read it from there).
            lr_changed = not self.history or self.history[-1]["lr"] != lr
            if (
                self.step % cfg.log_every == 0
                or val is not None
                or self.step == stop_at
                or lr_changed
            ):
                now = time.monotonic()
                sps = (self.step - s_last) / max(now - t_last, 1e-9)
                t_last, s_last = now, self.step
                mean = {k: v / n_acc for k, v in acc.items()}
                acc, n_acc = {}, 0
                entry = StepLog(
                    step=self.step,
                    loss=mean.get("loss", math.nan),
                    l1=mean.get("l1", math.nan),
                    fft=mean.get("fft", 0.0),
                    lr=lr,
                    steps_per_s=sps,
                    eta_s=(cfg.iterations - self.step) / sps if sps > 0 else math.inf,
                    val_psnr=val,
                    balance=mean.get("balance"),
                )
                self.history.append({k: v for k, v in entry.__dict__.items() if v is not None})
                self.log(format_log(entry))
            self.train_seconds = seconds_before + time.monotonic() - t0
            if self.step % cfg.ckpt_every == 0 or self.step == stop_at:
                self.save()
            timed_out = max_seconds is not None and time.monotonic() - t0 >= max_seconds
            signalled = stop.requested is not None
            if self.distributed:
                # Ranks must leave at the same step, or the one that stays waits forever
                # in its next gradient all-reduce.
                flags = torch.tensor([int(timed_out), int(signalled)], device=self.device)
                torch.distributed.all_reduce(flags, torch.distributed.ReduceOp.MAX)
                timed_out, signalled = bool(flags[0]), bool(flags[1])
            if timed_out or signalled:
                path = self.save()
                if signalled:
                    why = stop.requested or "a signal to another rank"
                    self.log(f"stopped at step {self.step} on {why}; saved {path}")
                break

    def export(self, path: str | Path, extra: dict[str, str] | None = None) -> Path:
        """The EMA weights as .safetensors with the hyperparameters in metadata."""
        meta = {
            "train_steps": str(self.step),
            "train_seconds": f"{self.train_seconds:.0f}",
            "train_config": json.dumps(self.cfg.to_dict()),
        }
        meta.update(extra or {})
        ema = copy.deepcopy(self.ema).cpu()
        return save_safetensors(ema, path, meta)


def format_log(e: StepLog) -> str:
    if math.isfinite(e.eta_s):
        m, sec = divmod(int(e.eta_s), 60)
        eta = f"{m // 60}:{m % 60:02d}:{sec:02d}"
    else:
        eta = "?"
    val = f" | Set5 PSNR {e.val_psnr:.3f} dB" if e.val_psnr is not None else ""
    bal = f" bal {e.balance:.3f}" if e.balance is not None else ""
    return (
        f"step {e.step:>7} | loss {e.loss:.4f} (l1 {e.l1:.4f} fft {e.fft:.3f}{bal}) | "
        f"lr {e.lr:.2e} | {e.steps_per_s:.2f} it/s | ETA {eta}{val}"
    )
