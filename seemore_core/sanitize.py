"""The image decoder's quirks, in our words: warnings become notes, oversized metadata is
dropped instead of rejecting the picture.

Pillow warns through Python's `warnings` (printed with a path inside the virtual
environment) about damaged EXIF and the like, and refuses a whole PNG when one of its
compressed metadata chunks (a colour profile, a text note) inflates past 1 MB, a guard
against zlib bombs. The pixels are fine in both cases, so `decode_with_notes` reads the
image anyway: it removes such chunks before Pillow sees them, and turns each warning
into a note on the image (printed by the CLI, shown by the app).
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .png import PNG_SIGNATURE

# Pillow's limits (PngImagePlugin.MAX_TEXT_CHUNK and MAX_TEXT_MEMORY), read at call time
# so a program that raises them is followed.
_DEFAULT_CHUNK_LIMIT = 1 << 20

T = TypeVar("T")


def _limits() -> tuple[int, int]:
    try:
        from PIL import PngImagePlugin

        return int(PngImagePlugin.MAX_TEXT_CHUNK), int(PngImagePlugin.MAX_TEXT_MEMORY)
    except (ImportError, AttributeError, TypeError, ValueError):
        return _DEFAULT_CHUNK_LIMIT, 64 * _DEFAULT_CHUNK_LIMIT


@dataclass(frozen=True)
class _Chunk:
    kind: bytes
    start: int  # offset of its length field
    end: int  # offset just past its CRC
    body: bytes


def _chunks(data: bytes) -> list[_Chunk] | None:
    """The PNG's chunks, or None if their framing is damaged (the decoder says how)."""
    out: list[_Chunk] = []
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        end = at + 12 + length
        if end > len(data):
            return None
        kind = data[at + 4 : at + 8]
        out.append(_Chunk(kind, at, end, data[at + 8 : at + 8 + length]))
        at = end
        if kind == b"IEND":
            break
    return out


def _compressed_payload(chunk: _Chunk) -> bytes | None:
    """The zlib stream inside an iCCP, zTXt or compressed iTXt chunk, else None."""
    body = chunk.body
    if chunk.kind in (b"iCCP", b"zTXt"):
        name_end = body.find(b"\0")
        return None if name_end < 0 else body[name_end + 2 :]
    if chunk.kind == b"iTXt":
        name_end = body.find(b"\0")
        if name_end < 0 or name_end + 2 >= len(body) or body[name_end + 1] != 1:
            return None  # uncompressed text: Pillow reads it as it is
        rest = body[name_end + 3 :]
        lang_end = rest.find(b"\0")
        key_end = rest.find(b"\0", lang_end + 1) if lang_end >= 0 else -1
        return None if key_end < 0 else rest[key_end + 1 :]
    return None


def _inflated_size(payload: bytes, limit: int) -> int:
    """Bytes the stream inflates to, counting no further than ``limit`` + 1 (so a
    bomb costs at most ``limit`` bytes of memory to measure)."""
    try:
        d = zlib.decompressobj()
        size = len(d.decompress(payload, limit + 1))
    except zlib.error:
        return 0  # damaged: Pillow reports or skips it on its own terms
    return size


_WHAT = {
    b"iCCP": "its embedded colour profile",
    b"zTXt": "a compressed text note",
    b"iTXt": "a compressed text note",
}


def defuse_png(data: bytes) -> tuple[bytes, list[str]]:
    """``data`` without the metadata chunks Pillow would refuse the whole image for,
    and a note for each one dropped. Anything but a PNG is returned as it is."""
    if not data.startswith(PNG_SIGNATURE):
        return data, []
    chunks = _chunks(data)
    if chunks is None:
        return data, []
    per_chunk, total_limit = _limits()
    drop: list[_Chunk] = []
    notes: list[str] = []
    total = 0
    for chunk in chunks:
        payload = _compressed_payload(chunk)
        if payload is None:
            continue
        size = _inflated_size(payload, per_chunk)
        what = _WHAT[chunk.kind]
        if size > per_chunk:
            drop.append(chunk)
            notes.append(
                f"{what} expands to more than {per_chunk // 2**20} MB (a guard against "
                "compression bombs) and was left out"
                + ("; colours are read as sRGB" if chunk.kind == b"iCCP" else "")
            )
        elif chunk.kind != b"iCCP":
            total += size
            if total > total_limit:
                drop.append(chunk)
                notes.append(f"{what} was left out: the text notes exceed {total_limit >> 20} MB")
    if not drop:
        return data, []
    kept: list[bytes] = [data[: len(PNG_SIGNATURE)]]
    dropped = {c.start for c in drop}
    kept += (data[c.start : c.end] for c in chunks if c.start not in dropped)
    kept.append(data[chunks[-1].end :])
    return b"".join(kept), notes


# ------------------------------------------------------------------------- warnings

# Pillow's warning texts, by a phrase in them, and what we say instead.
_OUR_WORDS = (
    (
        ("corrupt exif", "tag data larger", "tag offset", "exif", "tag "),
        "the EXIF data is damaged; the readable part was kept",
    ),
    (("truncated",), "the file is slightly truncated; what could be decoded was kept"),
    (("palette",), "the palette is damaged; colours may be off"),
    (("icc", "profile"), "the colour profile is damaged and was ignored; colours are read as sRGB"),
    (("apng",), "the animation data is damaged; the first frame was used"),
    (("xmp",), "the XMP metadata could not be read and was left out"),
)


def in_our_words(message: str) -> str:
    """A note for one of the decoder's warnings."""
    low = message.lower()
    for phrases, note in _OUR_WORDS:
        if any(p in low for p in phrases):
            return note
    first = message.strip().splitlines()[0] if message.strip() else "unspecified"
    return f"the decoder worked around a problem in the file ({first[:120]})"


def decode_with_notes(decode: Callable[..., T], data: bytes, *args: Any, **kwargs: Any) -> T:
    """``decode(data, *args, **kwargs)`` with oversized PNG metadata dropped first and
    every warning raised meanwhile turned into a note on the result's ``notes`` list
    (the warnings are not printed). Warning filters are process-wide: two threads
    decoding at once may each see the other's warnings, never lose their own image."""
    data, notes = defuse_png(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = decode(data, *args, **kwargs)
    for w in caught:
        note = in_our_words(str(w.message))
        if note not in notes:
            notes.append(note)
    target = getattr(result, "notes", None)
    if isinstance(target, list):
        target.extend(n for n in notes if n not in target)
    return result
