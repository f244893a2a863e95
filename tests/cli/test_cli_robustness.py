"""`seemore upscale` over the bad-file corpus, a full disk, a cancel and odd output names.

Runs `main` in-process with the random x2 checkpoint on the tiny images of tests/data, so
the whole file takes seconds.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from seemore_core import atomic
from seemore_core import imageio as sio
from seemore_core.cli import main
from seemore_core.imageio import read_image

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CKPT = ASSETS / "seemore_T_x2_random.safetensors"
DATA = Path(__file__).resolve().parents[1] / "data"
RUN = ["--model", str(CKPT), "-q"]

# Bad inputs and a word of the reason each must be given.
BAD = {
    "bomb.png": "--max-pixels",
    "empty.png": "empty",
    "text.png": "text file",
    "truncated.jpg": "truncated",
    "truncated.png": "truncated",
    "naïve résumé scan.png": "text file",
    "folder named.png": "folder",
    "pipe.jpg": "FIFO",
}
# Good inputs whose output name (stem + .png) an earlier input (sorted by name) took.
SAME_OUTPUT = {"image.webp": "image.bmp", "rgb16.tif": "rgb16.png"}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Images of a few hundred pixels: thread start-up costs more than it gains, and a
    # second thread competes with whatever else the machine runs.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with the whole corpus, plus a folder and a FIFO named like images."""
    folder = tmp_path / "in put"
    folder.mkdir()
    for path in DATA.iterdir():
        if path.is_file() and sio.is_image_path(path):
            shutil.copyfile(path, folder / path.name)
    shutil.copyfile(DATA / "text.png", folder / "naïve résumé scan.png")
    (folder / "folder named.png").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jpg")
    return folder


def good_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in BAD)


def lines_naming(err: str, path: Path) -> list[str]:
    return [line for line in err.splitlines() if str(path) in line]


def test_corpus_batch(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["upscale", str(corpus), "-o", str(out), *RUN]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err

    for name, reason in BAD.items():
        if name == "pipe.jpg" and not hasattr(os, "mkfifo"):
            continue
        (line,) = lines_naming(err, corpus / name)
        assert line.startswith(f"seemore: '{corpus / name}': ") and reason in line, line
    for name, first in SAME_OUTPUT.items():
        (line,) = lines_naming(err, corpus / name)
        assert f"also the output of {corpus / first}" in line

    written = {n for n in good_names(corpus) if n not in SAME_OUTPUT}
    expected = {f"{Path(n).stem}.png" for n in written}
    # Nothing for the bad files and no temporary files left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name in written:
        source = read_image(corpus / name)
        result = read_image(out / f"{Path(name).stem}.png")
        assert result.format == "PNG"
        assert result.rgb.shape == (2 * source.height, 2 * source.width, 3), name
        assert result.grayscale == source.grayscale, name
        assert result.bit_depth == source.bit_depth, name
        assert (result.alpha is None) == (source.alpha is None), name
    with Image.open(out / "gray.png") as gray, Image.open(out / "gray16.png") as gray16:
        assert (gray.mode, gray16.mode) == ("L", "I;16")
    assert read_image(out / "rgba16_interlaced.png").bit_depth == 16
    assert read_image(out / "la16.png").alpha is not None

    # A rerun skips every existing output and rewrites none of them.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["upscale", str(corpus), "-o", str(out), *RUN]) == 1
    err = capsys.readouterr().err
    assert err.count("skipped ") == len(expected)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_full_disk_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [shutil.copyfile(DATA / n, tmp_path / n) for n in ("gray.png", "rgb16.png")]
    out = tmp_path / "out"

    def write_half_then_fail(fd: int, data: bytes) -> None:
        os.write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write_all", write_half_then_fail)
    assert main(["upscale", *map(str, inputs), "-o", str(out), *RUN]) == 1
    err = capsys.readouterr().err
    for name in ("gray.png", "rgb16.png"):  # the batch went on after the first failure
        (line,) = lines_naming(err, out / name)
        assert "disk is full" in line
    assert list(out.iterdir()) == []


def test_cancel_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shutil.copyfile(DATA / "rgba_partial.png", tmp_path / "in.png")

    def write_half_then_cancel(fd: int, data: bytes) -> None:
        os.write(fd, bytes(data)[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_write_all", write_half_then_cancel)
    assert main(["upscale", str(source), "-o", str(tmp_path / "out.png"), *RUN]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.mark.parametrize(
    ("option", "suffix", "pillow_format", "keeps_16", "keeps_alpha", "keeps_gray"),
    [
        ("jpeg", ".jpg", "JPEG", False, False, True),
        ("tiff", ".tif", "TIFF", True, True, True),
        ("webp", ".webp", "WEBP", False, True, False),  # WebP has no grayscale mode
        ("bmp", ".bmp", "BMP", False, False, True),
    ],
)
def test_format_option_for_a_batch(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    suffix: str,
    pillow_format: str,
    keeps_16: bool,
    keeps_alpha: bool,
    keeps_gray: bool,
) -> None:
    names = ("gray.png", "rgba_partial.png", "rgb16.png")
    inputs = [shutil.copyfile(DATA / n, tmp_path / n) for n in names]
    out = tmp_path / "out"
    extra = ["--quality", "80"] if option in ("jpeg", "webp") else []
    argv = ["upscale", *map(str, inputs), "-o", str(out), "--format", option, *extra, *RUN]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).stem + suffix for n in names)
    for name in names:
        source = read_image(tmp_path / name)
        target = out / (Path(name).stem + suffix)
        with Image.open(target) as written:
            assert written.format == pillow_format
            assert written.size == (2 * source.width, 2 * source.height)
        result = read_image(target)
        assert result.bit_depth == (source.bit_depth if keeps_16 else 8), name
        assert (result.alpha is not None) == (keeps_alpha and source.alpha is not None), name
        if keeps_gray:
            assert result.grayscale == source.grayscale, name


def test_format_names_are_case_blind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = shutil.copyfile(DATA / "café photo.png", tmp_path / "café photo.png")
    out = tmp_path / "out"
    out.mkdir()
    args = ["upscale", str(source), "-o", str(out), "--format", "JPG", "--quality", "70", *RUN]
    assert main(args) == 0
    assert [p.name for p in out.iterdir()] == ["café photo.jpg"]
    with Image.open(out / "café photo.jpg") as written:
        assert written.format == "JPEG" and written.size == (48, 32)


def test_single_output_file_takes_its_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shutil.copyfile(DATA / "rgba_partial.png", tmp_path / "in.png")
    webp = tmp_path / "résultat final.webp"
    assert main(["upscale", str(source), "-o", str(webp), *RUN]) == 0
    with Image.open(webp) as written:
        assert written.format == "WEBP" and written.size == (24, 20) and written.mode == "RGBA"
    # A name that is not an image one gets PNG, as folder outputs do.
    plain = tmp_path / "result.out"
    assert main(["upscale", str(source), "-o", str(plain), *RUN]) == 0
    with Image.open(plain) as written:
        assert written.format == "PNG" and written.size == (24, 20)
    # "-o name/" is a folder, made if needed; the output inside is named after the input.
    assert main(["upscale", str(source), "-o", f"{tmp_path / 'made'}{os.sep}", *RUN]) == 0
    assert (tmp_path / "made" / "in.png").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "jpeg", "-o", "{tmp}/x.png"],  # the format and the name disagree
        ["-o", "{tmp}/x.gif"],  # GIF is read, never written
        ["--quality", "80", "-o", "{tmp}/x.png"],  # no quality setting in PNG
        ["--quality", "80", "-o", "{tmp}/folder"],  # folders get PNG unless --format says
    ],
)
def test_usage_errors_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    source = shutil.copyfile(DATA / "gray.png", tmp_path / "in.png")
    (tmp_path / "folder").mkdir()
    argv = ["upscale", str(source), *(a.format(tmp=tmp_path) for a in args), *RUN]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in.png"]
    assert list((tmp_path / "folder").iterdir()) == []


@pytest.mark.parametrize("value", ["0x10", "-1", "101"])
def test_bad_numbers_are_usage_errors(tmp_path: Path, value: str) -> None:
    option = "--quality" if value == "101" else "--max-pixels"
    with pytest.raises(SystemExit) as caught:
        main(["upscale", "in.png", "-o", str(tmp_path / "o.jpg"), option, value])
    assert caught.value.code == 2


def test_max_pixels_guards_by_default_and_can_be_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 12x8 = 96 pixels in, 24x16 = 384 out: the limit counts the work, the output pixels.
    source = shutil.copyfile(DATA / "gray.png", tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["upscale", str(source), "-o", str(out), "--max-pixels", "383", *RUN]) == 1
    line, summary = capsys.readouterr().err.splitlines()
    assert summary == "0 done, 0 skipped, 1 failed"
    assert str(source) in line and "--max-pixels 384" in line
    assert not out.exists()
    assert main(["upscale", str(source), "-o", str(out), "--max-pixels", "384", *RUN]) == 0
    assert out.is_file()


def test_output_over_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shutil.copyfile(DATA / "café photo.png", tmp_path / "café photo.png")
    before = source.read_bytes()
    aliases = [source, tmp_path / "." / source.name]
    if hasattr(os, "link"):
        aliases.append(tmp_path / "alias.png")
        os.link(source, aliases[-1])
    for alias in aliases:
        assert main(["upscale", str(source), "-o", str(alias), "--overwrite", *RUN]) == 1
        line, summary = capsys.readouterr().err.splitlines()
        assert str(source) in line and "over its input" in line
        assert summary == "0 done, 0 skipped, 1 failed"
    # A batch into its own folder: the PNG would land on itself, the JPEG beside it.
    shutil.copyfile(DATA / "exif_rotated.jpg", tmp_path / "turned.jpg")
    assert main(["upscale", str(tmp_path), "-o", str(tmp_path), "--overwrite", *RUN]) == 1
    err = capsys.readouterr().err
    assert "over its input" in lines_naming(err, source)[0]
    assert source.read_bytes() == before
    with Image.open(tmp_path / "turned.png") as written:
        assert written.size == (32, 48)


def test_recursive_rerun_ignores_its_own_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(DATA / "gray.png", tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    shutil.copyfile(DATA / "image.bmp", tmp_path / "sub" / "b.bmp")
    out = tmp_path / "upscaled"
    for _ in range(2):
        assert main(["upscale", str(tmp_path), "-o", str(out), "--recursive", *RUN]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert err.count("skipped ") == 2 and "upscaled/a.png ->" not in err
