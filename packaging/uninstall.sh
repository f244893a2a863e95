#!/usr/bin/env bash
# Remove seemore as install.sh installed it: exactly the files, links and folders listed
# in the install-manifest beside this script, last first, and then this folder.
#
#   PREFIX/lib/seemore/uninstall.sh [--quiet]
#
# A listed file that is gone already is skipped; a link is removed only while it still
# points into this install; a folder only when it is empty (something else was put in
# it since). Menu and icon caches that exist are brought up to date afterwards.
set -euo pipefail

main() {
    local quiet=0
    case "${1:-}" in
    --quiet) quiet=1 ;;
    -h | --help)
        sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        return 0
        ;;
    "") ;;
    *)
        echo "uninstall.sh: unknown option '$1'" >&2
        return 2
        ;;
    esac
    local appdir
    appdir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    local manifest="$appdir/install-manifest"
    if [[ ! -f "$manifest" ]]; then
        echo "uninstall.sh: $manifest is missing; not removing anything" >&2
        return 1
    fi
    # Read it whole first: the manifest is among what goes.
    local -a lines=()
    mapfile -t lines < <(grep -v '^#' "$manifest")
    local i kind path kept=() shares=()
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        kind="${lines[$i]%%$'\t'*}"
        path="${lines[$i]#*$'\t'}"
        case "$kind" in
        file)
            if [[ -f "$path" && ! -L "$path" ]]; then rm -f "$path"; fi
            if [[ "$path" == */applications/*.desktop ]]; then shares+=("${path%/applications/*}"); fi
            ;;
        link)
            if [[ -L "$path" && "$(readlink "$path")" == *"/lib/seemore/"* ]]; then
                rm -f "$path"
            fi
            ;;
        dir)
            if [[ -d "$path" ]]; then rmdir "$path" 2>/dev/null || kept+=("$path"); fi
            ;;
        tree)
            # The program folder: install.sh made it and refuses to install into an
            # existing one, so all of it is ours.
            if [[ "$path" -ef "$appdir" ]]; then rm -rf -- "$path"; fi
            ;;
        *) echo "uninstall.sh: skipping a line it does not know: ${lines[$i]}" >&2 ;;
        esac
    done
    local share
    for share in "${shares[@]}"; do
        if [[ -f "$share/applications/mimeinfo.cache" ]] && command -v update-desktop-database >/dev/null; then
            update-desktop-database -q "$share/applications" || true
        fi
        if [[ -f "$share/icons/hicolor/icon-theme.cache" ]] && command -v gtk-update-icon-cache >/dev/null; then
            gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
        fi
    done
    if ((!quiet)); then
        echo "removed seemore from $appdir"
        if ((${#kept[@]})); then
            printf '  kept %s: something else is in it now\n' "${kept[@]}"
        fi
    fi
}

main "$@"
exit $?
