"""MATLAB-exact imresize: the benchmark LR files are the ground truth for the uint8 path,
torch's antialiased bicubic (same a = -0.5 kernel, but no symmetric boundary) on a
symmetrically padded input is an independent reference for the float path."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from seemore_core.resize import (
    bicubic_lr,
    crop_to_multiple,
    imresize,
    imresize_uint8,
    resize_weights,
    upscale_bicubic_uint8,
)

SCALES = (2, 3, 4)


def _read(path: Path) -> np.ndarray:
    # Keep the file's own mode: the LR files of one-channel HR images are one-channel too.
    with Image.open(path) as im:
        return np.asarray(im)


def _hr_lr_pairs(root: Path, dataset: str, scale: int) -> list[tuple[str, Path, Path]]:
    hr_dir = root / dataset / "HR"
    lr_dir = root / dataset / "LR_bicubic" / f"X{scale}"
    return [(p.stem, p, lr_dir / f"{p.stem}x{scale}.png") for p in sorted(hr_dir.glob("*.png"))]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_bicubic_lr_reproduces_benchmark_files(
    benchmark_root: Path, dataset: str, scale: int
) -> None:
    pairs = _hr_lr_pairs(benchmark_root, dataset, scale)
    assert pairs, f"no HR images in {dataset}"
    differing = 0
    total = 0
    worst = 0
    for name, hr_path, lr_path in pairs:
        ref = _read(lr_path)
        out = bicubic_lr(_read(hr_path), scale)
        assert out.dtype == np.uint8
        assert out.shape == ref.shape, name
        diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
        worst = max(worst, int(diff.max()))
        differing += int(np.count_nonzero(diff))
        total += diff.size
    print(f"{dataset} x{scale}: {differing} of {total} values differ, max diff {worst}")
    assert worst <= 1
    if differing:
        warnings.warn(
            f"{dataset} x{scale}: {differing} of {total} LR values off by one", stacklevel=1
        )


def _sym_pad(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    # MATLAB's 'symmetric' padding repeats the edge pixel (unlike torch's 'reflect').
    n = x.shape[dim]
    idx = list(range(pad - 1, -1, -1)) + list(range(n)) + list(range(n - 1, n - 1 - pad, -1))
    return x.index_select(dim, torch.tensor(idx, device=x.device))


def _reference_resize(x: torch.Tensor, scale: int, down: bool) -> torch.Tensor:
    """Integer-factor MATLAB resize built from torch's antialiased bicubic.

    Padding by a whole number of output pixels keeps the sampling grid aligned, and a
    margin wider than the kernel support makes the boundary rule MATLAB's.
    """
    out = x
    for dim in (2, 3):
        n = out.shape[dim]
        pad_in = 4 * scale
        padded = _sym_pad(out, pad_in, dim)
        size = list(out.shape[2:])
        if down:
            size[dim - 2] = (n + 2 * pad_in) // scale
            start, length = pad_in // scale, n // scale
        else:
            size[dim - 2] = (n + 2 * pad_in) * scale
            start, length = pad_in * scale, n * scale
        res = F.interpolate(padded, size=tuple(size), mode="bicubic", antialias=True)
        out = res.narrow(dim, start, length)
    return out


@pytest.fixture(scope="module")
def real_patch(benchmark_root: Path) -> torch.Tensor:
    """A 3x96x84 float64 crop of a real image (non-square on purpose), values in [0, 1]."""
    img = _read(benchmark_root / "Set5" / "HR" / "butterfly.png")[40:136, 60:144, :3]
    return torch.from_numpy(img.astype(np.float64) / 255.0).permute(2, 0, 1).contiguous()


METHODS = ("dense", "gather", "auto")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scale", SCALES)
def test_float_downscale_matches_reference(
    real_patch: torch.Tensor, scale: int, method: str
) -> None:
    x = crop_to_multiple(real_patch.permute(1, 2, 0).numpy(), scale)
    xt = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    ref = _reference_resize(xt, scale, down=True)
    out64 = imresize(xt, 1.0 / scale, method=method)
    assert out64.shape == ref.shape
    assert (out64 - ref).abs().max().item() < 1e-12
    out32 = imresize(xt.float(), 1.0 / scale, method=method)
    assert out32.dtype == torch.float32
    assert (out32.double() - ref).abs().max().item() < 1e-6


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scale", SCALES)
def test_float_upscale_matches_reference(real_patch: torch.Tensor, scale: int, method: str) -> None:
    xt = real_patch[None, :, :32, :28]
    ref = _reference_resize(xt, scale, down=False)
    out64 = imresize(xt, float(scale), method=method)
    assert out64.shape == (1, 3, 32 * scale, 28 * scale)
    assert (out64 - ref).abs().max().item() < 1e-12


def test_float_path_keeps_overshoot() -> None:
    # A hard edge rings under the cubic kernel; the float path must not clamp that away.
    step = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    step[..., 4:] = 1.0
    out = imresize(step, 2.0)
    assert out.min().item() < 0.0 and out.max().item() > 1.0


def test_weights_rows_sum_to_one_and_identity() -> None:
    for in_size, out_size, scale in [(96, 48, 0.5), (95, 32, 1 / 3), (24, 96, 4.0), (7, 3, 0.4)]:
        w = resize_weights(in_size, out_size, scale)
        assert w.shape == (out_size, in_size)
        assert torch.allclose(w.sum(dim=1), torch.ones(out_size, dtype=w.dtype), atol=1e-12)
    eye = resize_weights(10, 10, 1.0)
    assert torch.equal(eye, torch.eye(10, dtype=eye.dtype))


def test_scale_and_out_hw_agree(real_patch: torch.Tensor) -> None:
    a = imresize(real_patch, 0.5)
    b = imresize(real_patch, out_hw=(48, 42))
    assert a.shape == b.shape == (3, 48, 42)
    assert torch.allclose(a, b, atol=1e-12)
    # Without antialiasing the downscale is plain cubic interpolation: a different result.
    c = imresize(real_patch, 0.5, antialias=False)
    assert (a - c).abs().max().item() > 1e-3


def test_batch_matches_single(real_patch: torch.Tensor) -> None:
    gen = torch.Generator().manual_seed(0)
    crops = [real_patch[:, i : i + 48, i : i + 36] for i in (0, 8, 16, 30)]
    noisy = torch.stack(crops) + 0.05 * torch.randn(
        4, 3, 48, 36, generator=gen, dtype=torch.float64
    )
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        batch = noisy.to(dtype)
        for scale, method in itertools.product((0.5, 1 / 3, 0.25, 2.0), METHODS):
            out = imresize(batch, scale, method=method)
            for i in range(batch.shape[0]):
                single = imresize(batch[i], scale, method=method)
                assert single.dim() == 3
                assert (out[i] - single).abs().max().item() <= tol


def test_uint8_gray_and_color_agree(benchmark_root: Path) -> None:
    gray = _read(benchmark_root / "Set14" / "HR" / "bridge.png")
    assert gray.ndim == 2
    gray = gray[:100, :90]
    color = np.repeat(gray[:, :, None], 3, axis=2)
    for scale in (0.5, 1 / 3, 3.0):
        g = imresize_uint8(gray, scale)
        c = imresize_uint8(color, scale)
        assert g.ndim == 2 and c.ndim == 3
        assert np.array_equal(c, np.repeat(g[:, :, None], 3, axis=2))


def test_uint8_rounds_after_each_pass(real_patch: torch.Tensor) -> None:
    img = (real_patch.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    up = upscale_bicubic_uint8(img, 3)
    assert up.dtype == np.uint8 and up.shape == (96 * 3, 84 * 3, 3)
    t = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)
    h_pass = torch.floor(resize_weights(96, 288, 3.0) @ t + 0.5).clamp(0, 255)
    w_pass = torch.floor(h_pass @ resize_weights(84, 252, 3.0).T + 0.5).clamp(0, 255)
    assert np.array_equal(up, w_pass.permute(1, 2, 0).numpy().astype(np.uint8))
    # Rounding once at the end is a different (non-MATLAB) result on a real image.
    once = torch.floor(imresize(t, 3.0) + 0.5).clamp(0, 255)
    assert not np.array_equal(up, once.permute(1, 2, 0).numpy().astype(np.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(real_patch: torch.Tensor) -> None:
    x = real_patch[None].float()
    for scale in (0.5, 0.25, 2.0):
        cpu = imresize(x, scale)
        gpu = imresize(x.cuda(), scale)
        assert gpu.device.type == "cuda"
        assert (gpu.cpu() - cpu).abs().max().item() < 1e-6
