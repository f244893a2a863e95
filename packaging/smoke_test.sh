#!/usr/bin/env bash
# Install, run and remove the built tarball and .deb as a user would, checking each step:
#
#   packaging/smoke_test.sh TARBALL DEB SAMPLE.png
#
# Tarball: unpack; install.sh --prefix into a folder that already holds someone else's
# file; a second install must refuse and change nothing; both commands run from the
# installed links under `env -i` (no HOME, no PATH, no DISPLAY): --version, a CLI upscale
# and a headless GUI upscale, each in an empty folder that must afterwards hold exactly
# the one file asked for, of the right size; uninstall.sh must leave the folder as it
# was. The same install, run and uninstall once more per user (--user, into a scratch
# HOME). .deb: its control fields and `dpkg-deb --contents`; extracted, both commands
# run under `env -i` and upscale; as root, also installed into and purged from an empty
# dpkg root (`dpkg --root`), which must leave none of its files behind.
# Exits 1 at the first failed check, keeping its scratch folder for a look.
set -euo pipefail

if (($# != 3)); then
    sed -n '2,3s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
TARBALL="$(realpath "$1")" DEB="$(realpath "$2")" SAMPLE="$(realpath "$3")"
APP_ID="io.github.seemore.Seemore"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/seemore-smoke.XXXXXX")"
trap 'echo "smoke test FAILED; its files are in $WORK" >&2' ERR

fail() {
    echo "smoke test: $*" >&2
    echo "smoke test FAILED; its files are in $WORK" >&2
    trap - ERR
    exit 1
}
step() { echo "  - $*"; }

png_size() { # "W H" of a PNG, read from its IHDR chunk
    local b
    read -r -a b < <(od -An -tu1 -v -w24 -N24 "$1")  # one line of 24 bytes
    ((${#b[@]} == 24)) || fail "$1 is too short for a PNG"
    [[ "${b[*]:0:8}" == "137 80 78 71 13 10 26 10" ]] || fail "$1 is not a PNG"
    echo "$(((b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19])) $(((b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23]))"
}

snapshot() { (cd "$1" && find . | LC_ALL=C sort); }

read -r SW SH < <(png_size "$SAMPLE")
((SW > 0 && SH > 0)) || fail "cannot read the size of $SAMPLE"

# Runs COMMAND ARGS... under `env -i` in a fresh empty folder; afterwards that folder must
# hold exactly EXPECTED (a file name, or "" for nothing).
run_clean() {
    local expected="$1" name="$2"
    shift 2
    local dir="$WORK/run/$name"
    mkdir -p "$dir"
    (cd "$dir" && env -i "$@") >"$dir.out" 2>"$dir.err" ||
        fail "$name: $* exited $? ($(tail -3 "$dir.err"))"
    local have
    have="$(ls -A "$dir")"
    [[ "$have" == "$expected" ]] || fail "$name wrote '$have', expected '$expected'"
}

# Checks both commands in BIN_DIR: --version, a CLI upscale (x2) and, with "gui", a
# headless GUI upscale and screenshot.
check_commands() {
    local bin="$1" tag="$2" gui="${3:-}" want
    for c in seemore seemore-gui; do
        run_clean "" "$tag-$c-version" "$bin/$c" --version
        want="$c $VERSION"
        [[ "$(cat "$WORK/run/$tag-$c-version.out")" == "$want" ]] ||
            fail "$bin/$c --version printed '$(cat "$WORK/run/$tag-$c-version.out")', not '$want'"
    done
    step "$tag: seemore --version and seemore-gui --version print '$VERSION'"
    run_clean "up.png" "$tag-cli-upscale" "$bin/seemore" upscale "$SAMPLE" -o up.png \
        --scale 2 --device cpu -q
    [[ "$(png_size "$WORK/run/$tag-cli-upscale/up.png")" == "$((SW * 2)) $((SH * 2))" ]] ||
        fail "$tag: the CLI's x2 output is $(png_size "$WORK/run/$tag-cli-upscale/up.png"), not $((SW * 2)) $((SH * 2))"
    step "$tag: seemore upscale wrote only up.png, ${SW}x${SH} -> $((SW * 2))x$((SH * 2))"
    if [[ "$gui" == gui ]]; then
        run_clean "shot.png" "$tag-gui-upscale" "$bin/seemore-gui" --screenshot shot.png \
            --upscale --scale 2 --device cpu --size 800x600 "$SAMPLE"
        [[ "$(png_size "$WORK/run/$tag-gui-upscale/shot.png")" == "800 600" ]] ||
            fail "$tag: the GUI's screenshot is $(png_size "$WORK/run/$tag-gui-upscale/shot.png"), not 800 600"
        step "$tag: seemore-gui upscaled headless and wrote only its 800x600 screenshot"
    fi
}

echo "smoke test of $(basename "$TARBALL") and $(basename "$DEB") (scratch: $WORK)"

# --- the tarball -------------------------------------------------------------------------
mkdir -p "$WORK/unpacked"
tar -xzf "$TARBALL" -C "$WORK/unpacked"
shopt -s nullglob
tops=("$WORK"/unpacked/*)
((${#tops[@]} == 1)) || fail "the tarball should hold one folder, holds ${#tops[@]}"
BUNDLE="${tops[0]}"
VERSION="$(basename "$BUNDLE")"
VERSION="${VERSION#seemore-}"
for f in seemore seemore-gui install.sh uninstall.sh; do
    [[ -x "$BUNDLE/$f" ]] || fail "the tarball has no executable $f"
done
step "tarball: one folder $(basename "$BUNDLE") with seemore, seemore-gui, install.sh, uninstall.sh"

PREFIX="$WORK/prefix"
mkdir -p "$PREFIX/share/applications"
echo "[Desktop Entry]" >"$PREFIX/share/applications/someone-else.desktop"
before="$(snapshot "$PREFIX")"
"$BUNDLE/install.sh" --prefix "$PREFIX" >"$WORK/install.out"
for f in bin/seemore bin/seemore-gui lib/seemore/seemore lib/seemore/seemore-gui \
    lib/seemore/_internal lib/seemore/uninstall.sh lib/seemore/install-manifest \
    "share/applications/$APP_ID.desktop" "share/metainfo/$APP_ID.metainfo.xml" \
    "share/icons/hicolor/scalable/apps/$APP_ID.svg" \
    "share/icons/hicolor/256x256/apps/$APP_ID.png"; do
    [[ -e "$PREFIX/$f" ]] || fail "install.sh did not install $f"
done
grep -qx "Exec=$PREFIX/bin/seemore-gui %F" "$PREFIX/share/applications/$APP_ID.desktop" ||
    fail "the installed .desktop file does not run $PREFIX/bin/seemore-gui"
grep -q '^MimeType=.*image/png' "$PREFIX/share/applications/$APP_ID.desktop" ||
    fail "the installed .desktop file does not open images"
step "install.sh --prefix: commands in bin/, program in lib/seemore, menu entry, icons, metainfo"
installed="$(snapshot "$PREFIX")"
if "$BUNDLE/install.sh" --prefix "$PREFIX" >/dev/null 2>"$WORK/reinstall.err"; then
    fail "a second install.sh over the first did not refuse"
fi
[[ "$(snapshot "$PREFIX")" == "$installed" ]] || fail "the refused second install changed files"
step "a second install refuses ($(head -1 "$WORK/reinstall.err")) and changes nothing"

check_commands "$PREFIX/bin" installed gui

"$PREFIX/lib/seemore/uninstall.sh" >/dev/null
[[ "$(snapshot "$PREFIX")" == "$before" ]] ||
    fail "uninstall.sh left or removed something: $(diff <(echo "$before") <(snapshot "$PREFIX") | head -5)"
step "uninstall.sh: the prefix is as before (someone else's file kept, every added path gone)"

HOME_DIR="$WORK/home"
mkdir -p "$HOME_DIR"
env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin "$BUNDLE/install.sh" --user >/dev/null
[[ -L "$HOME_DIR/.local/bin/seemore" && -f "$HOME_DIR/.local/share/applications/$APP_ID.desktop" ]] ||
    fail "install.sh --user did not install into HOME/.local"
run_clean "" user-version "$HOME_DIR/.local/bin/seemore" --version
env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin "$HOME_DIR/.local/lib/seemore/uninstall.sh" >/dev/null
[[ -z "$(ls -A "$HOME_DIR")" ]] || fail "uninstall after --user left $(cd "$HOME_DIR" && find . | head -5)"
step "install.sh --user into HOME/.local, run, uninstall: HOME empty again"

# --- the .deb ----------------------------------------------------------------------------
info="$(dpkg-deb --field "$DEB" Package Version Architecture Depends)"
grep -qx "Package: seemore" <<<"$info" || fail "the .deb is not package seemore"
grep -qx "Version: $VERSION" <<<"$info" || fail "the .deb's version is not $VERSION"
grep -q "^Depends: libc6 (>= " <<<"$info" || fail "the .deb does not state its minimum glibc"
step ".deb fields: $(grep -E '^(Version|Architecture)' <<<"$info" | tr '\n' ' ')$(grep -o 'libc6 ([^)]*)' <<<"$info")"
contents="$(dpkg-deb --contents "$DEB" | awk '{ $1=$2=$3=$4=$5=""; sub(/^ +/, ""); print }')"
for want in ./opt/seemore/seemore ./opt/seemore/seemore-gui \
    "./usr/bin/seemore -> /opt/seemore/seemore" "./usr/bin/seemore-gui -> /opt/seemore/seemore-gui" \
    "./usr/share/applications/$APP_ID.desktop" "./usr/share/metainfo/$APP_ID.metainfo.xml" \
    "./usr/share/icons/hicolor/scalable/apps/$APP_ID.svg" ./usr/share/doc/seemore/copyright; do
    grep -qxF -- "$want" <<<"$contents" || fail "the .deb lacks $want"
done
outside="$(grep -vE '^\./(opt/|opt$|usr/bin/|usr/share/(applications|metainfo|icons|doc)/|usr/?$|usr/bin/?$|usr/share/?$)' <<<"$contents" | grep -v '^\./$' || true)"
[[ -z "$outside" ]] || fail "the .deb installs outside /opt/seemore and its links: $outside"
step "dpkg-deb --contents: /opt/seemore, /usr/bin links, menu entry, metainfo, icons, nothing else"

dpkg-deb -x "$DEB" "$WORK/deb-x"
check_commands "$WORK/deb-x/opt/seemore" extracted

if [[ $EUID -eq 0 ]]; then
    R="$WORK/dpkg-root"
    mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
    touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
    # --force-depends: the scratch root has no other packages (the host has the libraries).
    dpkg --root="$R" --log=/dev/null --force-depends -i "$DEB" >"$WORK/dpkg-install.out" 2>&1 ||
        fail "dpkg -i into a scratch root failed: $(tail -3 "$WORK/dpkg-install.out")"
    [[ "$(readlink "$R/usr/bin/seemore")" == /opt/seemore/seemore ]] ||
        fail "dpkg did not install the /usr/bin/seemore link"
    run_clean "" dpkg-version "$R/opt/seemore/seemore" --version
    dpkg --root="$R" --log=/dev/null --purge seemore >"$WORK/dpkg-purge.out" 2>&1 ||
        fail "dpkg --purge failed: $(tail -3 "$WORK/dpkg-purge.out")"
    left="$(cd "$R" && find . -path ./var -prune -o ! -type d -print)"
    [[ -z "$left" ]] || fail "dpkg --purge left files: $(head -5 <<<"$left")"
    step "dpkg -i into a scratch root, run, dpkg --purge: no file left"
else
    step "dpkg --root install skipped (needs root)"
fi

rm -rf "$WORK"
trap - ERR
echo "smoke test passed"
