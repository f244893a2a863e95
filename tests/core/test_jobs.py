"""The shared upscale use case: model references, planning rules and running a batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core import jobs
from seemore_core.engine import Engine
from seemore_core.errors import ModelNotFound, UsageError
from seemore_core.imageio import read_image
from seemore_core.jobs import ModelRef, UpscaleRequest
from seemore_core.models import bundled_path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DATA = Path(__file__).resolve().parents[1] / "data"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"


def _png(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------- model refs


def test_a_reference_resolves_a_file_or_a_bundled_name() -> None:
    assert jobs.resolve(ModelRef(str(CKPT))) == CKPT
    assert ModelRef(str(CKPT)).is_file and ModelRef(str(CKPT)).stem == CKPT.stem
    assert not ModelRef("t").is_file and ModelRef("t").stem == "T"
    if bundled_path("T", 3).is_file():
        assert jobs.resolve(ModelRef("t", 3)) == bundled_path("T", 3)
    with pytest.raises(ModelNotFound, match="not a bundled model name"):
        jobs.resolve(ModelRef("no-such-model"))


def test_a_scale_that_contradicts_the_checkpoint_is_a_usage_error() -> None:
    assert jobs.load_model(ModelRef(str(CKPT))).scale == 2
    assert jobs.load_model(ModelRef(str(CKPT), 2)).scale == 2
    with pytest.raises(UsageError, match="x2 checkpoint") as caught:
        jobs.load_model(ModelRef(str(CKPT), 4))
    assert caught.value.option == "scale" and "--" not in str(caught.value)


# ------------------------------------------------------------------------------ plan


def test_plan_names_outputs_by_pattern_and_format(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    shutil.copyfile(DATA / "image.bmp", src / "b.bmp")
    req = UpscaleRequest([src], tmp_path / "out", format="jpg", pattern="{index}_{stem}_x{scale}")
    plan = jobs.plan(req, 3, "T")
    assert plan.format == "JPEG" and plan.folder == tmp_path / "out"
    assert [i.target.name for i in plan.items] == ["1_a_x3.jpg", "2_b_x3.jpg"]
    assert all(i.skip is None and i.error is None for i in plan.items)


def test_plan_marks_existing_outputs_same_file_and_collisions(tmp_path: Path) -> None:
    a = _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", 1)
    shutil.copyfile(DATA / "image.bmp", tmp_path / "image.bmp")
    shutil.copyfile(DATA / "image.webp", tmp_path / "image.webp")
    # Into its own folder: a.png and b.png would land on themselves.
    plan = jobs.plan(UpscaleRequest([tmp_path], tmp_path, overwrite=True), 2)
    by_name = {i.source.name: i for i in plan.items}
    assert "over its input" in (by_name["a.png"].error or "")
    assert by_name["image.webp"].collides_with == tmp_path / "image.bmp"
    # Not overwriting: an existing output is skipped, never replaced.
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    (item,) = jobs.plan(UpscaleRequest([a], out), 2).items
    assert item.skip == f"skipped {a}: {out} exists"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"output": "two.png", "extra": True}, "looks like a file name"),
        ({"output": "x.gif"}, ".gif cannot be written"),
        ({"output": "x.png", "format": "jpeg"}, "conflicts with the output name"),
        ({"output": "x.png", "quality": 80}, "quality setting is for JPEG and WebP"),
        ({"output": "out", "pattern": "{nope}", "extra": True}, "bad name pattern"),
        ({"output": "out", "pattern": "../{stem}", "extra": True}, "unusable file name"),
    ],
)
def test_bad_requests_are_usage_errors_without_a_flag(
    tmp_path: Path, kwargs: dict[str, object], words: str
) -> None:
    inputs = [_png(tmp_path / "a.png")]
    if kwargs.pop("extra", False):
        inputs.append(_png(tmp_path / "b.png", 1))
    output = tmp_path / str(kwargs.pop("output"))
    req = UpscaleRequest(inputs, output, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=words) as caught:
        jobs.plan(req, 2)
    assert "--" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in inputs]


# ------------------------------------------------------------------------------- run


def test_run_goes_on_after_a_bad_file_and_carries_notes(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    (src / "b.png").write_text("not an image")
    shutil.copyfile(DATA / "jpeg_named.png", src / "c.png")  # a JPEG under a PNG name
    shutil.copyfile(DATA / "image.bmp", src / "c.bmp")  # same output name as c.png
    out = tmp_path / "out"
    plan = jobs.plan(UpscaleRequest([src], out), 2)
    engine = Engine(jobs.load_model(ModelRef(str(CKPT))), device="cpu")
    seen: list[str] = []
    listener = jobs.Listener(started=lambda item, n: seen.append(f"{item.index}/{n}"))
    summary = jobs.run(plan, engine, listener=listener)
    assert seen == ["1/4", "2/4", "3/4", "4/4"]
    status = {r.item.source.name: r.status for r in summary.results}
    # c.bmp sorts first, so c.png's output is taken: it fails, c.bmp's file is kept.
    assert status == {"a.png": "done", "b.png": "failed", "c.bmp": "done", "c.png": "failed"}
    assert summary.line == "2 done, 0 skipped, 2 failed"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    with Image.open(out / "a.png") as written:
        assert written.size == (20, 16) and written.mode == "RGB"  # 8-bit, as its input
    (bad,) = [r for r in summary.results if r.item.source.name == "b.png"]
    assert "text file" in bad.line and bad.error is not None


def test_reader_notes_reach_the_result_line(tmp_path: Path) -> None:
    src = shutil.copyfile(DATA / "jpeg_named.png", tmp_path / "photo.png")
    plan = jobs.plan(UpscaleRequest([src], tmp_path / "big.png"), 2)
    engine = Engine(jobs.load_model(ModelRef(str(CKPT))), device="cpu")
    (result,) = jobs.run(plan, engine).results
    assert result.status == "done"
    assert "content is JPEG although its name ends in .png" in result.line
    assert result.line.startswith(f"{src} -> {tmp_path / 'big.png'} (cpu, fp32, ")


def test_a_bit_depth_is_checked_then_written(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png")  # 8-bit
    for fmt, depth, words in (("jpg", 16, "PNG and TIFF"), ("png", 12, "8 or 16")):
        req = UpscaleRequest([src], tmp_path / f"x.{fmt}", bit_depth=depth)
        with pytest.raises(UsageError, match=words):
            jobs.check(req)
    plan = jobs.plan(UpscaleRequest([src], tmp_path / "deep.png", bit_depth=16), 2)
    engine = Engine(jobs.load_model(ModelRef(str(CKPT))), device="cpu")
    (result,) = jobs.run(plan, engine).results
    assert result.status == "done", result.line
    written = read_image(tmp_path / "deep.png")
    assert (written.width, written.height, written.bit_depth) == (20, 16, 16)
