"""How late the app's UI thread gets while an upscale runs, against idle.

A 10 ms precise QTimer runs on the UI thread of a real `MainWindow`; each tick's lateness
is (time since the previous tick) - 10 ms. The figures are measured for a few idle
seconds, then for the length of one upscale of the same image (the worker thread
computing, progress signals arriving), and printed with the ratio busy/idle.

    python benchmarks/bench_ui_latency.py [--image IMG] [--model NAME_OR_PATH] [--scale N]

With --whole-path it measures what a user does, phase by phase, and reports the UI
thread's worst lateness in each: open (decode and "before" picture), upscale (the run),
result (the result arriving and being shown, panels filled), slider (the divider dragged
across the view, 40 steps, each repainted), export (Save as PNG). Without --image the
whole path uses a 1152x864 synthetic photo. With --json the last stdout line is
`{"max_ms": float, "phases": {name: max_ms}}`. With --stalls, a sampling thread records
what the UI thread was doing (its Python stack) whenever it is more than 30 ms late, and
the most frequent stacks of each phase are printed: where to look when a phase is slow.

Without --model it uses the bundled SeemoRe-T x4 when present, else a SeemoRe-T x2 with
random weights (the timing does not depend on the weights). Without --image it uses a
random 256x256 image. Runs offscreen unless --show is given. Not part of the tests.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

INTERVAL_MS = 10


class _LatenessProbe:
    """A precise timer on the UI thread; each tick records how late it fired (seconds)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self.clock = QElapsedTimer()
        self.clock.start()
        self.samples: list[float] = []
        self._last = self.clock.nsecsElapsed()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.samples.append(max(0.0, (now - self._last) / 1e9 - INTERVAL_MS / 1000.0))
        self._last = now
        self.last_tick = time.monotonic()

    def start(self) -> None:
        self._last = self.clock.nsecsElapsed()
        self.last_tick = time.monotonic()
        self.timer.start()


class _StallSampler(threading.Thread):
    """Samples the UI thread's Python stack while the probe's timer is overdue.

    Each sample stands for about `every_s` of a stall, so the counts rank where the UI
    thread's late time went. Python frames only: time in Qt's C++ shows as the Python
    call that entered it (a paint handler, processEvents, a slot).
    """

    def __init__(self, probe: _LatenessProbe, threshold_s: float = 0.03, every_s: float = 0.005):
        super().__init__(daemon=True)
        self.probe = probe
        self.threshold_s = threshold_s
        self.every_s = every_s
        self.main_ident = threading.main_thread().ident
        self.phase = "start"
        self.stacks: dict[str, Counter[tuple[str, ...]]] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.every_s):
            overdue = time.monotonic() - self.probe.last_tick - INTERVAL_MS / 1000.0
            if overdue < self.threshold_s:
                continue
            frame = sys._current_frames().get(self.main_ident)
            if frame is None:
                continue
            frames = traceback.extract_stack(frame)
            key = tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-7:])
            self.stacks.setdefault(self.phase, Counter())[key] += 1

    def stop(self) -> None:
        self._stop.set()

    def report(self, top: int = 4) -> None:
        for phase, counts in self.stacks.items():
            total = sum(counts.values())
            print(f"stalls in {phase}: {total} samples (~{total * self.every_s * 1000:.0f} ms)")
            for stack, n in counts.most_common(top):
                print(f"  {n:5d}  " + " <- ".join(reversed(stack)))


def _stats(lateness_s: list[float]) -> dict[str, float]:
    a = np.asarray(lateness_s) * 1000.0
    if a.size == 0:
        return {"ticks": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "ticks": float(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "max": float(a.max()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", help="image to upscale (default: random 256x256)")
    p.add_argument("--model", help="bundled name or checkpoint (default: bundled T, else random T)")
    p.add_argument("--scale", type=int, default=None, help="scale for a bundled model")
    p.add_argument("--device", default="cpu", help="inference device (default cpu)")
    p.add_argument("--tile", type=int, default=None, help="tile size (default auto)")
    p.add_argument("--idle", type=float, default=3.0, help="idle seconds to measure")
    p.add_argument("--show", action="store_true", help="use the real display, not offscreen")
    p.add_argument(
        "--whole-path",
        action="store_true",
        help="open -> upscale -> result shown -> slider dragged -> export, per phase",
    )
    p.add_argument("--json", action="store_true", help="last stdout line: JSON summary")
    p.add_argument(
        "--stalls", action="store_true", help="print the UI thread's stacks while it is late"
    )
    p.add_argument(
        "--profile",
        metavar="PHASE",
        help="cProfile the UI thread during one --whole-path phase (slower; ranks the slots)",
    )
    args = p.parse_args(argv)
    if not args.show:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    tmp = tempfile.TemporaryDirectory(prefix="seemore-bench-")
    os.environ["SEEMORE_CONFIG_DIR"] = tmp.name  # never touch the user's settings

    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication
    from seemore_app.mainwindow import MainWindow
    from seemore_app.settings import Settings

    from seemore_core.imageio import image_from_array, read_image

    app = QApplication.instance() or QApplication([])
    settings = Settings()
    settings.device = args.device
    settings.tile = args.tile
    settings.preview_first = False  # one run, the whole image
    win = MainWindow(settings)
    win.persist = False
    win.resize(1400, 880)
    win.show()

    def wait(pred, timeout_s: float) -> bool:
        t0 = time.monotonic()
        while not pred():
            if time.monotonic() - t0 > timeout_s:
                return False
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return True

    if not wait(lambda: win.engine_info is not None, 300):
        print("engine did not load", file=sys.stderr)
        return 1
    model_desc = args.model
    if args.model and Path(args.model).exists():
        win.use_checkpoint(args.model)
    elif args.model or win._bundled():
        win.select_bundled(args.model or "T", args.scale)
        model_desc = f"bundled {args.model or 'T'}"
    else:
        import seemore_core

        path = Path(tmp.name) / "seemore_T_x2_random.safetensors"
        seemore_core.save_safetensors(seemore_core.build("T", scale=2), path)
        win.use_checkpoint(path)
        model_desc = "SeemoRe-T x2, random weights"
    wait(lambda: win.model_choice() is not None and win.model_choice().scale > 0, 60)

    if args.whole_path:
        return _whole_path(app, win, args, Path(tmp.name), model_desc, wait)

    if args.image:
        img = read_image(args.image)
        name = Path(args.image).name
    else:
        rng = np.random.default_rng(0)
        img = image_from_array(rng.random((256, 256, 3), dtype=np.float32))
        name = "random 256x256"
    win.set_image(img, name)

    probe = _LatenessProbe()
    lateness = probe.samples
    timer = probe.timer
    # Let start-up work (first paints, the model read) settle before measuring idle.
    wait(lambda: False, 1.0)
    probe.start()
    t_end = time.monotonic() + args.idle
    wait(lambda: time.monotonic() > t_end, args.idle + 5)
    idle = _stats(lateness[1:])

    lateness.clear()
    done: list[bool] = []
    win.run_done.connect(lambda ok: done.append(ok))
    t0 = time.monotonic()
    win.upscale()
    if not wait(lambda: bool(done), 1800):
        print("upscale did not finish", file=sys.stderr)
        return 1
    run_s = time.monotonic() - t0
    busy = _stats(lateness[1:])
    timer.stop()
    if not done[0]:
        print(f"upscale failed: {win.errors}", file=sys.stderr)
        return 1

    print(f"model: {model_desc}; image: {name} ({img.width}x{img.height}); device {args.device}")
    print(f"upscale took {run_s:.2f} s; timer interval {INTERVAL_MS} ms; lateness in ms")
    print(f"{'':10}{'ticks':>8}{'p50':>9}{'p95':>9}{'max':>9}")
    for label, s in (("idle", idle), ("upscale", busy)):
        print(f"{label:10}{s['ticks']:8.0f}{s['p50']:9.2f}{s['p95']:9.2f}{s['max']:9.2f}")

    def ratio(a: float, b: float) -> str:
        # An idle loop is often late by a few microseconds only: against that floor any
        # delay looks enormous, so idle counts as at least 1 ms (the timer's own grain).
        return f"{a / max(b, 1.0):.1f}x"

    print(
        f"ratio upscale/idle (idle floored at 1 ms): p95 {ratio(busy['p95'], idle['p95'])}, "
        f"max {ratio(busy['max'], idle['max'])}"
    )
    win.close()
    tmp.cleanup()
    return 0


def _synthetic_photo(path: Path, w: int = 1152, h: int = 864) -> Path:
    """A photo-sized picture with smooth areas, edges and texture (any content will do)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack(
        [
            0.5 + 0.4 * np.sin(xx / 37.0) * np.cos(yy / 53.0),
            0.5 + 0.4 * np.sin((xx + yy) / 71.0),
            (xx // 96 + yy // 96) % 2 * 0.5 + 0.25,
        ],
        axis=-1,
    )
    rgb = np.clip(rgb + rng.normal(0, 0.04, rgb.shape), 0, 1)
    Image.fromarray((rgb * 255).astype(np.uint8), "RGB").save(path)
    return path


def _whole_path(app, win, args, tmp: Path, model_desc: str, wait) -> int:  # noqa: ANN001
    """Each phase driven like a user would, the UI thread's lateness recorded per phase."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    image = Path(args.image) if args.image else _synthetic_photo(tmp / "photo_1152x864.png")
    probe = _LatenessProbe()
    lateness = probe.samples
    timer = probe.timer
    wait(lambda: False, 1.0)
    probe.start()
    sampler = _StallSampler(probe) if args.stalls else None
    if sampler is not None:
        sampler.start()
    phases: dict[str, float] = {}
    seconds: dict[str, float] = {}

    def phase(name: str, start, done, timeout_s: float) -> bool:  # noqa: ANN001
        lateness.clear()
        if sampler is not None:
            sampler.phase = name
        prof = cProfile.Profile() if args.profile == name else None
        if prof is not None:
            prof.enable()  # this (the UI) thread only
        t0 = time.monotonic()
        start()
        ok = wait(done, timeout_s)
        # The tick that ends the phase may itself be the late one: let it land.
        wait(lambda: False, 0.05)
        if prof is not None:
            prof.disable()
            print(f"UI thread profile of phase {name}, by own time:")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        seconds[name] = time.monotonic() - t0
        phases[name] = max(lateness) * 1000.0 if lateness else float("nan")
        if not ok:
            print(f"phase {name} did not finish", file=sys.stderr)
        return ok

    # The machine's own noise first: the same timer with the app doing nothing. On a
    # loaded machine (other processes on every core) this alone can reach tens of ms.
    lateness.clear()
    wait(lambda: False, 2.0)
    phases["idle"] = max(lateness) * 1000.0 if lateness else float("nan")
    seconds["idle"] = 2.0
    loaded: list[bool] = []
    win.image_loaded.connect(lambda ok: loaded.append(ok))
    if not phase(
        "open",
        lambda: win.load_image(image),
        lambda: bool(loaded) and win.view.bicubic_ready(),
        120,
    ):
        return 1
    if not loaded[0]:
        print(f"could not open {image}: {win.errors}", file=sys.stderr)
        return 1
    outputs: list[object] = []
    win.worker.output.connect(lambda out: outputs.append(out))
    done: list[bool] = []
    win.run_done.connect(lambda ok: done.append(ok))
    if not phase("upscale", win.upscale, lambda: bool(outputs) or bool(done), 3600):
        return 1
    if not phase("result", lambda: None, lambda: bool(done), 600) or not done[0]:
        print(f"upscale failed: {win.errors}", file=sys.stderr)
        return 1
    view = win.view
    y = view.height() // 2

    def drag() -> None:
        x0 = int(view.divider * view.width())
        QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(x0, y))
        for i in range(41):
            QTest.mouseMove(view, QPoint(int(view.width() * i / 40), y))
            app.processEvents()  # the repaint of each step
        QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(view.width() - 1, y))

    phase("slider", drag, lambda: True, 60)
    exported: list[bool] = []
    win.export_done.connect(lambda ok: exported.append(ok))
    out_path = tmp / "export_x.png"
    if not phase("export", lambda: win.export_to(out_path), lambda: bool(exported), 600):
        return 1
    timer.stop()
    shape = win.result.image.shape if win.result is not None else None
    print(f"model: {model_desc}; image: {image.name}; result {shape}; device {args.device}")
    print(f"UI thread lateness per phase (timer every {INTERVAL_MS} ms), ms and phase seconds:")
    for name, ms in phases.items():
        print(f"  {name:8} max {ms:8.1f} ms   ({seconds[name]:.2f} s)")
    if sampler is not None:
        sampler.stop()
        sampler.report()
    idle = phases.pop("idle")
    summary = {
        "max_ms": round(max(phases.values()), 2),
        "phases": {k: round(v, 2) for k, v in phases.items()},
        "idle_ms": round(idle, 2),  # the machine's noise, not part of max_ms
    }
    if args.json:
        print(json.dumps(summary))
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
