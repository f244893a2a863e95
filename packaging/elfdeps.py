"""What a folder of Linux binaries needs from the system it runs on.

    python packaging/elfdeps.py dist/seemore [--max-glibc 2.35] [--debian-fields FILE]

Reads every ELF file under the folder (executables and shared libraries, as a PyInstaller
bundle holds them) with `readelf` and prints

- the minimum glibc: the highest `GLIBC_x.y` symbol version any of them requires, and
  the files that require it (a bundle runs only where the system's glibc is at least
  that: glibc itself is never bundled);
- the shared libraries taken from the system: sonames the files name as NEEDED that no
  file in the folder provides.

`--max-glibc X.Y` makes it exit 1 when the bundle needs a newer glibc than that, so a
build for an older base fails instead of shipping something that will not start there.
`--debian-fields FILE` writes Debian `Depends:` and `Recommends:` lines for those system
libraries, found by asking dpkg which installed package holds each one (or, for one not
installed here, named by Debian policy), with `libc6 (>= minimum)`; libraries only Qt
plugins need are recommended, not required.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
READELF_BATCH = 200  # files per readelf call: one process per file is slow on big bundles
GLIBC_NAME = re.compile(r"Name: GLIBC_(\d+(?:\.\d+)+)\b")
NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
SONAME = re.compile(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]")

Version = tuple[int, ...]
# Libraries shipped in a package not named after them (Qt's GTK theme plugin needs GDK).
POLICY_EXCEPTIONS = {"libgdk-3.so.0": "libgtk-3-0"}


@dataclass(frozen=True)
class ElfInfo:
    """One file's dynamic needs, as readelf reports them."""

    path: Path
    soname: str | None
    needed: tuple[str, ...]
    glibc: Version | None  # the highest GLIBC_x.y version it requires; None: none


@dataclass
class Report:
    """What the whole folder needs from the system."""

    root: Path
    files: list[ElfInfo] = field(default_factory=list)

    @property
    def min_glibc(self) -> Version | None:
        versions = [f.glibc for f in self.files if f.glibc is not None]
        return max(versions) if versions else None

    def needing(self, version: Version) -> list[Path]:
        """The files (relative to the root) whose highest requirement is `version`."""
        return sorted(f.path.relative_to(self.root) for f in self.files if f.glibc == version)

    def levels(self) -> list[Version]:
        """The distinct highest requirements, newest first."""
        return sorted({f.glibc for f in self.files if f.glibc is not None}, reverse=True)

    def provided(self) -> set[str]:
        # A library is found by its soname, or by its file name where PyInstaller copied
        # it under the name the NEEDED entry uses.
        names = {f.path.name for f in self.files}
        names |= {f.soname for f in self.files if f.soname}
        return names

    def system_libraries(self, plugins: bool | None = None) -> dict[str, list[Path]]:
        """NEEDED sonames no file here provides -> the files (relative) that need them.

        plugins=False counts only the files outside plugin folders, True only those in
        them, None all.
        """
        provided = self.provided()
        out: dict[str, list[Path]] = {}
        for f in self.files:
            if plugins is not None and is_plugin(f.path.relative_to(self.root)) != plugins:
                continue
            for name in f.needed:
                if name not in provided:
                    out.setdefault(name, []).append(f.path.relative_to(self.root))
        return dict(sorted(out.items()))


def is_plugin(path: Path) -> bool:
    # Qt loads plugins (platforms, image formats, SQL drivers, ...) on demand and skips
    # one whose libraries are missing, so their needs are optional.
    return "plugins" in path.parts


def version_text(v: Version) -> str:
    return ".".join(str(p) for p in v)


def parse_version(text: str) -> Version:
    try:
        parts = tuple(int(p) for p in text.split("."))
    except ValueError:
        raise ValueError(f"{text!r} is not a version like 2.31") from None
    if len(parts) < 2:
        raise ValueError(f"{text!r} is not a version like 2.31")
    return parts


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def elf_files(root: Path) -> list[Path]:
    # Symlinks are skipped: PyInstaller links versioned names to one real file, and that
    # file is read under its own name.
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


def parse_readelf(text: str, path: Path) -> ElfInfo:
    """Read one file's `readelf --dynamic --version-info --wide` output."""
    versions = [parse_version(v) for v in GLIBC_NAME.findall(text)]
    soname = SONAME.search(text)
    return ElfInfo(
        path=path,
        soname=soname.group(1) if soname else None,
        needed=tuple(NEEDED.findall(text)),
        glibc=max(versions) if versions else None,
    )


def split_readelf_output(text: str, paths: Sequence[Path]) -> dict[Path, str]:
    """readelf given several files prints each one's part after a `File: PATH` line."""
    if len(paths) == 1:
        return {paths[0]: text}
    by_name = {str(p): p for p in paths}
    parts: dict[Path, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        # The version sections hold indented `File: libc.so.6` lines; a header starts at
        # the first column.
        if line.startswith("File: ") and line[6:] in by_name:
            current = parts.setdefault(by_name[line[6:]], [])
            continue
        if current is not None:
            current.append(line)
    return {p: "\n".join(lines) for p, lines in parts.items()}


def read_elves(paths: Sequence[Path]) -> list[ElfInfo]:
    out: list[ElfInfo] = []
    for i in range(0, len(paths), READELF_BATCH):
        batch = list(paths[i : i + READELF_BATCH])
        done = subprocess.run(
            ["readelf", "--dynamic", "--version-info", "--wide", *map(str, batch)],
            capture_output=True,
            text=True,
            check=False,
        )
        texts = split_readelf_output(done.stdout, batch)
        # A file readelf could not read still counts, with no needs: better a report
        # than none; its error is on stderr.
        out.extend(parse_readelf(texts.get(p, ""), p) for p in batch)
        if done.stderr.strip():
            print(done.stderr.strip(), file=sys.stderr)
    return out


def scan(root: Path) -> Report:
    return Report(root=root, files=read_elves(elf_files(root)))


def host_library_paths() -> dict[str, Path]:
    """soname -> path for this machine's libraries of its own architecture (ldconfig -p)."""
    done = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=False)
    # ldconfig tags each entry with its ABI, e.g. "(libc6,x86-64)"; 32-bit entries on a
    # 64-bit machine carry no such tag and must not be taken.
    tag = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(platform.machine())
    out: dict[str, Path] = {}
    for line in done.stdout.splitlines()[1:]:
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        # The first entry is the one the loader picks.
        if m and m.group(1) not in out and (tag is None or tag in m.group(2)):
            out[m.group(1)] = Path(m.group(3))
    return out


def debian_packages(paths: Iterable[Path]) -> dict[Path, str]:
    """path -> the installed Debian package holding it (dpkg -S), where one does."""
    found: dict[Path, str] = {}
    for path in paths:
        # With merged /usr a library's path may be known to dpkg under /lib or /usr/lib.
        real = path.resolve()
        candidates = {str(path), str(real)}
        for p in list(candidates):
            if p.startswith("/usr/lib/"):
                candidates.add(p[4:])
            elif p.startswith("/lib/"):
                candidates.add("/usr" + p)
        done = subprocess.run(
            ["dpkg", "-S", *sorted(candidates)], capture_output=True, text=True, check=False
        )
        for line in done.stdout.splitlines():
            pkg, _, _ = line.partition(": ")
            if pkg and "diversion" not in line:
                found[path] = pkg.split(":")[0].split(",")[0].strip()
                break
    return found


@dataclass(frozen=True)
class DebianFields:
    """Debian control fields for the system libraries a bundle uses."""

    depends: str  # libraries the programs and their libraries need
    recommends: str  # libraries only plugins need
    unknown: tuple[str, ...]  # sonames no installed package was found for (named by policy)


def policy_name(soname: str) -> str | None:
    """The package name Debian policy (8.1) gives a library: libfoo.so.1 -> libfoo1, and
    libfoo-3.so.0 -> libfoo-3-0 (a hyphen when the name ends in a digit). Used for a
    library the build machine lacks, so dpkg cannot say which package holds it."""
    if soname in POLICY_EXCEPTIONS:
        return POLICY_EXCEPTIONS[soname]
    m = re.fullmatch(r"(lib[A-Za-z0-9_.+-]+?)\.so\.(\d+)", soname)
    if not m:
        return None
    name, major = m.group(1).lower().replace("_", "-"), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def debian_fields(report: Report) -> DebianFields:
    host = host_library_paths()
    needed = report.system_libraries(plugins=False)
    optional = {k: v for k, v in report.system_libraries(plugins=True).items() if k not in needed}
    every = {**needed, **optional}
    paths = {name: host[name] for name in every if name in host}
    packages = debian_packages(paths.values())

    def names(libs: Iterable[str]) -> set[str]:
        return {packages[paths[n]] for n in libs if n in paths and paths[n] in packages}

    guessed = {n: policy_name(n) for n in every if paths.get(n) not in packages}
    depends = names(needed) | {guessed[n] for n in needed if guessed.get(n)}
    recommends = (names(optional) | {guessed[n] for n in optional if guessed.get(n)}) - depends
    depends.discard("libc6")  # stated once, with its minimum version
    recommends.discard("libc6")
    minimum = report.min_glibc
    libc = f"libc6 (>= {version_text(minimum)})" if minimum else "libc6"
    unknown = tuple(sorted(n for n in every if paths.get(n) not in packages))
    return DebianFields(
        depends=", ".join([libc, *sorted(depends)]),
        recommends=", ".join(sorted(recommends)),
        unknown=unknown,
    )


def summary(report: Report, show_levels: int = 2) -> str:
    minimum = report.min_glibc
    lines = [f"{len(report.files)} ELF files under {report.root}"]
    if minimum is None:
        lines.append("minimum glibc: none required")
    for level in report.levels()[:show_levels]:
        files = report.needing(level)
        shown = ", ".join(str(p) for p in files[:6]) + (" ..." if len(files) > 6 else "")
        head = "minimum glibc" if level == minimum else "next"
        lines.append(f"{head}: {version_text(level)} (GLIBC_{version_text(level)} in {shown})")
    libs = report.system_libraries()
    lines.append(f"from the system: {' '.join(libs) if libs else 'nothing'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="elfdeps", description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="folder of binaries (a PyInstaller bundle)")
    p.add_argument("--max-glibc", metavar="X.Y", help="fail when a newer glibc is needed")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument(
        "--debian-fields",
        type=Path,
        metavar="FILE",
        help="write Debian Depends:/Recommends: lines for the system libraries",
    )
    args = p.parse_args(argv)
    if not args.root.is_dir():
        print(f"elfdeps: {args.root}: not a folder", file=sys.stderr)
        return 2
    try:
        limit = parse_version(args.max_glibc) if args.max_glibc else None
    except ValueError as e:
        print(f"elfdeps: --max-glibc: {e}", file=sys.stderr)
        return 2
    report = scan(args.root)
    print(summary(report))
    minimum = report.min_glibc
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "min_glibc": version_text(minimum) if minimum else None,
                    "needing_min_glibc": [str(p) for p in report.needing(minimum)]
                    if minimum
                    else [],
                    "system_libraries": {
                        k: [str(p) for p in v] for k, v in report.system_libraries().items()
                    },
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    if args.debian_fields:
        fields = debian_fields(report)
        if fields.unknown:
            # Not installed here, so not declared: only optional plugins should be listed.
            print(
                "not installed here, so named by Debian policy: "
                + ", ".join(f"{n} -> {policy_name(n) or '?'}" for n in fields.unknown)
            )
        text = f"Depends: {fields.depends}\n"
        if fields.recommends:
            text += f"Recommends: {fields.recommends}\n"
        args.debian_fields.write_text(text, encoding="utf-8")
        print(text, end="")
    if limit is not None and minimum is not None and minimum > limit:
        print(
            f"elfdeps: the bundle needs glibc {version_text(minimum)}, newer than the "
            f"{version_text(limit)} asked for",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
