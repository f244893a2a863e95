"""seemore_core.png: the one PNG writer (8/16-bit, gray/RGB with or without alpha)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from seemore_core import png
from seemore_core.resize import upscale_bicubic_uint8


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data.startswith(png.PNG_SIGNATURE)
    at, out = len(png.PNG_SIGNATURE), []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n : at + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        out.append((kind, body))
        at += 12 + n
    return out


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (33, 17)])
def test_round_trip_is_exact(channels: int, dtype: type, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(channels)
    top = 255 if dtype == np.uint8 else 65535
    ints = rng.integers(0, top + 1, (*shape, channels)).astype(dtype)
    data = png.encode_png(ints)
    got = np.asarray(imagecodecs.png_decode(data))
    np.testing.assert_array_equal(got.reshape(ints.shape), ints)
    if dtype == np.uint8:  # and an independent decoder agrees
        with Image.open(io.BytesIO(data)) as im:
            pil = np.asarray(im)
        np.testing.assert_array_equal(pil.reshape(ints.shape), ints)


def _paeth_rows(ints: np.ndarray) -> np.ndarray:
    """PNG's Paeth filter as the specification writes it, one byte at a time."""
    h = ints.shape[0]
    bpp = ints.shape[2] * ints.dtype.itemsize
    data = ints.astype(">u2") if ints.dtype == np.uint16 else ints
    raw = data.view(np.uint8).reshape(h, -1).astype(int)
    out = np.zeros_like(raw)
    for y in range(h):
        for i in range(raw.shape[1]):
            a = raw[y, i - bpp] if i >= bpp else 0
            b = raw[y - 1, i] if y else 0
            c = raw[y - 1, i - bpp] if y and i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[y, i] = (raw[y, i] - pred) % 256
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rows_are_paeth_filtered_in_bands_and_split_over_idat_chunks(
    monkeypatch: pytest.MonkeyPatch, dtype: type
) -> None:
    rng = np.random.default_rng(1)
    ints = rng.integers(0, 256 if dtype == np.uint8 else 65536, (40, 9, 3)).astype(dtype)
    ints[:, :4] = ints[:, :1]  # runs, so all three predictors win somewhere
    monkeypatch.setattr(png, "IDAT_CHUNK", 64)
    chunks = _chunks(png.encode_png(ints, level=0))
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    idat = [b for k, b in chunks if k == b"IDAT"]
    assert len(idat) > 1 and all(len(b) == 64 for b in idat[:-1])
    width = 9 * 3 * ints.dtype.itemsize
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(40, 1 + width)
    assert (rows[:, 0] == 4).all()  # PNG filter type 4: Paeth
    np.testing.assert_array_equal(rows[:, 1:], _paeth_rows(ints))
    # Bands of rows (each reading the row above it from the previous band) change nothing.
    np.testing.assert_array_equal(png.filtered_rows(ints, band=7), png.filtered_rows(ints, 40))
    # Nor do threads filtering runs of bands (the last run shorter than the others).
    want = np.concatenate([np.full((40, 1), 4, np.uint8), _paeth_rows(ints)], axis=1)
    for workers in (1, 2, 3):
        np.testing.assert_array_equal(png.filtered_rows(ints, band=3, workers=workers), want)


def test_metadata_chunks_precede_the_pixels() -> None:
    ints = np.zeros((4, 4, 3), np.uint8)
    data = png.encode_png(
        ints, icc=b"fake icc", exif=b"Exif\0\0MM\0*", text={"Title": "café", "bad\0key": "x"}
    )
    kinds = [k for k, _ in _chunks(data)]
    assert kinds == [b"IHDR", b"iCCP", b"eXIf", b"tEXt", b"IDAT", b"IEND"]
    with Image.open(io.BytesIO(data)) as im:
        assert im.text == {"Title": "café"}
    assert [k for k, _ in _chunks(png.encode_png(ints, text={"T": "日本"}))][1] == b"iTXt"


def test_refuses_what_png_cannot_hold() -> None:
    with pytest.raises(ValueError, match="shape"):
        png.encode_png(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="type"):
        png.encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="one pixel"):
        png.encode_png(np.zeros((0, 4, 3), np.uint8))


def test_an_upscaled_photo_is_about_the_size_pillow_writes(benchmark_root: Path) -> None:
    """Paeth on every row instead of adaptive filters: within 6% of Pillow's file at
    level 6 on what the app writes (an upscaled photo), smaller than the raw pixels."""
    with Image.open(benchmark_root / "Set14/HR/baboon.png") as im:
        up = upscale_bicubic_uint8(np.asarray(im.convert("RGB")), 2)
    ours = len(png.encode_png(up, level=6))
    buf = io.BytesIO()
    Image.fromarray(up).save(buf, format="PNG", compress_level=6)
    assert ours < 1.06 * len(buf.getvalue())
    assert ours < 0.8 * up.nbytes


@pytest.mark.parametrize("bits", [8, 16])
def test_integer_rgb_is_written_as_is_and_equals_the_float_path(tmp_path: Path, bits: int) -> None:
    """The engine's uint8/uint16 output skips the float round trip and writes the same file."""
    from seemore_core.imageio import write_image

    rng = np.random.default_rng(bits)
    top = 255 if bits == 8 else 65535
    ints = rng.integers(0, top + 1, (20, 30, 3)).astype(np.uint8 if bits == 8 else np.uint16)
    direct = write_image(tmp_path / "a.png", ints, bit_depth=bits)
    floats = write_image(tmp_path / "b.png", ints.astype(np.float32) / top, bit_depth=bits)
    assert direct.read_bytes() == floats.read_bytes()
    got = np.asarray(imagecodecs.png_decode(direct.read_bytes()))
    np.testing.assert_array_equal(got, ints)
