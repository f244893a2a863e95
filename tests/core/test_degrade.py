"""The real-photo degradation pipeline: each step does what it says, seeds reproduce."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image
from toolkit import load_tool

from seemore_core.evaluate import find_pairs, load_rgb
from seemore_core.train.config import TrainConfig
from seemore_core.train.data import PatchSampler, degrade, load_hr
from seemore_core.train.degrade import (
    DegradeConfig,
    apply_kernel,
    degrade_batch,
    degrade_image,
    gaussian_kernel,
    gaussian_noise,
    jpeg_roundtrip,
    matlab_bicubic,
    poisson_noise,
    resize,
)

# Everything off: the pipeline reduces to one plain resize and 8-bit rounding.
NOTHING = DegradeConfig(
    clean_prob=0.0,
    blur_prob=0.0,
    resize_mode_weights=(1.0, 0.0, 0.0),
    resize_jitter=(1.0, 1.0),
    noise_prob=0.0,
    second_order_prob=0.0,
    jpeg_prob=0.0,
)


@pytest.fixture(scope="module")
def photo(data_root: Path) -> torch.Tensor:
    """A 96x96 crop of a real training photo, (3, H, W) float in [0, 1]."""
    path = sorted((data_root / "train" / "T91").glob("*.png"))[0]
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))[:96, :96]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="module")
def images(data_root: Path) -> list[torch.Tensor]:
    return load_hr(sorted((data_root / "train" / "T91").glob("*.png"))[:6], 64)


def _hf_energy(x: torch.Tensor) -> float:
    """Mean squared Laplacian: the energy of the highest frequencies."""
    lap = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=x.dtype)
    y = torch.nn.functional.conv2d(x.reshape(-1, 1, *x.shape[-2:]), lap[None, None])
    return float(y.pow(2).mean())


def _blockiness(x: torch.Tensor) -> float:
    """Mean luma step across 8x8 block borders over the mean step inside blocks."""
    luma = (x[0] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    cols = (luma[:, 1:] - luma[:, :-1]).abs().mean(0)  # step between column c and c + 1
    rows = (luma[1:] - luma[:-1]).abs().mean(1)
    border = torch.cat([cols[7::8], rows[7::8]]).mean()
    inside = torch.cat([torch.cat([cols[k::8], rows[k::8]]) for k in range(7)]).mean()
    return float(border / inside)


# --- configuration -------------------------------------------------------------------


def test_config_from_toml_table() -> None:
    cfg = DegradeConfig.from_dict({"jpeg_quality": [40, 90], "noise_prob": 1, "blur_sigma": [1, 2]})
    assert cfg.jpeg_quality == (40, 90) and isinstance(cfg.jpeg_quality[0], int)
    assert cfg.noise_prob == 1.0 and isinstance(cfg.noise_prob, float)
    assert cfg.blur_sigma == (1.0, 2.0)
    assert cfg.second_order_prob == DegradeConfig().second_order_prob


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"jpeg_qualty": [30, 95]}, "jpeg_qualty"),
        ({"noise_prob": 1.5}, "noise_prob"),
        ({"noise_prob": True}, "noise_prob"),
        ({"blur_sigma": [2.0, 1.0]}, "blur_sigma"),
        ({"blur_sigma": 1.0}, "blur_sigma"),
        ({"jpeg_quality": [30, 101]}, "jpeg_quality"),
        ({"jpeg_quality": [30.5, 90]}, "jpeg_quality"),
        ({"blur_kernel_size": [6, 21]}, "blur_kernel_size"),
        ({"resize_mode_weights": [0, 0, 0]}, "resize_mode_weights"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DegradeConfig.from_dict(table)


# --- building blocks -----------------------------------------------------------------


def test_kernels_are_normalised_and_shaped_as_asked() -> None:
    iso = gaussian_kernel(21, 2.0, 2.0, 0.0)
    assert iso.shape == (21, 21) and abs(float(iso.sum()) - 1) < 1e-5
    assert torch.allclose(iso, iso.T) and torch.allclose(iso, iso.flip(0))
    # Second moments of a wide-enough kernel are its sigmas squared.
    ax = torch.arange(-10, 11, dtype=torch.float32)
    var_x = float((iso.sum(0) * ax**2).sum())
    assert abs(var_x - 4.0) < 0.05
    # Anisotropic, rotated 90 degrees: the long axis becomes vertical.
    aniso = gaussian_kernel(21, 3.0, 1.0, math.pi / 2)
    var_rows = float((aniso.sum(1) * ax**2).sum())
    var_cols = float((aniso.sum(0) * ax**2).sum())
    assert abs(var_rows - 9.0) < 0.3 and abs(var_cols - 1.0) < 0.05
    # Generalized beta > 1: a flatter top than the Gaussian of the same sigma.
    plateau = gaussian_kernel(21, 2.0, 2.0, 0.0, beta=4.0)
    assert float(plateau[10, 11] / plateau[10, 10]) > float(iso[10, 11] / iso[10, 10])


def test_blur_lowers_high_frequency_energy(photo: torch.Tensor) -> None:
    x = photo[None]
    for kernel in (
        gaussian_kernel(13, 1.5, 1.5, 0.0),
        gaussian_kernel(13, 2.0, 0.5, 0.7),
        gaussian_kernel(13, 1.5, 1.5, 0.0, beta=0.5),
    ):
        y = apply_kernel(x, kernel)
        assert y.shape == x.shape
        assert _hf_energy(y) < 0.3 * _hf_energy(x)
        # A normalised kernel keeps the mean brightness.
        assert abs(float(y.mean() - x.mean())) < 2e-3


@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "area"])
def test_resize_gives_the_exact_size(photo: torch.Tensor, mode: str) -> None:
    y = resize(photo[None], (37, 29), mode)
    assert y.shape == (1, 3, 37, 29)
    # Downscaling keeps the picture: its mean moves very little.
    assert abs(float(y.mean() - photo.mean())) < 0.01


@pytest.mark.parametrize("gray", [False, True])
def test_gaussian_noise_has_the_asked_std(gray: bool) -> None:
    x = torch.full((1, 3, 128, 128), 0.5)
    g = torch.Generator().manual_seed(1)
    n = gaussian_noise(x, 10.0, gray, g) - x
    assert abs(float(n.std()) * 255 - 10.0) < 0.3
    assert abs(float(n.mean()) * 255) < 0.2
    same = torch.equal(n[:, 0], n[:, 1]) and torch.equal(n[:, 1], n[:, 2])
    assert same == gray


@pytest.mark.parametrize("gray", [False, True])
def test_poisson_noise_follows_the_signal(gray: bool) -> None:
    g = torch.Generator().manual_seed(2)
    dark = torch.full((1, 3, 128, 128), 16 / 255)
    bright = torch.full((1, 3, 128, 128), 196 / 255)
    nd = poisson_noise(dark, 1.0, gray, g) - dark
    nb = poisson_noise(bright, 1.0, gray, g) - bright
    # Shot noise: std = sqrt(count) in 8-bit levels.
    assert abs(float(nd.std()) * 255 - 4.0) < 0.3
    assert abs(float(nb.std()) * 255 - 14.0) < 0.6
    half = poisson_noise(bright, 0.5, gray, g) - bright
    assert abs(float(half.std()) * 255 - 7.0) < 0.4
    same = torch.equal(nb[:, 0], nb[:, 1]) and torch.equal(nb[:, 1], nb[:, 2])
    assert same == gray


def test_jpeg_is_a_real_pillow_round_trip_with_8x8_blocks(photo: torch.Tensor) -> None:
    x = photo[None, :, :48, :48]
    y = jpeg_roundtrip(x, 30)
    arr = (x[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=30)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        ref = np.array(im.convert("RGB"))
    assert torch.equal((y[0] * 255).round().to(torch.uint8).permute(1, 2, 0), torch.from_numpy(ref))
    # Block artifacts: luma steps across 8x8 block borders grow against those inside.
    assert _blockiness(y) > 1.4 * _blockiness(x)
    assert _blockiness(y) > 1.3
    # Higher quality, smaller error.
    assert float((jpeg_roundtrip(x, 95) - x).abs().mean()) < float((y - x).abs().mean())


# --- the random pipeline -------------------------------------------------------------


def test_everything_off_is_a_plain_resize(photo: torch.Tensor) -> None:
    lr, log = degrade_image(photo, 4, NOTHING, torch.Generator().manual_seed(0))
    ref = resize(photo[None], (24, 24), "bicubic").clamp(0, 1).mul(255).round().div(255)[0]
    assert torch.equal(lr, ref)
    assert log == ["bicubic x1.00"]


def test_clean_share_is_the_benchmark_bicubic(photo: torch.Tensor) -> None:
    cfg = replace(NOTHING, clean_prob=1.0)
    lr, _ = degrade_image(photo, 2, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(lr, matlab_bicubic(photo[None], 2)[0])


def test_each_step_is_applied_when_its_probability_is_one(photo: torch.Tensor) -> None:
    g = torch.Generator().manual_seed(3)
    plain, _ = degrade_image(photo, 2, NOTHING, g)
    blurred, log = degrade_image(photo, 2, replace(NOTHING, blur_prob=1.0), g)
    assert log[0].startswith("blur") and _hf_energy(blurred) < _hf_energy(plain)
    noisy, log = degrade_image(photo, 2, replace(NOTHING, noise_prob=1.0), g)
    assert any(s.startswith(("gauss", "poisson")) for s in log)
    assert float((noisy - plain).abs().mean()) > 0.5 / 255
    jpeg_cfg = replace(NOTHING, jpeg_prob=1.0, jpeg_quality=(50, 50))
    jpeg, log = degrade_image(photo, 2, jpeg_cfg, g)
    assert log[-1] == "jpeg q=50"
    assert torch.equal(jpeg, jpeg_roundtrip(plain[None], 50)[0])


def test_default_pipeline_covers_every_degradation(photo: torch.Tensor) -> None:
    g = torch.Generator().manual_seed(4)
    labels = []
    for _ in range(80):
        lr, log = degrade_image(photo[:, :32, :32], 4, DegradeConfig(), g)
        assert lr.shape == (3, 8, 8)
        assert lr.min() >= 0 and lr.max() <= 1
        assert torch.equal(lr, (lr * 255).round() / 255)  # 8-bit, as pictures on disk
        labels.append(" ".join(log))
    text = "\n".join(labels)
    for word in ("blur iso", "blur ani", "blur gen", "bicubic", "bilinear", "area"):
        assert word in text, word
    for word in ("gauss", "poisson", "grey", "colour", "jpeg", "2nd", "clean"):
        assert word in text, word


@pytest.mark.parametrize("shape", [(96, 96), (64, 88), (36, 52)])
def test_output_size_is_exact_whatever_the_jitter(
    photo: torch.Tensor, shape: tuple[int, int]
) -> None:
    hr = photo[:, : shape[0], : shape[1]]
    cfg = replace(DegradeConfig(), resize_jitter=(0.5, 1.5), second_order_prob=1.0)
    for seed in range(6):
        lr, _ = degrade_image(hr, 4, cfg, torch.Generator().manual_seed(seed))
        assert lr.shape == (3, shape[0] // 4, shape[1] // 4)


def test_size_not_a_multiple_of_the_scale_is_refused(photo: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="multiple"):
        degrade_image(photo[:, :30, :32], 4, DegradeConfig(), torch.Generator())


def test_seeds_reproduce_and_differ(photo: torch.Tensor) -> None:
    hr = torch.stack([photo, photo.flip(-1), photo.transpose(-1, -2)])
    a = degrade_batch(hr, 2, DegradeConfig(), torch.Generator().manual_seed(11))
    b = degrade_batch(hr, 2, DegradeConfig(), torch.Generator().manual_seed(11))
    c = degrade_batch(hr, 2, DegradeConfig(), torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (3, 3, 48, 48)
    # The caller's HR is left as it was.
    assert torch.equal(hr[0], photo)


# --- the sampler ---------------------------------------------------------------------


def test_sampler_without_degradation_is_the_clean_benchmark_lr(images: list[torch.Tensor]) -> None:
    s = PatchSampler(images, 16, 4, seed=5)
    lr, hr = s.batch(4)
    assert torch.equal(lr, degrade(hr, 4))


def test_degraded_sampler_same_crops_reproducible_resumable(images: list[torch.Tensor]) -> None:
    cfg = DegradeConfig()
    clean = PatchSampler(images, 16, 2, seed=9)
    a = PatchSampler(images, 16, 2, seed=9, degradation=cfg)
    b = PatchSampler(images, 16, 2, seed=9, degradation=cfg)
    lc, hc = clean.batch(8)
    la, ha = a.batch(8)
    lb, hb = b.batch(8)
    # Crops are drawn before any degradation: the HR side matches the clean sampler's.
    assert torch.equal(ha, hc) and not torch.equal(la, lc)
    assert torch.equal(la, lb) and torch.equal(ha, hb)
    assert la.shape == (8, 3, 16, 16) and ha.shape == (8, 3, 32, 32)
    state = a.state()
    nxt = a.batch(4)
    a.set_state(state)
    again = a.batch(4)
    assert torch.equal(nxt[0], again[0]) and torch.equal(nxt[1], again[1])
    other = PatchSampler(images, 16, 2, seed=10, degradation=cfg).batch(8)[0]
    assert not torch.equal(other, la)


# --- configs and the validation-set tool ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "scale", "recipe"),
    [
        ("T_photo_x2_cpu", 2, {}),
        ("T_photo_x4_cpu", 4, {}),
        # The second x2 line: more clean crops, blur sized for x2 (docs/photo-model.md).
        (
            "T_photo_x2_mild_cpu",
            2,
            {"clean_prob": 0.3, "blur_sigma": (0.1, 0.75), "blur2_sigma": (0.1, 0.4)},
        ),
        # The third x2 line: the second line's table, trained five times as long.
        (
            "T_photo_x2_long_cpu",
            2,
            {"clean_prob": 0.3, "blur_sigma": (0.1, 0.75), "blur2_sigma": (0.1, 0.4)},
        ),
        # The fourth x2 line: half the crops clean.
        (
            "T_photo_x2_half_cpu",
            2,
            {"clean_prob": 0.5, "blur_sigma": (0.1, 0.75), "blur2_sigma": (0.1, 0.4)},
        ),
        # The second x4 line: more clean crops, x4's blur kept.
        ("T_photo_x4_mild_cpu", 4, {"clean_prob": 0.3}),
    ],
)
def test_photo_configs_parse(name: str, scale: int, recipe: dict[str, object]) -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = TrainConfig.from_toml(root / "configs" / f"{name}.toml")
    assert cfg.scale == scale and cfg.degradation
    # Each line's table is the defaults with exactly the changes its header declares,
    # so a comparison between lines is a comparison of those changes.
    assert DegradeConfig.from_dict(cfg.degradation) == replace(DegradeConfig(), **recipe)
    # Every line is validated on the one degraded set, built with the defaults.
    assert cfg.val_dir == "runs/degraded/Set5"
    assert cfg.init_from and Path(root / cfg.init_from).is_file()


def _tool() -> ModuleType:
    return load_tool("make_degraded_set")


def test_degraded_set_is_read_by_eval_and_reproducible(
    benchmark_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _tool()
    src = benchmark_root / "Set5"
    assert tool.main([str(src), "--out", str(tmp_path / "a"), "--scales", "4"]) == 0
    assert tool.main([str(src), "--out", str(tmp_path / "b"), "--scales", "4"]) == 0
    pairs = find_pairs(tmp_path / "a" / "Set5", 4)
    assert len(pairs) == 5 and all(lr is not None for _, _, lr in pairs)
    for name, hr_path, lr_path in pairs:
        assert lr_path is not None
        hr, lr = load_rgb(hr_path), load_rgb(lr_path)
        assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
        twin = load_rgb(tmp_path / "b" / "Set5" / "LR_bicubic" / "X4" / f"{name}x4.png")
        assert np.array_equal(lr, twin)
        # Degraded, not the benchmark's clean LR.
        clean = load_rgb(src / "LR_bicubic" / "X4" / f"{name}x4.png")
        assert not np.array_equal(lr, clean)
    manifest = json.loads((tmp_path / "a" / "Set5" / "degradations.json").read_text())
    assert set(manifest["images"]) == {name for name, _, _ in pairs}
    # A second run into the same folder is refused with one line, nothing touched.
    capsys.readouterr()
    assert tool.main([str(src), "--out", str(tmp_path / "a"), "--scales", "4"]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and len(err.strip().splitlines()) == 1


def test_pipeline_leaves_the_thread_count_as_it_was(photo: torch.Tensor) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        degrade_batch(photo[None], 2, DegradeConfig(), torch.Generator().manual_seed(0))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_montage_draws_every_sample_and_refuses_to_overwrite(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _tool()
    sheet = tool.build_montage(data_root / "train", DegradeConfig(clean_prob=0.0))
    side = 48 * 4
    cols = 2 + tool.MONTAGE_SAMPLES
    assert sheet.width >= cols * side and sheet.height >= len(tool.MONTAGE_PHOTOS) * side
    # Sample tiles differ from one another (each drew its own degradations).
    px = np.asarray(sheet)
    top = 30 + 6  # title band, then the first row's margin
    row = px[top : top + side]
    tiles = [row[:, 6 + i * (side + 6) : 6 + i * (side + 6) + side] for i in range(cols)]
    assert all(not np.array_equal(tiles[i], tiles[j]) for i in range(cols) for j in range(i))
    target = tmp_path / "d.png"
    target.write_bytes(b"keep")
    assert tool.main(["--montage", str(target)]) == 1
    assert target.read_bytes() == b"keep"
    assert "--force" in capsys.readouterr().err
