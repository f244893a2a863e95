"""Routing over a set of images: which expert each block chose, how often, how surely.

The paper's Figure 5 claims early blocks choose diverse ranks across inputs and deeper
blocks favour lower ranks. Whether a model does that is a property of the model over
many images, not of one upscale, so this module measures it over a folder: per block,
the share of images that chose each expert, the mean router probabilities, and the
normalised entropy of the choice (0: every image chose the same expert, 1: the choices
are spread evenly over all experts). The images are routed whole, as an upscale routes
them (the engine's exact routing, even when it tiles).

`seemore routing-stats DIR_OR_FILES... --model M --scale N [--json] [--plot F.png]` (the
command lives in cli.py); a benchmark folder (DIR/HR with DIR/LR_bicubic/X{N})
contributes its LR images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import SeemoreError


@dataclass
class BlockStats:
    block: int
    share: list[float]  # per expert: the fraction of images whose top-1 was this expert
    mean_probs: list[float]  # per expert: the router probability averaged over images
    entropy: float  # normalised entropy of `share`, in [0, 1]


@dataclass
class RoutingStats:
    images: list[str]
    chosen: list[list[int]]  # (image, block) -> the top-1 expert
    blocks: list[BlockStats]

    def diverse_blocks(self, min_share: float = 0.15, first: int = 3) -> int:
        """How many of the `first` blocks have two or more experts each chosen for at
        least `min_share` of the images (the model issue's routing target)."""
        return sum(sum(s >= min_share for s in b.share) >= 2 for b in self.blocks[:first])

    def to_json(self) -> dict[str, object]:
        return {
            "images": self.images,
            "chosen": self.chosen,
            "blocks": [asdict(b) for b in self.blocks],
            "diverse_blocks_of_first_3": self.diverse_blocks(),
        }


def normalised_entropy(share: Sequence[float]) -> float:
    e = len(share)
    if e <= 1:
        return 0.0
    h = 0.0 - sum(p * math.log(p) for p in share if p > 0)  # 0.0, not -0.0
    return h / math.log(e)


def summarise(
    names: list[str], probs: list[list[list[float]]], chosen: list[list[int]]
) -> RoutingStats:
    """Statistics from per-image records: probs[image][block][expert], chosen[image][block]."""
    if not names:
        raise SeemoreError("routing statistics need at least one image")
    p = np.asarray(probs, dtype=np.float64)  # (I, B, E)
    c = np.asarray(chosen, dtype=np.int64)  # (I, B)
    n_img, n_blocks, n_exp = p.shape
    blocks = []
    for b in range(n_blocks):
        share = (np.bincount(c[:, b], minlength=n_exp) / n_img).tolist()
        blocks.append(
            BlockStats(
                block=b,
                share=[round(s, 6) for s in share],
                mean_probs=[round(float(v), 6) for v in p[:, b].mean(0)],
                entropy=round(normalised_entropy(share), 6),
            )
        )
    return RoutingStats(names, c.tolist(), blocks)


def gather_inputs(
    paths: Iterable[str | Path], scale: int
) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """(name, loader of the float RGB image) for every input, benchmark folders as LR."""
    from .evaluate import find_pairs, load_rgb
    from .imageio import is_image_path, read_image
    from .resize import bicubic_lr

    found: list[tuple[str, Callable[[], np.ndarray]]] = []

    def from_file(p: Path) -> Callable[[], np.ndarray]:
        return lambda: read_image(p).rgb

    def from_benchmark(hr: Path, lr: Path | None) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            img = load_rgb(lr) if lr is not None else bicubic_lr(load_rgb(hr), scale)
            return img.astype(np.float32) / 255.0

        return load

    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / "HR").is_dir():
            for name, hr, lr in find_pairs(p, scale):
                found.append((f"{p.name}/{name}", from_benchmark(hr, lr)))
        elif p.is_dir():
            for q in sorted(q for q in p.iterdir() if q.is_file() and is_image_path(q)):
                found.append((str(q), from_file(q)))
        elif p.is_file():
            found.append((str(p), from_file(p)))
        else:
            raise SeemoreError(f"{p}: no such file or folder")
    if not found:
        raise SeemoreError("no images found in " + ", ".join(map(str, paths)))
    return found


def measure(engine: object, inputs: list[tuple[str, Callable[[], np.ndarray]]]) -> RoutingStats:
    """Route every image whole with `engine` (an `Engine`) and summarise."""
    from .engine import Engine, EngineOptions

    assert isinstance(engine, Engine)
    names, probs, chosen = [], [], []
    for name, load in inputs:
        res = engine.upscale(load(), EngineOptions())
        names.append(name)
        probs.append([[float(v) for v in r.probs[0]] for r in res.routing])
        chosen.append([int(r.chosen[0, 0]) for r in res.routing])
    return summarise(names, probs, chosen)


def usage_picture(
    stats: RoutingStats, path: str | Path, title: str = "", overwrite: bool = False
) -> Path:
    """A depth x expert picture (the paper's Figure 5): each cell's shade is the share of
    images that chose that expert in that block, 0 white to 1 dark blue, share printed."""
    from PIL import Image, ImageDraw

    from .atomic import write_bytes_atomic

    n_blocks = len(stats.blocks)
    n_exp = len(stats.blocks[0].share)
    cell, left, top = 56, 70, 40 if title else 24
    w, h = left + cell * n_exp + 10, top + cell * n_blocks + 34
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    if title:
        d.text((8, 6), title, fill="black")
    for j in range(n_exp):
        d.text((left + j * cell + cell // 2 - 10, top - 16), f"E{j}", fill="black")
    for b, bs in enumerate(stats.blocks):
        y = top + b * cell
        d.text((8, y + cell // 2 - 6), f"block {b}", fill="black")
        for j, s in enumerate(bs.share):
            shade = (int(255 - 225 * s), int(255 - 175 * s), int(255 - 60 * s))
            x = left + j * cell
            d.rectangle((x, y, x + cell - 2, y + cell - 2), fill=shade, outline=(200, 200, 200))
            d.text((x + 12, y + cell // 2 - 6), f"{s:.0%}", fill="white" if s > 0.55 else "black")
    d.text((8, h - 22), f"share of {len(stats.images)} images choosing each expert", fill="black")
    import io

    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return write_bytes_atomic(path, buf.getvalue(), overwrite)


def format_table(stats: RoutingStats) -> str:
    n_exp = len(stats.blocks[0].share)
    head = "block  " + "  ".join(f"E{j} share" for j in range(n_exp))
    head += "   " + "  ".join(f"E{j} prob" for j in range(n_exp)) + "  entropy"
    lines = [f"{len(stats.images)} images", head]
    for b in stats.blocks:
        shares = "  ".join(f"{s:8.0%}" for s in b.share)
        probs = "  ".join(f"{p:7.3f}" for p in b.mean_probs)
        lines.append(f"{b.block:>5}  {shares}   {probs}  {b.entropy:7.3f}")
    lines.append(
        f"blocks 0-2 with two or more experts each chosen by >= 15% of the images: "
        f"{stats.diverse_blocks()}"
    )
    return "\n".join(lines)
