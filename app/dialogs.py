"""Dialogs: checkpoint details, About, batch export options."""

from __future__ import annotations

import platform
from html import escape
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
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
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from seemore_core.target import TargetSize

from .worker import output_name


def format_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} K"
    return str(n)


class CheckpointDialog(QDialog):
    """What a dropped checkpoint holds, before it becomes the current model."""

    def __init__(self, info: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle("Load model")
        form = QFormLayout()
        variant = info["variant"]
        rows = [
            ("File", Path(info["path"]).name),
            ("Variant", f"SeemoRe-{variant}" if variant != "custom" else "custom"),
            ("Scale", f"x{info['scale']}"),
            ("Parameters", format_count(int(info["params"]))),
            ("GMACs", f"{info['gmacs']:.2f} (1280x720 output)"),
            ("Blocks x width", f"{info['layers']} x {info['width']}"),
            (
                "Experts (ranks)",
                f"{info['experts']} ({', '.join(map(str, info['ranks']))}), top-{info['topk']}",
            ),
            ("Weights", str(info["weights"])),
        ]
        for k, v in rows:
            lab = QLabel(v)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(k + ":", lab)
        path = QLabel(escape(info["path"]))
        path.setWordWrap(True)
        path.setStyleSheet("color: gray")
        buttons = QDialogButtonBox()
        buttons.addButton("Use this model", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(path)
        lay.addWidget(buttons)


class AboutDialog(QDialog):
    def __init__(self, info: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About seemore")
        self.resize(640, 520)
        import numpy
        import pyqtgraph

        versions = [
            ("seemore", info.get("seemore", "loading…")),
            ("PyTorch", info.get("torch", "loading…")),
            ("Qt / PySide6", f"{qVersion()} / {pyside_version}"),
            ("pyqtgraph", pyqtgraph.__version__),
            ("NumPy", numpy.__version__),
            ("Python", platform.python_version()),
            ("Platform", platform.platform(terse=True)),
        ]
        if info.get("cuda"):
            versions.append(("CUDA device", info.get("cuda_name", "")))
        rows = "".join(
            f"<tr><td><b>{escape(k)}</b></td><td>{escape(str(v))}</td></tr>" for k, v in versions
        )
        head = QLabel(
            "<h2>seemore</h2><p>Image super-resolution with SeemoRe "
            "(<i>See More Details: Efficient Image Super-Resolution by Experts Mining</i>, "
            "ICML 2024), with a look inside the network.</p>"
            f"<table cellspacing=4>{rows}</table>"
        )
        head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.setWordWrap(True)
        card = QTextBrowser()
        card.setOpenExternalLinks(True)
        card.setMarkdown(
            info.get("model_card") or "The model card is shown once the engine has loaded."
        )
        tabs = QTabWidget()
        tabs.addTab(head, "Versions")
        tabs.addTab(card, "Model card")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        lay.addWidget(buttons)


class BatchExportDialog(QDialog):
    """Where and how to write the upscaled batch."""

    def __init__(
        self,
        count: int,
        folder: str,
        pattern: str,
        fmt: str,
        scale: int,
        parent: QWidget | None = None,
        target: TargetSize | None = None,
    ) -> None:
        """``target``: the queue's output size, if one is set; each file then picks its
        own scale, so a name with {scale} is replaced by one naming the size."""
        super().__init__(parent)
        self.setWindowTitle("Upscale batch to folder")
        self._scale = scale
        self._target = target
        if target is not None and "{scale}" in pattern.replace(" ", ""):
            pattern = f"{{stem}}_{target.pixels}px"
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.pattern = QLineEdit(pattern)
        self.pattern.setToolTip("Fields: {stem} {scale} {model} {index}")
        self.format = QComboBox()
        for f in ("png", "jpg", "webp", "tif"):
            self.format.addItem(f.upper(), f)
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.overwrite = QCheckBox("Replace files that already exist")
        self.example = QLabel()
        self.example.setStyleSheet("color: gray")
        form = QFormLayout()
        size = "" if target is None else f", {target.describe()},"
        form.addRow(QLabel(f"{count} image(s) will be upscaled{size} and written to:"))
        form.addRow("Folder:", row)
        form.addRow("Name:", self.pattern)
        form.addRow("Format:", self.format)
        form.addRow("", self.example)
        form.addRow("", self.overwrite)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self.pattern.textChanged.connect(self._update_example)
        self.format.currentIndexChanged.connect(self._update_example)
        self.folder.textChanged.connect(self._update_example)
        self._update_example()

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def _update_example(self) -> None:
        ok = bool(self.folder.text().strip())
        try:
            if self._target is not None and "{scale}" in self.pattern.text().replace(" ", ""):
                # As the core's request check says: each file picks its own scale.
                raise ValueError("with a target size each image picks its scale: no {scale}")
            name = output_name(self.pattern.text(), "photo", self._scale, "T", 1)
            self.example.setText(f"e.g. photo.png -> {name}.{self.format.currentData()}")
        except ValueError as e:
            self.example.setText(str(e))
            ok = False
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[Path, str, str, bool]:
        return (
            Path(self.folder.text().strip()).expanduser(),
            self.pattern.text(),
            str(self.format.currentData()),
            self.overwrite.isChecked(),
        )
