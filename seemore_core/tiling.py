"""Exact tiled inference: any image size in memory bounded by the tile, same output.

Every operation of SeemoRe is local except two, both in the MoRE block: the router sees
the global average of its input, and the calibration's stride-4 pyramid is upsampled
bilinearly over the whole image. So each residual group runs in passes over tiles:

1. RME pass A: per tile, sum the router input and compute the tile's coarse cells of the
   calibration pyramid (tiles are aligned to the 4^recursive grid, so cells never
   straddle tiles and the strided convs floor at the image edge exactly as whole-image).
   Then, once for the image: the router's probabilities from the global mean, and the
   small coarse conv over the whole coarse map.
2. RME pass B: per tile with a halo, the block with the routing forced to the global one
   and the coarse map upsampled at global coordinates; written into map B.
3. SME: per tile with a halo from B, written back into map A.

The runner only schedules: every computation is a stage the arch exposes (`SeemoRe.head`
and `merge`, `RME.front` and `back`, `MoREBlock.pool` and `spread`,
`Router.probs_from_mean`, `SME` itself), so the network's forward has one definition.
The one tiling-specific piece is `upsample_window`, a window of the calibration's
bilinear upsampling at global coordinates.

Windows are clipped to the image, so each conv's own zero padding falls exactly on the
image border, as in a whole-image run; the wrong values near an interior window edge lie
inside the halo and are dropped. Two full-size feature maps (A, B) exist at a time, in
RAM or, when asked, in memory-mapped files.
"""

from __future__ import annotations

import functools
import math
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .arch import BlockRouting, Probe, SeemoRe
from .arch.more import RME
from .arch.see import SME
from .progress import Progress

Box = tuple[int, int, int, int]  # y0, y1, x0, x1


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    tile: int  # a multiple of the pooling grid

    def boxes(self) -> list[Box]:
        t = self.tile
        return [
            (y, min(y + t, self.height), x, min(x + t, self.width))
            for y in range(0, self.height, t)
            for x in range(0, self.width, t)
        ]


def round_tile(tile: int, grid: int) -> int:
    return max(grid, math.ceil(tile / grid) * grid)


def _window(box: Box, halo: int, h: int, w: int) -> Box:
    y0, y1, x0, x1 = box
    return max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)


def _crop(t: torch.Tensor, box: Box, win: Box) -> torch.Tensor:
    y0, y1, x0, x1 = box
    return t[..., y0 - win[0] : y1 - win[0], x0 - win[2] : x1 - win[2]]


def _interp_index(
    in_size: int, out_size: int, start: int, stop: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of bilinear (align_corners=False) output rows start..stop.

    Follows PyTorch's upsample_bilinear2d for a given output size, so a window of the
    upsampled map equals the same window of the whole-image interpolation.
    """
    scale = in_size / out_size
    dst = torch.arange(start, stop, dtype=torch.float64, device=device)
    src = ((dst + 0.5) * scale - 0.5).clamp_(min=0)
    i0 = src.floor().long().clamp_(max=in_size - 1)
    i1 = (i0 + 1).clamp_(max=in_size - 1)
    lam = (src - i0).to(torch.float32)
    return i0, i1, lam


def upsample_window(
    coarse: torch.Tensor, out_hw: tuple[int, int], win: Box, add_to: torch.Tensor | None = None
) -> torch.Tensor:
    """Window `win` of F.interpolate(coarse, size=out_hw, mode="bilinear"), channels-last,
    plus `add_to` (a map of the window's size) when given; a batch of one, as the tiled
    run's maps are.

    Separable: the rows are interpolated on the coarse map (a few coarse columns wide, so
    nearly free), then the columns as one batched matrix product per window row, whose
    (w, coarse columns) matrix holds each output pixel's two weights. With `add_to` the
    product adds onto it (baddbmm): one pass over the window's memory where gathering
    both columns, weighting and adding them took five (7.4 against 1.6 ms for a 204 px
    window of 36 channels, one thread), and 7% of a tiled run's time. The same two
    products per value as the interpolation, summed in another order: within 3e-7.
    """
    hc, wc = coarse.shape[-2:]
    y0, y1, x0, x1 = win
    dev, dt = coarse.device, coarse.dtype
    a0, a1, ly = _interp_index(hc, out_hw[0], y0, y1, dev)
    # The column weights are built on the CPU (a few KB) and sent once: reading the
    # column range back from a GPU would wait for the device on every tile.
    b0, b1, lx = _interp_index(wc, out_hw[1], x0, x1, torch.device("cpu"))
    # Only the coarse columns this window reads (indices grow with x).
    j0, j1 = int(b0[0]), int(b1[-1]) + 1
    px = coarse.permute(0, 2, 3, 1)[0, :, j0:j1]  # (hc, wc', C)
    ly = ly.to(dt)[:, None, None]
    rows = px[a0] * (1 - ly) + px[a1] * ly  # (h, wc', C)
    w = x1 - x0
    weights = torch.zeros(w, j1 - j0)
    i = torch.arange(w)
    # accumulate: at the right edge both neighbours are the same column.
    weights.index_put_((i, b0 - j0), 1 - lx, accumulate=True)
    weights.index_put_((i, b1 - j0), lx, accumulate=True)
    batched = weights.to(dev, dt, non_blocking=True).expand(y1 - y0, -1, -1)
    if add_to is None:
        out = torch.bmm(batched, rows)  # (h, w, C), dense
    else:
        out = torch.baddbmm(add_to.permute(0, 2, 3, 1)[0], batched, rows)
    return out[None].permute(0, 3, 1, 2)


class FeatureStore:
    """Full-size (1, C, H, W) float32 maps in RAM or in memory-mapped temporary files.

    Stored pixel-major (channels-last strides), so a tile window is a run of contiguous
    rows: cheap to copy out to the network and back.
    """

    def __init__(self, mmap_dir: str | Path | None) -> None:
        # The prefix lets a later run sweep the folder a SIGKILL left (seemore_core.signals).
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="seemore-maps-", dir=mmap_dir)
            if mmap_dir is not None
            else None
        )
        self._n = 0

    def new(self, c: int, h: int, w: int) -> torch.Tensor:
        if self._tmp is None:
            return torch.empty(1, h, w, c).permute(0, 3, 1, 2)
        self._n += 1
        path = Path(self._tmp.name) / f"map{self._n}.f32"
        arr = np.memmap(path, dtype=np.float32, mode="w+", shape=(1, h, w, c))
        return torch.from_numpy(arr).permute(0, 3, 1, 2)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


@dataclass
class TiledOutput:
    image: torch.Tensor  # (1, 3, sH, sW) on the CPU, clamped to [0, 1]
    routing: list[BlockRouting]
    features: dict[tuple[int, str], torch.Tensor]
    tiles: int


class TiledRunner:
    """Runs one image through a SeemoRe network tile by tile, exactly."""

    def __init__(
        self,
        model: SeemoRe,
        tile: int,
        device: torch.device,
        dtype: torch.dtype,
        progress: Progress,
        points: frozenset[str] = frozenset(),
        blocks: frozenset[int] | None = None,
        region: Box | None = None,  # y0, y1, x0, x1 of the features to keep
        mmap_dir: str | Path | None = None,
        out_dtype: torch.dtype = torch.float32,
        cache_front: bool = False,
        workers: int = 1,
    ) -> None:
        """`cache_front`: keep the MoRE front's two outputs from pass A in two more
        full-size maps, so pass B reads them instead of recomputing its costliest convs
        (a third less work; four maps instead of two).

        `workers`: tiles of one pass run concurrently in this many threads, each with one
        intra-op thread (set by the caller's plan; seemore_core.plan). Every tile writes
        its own part of the maps and each pass waits for all its tiles, so the result is
        the serial one: per-tile sums are added in tile order, not arrival order."""
        self.m = model
        self.cfg = model.cfg
        self.tile = round_tile(tile, self.cfg.pool_grid)
        self.device, self.dtype = device, dtype
        self.progress = progress
        self.points, self.blocks, self.region = points, blocks, region
        self.mmap_dir = mmap_dir
        self.out_dtype = out_dtype
        self.cache_front = cache_front
        self.workers = max(1, workers)
        self.features: dict[tuple[int, str], torch.Tensor] = {}
        self._features_lock = threading.Lock()  # tiles of a region may be kept concurrently
        self._pool: ThreadPoolExecutor | None = None

    # -- helpers -----------------------------------------------------------------------
    def _dev(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device, self.dtype, non_blocking=True).contiguous(
            memory_format=torch.channels_last
        )

    def _view(self, t: torch.Tensor) -> torch.Tensor:
        """A map window for operands that only elementwise ops read (a residual, the k the
        calibration adds onto): on the device in the run's dtype, but not made dense,
        which costs a copy of the window (about 1 ms per 200 px tile of 36 channels) and
        gains nothing there. Conv inputs take `_dev`."""
        return t.to(self.device, self.dtype, non_blocking=True)

    def _wants(self, block: int, point: str) -> bool:
        return (
            self.region is not None
            and point in self.points
            and (self.blocks is None or block in self.blocks)
        )

    def _keep(self, block: int, name: str, t: torch.Tensor, box: Box) -> None:
        """Copy the part of a tile's values that falls inside the asked region."""
        assert self.region is not None
        ry0, ry1, rx0, rx1 = self.region
        y0, y1, x0, x1 = box
        iy0, iy1, ix0, ix1 = max(y0, ry0), min(y1, ry1), max(x0, rx0), min(x1, rx1)
        if iy0 >= iy1 or ix0 >= ix1:
            return
        key = (block, name)
        part = t[..., iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0].float().cpu()
        with self._features_lock:
            if key not in self.features:
                self.features[key] = torch.zeros(1, t.shape[1], ry1 - ry0, rx1 - rx0)
            dest = self.features[key]
        dest[..., iy0 - ry0 : iy1 - ry0, ix0 - rx0 : ix1 - rx0] = part

    def _keep_map(self, block: int, name: str, fmap: torch.Tensor) -> None:
        if self._wants(block, name):
            assert self.region is not None
            y0, y1, x0, x1 = self.region
            self.features[(block, name)] = fmap[..., y0:y1, x0:x1].clone()

    def _probe(
        self, block: int, points: tuple[str, ...], forced: torch.Tensor | None = None
    ) -> Probe:
        """A probe for one tile: the asked points among `points`, routing forced if given."""
        wanted = frozenset(p for p in points if self._wants(block, p))
        return Probe(
            points=wanted, forced=None if forced is None else {block: forced}, to_cpu=False
        )

    def _keep_probe(self, probe: Probe, box: Box, win: Box) -> None:
        for (block, name), t in probe.features.items():
            self._keep(block, name, _crop(t, box, win), box)

    # -- the passes: only scheduling; every computation is a stage of the arch ----------

    def _sweep(
        self, boxes: list[Box], fn: Callable[[Box], None], *, counter: Iterator[int], total: int
    ) -> None:
        if self._pool is None:
            for box in boxes:
                self.progress.check()
                fn(box)
                self.progress.report(next(counter), total, "upscale")
            return

        def task(box: Box) -> None:
            self.progress.check()  # a cancel stops the queued tiles, not only the reports
            with torch.no_grad():  # grad mode is per thread: the caller's does not carry
                fn(box)

        futures: list[Future[None]] = [self._pool.submit(task, box) for box in boxes]
        try:
            # Reports and cancel checks stay in the caller's thread, in tile order.
            for f in futures:
                self.progress.check()
                f.result()
                self.progress.report(next(counter), total, "upscale")
        finally:
            # On a cancel or an error: drop the queued tiles, and let the running ones
            # finish before the maps they write into are released.
            for f in futures:
                f.cancel()
            wait(futures)

    def _group(
        self,
        i: int,
        group: torch.nn.Module,
        a: torch.Tensor,
        b: torch.Tensor,
        sweep: Callable[[Callable[[Box], None]], None],
        front: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> BlockRouting:
        """Residual group i: map A -> (RME) map B -> (SME) map A, by three sweeps."""
        cfg = self.cfg
        c, g = cfg.embedding_dim, cfg.pool_grid
        h, w = a.shape[-2:]
        rme: RME = group.local_block
        sme: SME = group.global_block
        more = rme.block
        self._keep_map(i, "rme_in", a)
        # Pass A: router sum and the coarse calibration cells.
        sums: dict[Box, torch.Tensor] = {}  # per tile; added in tile order below
        coarse = torch.zeros(1, c, h // g, w // g)

        def pass_a(box: Box) -> None:
            win = _window(box, 2, h, w)
            xb, k = rme.front(self._dev(a[..., win[0] : win[1], win[2] : win[3]]))
            xc, kc = _crop(xb, box, win), _crop(k, box, win)
            sums[box] = xc.double().sum((0, 2, 3)).cpu()
            if front is not None:
                front[0][..., box[0] : box[1], box[2] : box[3]] = xc.float().cpu()
                front[1][..., box[0] : box[1], box[2] : box[3]] = kc.float().cpu()
            if min(kc.shape[-2:]) < g:
                return  # an edge strip too thin to hold a whole coarse cell
            kc = more.pool(kc)
            cy, cx = box[0] // g, box[2] // g
            coarse[..., cy : cy + kc.shape[-2], cx : cx + kc.shape[-1]] = kc.float().cpu()

        sweep(pass_a)
        acc = torch.zeros(c, dtype=torch.float64)
        for box in sorted(sums):
            acc.add_(sums[box])
        mean = (acc / (h * w)).to(torch.float32)[None]
        probs = more.moe_layer.gate.probs_from_mean(mean.to(self.device, self.dtype))
        top_w, top_i = probs.topk(cfg.topk, dim=-1)
        kmap = more.spread(self._dev(coarse))

        def pass_b(box: Box) -> None:
            if front is None:
                win = _window(box, 3, h, w)  # 2 for the front's convs, 1 for the FFN's
                aw = self._dev(a[..., win[0] : win[1], win[2] : win[3]])
                xb, k = rme.front(aw)
            else:
                win = _window(box, 1, h, w)
                sl = (..., slice(win[0], win[1]), slice(win[2], win[3]))
                aw, xb, k = self._view(a[sl]), self._dev(front[0][sl]), self._view(front[1][sl])
            # The calibration's upsampling at global coordinates: `calibrate` windowed.
            k = upsample_window(kmap, (h, w), win, add_to=k)
            probe = self._probe(i, ("expert_lowrank", "more_out"), forced=probs)
            out = rme.back(aw, xb, k, i, probe)
            b[..., box[0] : box[1], box[2] : box[3]] = _crop(out, box, win).float().cpu()
            self._keep_probe(probe, box, win)

        sweep(pass_b)
        self._keep_map(i, "rme_out", b)
        self._keep_map(i, "sme_in", b)
        halo = cfg.kernel_size // 2 + 1

        def pass_sme(box: Box) -> None:
            win = _window(box, halo, h, w)
            probe = self._probe(i, ("see_out",))
            out = sme(self._dev(b[..., win[0] : win[1], win[2] : win[3]]), i, probe)
            a[..., box[0] : box[1], box[2] : box[3]] = _crop(out, box, win).float().cpu()
            self._keep_probe(probe, box, win)

        sweep(pass_sme)
        self._keep_map(i, "sme_out", a)
        return BlockRouting(i, probs.cpu(), top_i.cpu(), top_w.cpu())

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> TiledOutput:
        """x: (1, 3, H, W) float32 on the CPU."""
        _, _, h, w = x.shape
        cfg, m = self.cfg, self.m
        s, c = cfg.scale, cfg.embedding_dim
        boxes = TileGrid(h, w, self.tile).boxes()
        total = len(boxes) * (2 + 3 * cfg.num_layers)
        counter = iter(range(1, total + 1))
        store = FeatureStore(self.mmap_dir)
        routing: list[BlockRouting] = []
        if self.workers > 1 and len(boxes) > 1:
            # One intra-op thread per worker: the cores are shared between tiles, not ops.
            self._pool = ThreadPoolExecutor(
                min(self.workers, len(boxes)),
                thread_name_prefix="seemore-tile",
                initializer=torch.set_num_threads,
                initargs=(1,),
            )
        try:
            a = store.new(c, h, w)
            b = store.new(c, h, w)
            front = (store.new(c, h, w), store.new(c, h, w)) if self.cache_front else None

            def head(box: Box) -> None:
                win = _window(box, 1, h, w)
                y = m.head(self._dev(x[..., win[0] : win[1], win[2] : win[3]]))
                a[..., box[0] : box[1], box[2] : box[3]] = _crop(y, box, win).float().cpu()

            self._sweep(boxes, head, counter=counter, total=total)
            sweep = functools.partial(self._sweep, boxes, counter=counter, total=total)
            for i, group in enumerate(m.body):
                routing.append(self._group(i, group, a, b, sweep, front))

            # Pixel-major, like the numpy image it becomes: no copy at the end.
            out = torch.empty(1, h * s, w * s, 3, dtype=self.out_dtype).permute(0, 3, 1, 2)

            def tail(box: Box) -> None:
                win = _window(box, 2, h, w)
                sl = (..., slice(win[0], win[1]), slice(win[2], win[3]))
                y = m.reconstruct(m.merge(self._dev(a[sl]), m.head(self._dev(x[sl]))))
                sy, sx = (box[0] - win[0]) * s, (box[2] - win[2]) * s
                y = y[..., sy : sy + (box[1] - box[0]) * s, sx : sx + (box[3] - box[2]) * s]
                y = y.float().clamp_(0, 1)
                if self.out_dtype == torch.uint8:
                    y = y.mul_(255).round_()
                elif self.out_dtype == torch.int32:
                    y = y.mul_(65535).round_()
                out[..., box[0] * s : box[1] * s, box[2] * s : box[3] * s] = y.cpu().to(
                    self.out_dtype
                )

            self._sweep(boxes, tail, counter=counter, total=total)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            store.close()
        return TiledOutput(out, routing, self.features, len(boxes))


def per_tile_forward(
    model: SeemoRe, x: torch.Tensor, tile: int, overlap: int, progress: Progress
) -> tuple[torch.Tensor, list[Box], list[list[BlockRouting]]]:
    """Each tile routed on its own content (an option, not the network's definition).

    Tiles overlap by `overlap` pixels and only their centres are kept, which hides the
    zero-padding edges; seams between differently routed tiles remain visible by design.
    """
    _, _, h, w = x.shape
    s = model.scale
    boxes = TileGrid(h, w, round_tile(tile, model.cfg.pool_grid)).boxes()
    out = torch.empty(1, 3, h * s, w * s)
    routes: list[list[BlockRouting]] = []
    param = next(model.parameters())
    for n, box in enumerate(boxes, 1):
        progress.check()
        win = _window(box, overlap, h, w)
        xw = x[..., win[0] : win[1], win[2] : win[3]].to(param.device, param.dtype)
        res = model.inspect(xw.contiguous(memory_format=torch.channels_last))
        y0, x0 = (box[0] - win[0]) * s, (box[2] - win[2]) * s
        y = res.output[..., y0 : y0 + (box[1] - box[0]) * s, x0 : x0 + (box[3] - box[2]) * s]
        out[..., box[0] * s : box[1] * s, box[2] * s : box[3] * s] = y.float().clamp(0, 1).cpu()
        routes.append(res.routing)
        progress.report(n, len(boxes), "upscale (per-tile routing)")
    return out, boxes, routes
