"""Fetch, once, the real distributions the local test upstream serves.

The set is small but covers what the mirror must get right: several releases of one project
where the newest needs a newer Python (click 8.3 needs >=3.10, 8.1.8 does not), an environment
marker (click needs colorama only on Windows), a compiled project with per-platform wheels plus
its sdist (markupsafe), a dependency (jinja2 -> markupsafe) with an extra that must not be
followed (jinja2[i18n] -> Babel, deliberately absent), an sdist-only project (docopt), two
releases of a pure wheel (idna), setuptools (what building those sdists on a client needs,
so the mirror must carry it), one bigger file (pygments, ~1.2 MB) so that kill/resume tests
can cut a file in the middle, and a dependency only macOS installs (appnope, as IPython has it)
for the locks of a project with platform-specific dependencies.

uv's own wheels for the six platforms the box serves uv for (about 100 MB) are fetched once
too, into a folder of their own (:func:`ensure_uv_wheels`): only the tests of uv for attendees
serve them.

The compiled wheels are per Python: the engine tests use 3.9 and 3.11; a Molecule scenario's
clients run the box image's Python, so ``ensure_fixtures("3.13")`` adds that Python's wheels, in a
directory of its own so that the engine tests always see the same set.

Run directly (``python tests/support/fetch_fixtures.py [PYTHON]``) or let the test session call
:func:`ensure_fixtures`; a stamp file makes later calls free.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = ROOT / ".cache" / "mirror-fixtures"
UV_WHEEL_DIR = ROOT / ".cache" / "uv-wheels"
UV_VERSION = "0.13.9"
# The tag pip matches each of uv's wheels by: Windows x86-64 and ARM, macOS arm64 and x86-64,
# Linux x86-64 and aarch64 (uv_platforms' default).
UV_WHEEL_PLATFORMS = ["win_amd64", "win_arm64", "macosx_11_0_arm64", "macosx_10_12_x86_64",
                      "manylinux_2_17_x86_64", "manylinux_2_17_aarch64"]

PURE_WHEELS = [
    "appnope==0.1.4",
    "click==8.1.8",
    "click==8.3.1",
    "colorama==0.4.6",
    "idna==3.9",
    "idna==3.10",
    "jinja2==3.1.6",
    "pygments==2.19.1",
    "setuptools==80.9.0",  # builds the sdists on clients (docopt, markupsafe)
]
SDISTS = ["docopt==0.6.2", "markupsafe==3.0.3"]
COMPILED = "markupsafe==3.0.3"
COMPILED_PYTHONS = ["3.9", "3.11"]
# pip expands none of these by itself, so list the tags PyPI actually publishes.
COMPILED_PLATFORMS = [
    ["win_amd64"],
    ["macosx_11_0_arm64"],
    ["macosx_10_13_x86_64", "macosx_10_9_x86_64"],
    ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    ["manylinux_2_17_aarch64", "manylinux2014_aarch64"],
]


def _stamp(folder: Path, spec: object) -> Path:
    return folder / f".complete-{hashlib.sha256(repr(spec).encode()).hexdigest()[:12]}"


def _pip(into: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into),
         *args],
        check=True,
    )


def ensure_fixtures(client_python: str | None = None) -> Path:
    """Return the directory of fixture files, downloading them from PyPI the first time; with
    ``client_python``, the set with that Python's compiled wheels too."""
    pythons = list(COMPILED_PYTHONS)
    directory = FIXTURE_DIR
    if client_python and client_python not in pythons:
        pythons.append(client_python)
        directory = FIXTURE_DIR.with_name(f"{FIXTURE_DIR.name}-{client_python}")
    stamp = _stamp(directory, (PURE_WHEELS, SDISTS, COMPILED, pythons, COMPILED_PLATFORMS))
    if stamp.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    # One pip call per pin: pip refuses two versions of one project in a single call.
    for pin in PURE_WHEELS:
        _pip(directory, "--only-binary=:all:", pin)
    for pin in SDISTS:
        _pip(directory, "--no-binary=:all:", pin)
    for python in pythons:
        abi = "cp" + python.replace(".", "")
        for platforms in COMPILED_PLATFORMS:
            plat_args = [arg for plat in platforms for arg in ("--platform", plat)]
            _pip(directory, "--only-binary=:all:", "--python-version", python,
                 "--implementation", "cp", "--abi", abi, *plat_args, COMPILED)
    stamp.touch()
    return directory


def ensure_uv_wheels() -> Path:
    """The folder of uv's wheels (UV_VERSION, six platforms), downloaded the first time."""
    stamp = _stamp(UV_WHEEL_DIR, (UV_VERSION, UV_WHEEL_PLATFORMS))
    if stamp.exists():
        return UV_WHEEL_DIR
    UV_WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    for platform in UV_WHEEL_PLATFORMS:
        _pip(UV_WHEEL_DIR, "--only-binary=:all:", "--platform", platform, f"uv=={UV_VERSION}")
    stamp.touch()
    return UV_WHEEL_DIR


if __name__ == "__main__":
    print(ensure_fixtures(*sys.argv[1:2]))
    print(ensure_uv_wheels())
