"""How late the app's UI thread gets while an upscale runs, against idle.

A 10 ms precise QTimer runs on the UI thread of a real `MainWindow`; each tick's lateness
is (time since the previous tick) - 10 ms. The figures are measured for a few idle
seconds, then for the length of one upscale of the same image (the worker thread
computing, progress signals arriving), and printed with the ratio busy/idle.

    python benchmarks/bench_ui_latency.py [--image IMG] [--model NAME_OR_PATH] [--scale N]

Without --model it uses the bundled SeemoRe-T x4 when present, else a SeemoRe-T x2 with
random weights (the timing does not depend on the weights). Without --image it uses a
random 256x256 image. Runs offscreen unless --show is given. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

INTERVAL_MS = 10


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
    args = p.parse_args(argv)
    if not args.show:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    tmp = tempfile.TemporaryDirectory(prefix="seemore-bench-")
    os.environ["SEEMORE_CONFIG_DIR"] = tmp.name  # never touch the user's settings

    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
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

    if args.image:
        img = read_image(args.image)
        name = Path(args.image).name
    else:
        rng = np.random.default_rng(0)
        img = image_from_array(rng.random((256, 256, 3), dtype=np.float32))
        name = "random 256x256"
    win.set_image(img, name)

    clock = QElapsedTimer()
    clock.start()
    lateness: list[float] = []
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e9 - INTERVAL_MS / 1000.0))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    timer.timeout.connect(tick)

    # Let start-up work (first paints, the model read) settle before measuring idle.
    wait(lambda: False, 1.0)
    last[0] = clock.nsecsElapsed()
    timer.start()
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


if __name__ == "__main__":
    sys.exit(main())
