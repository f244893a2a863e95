"""ONNX Runtime (CPU) as a measured peer: the same network, the same image, the same run.

    python benchmarks/onnx_peer.py [--size 512] [--scale 4] [--repeat 3] [--busy 0]
                                   [--random] [--threads N] [--json OUT.json]

The network is exported for one image with its routing fixed to that image's choice
(SeemoRe routes each image on its global mean, so an export for "any image" would have
to carry the data-dependent expert choice; fixed routing is what the engine's tiled run
does too, with the whole image's routing forced on every tile). The export is checked
against the reference network (benchmarks/reference_seemore.py) to 1e-4 before anything
is timed; then the reference, the engine (its default plan and one whole-image pass) and
ONNX Runtime run interleaved, `--repeat` rounds, and the medians are compared.
`--busy N` runs the whole measurement while N processes of our own spin on the CPU.

`fixed_route` is also what benchmarks/gpu_check.py traces for CUDA graphs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import BusyLoad  # noqa: E402
from reference_seemore import reference_forward  # noqa: E402

from seemore_core.arch import Probe, SeemoRe, build  # noqa: E402
from seemore_core.engine import Engine, EngineOptions  # noqa: E402

EXACT = 1e-4  # float tolerance of a peer against the reference (the issue's rule)


class FixedRoute(nn.Module):
    """`model` with every block's router replaced by given probabilities.

    With the routing constant the forward has no data-dependent branch left, so it can be
    traced (TorchScript, ONNX) and captured (CUDA graphs); the experts not chosen are
    dropped from the traced graph as dead code.
    """

    def __init__(self, model: SeemoRe, forced: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.forced = forced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, Probe(forced=self.forced, to_cpu=False))


def image_routing(model: SeemoRe, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """The router probabilities every block gives this image (block -> (1, E))."""
    with torch.no_grad():
        res = model.inspect(x)
    return {r.block: r.probs.clone().to(x.device) for r in res.routing}


def fixed_route(model: SeemoRe, x: torch.Tensor) -> FixedRoute:
    return FixedRoute(model, image_routing(model, x)).eval()


def trace_fixed(model: SeemoRe, x: torch.Tensor) -> torch.jit.ScriptModule:
    """A frozen TorchScript trace of `model` routed as for `x` (shape fixed to x's)."""
    fixed = fixed_route(model, x)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python branch it fixes; fixing them is the point.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(fixed, (x,), check_trace=False)
        # Freezing inlines the weights and removes dead code (the unchosen experts and
        # the routing records' device copies), which a CUDA graph capture needs.
        return torch.jit.freeze(traced.eval())


def export_onnx(model: SeemoRe, x: torch.Tensor, path: Path) -> Path:
    """ONNX file of `model` routed as for `x`, for inputs of x's shape."""
    fixed = fixed_route(model, x)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: it needs no onnxscript, and the trace is exactly the
        # fixed-route function checked against the reference below.
        torch.onnx.export(
            fixed,
            (x,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["y"],
        )
    return path


@dataclass
class PeerRow:
    name: str
    median_s: float
    best_s: float
    ratio_to_reference: float  # reference median / this median (higher is faster)
    max_diff: float  # against the reference, float output before clamping


@dataclass
class PeerReport:
    size: int
    scale: int
    weights: str
    threads: int
    busy_processes: int
    repeat: int
    export_s: float
    rows: list[PeerRow]


def _median_times(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeat):
        # Interleaved rounds: a neighbour's burst slows every contender alike.
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def measure(args: argparse.Namespace) -> PeerReport:
    import onnxruntime as ort

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.random:
        torch.manual_seed(0)
        model, weights = build("T", args.scale), f"random T x{args.scale} (seed 0)"
    else:
        from seemore_core.models import load

        model, weights = load("T", args.scale), f"bundled T x{args.scale}"
    model.eval()
    n = args.size
    img = np.random.default_rng(0).random((n, n, 3), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    eng = Engine(model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(model, x, Path(tmp) / "seemore.onnx")
        export_s = time.perf_counter() - t0
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    with torch.no_grad():
        ref = reference_forward(sd, model.cfg, x)[0].permute(1, 2, 0).numpy()
        outs = {
            "onnxruntime": sess.run(None, feed)[0][0].transpose(1, 2, 0),
            "engine": eng.upscale(img, EngineOptions()).image,
            "engine whole": eng.upscale(img, EngineOptions(tile=0)).image,
        }
    # The engine clamps to [0, 1]; compare every contender on the clamped values.
    ref_c = np.clip(ref, 0, 1)
    diffs = {k: float(np.abs(np.clip(v, 0, 1) - ref_c).max()) for k, v in outs.items()}
    if diffs["onnxruntime"] > EXACT:
        raise SystemExit(
            f"the ONNX export differs from the reference by {diffs['onnxruntime']:.2e} "
            f"(> {EXACT}); not timing it"
        )
    runs: dict[str, Callable[[], object]] = {
        "reference": lambda: reference_forward(sd, model.cfg, x),
        "engine": lambda: eng.upscale(img, EngineOptions()),
        "engine whole": lambda: eng.upscale(img, EngineOptions(tile=0)),
        "onnxruntime": lambda: sess.run(None, feed),
    }
    with torch.no_grad(), BusyLoad(args.busy):
        times = _median_times(runs, args.repeat)
    t_ref = statistics.median(times["reference"])
    rows = [
        PeerRow(
            name,
            statistics.median(ts),
            min(ts),
            t_ref / statistics.median(ts),
            0.0 if name == "reference" else diffs[name],
        )
        for name, ts in times.items()
    ]
    return PeerReport(n, args.scale, weights, threads, args.busy, args.repeat, export_s, rows)


def print_report(r: PeerReport) -> None:
    print(
        f"{r.weights}, input {r.size}x{r.size}, {r.threads} threads, "
        f"{r.busy_processes} busy processes of ours, median of {r.repeat} interleaved rounds; "
        f"ONNX export (routing fixed to this image) {r.export_s:.1f} s"
    )
    print(f"{'':<14}{'median s':>10}{'best s':>9}{'x ref':>7}{'max diff':>10}")
    for row in r.rows:
        print(
            f"{row.name:<14}{row.median_s:>10.3f}{row.best_s:>9.3f}"
            f"{row.ratio_to_reference:>7.2f}{row.max_diff:>10.1e}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--busy", type=int, default=0, help="spinning processes to run meanwhile")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's)")
    p.add_argument("--random", action="store_true", help="random weights instead of bundled")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()
    if args.size < 16 or args.repeat < 1 or args.busy < 0:
        p.error("--size must be >= 16, --repeat >= 1 and --busy >= 0")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        p.exit(2, "onnxruntime is not installed: pip install -e '.[bench]'\n")
    report = measure(args)
    print_report(report)
    if args.json is not None:
        from seemore_core.atomic import write_bytes_atomic
        from seemore_core.errors import SeemoreError

        try:
            data = json.dumps(asdict(report), indent=2).encode()
            write_bytes_atomic(args.json, data, overwrite=False)
        except SeemoreError as e:
            p.exit(1, f"{e}\n")


if __name__ == "__main__":
    main()
