"""`seemore --version` and `seemore-gui --version`: the package's version, answered at once."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import seemore_core

# Runs the command's own main() in a fresh interpreter, then reports which heavy
# libraries it loaded: --version must not wait for torch or Qt.
PROBE = """
import sys
from {module} import main
try:
    main(["--version"])
except SystemExit as e:
    code = e.code
else:
    code = "no exit"
sys.stdout.flush()
print("exit", code, sorted(m for m in ("torch", "PySide6") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("module", "prog"), [("seemore_core.cli", "seemore"), ("seemore_app.main", "seemore-gui")]
)
def test_version_prints_the_package_version_without_loading_torch_or_qt(
    module: str, prog: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [f"{prog} {seemore_core.__version__}", "exit 0 []"]


def test_package_version_matches_the_installed_metadata() -> None:
    # pyproject.toml and seemore_core.__version__ are kept by hand; the bundle, the .deb
    # and --version all read the latter, so a release must not let them drift apart.
    assert seemore_core.__version__ == importlib.metadata.version("seemore")
