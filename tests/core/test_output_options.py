"""PNG compression level and output size by target, through the writer, the shared
pipeline and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core import jobs
from seemore_core.arch import build
from seemore_core.cli import main
from seemore_core.engine import Engine
from seemore_core.errors import ImageIOError, UsageError
from seemore_core.imageio import read_image, write_image
from seemore_core.jobs import UpscaleRequest
from seemore_core.models import load
from seemore_core.target import TargetSize, pick_scale, resize_to

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"


def _smooth(h: int, w: int) -> np.ndarray:
    """A gradient with a little noise: compressible, so zlib levels differ in size."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(0)
    img = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1)
    return np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)


def _png(path: Path, w: int, h: int) -> Path:
    Image.fromarray((_smooth(h, w) * 255).astype(np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------- PNG level


@pytest.mark.parametrize("bits", [8, 16])
def test_png_level_changes_size_not_pixels(tmp_path: Path, bits: int) -> None:
    img = _smooth(96, 128)
    fast = write_image(tmp_path / "l0.png", img, bit_depth=bits, png_level=0)
    small = write_image(tmp_path / "l9.png", img, bit_depth=bits, png_level=9)
    # Level 0 stores the rows as they are (every pixel byte is in the file); 9 squeezes.
    raw = 96 * 128 * 3 * bits // 8
    assert fast.stat().st_size > raw > small.stat().st_size
    a, b = read_image(fast), read_image(small)
    assert a.bit_depth == b.bit_depth == bits
    np.testing.assert_array_equal(a.rgb, b.rgb)


def test_png_level_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageIOError, match="0 to 9, not 10"):
        write_image(tmp_path / "x.png", _smooth(4, 4), png_level=10)
    assert not (tmp_path / "x.png").exists()


def test_the_pipeline_writes_the_level_asked(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png", 24, 16)
    # The bundled weights: their output of a gradient is smooth, so levels differ in size
    # (random weights give noise, which no level compresses).
    engine = Engine(load("T", 2), device="cpu")
    sizes = {}
    for level in (0, 9):
        out = tmp_path / f"out{level}.png"
        job = jobs.plan(UpscaleRequest([src], out, png_level=level), 2)
        assert job.png_level == level
        assert jobs.run(job, engine).line == "1 done, 0 skipped, 0 failed"
        sizes[level] = out.stat().st_size
    assert sizes[0] > sizes[9]
    np.testing.assert_array_equal(
        read_image(tmp_path / "out0.png").rgb, read_image(tmp_path / "out9.png").rgb
    )


def test_png_level_on_another_format_is_a_usage_error(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png", 8, 8)
    with pytest.raises(UsageError, match="compression level is for PNG") as caught:
        jobs.check(UpscaleRequest([src], tmp_path / "o.jpg", png_level=3))
    assert caught.value.option == "png_level"
    with pytest.raises(UsageError, match="0 to 9"):
        jobs.check(UpscaleRequest([src], tmp_path / "o.png", png_level=12))


# --------------------------------------------------------------------- target size


def test_target_sizes_keep_the_aspect_ratio() -> None:
    assert TargetSize("width", 100).size_for(40, 30) == (100, 75)
    assert TargetSize("height", 60).size_for(40, 30) == (80, 60)
    assert TargetSize("longest", 90).size_for(30, 40) == (68, 90)
    assert TargetSize("longest", 90).size_for(40, 30) == (90, 68)


def test_the_next_larger_scale_is_chosen() -> None:
    scales = (2, 3, 4)
    w, h = 40, 30
    assert pick_scale(TargetSize("width", 80), w, h, scales) == 2  # exactly x2
    assert pick_scale(TargetSize("width", 81), w, h, scales) == 3
    assert pick_scale(TargetSize("width", 120), w, h, scales) == 3
    assert pick_scale(TargetSize("width", 121), w, h, scales) == 4
    assert pick_scale(TargetSize("height", 61), w, h, scales) == 3
    assert pick_scale(TargetSize("longest", 20), w, h, scales) == 2  # below the input
    assert pick_scale(TargetSize("width", 121), w, h, (4, 2)) == 4  # order does not matter
    with pytest.raises(UsageError, match=r"needs x4.03, more than this model's scales \(x2"):
        pick_scale(TargetSize("width", 161), w, h, scales)


def test_bad_target_combinations_are_one_line_usage_errors() -> None:
    assert TargetSize.from_options() is None
    assert TargetSize.from_options(longest=5) == TargetSize("longest", 5)
    for kwargs in ({"width": 5, "height": 6}, {"width": 5, "longest": 6}):
        with pytest.raises(UsageError, match="give one target size") as caught:
            TargetSize.from_options(**kwargs)
        assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="at least 1 pixel"):
        TargetSize("width", 0)
    with pytest.raises(UsageError, match="unknown target side"):
        TargetSize("diagonal", 10)


def test_resize_to_is_exact_and_stays_in_range() -> None:
    img = (_smooth(30, 40) * 65535).astype(np.uint16)
    out = resize_to(img, (17, 13))
    assert out.shape == (13, 17, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    # A flat picture stays flat: Lanczos' weights sum to one.
    flat = resize_to(np.full((20, 20), 0.25, np.float32), (7, 5))
    assert flat.shape == (5, 7)
    np.testing.assert_allclose(flat, 0.25, atol=1e-5)


def test_the_pipeline_runs_the_next_larger_scale_then_shrinks(tmp_path: Path) -> None:
    small = _png(tmp_path / "small.png", 40, 30)  # width 100: x2.5 -> x3
    big = _png(tmp_path / "big.png", 60, 45)  # width 100: x1.67 -> x2
    asked: list[int] = []

    def engine_at(scale: int) -> Engine:
        asked.append(scale)
        return Engine(build("T", scale), device="cpu")

    req = UpscaleRequest([small, big], tmp_path / "out", target=TargetSize("width", 100))
    job = jobs.plan(req, 4, "T", scales=(4, 2, 3))
    assert job.scales == (2, 3, 4)
    summary = jobs.run(job, engine_at)
    assert summary.line == "2 done, 0 skipped, 0 failed"
    # Each input's scale is asked for, the header's size and the decoded one agreeing.
    assert sorted(set(asked)) == [2, 3] and asked.count(3) == 2 and asked.count(2) == 2
    with Image.open(tmp_path / "out" / "small.png") as im:
        assert im.size == (100, 75)
    with Image.open(tmp_path / "out" / "big.png") as im:
        assert im.size == (100, 75)
    notes = {r.item.source.name: r.notes for r in summary.results}
    assert "x3, then Lanczos to 100x75 for 100 px wide" in notes["small.png"]
    assert "x2, then Lanczos to 100x75 for 100 px wide" in notes["big.png"]


def test_an_unreachable_target_fails_that_image_only(tmp_path: Path) -> None:
    ok = _png(tmp_path / "ok.png", 40, 30)
    tiny = _png(tmp_path / "tiny.png", 8, 6)
    req = UpscaleRequest([ok, tiny], tmp_path / "out", target=TargetSize("longest", 80))
    engine = Engine(build("T", 2), device="cpu")  # one engine: x2 is all there is
    summary = jobs.run(jobs.plan(req, 2, "T"), engine)
    (failed,) = summary.of("failed")
    assert failed.item.source == tiny
    assert failed.message == f"'{tiny}': 80 px on the longest side from 8x6 needs x10, " + (
        "more than this model's scales (x2)"
    )
    with Image.open(tmp_path / "out" / "ok.png") as im:
        assert im.size == (80, 60)  # exactly x2: no resize needed
    assert not (tmp_path / "out" / "tiny.png").exists()


def test_a_target_leaves_scale_out_of_the_name_pattern(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png", 8, 8)
    req = UpscaleRequest([src], tmp_path / "o", pattern="{stem}_x{scale}", output_is_folder=True)
    jobs.check(req)  # fine without a target
    with pytest.raises(UsageError, match="uses {scale}"):
        jobs.check(UpscaleRequest(**{**req.__dict__, "target": TargetSize("width", 9)}))


# ------------------------------------------------------------------------------ CLI


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_cli_target_width_with_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "a.png", 40, 30)
    out = tmp_path / "o.png"
    args = ["upscale", str(src), "-o", str(out), "--model", str(CKPT), "-q", "--device", "cpu"]
    code, err = _cli([*args, "--width", "70"], capsys)
    assert code == 0, err
    assert "x2, then Lanczos to 70x52" in err
    with Image.open(out) as im:
        assert im.size == (70, 52)


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("o.png", ["--width", "50", "--height", "40"], "give one target size, not width and"),
        ("o.png", ["--longest", "50", "--scale", "2"], "--scale and a target size"),
        ("o.jpg", ["--png-compress", "4"], "for PNG output, and this output is JPEG"),
    ],
)
def test_cli_bad_combinations_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, extra: list[str], message: str
) -> None:
    src = _png(tmp_path / "a.png", 8, 8)
    code, err = _cli(["upscale", str(src), "-o", str(tmp_path / name), "-q", *extra], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("seemore: ")
    assert not (tmp_path / name).exists()


def test_cli_png_compress_range_is_checked_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "a.png", 8, 8)
    with pytest.raises(SystemExit) as caught:
        main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--png-compress", "10"])
    assert caught.value.code == 2
    assert "out of range (0 to 9)" in capsys.readouterr().err
