"""What a file may make us allocate or compute, bounded before anything is allocated.

Two kinds of input can cost far more than their size suggests: a checkpoint (a few
hundred bytes of shapes can declare a network of gigabytes) and an image (a 10 KB PNG
can declare a gigapixel, and upscaling multiplies it by scale^2). This module computes
those costs from the declared numbers alone, by formula, and refuses them with the
figures before any memory is spent on them. It imports neither torch nor Pillow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from .arch.config import SeemoreConfig, expert_ranks, variant_config
from .cores import machine_cores
from .errors import CheckpointError, WorkTooLargeError

# --------------------------------------------------------------------------- networks


def _conv(cin: int, cout: int, kh: int, kw: int, groups: int = 1) -> int:
    """Weights and bias of one Conv2d."""
    return cout * (cin // groups) * kh * kw + cout


def network_params(cfg: SeemoreConfig) -> int:
    """Parameters of the SeemoRe network `cfg` describes, by formula (nothing is built).

    Mirrors `arch.model.SeemoRe` module by module; a test checks it against the real
    count over many configs, so an arch change that breaks it fails there.
    """
    c = cfg.embedding_dim
    norm = 2 * c
    ffn = _conv(c, 2 * c, 1, 1) + _conv(c, c, 3, 3, c) + _conv(c, c, 1, 1)
    experts = sum(2 * _conv(c, r, 1, 1) + _conv(r, c, 1, 1) for r in cfg.ranks)
    more = (
        _conv(c, c, 3, 3)  # conv_1[0]
        + _conv(c, 2 * c, 1, 1)  # conv_1[2]
        + _conv(c, c, 4, 4, c)  # agg_conv
        + _conv(c, c, 3, 3, c)  # conv[0]
        + _conv(c, c, 1, 1)  # conv[1]
        + _conv(c, c, 1, 3, c)  # conv_2: striped 3
        + _conv(c, c, 3, 1, c)
        + c * cfg.num_experts  # router, bias-free
        + experts
        + _conv(c, c, 1, 1)  # proj
    )
    k = cfg.kernel_size
    see = _conv(c, 2 * c, 1, 1) + _conv(c, c, 1, k, c) + _conv(c, c, k, 1, c) + _conv(c, c, 1, 1)
    group = 2 * norm + more + ffn + 2 * norm + see + ffn
    return (
        _conv(3, c, 3, 3)
        + cfg.num_layers * group
        + norm
        + _conv(c, c, 3, 3)
        + _conv(c, 3 * cfg.scale**2, 3, 3)
    )


# The largest network we load: a few times SeemoRe-L at x4 (969K parameters), so custom
# models bigger than the paper's stay usable while a file declaring gigabytes does not.
REFERENCE_PARAMS = network_params(variant_config("L", 4))
MAX_NETWORK_PARAMS = 8 * REFERENCE_PARAMS
# Float32 weights of that network, kept up to six times over in a training checkpoint
# (weights, EMA weights, two Adam moments, slack), plus room for the pickle and states.
MAX_CHECKPOINT_BYTES = 6 * 4 * MAX_NETWORK_PARAMS + (64 << 20)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def check_network(cfg: SeemoreConfig, where: str) -> int:
    """The parameter count of ``cfg``; CheckpointError if it is over the budget."""
    params = network_params(cfg)
    if params > MAX_NETWORK_PARAMS:
        raise CheckpointError(
            f"{where}: the network it declares has {params:,} parameters "
            f"({_mb(4 * params)} of float32 weights), more than the {MAX_NETWORK_PARAMS:,} "
            f"supported (8 x SeemoRe-L); refused before allocating it"
        )
    return params


def ranks_within_budget(num_experts: int, growth: str, width: int) -> bool:
    """Whether the experts alone stay in the budget (checked before a config is built,
    so 32 experts with exponential growth, widths up to 2^32, cost no time)."""
    ranks = expert_ranks(num_experts, growth)
    return 3 * width * sum(ranks) <= MAX_NETWORK_PARAMS


# --------------------------------------------------------------------------- upscaling

# Outputs above this many pixels are refused unless the limit is raised: a gigapixel of
# 8-bit RGB is 3 GB before any copy, and minutes to hours of CPU.
DEFAULT_MAX_OUTPUT_PIXELS = 1_000_000_000
# Rough CPU throughput for the time estimate, in multiply-accumulates per second per
# core: the 48 MP x4 run in the README (9.9e12 MACs in 33 min on one core).
_CPU_MACS_PER_CORE = 5e9


@dataclass(frozen=True)
class WorkEstimate:
    """What one upscale will cost, from the image's declared size alone."""

    width: int
    height: int
    scale: int
    ram_bytes: int  # what must be in memory: the input, the output and their copies
    maps_bytes: int  # feature maps: in memory when they fit, else in temporary files
    output_file_bytes: int  # an upper bound of the file written (uncompressed)
    seconds: float  # rough, on the CPU

    @property
    def in_pixels(self) -> int:
        return self.width * self.height

    @property
    def out_pixels(self) -> int:
        return self.in_pixels * self.scale**2

    def describe(self) -> str:
        w, h, s = self.width, self.height, self.scale
        return (
            f"x{s} output {w * s}x{h * s} = {self.out_pixels / 1e6:,.1f} megapixels, "
            f"about {_gb(self.ram_bytes)} of memory"
            + (f" plus {_gb(self.maps_bytes)} of feature maps" if self.maps_bytes else "")
            + f" and {_duration(self.seconds)} on the CPU"
        )


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_work(
    width: int,
    height: int,
    cfg: SeemoreConfig,
    bit_depth: int = 8,
    has_alpha: bool = False,
) -> WorkEstimate:
    """The cost of upscaling a width x height image with network ``cfg``, before decoding.

    RAM: the float32 input (12 B/px), the output tensor (3 samples per output pixel, 1 B,
    or 4 B for 16-bit) and the encoder's copy (1 or 2 B), and the alpha plane in float32
    at both sizes. Feature maps: two float32 maps of C channels at input size (what a
    tiled run keeps; in RAM or in temporary files). Measured for comparison: a 48 MP
    input x4 with SeemoRe-T took 12.9 GiB of maps and 33 min on one core (README).
    """
    from .arch.facts import count_macs

    scale = cfg.scale
    px = width * height
    out = px * scale**2
    sample = 1 if bit_depth <= 8 else 2
    tensor = 1 if bit_depth <= 8 else 4
    ram = px * 12 + out * 3 * (tensor + sample)
    if has_alpha:
        ram += px * 4 + out * (4 + sample)
    maps = 2 * cfg.embedding_dim * 4 * px
    # MACs per input pixel of this network, from a 256x256 patch (exact up to borders).
    per_pixel = count_macs(cfg, 256, 256) / 65536
    cores = machine_cores()
    seconds = px * per_pixel / (_CPU_MACS_PER_CORE * max(1, cores))
    return WorkEstimate(width, height, scale, ram, maps, out * 3 * sample, seconds)


def available_ram() -> int:
    """Bytes this run may still use: MemAvailable plus free swap (Linux), else a guess."""
    try:
        fields: dict[str, int] = {}
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                fields[name] = int(rest.split()[0]) * 1024
        return fields["MemAvailable"] + fields.get("SwapFree", 0)
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def free_disk(folder: str | os.PathLike[str]) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def check_work(
    est: WorkEstimate,
    max_pixels: int | None,
    where: str,
    ram: int | None = None,
    temp_disk: int | None = None,
) -> None:
    """Refuse, with the figures, an upscale over the pixel limit or beyond this machine.

    ``max_pixels`` limits the *output* (None: no limit). The run must fit: its RAM part
    in available memory, its feature maps in what memory is left plus the temporary
    folder's free disk (where the engine moves them when memory is short).
    """
    s = est.scale
    if max_pixels is not None and est.out_pixels > max_pixels:
        refusal = WorkTooLargeError(
            f"{where}: {est.width}x{est.height} upscaled x{s} is "
            f"{est.width * s}x{est.height * s} = {est.out_pixels:,} output pixels, more than "
            f"the limit of {max_pixels:,}; it would need about {_gb(est.ram_bytes)} of "
            f"memory and {_duration(est.seconds)}. To go ahead, raise the pixel limit to "
            f"{est.out_pixels}"
        )
        # The setting that would let it through, for the front end to name its own way.
        refusal.option, refusal.value = "max_pixels", est.out_pixels
        raise refusal
    ram = available_ram() if ram is None else ram
    tmp = free_disk(tempfile.gettempdir()) if temp_disk is None else temp_disk
    if est.ram_bytes > ram or est.ram_bytes + est.maps_bytes > ram + tmp:
        raise WorkTooLargeError(
            f"{where}: upscaling {est.width}x{est.height} x{s} needs about "
            f"{_gb(est.ram_bytes)} of memory plus {_gb(est.maps_bytes)} of feature maps, "
            f"but only {_gb(ram)} of memory and {_gb(tmp)} of temporary disk are free"
        )


# The input limit's default (Pillow's bomb limit, jobs.DEFAULT_MAX_PIXELS): left at it,
# the output gets its own, larger default; set to anything else, it limits both.
_DEFAULT_INPUT_LIMIT = 89_478_485
# A run this big gets its estimate stated before it starts.
_STATE_ABOVE_SECONDS = 60.0
_STATE_ABOVE_BYTES = 2 << 30


def output_pixel_limit(max_pixels: int | None) -> int | None:
    """The output limit for a run whose input limit is ``max_pixels`` (None: none)."""
    if max_pixels is None:
        return None
    return DEFAULT_MAX_OUTPUT_PIXELS if max_pixels == _DEFAULT_INPUT_LIMIT else max_pixels


@dataclass(frozen=True)
class DeclaredImage:
    """What an image file's header says, read without decoding its pixels."""

    width: int
    height: int
    bit_depth: int
    has_alpha: bool


def declared_image(path: str | os.PathLike[str]) -> DeclaredImage | None:
    """The size an image's header declares, or None when it cannot be told cheaply (not
    a regular file, not an image, a header Pillow refuses): the decoder then reports it,
    and the decoded image is checked again."""
    import stat
    import warnings

    from PIL import Image

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        # Pillow's own bomb check refuses headers above twice its limit; ours is the
        # one that counts here (and reads the header only), so it is lifted meanwhile.
        from .imageio import _pillow_limit_lifted

        with warnings.catch_warnings(), _pillow_limit_lifted():
            warnings.simplefilter("ignore")  # the decoder states any problem later
            with Image.open(path) as im:
                w, h, mode = int(im.width), int(im.height), im.mode
    except Exception:  # any failure means "unknown": the decoder gives the real reason
        return None
    deep = mode.startswith(("I;16", "I", "F")) or mode in ("RGB;16", "RGBA;16")
    return DeclaredImage(w, h, 16 if deep else 8, "A" in mode)


def guard_work(
    path: str | os.PathLike[str], cfg: SeemoreConfig, max_pixels: int | None
) -> list[str]:
    """Before decoding ``path``: refuse an upscale over the output limit or beyond this
    machine (WorkTooLargeError, with the figures); for a big one that fits, a note
    stating its estimated memory and time."""
    declared = declared_image(path)
    if declared is None:
        return []
    est = estimate_work(
        declared.width, declared.height, cfg, declared.bit_depth, declared.has_alpha
    )
    check_work(est, output_pixel_limit(max_pixels), f"'{path}'")
    if est.seconds > _STATE_ABOVE_SECONDS or est.ram_bytes + est.maps_bytes > _STATE_ABOVE_BYTES:
        return [f"{est.describe()} (estimated)"]
    return []


def check_decoded(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    cfg: SeemoreConfig,
    max_pixels: int | None,
    bit_depth: int = 8,
    has_alpha: bool = False,
) -> None:
    """The same check on the decoded size (``size`` = (height, width)), for files whose
    header could not be read cheaply."""
    h, w = size
    est = estimate_work(w, h, cfg, bit_depth, has_alpha)
    check_work(est, output_pixel_limit(max_pixels), f"'{path}'")
