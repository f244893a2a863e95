"""What the model picker says about each model, and what a run will cost before it starts.

The facts come from the bundled weights' own records (`eval.json`, written by the
release script next to the model card): scale, Set5 PSNR against bicubic, training
steps. The cost of a run comes from `seemore_core.budget.estimate_work` (a formula over
the network's multiply-accumulates and the image's size), corrected by how fast the
last run on this machine actually went: a machine busy with other work is slower than
the formula's nominal speed, and a promise of 2 minutes that takes 10 is worse than none.

Everything here imports the core's network description, which imports torch: call it
only after the worker has loaded the engine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from seemore_core.names import BUNDLED, model_name, model_variant

# What each bundled family is for, from its training data (model card): names.BUNDLED's
# one-line purpose, then why. T saw photos downscaled with bicubic: it sharpens, and
# does not remove noise or JPEG blocks; T-photo saw them blurred, noisy and JPEG'd.
_DETAIL = {
    "T": "Clean photos and renders. Trained on bicubic-downscaled photos (291 set): it "
    "sharpens, but does not remove noise or JPEG artefacts.",
    "T-photo": "Phone photos, web JPEGs, scans. Fine-tuned from T on the same photos "
    "blurred, noised and JPEG-compressed: it removes those while upscaling, and is a "
    "little softer than T on clean input.",
}
PURPOSES: dict[str, str] = {b.name: f"{b.purpose}. {_DETAIL.get(b.name, '')}" for b in BUNDLED}
BUNDLED_PURPOSE = PURPOSES["T"]


@dataclass(frozen=True)
class ModelFacts:
    variant: str
    scale: int
    set5_psnr: float | None
    bicubic_psnr: float | None
    steps: int | None
    purpose: str

    def summary(self) -> str:
        """One line: scale, quality against bicubic, what it is for."""
        parts = [f"SeemoRe-{self.variant} x{self.scale}"]
        if self.set5_psnr is not None:
            gain = (
                f" (+{self.set5_psnr - self.bicubic_psnr:.2f} dB over bicubic)"
                if self.bicubic_psnr is not None
                else ""
            )
            parts.append(f"Set5 {self.set5_psnr:.2f} dB{gain}")
        if self.steps is not None:
            parts.append(f"{self.steps} training steps")
        return " · ".join(parts)


def read_facts(weights_dir: Path) -> dict[tuple[str, int], ModelFacts]:
    """Facts of each bundled model from `eval.json`; {} when it is missing or damaged."""
    try:
        raw = json.loads((weights_dir / "eval.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    facts: dict[tuple[str, int], ModelFacts] = {}
    if not isinstance(raw, dict):
        return facts
    for key, rec in raw.items():
        if not isinstance(rec, dict) or "_x" not in str(key):
            continue
        name, _, s = str(key).rpartition("_x")
        variant = model_name(name) or name.upper()
        try:
            scale = int(rec.get("scale", s))
        except (TypeError, ValueError):
            continue
        set5 = rec.get("sets", {}).get("Set5", {}) if isinstance(rec.get("sets"), dict) else {}
        facts[(variant, scale)] = ModelFacts(
            variant,
            scale,
            _num(set5.get("psnr")),
            _num(set5.get("bicubic_psnr")),
            int(rec["steps"]) if isinstance(rec.get("steps"), int) else None,
            PURPOSES.get(variant, ""),
        )
    return facts


def bundled_facts() -> dict[tuple[str, int], ModelFacts]:
    from seemore_core.models import weights_dir

    return read_facts(weights_dir())


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(float(v)) else None


@dataclass(frozen=True)
class RunEstimate:
    seconds: float  # on the CPU, corrected by the last measured run
    ram_bytes: int
    maps_bytes: int  # feature maps, only when the Features tab records them
    calibrated: bool  # whether a measured run corrected the formula

    def short(self) -> str:
        # Until a run on this machine calibrates it, the time is the formula's nominal
        # speed, which a busy machine can miss by several times: say so.
        rough = "" if self.calibrated else " (rough)"
        return f"≈ {fmt_duration(self.seconds)}{rough} · {fmt_bytes(self.ram_bytes)}"

    def details(self, width: int, height: int, scale: int) -> str:
        basis = (
            "scaled by how fast the last run went on this machine"
            if self.calibrated
            else "from the network's size at a nominal CPU speed; the first run calibrates it"
        )
        return (
            f"{width}x{height} -> {width * scale}x{height * scale}: about "
            f"{fmt_duration(self.seconds)} on the CPU and {fmt_bytes(self.ram_bytes)} of "
            f"memory ({basis}). Feature maps, if recorded: {fmt_bytes(self.maps_bytes)} more."
        )


class Estimator:
    """Pre-run estimates, corrected by measured runs (seconds measured / predicted)."""

    def __init__(self) -> None:
        self.ratio: float | None = None

    def estimate(self, width: int, height: int, variant: str, scale: int) -> RunEstimate:
        from seemore_core.arch.config import variant_config
        from seemore_core.budget import estimate_work

        # A bundled name ("T-photo") costs what its network (SeemoRe-T) costs.
        w = estimate_work(width, height, variant_config(model_variant(variant), scale))
        seconds = w.seconds * (self.ratio if self.ratio is not None else 1.0)
        return RunEstimate(seconds, w.ram_bytes, w.maps_bytes, self.ratio is not None)

    def learn(self, predicted_nominal_s: float, measured_s: float) -> None:
        """A run took `measured_s` where the formula said `predicted_nominal_s`."""
        if predicted_nominal_s > 0 and measured_s > 0:
            r = measured_s / predicted_nominal_s
            # Smoothed: one run on a briefly busy machine should not swing it wildly.
            self.ratio = r if self.ratio is None else math.sqrt(self.ratio * r)


def fmt_duration(s: float) -> str:
    if s < 1:
        return "under 1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


__all__ = [
    "BUNDLED_PURPOSE",
    "Estimator",
    "ModelFacts",
    "PURPOSES",
    "RunEstimate",
    "bundled_facts",
    "fmt_bytes",
    "fmt_duration",
    "read_facts",
]
