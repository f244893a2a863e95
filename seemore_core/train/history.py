"""What a run's log says about how it was trained, for model cards.

The learning-rate plan in a checkpoint's config is only the latest one; runs resumed
across sessions change it, so the schedule actually followed is read from the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class LrPhase:
    start: int  # the step the phase follows (0 for the first)
    end: int  # the step after which the next phase's rate was logged, or the last step
    lr: float


def lr_phases(history: Sequence[dict[str, float]]) -> list[LrPhase]:
    """Runs of equal learning rate in a training log, in step order.

    An entry logs the rate for the steps after it, so a phase ends where the next
    rate first shows (exact when milestones fall on logged steps).
    """
    phases: list[LrPhase] = []
    for entry in sorted(history, key=lambda e: e["step"]):
        step, lr = int(entry["step"]), float(entry["lr"])
        if phases:
            phases[-1] = replace(phases[-1], end=step)
        if not phases or phases[-1].lr != lr:
            phases.append(LrPhase(step if phases else 0, step, lr))
    return phases


def format_lr(lr: float) -> str:
    mantissa, _, exponent = f"{lr:.3g}".partition("e")
    if not exponent:
        mantissa, _, exponent = f"{lr:.2e}".partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def describe_schedule(history: Sequence[dict[str, float]]) -> str:
    """'lr 1e-3 (steps 0-1400), 5e-4 (1400-1560), ...' as the log recorded it."""
    parts = [
        f"{format_lr(p.lr)} ({'steps ' if i == 0 else ''}{p.start}-{p.end})"
        for i, p in enumerate(lr_phases(history))
    ]
    return "lr " + ", ".join(parts) if parts else ""
