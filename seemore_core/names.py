"""Names shared by the core, the CLI and the app, in one torch-free module.

The app must decide "is this dropped file a model?" or fill its device menu before torch
is imported, and the CLI builds its option lists before any model loads, so these lists
live here, with no heavy import, instead of being repeated beside each user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# ------------------------------------------------------------------------ checkpoints
PTH_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".ckpt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
CHECKPOINT_SUFFIXES: tuple[str, ...] = (*PTH_SUFFIXES, SAFETENSORS_SUFFIX)

# The paper's variants (SeemoRe-T/B/L); bundled weights exist for some of them.
VARIANT_NAMES: tuple[str, ...] = ("T", "B", "L")
SCALES: tuple[int, ...] = (2, 3, 4)
DEFAULT_VARIANT = "T"
DEFAULT_SCALE = 4


@dataclass(frozen=True)
class BundledName:
    """A family of bundled weights: one network variant trained for one kind of input."""

    name: str  # as the user types it (any case) and as its files and records spell it
    variant: str  # the network it is (one of VARIANT_NAMES)
    purpose: str  # one line: what inputs it is for


# Every bundled family, the default first. Files are `seemore_{name}_x{scale}.safetensors`
# and records `{name}_x{scale}` in eval.json, spelled exactly as `name` here.
BUNDLED: tuple[BundledName, ...] = (
    BundledName("T", "T", "Clean: sharp sources"),
    BundledName("T-photo", "T", "Photo: JPEG, noise, blur"),
)
BUNDLED_NAMES: tuple[str, ...] = tuple(b.name for b in BUNDLED)
# The family for real photos, suggested (never switched to silently) when an input was
# stored lossily: JPEG's 8x8 blocks come out of the clean model sharpened into contours.
PHOTO_MODEL = "T-photo"
LOSSY_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "HEIF", "AVIF"})
# Names a --model value may be: the bundled families, and the paper's other variants
# (no weights bundled for them; naming one says so rather than "no such file").
MODEL_NAMES: tuple[str, ...] = (
    *BUNDLED_NAMES,
    *(v for v in VARIANT_NAMES if v not in BUNDLED_NAMES),
)

# --------------------------------------------------------------------------- engine
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")

# Named points inside residual group `body.{i}`. rme_out and sme_in are the same
# tensor; both names exist because the paper's Figure 6 talks about each block's own
# input and output. expert_lowrank is per expert ("expert_lowrank/{j}").
FEATURE_POINTS: tuple[str, ...] = (
    "rme_in",
    "more_out",
    "rme_out",
    "sme_in",
    "see_out",
    "sme_out",
    "expert_lowrank",
)

# --------------------------------------------------------------------------- images
# Formats read through Pillow (recognised by content; these are the names a folder scan
# takes as images), then the phone formats read through their own decoders.
PILLOW_READ_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".tif", ".tiff", ".bmp"}
    | {".dib", ".gif"}
)
PHONE_READ_SUFFIXES: frozenset[str] = frozenset({".heic", ".heif", ".hif", ".avif", ".jxl"})
READ_SUFFIXES: frozenset[str] = PILLOW_READ_SUFFIXES | PHONE_READ_SUFFIXES

# Canonical output format for each accepted spelling (a format name or a file suffix).
WRITE_FORMATS: Mapping[str, str] = {
    "png": "PNG",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "bmp": "BMP",
}
# Other suffixes an output file may carry for a writable format.
WRITE_SUFFIX_ALIASES: Mapping[str, str] = {
    **WRITE_FORMATS,
    "jpe": "JPEG",
    "jfif": "JPEG",
    "dib": "BMP",
    "apng": "PNG",
}
# The suffix given to an output named after its input.
FORMAT_SUFFIX: Mapping[str, str] = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "WEBP": ".webp",
    "TIFF": ".tif",
    "BMP": ".bmp",
}
# Format names offered to the user (CLI --format, the app's export menu), short first.
FORMAT_CHOICES: tuple[str, ...] = tuple(WRITE_FORMATS)
EXPORT_FORMATS: tuple[str, ...] = ("png", "jpg", "webp", "tif", "bmp")
DEFAULT_FORMAT = "PNG"
# Formats that hold 16 bits per channel, and those that hold a quality setting.
SIXTEEN_BIT_FORMATS: frozenset[str] = frozenset({"PNG", "TIFF"})
QUALITY_FORMATS: frozenset[str] = frozenset({"JPEG", "WEBP"})
# PNG's deflate level (seemore_core/png.py: libdeflate, zlib's scale): 0 stores (fast,
# big), 9 squeezes hardest (slow, small); the pixels are the same. 6 is zlib's and
# Pillow's default (with zlib, level 9 took ten times as long for a 6% smaller photo).
PNG_LEVELS: tuple[int, int] = (0, 9)
DEFAULT_PNG_LEVEL = 6
# JPEG and lossy WebP quality, 1-100 (WebP at 100 is lossless).
QUALITY_RANGE: tuple[int, int] = (1, 100)
DEFAULT_QUALITY = 95
# Output size by target: which side of the output a number of pixels is for.
TARGET_SIDES: tuple[str, ...] = ("width", "height", "longest")
# How pickers offer them, in the order they list them.
TARGET_SIDE_LABELS: dict[str, str] = {
    "longest": "Longest side…",
    "width": "Width…",
    "height": "Height…",
}


def is_checkpoint_path(p: str | Path) -> bool:
    """Whether a name looks like a weights file, by its suffix alone."""
    return Path(p).suffix.lower() in CHECKPOINT_SUFFIXES


def is_image_path(p: str | Path) -> bool:
    """Whether a name looks like a readable image, by its suffix alone (no disk access).

    For folder scans: hidden files are skipped too, which also skips the atomic writer's
    temporary files (``.name.XXXX.part``) should a scan race with a write.
    """
    path = Path(p)
    return not path.name.startswith(".") and path.suffix.lower() in READ_SUFFIXES


def format_of_suffix(p: str | Path) -> str | None:
    """The output format a file name asks for (``x.JPG`` -> "JPEG"), or None."""
    return WRITE_SUFFIX_ALIASES.get(Path(p).suffix.lower().lstrip("."))


def dialog_patterns(suffixes: frozenset[str] | tuple[str, ...]) -> str:
    """Suffixes as a file dialog's filter ("*.bin *.ckpt ..."), e.g. for READ_SUFFIXES."""
    return " ".join(f"*{s}" for s in sorted(suffixes))


def model_name(text: str) -> str | None:
    """The canonical spelling of a model name ("t-photo" -> "T-photo"), or None."""
    folded = text.strip().casefold()
    return next((n for n in MODEL_NAMES if n.casefold() == folded), None)


def bundled_info(name: str) -> BundledName | None:
    """The bundled family a name (any case) stands for, or None."""
    canonical = model_name(name)
    return next((b for b in BUNDLED if b.name == canonical), None)


def model_variant(name: str) -> str:
    """The network variant behind a model name: "T-photo" is a SeemoRe-T."""
    info = bundled_info(name)
    return info.variant if info is not None else (model_name(name) or name).upper()


def bundled_file_name(name: str, scale: int) -> str:
    """`seemore_{NAME}_x{scale}.safetensors` with the name's canonical spelling."""
    return f"seemore_{model_name(name) or name}_x{scale}{SAFETENSORS_SUFFIX}"
