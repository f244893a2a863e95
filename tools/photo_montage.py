"""The photo-model montage of issue 14: HR | bicubic | clean T | T-photo on a JPEG input.

A user's case, not the training pipeline's: an HR photo is downscaled by MATLAB bicubic
(the benchmark LR), saved as a real JPEG (Pillow, 4:2:0) at ``--quality`` (75 by
default, a typical web JPEG), and that JPEG is upscaled by bicubic, by the clean model
and by the photo model. One crop of each is drawn side by side (shown ``--zoom`` times,
nearest neighbour, so 8x8 blocks and ringing stay visible), labelled with the PSNR-Y of
the whole image against the HR (benchmark protocol: ``scale`` pixels of border cropped).

    .venv/bin/python tools/photo_montage.py --out docs/photo-montage.png
    .venv/bin/python tools/photo_montage.py --photo runs/T_photo_x4/last.pth --out /tmp/m.png

Models are names (``T``, ``T-photo``) or weight/checkpoint files. Illustration only: the
image is a benchmark picture, and nothing here feeds back into training.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seemore_core.atomic import write_bytes_atomic  # noqa: E402
from seemore_core.checkpoint import load_model  # noqa: E402
from seemore_core.engine import Engine, EngineOptions  # noqa: E402
from seemore_core.metrics import psnr_y  # noqa: E402
from seemore_core.models import resolve_model_path  # noqa: E402
from seemore_core.resize import bicubic_lr, crop_to_multiple, upscale_bicubic_uint8  # noqa: E402

DEFAULT_IMAGE = REPO.parent / "shared/data/benchmark/Set14/HR/pepper.png"


@dataclass(frozen=True)
class Panel:
    title: str
    rgb: np.ndarray  # full HR-size uint8 image
    psnr: float | None


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image as a real JPEG at `quality` would decode (Pillow's 4:2:0 default)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def upscale_with(model: str, lr: np.ndarray, scale: int) -> np.ndarray:
    path = resolve_model_path(model, scale)  # a bundled name or a weights file
    net = load_model(path)
    if net.scale != scale:
        raise SystemExit(f"{path}: a x{net.scale} model, not x{scale}")
    rgb = lr.astype(np.float32) / 255.0  # the engine takes float RGB in [0, 1]
    out = Engine(net, device="cpu").upscale(rgb, EngineOptions(output="uint8"))
    return out.image


def build(
    hr: np.ndarray,
    scale: int,
    quality: int,
    clean: str,
    photo: str,
    crop: tuple[int, int, int],
    zoom: int,
) -> Image.Image:
    hr = crop_to_multiple(hr, scale)
    lr = jpeg_roundtrip(bicubic_lr(hr, scale), quality)
    results = {
        f"bicubic x{scale}": upscale_bicubic_uint8(lr, scale),
        f"clean {clean} x{scale}": upscale_with(clean, lr, scale),
        f"{photo} x{scale}": upscale_with(photo, lr, scale),
    }
    panels = [Panel("HR", hr, None)] + [
        Panel(title, rgb, psnr_y(rgb, hr, scale)) for title, rgb in results.items()
    ]
    x, y, side = crop
    font = ImageFont.load_default(size=15)
    gap, label_h, title_h = 8, 26, 30
    shown = side * zoom
    sheet = Image.new(
        "RGB", (gap + len(panels) * (shown + gap), title_h + shown + label_h + gap), "white"
    )
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (gap, 8),
        f"Input: the HR downscaled x{scale} (bicubic) and saved as JPEG q{quality}; "
        f"crop {side}x{side} at ({x}, {y}) shown {zoom}x; PSNR-Y of the whole image",
        fill="black",
        font=font,
    )
    for i, p in enumerate(panels):
        tile = Image.fromarray(p.rgb[y : y + side, x : x + side])
        tile = tile.resize((shown, shown), Image.Resampling.NEAREST)
        left = gap + i * (shown + gap)
        sheet.paste(tile, (left, title_h))
        label = p.title if p.psnr is None else f"{p.title}: {p.psnr:.2f} dB"
        draw.text((left + 2, title_h + shown + 5), label, fill="black", font=font)
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="the HR photo")
    ap.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--clean", default="T", help="clean model: a name or a weights file")
    ap.add_argument("--photo", default="T-photo", help="photo model: a name or a weights file")
    ap.add_argument(
        "--crop",
        type=int,
        nargs=3,
        default=(176, 96, 160),
        metavar=("X", "Y", "SIDE"),
        help="HR-pixel crop drawn from each result",
    )
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--force", action="store_true", help="replace an existing --out")
    args = ap.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; pass --force to replace it", file=sys.stderr)
        return 2
    hr = np.asarray(Image.open(args.image).convert("RGB"))
    x, y, side = args.crop
    if x < 0 or y < 0 or side < 1 or y + side > hr.shape[0] or x + side > hr.shape[1]:
        print(f"crop {args.crop} is outside the {hr.shape[1]}x{hr.shape[0]} image", file=sys.stderr)
        return 2
    sheet = build(hr, args.scale, args.quality, args.clean, args.photo, (x, y, side), args.zoom)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    write_bytes_atomic(args.out, buf.getvalue(), overwrite=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
