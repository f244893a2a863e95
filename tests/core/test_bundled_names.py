"""Bundled model names (names.BUNDLED): T and T-photo, resolved by name from any front end.

The real T-photo weights are released separately; a stand-in file (the clean T x4
weights under the T-photo name, in a temporary weights folder) exercises the machinery:
the resolver, `seemore upscale/info/eval/routing-stats --model T-photo`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seemore_core import models
from seemore_core.cli import main
from seemore_core.errors import ModelNotFound
from seemore_core.jobs import ModelRef, resolve
from seemore_core.names import (
    BUNDLED,
    BUNDLED_NAMES,
    DEFAULT_VARIANT,
    VARIANT_NAMES,
    bundled_file_name,
    model_name,
    model_variant,
)

REAL_T4 = models.bundled_path("T", 4)
needs_t4 = pytest.mark.skipif(not REAL_T4.is_file(), reason="no bundled T x4 weights")


@pytest.fixture
def photo_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights folder holding only a stand-in T-photo x4 (no clean T at all), so a
    model that loads proves the T-photo name found its own file."""
    wdir = tmp_path / "weights"
    wdir.mkdir()
    shutil.copyfile(REAL_T4, wdir / "seemore_T-photo_x4.safetensors")
    monkeypatch.setattr(models, "weights_dir", lambda: wdir)
    return wdir / "seemore_T-photo_x4.safetensors"


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    """A one-image benchmark folder (DIR/HR), its LR made from HR by `seemore eval`."""
    hr = tmp_path / "tiny" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:64]
    img = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1) + rng.integers(0, 30, (48, 64, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(hr / "grad.png")
    return tmp_path / "tiny"


def test_names_are_one_list_with_a_purpose_each() -> None:
    assert BUNDLED_NAMES[0] == DEFAULT_VARIANT == "T" and "T-photo" in BUNDLED_NAMES
    assert all(b.purpose and b.variant in VARIANT_NAMES for b in BUNDLED)
    assert {b.name: b.purpose.split(":")[0] for b in BUNDLED} == {"T": "Clean", "T-photo": "Photo"}
    # Any case finds the canonical spelling, which is also how the files are spelled.
    for typed in ("t-photo", "T-PHOTO", " T-Photo "):
        assert model_name(typed) == "T-photo"
    assert model_name("b") == "B" and model_name("photo") is None and model_name("T_photo") is None
    assert bundled_file_name("t-PHOTO", 4) == "seemore_T-photo_x4.safetensors"
    assert bundled_file_name("t", 2) == "seemore_T_x2.safetensors"
    assert model_variant("T-photo") == "T" and model_variant("l") == "L"


@needs_t4
def test_resolver_finds_the_photo_file_by_any_case(photo_only: Path) -> None:
    assert models.bundled_models() == [("T-photo", 4, photo_only)]
    for typed in ("T-photo", "t-photo", "T-PHOTO"):
        ref = ModelRef(typed, 4)
        assert resolve(ref) == photo_only and not ref.is_file
        assert ref.stem == "T-photo" and ref.label(4) == "SeemoRe-T-photo x4"
    assert resolve(ModelRef("t-photo")) == photo_only  # the default scale, 4
    assert models.resolve_model_path("T-photo", 4) == photo_only
    assert models.load("t-photo", 4).scale == 4


@needs_t4
def test_missing_scale_and_unknown_names_say_what_exists(photo_only: Path) -> None:
    with pytest.raises(ModelNotFound) as e:
        resolve(ModelRef("t-photo", 2))
    assert "SeemoRe-T-photo x2" in str(e.value) and "bundled: T-photo x4" in str(e.value)
    with pytest.raises(ModelNotFound) as e:
        resolve(ModelRef("T", 4))  # this folder has no clean T: nothing falls back to it
    assert "SeemoRe-T x4" in str(e.value)
    with pytest.raises(ModelNotFound) as e:
        resolve(ModelRef("photo", 4))
    assert "'photo'" in str(e.value) and "T, T-photo" in str(e.value)


@needs_t4
def test_cli_info_and_upscale_with_the_photo_model(
    photo_only: Path, small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "t-photo", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert Path(info["file"]) == photo_only and info["scale"] == 4 and info["variant"] == "T"

    src = small_set / "HR" / "grad.png"
    out = tmp_path / "out"
    argv = ["upscale", str(src), "-o", f"{out}/", "--model", "T-photo", "--scale", "4"]
    assert main([*argv, "--device", "cpu", "-q", "--name", "{stem}_{model}"]) == 0
    written = out / "grad_T-photo.png"
    assert Image.open(written).size == (64 * 4, 48 * 4)

    # The photo file has only x4 here: x2 is refused in one line naming what exists.
    assert main([*argv[:-1], "2", "--device", "cpu", "-q", "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "no bundled SeemoRe-T-photo x2 weights (bundled: T-photo x4)" in err
    assert "Traceback" not in err


@needs_t4
def test_cli_eval_and_routing_stats_with_the_photo_model(
    photo_only: Path, small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(small_set), "--model", "t-photo", "--device", "cpu", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    (row,) = got["results"]
    assert row["scale"] == 4 and row["images"] == 1 and 10 < row["psnr_y"] < 60

    argv = ["routing-stats", str(small_set / "HR"), "--model", "T-PHOTO", "--scale", "4"]
    assert main([*argv, "--device", "cpu", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert len(stats["blocks"]) == 6 and len(stats["images"]) == 1

    assert main(["eval", str(small_set), "--model", "photo", "--device", "cpu"]) == 1
    assert "bundled names: T, T-photo" in capsys.readouterr().err
