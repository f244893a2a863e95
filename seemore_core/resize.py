"""MATLAB-exact bicubic ``imresize`` on torch tensors and uint8 numpy images.

The SR benchmarks' LR images, and the "bicubic" baseline row of every SR paper, come
from MATLAB's ``imresize(img, s, 'bicubic')``. Its result differs from PIL/OpenCV/torch
bicubic (different kernel coefficient, boundary handling and antialiasing), so
training pairs or baselines made with those libraries do not match the published
protocol. This module re-implements MATLAB's algorithm:

* cubic kernel with a = -0.5 (Keys), support 4;
* when shrinking with antialiasing, the kernel is stretched by 1/scale (and scaled by
  ``scale``) so that it acts as a low-pass filter;
* output pixel ``x`` (1-based) maps to input coordinate ``u = x / scale + 0.5 (1 - 1/scale)``,
  taps ``floor(u - width/2) + 0 .. ceil(width) + 1``, weights normalised to sum 1;
* out-of-range taps are folded back with symmetric (mirror, edge pixel repeated)
  boundary handling;
* one dimension at a time, height first; for uint8 images the intermediate result is
  rounded and clipped to uint8 after each pass, as MATLAB does for integer inputs.

The per-pass tables (input indices and weights per output pixel, float64) are computed once
per (in size, out size, scale) and cached. A pass is applied either as a dense matmul with
the ``(out, in)`` weight matrix (fastest for training patches) or as a weighted sum over
the gathered taps (fastest for whole images, where the matrix is mostly zeros); both work
on batches and on any device.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

__all__ = [
    "bicubic_lr",
    "crop_to_multiple",
    "imresize",
    "imresize_uint8",
    "output_size",
    "resize_weights",
    "upscale_bicubic_uint8",
]

Method = Literal["auto", "dense", "gather"]

# MATLAB's cubic kernel has support [-2, 2].
_KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5, exactly as MATLAB's ``cubic``."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1.0)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1.0) & (absx <= 2.0))
    return inner + outer


def output_size(in_size: int, scale: float) -> int:
    """MATLAB's output length ``ceil(scale * in_size)``.

    The tiny tolerance keeps e.g. ``255 * (1/3)``, which may land one ulp above 85 in
    binary floating point, from producing an extra row.
    """
    return int(math.ceil(in_size * scale - 1e-9))


@lru_cache(maxsize=256)
def _taps_f64(
    in_size: int, out_size: int, scale: float, antialias: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: per output pixel, 0-based input indices (after the
    symmetric boundary fold) and normalised float64 weights, both ``(out_size, taps)``."""
    if scale < 1.0 and antialias:
        # Stretched kernel: a low-pass filter whose cut-off follows the output rate.
        width = _KERNEL_WIDTH / scale

        def kernel(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)

    else:
        width = _KERNEL_WIDTH
        kernel = _cubic

    x = np.arange(1, out_size + 1, dtype=np.float64)  # MATLAB's 1-based output coordinates
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based tap positions
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)

    # Symmetric boundary: 1..n, n..1 repeated, so index 0 -> 1, n+1 -> n, and so on.
    aux = np.concatenate([np.arange(in_size), np.arange(in_size - 1, -1, -1)])
    cols = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_size)]

    # MATLAB drops tap columns whose weight is zero for every output pixel.
    keep = np.any(w != 0.0, axis=0)
    return np.ascontiguousarray(cols[:, keep]), np.ascontiguousarray(w[:, keep])


@lru_cache(maxsize=256)
def _weights_f64(in_size: int, out_size: int, scale: float, antialias: bool) -> np.ndarray:
    """Dense ``(out_size, in_size)`` float64 weight matrix of one MATLAB resize pass."""
    cols, w = _taps_f64(in_size, out_size, scale, antialias)
    mat = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.repeat(np.arange(out_size), cols.shape[1])
    # Taps folded onto the same pixel by the boundary rule add up.
    np.add.at(mat, (rows, cols.ravel()), w.ravel())
    return mat


def resize_weights(
    in_size: int,
    out_size: int,
    scale: float,
    antialias: bool = True,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The dense ``(out_size, in_size)`` weight matrix of one pass, as a tensor (cached)."""
    return _dense_tensor(
        int(in_size),
        int(out_size),
        float(scale),
        bool(antialias),
        torch.device(device or "cpu"),
        dtype,
    )


@lru_cache(maxsize=256)
def _dense_tensor(
    in_size: int,
    out_size: int,
    scale: float,
    antialias: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    mat = torch.from_numpy(_weights_f64(in_size, out_size, scale, antialias))
    return mat.to(device=device, dtype=dtype)


@lru_cache(maxsize=256)
def _taps_tensor(
    in_size: int,
    out_size: int,
    scale: float,
    antialias: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    cols, w = _taps_f64(in_size, out_size, scale, antialias)
    # Transposed so that tap k's indices and weights are contiguous rows.
    idx_t = torch.from_numpy(cols.T.copy()).to(device)
    w_t = torch.from_numpy(w.T.copy()).to(device=device, dtype=dtype)
    return idx_t, w_t


# When "auto" gathers (measured on CPU, float32 and float64, 1 thread): along the height the
# tap gather reads whole contiguous rows and beats the matmul from about 32 input pixels per
# tap (whole images; the dense matrix is then mostly zeros); below that (training patches)
# the matmul wins. Along the width the gather is strided and the matmul won at every size
# up to 2048, so the width pass stays dense.
_GATHER_MIN_IN_PER_TAP = 32


def _resize_dim(
    x: torch.Tensor, dim: int, out_size: int, scale: float, antialias: bool, method: str
) -> torch.Tensor:
    """One MATLAB pass along ``dim`` (-2: height, -1: width)."""
    in_size = x.shape[dim]
    key = (in_size, out_size, float(scale), bool(antialias), x.device, x.dtype)
    if method == "auto":
        n_taps = _taps_f64(*key[:4])[0].shape[1]
        gather = dim == -2 and in_size >= _GATHER_MIN_IN_PER_TAP * n_taps
        method = "gather" if gather else "dense"
    if method == "dense":
        mat = _dense_tensor(*key)
        return torch.matmul(mat, x) if dim == -2 else torch.matmul(x, mat.T)
    if method != "gather":
        raise ValueError(f"unknown method {method!r}")
    idx_t, w_t = _taps_tensor(*key)
    # Sum over taps in MATLAB's order; elementwise ops, so no TF32/BLAS reassociation.
    shape = (-1, 1) if dim == -2 else (-1,)
    out = x.index_select(dim, idx_t[0]) * w_t[0].view(shape)
    for k in range(1, idx_t.shape[0]):
        out.addcmul_(x.index_select(dim, idx_t[k]), w_t[k].view(shape))
    return out


def _resolve_sizes(
    h: int, w: int, scale: float | None, out_hw: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[float, float]]:
    if scale is None and out_hw is None:
        raise ValueError("give scale or out_hw")
    if scale is not None and scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if out_hw is None:
        assert scale is not None
        return (output_size(h, scale), output_size(w, scale)), (scale, scale)
    oh, ow = int(out_hw[0]), int(out_hw[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"output size must be positive, got {out_hw}")
    if scale is not None:
        # Both given: the scale drives the kernel and the coordinate map (as it does in
        # MATLAB when called with a scale), the size only fixes the output length.
        return (oh, ow), (scale, scale)
    # Size only: MATLAB derives a separate scale per dimension.
    return (oh, ow), (oh / h, ow / w)


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    out_hw: tuple[int, int] | None = None,
    *,
    antialias: bool = True,
    method: Method = "auto",
) -> torch.Tensor:
    """MATLAB ``imresize(x, scale | [h w], 'bicubic')`` on a float tensor.

    ``x`` is ``(N, C, H, W)`` or ``(C, H, W)`` floating point, any device. The result has the
    same dtype and is not rounded or clamped (cubic overshoot is kept). Height is resized
    first, then width. Weights are computed in float64 and cast to ``x.dtype``.

    ``method`` picks how a pass is applied: ``"dense"`` (matmul with the full weight
    matrix), ``"gather"`` (sum over the kernel taps) or ``"auto"`` (whichever is faster
    for the size); all give the same result up to float rounding. On CUDA with TF32 matmuls
    enabled (``torch.set_float32_matmul_precision("high")``) dense passes round to ~1e-3;
    ``"gather"`` uses only elementwise ops and keeps full float32 precision there.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"imresize needs a floating-point tensor, got {x.dtype}")
    if x.dim() not in (3, 4):
        raise ValueError(f"expected (C,H,W) or (N,C,H,W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2], x.shape[-1]
    (oh, ow), (sh, sw) = _resolve_sizes(h, w, scale, out_hw)

    out = x
    # Scale 1 at the same size is the identity in MATLAB too; skip the pass.
    if (oh, sh) != (h, 1.0):
        out = _resize_dim(out, -2, oh, sh, antialias, method)
    if (ow, sw) != (w, 1.0):
        out = _resize_dim(out, -1, ow, sw, antialias, method)
    return out if out is not x else x.clone()


def _round_uint8(x: torch.Tensor) -> torch.Tensor:
    # In place (x is always a fresh pass result). MATLAB converts double -> uint8 by rounding
    # half away from zero and saturating; floor(x + 0.5) is the same for the non-negative
    # values that survive the clip.
    return x.add_(0.5).floor_().clamp_(0.0, 255.0)


def imresize_uint8(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` for an ``HxW`` or ``HxWxC`` uint8 image.

    Computed in float64 and rounded to uint8 after the height pass and again after the width
    pass, which is what MATLAB does for integer images and what the benchmark LR files hold.
    """
    if img.dtype != np.uint8:
        raise TypeError(f"expected uint8, got {img.dtype}")
    if img.ndim not in (2, 3):
        raise ValueError(f"expected HxW or HxWxC, got shape {img.shape}")
    h, w = img.shape[:2]
    oh, ow = output_size(h, scale), output_size(w, scale)
    # np.array copies: the input may be a read-only view (e.g. np.asarray of a PIL image).
    t = torch.from_numpy(np.array(img.reshape(h, w, -1).transpose(2, 0, 1), dtype=np.float64))
    t = _round_uint8(_resize_dim(t, -2, oh, scale, True, "auto"))
    t = _round_uint8(_resize_dim(t, -1, ow, scale, True, "auto"))
    out = t.to(torch.uint8).numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(out[..., 0] if img.ndim == 2 else out)


def crop_to_multiple(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_lr(hr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark's LR image: HR cropped to a multiple of ``scale``, then MATLAB
    ``imresize(hr, 1/scale, 'bicubic')`` with uint8 rounding."""
    return imresize_uint8(crop_to_multiple(hr_uint8, scale), 1.0 / scale)


def upscale_bicubic_uint8(lr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(lr, scale, 'bicubic')`` on a uint8 image: the bicubic baseline."""
    return imresize_uint8(lr_uint8, float(scale))
