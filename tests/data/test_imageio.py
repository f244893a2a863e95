"""Behaviour of seemore_core.imageio on the committed corpus (see make_corpus.py)."""

from __future__ import annotations

import errno
import io
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_corpus as corpus  # noqa: E402

from seemore_core import imageio as sio  # noqa: E402
from seemore_core.errors import SeemoreError  # noqa: E402
from seemore_core.imageio import (  # noqa: E402
    ImageIOError,
    LoadedImage,
    OutputExistsError,
    read_image,
    upscale_alpha,
    write_image,
)
from seemore_core.png import png_chunk  # noqa: E402

DATA = Path(__file__).resolve().parent


def as_uint16(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 65535).astype(np.uint16)


def as_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 255).astype(np.uint8)


def copy_to(tmp_path: Path, name: str, new_name: str | None = None) -> Path:
    target = tmp_path / (new_name or name)
    shutil.copyfile(DATA / name, target)
    return target


# ----------------------------------------------------------------------- bad files


def test_error_is_a_seemore_error_naming_the_file() -> None:
    with pytest.raises(ImageIOError) as caught:
        read_image(DATA / "empty.png")
    assert isinstance(caught.value, SeemoreError)
    assert "empty.png" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.png", "empty (0 bytes)"),
        ("truncated.png", "PNG file is truncated"),
        ("truncated.jpg", "JPEG file is truncated"),
        ("text.png", "text file, not an image"),
    ],
)
def test_bad_file_gives_one_clear_error(name: str, reason: str) -> None:
    with pytest.raises(ImageIOError) as caught:
        read_image(DATA / name)
    message = str(caught.value)
    assert name in message and reason in message
    assert caught.value.path == DATA / name


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageIOError, match="no such file"):
        read_image(tmp_path / "nothing here.png")


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    folder = tmp_path / "holiday.png"
    folder.mkdir()
    with pytest.raises(ImageIOError, match="holiday.png.*folder, not an image"):
        read_image(folder)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_named_like_an_image_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageIOError, match="pipe.jpg.*FIFO"):
        read_image(fifo)


def test_jpeg_named_png_loads_as_jpeg_and_says_so() -> None:
    image = read_image(DATA / "jpeg_named.png")
    assert image.format == "JPEG"
    assert any("JPEG" in note and ".png" in note for note in image.notes)
    quadrants = as_uint8(image.rgb[[4, 4, 12, 12], [6, 18, 6, 18]])
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    np.testing.assert_allclose(quadrants, expected, atol=12)  # JPEG is lossy


def test_name_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    image = read_image(DATA / "café photo.png")
    assert image.rgb.shape == (16, 24, 3)
    assert image.source == DATA / "café photo.png"
    broken = copy_to(tmp_path, "text.png", "naïve résumé scan.png")
    with pytest.raises(ImageIOError, match="naïve résumé scan.png"):
        read_image(broken)
    written = write_image(tmp_path / "größer ×4.png", image.rgb, like=image)
    assert read_image(written).rgb.shape == (16, 24, 3)


def test_decompression_bomb_is_refused_with_a_way_out() -> None:
    # 100 MP is between Pillow's 1x and 2x limits, where Pillow itself only warns.
    with pytest.raises(ImageIOError) as caught:
        read_image(DATA / "bomb.png")
    message = str(caught.value)
    assert "bomb.png" in message
    assert "100,000,000 pixels" in message and "89,478,485" in message
    # The way out is a setting the caller passes back, named without any CLI flag.
    assert "raise the limit to 100,000,000" in message and "--" not in message
    assert caught.value.option == "max_pixels" and caught.value.value == 100_000_000


def test_bomb_passes_a_raised_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Decoding 100 MP to float32 RGB would take 1.2 GB: stop at the decoder's door.
    reached: list[tuple[int, int]] = []

    def decoder_stub(image: Image.Image, *args: object) -> LoadedImage:
        reached.append(image.size)
        return sio.image_from_array(np.zeros((1, 1), np.uint8))

    monkeypatch.setattr(sio, "_from_pil_image", decoder_stub)
    read_image(DATA / "bomb.png", max_pixels=100_000_000)
    assert reached == [(10_000, 10_000)]
    with pytest.raises(ImageIOError, match="more than the limit"):
        read_image(DATA / "bomb.png", max_pixels=99_999_999)


def test_raised_limit_reads_what_the_default_refuses(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path)
    with pytest.raises(ImageIOError, match="60,000 pixels"):
        read_image(path, max_pixels=59_999)
    assert read_image(path, max_pixels=60_000).rgb.shape == (200, 300, 3)
    assert read_image(path, max_pixels=None).rgb.shape == (200, 300, 3)


# ----------------------------------------------------------------- kinds of input


def test_rgb16_png_exact_values() -> None:
    image = read_image(DATA / "rgb16.png")
    assert (image.bit_depth, image.mode_in, image.grayscale) == (16, "RGB;16", False)
    expected = corpus.rgb16_pixels()
    assert np.count_nonzero(expected % 257) > expected.size * 0.9
    np.testing.assert_array_equal(as_uint16(image.rgb), expected)


def test_rgba16_interlaced_png_exact_values() -> None:
    image = read_image(DATA / "rgba16_interlaced.png")
    expected = corpus.rgba16_pixels()
    np.testing.assert_array_equal(as_uint16(image.rgb), expected[:, :, :3])
    assert image.alpha is not None
    np.testing.assert_array_equal(as_uint16(image.alpha), expected[:, :, 3])


def test_la16_png_is_gray_with_alpha() -> None:
    image = read_image(DATA / "la16.png")
    expected = corpus.la16_pixels()
    assert image.grayscale and image.bit_depth == 16
    np.testing.assert_array_equal(as_uint16(image.rgb[:, :, 1]), expected[:, :, 0])
    assert image.alpha is not None
    np.testing.assert_array_equal(as_uint16(image.alpha), expected[:, :, 1])


def test_gray16_png() -> None:
    image = read_image(DATA / "gray16.png")
    assert image.grayscale and image.bit_depth == 16
    for channel in range(3):
        np.testing.assert_array_equal(as_uint16(image.rgb[:, :, channel]), corpus.gray16_pixels())


def test_gray_png_stays_gray_through_a_write(tmp_path: Path) -> None:
    image = read_image(DATA / "gray.png")
    assert image.grayscale and image.bit_depth == 8 and image.mode_in == "L"
    # The model returns three slightly different channels; the output is still gray.
    noisy = np.clip(image.rgb + np.asarray([0.01, 0.0, -0.01], np.float32), 0, 1)
    out = write_image(tmp_path / "out.png", noisy, like=image)
    with Image.open(out) as written:
        assert written.mode == "L"
        np.testing.assert_allclose(np.asarray(written), as_uint8(image.rgb[:, :, 0]), atol=1)


def test_palette_png_with_transparency() -> None:
    image = read_image(DATA / "palette_transparent.png")
    assert image.mode_in == "P" and image.alpha is not None
    np.testing.assert_array_equal(image.alpha[:, :4], 0.0)  # index 0 is transparent
    np.testing.assert_array_equal(image.alpha[:, 4:], 1.0)
    np.testing.assert_array_equal(as_uint8(image.rgb[0, 6]), (0, 0, 255))


def test_rgba_partial_alpha_read_and_written(tmp_path: Path) -> None:
    image = read_image(DATA / "rgba_partial.png")
    expected = (np.arange(120).reshape(10, 12) * 2).astype(np.uint8)
    assert image.alpha is not None
    np.testing.assert_array_equal(as_uint8(image.alpha), expected)
    out = write_image(tmp_path / "out.png", image.rgb, alpha=image.alpha, like=image)
    with Image.open(out) as written:
        assert written.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(written)[:, :, 3], expected)


def test_opaque_alpha_stays_exactly_opaque(tmp_path: Path) -> None:
    image = read_image(DATA / "rgba_opaque.png")
    assert image.alpha is not None and np.all(image.alpha == 1.0)
    up = upscale_alpha(image.alpha, 4)
    assert up.shape == (40, 48) and up.dtype == np.float32 and np.all(up == 1.0)
    big = np.repeat(np.repeat(image.rgb, 4, axis=0), 4, axis=1)
    out = write_image(tmp_path / "out.png", big, alpha=up, like=image)
    with Image.open(out) as written:
        assert np.all(np.asarray(written)[:, :, 3] == 255)


def test_upscale_alpha_is_a_clamped_smooth_resize() -> None:
    alpha = np.zeros((8, 8), np.float32)
    alpha[:, 4:] = 1.0  # a hard edge: bicubic overshoots it, the clamp must catch that
    up = upscale_alpha(alpha, 3)
    assert up.shape == (24, 24)
    assert up.min() >= 0.0 and up.max() <= 1.0
    assert np.all(up[:, :9] == 0.0) and np.all(up[:, -9:] == 1.0)  # far from the edge
    assert 0.0 < up[0, 11] < 1.0 or 0.0 < up[0, 12] < 1.0  # the edge itself is smooth
    np.testing.assert_array_equal(upscale_alpha(np.full((3, 5), 0.25, np.float32), 2), 0.25)


def test_cmyk_jpeg_becomes_srgb_and_says_so() -> None:
    image = read_image(DATA / "cmyk.jpg")
    assert image.mode_in == "CMYK" and not image.grayscale
    assert any("CMYK" in note and "sRGB" in note for note in image.notes)
    assert image.icc_profile is not None
    description = ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(image.icc_profile))
    )
    assert "sRGB" in description
    red, green, blue = as_uint8(image.rgb[4, 4]).astype(int)
    assert red > 200 and green < 60 and blue < 60  # cyan-free, magenta+yellow ink: red


def test_exif_orientation_applied_and_reset(tmp_path: Path) -> None:
    image = read_image(DATA / "exif_rotated.jpg")
    # Stored 24 wide x 16 high with red top-left; orientation 6 turns it clockwise.
    assert image.rgb.shape == (24, 16, 3)
    red, _, blue = as_uint8(image.rgb[2, 13]).astype(int)  # top-right corner now red
    assert red > 200 and blue < 60
    assert as_uint8(image.rgb[2, 2])[2] > 200  # top-left is now the blue quadrant
    with Image.open(DATA / "exif_rotated.jpg") as original:
        from PIL import ImageOps

        np.testing.assert_allclose(
            as_uint8(image.rgb), np.asarray(ImageOps.exif_transpose(original)), atol=1
        )
    assert image.exif is not None
    exif = Image.Exif()
    exif.load(image.exif)
    assert exif[0x0112] == 1

    out = write_image(tmp_path / "out.jpg", image.rgb, like=image)
    with Image.open(out) as written:
        written_exif = written.getexif()
        assert written_exif[0x0112] == 1
        assert written_exif[0x010F] == "SeemoreCam"
        assert written_exif.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"
    again = read_image(out)
    assert again.rgb.shape == (24, 16, 3)  # not rotated a second time


def test_animated_gif_uses_first_frame_and_says_so() -> None:
    image = read_image(DATA / "animated.gif")
    assert image.format == "GIF"
    assert "GIF: first frame of 3 used" in image.notes
    np.testing.assert_array_equal(as_uint8(image.rgb), np.broadcast_to([255, 0, 0], (4, 6, 3)))


def test_icc_profile_and_text_chunks_carried(tmp_path: Path) -> None:
    image = read_image(DATA / "icc_text.png")
    with Image.open(DATA / "icc_text.png") as original:
        srgb = original.info["icc_profile"]
    profile = ImageCms.ImageCmsProfile(io.BytesIO(srgb))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert image.icc_profile == srgb
    assert image.text == {"Title": "Lighthouse", "Comment": "Ünïcödé ✓"}
    for name, depth in (("out8.png", 8), ("out16.png", 16), ("out.jpg", 8), ("out.webp", 8)):
        out = write_image(tmp_path / name, image.rgb, like=image, bit_depth=depth)
        again = read_image(out)
        assert again.icc_profile == srgb, name
        if name.endswith(".png"):
            assert again.text == image.text, name
            assert again.bit_depth == depth


@pytest.mark.parametrize(("name", "size"), [("image.webp", (8, 10)), ("image.bmp", (8, 10))])
def test_webp_and_bmp(name: str, size: tuple[int, int]) -> None:
    image = read_image(DATA / name)
    assert image.rgb.shape == (*size, 3) and image.bit_depth == 8
    np.testing.assert_array_equal(as_uint8(image.rgb[0, 0]), (255, 0, 0))
    np.testing.assert_array_equal(as_uint8(image.rgb[-1, -1]), (255, 255, 255))


def test_tiff16_exact_values() -> None:
    image = read_image(DATA / "rgb16.tif")
    assert image.format == "TIFF" and image.bit_depth == 16
    np.testing.assert_array_equal(as_uint16(image.rgb), corpus.rgb16_pixels())


# --------------------------------------------------------- 16-bit round trips


@pytest.mark.parametrize("name", ["rgb16.png", "rgba16_interlaced.png", "la16.png", "gray16.png"])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_survives_write_and_read_exactly(tmp_path: Path, name: str, suffix: str) -> None:
    image = read_image(DATA / name)
    out = write_image(tmp_path / f"out{suffix}", image.rgb, alpha=image.alpha, like=image)
    again = read_image(out)
    assert again.bit_depth == 16 and again.grayscale == image.grayscale
    np.testing.assert_array_equal(as_uint16(again.rgb), as_uint16(image.rgb))
    if image.alpha is None:
        assert again.alpha is None
    else:
        assert again.alpha is not None
        np.testing.assert_array_equal(as_uint16(again.alpha), as_uint16(image.alpha))


def test_16bit_png_written_here_is_readable_by_pillow(tmp_path: Path) -> None:
    image = read_image(DATA / "rgb16.png")
    out = write_image(tmp_path / "out.png", image.rgb, like=image)
    with Image.open(out) as written:  # Pillow keeps the top 8 bits of 16-bit colour
        assert written.size == (16, 12)
        np.testing.assert_array_equal(np.asarray(written), corpus.rgb16_pixels() >> 8)


def test_16bit_png_carries_exif_icc_and_text(tmp_path: Path) -> None:
    # The metadata chunks are spliced into libpng's output: Pillow must find all of them.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SeemoreCam"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = sio.image_from_array(corpus.rgb16_pixels(), icc_profile=srgb)
    source.exif = exif.tobytes()
    source.text = {"Title": "Lighthouse", "Comment": "Ünïcödé ✓"}
    out = write_image(tmp_path / "out.png", source.rgb, like=source)
    with Image.open(out) as written:
        assert written.info["icc_profile"] == srgb
        assert written.getexif()[0x010F] == "SeemoreCam"
        assert written.getexif()[0x0112] == 1  # the pixels were already turned upright
        assert written.text == source.text
    again = read_image(out)
    assert again.bit_depth == 16 and again.icc_profile == srgb
    np.testing.assert_array_equal(as_uint16(again.rgb), corpus.rgb16_pixels())


def test_16bit_rgb_png_with_a_transparent_colour(tmp_path: Path) -> None:
    pixels = corpus.rgb16_pixels()
    data = (DATA / "rgb16.png").read_bytes()
    key = pixels[3, 5]
    trns = png_chunk(b"tRNS", key.astype(">u2").tobytes())
    path = tmp_path / "keyed.png"
    path.write_bytes(data[:33] + trns + data[33:])  # right after IHDR
    image = read_image(path)
    assert image.bit_depth == 16 and image.alpha is not None
    expected = np.where(np.all(pixels == key, axis=2), 0.0, 1.0)
    np.testing.assert_array_equal(image.alpha, expected)
    np.testing.assert_array_equal(as_uint16(image.rgb), pixels)


def test_16bit_png_without_imagecodecs_reads_at_8_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sio, "_has_imagecodecs", lambda: False)
    image = read_image(DATA / "rgb16.png")
    assert image.bit_depth == 8
    assert any("imagecodecs" in note for note in image.notes)
    np.testing.assert_array_equal(as_uint8(image.rgb), corpus.rgb16_pixels() >> 8)


def test_8bit_request_and_16bit_refusal(tmp_path: Path) -> None:
    image = read_image(DATA / "rgb16.png")
    out = write_image(tmp_path / "small.png", image.rgb, like=image, bit_depth=8)
    assert read_image(out).bit_depth == 8
    assert read_image(write_image(tmp_path / "o.jpg", image.rgb, like=image)).bit_depth == 8
    with pytest.raises(ImageIOError, match="JPEG holds 8 bits"):
        write_image(tmp_path / "x.jpg", image.rgb, bit_depth=16)


def test_unknown_output_format(tmp_path: Path) -> None:
    rgb = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(ImageIOError, match="cannot write the suffix '.xyz'"):
        write_image(tmp_path / "out.xyz", rgb)
    out = write_image(tmp_path / "out.xyz", rgb, format="png")
    with Image.open(out) as written:
        assert written.format == "PNG"


# -------------------------------------------------------------- never lose a file


def test_existing_output_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    rgb = np.full((4, 4, 3), 0.5, np.float32)
    with pytest.raises(OutputExistsError, match="already exists") as caught:
        write_image(target, rgb)
    assert isinstance(caught.value, FileExistsError) and isinstance(caught.value, ImageIOError)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    write_image(target, rgb, overwrite=True)
    assert read_image(target).rgb.shape == (4, 4, 3)


def test_output_never_written_over_the_input(tmp_path: Path) -> None:
    source = copy_to(tmp_path, "café photo.png")
    before = source.read_bytes()
    image = read_image(source)
    for spelling in (source, tmp_path / "." / source.name):
        with pytest.raises(ImageIOError, match="over the input"):
            write_image(spelling, image.rgb, like=image, overwrite=True)
    if hasattr(os, "link"):
        alias = tmp_path / "alias.png"
        os.link(source, alias)  # another name for the same file is still the input
        with pytest.raises(ImageIOError, match="over the input"):
            write_image(alias, image.rgb, like=image, overwrite=True)
    assert source.read_bytes() == before


def test_full_disk_during_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def write_half_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "write", write_half_then_fail)
    with pytest.raises(ImageIOError, match="disk is full") as caught:
        write_image(tmp_path / "out.png", np.zeros((16, 16, 3), np.float32))
    monkeypatch.undo()
    assert "out.png" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_at_fsync_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.tif"
    target.write_bytes(b"old version")

    def fail(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "fsync", fail)
    with pytest.raises(ImageIOError, match="disk is full"):
        write_image(target, np.zeros((8, 8, 3), np.float32), overwrite=True)
    monkeypatch.undo()
    assert target.read_bytes() == b"old version"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_cancelled_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sio.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out.jpg", np.zeros((8, 8, 3), np.float32))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    out = write_image(tmp_path / "out.bmp", np.zeros((3, 3, 3), np.float32))
    mask = os.umask(0)
    os.umask(mask)
    if os.name == "posix":
        assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageIOError, match="does not exist"):
        write_image(tmp_path / "no such dir" / "out.png", np.zeros((2, 2, 3), np.float32))


# -------------------------------------------------------------- helpers and arrays


def test_is_image_path() -> None:
    assert sio.is_image_path("a/b/Photo.JPG") and sio.is_image_path(Path("x.tiff"))
    assert not sio.is_image_path("notes.txt") and not sio.is_image_path(".out.png.abc.part")
    assert ".gif" in sio.SUPPORTED_READ_SUFFIXES
    assert {"PNG", "JPEG", "WEBP", "TIFF", "BMP"} == sio.SUPPORTED_WRITE_FORMATS


def test_image_from_array_and_from_pil() -> None:
    ints = (np.arange(24, dtype=np.uint16).reshape(2, 3, 4) * 2731).astype(np.uint16)
    image = image_from = sio.image_from_array(ints)
    assert isinstance(image_from, LoadedImage)
    assert image.bit_depth == 16 and image.alpha is not None and not image.grayscale
    np.testing.assert_array_equal(as_uint16(image.rgb), ints[:, :, :3])
    gray = sio.image_from_array(np.zeros((5, 7), np.uint8))
    assert gray.grayscale and gray.rgb.shape == (5, 7, 3) and gray.bit_depth == 8

    pil = Image.new("LA", (4, 3), (100, 50))
    loaded = sio.from_pil(pil)
    assert loaded.grayscale and loaded.alpha is not None
    assert np.all(as_uint8(loaded.alpha) == 50) and np.all(as_uint8(loaded.rgb) == 100)
    with pytest.raises(ImageIOError, match="more than the limit"):
        sio.from_pil(Image.new("RGB", (100, 100)), max_pixels=10)


def test_png_orientation_also_resets_xmp(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90° counter-clockwise to display"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<rdf:Description tiff:Orientation="8"/>')
    path = tmp_path / "turned.png"
    corpus.quadrant_image().save(path, exif=exif.tobytes(), pnginfo=info)
    image = read_image(path)
    assert image.rgb.shape == (24, 16, 3)
    assert as_uint8(image.rgb[-2, 2])[0] == 255  # red top-left went to bottom-left
    assert 'tiff:Orientation="1"' in image.text["XML:com.adobe.xmp"]
    out = write_image(tmp_path / "out.png", image.rgb, like=image)
    with Image.open(out) as written:
        assert written.getexif()[0x0112] == 1
        assert written.size == (16, 24)


def test_tiff_8bit_keeps_alpha_and_icc(tmp_path: Path) -> None:
    image = read_image(DATA / "icc_text.png")
    alpha = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    out = write_image(tmp_path / "out.tiff", image.rgb, alpha=alpha, like=image)
    again = read_image(out)
    assert again.format == "TIFF" and again.bit_depth == 8
    assert again.icc_profile == image.icc_profile
    assert again.alpha is not None
    np.testing.assert_array_equal(as_uint8(again.alpha), as_uint8(alpha))
    np.testing.assert_array_equal(as_uint8(again.rgb), as_uint8(image.rgb))


def test_cmyk_output_is_tagged_srgb(tmp_path: Path) -> None:
    image = read_image(DATA / "cmyk.jpg")
    out = write_image(tmp_path / "out.png", image.rgb, like=image)
    with Image.open(out) as written:
        assert written.mode == "RGB"
        assert written.info["icc_profile"] == image.icc_profile


def test_gray_to_jpeg_and_alpha_flattened(tmp_path: Path) -> None:
    gray = read_image(DATA / "gray.png")
    with Image.open(write_image(tmp_path / "gray.jpg", gray.rgb, like=gray)) as written:
        assert written.mode == "L"
    rgba = read_image(DATA / "palette_transparent.png")
    for name in ("flat.jpg", "flat.bmp"):
        out = write_image(tmp_path / name, rgba.rgb, alpha=rgba.alpha, like=rgba)
        flat = read_image(out)  # no alpha in JPEG/BMP: transparent pixels come out white
        assert flat.alpha is None
        assert np.all(as_uint8(flat.rgb[:, :2]) > 240), name
