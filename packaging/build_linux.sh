#!/usr/bin/env bash
# Build the Linux release of seemore: one bundle holding both commands (`seemore`, the
# command line, and `seemore-gui`, the desktop app) over one shared runtime, packed as
#
#   dist/seemore-VERSION-linux-ARCH.tar.gz   unpack anywhere; ./install.sh to install
#   dist/seemore_VERSION_ARCH.deb            installs under /opt/seemore, links in /usr/bin
#
#   packaging/build_linux.sh
#   TORCH_INDEX_URL=<a PyTorch wheel index> packaging/build_linux.sh
#   MAX_GLIBC=2.31 packaging/build_linux.sh   # fail if the bundle needs a newer glibc
#   packaging/build_linux.sh --repack         # reuse the last PyInstaller output: only
#                                             # re-assemble, re-check, re-pack and test
#
# The second form takes torch from another index first, e.g. PyTorch's CPU-only wheels,
# which make a much smaller bundle than the CUDA wheels PyPI serves on Linux.
#
# Runs in a fresh virtual environment under build/, so the bundle contains exactly the
# project's dependencies. Then it reports the oldest glibc the bundle runs on (the
# highest GLIBC_x.y symbol version any bundled file needs: see packaging/elfdeps.py) and
# runs packaging/smoke_test.sh, which installs, runs and uninstalls both packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="build/venv-bundle"
APP_ID="io.github.seemore.Seemore"
START=$SECONDS

REPACK=0
case "${1:-}" in
--repack) REPACK=1 ;;
"") ;;
*)
    echo "build_linux.sh: unknown option '$1'" >&2
    exit 2
    ;;
esac

if ((!REPACK)); then
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
fi
VERSION="$("$VENV/bin/python" -c 'import seemore_core; print(seemore_core.__version__)')"
ARCH="$(uname -m)"
BUNDLE="dist/seemore-$VERSION"

if ((!REPACK)); then
    "$VENV/bin/pyinstaller" --noconfirm --clean \
        --distpath dist --workpath build/pyinstaller packaging/seemore.spec
    rm -rf "$BUNDLE"
    mv dist/seemore "$BUNDLE"
elif [[ ! -x "$BUNDLE/seemore" ]]; then
    echo "build_linux.sh: --repack needs an earlier build's $BUNDLE" >&2
    exit 1
fi

# The freedesktop files in the layout of a prefix (share/...), for install.sh and the .deb.
SHARE="$BUNDLE/share"
rm -rf "$SHARE"
install -Dm644 "packaging/$APP_ID.desktop" "$SHARE/applications/$APP_ID.desktop"
install -Dm644 "packaging/$APP_ID.metainfo.xml" "$SHARE/metainfo/$APP_ID.metainfo.xml"
install -Dm644 resources/icons/seemore.svg "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in 16 32 48 64 128 512; do
    install -Dm644 "resources/icons/seemore_${size}.png" \
        "$SHARE/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
install -Dm644 resources/icons/seemore.png "$SHARE/icons/hicolor/256x256/apps/$APP_ID.png"
install -m755 packaging/install.sh packaging/uninstall.sh "$BUNDLE/"

echo "== what the bundle needs from the system"
"$VENV/bin/python" packaging/elfdeps.py "$BUNDLE" --json build/elfdeps.json \
    --debian-fields build/deb-fields.txt ${MAX_GLIBC:+--max-glibc "$MAX_GLIBC"}

TARBALL="dist/seemore-$VERSION-linux-$ARCH.tar.gz"
tar -C dist --owner=0 --group=0 --numeric-owner -czf "$TARBALL" "seemore-$VERSION"
DEB="$(packaging/make_deb.sh "$BUNDLE" "$VERSION" build/deb-fields.txt dist)"
BUILT=$((SECONDS - START))

echo "== smoke test"
packaging/smoke_test.sh "$TARBALL" "$DEB" resources/samples/testcard.png

echo "== built in $((BUILT / 60))m$((BUILT % 60))s (smoke test $(((SECONDS - START - BUILT) / 60))m$(((SECONDS - START - BUILT) % 60))s)"
du -sh "$BUNDLE" | sed 's/\t/  unpacked: /'
ls -sh "$TARBALL" "$DEB"
echo "minimum glibc: $(sed -n 's/.*"min_glibc": "\([^"]*\)".*/\1/p' build/elfdeps.json)"
