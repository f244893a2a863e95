"""tools/photo_montage.py: the issue-14 comparison on a real JPEG input, as drawn in docs/."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image
from toolkit import load_tool

from seemore_core.metrics import psnr_y
from seemore_core.resize import bicubic_lr, crop_to_multiple, upscale_bicubic_uint8

REPO = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    return load_tool("photo_montage")


def test_jpeg_roundtrip_leaves_8x8_blocks(benchmark_root: Path) -> None:
    tool = _tool()
    hr = np.asarray(Image.open(benchmark_root / "Set14/HR/pepper.png").convert("RGB"))
    lr = bicubic_lr(hr, 4)
    q30 = tool.jpeg_roundtrip(lr, 30).astype(np.float32)
    assert q30.shape == lr.shape
    err = np.abs(q30 - lr).mean()
    assert err > 1.0  # a real lossy encode, not a copy
    assert np.abs(tool.jpeg_roundtrip(lr, 95).astype(np.float32) - lr).mean() < err

    # Blockiness: luma steps across 8-pixel block borders outgrow those inside blocks,
    # against the same ratio on the image before encoding.
    def blockiness(img: np.ndarray) -> float:
        steps = np.abs(np.diff(img.astype(np.float32).mean(axis=2), axis=1))
        return float(steps[:, 7::8].mean() / np.delete(steps, np.s_[7::8], axis=1).mean())

    assert blockiness(q30) > 1.2 * blockiness(lr)


def test_montage_panels_and_photo_model_beats_bicubic(benchmark_root: Path, tmp_path: Path) -> None:
    tool = _tool()
    out = tmp_path / "m.png"
    image = benchmark_root / "Set14/HR/pepper.png"
    assert tool.main(["--image", str(image), "--crop", "0", "0", "64", "--out", str(out)]) == 0
    sheet = Image.open(out)
    assert sheet.width > 4 * 128 and sheet.height > 128  # four 64 px crops shown 2x
    assert tool.main(["--image", str(image), "--out", str(out)]) == 2  # never overwrites
    assert (
        tool.main(
            ["--image", str(image), "--crop", "500", "0", "64", "--out", str(tmp_path / "x.png")]
        )
        == 2
    )
    # The claim the montage illustrates, on its own default input: on a q75 JPEG the
    # photo model is closer to the HR than bicubic.
    hr = crop_to_multiple(np.asarray(Image.open(image).convert("RGB")), 4)
    lr = tool.jpeg_roundtrip(bicubic_lr(hr, 4), 75)
    photo = tool.upscale_with("T-photo", lr, 4)
    assert photo.shape == hr.shape and photo.dtype == np.uint8
    assert psnr_y(photo, hr, 4) > psnr_y(upscale_bicubic_uint8(lr, 4), hr, 4)


def test_refuses_a_model_of_another_scale(benchmark_root: Path) -> None:
    tool = _tool()
    with pytest.raises(SystemExit, match="x2 model"):
        tool.upscale_with(
            str(REPO / "resources/weights/seemore_T_x2.safetensors"),
            np.zeros((16, 16, 3), np.uint8),
            4,
        )
