"""The app's settings: one small typed object saved as JSON in the user's config folder.

The folder is `platformdirs.user_config_dir("seemore")` unless `SEEMORE_CONFIG_DIR` says
otherwise (tests point it at a temporary folder so they never touch the real one).
A missing, unreadable or hand-mangled file never stops the app: fields that cannot be
used fall back to their defaults, one by one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from seemore_core.atomic import write_bytes_atomic
from seemore_core.errors import FileError
from seemore_core.names import (
    DEFAULT_PNG_LEVEL,
    DEFAULT_QUALITY,
    DEVICES,
    EXPORT_FORMATS,
    PNG_LEVELS,
    QUALITY_RANGE,
    SCALES,
)

CONFIG_ENV = "SEEMORE_CONFIG_DIR"
FILE_NAME = "settings.json"
MAX_RECENT = 10

BEFORE_MODES = ("bicubic", "nearest")
COMPARE_MODES = ("slider", "side")


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("seemore", appauthor=False))


@dataclass
class Settings:
    device: str = "auto"
    # "T" (a bundled variant) or the path of a checkpoint file.
    model: str = "T"
    scale: int = 4
    tile: int | None = None  # input pixels per tile side; None auto, 0 whole image
    per_tile_routing: bool = False
    before_mode: str = "bicubic"
    compare_mode: str = "slider"
    preview_first: bool = True
    export_format: str = "png"
    # The last export and batch choices, where the next export dialog or batch starts.
    export_quality: int = DEFAULT_QUALITY  # JPEG / lossy WebP
    webp_lossless: bool = False
    png_level: int = DEFAULT_PNG_LEVEL  # the export dialog's and the batch panel's
    name_pattern: str = "{stem}_x{scale}"
    last_open_dir: str = ""
    last_export_dir: str = ""
    recent_files: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)  # loaded model files, for the menu
    feature_point: str = "sme_out"
    feature_colormap: str = "viridis"
    geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64

    path: Path | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None) -> Settings:
        path = Path(folder) / FILE_NAME if folder is not None else config_dir() / FILE_NAME
        s = cls(path=path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return s
        if isinstance(raw, dict):
            s._apply(raw)
        return s

    def _apply(self, raw: dict[str, Any]) -> None:
        defaults = Settings()
        for f in fields(self):
            if f.name == "path" or f.name not in raw:
                continue
            value = _coerce(raw[f.name], getattr(defaults, f.name), f.name)
            if value is not _INVALID:
                setattr(self, f.name, value)
        if self.device not in DEVICES:
            self.device = defaults.device
        if self.scale not in (1, *SCALES):
            self.scale = defaults.scale
        if self.before_mode not in BEFORE_MODES:
            self.before_mode = defaults.before_mode
        if self.compare_mode not in COMPARE_MODES:
            self.compare_mode = defaults.compare_mode
        if self.export_format not in EXPORT_FORMATS:
            self.export_format = defaults.export_format
        if self.tile is not None and self.tile < 0:
            self.tile = None
        if not QUALITY_RANGE[0] <= self.export_quality <= QUALITY_RANGE[1]:
            self.export_quality = defaults.export_quality
        if not PNG_LEVELS[0] <= self.png_level <= PNG_LEVELS[1]:
            self.png_level = defaults.png_level

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d

    def save(self) -> None:
        """Write atomically so that a crash mid-write leaves the previous file intact.

        Raises OSError (the window shows it in the status bar) if it cannot be written.
        """
        path = self.path or config_dir() / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.to_dict(), indent=2).encode("utf-8")
        try:
            write_bytes_atomic(path, data, overwrite=True)
        except FileError as e:
            raise OSError(str(e)) from e

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        p = str(Path(path).resolve())
        self.recent_files = [p, *(r for r in self.recent_files if r != p)][:MAX_RECENT]

    def add_checkpoint(self, path: str | os.PathLike[str]) -> None:
        p = str(Path(path).resolve())
        self.checkpoints = [p, *(r for r in self.checkpoints if r != p)][:MAX_RECENT]


_INVALID = object()


def _coerce(value: Any, default: Any, name: str) -> Any:
    # The JSON may have been edited by hand: accept a value only if it has the type the
    # field's default has (int fields also take None where None is meaningful).
    if name == "tile":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        return _INVALID
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if isinstance(default, str):
        return value if isinstance(value, str) else _INVALID
    if isinstance(default, list):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        return _INVALID
    return _INVALID
