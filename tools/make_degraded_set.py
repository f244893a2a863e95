"""Build degraded validation sets (issue 14) that ``seemore eval`` reads like any other.

For every benchmark folder given (default: Set5 and Set14 beside the repository) and
every scale, each HR image (cropped to a multiple of the scale) is degraded with the
real-photo pipeline of ``seemore_core.train.degrade`` at a fixed seed per
(scale, image), and written as::

    OUT/NAME/HR/IMG.png                     (a copy of the benchmark HR)
    OUT/NAME/LR_bicubic/X{s}/IMGx{s}.png    (the degraded LR; the folder name is the
                                             one ``seemore eval`` looks for)
    OUT/NAME/degradations.json              (what each LR went through, per scale)

Every image is degraded (``clean_prob`` is forced to 0): the clean case is the
benchmark itself. Usage, from the repository root::

    .venv/bin/python tools/make_degraded_set.py            # -> runs/degraded/{Set5,Set14}
    .venv/bin/python tools/make_degraded_set.py --config configs/T_photo_x4_cpu.toml
    .venv/bin/python tools/make_degraded_set.py --montage docs/degradations.png

``--montage`` instead draws sample x4 training crops: per row an HR crop from the 291
training photos, its clean MATLAB-bicubic LR, and LR crops as the pipeline degrades
them (shown 4x, nearest neighbour, so noise and JPEG blocks stay visible), each
labelled with the steps it went through.

An existing output folder is refused unless ``--force`` is given (then it is replaced).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import tomllib
import torch
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seemore_core.errors import SeemoreError  # noqa: E402
from seemore_core.evaluate import find_pairs, load_rgb  # noqa: E402
from seemore_core.imageio import write_bytes_atomic  # noqa: E402
from seemore_core.resize import crop_to_multiple  # noqa: E402
from seemore_core.train.degrade import DegradeConfig, degrade_image, matlab_bicubic  # noqa: E402

DEFAULT_SETS = [
    REPO.parent / "shared/data/benchmark/Set5",
    REPO.parent / "shared/data/benchmark/Set14",
]
# Seeds are fixed per (scale, image index) so adding a scale never changes another's LR.
BASE_SEED = 20_141


def image_seed(scale: int, index: int) -> int:
    return BASE_SEED + 1000 * scale + index


def load_config(path: Path | None) -> DegradeConfig:
    if path is None:
        cfg = DegradeConfig()
    else:
        with open(path, "rb") as f:
            table = tomllib.load(f).get("degradation", {})
        cfg = DegradeConfig.from_dict(table)
    return replace(cfg, clean_prob=0.0)


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def build_set(src: Path, dst: Path, scales: list[int], cfg: DegradeConfig) -> dict[str, object]:
    """Write one degraded data set into ``dst`` (a fresh folder) and return its manifest."""
    pairs = find_pairs(src, scales[0])
    if not pairs:
        raise FileNotFoundError(f"no images in {src / 'HR'}")
    (dst / "HR").mkdir(parents=True)
    manifest: dict[str, object] = {"source": str(src), "config": asdict(cfg), "images": {}}
    images: dict[str, dict[str, object]] = {}
    for _, hr_path, _ in pairs:
        shutil.copyfile(hr_path, dst / "HR" / hr_path.name)
    for scale in scales:
        lr_dir = dst / "LR_bicubic" / f"X{scale}"
        lr_dir.mkdir(parents=True)
        for index, (name, hr_path, _) in enumerate(pairs):
            hr = crop_to_multiple(load_rgb(hr_path), scale)
            x = torch.from_numpy(hr.copy()).permute(2, 0, 1).float() / 255.0
            gen = torch.Generator().manual_seed(image_seed(scale, index))
            lr, log = degrade_image(x, scale, cfg, gen)
            arr = (lr * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            (lr_dir / f"{name}x{scale}.png").write_bytes(_png_bytes(arr))
            images.setdefault(name, {})[f"x{scale}"] = {
                "seed": image_seed(scale, index),
                "steps": log,
            }
    manifest["images"] = images
    (dst / "degradations.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


MONTAGE_PHOTOS = ["BSD200/100075.png", "BSD200/35010.png", "BSD200/12003.png", "BSD200/66075.png"]
MONTAGE_SAMPLES = 5
MONTAGE_SEED = 7


def _tile(lr: torch.Tensor, scale: int) -> Image.Image:
    arr = (lr * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(arr)
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)


def build_montage(
    train_root: Path, cfg: DegradeConfig, scale: int = 4, patch: int = 48
) -> Image.Image:
    """The labelled grid of sample training crops (see the module docstring)."""
    side = patch * scale
    font = ImageFont.load_default(size=12)
    line, label_h, gap = 14, 8 * 14 + 6, 6
    cols = 2 + MONTAGE_SAMPLES
    sheet = Image.new("RGB", (cols * (side + gap) + gap, 0), "white")
    rows: list[Image.Image] = []
    gen = torch.Generator().manual_seed(MONTAGE_SEED)
    for rel in MONTAGE_PHOTOS:
        arr = load_rgb(train_root / rel)
        y, x = (arr.shape[0] - side) // 2, (arr.shape[1] - side) // 2
        hr = torch.from_numpy(arr[y : y + side, x : x + side].copy()).permute(2, 0, 1)
        hr = hr.float() / 255.0
        tiles = [
            (_tile(hr, 1), ["HR crop"]),
            (
                _tile(matlab_bicubic(hr[None], scale)[0], scale),
                ["clean MATLAB bicubic", "(the benchmark LR)"],
            ),
        ]
        for _ in range(MONTAGE_SAMPLES):
            lr, log = degrade_image(hr, scale, cfg, gen)
            tiles.append((_tile(lr, scale), [s.replace("| 2nd:", "-- 2nd order --") for s in log]))
        row = Image.new("RGB", (sheet.width, side + label_h + gap), "white")
        draw = ImageDraw.Draw(row)
        for i, (im, labels) in enumerate(tiles):
            left = gap + i * (side + gap)
            row.paste(im, (left, gap))
            for j, text in enumerate(labels[:8]):
                draw.text((left + 2, gap + side + 3 + j * line), text, fill="black", font=font)
        rows.append(row)
    title_h = 30
    sheet = Image.new("RGB", (sheet.width, title_h + sum(r.height for r in rows)), "white")
    ImageDraw.Draw(sheet).text(
        (gap, 8),
        f"What T-photo x{scale} is taught: LR training crops ({patch}x{patch}, shown {scale}x) "
        "from the real-photo degradation pipeline (DegradeConfig defaults)",
        fill="black",
        font=ImageFont.load_default(size=15),
    )
    top = title_h
    for r in rows:
        sheet.paste(r, (0, top))
        top += r.height
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="*", type=Path, help="benchmark folders (default: Set5 Set14)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "degraded")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--config", type=Path, help="a training TOML whose [degradation] to use")
    ap.add_argument("--force", action="store_true", help="replace existing output folders")
    ap.add_argument("--montage", type=Path, help="draw sample training crops to this PNG instead")
    args = ap.parse_args(argv)
    try:
        if args.montage is not None:
            if args.montage.exists() and not args.force:
                raise FileExistsError(f"{args.montage} exists; pass --force to replace it")
            # The clean share gets its own column, so every sample column is degraded.
            sheet = build_montage(REPO.parent / "shared/data/train", load_config(args.config))
            buf = io.BytesIO()
            sheet.save(buf, format="PNG", optimize=True)
            write_bytes_atomic(args.montage, buf.getvalue(), overwrite=True)
            print(f"wrote {args.montage}")
            return 0
        cfg = load_config(args.config)
        sets = args.sets or DEFAULT_SETS
        for src in sets:
            if not (src / "HR").is_dir():
                raise FileNotFoundError(f"no HR folder in {src}")
            dst = args.out / src.name
            if dst.exists() and not args.force:
                raise FileExistsError(f"{dst} exists; pass --force to replace it")
        args.out.mkdir(parents=True, exist_ok=True)
        for src in sets:
            dst = args.out / src.name
            # Built beside the target and renamed into place: a crash leaves no half set.
            tmp = Path(tempfile.mkdtemp(prefix=f".{src.name}.", dir=args.out))
            try:
                build_set(src, tmp / src.name, args.scales, cfg)
                if dst.exists():
                    shutil.rmtree(dst)
                (tmp / src.name).rename(dst)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"wrote {dst} (x{', x'.join(map(str, args.scales))})")
    except (OSError, ValueError, SeemoreError, tomllib.TOMLDecodeError) as exc:
        print(f"make_degraded_set: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
