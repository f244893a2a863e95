"""Upscale one image: device and precision choice, tiling, progress and cancel, records.

The CLI and the app both call `Engine.upscale`; neither re-implements any of it.
Data flows numpy (H, W, 3) float32 in [0, 1] -> tensor -> network -> tensor -> numpy.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from .allocator import keep_freed_memory
from .arch import BlockRouting, SeemoRe
from .arch.fast import fast_copy
from .errors import EngineError
from .names import DEVICES, PRECISIONS
from .plan import (
    CPU_TILE,
    CPU_WHOLE_MAX_PIXELS,
    GPU_TILE,
    CpuState,
    RunPlan,
    measure_cpu,
    plan_run,
)
from .progress import Progress


def select_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU. An explicit device that is absent is an error."""
    name = name.lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("device 'cuda' asked for, but no CUDA GPU is available")
    if name == "mps" and not has_mps:
        raise EngineError("device 'mps' asked for, but Apple MPS is not available")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise EngineError(f"unknown device {name!r}; use {', '.join(DEVICES)}")
    return torch.device(name)


def select_dtype(precision: str, device: torch.device) -> torch.dtype:
    # fp32 everywhere by default until half precision is measured to cost no quality
    # on a GPU (Set5 PSNR within 0.01 dB); bf16/fp16 are options.
    table = {
        "auto": torch.float32,
        "fp32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
    }
    if precision not in table:
        raise EngineError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise EngineError("fp16 is not supported on the CPU; use bf16 or fp32")
    return table[precision]


@dataclass
class EngineOptions:
    tile: int | None = None  # input pixels per tile side; 0 whole image, None auto
    # Tiles run concurrently (CPU), one intra-op thread each; None: one per free core.
    # 1: tiles in turn, the free cores as intra-op threads (the pre-issue-18 plan).
    workers: int | None = None
    per_tile_routing: bool = False  # route each tile on its own (not exact; for the map)
    feature_points: tuple[str, ...] = ()
    feature_blocks: tuple[int, ...] | None = None
    # (x, y, w, h) in input pixels: the region whose feature maps are kept (None: all).
    feature_region: tuple[int, int, int, int] | None = None
    output: str = "float32"  # float32 in [0, 1], or uint8 / uint16 to save memory
    # Keep the full-size feature maps in files here. None: in RAM when they fit, else
    # in the temp folder (said in the report's warnings).
    mmap_dir: str | None = None
    # Tiled runs: two more full-size maps buy ~1.2x speed. None: when they fit in RAM
    # (and not with mmap_dir); False: the bounded-memory mode, two maps only.
    front_cache: bool | None = None


@dataclass
class RunReport:
    device: str
    precision: str
    tile: int  # 0: whole image in one pass
    tiles: int
    seconds: float
    peak_memory_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    full_maps: int = 0  # full-size C-channel feature maps a tiled run kept (2 or 4)
    workers: int = 1  # tiles run concurrently
    threads: int | None = None  # intra-op threads per worker (None: torch's, untouched)
    plan: str = ""  # why this plan: free cores and how they were measured


@dataclass
class TileRouting:
    """Per-tile routing: which expert each tile chose in each block."""

    tiles: list[tuple[int, int, int, int]]  # (x, y, w, h) in input pixels
    chosen: np.ndarray  # (tiles, blocks) int, the top-1 expert
    probs: np.ndarray  # (tiles, blocks, experts) float32


@dataclass
class UpscaleResult:
    image: np.ndarray  # (sH, sW, 3): float32 in [0, 1], or uint8 / uint16 as asked
    routing: list[BlockRouting]
    features: dict[tuple[int, str], torch.Tensor]
    report: RunReport
    tile_routing: TileRouting | None = None


_OUT_DTYPES = {"float32": torch.float32, "uint8": torch.uint8, "uint16": torch.int32}


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) -> (1, 3, H, W) float32 view; channels-last in memory, which is what the
    fast path wants, so no copy is made for float32 input."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise EngineError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise EngineError("the image is empty (0 pixels)")
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]


def _to_numpy(t: torch.Tensor, output: str) -> np.ndarray:
    """(1, 3, H, W) -> (H, W, 3) in the asked representation (already clamped)."""
    img = t[0].permute(1, 2, 0)
    if output == "float32":
        return img.float().numpy()
    if t.dtype == torch.float32:
        peak = 255 if output == "uint8" else 65535
        img = img.mul(peak).round_()
    return img.numpy().astype(np.uint8 if output == "uint8" else np.uint16, copy=False)


def available_memory(device: torch.device) -> int:
    """Bytes free for this run: GPU free memory, else the OS's available RAM."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def whole_image_bytes(model: SeemoRe, h: int, w: int, dtype: torch.dtype) -> int:
    """Estimated peak of a whole-image pass: about a dozen live C-channel maps
    (1.5 GB per input megapixel for SeemoRe-T in float32, as measured) plus the output."""
    item = torch.empty((), dtype=dtype).element_size()
    c = model.cfg.embedding_dim
    return h * w * item * (12 * c + 3 * model.scale**2)


@contextmanager
def _intra_op_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to the plan's for one run, then put back."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e).lower()
    )


class Engine:
    # The plan's figures (seemore_core.plan decides), named here for callers and reports.
    DEFAULT_TILE = {"cpu": CPU_TILE, "cuda": GPU_TILE, "mps": GPU_TILE}
    CPU_WHOLE_MAX_PIXELS = CPU_WHOLE_MAX_PIXELS
    PER_TILE_DEFAULT = 256  # per-tile routing: big enough tiles to route on their content

    def __init__(
        self, model: SeemoRe, device: str = "auto", precision: str = "auto", fast: bool = True
    ) -> None:
        """`fast`: run an inference copy with fused convs (same outputs within ~1e-6,
        arch/fast.py); False runs `model` itself, which is then moved to the device."""
        self.device = select_device(device)
        self.dtype = select_dtype(precision, self.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # fewer page faults between ops (seemore_core/allocator.py)
        net = fast_copy(model) if fast else model.eval()
        # channels_last: 1.5-2x on CPU for these depthwise-heavy convs.
        self.model = net.to(self.device, self.dtype).to(memory_format=torch.channels_last)
        # How the CPU's free cores are found before each run; tests inject figures here.
        self.cpu_state: Callable[[], CpuState] = measure_cpu

    @property
    def scale(self) -> int:
        return self.model.scale

    @property
    def precision(self) -> str:
        return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def plan(
        self,
        h: int,
        w: int,
        tile: int | None,
        workers: int | None = None,
        cpu: CpuState | None = None,
    ) -> RunPlan:
        """Tile size, tile workers and threads for an h x w input (seemore_core.plan).

        Refuses a whole-image pass that cannot fit. Auto on the CPU: tiles for all but
        small images, because the exact tiled run with its front cache keeps its working
        set in cache (a whole 512 px pass is half as fast per pixel), run by one worker
        per free core; on GPUs, the whole image when it fits in half the free memory.
        `cpu`: the CPU's state; None measures it now (CPU only).
        """
        grid = self.model.cfg.pool_grid
        tiny = h < grid or w < grid
        need = whole_image_bytes(self.model, h, w, self.dtype)
        free = available_memory(self.device)
        if tile == 0 and not tiny and need > free:
            raise EngineError(
                f"a whole-image pass of {w}x{h} needs about {need / 2**30:.1f} GiB "
                f"but {free / 2**30:.1f} GiB is free; upscale in tiles instead",
                option="tile",
            )
        if tile is not None and tile < 0:
            raise EngineError(f"tile size must be >= 0, got {tile}")
        if workers is not None and workers < 1:
            raise EngineError(f"workers must be >= 1, got {workers}")
        on_cpu = self.device.type == "cpu"
        if on_cpu and cpu is None:
            cpu = self.cpu_state()
        return plan_run(
            self.device.type,
            h,
            w,
            grid,
            tile=tile,
            workers=workers,
            whole_fits=need < free // 2,
            cpu=cpu if on_cpu else None,
        )

    def plan_tile(self, h: int, w: int, tile: int | None, cpu: CpuState | None = None) -> int:
        """0 for one whole-image pass, else the tile side (`plan`'s choice)."""
        return self.plan(h, w, tile, cpu=cpu).tile

    def map_bytes(self, h: int, w: int) -> int:
        """One full-size float32 C-channel feature map of a tiled run."""
        return self.model.cfg.embedding_dim * h * w * 4

    def front_cache_fits(self, h: int, w: int) -> bool:
        """Whether the tiled run can afford two more full-size maps (kept in RAM)."""
        return 4 * self.map_bytes(h, w) < available_memory(torch.device("cpu")) // 2

    @torch.no_grad()
    def upscale(
        self,
        rgb: np.ndarray,
        options: EngineOptions | None = None,
        progress: Progress | None = None,
    ) -> UpscaleResult:
        opts = options or EngineOptions()
        if opts.output not in _OUT_DTYPES:
            raise EngineError(f"unknown output type {opts.output!r}")
        progress = progress or Progress()
        progress.check()
        progress.restart_clock()
        t0 = time.monotonic()
        x = to_tensor(rgb)
        h, w = x.shape[-2:]
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        warnings: list[str] = []
        store: tuple[str | None, bool] | None = None
        if opts.per_tile_routing:
            # Tiles in turn (each is a whole forward), the free cores as intra-op threads.
            plan = self.plan(h, w, opts.tile or self.PER_TILE_DEFAULT, workers=1)
            tile = plan.tile
            with _intra_op_threads(plan.threads):
                out, routing, feats, n, tile_routing = self._per_tile(
                    x, tile or max(h, w), progress
                )
        else:
            plan = self.plan(h, w, opts.tile, opts.workers)
            tile = plan.tile
            tile_routing = None
            # Where a tiled run keeps its maps (folder or RAM, front cache or not), decided
            # once the run is tiled: an OOM retry can turn a whole-image plan into tiles.
            while True:
                try:
                    if tile and store is None:
                        maps_dir = self._maps_dir(opts, h, w, warnings)
                        store = (maps_dir, self._front_cache(opts, h, w, maps_dir))
                    with _intra_op_threads(plan.threads):
                        out, routing, feats, n = self._run(
                            x, tile, opts, progress, *(store or ()), workers=plan.workers
                        )
                    break
                except Exception as e:
                    if not _is_oom(e) or tile == self.model.cfg.pool_grid:
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    old = tile
                    tile = max(self.model.cfg.pool_grid, (tile or max(h, w)) // 2)
                    warnings.append(
                        f"out of memory with {'whole image' if old == 0 else f'tile {old}'}; "
                        f"retried with tile {tile}"
                    )
        progress.report(1, 1, "done")
        peak = (
            int(torch.cuda.max_memory_allocated(self.device))
            if self.device.type == "cuda"
            else None
        )
        maps = 0 if store is None else 4 if store[1] else 2
        report = RunReport(
            str(self.device),
            self.precision,
            tile,
            n,
            time.monotonic() - t0,
            peak,
            warnings,
            maps,
            plan.workers if tile else 1,
            plan.threads,
            plan.reason,
        )
        return UpscaleResult(_to_numpy(out, opts.output), routing, feats, report, tile_routing)

    def _run(
        self,
        x: torch.Tensor,
        tile: int,
        opts: EngineOptions,
        progress: Progress,
        maps_dir: str | None = None,
        cache: bool = False,
        workers: int = 1,
    ) -> tuple[torch.Tensor, list[BlockRouting], dict[tuple[int, str], torch.Tensor], int]:
        from .tiling import TiledRunner

        h, w = x.shape[-2:]
        region = None
        if opts.feature_region is not None:
            rx, ry, rw, rh = opts.feature_region
            region = (max(0, ry), min(h, ry + rh), max(0, rx), min(w, rx + rw))
            if region[0] >= region[1] or region[2] >= region[3]:
                raise EngineError(f"feature region {opts.feature_region} is outside the image")
        if tile == 0:
            progress.report(0, 1, "upscale")
            xd = x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
            res = self.model.inspect(xd, opts.feature_points, opts.feature_blocks)
            progress.check()
            feats = res.features
            if region is not None:
                y0, y1, x0, x1 = region
                feats = {k: v[..., y0:y1, x0:x1].clone() for k, v in feats.items()}
            feats = {k: v.float() for k, v in feats.items()}
            return res.output.float().clamp_(0, 1).cpu(), res.routing, feats, 1
        if opts.feature_points and region is None:
            region = (0, h, 0, w)
        runner = TiledRunner(
            self.model,
            tile,
            self.device,
            self.dtype,
            progress,
            points=frozenset(opts.feature_points),
            blocks=None if opts.feature_blocks is None else frozenset(opts.feature_blocks),
            region=region,
            mmap_dir=maps_dir,
            out_dtype=_OUT_DTYPES[opts.output],
            cache_front=cache,
            workers=workers,
        )
        r = runner.run(x)
        return r.image, r.routing, r.features, r.tiles

    def _front_cache(self, opts: EngineOptions, h: int, w: int, maps_dir: str | None) -> bool:
        if opts.front_cache is not None:
            return opts.front_cache
        # Memory-mapped runs are for inputs whose maps do not fit: no extra maps there.
        return maps_dir is None and self.front_cache_fits(h, w)

    def _maps_dir(self, opts: EngineOptions, h: int, w: int, warnings: list[str]) -> str | None:
        """Where a tiled run keeps its two full-size maps: RAM (None) when they fit with
        the output beside them, else memory-mapped files (asked for, or a temp folder)."""
        if opts.mmap_dir is not None:
            return opts.mmap_dir
        maps = 2 * self.map_bytes(h, w)
        item = torch.empty((), dtype=_OUT_DTYPES[opts.output]).element_size()
        out = h * w * self.scale**2 * 3 * item
        free = available_memory(torch.device("cpu"))
        if maps + out < free * 0.6:
            return None
        folder = tempfile.gettempdir()
        disk = shutil.disk_usage(folder).free
        if disk < maps * 1.1:
            raise EngineError(
                f"{w}x{h} needs {maps / 2**30:.1f} GiB of feature maps: more than the "
                f"{free / 2**30:.1f} GiB of free RAM and the {disk / 2**30:.1f} GiB free in "
                f"{folder}; free some space or set TMPDIR to a bigger disk"
            )
        warnings.append(
            f"feature maps ({maps / 2**30:.1f} GiB) kept in files in {folder}: "
            f"only {free / 2**30:.1f} GiB of RAM is free"
        )
        return folder

    def _per_tile(
        self, x: torch.Tensor, tile: int, progress: Progress
    ) -> tuple[
        torch.Tensor,
        list[BlockRouting],
        dict[tuple[int, str], torch.Tensor],
        int,
        TileRouting,
    ]:
        from .tiling import per_tile_forward

        out, boxes, routes = per_tile_forward(self.model, x, tile, 16, progress)
        chosen = np.array([[int(r.chosen[0, 0]) for r in rs] for rs in routes])
        probs = np.array([[r.probs[0].numpy() for r in rs] for rs in routes], dtype=np.float32)
        tiles = [(x0, y0, x1 - x0, y1 - y0) for (y0, y1, x0, x1) in boxes]
        # The whole image's routing record is the area-weighted mean over tiles.
        area = np.array([tw * th for (_, _, tw, th) in tiles], dtype=np.float64)
        mean = (probs * (area / area.sum())[:, None, None]).sum(0)
        routing = []
        for b in range(mean.shape[0]):
            p = torch.from_numpy(mean[b : b + 1].astype(np.float32))
            top_w, top_i = p.topk(self.model.cfg.topk, dim=-1)
            routing.append(BlockRouting(b, p, top_i, top_w))
        return out, routing, {}, len(boxes), TileRouting(tiles, chosen, probs)
