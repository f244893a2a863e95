"""packaging/elfdeps.py on small libraries compiled here: the minimum glibc it reports is
the newest symbol version a file really uses, and bundled libraries do not count as
taken from the system."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import PACKAGING

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and shutil.which("cc") and shutil.which("readelf")),
    reason="needs Linux with a C compiler and readelf",
)


def load_elfdeps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("elfdeps", PACKAGING / "elfdeps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["elfdeps"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


elfdeps = load_elfdeps()


def compile_so(out: Path, source: str, *args: str) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source, encoding="utf-8")
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O0", "-Wl,--no-as-needed", "-o", str(out), str(src), *args],
        check=True,
        capture_output=True,
    )
    src.unlink()
    return out


def glibc_has(version: str) -> bool:
    import platform

    have = platform.libc_ver()
    return have[0] == "glibc" and elfdeps.parse_version(have[1]) >= elfdeps.parse_version(version)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not glibc_has("2.26"):
        pytest.skip("needs glibc 2.26 or newer (reallocarray)")
    root = tmp_path_factory.mktemp("bundle")
    (root / "sub").mkdir()
    # reallocarray appeared in glibc 2.26: a library using it needs GLIBC_2.26.
    compile_so(
        root / "libnew.so",
        "#include <stdlib.h>\nvoid *grow(void *p, size_t n) { return reallocarray(p, n, 8); }\n",
        "-Wl,-soname,libnew.so",
    )
    # libold uses only malloc (GLIBC_2.2.5 on x86-64) and links libnew from the bundle
    # and libm from the system.
    compile_so(
        root / "sub" / "libold.so",
        "#include <stdlib.h>\n#include <math.h>\n"
        "void *grow(void *p, size_t n);\n"
        "double f(double x) { free(grow(malloc(8), 2)); return sqrt(x); }\n",
        f"-L{root}",
        "-lnew",
        "-lm",
    )
    (root / "notes.txt").write_text("not an ELF file")
    (root / "sub" / "libnew-link.so").symlink_to("../libnew.so")
    return root


def test_min_glibc_is_the_newest_version_any_file_needs(bundle: Path) -> None:
    report = elfdeps.scan(bundle)
    by_name = {f.path.name: f for f in report.files}
    # Symlinks and non-ELF files are not read; each real library once.
    assert sorted(by_name) == ["libnew.so", "libold.so"]
    assert by_name["libnew.so"].glibc == (2, 26)
    assert by_name["libold.so"].glibc is not None
    assert by_name["libold.so"].glibc < (2, 26)
    assert report.min_glibc == (2, 26)
    assert report.needing((2, 26)) == [Path("libnew.so")]
    assert report.levels()[0] == (2, 26)


def test_bundled_libraries_are_not_taken_from_the_system(bundle: Path) -> None:
    report = elfdeps.scan(bundle)
    by_name = {f.path.name: f for f in report.files}
    assert "libnew.so" in by_name["libold.so"].needed
    system = report.system_libraries()
    assert "libnew.so" not in system
    assert system["libm.so.6"] == [Path("sub/libold.so")]
    assert Path("libnew.so") in system["libc.so.6"]


def test_max_glibc_fails_the_check_when_exceeded(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert elfdeps.main([str(bundle), "--max-glibc", "2.26"]) == 0
    assert "minimum glibc: 2.26 (GLIBC_2.26 in libnew.so)" in capsys.readouterr().out
    assert elfdeps.main([str(bundle), "--max-glibc", "2.25"]) == 1
    err = capsys.readouterr().err
    assert err == "elfdeps: the bundle needs glibc 2.26, newer than the 2.25 asked for\n"
    assert elfdeps.main([str(bundle), "--max-glibc", "two"]) == 2
    assert capsys.readouterr().err == "elfdeps: --max-glibc: 'two' is not a version like 2.31\n"


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
def test_debian_fields_name_the_package_of_each_system_library(bundle: Path) -> None:
    fields = elfdeps.debian_fields(elfdeps.scan(bundle))
    # libc.so.6 and libm.so.6 both come from libc6, stated once with the minimum.
    assert fields.depends == "libc6 (>= 2.26)"
    assert fields.recommends == ""
    assert fields.unknown == ()


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libgtk-3.so.0", "libgtk-3-0"),  # the name ends in a digit: a hyphen
        ("libgdk-3.so.0", "libgtk-3-0"),  # shipped in GTK's package
        ("libstdc++.so.6", "libstdc++6"),
        ("libmimerapi.so", None),  # no major version: no rule applies
    ],
)
def test_a_library_missing_here_is_named_by_debian_policy(soname: str, package: str | None) -> None:
    assert elfdeps.policy_name(soname) == package
