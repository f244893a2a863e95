"""The release files agree with each other, and (slow) the built release installs, runs and
uninstalls.

The slow tests need packaging/build_linux.sh to have run (dist/ holds its output) and
SEEMORE_PACKAGING_TESTS=1.
"""

from __future__ import annotations

import ast
import platform
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import APP_ID, PACKAGING, REPO

import seemore_core


def spec_commands() -> dict[str, str]:
    """The spec's ENTRIES: command -> entry script."""
    tree = ast.parse((PACKAGING / "seemore.spec").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ENTRIES":
            return ast.literal_eval(node.value)
    raise AssertionError("seemore.spec has no ENTRIES")


def test_the_bundle_the_metainfo_and_the_package_name_the_same_commands() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = set(pyproject["project"]["scripts"]) | set(pyproject["project"]["gui-scripts"])
    provides = {
        b.text for b in ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot().iter("binary")
    }
    commands = spec_commands()
    assert set(commands) == scripts == provides == {"seemore", "seemore-gui"}
    for script in commands.values():
        assert (PACKAGING / f"{script}.py").is_file()
    # Each entry script runs the same main() as the installed command of that name.
    for command, script in commands.items():
        target = {**pyproject["project"]["scripts"], **pyproject["project"]["gui-scripts"]}[command]
        module, func = target.split(":")
        text = (PACKAGING / f"{script}.py").read_text(encoding="utf-8")
        assert f"from {module} import {func}" in text


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="needs appstreamcli")
def test_the_metainfo_validates() -> None:
    done = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None, reason="needs desktop-file-utils"
)
def test_the_desktop_file_validates() -> None:
    done = subprocess.run(
        ["desktop-file-validate", str(PACKAGING / f"{APP_ID}.desktop")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def built(name: str) -> Path:
    path = REPO / "dist" / name
    if not path.exists():
        pytest.skip(f"{path} is not built: run packaging/build_linux.sh first")
    return path


def deb_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@pytest.mark.slow
def test_the_built_release_installs_runs_and_uninstalls() -> None:
    version = seemore_core.__version__
    tarball = built(f"seemore-{version}-linux-{platform.machine()}.tar.gz")
    deb = built(f"seemore_{version}_{deb_arch()}.deb")
    done = subprocess.run(
        [
            str(PACKAGING / "smoke_test.sh"),
            str(tarball),
            str(deb),
            str(REPO / "resources" / "samples" / "testcard.png"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("smoke test passed")


@pytest.mark.slow
def test_the_readme_states_the_minimum_glibc_the_bundle_needs() -> None:
    from test_elfdeps import elfdeps

    bundle = built(f"seemore-{seemore_core.__version__}")
    minimum = elfdeps.scan(bundle).min_glibc
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"needs\s+glibc\s+(\d+\.\d+)\s+or\s+newer", readme)
    assert stated, "README does not state the bundle's minimum glibc"
    assert elfdeps.parse_version(stated.group(1)) == minimum
