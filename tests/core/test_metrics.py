"""Y-channel PSNR/SSIM and the benchmark evaluation, checked on real images and against
the published bicubic baselines."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seemore_core.evaluate import bicubic_upscaler, evaluate_dataset, find_pairs, load_rgb
from seemore_core.metrics import psnr_y, rgb_to_y, ssim_y, to_uint8

# Bicubic rows under the BasicSR protocol (one-channel files scored as 3 equal channels);
# see docs/seemore-reference.md, "Training recipe" and the evaluation notes.
PUBLISHED_BICUBIC = {
    ("Set5", 2): 33.66,
    ("Set5", 3): 30.39,
    ("Set5", 4): 28.42,
    ("Set14", 2): 30.32,
    ("Set14", 3): 27.63,
    ("Set14", 4): 26.09,
}


@pytest.fixture(scope="module")
def hr_image(benchmark_root: Path) -> np.ndarray:
    return load_rgb(benchmark_root / "Set5" / "HR" / "bird.png")


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, img.shape)
    return np.clip(np.round(img.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def test_rgb_to_y_range() -> None:
    black = np.zeros((2, 2, 3), np.uint8)
    white = np.full((2, 2, 3), 255, np.uint8)
    assert np.allclose(rgb_to_y(black), 16.0)
    assert np.allclose(rgb_to_y(white), 235.0)
    # Float input is taken in [0, 1] and gives the same Y as its uint8 form.
    assert np.allclose(rgb_to_y(white.astype(np.float64) / 255.0), 235.0)


def test_to_uint8_clamps_and_rounds() -> None:
    x = np.array([-0.2, 0.0, 0.5 / 255, 1.49 / 255, 0.5, 1.0, 1.3])
    assert to_uint8(x).tolist() == [0, 0, 1, 1, 128, 255, 255]
    assert to_uint8(torch.tensor(x)).tolist() == [0, 0, 1, 1, 128, 255, 255]


def test_psnr_identical_is_inf(hr_image: np.ndarray) -> None:
    assert psnr_y(hr_image, hr_image, 4) == math.inf


def test_psnr_matches_direct_formula(hr_image: np.ndarray) -> None:
    sr = _noisy(hr_image, 5.0)
    crop = 3

    def y(img: np.ndarray) -> np.ndarray:
        rgb = img.astype(np.float64) / 255.0
        return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]

    diff = (y(sr) - y(hr_image))[crop:-crop, crop:-crop]
    expected = 10.0 * np.log10(255.0**2 / np.mean(diff**2))
    assert psnr_y(sr, hr_image, crop) == pytest.approx(expected, abs=1e-10)


def test_gray_counts_as_three_equal_channels(benchmark_root: Path) -> None:
    gray = np.asarray(load_rgb(benchmark_root / "Set14" / "HR" / "bridge.png"))[..., 0]
    noisy = _noisy(gray, 4.0)
    stacked = np.repeat(gray[..., None], 3, axis=2)
    stacked_noisy = np.repeat(noisy[..., None], 3, axis=2)
    assert psnr_y(noisy, gray, 2) == psnr_y(stacked_noisy, stacked, 2)
    assert ssim_y(noisy, gray, 2) == ssim_y(stacked_noisy, stacked, 2)


def test_ssim_identical_is_one(hr_image: np.ndarray) -> None:
    assert ssim_y(hr_image, hr_image, 4) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise(hr_image: np.ndarray) -> None:
    values = [ssim_y(_noisy(hr_image, sigma), hr_image, 2) for sigma in (1.0, 4.0, 12.0, 30.0)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert 0.0 < values[-1] < values[0] < 1.0


def test_ssim_matches_brute_force_window(hr_image: np.ndarray) -> None:
    # Direct 11x11 windowed statistics at every valid position, no separable filtering.
    hr = hr_image[:40, :36]
    sr = _noisy(hr, 6.0)
    a, b = rgb_to_y(sr), rgb_to_y(hr)
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va = (win * pa * pa).sum() - ma * ma
            vb = (win * pb * pb).sum() - mb * mb
            cov = (win * pa * pb).sum() - ma * mb
            vals.append(
                ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    assert ssim_y(sr, hr, 0) == pytest.approx(float(np.mean(vals)), abs=1e-10)


def test_find_pairs_layout(benchmark_root: Path) -> None:
    pairs = find_pairs(benchmark_root / "Set5", 4)
    assert [name for name, _, _ in pairs] == ["baby", "bird", "butterfly", "head", "woman"]
    for name, hr, lr in pairs:
        assert hr.name == f"{name}.png"
        assert lr is not None and lr.name == f"{name}x4.png"


def test_missing_lr_is_made_from_hr(benchmark_root: Path, tmp_path: Path) -> None:
    # Two images are enough: the generated LR must score exactly like the stored one.
    src = benchmark_root / "Set5"
    (tmp_path / "Mini" / "HR").mkdir(parents=True)
    (tmp_path / "Mini" / "LR_bicubic" / "X3").mkdir(parents=True)
    for name in ("bird", "head"):
        shutil.copy(src / "HR" / f"{name}.png", tmp_path / "Mini" / "HR")
    shutil.copy(src / "LR_bicubic" / "X3" / "birdx3.png", tmp_path / "Mini" / "LR_bicubic" / "X3")
    pairs = find_pairs(tmp_path / "Mini", 3)
    assert [(n, lr is None) for n, _, lr in pairs] == [("bird", False), ("head", True)]

    result = evaluate_dataset(tmp_path / "Mini", 3, bicubic_upscaler(3))
    assert result.dataset == "Mini" and result.scale == 3 and result.images == 2
    reference = evaluate_dataset(src, 3, bicubic_upscaler(3))
    ref_scores = {s.name: s for s in reference.per_image}
    for score in result.per_image:
        assert score.psnr_y == ref_scores[score.name].psnr_y
        assert score.ssim_y == ref_scores[score.name].ssim_y


def test_float_output_is_rounded_like_uint8(benchmark_root: Path) -> None:
    up = bicubic_upscaler(4)
    as_uint8 = evaluate_dataset(benchmark_root / "Set5", 4, up)
    as_float = evaluate_dataset(
        benchmark_root / "Set5", 4, lambda lr: up(lr).astype(np.float32) / 255.0
    )
    assert as_float.psnr_y == as_uint8.psnr_y
    assert as_float.ssim_y == as_uint8.ssim_y


@pytest.mark.parametrize(("dataset", "scale"), list(PUBLISHED_BICUBIC))
def test_bicubic_baseline_matches_published(benchmark_root: Path, dataset: str, scale: int) -> None:
    result = evaluate_dataset(benchmark_root / dataset, scale, bicubic_upscaler(scale))
    print(f"bicubic {dataset} x{scale}: PSNR {result.psnr_y:.4f} SSIM {result.ssim_y:.4f}")
    assert result.dataset == dataset
    assert result.images == (5 if dataset == "Set5" else 14)
    assert result.psnr_y == pytest.approx(PUBLISHED_BICUBIC[(dataset, scale)], abs=0.02)
    assert 0.6 < result.ssim_y < 1.0
