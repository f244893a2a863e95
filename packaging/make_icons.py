"""Draw the app icon: resources/icons/seemore.svg and the PNG sizes rendered from it.

The picture is the app in one glance: a round shape cut by a before/after divider,
blocky (low resolution) on the left, smooth on the right. Run from anywhere:

    python packaging/make_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
CELL = 24  # the blocky half's pixel size, in 256-unit icon coordinates
CX, CY, R = 128.0, 128.0, 72.0


def svg() -> str:
    cells = []
    # The grid is aligned on the centre, so that whole cells meet the divider.
    for y in range(int(CY) - 5 * CELL, int(CY) + 5 * CELL, CELL):
        for x in range(int(CX) - 5 * CELL, int(CX), CELL):
            mx, my = x + CELL / 2, y + CELL / 2
            if (mx - CX) ** 2 + (my - CY) ** 2 <= R * R:
                # Shade by height like the smooth half's gradient, in steps.
                t = (my - (CY - R)) / (2 * R)
                # A slight checker makes the single pixels visible.
                t = min(1.0, max(0.0, t + (0.08 if (x // CELL + y // CELL) % 2 else -0.08)))
                r = int(255 - 10 * t)
                g = int(196 - 90 * t)
                b = int(64 - 40 * t)
                cells.append(
                    f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" '
                    f'fill="rgb({r},{g},{b})" stroke="#101d30" stroke-opacity="0.5" '
                    f'stroke-width="1.5"/>'
                )
    blocks = "\n    ".join(cells)
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">'
    return f"""{head}
  <title>seemore</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#27476e"/>
      <stop offset="1" stop-color="#101d30"/>
    </linearGradient>
    <linearGradient id="fruit" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#ffc440"/>
      <stop offset="1" stop-color="#f56a18"/>
    </linearGradient>
    <clipPath id="card"><rect x="16" y="16" width="224" height="224" rx="44"/></clipPath>
    <clipPath id="right"><rect x="128" y="0" width="128" height="256"/></clipPath>
  </defs>
  <rect x="16" y="16" width="224" height="224" rx="44" fill="url(#bg)"/>
  <g clip-path="url(#card)">
    {blocks}
    <circle cx="{CX}" cy="{CY}" r="{R}" fill="url(#fruit)" clip-path="url(#right)"/>
    <path d="M 150 92 q 26 6 34 34" fill="none" stroke="#fff3c8" stroke-width="9"
          stroke-linecap="round" clip-path="url(#right)"/>
  </g>
  <rect x="124" y="24" width="8" height="208" rx="4" fill="#ffffff"/>
  <circle cx="128" cy="128" r="19" fill="#ffffff"/>
  <path d="M 121 119 l -8 9 l 8 9 M 135 119 l 8 9 l -8 9" fill="none" stroke="#27476e"
        stroke-width="4.5" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""


def main() -> int:
    ICONS.mkdir(parents=True, exist_ok=True)
    path = ICONS / "seemore.svg"
    path.write_text(svg(), encoding="utf-8")

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        print(f"{path}: not a valid SVG", file=sys.stderr)
        return 1
    for size in PNG_SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p)
        p.end()
        name = "seemore.png" if size == 256 else f"seemore_{size}.png"
        img.save(str(ICONS / name))
    del app
    print(f"wrote {path} and {len(PNG_SIZES)} PNGs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
