"""Training: real steps on real training photos lower the loss; resumes are exact."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from trainkit import small_cfg as _cfg

from seemore_core.checkpoint import load_model, read_checkpoint
from seemore_core.resize import imresize
from seemore_core.train.config import TrainConfig
from seemore_core.train.data import PatchSampler, degrade, load_hr
from seemore_core.train.history import describe_schedule, format_lr, lr_phases
from seemore_core.train.loop import Trainer


def test_degradation_is_the_benchmark_one() -> None:
    hr = torch.rand(2, 3, 24, 36)
    lr = degrade(hr, 3)
    # MATLAB-style: each pass rounded to 8 bits, so values sit on the 1/255 grid.
    assert lr.shape == (2, 3, 8, 12)
    assert torch.allclose(lr * 255, (lr * 255).round(), atol=1e-4)
    assert float((lr - imresize(hr, 1 / 3)).abs().max()) < 2 / 255


def test_sampler_is_reproducible_and_augments(photos: Path) -> None:
    images = load_hr(sorted(photos.glob("*.png")), 32)
    a = PatchSampler(images, 16, 2, seed=7)
    b = PatchSampler(images, 16, 2, seed=7)
    la, ha = a.batch(8)
    lb, hb = b.batch(8)
    assert torch.equal(ha, hb) and torch.equal(la, lb)
    assert ha.shape == (8, 3, 32, 32) and la.shape == (8, 3, 16, 16)
    state = a.state()
    next1 = a.batch(2)[1]
    a.set_state(state)
    assert torch.equal(a.batch(2)[1], next1)


def test_steps_lower_the_loss(photos: Path, tmp_path: Path) -> None:
    t = Trainer(_cfg(photos, tmp_path / "run", fft_weight=0.0))
    losses = [t.train_step()["l1"] for _ in range(40)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_resume_continues_exactly(photos: Path, tmp_path: Path) -> None:
    straight = Trainer(_cfg(photos, tmp_path / "a"))
    straight.run(max_steps=6)
    first = Trainer(_cfg(photos, tmp_path / "b"))
    first.run(max_steps=3)  # saves last.pth at the end of the chunk
    del first
    resumed = Trainer(_cfg(photos, tmp_path / "b"))  # picks up b/last.pth
    assert resumed.step == 3
    resumed.run(max_steps=3)
    for (k, p), q in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), k
    for p, q in zip(straight.ema.parameters(), resumed.ema.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_follows_a_changed_schedule(photos: Path, tmp_path: Path) -> None:
    first = Trainer(_cfg(photos, tmp_path / "run"))
    first.run(max_steps=4)
    assert first.opt.param_groups[0]["lr"] == pytest.approx(2e-3)
    del first
    # A milestone already passed applies at once; a later one fires when reached.
    t = Trainer(_cfg(photos, tmp_path / "run", milestones=[2, 6], gamma=0.25))
    assert t.step == 4
    assert t.opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.25)
    t.run(max_steps=1)
    assert t.opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.25)
    t.run(max_steps=1)
    assert t.step == 6
    assert t.opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.25**2)
    del t
    # The new plan is what the checkpoint now records: resuming again changes nothing.
    again = Trainer(_cfg(photos, tmp_path / "run", milestones=[2, 6], gamma=0.25))
    assert again.opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.25**2)
    again.run(max_steps=1)
    assert again.opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.25**2)


def test_log_records_the_schedule_followed_across_resumes(photos: Path, tmp_path: Path) -> None:
    t = Trainer(_cfg(photos, tmp_path / "run", milestones=[3, 5]))
    t.run(max_steps=6)
    del t
    # Resumed with a higher rate from step 6, as a new session might.
    t = Trainer(_cfg(photos, tmp_path / "run", lr=4e-3, milestones=[8]))
    t.run(max_steps=3)
    assert [(p.start, p.end, p.lr) for p in lr_phases(t.history)] == [
        (0, 3, pytest.approx(2e-3)),
        (3, 5, pytest.approx(1e-3)),
        (5, 6, pytest.approx(5e-4)),
        (6, 8, pytest.approx(4e-3)),
        (8, 9, pytest.approx(2e-3)),
    ]
    assert describe_schedule(t.history) == (
        "lr 2e-3 (steps 0-3), 1e-3 (3-5), 5e-4 (5-6), 4e-3 (6-8), 2e-3 (8-9)"
    )


def test_format_lr_is_short_and_exact() -> None:
    assert [format_lr(x) for x in (1e-3, 5e-4, 2.5e-4, 6.25e-5, 0.1, 3e-2)] == [
        "1e-3",
        "5e-4",
        "2.5e-4",
        "6.25e-5",
        "1e-1",
        "3e-2",
    ]
    assert describe_schedule([]) == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_finishes_the_step_saves_and_stops(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    t = Trainer(_cfg(photos, tmp_path / "run", ckpt_every=100))
    real = t.train_step

    def step_then_signal() -> dict[str, float]:
        parts = real()
        if t.step == 2:
            os.kill(os.getpid(), sig)  # as Ctrl+C or `kill` would, mid-run
        return parts

    monkeypatch.setattr(t, "train_step", step_then_signal)
    before = signal.getsignal(signal.SIGINT)
    t.run(max_steps=10)
    assert t.step == 2
    saved = torch.load(tmp_path / "run" / "last.pth", map_location="cpu", weights_only=True)
    assert saved["step"] == 2
    # The handlers are put back afterwards.
    assert signal.getsignal(signal.SIGINT) is before


def test_checkpoint_is_loadable_and_export_carries_metadata(photos: Path, tmp_path: Path) -> None:
    t = Trainer(_cfg(photos, tmp_path / "run"))
    t.run(max_steps=2)
    # The training checkpoint is BasicSR-shaped: load_model takes its EMA weights.
    ck = read_checkpoint(tmp_path / "run" / "last.pth")
    assert ck.source == "params_ema" and ck.config.scale == 2
    out = t.export(tmp_path / "T_x2.safetensors", {"note": "test"})
    m = load_model(out)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), t.ema.parameters(), strict=True))
    meta = read_checkpoint(out).metadata
    assert meta["train_steps"] == "2" and meta["note"] == "test"


def test_fine_tune_x3_from_x2(photos: Path, tmp_path: Path) -> None:
    t2 = Trainer(_cfg(photos, tmp_path / "x2"))
    t2.run(max_steps=1)
    src = t2.export(tmp_path / "x2.safetensors")
    t3 = Trainer(_cfg(photos, tmp_path / "x3", scale=3, init_from=str(src)))
    a, b = t2.ema.state_dict(), t3.model.state_dict()
    assert torch.equal(
        a["body.0.local_block.block.conv_1.0.weight"], b["body.0.local_block.block.conv_1.0.weight"]
    )
    assert b["upsampler.0.weight"].shape[0] == 27
    # The checkpoint remembers what it started from (for the model card).
    t3.run(max_steps=1)
    saved = torch.load(t3.save(), map_location="cpu", weights_only=True)
    init = json.loads(saved["init_meta"])
    assert init["scale"] == "2" and init["train_steps"] == "1" and init["path"] == str(src)
    # The x2 file trains on and is replaced; a resumed x3 run still names the one it began from.
    t2.run(max_steps=2)
    t2.export(src)
    del t3
    resumed = Trainer(_cfg(photos, tmp_path / "x3", scale=3, init_from=str(src)))
    assert resumed.step == 1
    assert resumed.init_meta["train_steps"] == "1"


def test_config_from_toml_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('variant = "B"\nscale = 4\nmilestones = [10, 20]\n')
    cfg = TrainConfig.from_toml(f)
    cfg.override(["lr=5e-4", "out_dir=runs/x", "betas=[0.8, 0.9]"])
    assert (cfg.variant, cfg.scale, cfg.milestones, cfg.lr) == ("B", 4, [10, 20], 5e-4)
    assert cfg.out_dir == "runs/x" and cfg.betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="unknown"):
        cfg.override(["nonsense=1"])


def _torchrun(photos: Path, out: Path, steps: int, batch: int = 4) -> str:
    """`seemore train` under torchrun: two processes, gloo on the CPU."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # The very config the in-process tests use, as TOML values (JSON's are TOML's here).
    cfg = _cfg(photos, out, batch_size=batch).to_dict()
    sets = {k: "false" if v is None else json.dumps(v) for k, v in cfg.items()}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["-m", "seemore_core.cli", "train", "--steps", str(steps)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def test_two_process_ddp_run_resumes_exactly(photos: Path, tmp_path: Path) -> None:
    """The torchrun path: ranks split the batch, draw different crops, and a resumed
    run continues exactly as an uninterrupted one."""
    _torchrun(photos, tmp_path / "straight", 4)
    _torchrun(photos, tmp_path / "chunks", 2)
    _torchrun(photos, tmp_path / "chunks", 2)
    a = torch.load(tmp_path / "straight" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "chunks" / "last.pth", weights_only=True)
    assert a["step"] == b["step"] == 4
    ranks = a["sampler_rng_ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0], ranks[1])
    assert torch.equal(a["sampler_rng_ranks"], b["sampler_rng_ranks"])
    for k, p in a["params"].items():
        assert torch.equal(p, b["params"][k]), k
    for k, p in a["params_ema"].items():
        assert torch.equal(p, b["params_ema"][k]), k


def test_single_process_checkpoint_resumes_under_ddp(photos: Path, tmp_path: Path) -> None:
    """A run moved from one process to two: rank 1 must not replay rank 0's crops."""
    Trainer(_cfg(photos, tmp_path / "run")).run(max_steps=2)
    log = _torchrun(photos, tmp_path / "run", 1)
    assert log.count("resumed ") == 1, "one log line per run, not one per rank"
    st = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    assert st["step"] == 3
    ranks = st["sampler_rng_ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0], ranks[1])
