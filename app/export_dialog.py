"""Export: where and how to save the result (format options, size), and the saving itself.

The dialog proposes a name next to the source image (`photo_x4.png`, or `photo_x4 (2).png`
when that exists, so a proposal never overwrites), shows only the options that apply to
the chosen format, and can open the folder afterwards. `write_export` does the writing
through `seemore_core.imageio.write_image` (atomic, metadata kept, never over the input)
and runs on a background thread.

Size by target (a width, height or longest side) is `seemore_core.target`'s, as for the
CLI: the next larger scale, then Lanczos. A target within the result on screen shrinks
it; a target beyond it is saved by upscaling the source again at the smallest of the
model's scales that reaches it (`ExportOptions.run_scale`; the window hands that to the
worker, which runs `seemore_core.jobs`, the CLI's pipeline). Where that cannot be done
(a pasted image has no file; a checkpoint has one scale) the dialog says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from seemore_core.errors import UsageError
from seemore_core.imageio import ImageIOError, LoadedImage, upscale_alpha, write_image
from seemore_core.names import (
    DEFAULT_PNG_LEVEL,
    DEFAULT_QUALITY,
    PNG_LEVELS,
    QUALITY_RANGE,
    TARGET_SIDE_LABELS,
)
from seemore_core.target import TargetSize, pick_scale, resize_to

FORMATS: tuple[tuple[str, str], ...] = (
    ("png", "PNG (lossless)"),
    ("jpg", "JPEG"),
    ("webp", "WebP"),
    ("tif", "TIFF (lossless)"),
)
SIXTEEN_BIT = ("png", "tif")
SUFFIX_FORMATS = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".webp": "webp",
    ".tif": "tif",
    ".tiff": "tif",
}
# Largest number the size box takes: a target beyond the result is allowed to be typed,
# so the dialog can say which scale would reach it.
MAX_TARGET_PX = 65_535


def options_used(fmt: str, webp_lossless: bool) -> dict[str, bool]:
    """Which of the dialog's options a format uses (the rows it shows, the choices the
    app remembers): quality for JPEG and lossy WebP, lossless for WebP, the PNG level
    for PNG, 16 bits for PNG and TIFF."""
    return {
        "quality": fmt == "jpg" or (fmt == "webp" and not webp_lossless),
        "lossless": fmt == "webp",
        "png_level": fmt == "png",
        "sixteen": fmt in SIXTEEN_BIT,
    }


@dataclass(frozen=True)
class ExportOptions:
    path: Path
    format: str = "png"  # png, jpg, webp, tif
    quality: int = DEFAULT_QUALITY  # JPEG and lossy WebP
    png_level: int = DEFAULT_PNG_LEVEL  # 0 (fast, big) .. 9 (slow, small)
    webp_lossless: bool = False
    sixteen_bit: bool = False  # PNG and TIFF only
    # Downscale to a size: "longest", "width" or "height" = size_px pixels (aspect kept).
    size_by: str | None = None
    size_px: int = 0
    open_folder: bool = False
    overwrite: bool = False
    # The target is beyond the result: upscale the source again at this scale first.
    run_scale: int | None = None


def auto_name(source: Path | None, name: str, scale: int, fmt: str, folder: Path) -> Path:
    """`<stem>_x<scale>.<fmt>` next to the source (or in `folder`), never an existing file."""
    stem = (source.stem if source is not None else Path(name).stem) or "image"
    if stem == "clipboard image":
        stem = "clipboard"
    where = source.parent if source is not None else folder
    base = f"{stem}_x{scale}"
    p = where / f"{base}.{fmt}"
    n = 2
    while p.exists():
        p = where / f"{base} ({n}).{fmt}"
        n += 1
    return p


def resized_size(w: int, h: int, px: int, by: str = "longest") -> tuple[int, int]:
    """(w, h) scaled so that the longer side (or the width, or the height) is `px`."""
    return TargetSize(by, px).size_for(w, h)


@dataclass(frozen=True)
class ExportOutcome:
    path: Path
    error: str = ""  # empty when written


def run_export(
    opts: ExportOptions, image: np.ndarray, like: LoadedImage, scale: int
) -> ExportOutcome:
    """`write_export`, with the writer's refusals as a message (off the UI thread)."""
    from seemore_core.errors import SeemoreError

    try:
        return ExportOutcome(write_export(opts, image, like, scale))
    except SeemoreError as e:
        return ExportOutcome(opts.path, str(e))
    except OSError as e:
        return ExportOutcome(opts.path, f"{opts.path}: {e.strerror or e}")
    except MemoryError:
        return ExportOutcome(opts.path, "not enough memory to encode the image")


def write_export(opts: ExportOptions, image: np.ndarray, like: LoadedImage, scale: int) -> Path:
    """Write the result with its input's alpha, ICC, EXIF; runs off the UI thread."""
    alpha = None
    if like.alpha is not None:
        alpha = upscale_alpha(like.alpha, scale)[: image.shape[0], : image.shape[1]]
    if opts.size_by is not None:
        h, w = image.shape[:2]
        size = resized_size(w, h, opts.size_px, opts.size_by)
        if size[0] > w or size[1] > h:
            raise ImageIOError(
                opts.path,
                f"{size[0]}x{size[1]} is larger than the {w}x{h} result: choose a larger"
                " scale, then export at this size",
            )
        if size != (w, h):
            # The core's Lanczos (as the CLI's target sizes): sharper than a smaller
            # scale would give, and what the dialog promised.
            image = resize_to(image, size)
            alpha = None if alpha is None else resize_to(alpha, size)
    quality = opts.quality
    if opts.format == "webp" and opts.webp_lossless:
        quality = 100  # the core writer's way of saying lossless WebP
    bit_depth = 16 if opts.sixteen_bit and opts.format in SIXTEEN_BIT else 8
    return write_image(
        opts.path,
        image,
        alpha=alpha,
        like=like,
        format=opts.format,
        bit_depth=bit_depth,
        quality=quality,
        overwrite=opts.overwrite,
        png_level=opts.png_level,
    )


class ExportDialog(QDialog):
    """Format, options and place for one result; `options()` after it is accepted."""

    def __init__(
        self,
        path: Path,
        result_size: tuple[int, int],
        source_bits: int = 8,
        parent: QWidget | None = None,
        scale: int = 1,
        scales: Sequence[int] = (),
        no_rerun: str = "",
        quality: int = DEFAULT_QUALITY,
        png_level: int = DEFAULT_PNG_LEVEL,
        webp_lossless: bool = False,
    ) -> None:
        """``scale`` is the result's, ``scales`` the model's: with them, a target beyond
        the result is met by upscaling again at the scale that reaches it, unless
        ``no_rerun`` says why that cannot be done here. ``quality``, ``png_level`` and
        ``webp_lossless`` are where the boxes start (the app passes the last ones used)."""
        super().__init__(parent)
        self.setWindowTitle("Export upscaled image")
        self._size = result_size
        self._scale = max(1, scale)
        self._scales = tuple(scales)
        self._no_rerun = no_rerun
        self._run_scale: int | None = None  # set by _size_text for a target beyond
        fmt = path.suffix.lower().lstrip(".") or "png"
        fmt = "jpg" if fmt == "jpeg" else ("tif" if fmt == "tiff" else fmt)

        self.path_edit = QLineEdit(str(path))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)

        self.format = QComboBox()
        for key, label in FORMATS:
            self.format.addItem(label, key)
        i = self.format.findData(fmt)
        self.format.setCurrentIndex(max(0, i))

        self.quality = QSpinBox()
        self.quality.setRange(*QUALITY_RANGE)
        self.quality.setValue(quality)
        self.quality.setToolTip("Higher: larger files, fewer artefacts. 90+ keeps full colour.")
        self.lossless = QCheckBox("Lossless")
        self.lossless.setChecked(webp_lossless)
        self.png_level = QSpinBox()
        self.png_level.setRange(*PNG_LEVELS)
        self.png_level.setValue(png_level)
        self.png_level.setToolTip(
            "0: fastest, largest; 9: slowest, smallest. The pixels are the same."
        )
        self.sixteen = QCheckBox("16 bits per channel")
        self.sixteen.setChecked(source_bits == 16)
        self.sixteen.setToolTip("Keeps the network's fine gradations; files are twice as big.")
        self.size_mode = QComboBox()
        self.size_mode.addItem(f"Full result ({result_size[0]}x{result_size[1]})", None)
        for side, label in TARGET_SIDE_LABELS.items():
            self.size_mode.addItem(label, side)
        self.longest = QSpinBox()
        self.longest.setRange(1, MAX_TARGET_PX)
        self.longest.setValue(max(result_size))
        self.longest.setSuffix(" px")
        self.size_note = QLabel("")
        self.open_folder = QCheckBox("Open the folder after saving")

        form = QFormLayout()
        form.addRow("File", row)
        form.addRow("Format", self.format)
        self._rows: dict[str, QWidget] = {}
        for key, label, w in (
            ("quality", "Quality", self.quality),
            ("lossless", "", self.lossless),
            ("png_level", "Compression", self.png_level),
            ("sixteen", "", self.sixteen),
        ):
            form.addRow(label, w)
            self._rows[key] = w
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_mode)
        size_row.addWidget(self.longest)
        size_row.addWidget(self.size_note, 1)
        form.addRow("Size", size_row)
        form.addRow("", self.open_folder)
        self._form = form

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)

        self.format.currentIndexChanged.connect(self._format_changed)
        self.lossless.toggled.connect(self._update_rows)
        self.size_mode.currentIndexChanged.connect(self._update_rows)
        self.longest.valueChanged.connect(self._update_rows)
        self._update_rows()
        self.resize(560, self.sizeHint().height())

    def chosen_format(self) -> str:
        return str(self.format.currentData())

    def _format_changed(self) -> None:
        fmt = self.chosen_format()
        p = Path(self.path_edit.text().strip() or "image")
        self.path_edit.setText(str(p.with_suffix(f".{fmt}")))
        self._update_rows()

    def _update_rows(self) -> None:
        show = options_used(self.chosen_format(), self.lossless.isChecked())
        for key, w in self._rows.items():
            self._form.setRowVisible(w, show[key])
        by = self.size_mode.currentData()
        self.longest.setVisible(by is not None)
        self._run_scale = None
        text, ok = ("", True) if by is None else self._size_text(by, self.longest.value())
        self.size_note.setText(text)
        self.save_button.setEnabled(ok)
        # Saving then costs a whole upscale: the button says so before it is pressed.
        run = self._run_scale
        self.save_button.setText("Save" if run is None else f"Upscale x{run} and save")

    def _size_text(self, by: str, px: int) -> tuple[str, bool]:
        """What the size box gives, and whether it can be saved at that size (sets
        `_run_scale` when the source must be upscaled again to reach it)."""
        target = TargetSize(by, px)
        w, h = target.size_for(*self._size)
        if w <= self._size[0] and h <= self._size[1]:
            return f"→ {w}x{h} (Lanczos)", True
        # Beyond this result: the scale that would reach it, as the CLI would pick.
        iw, ih = (max(1, v // self._scale) for v in self._size)
        try:
            need = pick_scale(target, iw, ih, self._scales)
        except UsageError:
            return "larger than any scale of this model reaches", False
        if self._no_rerun:
            return f"larger than this x{self._scale} result, and {self._no_rerun}", False
        self._run_scale = need
        w, h = target.size_for(iw, ih)  # from the input, as the pipeline computes it
        return f"→ {w}x{h}: upscales again at x{need}, then Lanczos", True

    def _browse(self) -> None:
        fmt = self.chosen_format()
        label = dict(FORMATS)[fmt]
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export to",
            self.path_edit.text(),
            f"{label} (*.{fmt})",
            options=QFileDialog.Option.DontConfirmOverwrite,  # asked on Save instead
        )
        if path:
            p = Path(path)
            self.path_edit.setText(str(p if p.suffix else p.with_suffix(f".{fmt}")))

    def options(self) -> ExportOptions:
        fmt = self.chosen_format()
        p = Path(self.path_edit.text().strip()).expanduser()
        typed = SUFFIX_FORMATS.get(p.suffix.lower())
        if typed is not None:
            fmt = typed  # a suffix typed by hand says what the file is
        elif not p.suffix:
            p = p.with_suffix(f".{fmt}")
        by = self.size_mode.currentData()
        return ExportOptions(
            path=p,
            format=fmt,
            quality=self.quality.value(),
            png_level=self.png_level.value(),
            webp_lossless=self.lossless.isChecked(),
            sixteen_bit=self.sixteen.isChecked() and fmt in SIXTEEN_BIT,
            size_by=by,
            size_px=self.longest.value() if by is not None else 0,
            open_folder=self.open_folder.isChecked(),
            run_scale=self._run_scale,
        )


__all__ = [
    "ExportDialog",
    "ExportOptions",
    "ExportOutcome",
    "run_export",
    "auto_name",
    "resized_size",
    "write_export",
]
