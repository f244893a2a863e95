"""Images whose pixels are fine but whose metadata is hostile or damaged.

A compressed PNG chunk (colour profile, text note) that inflates past Pillow's 1 MB
limit made Pillow refuse the whole image; damaged EXIF printed Pillow's raw warning with
a path inside the virtual environment. Both now read, with a note in our own words.
Every file is built here, a few KB each.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from seemore_core.imageio import read_image
from seemore_core.sanitize import defuse_png, in_our_words


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(extra: list[bytes], icc: bytes | None = None) -> bytes:
    """A 16x16 PNG of a gradient with ``extra`` chunks right after its IHDR."""
    ramp = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG", icc_profile=icc)
    data = buf.getvalue()
    after_ihdr = 8 + 12 + 13
    return data[:after_ihdr] + b"".join(extra) + data[after_ihdr:]


def _inflating_to(n: int) -> bytes:
    return zlib.compress(b"\0" * n, 9)


BOMB = _inflating_to(8 << 20)  # 8 MB of zeros in about 8 KB
HOSTILE_CHUNKS = {
    "iCCP": _chunk(b"iCCP", b"ICC Profile\0\0" + BOMB),
    "zTXt": _chunk(b"zTXt", b"Comment\0\0" + BOMB),
    "iTXt": _chunk(b"iTXt", b"Comment\0\1\0en\0Comment\0" + BOMB),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_CHUNKS))
def test_a_chunk_inflating_past_the_limit_is_dropped_with_a_note(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.png"
    path.write_bytes(_png([HOSTILE_CHUNKS[kind]]))
    plain = tmp_path / "plain.png"
    plain.write_bytes(_png([]))
    img = read_image(path)
    assert np.array_equal(img.rgb, read_image(plain).rgb)  # the pixels are all there
    assert len(img.notes) == 1 and "left out" in img.notes[0] and "1 MB" in img.notes[0]
    assert ("colour profile" in img.notes[0]) == (kind == "iCCP")
    assert img.icc_profile is None and "Comment" not in img.text


def test_chunks_within_the_limit_are_kept(tmp_path: Path) -> None:
    note = "a long note " * 60_000  # 720 KB of text, compressed to a few KB
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    chunk = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(note.encode(), 9))
    path = tmp_path / "kept.png"
    path.write_bytes(_png([chunk], icc=icc))
    assert defuse_png(path.read_bytes())[1] == []
    img = read_image(path)
    assert img.notes == []
    assert img.text["Comment"] == note and img.icc_profile == icc


def test_damaged_exif_is_a_note_not_a_warning(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 100  # ImageDescription, stored out of line
    exif[0x0112] = 1
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "green").save(buf, "JPEG", exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    # Make the description claim 100,000 bytes: Pillow warns and skips the tag.
    order = "<" if data[data.find(b"Exif\0\0") + 6 :].startswith(b"II") else ">"
    tag = data.find(struct.pack(f"{order}HH", 0x010E, 2))  # the tag, type ASCII
    assert tag > 0
    data[tag + 4 : tag + 8] = struct.pack(f"{order}I", 100_000)
    path = tmp_path / "badexif.jpg"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        img = read_image(path)
    assert escaped == []
    assert img.notes == ["the EXIF data is damaged; the readable part was kept"]
    assert img.rgb.shape == (16, 16, 3)


def test_damaged_framing_is_left_to_the_decoder() -> None:
    data = _png([HOSTILE_CHUNKS["zTXt"]])
    cut = data[: len(data) - 40]  # the last chunks cut short
    assert defuse_png(cut)[0] is not None
    assert defuse_png(b"not a png") == (b"not a png", [])


def test_unknown_warnings_keep_their_gist_without_paths() -> None:
    note = in_our_words("Image appears to be a malformed MPO file")
    assert note.startswith("the decoder worked around a problem") and "site-packages" not in note
