"""seemore_core: the SeemoRe network, its checkpoints, inference, training and evaluation.

No Qt here: the same code runs in the app, the CLI and on headless GPU machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Importing torch takes seconds; names are resolved on first use so that
# `import seemore_core` stays cheap (the app shows its window before torch loads).
_LAZY = {
    "build": "seemore_core.arch",
    "SeemoRe": "seemore_core.arch",
    "SeemoreConfig": "seemore_core.arch",
    "VARIANTS": "seemore_core.arch",
    "count_macs": "seemore_core.arch",
    "count_params": "seemore_core.arch",
    "load_model": "seemore_core.checkpoint",
    "read_checkpoint": "seemore_core.checkpoint",
    "save_safetensors": "seemore_core.checkpoint",
    "SeemoreError": "seemore_core.errors",
    "CheckpointError": "seemore_core.errors",
}

if TYPE_CHECKING:
    from .arch import VARIANTS, SeemoRe, SeemoreConfig, build, count_macs, count_params
    from .checkpoint import load_model, read_checkpoint, save_safetensors
    from .errors import CheckpointError, SeemoreError


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seemore_core' has no attribute {name!r}")


__all__ = [
    "VARIANTS",
    "CheckpointError",
    "SeemoRe",
    "SeemoreConfig",
    "SeemoreError",
    "__version__",
    "build",
    "count_macs",
    "count_params",
    "load_model",
    "read_checkpoint",
    "save_safetensors",
]
