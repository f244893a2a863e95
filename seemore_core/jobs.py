"""The upscale use case, shared by the command line and the app: plan, then run.

`plan(request, scale, model)` turns what was asked (inputs, an output file or folder, a
format, a name pattern) into items, one per input, and owns every naming rule: which
files a folder holds, what each output is called, two inputs that would write one
output, an output that is its own input, an output that exists already. Mistakes in the
request itself (a file name for several inputs, a format that contradicts the name) are
`UsageError`s, found before any model is loaded.

`run(plan, engine, progress)` reads, upscales and writes each item and returns one
`ItemResult` per item: a bad file fails alone and the batch goes on; the engine's
warnings and the reader's notes travel in the result. Both front ends print or show the
results' own lines, so the same inputs give the same files and the same messages from
either. `ModelRef` and `load_model` are the one way a model name becomes a network.

An output size may be a target (`seemore_core.target.TargetSize`: a width, height or
longest side) instead of a scale: each item then runs the smallest of the model's scales
that reaches it (`model_scales`), with an engine from the caller's ``engine_at(scale)``,
and is shrunk to the exact size with Lanczos before it is written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import Cancelled, ModelNotFound, OutputExistsError, SeemoreError, UsageError
from .names import (
    BUNDLED_NAMES,
    DEFAULT_FORMAT,
    DEFAULT_PNG_LEVEL,
    DEFAULT_QUALITY,
    DEFAULT_SCALE,
    DEFAULT_VARIANT,
    FORMAT_SUFFIX,
    PNG_LEVELS,
    QUALITY_FORMATS,
    READ_SUFFIXES,
    SIXTEEN_BIT_FORMATS,
    WRITE_FORMATS,
    WRITE_SUFFIX_ALIASES,
    is_image_path,
    model_name,
)
from .paths import output_problem, resolved
from .progress import Progress, ProgressInfo

if TYPE_CHECKING:
    from .arch import SeemoRe
    from .engine import Engine, RunReport
    from .target import TargetSize

# What builds the engine for a scale, when a target size picks the scale per item.
EngineAt = Callable[[int], "Engine"]

# Pillow's own default decompression-bomb limit (also imageio.DEFAULT_MAX_PIXELS, which
# this module does not import so that planning stays free of numpy and Pillow).
DEFAULT_MAX_PIXELS = 89_478_485
DEFAULT_PATTERN = "{stem}"

# ------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class ModelRef:
    """A model as a user names it: a checkpoint file, or a bundled name at a scale.

    Bundled names (names.BUNDLED_NAMES, any case: "t-photo" is "T-photo") come first;
    a name that is also a file on disk is the file. ``scale`` is the scale asked for:
    None means the file's own, or the default scale for a bundled name. A checkpoint
    file has one scale; asking another is a mistake.
    """

    name: str = DEFAULT_VARIANT
    scale: int | None = None

    @property
    def is_file(self) -> bool:
        """A name that exists on disk is a file; anything else must be a model name."""
        return model_name(self.name) is None or Path(self.name).exists()

    @property
    def stem(self) -> str:
        """What `{model}` in a name pattern becomes: the model name or the file's stem."""
        if self.is_file:
            return Path(self.name).stem
        return model_name(self.name) or self.name

    def label(self, scale: int) -> str:
        if self.is_file:
            return f"{Path(self.name).name} (x{scale})"
        return f"SeemoRe-{self.stem} x{scale}"


def resolve(ref: ModelRef) -> Path:
    """The weights file a reference names: itself, or the bundled file of the name."""
    from .models import bundled_models, bundled_path

    path = Path(ref.name)
    if path.exists():
        return path
    name = model_name(ref.name)
    if name is None:
        raise ModelNotFound(
            f"model {ref.name!r}: no such file, and not a bundled model name "
            f"(bundled names: {', '.join(BUNDLED_NAMES)})"
        )
    scale = DEFAULT_SCALE if ref.scale is None else ref.scale
    bundled = bundled_path(name, scale)
    if not bundled.is_file():
        have = ", ".join(f"{v} x{s}" for v, s, _ in bundled_models()) or "none"
        raise ModelNotFound(
            f"no bundled SeemoRe-{name} x{scale} weights (bundled: {have}); "
            "use a checkpoint file instead",
            option="model",
        )
    return bundled


def model_scales(ref: ModelRef) -> tuple[int, ...]:
    """The scales a model exists at: a checkpoint file's one, or a bundled name's files."""
    if ref.is_file:
        from .checkpoint import read_checkpoint

        return (read_checkpoint(ref.name).config.scale,)
    from .models import bundled_models

    name = model_name(ref.name)
    scales = tuple(s for n, s, _ in bundled_models() if n == name)
    if not scales:
        resolve(ref)  # raises ModelNotFound with the list of what is bundled
    return scales


def load_model(ref: ModelRef) -> SeemoRe:
    """The network a reference names; a scale that contradicts a checkpoint is refused."""
    from .checkpoint import load_model as load_file

    path = resolve(ref)
    model = load_file(path)
    if ref.scale is not None and ref.scale != model.scale:
        raise UsageError(
            f"scale x{ref.scale} conflicts with {path}, which is a x{model.scale} checkpoint",
            option="scale",
        )
    return model


# ------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class UpscaleRequest:
    inputs: Sequence[Path]  # image files and folders
    output: Path  # a file (one input) or a folder
    # True: `output` is a folder (made if needed); None: a folder when there are several
    # inputs, a folder among them, `output` is a folder, or its name ends in a separator.
    output_is_folder: bool | None = None
    recursive: bool = False
    format: str | None = None  # "png", "jpg", ...; None: the output's suffix, else PNG
    quality: int | None = None  # JPEG/WebP only; None: DEFAULT_QUALITY
    png_level: int | None = None  # PNG only, 0-9; None: DEFAULT_PNG_LEVEL
    # The output's size as a width, height or longest side; None: the scale's own size.
    target: TargetSize | None = None
    # 8 or 16 bits per channel (16: PNG and TIFF only); None: the input's where it fits.
    bit_depth: int | None = None
    pattern: str = DEFAULT_PATTERN  # outputs in a folder: {stem} {scale} {model} {index}
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # None: no limit
    tile: int | None = None  # the engine's tile option


@dataclass(frozen=True)
class PlanItem:
    index: int  # 1-based position in the plan
    source: Path
    target: Path
    skip: str | None = None  # why it will not be written (its output exists)
    error: str | None = None  # why it cannot be done (its output is its input)
    # An earlier input with the same output: this one fails if that one is written
    # (or its output kept), and runs if that one fails, so no file is written twice.
    collides_with: Path | None = None


@dataclass(frozen=True)
class Plan:
    request: UpscaleRequest
    items: list[PlanItem]
    format: str  # canonical: PNG, JPEG, WEBP, TIFF or BMP
    quality: int
    folder: Path | None  # the output folder, made when the run writes into it
    png_level: int = DEFAULT_PNG_LEVEL
    scale: int = 0  # the scale planned for; with a target, each item picks from `scales`
    scales: tuple[int, ...] = ()  # the model's scales, smallest first


def output_name(pattern: str, stem: str, scale: int, model: str, index: int) -> str:
    """Expand a name pattern; raise UsageError with a readable reason."""
    try:
        name = pattern.format(stem=stem, scale=scale, model=model, index=index)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise UsageError(
            f"bad name pattern {pattern!r} ({e}); use {{stem}}, {{scale}}, {{model}}, {{index}}"
        ) from None
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise UsageError(f"name pattern {pattern!r} gives an unusable file name {name!r}")
    return name


def _is_folder_output(request: UpscaleRequest) -> bool:
    if request.output_is_folder is not None:
        return request.output_is_folder
    several = len(request.inputs) > 1 or any(Path(i).is_dir() for i in request.inputs)
    return several or request.output.is_dir() or str(request.output).endswith(("/", os.sep))


def _canonical_format(name: str) -> str:
    key = name.lower().lstrip(".")
    if key in WRITE_FORMATS:
        return WRITE_FORMATS[key]
    if key.upper() in FORMAT_SUFFIX:
        return key.upper()
    raise UsageError(f"cannot write format {name!r}: choose one of {', '.join(WRITE_FORMATS)}")


def check(request: UpscaleRequest) -> tuple[str, bool]:
    """The output format and whether the output is a folder; UsageError for a bad request.

    Needs no model, so a front end can call it before loading one.
    """
    if not request.inputs:
        raise UsageError("no inputs given")
    out = request.output
    chosen = _canonical_format(request.format) if request.format else None
    folder = _is_folder_output(request)
    several = len(request.inputs) > 1 or any(Path(i).is_dir() for i in request.inputs)
    if folder:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a folder (several inputs need a folder)")
        suffix = out.suffix.lower()
        if several and not out.exists() and (suffix in READ_SUFFIXES or suffix == ".gif"):
            raise UsageError(
                f"{out} looks like a file name, but several inputs need an output folder; "
                f"name a folder (end it with {os.sep} to make it)"
            )
        fmt = chosen or DEFAULT_FORMAT
    else:
        suffix = out.suffix.lower().lstrip(".")
        named = WRITE_SUFFIX_ALIASES.get(suffix)
        if suffix in ("gif", *(s.lstrip(".") for s in READ_SUFFIXES)) and named is None:
            writable = ", ".join(FORMAT_SUFFIX.values())
            raise UsageError(f"{out}: .{suffix} cannot be written; use {writable}")
        if chosen and named and chosen != named:
            raise UsageError(
                f"the format {request.format} conflicts with the output name {out}",
                option="format",
            )
        # A name without an image suffix ("result", "x.out") gets PNG, as folders do.
        fmt = chosen or named or DEFAULT_FORMAT
    if request.quality is not None and fmt not in QUALITY_FORMATS:
        raise UsageError(
            f"a quality setting is for JPEG and WebP output, and this output is {fmt}",
            option="quality",
        )
    if request.png_level is not None:
        lo, hi = PNG_LEVELS
        if fmt != "PNG":
            raise UsageError(
                f"a compression level is for PNG output, and this output is {fmt}",
                option="png_level",
            )
        if not lo <= request.png_level <= hi:
            raise UsageError(
                f"the PNG compression level must be {lo} to {hi}, not {request.png_level}",
                option="png_level",
            )
    if request.bit_depth is not None:
        if request.bit_depth not in (8, 16):
            raise UsageError(
                f"the bit depth must be 8 or 16, not {request.bit_depth}", option="bit_depth"
            )
        if request.bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
            raise UsageError(
                f"16 bits per channel are for PNG and TIFF output, and this output is {fmt}",
                option="bit_depth",
            )
    if request.target is not None and folder and "{scale}" in request.pattern.replace(" ", ""):
        # Each item picks its own scale from its size, after the names are fixed.
        raise UsageError(
            f"the name pattern {request.pattern!r} uses {{scale}}, which a target size "
            "leaves open (each image gets the scale its size needs); use {stem}, {model}, "
            "{index}",
        )
    return fmt, folder


def collect_inputs(
    inputs: Sequence[Path], recursive: bool, exclude: Path | None = None
) -> list[Path]:
    """The images to upscale: files as given, and folder entries named like images.

    Entries named like images that cannot be read (a FIFO, a broken link, a folder when
    not recursing) are kept, so that the run reports each of them instead of skipping it
    silently. When recursing, folders are descended into, except ``exclude`` (the output
    folder: a rerun must not take the previous run's outputs as inputs).
    """
    skip = resolved(exclude) if exclude is not None else None
    found: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.is_dir():
            found.append(p)  # a missing or bad file is reported by the run
        elif not recursive:
            found += sorted(q for q in p.iterdir() if is_image_path(q))
        else:
            batch: list[Path] = []
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if resolved(Path(root, d)) != skip]
                batch += (Path(root, n) for n in names if is_image_path(n))
            found += sorted(batch)
    return found


def _same_file(a: Path, b: Path) -> bool:
    with suppress(OSError):  # an unreadable input is reported when it is read
        return resolved(a) == resolved(b) or (a.exists() and b.exists() and os.path.samefile(a, b))
    return False


def plan(
    request: UpscaleRequest,
    scale: int,
    model: str = DEFAULT_VARIANT,
    scales: Sequence[int] = (),
) -> Plan:
    """One item per input image, each with its output and what stands in its way.

    ``scale`` and ``model`` fill `{scale}` and `{model}` in the name pattern. ``scales``
    are the model's scales a target size chooses from (default: ``scale`` alone).
    """
    fmt, is_folder = check(request)
    quality = DEFAULT_QUALITY if request.quality is None else request.quality
    png_level = DEFAULT_PNG_LEVEL if request.png_level is None else request.png_level
    folder = request.output if is_folder else None
    files = collect_inputs(request.inputs, request.recursive, exclude=folder)
    if not files:
        raise UsageError("no image files found in the given input(s)")
    items: list[PlanItem] = []
    taken: dict[Path, Path] = {}  # resolved output -> the input that writes it
    for index, src in enumerate(files, 1):
        if folder is not None:
            stem = output_name(request.pattern, src.stem, scale, model, index)
            dst = folder / f"{stem}{FORMAT_SUFFIX[fmt]}"
        else:
            dst = request.output
        key = resolved(dst)  # seemore_core.paths: a symlink loop is reported on writing
        skip = error = None
        if (bad := output_problem(dst)) is not None:  # seemore_core.paths
            error = f"'{dst}': {bad}"
        elif _same_file(dst, src):
            error = f"'{src}': refusing to write the output {dst} over its input"
        elif dst.exists() and not request.overwrite:
            skip = f"skipped {src}: {dst} exists"
        items.append(PlanItem(index, src, dst, skip, error, taken.get(key)))
        taken.setdefault(key, src)
    return Plan(
        request,
        items,
        fmt,
        quality,
        folder,
        png_level,
        scale,
        tuple(sorted(set(scales or [scale]))),
    )


# -------------------------------------------------------------------------------- run

Status = Literal["done", "skipped", "failed"]


@dataclass
class ItemResult:
    item: PlanItem
    status: Status
    message: str  # one line for the user, naming the file
    notes: list[str] = field(default_factory=list)  # the reader's notes, engine warnings
    report: RunReport | None = None
    error: SeemoreError | None = None  # what failed, for a front end's own hints

    @property
    def line(self) -> str:
        """The one line both front ends show for this item."""
        if not self.notes:
            return self.message
        return f"{self.message}; " + "; ".join(self.notes)


@dataclass
class RunSummary:
    results: list[ItemResult] = field(default_factory=list)
    cancelled: bool = False

    def of(self, status: Status) -> list[ItemResult]:
        return [r for r in self.results if r.status == status]

    @property
    def line(self) -> str:
        done, skipped, failed = (len(self.of(s)) for s in ("done", "skipped", "failed"))
        text = f"{done} done, {skipped} skipped, {failed} failed"
        return text + (", cancelled" if self.cancelled else "")


@dataclass
class Listener:
    """What a front end hears during `run`; every hook is optional."""

    started: Callable[[PlanItem, int], None] | None = None  # item, number of items
    progress: Callable[[PlanItem, ProgressInfo], None] | None = None
    finished: Callable[[ItemResult], None] | None = None


def run(
    job: Plan,
    engine: Engine | EngineAt,
    progress: Progress | None = None,
    listener: Listener | None = None,
) -> RunSummary:
    """Upscale every item of the plan; a failed item does not stop the others.

    ``engine`` is an engine, or (for a plan with a target size, whose items may need
    different scales) a function giving the engine for a scale; the caller decides how
    many it keeps. A cancel (``progress.cancel()``) stops before the next tile; the
    summary then says ``cancelled`` and lists the items finished so far.
    """
    progress = progress or Progress()
    hear = listener or Listener()
    summary = RunSummary()
    total = len(job.items)
    report = hear.progress
    claimed: dict[Path, Path] = {}  # resolved output -> the input that wrote or kept it
    try:
        for item in job.items:
            progress.check()
            if hear.started is not None:
                hear.started(item, total)
            if report is not None:
                progress.callback = functools.partial(_relay, report, item)
            key = resolved(item.target)
            owner = claimed.get(key)
            if item.collides_with is not None and owner is not None:
                dst, src = item.target, item.source
                why = f"'{src}': its output {dst} is also the output of {owner}: rename one"
                result = ItemResult(item, "failed", why)
            else:
                result = _run_item(job, item, engine, progress)
            if result.status != "failed":
                claimed.setdefault(key, item.source)
            summary.results.append(result)
            if hear.finished is not None:
                hear.finished(result)
    except Cancelled:
        summary.cancelled = True
    return summary


def _relay(
    report: Callable[[PlanItem, ProgressInfo], None], item: PlanItem, info: ProgressInfo
) -> None:
    report(item, info)


def _engine_at(
    job: Plan, engine: Engine | EngineAt, src: Path, size: tuple[int, int] | None
) -> Engine:
    """The engine for an item: the plan's scale, or the one its size needs for the target.

    ``size`` is the input's (width, height), None while it is not known yet.
    """
    scale = job.scale
    if job.request.target is not None and size is not None:
        from .target import pick_scale

        try:
            scale = pick_scale(job.request.target, size[0], size[1], job.scales)
        except UsageError as e:  # this input's size, not the request: name the file
            raise UsageError(f"'{src}': {e}") from None
    if hasattr(engine, "upscale"):  # one engine: its scale is the only one there is
        fixed: Engine = engine  # type: ignore[assignment]
        if job.request.target is not None and size is not None and scale != fixed.scale:
            raise UsageError(f"this image needs x{scale}, and the model is x{fixed.scale}")
        return fixed
    return engine(scale)  # type: ignore[operator]


def _run_item(
    job: Plan, item: PlanItem, engine_or_at: Engine | EngineAt, progress: Progress
) -> ItemResult:
    from .budget import check_decoded, declared_image, guard_work
    from .engine import EngineOptions
    from .imageio import read_image, upscale_alpha, write_image

    if item.error is not None:
        return ItemResult(item, "failed", item.error)
    if item.skip is not None:
        return ItemResult(item, "skipped", item.skip)
    req, src, dst = job.request, item.source, item.target
    notes: list[str] = []
    target = req.target
    try:
        # With a target, the header's size picks the scale, so that the memory guard
        # checks the network that will run; the decoded size settles it.
        declared = declared_image(src) if target is not None else None
        size = None if declared is None else (declared.width, declared.height)
        engine = _engine_at(job, engine_or_at, src, size)
        notes += guard_work(src, engine.model.cfg, req.max_pixels)  # before decoding
        img = read_image(src, max_pixels=req.max_pixels)
        if target is not None:
            engine = _engine_at(job, engine_or_at, src, (img.width, img.height))
        check_decoded(src, img.rgb.shape[:2], engine.model.cfg, req.max_pixels, img.bit_depth)
        notes += img.notes
        # Integer output: a quarter of float32's memory for the (largest) array, and
        # what the file holds anyway.
        output = "uint16" if img.bit_depth == 16 else "uint8"
        progress.restart_clock()
        res = engine.upscale(img.rgb, EngineOptions(tile=req.tile, output=output), progress)
        notes += res.report.warnings
        alpha = None if img.alpha is None else upscale_alpha(img.alpha, engine.scale)
        image = res.image
        if target is not None:
            from .target import resize_to

            out = target.size_for(img.width, img.height)
            image = resize_to(image, out)
            alpha = None if alpha is None else resize_to(alpha, out)
            exact = out == (img.width * engine.scale, img.height * engine.scale)
            shrink = "" if exact else f", then Lanczos to {out[0]}x{out[1]}"
            notes.append(f"x{engine.scale}{shrink} for {target.describe()}")
        if job.folder is not None:
            _make_folder(job.folder)
        write_image(
            dst,
            image,
            alpha=alpha,
            like=img,
            format=job.format,
            bit_depth=req.bit_depth,
            quality=job.quality,
            overwrite=req.overwrite,
            png_level=job.png_level,
        )
    except OutputExistsError:
        # Created by someone else since the plan: theirs is kept, as asked.
        return ItemResult(item, "skipped", f"skipped {src}: {dst} exists", notes)
    except SeemoreError as e:
        return ItemResult(item, "failed", str(e), notes, error=e)
    except MemoryError:
        why = f"'{src}': not enough memory to upscale this image; use smaller tiles"
        return ItemResult(item, "failed", why, notes)
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as e:  # one broken input must not end the batch; say which and why
        return ItemResult(item, "failed", f"'{src}': unexpected error ({type(e).__name__}: {e})")
    r = res.report
    tiling = "whole image" if r.tile == 0 else f"{r.tiles} tiles of {r.tile} px"
    done = f"{src} -> {dst} ({r.device}, {r.precision}, {tiling}, {r.seconds:.1f} s)"
    return ItemResult(item, "done", done, notes, r)


def _make_folder(folder: Path) -> None:
    from .errors import FileError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(folder, f"cannot create the folder: {e.strerror or e}") from e
