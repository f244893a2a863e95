"""`seemore train` and `seemore routing-stats` mistakes: one line, exit 2, no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from seemore_core.cli import main


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--config", "{missing}"], "missing.toml"),
        (["--config", "{bad}"], "not valid TOML"),
        (["--config", "{unknown}"], "unknown training option(s): lr_typo"),
        (["--set", "train_dirs=['{tmp}/none']"], "train_dirs: training folder not found"),
        (["--set", "train_dirs=['{tmp}/empty']"], "train_dirs: no training images"),
        (["--set", "device=gpu"], "device: 'gpu' is not one of"),
        (["--set", "batch_sise=3"], "unknown training option 'batch_sise'"),
    ],
)
def test_train_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, extra: list[str], needle: str
) -> None:
    (tmp_path / "bad.toml").write_text("scale = [\n")
    (tmp_path / "unknown.toml").write_text("lr_typo = 1\n")
    (tmp_path / "empty").mkdir()
    subst = {
        "{missing}": str(tmp_path / "missing.toml"),
        "{bad}": str(tmp_path / "bad.toml"),
        "{unknown}": str(tmp_path / "unknown.toml"),
        "{tmp}": str(tmp_path),
    }
    args = []
    for a in extra:
        for k, v in subst.items():
            a = a.replace(k, v)
        args.append(a)
    rc, err = _run(["train", *args, "--set", f"out_dir={tmp_path / 'run'}", "--steps", "0"])
    assert rc == 2, err
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_routing_stats_checks_device_and_inputs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        _run(["routing-stats", str(tmp_path), "--device", "gpu"])
    assert exc.value.code == 2
    rc, err = _run(["routing-stats", str(tmp_path / "nothing"), "--device", "cpu"])
    assert rc == 1 and "nothing" in err and "Traceback" not in err
