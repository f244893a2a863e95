"""Fuzzing read_image: whatever the bytes, a valid LoadedImage or one ImageIOError.

Any other exception (IndexError from a parser, struct.error, zlib.error...) would reach
the user as a traceback, so it fails these tests.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seemore_core.imageio import ImageIOError, LoadedImage, read_image, write_image

DATA = Path(__file__).resolve().parent
SEEDS = [
    "rgb16.png",
    "rgba16_interlaced.png",
    "la16.png",
    "gray16.png",
    "icc_text.png",
    "palette_transparent.png",
    "exif_rotated.jpg",
    "cmyk.jpg",
    "animated.gif",
    "rgb16.tif",
    "image.webp",
    "image.bmp",
]
MAGIC = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
]
# Small limit: a mutated header declaring a big size is refused rather than allocated,
# which keeps every example fast; the limit check itself is part of what is tested.
MAX_PIXELS = 250_000
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder left in the repository
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_read(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd EXIF and the like
        try:
            image = read_image(path, max_pixels=MAX_PIXELS)
        except ImageIOError as exc:
            assert str(path) in str(exc)
            return
    assert isinstance(image, LoadedImage)
    height, width = image.rgb.shape[:2]
    assert image.rgb.shape == (height, width, 3) and image.rgb.dtype == np.float32
    assert 0 < height * width <= MAX_PIXELS
    assert np.isfinite(image.rgb).all() and image.rgb.min() >= 0 and image.rgb.max() <= 1
    if image.alpha is not None:
        assert image.alpha.shape == (height, width) and image.alpha.dtype == np.float32
        assert image.alpha.min() >= 0 and image.alpha.max() <= 1
    assert image.bit_depth in (8, 16)


@FUZZ
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=600))
def test_random_bytes(fuzz_dir: Path, magic: bytes, body: bytes) -> None:
    check_read(fuzz_dir / "random.png", magic + body)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(SEEDS))
    data = bytearray((DATA / name).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
    return name, bytes(data)


@settings(FUZZ, max_examples=200)
@given(case=mutated())
def test_mutated_valid_files(fuzz_dir: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    check_read(fuzz_dir / f"mutated{Path(name).suffix}", data)


@settings(FUZZ, max_examples=40)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2, 3, 4])),
    seed=st.integers(0, 2**32 - 1),
    suffix=st.sampled_from([".png", ".tif"]),
)
def test_any_16bit_pixels_round_trip_exactly(
    fuzz_dir: Path, shape: tuple[int, int, int], seed: int, suffix: str
) -> None:
    height, width, channels = shape
    pixels = np.random.default_rng(seed).integers(0, 65536, shape, dtype=np.uint16)
    colour = pixels[:, :, :3] if channels >= 3 else pixels[:, :, 0]
    alpha = pixels[:, :, -1] if channels in (2, 4) else None
    out = write_image(
        fuzz_dir / f"roundtrip{suffix}", colour, alpha=alpha, bit_depth=16, overwrite=True
    )
    image = read_image(out)
    assert image.bit_depth == 16 and image.grayscale == (channels <= 2)
    got = np.rint(image.rgb * 65535).astype(np.uint16)
    expected = colour if channels >= 3 else np.repeat(colour[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(got, expected)
    if alpha is None:
        assert image.alpha is None
    else:
        assert image.alpha is not None
        np.testing.assert_array_equal(np.rint(image.alpha * 65535).astype(np.uint16), alpha)
