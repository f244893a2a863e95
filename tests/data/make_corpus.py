"""Make the small corpus of odd and broken images that tests/data/test_imageio.py reads.

Run once from anywhere (``python tests/data/make_corpus.py``); the output is committed, so
the tests do not depend on how a given Pillow version encodes. The pixel values are fixed
formulas that the tests recompute. The 16-bit colour PNGs come from imagecodecs (libpng),
except the interlaced one: neither libpng through imagecodecs nor Pillow writes Adam7, so
`png16_interlaced` below does, straight from the specification, using all five row
filters. Being a separate writer, it also checks the reader against more than libpng's
own output.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

HERE = Path(__file__).resolve().parent
ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2))
ADAM7 += ((1, 0, 2, 1),)


def rgb16_pixels() -> np.ndarray:
    """12x16 RGB, 16-bit, almost no value a multiple of 257 (so 8 bits cannot hold it)."""
    y, x = np.mgrid[0:12, 0:16]
    return np.stack([x * 4099 + y * 7 + 1, y * 5003 + 3, (x * y * 311 + 12345) % 65536], -1).astype(
        np.uint16
    )


def rgba16_pixels() -> np.ndarray:
    """11x13 RGBA, 16-bit, with partial alpha."""
    y, x = np.mgrid[0:11, 0:13]
    return np.stack(
        [x * 5001 + 2, y * 5999 + 1, (x + y) * 2741 + 9, 65535 - x * 4001 - y * 17], -1
    ).astype(np.uint16)


def la16_pixels() -> np.ndarray:
    y, x = np.mgrid[0:9, 0:10]
    return np.stack([x * 6007 + y * 3 + 5, 60001 - y * 5003], -1).astype(np.uint16)


def gray16_pixels() -> np.ndarray:
    y, x = np.mgrid[0:10, 0:14]
    return (x * 4603 + y * 11 + 2).astype(np.uint16)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _filter(raw: bytes, prior: bytes, kind: int, bpp: int) -> bytes:
    """The PNG row filters, byte by byte, straight from the specification."""
    out = bytearray()
    for i, byte in enumerate(raw):
        a = raw[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((byte - predictor) % 256)
    return bytes([kind]) + bytes(out)


def png16_interlaced(pixels: np.ndarray) -> bytes:
    """An Adam7 16-bit PNG; row y of each pass uses filter y % 5, so all five are used."""
    height, width, channels = pixels.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bpp = 2 * channels
    stream = bytearray()
    for y0, x0, dy, dx in ADAM7:
        sub = pixels[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        prior = bytes(sub.shape[1] * bpp)
        for y, row in enumerate(sub):
            raw = row.astype(">u2").tobytes()
            stream += _filter(raw, prior, y % 5, bpp)
            prior = raw
    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(stream), 9))
        + _chunk(b"IEND", b"")
    )


def quadrant_image(size: tuple[int, int] = (24, 16)) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: shows rotation."""
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    pixels[: height // 2, width // 2 :] = (0, 255, 0)
    pixels[height // 2 :, : width // 2] = (0, 0, 255)
    pixels[height // 2 :, width // 2 :] = (255, 255, 255)
    return Image.fromarray(pixels)


def png_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """10000x10000 one-bit PNG: 100 MP (over Pillow's 89.5 MP default), about 12 KB."""
    width = height = 10_000
    row = b"\0" + bytes((width + 7) // 8)
    deflate = zlib.compressobj(9)
    data = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def main() -> None:
    files: dict[str, bytes] = {}
    files["empty.png"] = b""
    files["text.png"] = b"This is a text file that someone named like an image.\n"

    rgb = quadrant_image()
    whole_png = png_bytes(rgb)
    # Cut inside IDAT: the header parses, the pixel data ends early.
    files["truncated.png"] = whole_png[: len(whole_png) - 30]
    whole_jpeg = jpeg_bytes(quadrant_image((64, 48)))
    files["truncated.jpg"] = whole_jpeg[: len(whole_jpeg) // 2]
    files["jpeg_named.png"] = jpeg_bytes(rgb)
    files["café photo.png"] = whole_png

    import imagecodecs

    files["rgb16.png"] = bytes(imagecodecs.png_encode(rgb16_pixels()))
    files["rgba16_interlaced.png"] = png16_interlaced(rgba16_pixels())
    files["la16.png"] = bytes(imagecodecs.png_encode(la16_pixels()))
    files["gray16.png"] = png_bytes(Image.fromarray(gray16_pixels()))  # Pillow: mode I;16
    files["gray.png"] = png_bytes(
        Image.fromarray((np.arange(96).reshape(8, 12) * 2).astype(np.uint8))
    )

    palette = Image.new("P", (8, 6), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    palette.paste(1, (4, 0, 8, 6))  # right half index 1 (blue); left half index 0 (red)
    files["palette_transparent.png"] = png_bytes(palette, transparency=0)

    alpha = (np.arange(10 * 12).reshape(10, 12) * 2).astype(np.uint8)
    rgba = np.dstack([np.asarray(quadrant_image((12, 10))), alpha])
    files["rgba_partial.png"] = png_bytes(Image.fromarray(rgba))
    opaque = np.dstack([np.asarray(quadrant_image((12, 10))), np.full((10, 12), 255, np.uint8)])
    files["rgba_opaque.png"] = png_bytes(Image.fromarray(opaque))

    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red ink mix
    files["cmyk.jpg"] = jpeg_bytes(cmyk)

    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x010F] = "SeemoreCam"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"  # DateTimeOriginal
    files["exif_rotated.jpg"] = jpeg_bytes(quadrant_image(), exif=exif.tobytes())

    frames = [Image.new("P", (6, 4), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["animated.gif"] = gif.getvalue()

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Lighthouse")
    info.add_itxt("Comment", "Ünïcödé ✓", lang="", tkey="")
    files["icc_text.png"] = png_bytes(quadrant_image((8, 6)), icc_profile=srgb, pnginfo=info)

    webp = io.BytesIO()
    quadrant_image((10, 8)).save(webp, "WEBP", lossless=True)
    files["image.webp"] = webp.getvalue()

    import tifffile

    tif = io.BytesIO()
    tifffile.imwrite(tif, rgb16_pixels(), photometric="rgb", compression="zlib", metadata=None)
    files["rgb16.tif"] = tif.getvalue()

    bmp = io.BytesIO()
    quadrant_image((10, 8)).save(bmp, "BMP")
    files["image.bmp"] = bmp.getvalue()

    files["bomb.png"] = bomb_png()

    for name, data in files.items():
        (HERE / name).write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total:,} bytes, to {HERE}")


if __name__ == "__main__":
    main()
