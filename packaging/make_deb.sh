#!/usr/bin/env bash
# Build a .deb from an assembled bundle (what build_linux.sh makes in dist/seemore-VERSION):
#
#   packaging/make_deb.sh BUNDLE_DIR VERSION FIELDS_FILE OUT_DIR
#
# FIELDS_FILE holds the Depends:/Recommends: lines packaging/elfdeps.py wrote for the
# bundle. The package installs the program under /opt/seemore, links both commands in
# /usr/bin, and puts the menu entry, icons and AppStream metadata under /usr/share, where
# the desktop-file-utils and hicolor-icon-theme triggers refresh their caches (so the
# package needs no maintainer scripts). DEB_COMPRESS picks dpkg-deb's compressor
# (default gzip; xz makes a smaller file but takes minutes on a large bundle) and DEB_LEVEL
# its level (default 6: dpkg-deb's own default for gzip, 9, takes much longer for 1%).
set -euo pipefail

if (($# != 4)); then
    sed -n '2,4s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
BUNDLE="$1" VERSION="$2" FIELDS="$3" OUT="$4"
ARCH="$(dpkg --print-architecture)"
NAME="seemore_${VERSION}_${ARCH}"
WORK="build/deb"
ROOT="$WORK/$NAME"

rm -rf "$ROOT"
mkdir -p "$ROOT/opt/seemore" "$ROOT/usr/bin" "$ROOT/usr/share/doc/seemore" "$ROOT/DEBIAN" "$OUT"
# Hard links where the file system allows: the bundle is close to a gigabyte.
cp -al "$BUNDLE/_internal" "$BUNDLE/seemore" "$BUNDLE/seemore-gui" "$ROOT/opt/seemore/" 2>/dev/null ||
    cp -a "$BUNDLE/_internal" "$BUNDLE/seemore" "$BUNDLE/seemore-gui" "$ROOT/opt/seemore/"
cp -a "$BUNDLE/share/." "$ROOT/usr/share/"
for c in seemore seemore-gui; do
    ln -s "/opt/seemore/$c" "$ROOT/usr/bin/$c"
done

cat >"$ROOT/usr/share/doc/seemore/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: seemore
Source: https://github.com/seemore/seemore

Files: *
Copyright: The seemore developers
License: MIT

Files: opt/seemore/_internal/*
Comment: The bundled runtime: CPython (PSF-2.0), PyTorch (BSD-3-Clause), Qt and
 PySide6 (LGPL-3.0), NumPy (BSD-3-Clause), Pillow (MIT-CMU), pyqtgraph (MIT),
 safetensors (Apache-2.0), imagecodecs and tifffile (BSD-3-Clause) and the libraries
 they bring; each keeps its own licence, shipped in its package's folder there.
EOF

installed_kb="$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)"
{
    echo "Package: seemore"
    echo "Version: $VERSION"
    echo "Architecture: $ARCH"
    echo "Maintainer: ${DEB_MAINTAINER:-The seemore developers <seemore@users.noreply.github.com>}"
    echo "Installed-Size: $installed_kb"
    cat "$FIELDS"
    echo "Section: graphics"
    echo "Priority: optional"
    echo "Homepage: https://github.com/seemore/seemore"
    echo "Description: image super-resolution with SeemoRe, with a look inside the network"
    echo " seemore enlarges photos and pictures two, three or four times with SeemoRe, an"
    echo " efficient super-resolution network of low-rank experts (ICML 2024), on the CPU,"
    echo " in tiles, so that large images fit in memory."
    echo " ."
    echo " This package holds the command-line tool seemore and the desktop app"
    echo " seemore-gui, with their own Python, PyTorch and Qt under /opt/seemore."
} >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
    LC_ALL=C sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-gzip}" -z"${DEB_LEVEL:-6}" --build "$ROOT" "$OUT/$NAME.deb" >/dev/null
echo "$OUT/$NAME.deb"
