"""Hostile inputs and faults mid-run, through the real `seemore` process.

Each case runs `python -m seemore_core.cli` as a child and records its exit code, wall
time and peak memory (the child's own ru_maxrss, from wait4): a hostile input must end
in exit 1 with one clear line, within seconds, in a few hundred MB (importing torch alone
takes about 220 MB), with nothing half-written. Signals are real: SIGTERM and SIGINT are
sent to a running upscale. Every hostile file is built by the test itself.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seemore_core.arch import SeemoRe, SeemoreConfig

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "tests" / "assets" / "seemore_T_x2_random.safetensors"
# Importing torch is most of a child's memory; a hostile case may add a little to it.
MAX_RSS_MB = 400
# Start-up (torch import) is slow on a loaded 2-core machine; the case itself is not.
MAX_SECONDS = 60

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and wait4 are POSIX")


@dataclass(frozen=True)
class Run:
    """What one child `seemore` did."""

    args: tuple[str, ...]
    code: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("PYTHONWARNINGS", None)
    return env


# Runs the CLI as `python -m seemore_core.cli` would, and at exit writes the process's own
# peak RSS (VmHWM) to stderr. wait4's ru_maxrss is no good here: Linux carries the RSS of
# the forking process (pytest, hundreds of MB) into the child's figure across exec.
_LAUNCH = """
import atexit, runpy, sys
def _peak():
    try:
        with open("/proc/self/status") as f:
            kb = next(ln.split()[1] for ln in f if ln.startswith("VmHWM:"))
        sys.stderr.write(f"\\n{PEAK_TAG}{kb}\\n")
    except (OSError, StopIteration):
        pass
atexit.register(_peak)
sys.argv = ["seemore", *sys.argv[1:]]
runpy.run_module("seemore_core.cli", run_name="__main__", alter_sys=True)
"""
PEAK_TAG = "hostile-test-peak-kb: "


def _child(args: list[str]) -> subprocess.Popen[bytes]:
    code = _LAUNCH.replace("{PEAK_TAG}", PEAK_TAG)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes], args: list[str], t0: float, err: bytes = b"") -> Run:
    out = proc.stdout.read() if proc.stdout else b""
    err += proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = err.decode(errors="replace")
    peak_kb = float(usage.ru_maxrss)  # an upper bound, where /proc is missing
    if PEAK_TAG in text:
        text, _, kb = text.rpartition(PEAK_TAG)
        text, peak_kb = text.rstrip("\n") + "\n", float(kb.strip())
    run = Run(
        tuple(args),
        proc.returncode,
        time.monotonic() - t0,
        peak_kb / 1024,
        out.decode(errors="replace"),
        text,
    )
    print(
        f"case: {' '.join(a.rsplit('/', 1)[-1] for a in args)}: exit {run.code}, "
        f"{run.seconds:.1f} s, "
        f"{run.peak_mb:.0f} MB peak RSS"
    )
    return run


def seemore(*args: str | Path) -> Run:
    argv = [str(a) for a in args]
    t0 = time.monotonic()
    proc = _child(argv)
    return _finish(proc, argv, t0)


def assert_clean_failure(run: Run, *words: str) -> None:
    """Exit 1, one `seemore:` line naming the problem, no traceback, bounded cost."""
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr and "unexpected error" not in run.stderr, run.stderr
    errors = [ln for ln in run.lines if ln.startswith("seemore: ")]
    assert len(errors) == 1, run.stderr
    for word in words:
        assert word in errors[0], run.stderr
    assert run.peak_mb < MAX_RSS_MB, f"{run.peak_mb:.0f} MB"
    assert run.seconds < MAX_SECONDS


def no_temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith((".part", ".tmp"))]


# ------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def hostile_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    cfg = SeemoreConfig(scale=4, num_layers=1, embedding_dim=8, num_experts=32)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in SeemoRe(cfg).state_dict().items()}
    expanded = folder / "expanded.pth"
    torch.save({"params": {k: torch.zeros(1).expand(s) for k, s in shapes.items()}}, expanded)
    good = folder / "good.pth"
    torch.save({"params": SeemoRe(SeemoreConfig(scale=2, num_layers=1)).state_dict()}, good)
    bomb = folder / "deflated.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        prefix = src.namelist()[0].split("/")[0]
        dst.writestr(f"{prefix}/data/9999", bytes(256 << 20), zipfile.ZIP_DEFLATED)
    text = folder / "readme.pth"
    text.write_text("weights: see https://example.org\n")
    return {"expanded": expanded, "deflated": bomb, "text": text}


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("expanded", ("not stored in full",)),
        ("deflated", ("compression bomb",)),
        ("text", ("text file",)),
    ],
)
def test_hostile_checkpoints(
    hostile_checkpoints: dict[str, Path], tmp_path: Path, case: str, words: tuple[str, ...]
) -> None:
    path = hostile_checkpoints[case]
    info = seemore("info", path)
    assert_clean_failure(info, str(path), *words)
    assert "code" not in info.stderr
    img = tmp_path / "in.png"
    Image.new("RGB", (8, 8)).save(img)
    up = seemore("upscale", img, "-o", tmp_path / "out.png", "--model", path, "-q")
    assert_clean_failure(up, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


# ------------------------------------------------------------------------ signals


def _start_upscale(tmp_path: Path, side: int = 640) -> tuple[subprocess.Popen[bytes], list[str]]:
    src = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(src)
    args = ["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(CKPT), "--tile", "64"]
    return _child(args), args


def _wait_for_progress(proc: subprocess.Popen[bytes], timeout: float = 120) -> bytes:
    """Read the child's stderr until the upscale reports progress (it is mid-run)."""
    assert proc.stderr is not None
    seen = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            if b"%" in seen:
                return seen
    pytest.fail(f"the upscale never reported progress: {seen!r}")


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_mid_run_stops_cleanly(tmp_path: Path, sig: int, code: int, word: str) -> None:
    proc, args = _start_upscale(tmp_path)
    t0 = time.monotonic()
    seen = _wait_for_progress(proc)
    sent = time.monotonic()
    proc.send_signal(sig)
    run = _finish(proc, args, t0, seen)
    assert run.code == code, run.stderr
    assert word in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert time.monotonic() - sent < 10  # stops within a tile, not at the end of the image
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]  # no output, no .part


def test_stale_temporaries_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".big.png.k3j_9xzq.part"  # what a SIGKILLed run leaves
    stale.write_bytes(b"half an image")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    live = out / ".other.png.abcdefgh.part"  # another run's, open right now
    held = open(live, "wb")  # noqa: SIM115 - held open across the run on purpose
    try:
        os.utime(live, (hour_ago, hour_ago))
        lookalike = out / ".notes.txt"  # not one of ours
        lookalike.write_text("keep")
        os.utime(lookalike, (hour_ago, hour_ago))
        src = tmp_path / "big.png"
        Image.new("RGB", (16, 16), "white").save(src)
        run = seemore("upscale", src, "-o", out, "--model", CKPT, "-q")
        assert run.code == 0, run.stderr
        assert "removed 1 temporary file" in run.stderr
        assert not stale.exists() and live.exists() and lookalike.exists()
        assert (out / "big.png").is_file()
    finally:
        held.close()


# -------------------------------------------------------------------- work budget


@pytest.fixture(scope="module")
def x4_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from seemore_core.checkpoint import save_safetensors

    net = SeemoRe(SeemoreConfig(scale=4, num_layers=1, embedding_dim=8))
    return save_safetensors(net, tmp_path_factory.mktemp("x4") / "tiny_x4.safetensors")


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height and holds no pixels (65 bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_output_pixels_count_the_scale(tmp_path: Path, x4_model: Path) -> None:
    # 81 MP of 1-bit pixels in 10 KB: under the input limit, but 1.3 gigapixels at x4.
    src = tmp_path / "onebit.png"
    Image.new("1", (9000, 9000)).save(src)
    assert src.stat().st_size < 50_000
    run = seemore("upscale", src, "-o", tmp_path / "out.png", "--model", x4_model, "-q")
    assert_clean_failure(run, "36000x36000 = 1,296,000,000 output pixels", "--max-pixels")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onebit.png"]


def test_a_run_beyond_memory_and_disk_is_refused_up_front(tmp_path: Path, x4_model: Path) -> None:
    # With the pixel limit off, the machine's memory and disk are still a limit.
    src = tmp_path / "huge.png"
    _png_header_only(src, 200_000, 200_000)
    run = seemore(
        "upscale", src, "-o", tmp_path / "out.png", "--model", x4_model, "--max-pixels", "0", "-q"
    )
    assert_clean_failure(run, "of memory plus", "of feature maps, but only")


# --------------------------------------------------------------------------- paths


@pytest.fixture
def odd_paths(tmp_path: Path) -> Path:
    (tmp_path / "loop.png").symlink_to("loop.png")
    (tmp_path / "loopdir").symlink_to("loopdir")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "afile").write_text("x")
    Image.new("RGB", (8, 8), "red").save(tmp_path / "ok.png")
    return tmp_path


@pytest.mark.parametrize(
    ("source", "output", "extra", "words"),
    [
        ("loop.png", "out.png", (), ("loop.png'", "loop of symbolic links")),
        ("loopdir", "outdir", (), ("loopdir'", "loop of symbolic links")),
        ("ok.png", "loop.png", (), ("loop.png'", "loop of symbolic links")),
        ("ok.png", "loopdir/x.png", (), ("loop of symbolic links",)),
        ("ok.png", "loopdir/", (), ("loop of symbolic links",)),
        ("fifo.png", "out.png", (), ("FIFO",)),
        ("ok.png", "fifo.png", ("--overwrite",), ("is a FIFO", "not replacing it")),
        ("ok.png", "afile/x.png", (), ("is a file, not a folder",)),
        ("/dev/zero", "out.png", (), ("a device",)),
        ("ok.png", "/dev/null", ("--overwrite",), ("is a device", "not replacing it")),
    ],
)
def test_path_errors_are_one_clean_line(
    odd_paths: Path, source: str, output: str, extra: tuple[str, ...], words: tuple[str, ...]
) -> None:
    before = sorted(p.name for p in odd_paths.iterdir())
    src = source if source.startswith("/") else str(odd_paths / source)
    out = output if output.startswith("/") else str(odd_paths / output)
    run = seemore("upscale", src, "-o", out, "--model", CKPT, "-q", *extra)
    assert_clean_failure(run, *words)
    assert sorted(p.name for p in odd_paths.iterdir()) == before
    assert Path("/dev/null").is_char_device()


# ----------------------------------------------------------------- image metadata


def test_decoder_quirks_are_notes_in_our_words(tmp_path: Path) -> None:
    import io
    import struct
    import zlib

    # A PNG whose colour profile inflates to 8 MB (Pillow refused the whole image).
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, "PNG")
    png = buf.getvalue()
    body = b"ICC Profile\0\0" + zlib.compress(bytes(8 << 20), 9)
    chunk = (
        struct.pack(">I", len(body))
        + b"iCCP"
        + body
        + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    )
    (tmp_path / "profile.png").write_bytes(png[:33] + chunk + png[33:])
    # A JPEG whose EXIF description claims 100,000 bytes (Pillow printed a UserWarning).
    exif = Image.Exif()
    exif[0x010E] = "x" * 100
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buf, "JPEG", exif=exif.tobytes())
    jpeg = bytearray(buf.getvalue())
    order = "<" if jpeg[jpeg.find(b"Exif\0\0") + 6 :].startswith(b"II") else ">"
    tag = jpeg.find(struct.pack(f"{order}HH", 0x010E, 2))
    jpeg[tag + 4 : tag + 8] = struct.pack(f"{order}I", 100_000)
    (tmp_path / "exif.jpg").write_bytes(bytes(jpeg))
    out = tmp_path / "out"
    run = seemore(
        "upscale", tmp_path / "profile.png", tmp_path / "exif.jpg", "-o", out, "--model", CKPT, "-q"
    )
    assert run.code == 0, run.stderr
    assert "colour profile expands to more than 1 MB" in run.stderr
    assert "the EXIF data is damaged; the readable part was kept" in run.stderr
    for leak in ("Warning", "site-packages", "PngImagePlugin", "Traceback"):
        assert leak not in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["exif.png", "profile.png"]
