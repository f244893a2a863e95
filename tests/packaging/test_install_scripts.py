"""install.sh and uninstall.sh on a stand-in bundle: what goes where, and that uninstall
removes exactly what install added (no more, no less)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import APP_ID

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def tree(root: Path) -> dict[str, str]:
    """Every path under root -> what it is (a link's target, a file's bytes' length)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = f"file {p.stat().st_size}"
    return out


def run(
    script: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"}
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
    )


def desktop_exec_program(value: str) -> str:
    """The program of an Exec= value, unescaped as the Desktop Entry spec says: first the
    string escapes (backslash pairs), then the quoting of one argument, then %% (a
    literal percent sign among the field codes)."""
    unescaped = []
    i = 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            unescaped.append(
                {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(value[i + 1], value[i + 1])
            )
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text = "".join(unescaped)
    if not text.startswith('"'):
        return text.split(" ", 1)[0].replace("%%", "%")
    arg, i = [], 1
    while text[i] != '"':
        if text[i] == "\\":
            i += 1
        arg.append(text[i])
        i += 1
    return "".join(arg).replace("%%", "%")


def desktop_values(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


# A prefix with a space, a dollar, a quote and a percent sign: the Exec= line must still
# name the installed program exactly.
ODD = 'odd dir $HOME "q" 50%'


def test_install_lays_out_the_prefix_and_uninstall_restores_it(
    fake_bundle: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / ODD
    (prefix / "share" / "applications").mkdir(parents=True)
    (prefix / "share" / "applications" / "someone-else.desktop").write_text("[Desktop Entry]\n")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "other-tool").write_text("#!/bin/sh\n")
    before = tree(prefix)

    done = run(fake_bundle / "install.sh", "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    added = {k: v for k, v in tree(prefix).items() if k not in before}
    assert added["bin/seemore"] == "link -> ../lib/seemore/seemore"
    assert added["bin/seemore-gui"] == "link -> ../lib/seemore/seemore-gui"
    assert added["lib/seemore/_internal/lib/libfake.so"].startswith("file ")
    for rel in (
        f"share/applications/{APP_ID}.desktop",
        f"share/metainfo/{APP_ID}.metainfo.xml",
        f"share/icons/hicolor/scalable/apps/{APP_ID}.svg",
        f"share/icons/hicolor/48x48/apps/{APP_ID}.png",
        "lib/seemore/uninstall.sh",
        "lib/seemore/install-manifest",
    ):
        assert rel in added, rel
    # The links run the installed programs.
    assert (
        subprocess.run([str(prefix / "bin" / "seemore")], capture_output=True, text=True).stdout
        == "seemore 0.0.0\n"
    )

    desktop = desktop_values(prefix / "share" / "applications" / f"{APP_ID}.desktop")
    program = desktop_exec_program(desktop["Exec"])
    assert program == str(prefix / "bin" / "seemore-gui")
    assert desktop["Exec"].endswith(" %F")
    assert desktop["TryExec"] == program
    assert "image/png" in desktop["MimeType"].split(";")
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(prefix / "share" / "applications" / f"{APP_ID}.desktop")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    # Everything else in the entry is as shipped.
    shipped = desktop_values(fake_bundle / "share" / "applications" / f"{APP_ID}.desktop")
    assert {k: v for k, v in desktop.items() if k not in ("Exec", "TryExec")} == {
        k: v for k, v in shipped.items() if k not in ("Exec", "TryExec")
    }

    done = run(prefix / "lib" / "seemore" / "uninstall.sh")
    assert done.returncode == 0, done.stderr
    assert tree(prefix) == before


def test_a_second_install_refuses_and_changes_nothing(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    assert run(fake_bundle / "install.sh", "--prefix", str(prefix)).returncode == 0
    installed = tree(prefix)
    done = run(fake_bundle / "install.sh", "--prefix", str(prefix))
    assert done.returncode == 1
    assert f"already there, not replacing: {prefix}/bin/seemore" in done.stderr
    assert "uninstall.sh first, or install.sh --replace" in done.stderr
    assert tree(prefix) == installed


def test_replace_reinstalls_over_an_earlier_install(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    assert run(fake_bundle / "install.sh", "--prefix", str(prefix)).returncode == 0
    (fake_bundle / "seemore").write_text('#!/bin/sh\necho "seemore 0.0.1"\n')
    done = run(fake_bundle / "install.sh", "--prefix", str(prefix), "--replace")
    assert done.returncode == 0, done.stderr
    out = subprocess.run([str(prefix / "bin" / "seemore")], capture_output=True, text=True)
    assert out.stdout == "seemore 0.0.1\n"


def test_a_foreign_file_in_the_way_stops_the_install_before_any_write(
    fake_bundle: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "p"
    (prefix / "share" / "metainfo").mkdir(parents=True)
    (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").write_text("someone else's")
    before = tree(prefix)
    done = run(fake_bundle / "install.sh", "--prefix", str(prefix))
    assert done.returncode == 1
    assert f"not replacing: {prefix}/share/metainfo/{APP_ID}.metainfo.xml" in done.stderr
    assert tree(prefix) == before


def test_a_failure_midway_undoes_the_partial_install(fake_bundle: Path, tmp_path: Path) -> None:
    # PREFIX/bin is a file, so the commands cannot be linked: by then the program folder
    # is in place, and it must go again.
    prefix = tmp_path / "p"
    prefix.mkdir()
    (prefix / "bin").write_text("not a folder")
    before = tree(prefix)
    done = run(fake_bundle / "install.sh", "--prefix", str(prefix))
    assert done.returncode != 0
    assert "undoing the partial install" in done.stderr
    assert tree(prefix) == before


def test_uninstall_keeps_what_was_added_since(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    assert run(fake_bundle / "install.sh", "--prefix", str(prefix)).returncode == 0
    # Another program puts its icon in a folder this install created, and the user points
    # the seemore-gui link elsewhere.
    theirs = prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / "other.png"
    theirs.write_bytes(b"png")
    (prefix / "bin" / "seemore-gui").unlink()
    (prefix / "bin" / "seemore-gui").symlink_to("/usr/bin/true")
    done = run(prefix / "lib" / "seemore" / "uninstall.sh")
    assert done.returncode == 0, done.stderr
    left = tree(prefix)
    assert theirs.read_bytes() == b"png"
    assert left["bin/seemore-gui"] == "link -> /usr/bin/true"
    assert "bin/seemore" not in left and "lib" not in left
    assert f"share/icons/hicolor/48x48/apps/{APP_ID}.png" not in left
    assert f"kept {prefix}/share/icons/hicolor/48x48/apps" in done.stdout


def test_user_install_goes_to_home_and_xdg_data_home(fake_bundle: Path, tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "xdg-data"
    home.mkdir()
    env = {"HOME": str(home), "XDG_DATA_HOME": str(data)}
    done = run(fake_bundle / "install.sh", "--user", env=env)
    assert done.returncode == 0, done.stderr
    assert (home / ".local" / "bin" / "seemore").is_symlink()
    assert (home / ".local" / "lib" / "seemore" / "seemore-gui").is_file()
    assert (data / "applications" / f"{APP_ID}.desktop").is_file()
    assert not (home / ".local" / "share").exists()
    assert "is not on your PATH" in done.stdout
    done = run(home / ".local" / "lib" / "seemore" / "uninstall.sh", env=env)
    assert done.returncode == 0, done.stderr
    # XDG_DATA_HOME did not exist before: install made it, so uninstall removes it.
    assert list(home.iterdir()) == [] and not data.exists()


def test_bad_options_and_a_missing_manifest_say_so_in_one_line(
    fake_bundle: Path, tmp_path: Path
) -> None:
    done = run(fake_bundle / "install.sh", "--prefx", "x")
    assert (done.returncode, done.stderr) == (
        1,
        "install.sh: unknown option '--prefx' (see --help)\n",
    )
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(fake_bundle / "uninstall.sh", lone / "uninstall.sh")
    (lone / "keep.txt").write_text("x")
    done = run(lone / "uninstall.sh")
    assert done.returncode == 1
    assert (
        done.stderr == f"uninstall.sh: {lone}/install-manifest is missing; not removing anything\n"
    )
    assert (lone / "keep.txt").exists()
