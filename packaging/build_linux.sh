#!/usr/bin/env bash
# Build a Linux bundle of the desktop app: dist/seemore-gui/ and dist/seemore-gui-linux.tar.gz
#
#   packaging/build_linux.sh
#   TORCH_INDEX_URL=<a PyTorch wheel index> packaging/build_linux.sh
#
# The second form takes torch from another index first, e.g. PyTorch's CPU-only wheels,
# which make a much smaller bundle than the CUDA wheels PyPI serves on Linux.
#
# Runs in a fresh virtual environment under build/, so the bundle contains exactly the
# project's dependencies. The .desktop file, AppStream metadata and icons are copied
# beside the program in the freedesktop layout (share/...), ready for a package or an
# AppImage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="build/venv-bundle"
APP_ID="io.github.seemore.Seemore"

"$PY" -m venv --clear "$VENV"
"$VENV/bin/pip" install --upgrade pip wheel
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    "$VENV/bin/pip" install torch --index-url "$TORCH_INDEX_URL"
else
    # A pinned torch first: an open range would pull the newest (multi-GB CUDA) build.
    "$VENV/bin/pip" install "${TORCH_SPEC:-torch==2.13.0}"
fi
# Not editable: PyInstaller must see seemore_app and seemore_core.resources as
# ordinary installed packages.
"$VENV/bin/pip" install ".[gui]" pyinstaller
"$VENV/bin/python" packaging/make_icons.py

"$VENV/bin/pyinstaller" --noconfirm --clean \
    --distpath dist --workpath build/pyinstaller packaging/seemore-gui.spec

SHARE="dist/seemore-gui/share"
install -Dm644 "packaging/$APP_ID.desktop" "$SHARE/applications/$APP_ID.desktop"
install -Dm644 "packaging/$APP_ID.metainfo.xml" "$SHARE/metainfo/$APP_ID.metainfo.xml"
install -Dm644 resources/icons/seemore.svg "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in 16 32 48 64 128 512; do
    install -Dm644 "resources/icons/seemore_${size}.png" \
        "$SHARE/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
install -Dm644 resources/icons/seemore.png "$SHARE/icons/hicolor/256x256/apps/$APP_ID.png"

# A smoke test of the bundle itself: start headless, draw the window, exit.
QT_QPA_PLATFORM=offscreen dist/seemore-gui/seemore-gui --screenshot build/bundle-smoke.png \
    --size 800x600 >/dev/null
tar -C dist -czf dist/seemore-gui-linux.tar.gz seemore-gui
echo "built dist/seemore-gui/ and dist/seemore-gui-linux.tar.gz"
