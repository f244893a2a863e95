"""Rough edges a newcomer met, each fixed: names, exit codes, outputs, progress, config."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core.arch import build
from seemore_core.cli import main
from seemore_core.errors import ConfigError, SeemoreError, UsageError
from seemore_core.models import bundled_path
from seemore_core.train.config import TrainConfig

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"


def _png(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.skipif(not bundled_path("T", 2).is_file(), reason="no bundled x2 weights")
def test_info_takes_a_bundled_name_like_model_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "T", "--scale", "2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["variant"] == "T" and info["scale"] == 2
    assert Path(info["file"]) == bundled_path("T", 2)
    assert main(["info", "t", "--json"]) == 0  # the default scale, any case
    assert json.loads(capsys.readouterr().out)["scale"] == 4


def test_info_on_an_unknown_name_says_what_it_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "Q"]) == 1
    err = capsys.readouterr().err
    assert "no such file, and not a bundled model name" in err and err.count("\n") == 1


def test_unknown_device_is_a_usage_error(tmp_path: Path) -> None:
    src = _png(tmp_path / "in.png")
    with pytest.raises(SystemExit) as caught:
        main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--device", "gpu"])
    assert caught.value.code == 2
    assert not (tmp_path / "o.png").exists()


def test_several_inputs_with_a_file_name_output_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", 1)
    code = main(["upscale", str(a), str(b), "-o", str(tmp_path / "two.png"), "--model", str(CKPT)])
    assert code == 2
    err = capsys.readouterr().err
    assert "two.png" in err and "folder" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no two.png/


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_batch_shows_count_file_elapsed_eta_and_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "first.png")
    _png(src / "second.png", 1)
    (src / "broken.png").write_text("not an image")
    out = tmp_path / "out"
    out.mkdir()
    (out / "second.png").write_bytes(b"kept")
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert main(["upscale", str(src), "-o", str(out), "--model", str(CKPT)]) == 1
    text = term.getvalue()
    # The bar: which file of how many, its name, time so far and time left.
    assert "1/3 files" in text and "3/3 files" in text
    assert "broken.png" in text and "first.png" in text
    assert "00:00<" in text
    last = text.replace("\r", "\n").strip().splitlines()[-1]
    assert last == "1 done, 1 skipped, 1 failed (--overwrite replaces existing outputs)"
    assert (out / "second.png").read_bytes() == b"kept"


def test_quiet_batch_still_ends_with_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "in.png")
    out = tmp_path / "o.png"
    assert main(["upscale", str(src), "-o", str(out), "-q", "--model", str(CKPT)]) == 0
    line, summary = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{src} -> {out} (") and summary == "1 done, 0 skipped, 0 failed"


def test_build_refuses_an_unknown_option_naming_it() -> None:
    with pytest.raises(ConfigError, match="topK"):
        build("T", 2, topK=2)
    assert build("T", 2, topk=2).cfg.topk == 2
    # One family: a front end catches SeemoreError; old code catching ValueError still works.
    assert issubclass(ConfigError, UsageError) and issubclass(ConfigError, SeemoreError)
    assert issubclass(ConfigError, ValueError)


def test_set_with_an_unparsable_value_names_the_key() -> None:
    cfg = TrainConfig()
    with pytest.raises(ConfigError, match="'lr'.*1e-3x"):
        cfg.override(["lr=1e-3x"])
    assert cfg.lr == TrainConfig().lr
    cfg.override(["out_dir=runs/mine", "lr=2e-4"])  # bare text where text is expected
    assert cfg.out_dir == "runs/mine" and cfg.lr == 2e-4


def test_train_set_typo_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", "patch_size=4 8", "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "patch_size" in err and err.count("\n") == 1
