"""Bundled models by name, and resolving a `--model` value to a network."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .arch import VARIANTS, SeemoRe
from .errors import ModelNotFound


def weights_dir() -> Path:
    return Path(str(resources.files("seemore_core.resources"))) / "weights"


def bundled_path(name: str, scale: int) -> Path:
    return weights_dir() / f"seemore_{name.upper()}_x{scale}.safetensors"


def bundled_models() -> list[tuple[str, int, Path]]:
    """(variant, scale, path) of every bundled weight file present."""
    found = []
    for v in VARIANTS:
        for s in (2, 3, 4):
            p = bundled_path(v, s)
            if p.is_file():
                found.append((v, s, p))
    return found


def model_card() -> str:
    p = weights_dir() / "MODEL_CARD.md"
    return p.read_text(encoding="utf-8") if p.is_file() else "No bundled weights yet."


def resolve_model_path(value: str | None, scale: int) -> Path:
    """A `--model` value: an existing file is a checkpoint; else a bundled variant name."""
    name = "T" if value is None else value
    if value is not None and Path(value).exists():
        return Path(value)
    if name.upper() not in VARIANTS:
        raise ModelNotFound(f"model {value!r}: no such file, and not a bundled model name")
    p = bundled_path(name, scale)
    if not p.is_file():
        have = ", ".join(f"{v} x{s}" for v, s, _ in bundled_models()) or "none"
        raise ModelNotFound(
            f"no bundled SeemoRe-{name.upper()} x{scale} weights (bundled: {have}); "
            "pass a checkpoint file with --model"
        )
    return p


def load(value: str | None, scale: int) -> SeemoRe:
    from .checkpoint import load_model

    return load_model(resolve_model_path(value, scale))
