"""The `seemore` command end to end on tiny images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core.cli import main

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"


def _png(path: Path, w: int = 12, h: int = 9, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_upscale_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _png(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["upscale", str(src), "-o", str(out), "--model", str(CKPT), "-q"]) == 0
    with Image.open(out) as im:
        assert im.size == (24, 18)
        assert im.mode == "RGB"


def test_existing_output_is_skipped_unless_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "in.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    assert main(["upscale", str(src), "-o", str(out), "--model", str(CKPT), "-q"]) == 0
    assert out.read_bytes() == b"precious"
    assert "exists" in capsys.readouterr().err
    args = ["upscale", str(src), "-o", str(out), "--model", str(CKPT), "-q", "--overwrite"]
    assert main(args) == 0
    assert Image.open(out).size == (24, 18)


def test_folder_batch_goes_on_after_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png", seed=1)
    _png(src / "b.png", seed=2)
    (src / "broken.png").write_text("not an image")
    (src / "notes.txt").write_text("ignored: not an image name")
    sub = src / "sub"
    sub.mkdir()
    _png(sub / "deep.png")
    out = tmp_path / "out"
    code = main(["upscale", str(src), "-o", str(out), "--model", str(CKPT), "-q"])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert "broken.png" in err
    out2 = tmp_path / "out2"
    main(["upscale", str(src), "-o", str(out2), "--model", str(CKPT), "-q", "--recursive"])
    assert (out2 / "deep.png").is_file()


def test_scale_conflicting_with_checkpoint_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "in.png")
    code = main(
        ["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", str(CKPT), "--scale", "4"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "x2 checkpoint" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_unknown_model_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _png(tmp_path / "in.png")
    code = main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", "nosuch"])
    assert code == 1
    assert "nosuch" in capsys.readouterr().err


def test_info_reports_variant_and_gmacs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(CKPT), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["variant"] == "T" and info["scale"] == 2
    assert info["params"] == 220104
    assert round(info["gmacs_1280x720_output"]) == 45


def test_info_on_a_bad_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1 and "Traceback" not in err


def test_inspect_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _png(tmp_path / "in.png", 20, 20)
    assert main(["inspect", str(src), "--model", str(CKPT), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["block"] for b in data["blocks"]] == list(range(6))
    for b in data["blocks"]:
        assert len(b["probs"]) == 3 and abs(sum(b["probs"]) - 1) < 1e-4
        assert b["chosen"] == [int(np.argmax(b["probs"]))]


def test_eval_bicubic_json(benchmark_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["eval", str(benchmark_root / "Set5"), "--model", "bicubic", "--scale", "4", "--json"]
    )
    assert code == 0
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["dataset"] == "Set5" and r["images"] == 5 and r["scale"] == 4
    assert abs(r["psnr_y"] - 28.42) <= 0.02


def test_no_command_and_bad_option_are_usage_errors() -> None:
    assert main([]) == 2
    with pytest.raises(SystemExit) as e:
        main(["upscale"])
    assert e.value.code == 2


def test_entry_point_runs_as_a_program(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    r = subprocess.run(
        [sys.executable, "-m", "seemore_core.cli", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("seemore: ") and "Traceback" not in r.stderr


def test_console_exit_keeps_output_exit_code_and_atexit_handlers(tmp_path: Path) -> None:
    """The `seemore` command skips the interpreter's teardown: what it printed, its exit
    code and the atexit handlers (temporary folders, logging) must all survive that."""
    marker = tmp_path / "atexit-ran"
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "sys.argv = ['seemore'] + sys.argv[1:]\n"
        "from seemore_core.cli import console\n"
        "console()\n"
    )

    def seemore(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
        )

    ok = seemore("info", "T", "--scale", "2", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["scale"] == 2  # a piped, block-buffered stdout flushed
    assert marker.read_text() == "ran"
    marker.unlink()
    failed = seemore("info", str(bad))
    assert failed.returncode == 1 and failed.stderr.startswith("seemore: ")
    assert marker.read_text() == "ran"


def test_bench_reports_table3_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "--scales", "2", "4", "--sizes", "64x48", "--device", "cpu", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [(r["scale"], r["output"]) for r in rows] == [(2, "64x48"), (4, "64x48")]
    for r in rows:
        assert r["params"] > 200_000 and r["gmacs"] > 0 and r["seconds"] > 0
        assert r["peak_memory_mib"] is None or r["peak_memory_mib"] >= 0


def test_missing_bundled_weights_say_how_to_proceed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import seemore_core.models as models

    monkeypatch.setattr(models, "weights_dir", lambda: tmp_path / "none")
    src = _png(tmp_path / "in.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--scale", "3"]) == 1
    err = capsys.readouterr().err
    assert "no bundled SeemoRe-T x3 weights" in err and "--model" in err
