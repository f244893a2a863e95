"""The command line and the app's worker run one pipeline: same files, same messages."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seemore_app.worker import BatchJob, BatchSummary, ModelChoice, Worker

from seemore_core.cli import main
from seemore_core.imageio import is_image_path, read_image
from seemore_core.progress import Progress

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DATA = Path(__file__).resolve().parents[1] / "data"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"
PATTERN = "{stem}_x{scale}_{model}"


def _inputs(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (9, 8, 3), dtype=np.uint8)).save(folder / "kept.png")
    for name in ("gray16.png", "rgba_partial.png", "exif_rotated.jpg", "text.png"):
        shutil.copyfile(DATA / name, folder / name)
    # Two inputs, one output name: the second must fail, not overwrite the first.
    shutil.copyfile(DATA / "image.bmp", folder / "image.bmp")
    shutil.copyfile(DATA / "image.webp", folder / "image.webp")
    return folder


def _normalised(line: str, out: Path) -> str:
    # The output folders differ, and so do the seconds each run took.
    line = line.removeprefix("seemore: ").replace(str(out), "OUT")
    return re.sub(r"\d+\.\d s\)", "T s)", line)


def test_cli_and_app_write_the_same_files_and_say_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _inputs(tmp_path / "in")
    cli_out, app_out = tmp_path / "cli", tmp_path / "app"
    for out in (cli_out, app_out):  # an existing output is kept by both
        out.mkdir()
        (out / f"kept_x2_{CKPT.stem}.png").write_bytes(b"mine")

    code = main(
        ["upscale", str(src), "-o", str(cli_out), "--model", str(CKPT)] + ["--name", PATTERN, "-q"]
    )
    cli_lines = capsys.readouterr().err.splitlines()
    assert code == 1  # text.png and the second "image" fail

    worker = Worker()
    lines: list[str] = []
    done: list[BatchSummary] = []
    worker.batch_item.connect(lambda _job, _i, line: lines.append(line))
    worker.batch_done.connect(lambda _job, summary: done.append(summary))
    files = sorted(p for p in src.iterdir() if is_image_path(p))  # as the app's list holds
    model = ModelChoice("file", str(CKPT), 0)
    worker.run(BatchJob(1, files, app_out, PATTERN, "png", model, progress=Progress()))
    (summary,) = done

    assert sorted(p.name for p in cli_out.iterdir()) == sorted(p.name for p in app_out.iterdir())
    written = sorted(p.name for p in cli_out.iterdir())
    assert f"a_x2_{CKPT.stem}.png" in written and len(written) == 6
    for name in written:
        assert (cli_out / name).read_bytes() == (app_out / name).read_bytes(), name
    assert (app_out / f"kept_x2_{CKPT.stem}.png").read_bytes() == b"mine"
    assert read_image(app_out / f"gray16_x2_{CKPT.stem}.png").bit_depth == 16

    *items, last = cli_lines
    assert [_normalised(x, cli_out) for x in items] == [_normalised(x, app_out) for x in lines]
    assert last.startswith(summary.line) and summary.line == "5 done, 1 skipped, 2 failed"
    assert [p.name for p, _ in summary.failed] == ["image.webp", "text.png"]
    assert any("also the output of" in why for _, why in summary.failed)
