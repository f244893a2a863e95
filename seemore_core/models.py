"""Bundled models by name, and resolving a `--model` value to a network."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .arch import VARIANTS, SeemoRe


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
    """A model name or file to its weights file (`jobs.resolve`, the one resolver)."""
    from .jobs import ModelRef, resolve

    return resolve(ModelRef("T" if value is None else value, scale))


def load(value: str | None, scale: int) -> SeemoRe:
    from .checkpoint import load_model

    return load_model(resolve_model_path(value, scale))
