"""The worker: owns the network and the engine, and runs every heavy job off the UI thread.

One `Worker` lives in a `QThread`. The window sends it job objects through one queued
signal and hears back only through signals, so widgets never touch a tensor: results
arrive as numpy arrays and plain records. Torch is imported here, in `warm_up`, on the
worker's thread, which is what lets the window appear before torch is ready.

Cancel is the one thing that does not go through the queue: the worker thread is busy
inside the job, so a queued "cancel" would arrive after the job ended. Each job carries
its own `Progress`, whose thread-safe `cancel()` the UI calls directly; the engine checks
it before every tile.

An upscale or a batch runs with torch's threads at one fewer than the usable cores (at
least one), so the UI thread always finds a core free to paint and answer clicks; the
count before is put back afterwards. (A lowered thread priority was tried instead and
stalled the UI longer: a nice'd thread holding the GIL makes the UI wait for it.)
"""

from __future__ import annotations

import gc
import platform
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from seemore_core.cores import machine_cores
from seemore_core.jobs import ModelRef, UpscaleRequest
from seemore_core.names import CHECKPOINT_SUFFIXES, is_checkpoint_path  # noqa: F401 (re-exported)
from seemore_core.progress import Progress, ProgressInfo

if TYPE_CHECKING:
    from seemore_core.imageio import LoadedImage
    from seemore_core.target import TargetSize


# Progress signals at most this often: more would flood the UI thread's event queue
# with repaints nobody can see.
PROGRESS_INTERVAL_S = 0.05

# Feature maps kept from one run are bounded: past this, only the block on screen is kept.
FEATURE_BUDGET_BYTES = 512 * 1024 * 1024


def run_threads(cores: int, allowed: int) -> int:
    """Torch threads for a run: all ``cores`` but the UI's one, within what torch was
    ``allowed`` (OMP_NUM_THREADS or an earlier cap), and at least one."""
    return max(1, min(cores - 1, allowed))


@contextmanager
def ui_core_left() -> Iterator[int]:
    """torch's intra-op threads lowered by one core for the duration, then put back.

    Set on the worker thread, which is where the runs happen; the engine plans its
    tiles within this cap (seemore_core.plan reads torch's thread count).
    """
    import torch

    before = torch.get_num_threads()
    n = run_threads(machine_cores(), before)
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ModelChoice:
    """A bundled variant at a scale, or a checkpoint file (which has its own scale)."""

    kind: str  # "bundled" or "file"
    name: str  # variant letter, or the file's path
    scale: int

    @property
    def label(self) -> str:
        return self.ref.label(self.scale)

    @property
    def ref(self) -> ModelRef:
        """The core's reference: a file keeps its own scale (0 here means not yet known)."""
        if self.kind == "file":
            return ModelRef(self.name, None)
        return ModelRef(self.name, self.scale)


@dataclass
class UpscaleJob:
    job_id: int
    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    model: ModelChoice
    device: str = "auto"
    tile: int | None = None
    per_tile_routing: bool = False
    # (x, y, w, h) input pixels: upscale this crop first, routed on itself, as a preview.
    preview_region: tuple[int, int, int, int] | None = None
    feature_point: str | None = None  # "sme_out", "expert_lowrank", ...; None: no features
    feature_block: int = 0  # the block the user looks at, kept even when memory is short
    feature_region: tuple[int, int, int, int] | None = None
    features_only: bool = False  # a re-run for feature maps: the image is not news
    region_mode: str = "view"  # the feature panel's "view" or "image", echoed back
    progress: Progress = field(default_factory=Progress)


@dataclass
class CheckpointJob:
    job_id: int
    path: Path


@dataclass
class ExportJob:
    job_id: int
    image: np.ndarray  # (sH, sW, 3) float32
    like: LoadedImage
    scale: int
    path: Path
    format: str | None = None
    overwrite: bool = False
    quality: int = 95


@dataclass
class BatchJob:
    job_id: int
    files: list[Path]
    folder: Path
    pattern: str
    format: str
    model: ModelChoice
    device: str = "auto"
    tile: int | None = None
    overwrite: bool = False
    progress: Progress = field(default_factory=Progress)
    png_level: int | None = None  # PNG only; None: the core's default
    # A width, height or longest side instead of the scale: each file then runs the
    # model's smallest scale that reaches it, then Lanczos (seemore_core.target).
    target: TargetSize | None = None


@dataclass
class SizedExportJob:
    """An export at a size beyond the result on screen: the shared pipeline
    (`seemore_core.jobs`) upscales the source again at the smallest of the model's scales
    that reaches the target, shrinks it with Lanczos and writes it, as the CLI would."""

    job_id: int
    request: UpscaleRequest  # one input file, one output file, its target and format
    model: ModelChoice  # the model of the result; its other scales are its siblings
    device: str = "auto"
    progress: Progress = field(default_factory=Progress)


@dataclass
class RoutingRecord:
    """One block's routing for one image, as numpy (the widgets' side of the fence)."""

    block: int
    probs: np.ndarray  # (E,) float32
    chosen: np.ndarray  # (k,) int, best first
    weights: np.ndarray  # (k,) float32


@dataclass
class RunOutput:
    job_id: int
    kind: str  # "preview", "full" or "features"
    image: np.ndarray | None  # (sH, sW, 3) float32 ((h*s, w*s, 3) for a preview)
    scale: int
    model_label: str
    region: tuple[int, int, int, int] | None = None  # input pixels the image covers
    routing: list[RoutingRecord] = field(default_factory=list)
    tile_routing: Any = None  # seemore_core.engine.TileRouting (numpy only) or None
    features: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)  # (C, h, w)
    feature_point: str | None = None
    feature_region: tuple[int, int, int, int] | None = None
    report: Any = None  # seemore_core.engine.RunReport
    num_experts: int = 0
    num_blocks: int = 0
    ranks: list[int] = field(default_factory=list)  # low-rank width of each expert
    region_mode: str = "view"


@dataclass
class BatchSummary:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # input, the item's line
    failed: list[tuple[Path, str]] = field(default_factory=list)  # input, the item's line
    cancelled: bool = False
    results: list[Any] = field(default_factory=list)  # seemore_core.jobs.ItemResult, in order
    line: str = ""  # "3 done, 1 skipped, 0 failed", as the CLI's last line


def output_name(pattern: str, stem: str, scale: int, model: str, index: int) -> str:
    """Expand a batch name pattern (`seemore_core.jobs`); raises ValueError with a reason."""
    from seemore_core import jobs
    from seemore_core.errors import UsageError

    try:
        return jobs.output_name(pattern, stem, scale, model, index)
    except UsageError as e:
        raise ValueError(str(e)) from None


class Worker(QObject):
    ready = Signal(object)  # dict: versions, bundled models, model card; "error" if broken
    progress = Signal(int, float, str, object)  # job id, fraction, stage, ETA seconds|None
    output = Signal(object)  # RunOutput
    failed = Signal(int, str)  # job id, message for the user
    cancelled = Signal(int)
    checkpoint_info = Signal(int, object)  # job id, dict
    exported = Signal(int, str)  # job id, path written
    batch_item = Signal(int, int, str)  # job id, index, one line for the log
    batch_done = Signal(int, object)  # job id, BatchSummary
    finished = Signal(int)  # every job ends with this, whatever happened

    def __init__(self) -> None:
        super().__init__()
        self._engine: Any = None
        self._engine_key: tuple[Any, ...] | None = None
        self._ready = False

    # ------------------------------------------------------------------ start-up

    @Slot()
    def warm_up(self) -> None:
        """Import torch and the engine; tell the UI what is available."""
        info: dict[str, Any] = {"python": platform.python_version()}
        try:
            import torch

            from seemore_core import __version__, models
            from seemore_core import engine as _engine  # noqa: F401  (import cost paid here)

            info.update(
                seemore=__version__,
                torch=torch.__version__,
                numpy=np.__version__,
                cuda=torch.cuda.is_available(),
                cuda_name=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
                mps=bool(
                    getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
                ),
                bundled=[(v, s, str(p)) for v, s, p in models.bundled_models()],
                model_card=models.model_card(),
                variants=_variant_names(),
            )
        except Exception as e:  # a broken install must show a message, not a dead window
            info["error"] = f"could not load the inference engine: {e}"
            traceback.print_exc(file=sys.stderr)
        # Torch brings in a million long-lived objects. Python's full garbage collections
        # walk them all, holding the GIL for a tenth of a second or more, which freezes
        # the UI thread too; frozen objects are skipped.
        gc.collect()
        gc.freeze()
        self._ready = True
        self.ready.emit(info)

    # --------------------------------------------------------------------- jobs

    @Slot(object)
    def run(self, job: object) -> None:
        job_id = getattr(job, "job_id", 0)
        from seemore_core.errors import Cancelled, SeemoreError

        try:
            heavy = isinstance(job, (UpscaleJob, BatchJob, SizedExportJob))
            with ui_core_left() if heavy else nullcontext():
                if isinstance(job, UpscaleJob):
                    self._upscale(job)
                elif isinstance(job, CheckpointJob):
                    self._checkpoint(job)
                elif isinstance(job, ExportJob):
                    self._export(job)
                elif isinstance(job, BatchJob):
                    self._batch(job)
                elif isinstance(job, SizedExportJob):
                    self._sized_export(job)
                else:
                    raise TypeError(f"unknown job {type(job).__name__}")
        except Cancelled:
            self.cancelled.emit(job_id)
        except SeemoreError as e:
            self.failed.emit(job_id, str(e))
        except MemoryError:
            self.failed.emit(job_id, "not enough memory; try a smaller tile size")
        except Exception as e:
            # Anything else is our bug: keep the app alive, say what happened.
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(job_id, f"unexpected error: {type(e).__name__}: {e}")
        finally:
            self.finished.emit(job_id)

    def _callback(self, job_id: int, stage: str, scale_to: tuple[float, float] = (0.0, 1.0)):
        """A throttled progress callback mapping the engine's fraction into a sub-range."""
        last = [0.0]
        lo, hi = scale_to

        def cb(info: ProgressInfo) -> None:
            now = time.monotonic()
            final = info.done >= info.total
            if not final and now - last[0] < PROGRESS_INTERVAL_S:
                return
            last[0] = now
            frac = lo + (hi - lo) * info.fraction
            eta = info.eta_s
            if eta is not None and hi - lo < 1.0 and info.fraction > 0:
                # The phase's ETA plus the not-yet-started remainder at the same pace.
                eta = eta + info.elapsed_s / info.fraction * (1.0 - hi) / (hi - lo)
            self.progress.emit(job_id, frac, stage or info.stage, eta)

        return cb

    def _get_engine(self, choice: ModelChoice, device: str) -> Any:
        from seemore_core.engine import Engine

        key = (choice.kind, choice.name, choice.scale, device)
        if self._engine_key != key:
            # Drop the old network before loading the next, so two never sit in memory.
            self._engine = None
            self._engine_key = None
            from seemore_core.jobs import load_model

            model = load_model(choice.ref)
            self._engine = Engine(model, device=device)
            self._engine_key = key
        return self._engine

    def _upscale(self, job: UpscaleJob) -> None:
        from seemore_core.engine import EngineOptions

        prog = job.progress
        prog.check()
        self.progress.emit(job.job_id, 0.0, "loading model", None)
        engine = self._get_engine(job.model, job.device)
        cfg = engine.model.cfg
        # A checkpoint's scale is only certain once it is loaded.
        label = replace(job.model, scale=engine.scale).label
        prog.check()
        if job.preview_region is not None and not job.features_only:
            x, y, w, h = job.preview_region
            crop = np.ascontiguousarray(job.rgb[y : y + h, x : x + w])
            prog.callback = self._callback(job.job_id, "preview")
            prog.restart_clock()
            res = engine.upscale(crop, EngineOptions(tile=job.tile), prog)
            self.output.emit(
                RunOutput(
                    job.job_id,
                    "preview",
                    res.image,
                    engine.scale,
                    label,
                    region=job.preview_region,
                    routing=_routing(res.routing),
                    report=res.report,
                    num_experts=cfg.num_experts,
                    num_blocks=cfg.num_layers,
                    ranks=list(cfg.ranks),
                    region_mode=job.region_mode,
                )
            )
        points: tuple[str, ...] = ()
        blocks: tuple[int, ...] | None = None
        if job.feature_point:
            points = (job.feature_point.split("/")[0],)
            blocks = _feature_blocks(job, cfg.embedding_dim, cfg.num_layers)
        opts = EngineOptions(
            tile=job.tile,
            per_tile_routing=job.per_tile_routing,
            feature_points=points,
            feature_blocks=blocks,
            feature_region=job.feature_region,
        )
        stage = "features" if job.features_only else "upscale"
        prog.callback = self._callback(job.job_id, stage)
        prog.restart_clock()
        res = engine.upscale(job.rgb, opts, prog)
        feats = {k: v[0].float().numpy() for k, v in res.features.items()}
        self.output.emit(
            RunOutput(
                job.job_id,
                "features" if job.features_only else "full",
                None if job.features_only else res.image,
                engine.scale,
                label,
                routing=_routing(res.routing),
                tile_routing=res.tile_routing,
                features=feats,
                feature_point=points[0] if points else None,
                feature_region=job.feature_region,
                report=res.report,
                num_experts=cfg.num_experts,
                num_blocks=cfg.num_layers,
                ranks=list(cfg.ranks),
                region_mode=job.region_mode,
            )
        )

    def _checkpoint(self, job: CheckpointJob) -> None:
        from seemore_core.arch import count_macs, count_params
        from seemore_core.checkpoint import model_from_state_dict, read_checkpoint

        self.progress.emit(job.job_id, 0.0, "reading checkpoint", None)
        ck = read_checkpoint(job.path)
        # Build it for real: a file whose keys do not fit the network is refused now,
        # not at the first upscale.
        model = model_from_state_dict(ck.state_dict, ck.config, ck.path)
        cfg = ck.config
        s = cfg.scale
        info = {
            "path": str(job.path),
            "variant": cfg.variant or "custom",
            "scale": s,
            "params": count_params(model),
            # The paper quotes GMACs for a 1280x720 output.
            "gmacs": count_macs(cfg, 720 // s, 1280 // s) / 1e9,
            "layers": cfg.num_layers,
            "width": cfg.embedding_dim,
            "experts": cfg.num_experts,
            "ranks": list(cfg.ranks),
            "topk": cfg.topk,
            "weights": ck.source or "state dict",
        }
        self.checkpoint_info.emit(job.job_id, info)

    def _export(self, job: ExportJob) -> None:
        from seemore_core.imageio import upscale_alpha, write_image

        self.progress.emit(job.job_id, 0.0, "saving", None)
        alpha = None
        if job.like.alpha is not None:
            alpha = upscale_alpha(job.like.alpha, job.scale)
            alpha = alpha[: job.image.shape[0], : job.image.shape[1]]
        path = write_image(
            job.path,
            job.image,
            alpha=alpha,
            like=job.like,
            format=job.format,
            quality=job.quality,
            overwrite=job.overwrite,
        )
        self.progress.emit(job.job_id, 1.0, "saved", None)
        self.exported.emit(job.job_id, str(path))

    def _batch(self, job: BatchJob) -> None:
        """The shared pipeline (`seemore_core.jobs`), its results turned into signals."""
        from seemore_core import jobs
        from seemore_core.errors import Cancelled

        summary = BatchSummary()
        prog = job.progress
        try:
            prog.check()
            self.progress.emit(job.job_id, 0.0, "loading model", None)
            engine = self._get_engine(job.model, job.device)
        except Cancelled:  # before any file: still a batch that ends, with nothing done
            summary.cancelled = True
            self.batch_done.emit(job.job_id, summary)
            return
        request = jobs.UpscaleRequest(
            inputs=list(job.files),
            output=job.folder,
            output_is_folder=True,
            format=job.format,
            png_level=job.png_level,
            target=job.target,
            pattern=job.pattern,
            overwrite=job.overwrite,
            tile=job.tile,
        )
        plan = jobs.plan(request, engine.scale, job.model.ref.stem, self._scales(job.model))
        index = {id(item): i for i, item in enumerate(plan.items)}
        n = len(plan.items)
        callbacks: dict[int, Any] = {}

        def progress(item: jobs.PlanItem, info: ProgressInfo) -> None:
            i = index[id(item)]
            if i not in callbacks:
                stage = f"{i + 1}/{n} {item.source.name}"
                callbacks[i] = self._callback(job.job_id, stage, (i / n, (i + 1) / n))
            callbacks[i](info)

        def finished(result: jobs.ItemResult) -> None:
            src = result.item.source
            if result.status == "done":
                summary.written.append(result.item.target)
            elif result.status == "skipped":
                summary.skipped.append((src, result.line))
            else:
                summary.failed.append((src, result.line))
            summary.results.append(result)
            self.batch_item.emit(job.job_id, index[id(result.item)], result.line)

        engines = self._engines(job.model, job.device)
        outcome = jobs.run(plan, engines, prog, jobs.Listener(progress=progress, finished=finished))
        summary.cancelled = outcome.cancelled
        summary.line = outcome.line
        self.batch_done.emit(job.job_id, summary)

    def _scales(self, choice: ModelChoice) -> tuple[int, ...]:
        """The scales a target size may pick from: a bundled model's files, a
        checkpoint's own one (`seemore_core.jobs.model_scales` either way)."""
        from seemore_core import jobs

        ref = ModelRef(choice.name) if choice.kind == "bundled" else choice.ref
        return jobs.model_scales(ref)

    def _engines(self, choice: ModelChoice, device: str) -> Any:
        """What `seemore_core.jobs.run` takes: the engine of a checkpoint (one scale), or
        for a bundled model the engine at whichever scale an item needs. One network is
        kept at a time (`_get_engine` drops the previous one)."""
        if choice.kind == "file":
            return self._get_engine(choice, device)
        return lambda scale: self._get_engine(replace(choice, scale=scale), device)

    def _sized_export(self, job: SizedExportJob) -> None:
        from seemore_core import jobs
        from seemore_core.errors import Cancelled, SeemoreError

        prog = job.progress
        prog.check()
        plan = jobs.plan(job.request, job.model.scale, job.model.ref.stem, self._scales(job.model))
        self.progress.emit(job.job_id, 0.0, "loading model", None)
        relay = self._callback(job.job_id, "upscale for export")
        outcome = jobs.run(
            plan,
            self._engines(job.model, job.device),
            prog,
            jobs.Listener(progress=lambda _item, info: relay(info)),
        )
        if outcome.cancelled:
            raise Cancelled()
        result = outcome.results[0]
        if result.status != "done":
            # The item's own line names the file and the reason (skipped: it exists).
            raise SeemoreError(result.line)
        self.progress.emit(job.job_id, 1.0, "saved", None)
        self.exported.emit(job.job_id, str(result.item.target))


def _routing(records: list[Any]) -> list[RoutingRecord]:
    return [
        RoutingRecord(
            int(r.block),
            r.probs[0].float().numpy().copy(),
            r.chosen[0].numpy().copy(),
            r.weights[0].float().numpy().copy(),
        )
        for r in records
    ]


def _feature_blocks(job: UpscaleJob, channels: int, blocks: int) -> tuple[int, ...] | None:
    if job.feature_region is not None:
        pixels = job.feature_region[2] * job.feature_region[3]
    else:
        pixels = job.rgb.shape[0] * job.rgb.shape[1]
    if pixels * channels * 4 * blocks <= FEATURE_BUDGET_BYTES:
        return None  # all blocks: switching block in the panel is then instant
    return (min(max(job.feature_block, 0), blocks - 1),)


def _variant_names() -> list[str]:
    from seemore_core.arch import VARIANTS

    return list(VARIANTS)
