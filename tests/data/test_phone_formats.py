"""HEIC/HEIF, AVIF and JPEG XL photos read like JPEG: turned upright, EXIF and ICC kept.

Every sample is made here, by the same libraries' encoders, so nothing binary is
checked in and each test knows exactly what its file holds.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, features

from seemore_core.imageio import is_image_path, read_image, write_image

ORIENTATION, MAKE = 0x0112, 0x010F


def _picture() -> np.ndarray:
    """20 rows x 30 columns, dark, with a white block in the top-left corner."""
    pixels = np.full((20, 30, 3), 40, np.uint8)
    pixels[:5, :10] = 255
    return pixels


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "PhoneMaker"
    return exif


@functools.cache  # the profile records its creation time: make it once
def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _check_turned_with_metadata(path: Path) -> None:
    img = read_image(path)
    # Orientation 6 turns the picture a quarter clockwise: 30 rows by 20, the white
    # block now at the top right, as a phone's gallery shows it.
    assert img.rgb.shape == (30, 20, 3)
    assert img.rgb[:10, -5:].mean() > 0.95 and img.rgb[:10, :5].mean() < 0.3
    exif = Image.Exif()
    exif.load(img.exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "PhoneMaker"
    assert img.icc_profile == _icc()
    # And it goes on to an output like any other input, metadata included.
    out = write_image(path.with_suffix(".out.jpg"), img.rgb, like=img)
    with Image.open(out) as written:
        assert written.size == (20, 30) and written.getexif()[MAKE] == "PhoneMaker"
        assert written.info["icc_profile"] == _icc()


def test_heic_is_read_upright_with_exif_and_icc(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    path = tmp_path / "IMG_0001.HEIC"
    Image.fromarray(_picture()).save(
        path, format="HEIF", exif=_exif(6).tobytes(), icc_profile=_icc(), quality=100
    )
    assert path.read_bytes()[4:12] == b"ftypheic"
    _check_turned_with_metadata(path)
    assert read_image(path).format == "HEIF"


@pytest.mark.skipif(not features.check("avif"), reason="Pillow without libavif")
def test_avif_is_read_upright_with_exif_and_icc(tmp_path: Path) -> None:
    path = tmp_path / "photo.avif"
    Image.fromarray(_picture()).save(
        path, format="AVIF", exif=_exif(6).tobytes(), icc_profile=_icc(), quality=100
    )
    _check_turned_with_metadata(path)
    assert read_image(path).format == "AVIF"


def _jxl(pixels: np.ndarray) -> bytes:
    imagecodecs = pytest.importorskip("imagecodecs")
    if not imagecodecs.JPEGXL.available:
        pytest.skip("imagecodecs without libjxl")
    return bytes(imagecodecs.jpegxl_encode(pixels, lossless=True))


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def test_jpeg_xl_8_and_16_bit_and_alpha_are_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cases = {
        "rgb8.jxl": rng.integers(0, 256, (9, 13, 3), dtype=np.uint8),
        "rgb16.jxl": rng.integers(0, 65536, (9, 13, 3), dtype=np.uint16),
        "rgba8.jxl": rng.integers(0, 256, (9, 13, 4), dtype=np.uint8),
    }
    for name, pixels in cases.items():
        (tmp_path / name).write_bytes(_jxl(pixels))
        img = read_image(tmp_path / name)
        top = 255 if pixels.dtype == np.uint8 else 65535
        assert img.format == "JXL" and img.bit_depth == (8 if top == 255 else 16), name
        assert np.array_equal(np.rint(img.rgb * top), pixels[:, :, :3]), name
        if pixels.shape[2] == 4:
            assert img.alpha is not None
            assert np.array_equal(np.rint(img.alpha * top), pixels[:, :, 3])


def test_jpeg_xl_container_exif_is_kept_and_not_applied_twice(tmp_path: Path) -> None:
    codestream = _jxl(_picture())
    tiff = _exif(6).tobytes()[len(b"Exif\0\0") :]
    container = (
        b"\0\0\0\x0cJXL \r\n\x87\n"
        + _box(b"ftyp", b"jxl \0\0\0\0jxl ")
        + _box(b"Exif", b"\0\0\0\0" + tiff)
        + _box(b"jxlc", codestream)
    )
    path = tmp_path / "photo.jxl"
    path.write_bytes(container)
    img = read_image(path)
    # The codestream's own orientation (here none) is what libjxl applies; the EXIF
    # copy must not turn the pixels a second time.
    assert img.rgb.shape == (20, 30, 3)
    assert np.array_equal(np.rint(img.rgb * 255).astype(np.uint8), _picture())
    exif = Image.Exif()
    exif.load(img.exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "PhoneMaker"


def test_phone_formats_are_recognised_by_content_and_by_name(tmp_path: Path) -> None:
    for name in ("IMG_1.HEIC", "a.heif", "b.avif", "c.JXL"):
        assert is_image_path(tmp_path / name), name
    misnamed = tmp_path / "holiday.png"
    misnamed.write_bytes(_jxl(_picture()))
    img = read_image(misnamed)
    assert img.format == "JXL"
    assert img.notes == ["the file's content is JPEG XL although its name ends in .png"]


def test_a_damaged_heic_is_one_clear_error(tmp_path: Path) -> None:
    from seemore_core.errors import ImageIOError

    path = tmp_path / "cut.heic"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 40)
    with pytest.raises(ImageIOError) as caught:
        read_image(path)
    assert "cut.heic" in str(caught.value) and "\n" not in str(caught.value)
