"""Bundled models by name, and resolving a `--model` value to a network."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .arch import SeemoRe
from .names import MODEL_NAMES, SCALES, bundled_file_name


def weights_dir() -> Path:
    return Path(str(resources.files("seemore_core.resources"))) / "weights"


def bundled_path(name: str, scale: int) -> Path:
    """Where the bundled weights of a model name (any case) at a scale live."""
    return weights_dir() / bundled_file_name(name, scale)


def bundled_models() -> list[tuple[str, int, Path]]:
    """(name, scale, path) of every bundled weight file present, in names.MODEL_NAMES order.

    The name is canonical ("T", "T-photo"): the key of its eval.json record is
    `{name}_x{scale}`.
    """
    found = []
    for name in MODEL_NAMES:
        for s in SCALES:
            p = bundled_path(name, s)
            if p.is_file():
                found.append((name, s, p))
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
