#!/usr/bin/env bash
# Install seemore from this unpacked bundle, for one user or for all.
#
#   ./install.sh            for you alone, under ~/.local (as root: for everyone, /usr/local)
#   ./install.sh --system   for everyone, under /usr/local (run it as root)
#   ./install.sh --prefix DIR
#
# The program goes to PREFIX/lib/seemore; the commands `seemore` and `seemore-gui` are
# linked into PREFIX/bin; the menu entry (.desktop), icons and AppStream metadata go to
# PREFIX/share (for --user: $XDG_DATA_HOME, ~/.local/share by default). Every file, link
# and folder it adds is written to PREFIX/lib/seemore/install-manifest, and
# PREFIX/lib/seemore/uninstall.sh removes exactly those again. Nothing that exists
# already is replaced: the install stops before writing anything.
# -E: the ERR trap that undoes a partial install also fires inside functions.
set -Eeuo pipefail

APP_ID="io.github.seemore.Seemore"
COMMANDS=(seemore seemore-gui)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    echo
    echo "options: --user, --system, --prefix DIR, --replace (uninstall an earlier"
    echo "install at the same place first), -h/--help"
}

fail() {
    echo "install.sh: $*" >&2
    exit 1
}

main() {
    local mode="" prefix="" replace=0
    while (($#)); do
        case "$1" in
        --user | --system) mode="${1#--}" ;;
        --prefix)
            (($# >= 2)) || fail "--prefix needs a folder"
            prefix="$2"
            shift
            ;;
        --prefix=*) prefix="${1#--prefix=}" ;;
        --replace) replace=1 ;;
        -h | --help)
            usage
            return 0
            ;;
        *) fail "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    [[ -z "$mode" ]] && { [[ $EUID -eq 0 ]] && mode=system || mode=user; }
    local share
    if [[ -n "$prefix" ]]; then
        [[ "$prefix" = /* ]] || prefix="$PWD/$prefix"
        share="$prefix/share"
    elif [[ "$mode" == user ]]; then
        [[ -n "${HOME:-}" ]] || fail "HOME is not set; give --prefix DIR"
        prefix="$HOME/.local"
        share="${XDG_DATA_HOME:-$HOME/.local/share}"
    else
        prefix="/usr/local"
        share="$prefix/share"
    fi
    prefix="${prefix%/}"
    local appdir="$prefix/lib/seemore" bindir="$prefix/bin"

    for f in "${COMMANDS[@]}" _internal share uninstall.sh; do
        [[ -e "$HERE/$f" ]] || fail "$HERE/$f is missing: run me from an unpacked seemore bundle"
    done

    if [[ -e "$appdir" && $replace -eq 1 ]]; then
        [[ -x "$appdir/uninstall.sh" && -f "$appdir/install-manifest" ]] ||
            fail "$appdir exists but is not a seemore install; not replacing it"
        echo "removing the earlier install at $appdir"
        "$appdir/uninstall.sh"
    fi

    # Every path this install would create, checked before anything is written.
    local -a files=() sources=()
    local rel
    while IFS= read -r rel; do
        sources+=("$HERE/share/$rel")
        files+=("$share/$rel")
    done < <(cd "$HERE/share" && find . -type f -printf '%P\n' | LC_ALL=C sort)
    local -a taken=()
    for p in "$appdir" "${COMMANDS[@]/#/$bindir/}" "${files[@]}"; do
        if [[ -e "$p" || -L "$p" ]]; then taken+=("$p"); fi
    done
    if ((${#taken[@]})); then
        printf 'install.sh: already there, not replacing: %s\n' "${taken[@]}" >&2
        if [[ -f "$appdir/install-manifest" ]]; then
            echo "install.sh: seemore is installed at $appdir; run $appdir/uninstall.sh" \
                "first, or install.sh --replace" >&2
        fi
        exit 1
    fi

    local existing="$prefix"
    while [[ ! -e "$existing" ]]; do existing="$(dirname "$existing")"; done
    if [[ ! -w "$existing" ]]; then
        [[ "$mode" == system ]] && fail "cannot write to $existing: run it as root (sudo)"
        fail "cannot write to $existing"
    fi

    MANIFEST="$appdir/install-manifest"
    CREATED_DIRS=()
    make_dir "$(dirname "$appdir")"
    mkdir "$appdir"
    # From here on a failure undoes what was added so far.
    trap 'echo "install.sh: failed; undoing the partial install" >&2; undo' ERR
    {
        echo "# seemore install manifest: what uninstall.sh removes, last line first"
        if ((${#CREATED_DIRS[@]})); then printf 'dir\t%s\n' "${CREATED_DIRS[@]}"; fi
        printf 'tree\t%s\n' "$appdir"
    } >"$MANIFEST"
    install -m755 "$HERE/uninstall.sh" "$appdir/uninstall.sh"
    cp -a "$HERE/_internal" "${COMMANDS[@]/#/$HERE/}" "$appdir/"

    make_dir "$bindir"
    for c in "${COMMANDS[@]}"; do
        # Relative links, so the prefix can be a mount point seen under another path.
        ln -s "../lib/seemore/$c" "$bindir/$c"
        record link "$bindir/$c"
    done

    local i desktop="$share/applications/$APP_ID.desktop"
    for i in "${!files[@]}"; do
        make_dir "$(dirname "${files[$i]}")"
        if [[ "${files[$i]}" == "$desktop" ]]; then
            # The menu must find the program even where PREFIX/bin is not on the
            # session's PATH (often so for ~/.local/bin): name it by its full path.
            write_desktop "${sources[$i]}" "$bindir/seemore-gui" >"$desktop"
            chmod 644 "$desktop"
        else
            install -m644 "${sources[$i]}" "${files[$i]}"
        fi
        record file "${files[$i]}"
    done
    trap - ERR
    refresh_caches "$share"

    echo "installed seemore in $appdir"
    echo "  commands: $bindir/seemore, $bindir/seemore-gui"
    echo "  menu entry: $desktop"
    echo "  to remove it: $appdir/uninstall.sh"
    case ":${PATH:-}:" in
    *":$bindir:"*) ;;
    *) echo "note: $bindir is not on your PATH; add it to run the commands by name" ;;
    esac
}

record() {
    printf '%s\t%s\n' "$1" "$2" >>"$MANIFEST"
}

# mkdir -p that records each folder it creates, outermost first.
make_dir() {
    local d="$1"
    [[ -d "$d" ]] && return 0
    make_dir "$(dirname "$d")"
    mkdir "$d"
    if [[ -n "${MANIFEST:-}" && -f "$MANIFEST" ]]; then
        record dir "$d"
    else
        CREATED_DIRS+=("$d")
    fi
}

# The .desktop file with Exec and TryExec naming the program by its full path
# (quoted as the Desktop Entry spec asks when the path has special characters).
write_desktop() {
    local src="$1" program="$2" exec="$2" line bs='\'
    if [[ "$program" =~ [^A-Za-z0-9_./+-] ]]; then
        # Inside quotes \ " $ ` take a backslash, which the string escaping doubles.
        exec="${exec//"$bs"/"$bs$bs$bs$bs"}"
        exec="${exec//'"'/"$bs$bs"'"'}"
        exec="${exec//'$'/"$bs$bs"'$'}"
        exec="${exec//'`'/"$bs$bs"'`'}"
        exec="\"${exec//%/%%}\""
    fi
    while IFS= read -r line || [[ -n "$line" ]]; do
        case "$line" in
        Exec=seemore-gui*) line="Exec=$exec${line#Exec=seemore-gui}" ;;
        TryExec=seemore-gui) line="TryExec=$program" ;;
        esac
        printf '%s\n' "$line"
    done <"$src"
}

# Bring existing menu and icon caches up to date; create none (a cache this install
# created would outlive its uninstall).
refresh_caches() {
    local share="$1"
    if [[ -f "$share/applications/mimeinfo.cache" ]] && command -v update-desktop-database >/dev/null; then
        update-desktop-database -q "$share/applications" || true
    fi
    if [[ -f "$share/icons/hicolor/icon-theme.cache" ]] && command -v gtk-update-icon-cache >/dev/null; then
        gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
    fi
}

undo() {
    trap - ERR
    if [[ -f "${MANIFEST:-}" && -x "$(dirname "$MANIFEST")/uninstall.sh" ]]; then
        "$(dirname "$MANIFEST")/uninstall.sh" --quiet || true
    elif [[ -n "${MANIFEST:-}" ]]; then
        rm -rf "$(dirname "$MANIFEST")"
    fi
    exit 1
}

main "$@"
exit $?
