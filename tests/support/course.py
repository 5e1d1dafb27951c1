"""A course's project as a teacher ships it: a pyproject.toml, and its lock made by real uv.

The project depends on what the fixture set holds, with dependencies that differ per platform
and Python: colorama only on Windows (its own marker, and click's), appnope only on macOS,
markupsafe as a compiled wheel per platform (through jinja2), and click 8.1.8 for Python 3.9
but 8.3.1 from 3.10 (a fork of uv's universal resolution). ``make_course`` locks it against an
index with ``uv lock`` and writes the three forms a course ships: ``uv.lock``, ``pylock.toml``
(``uv export --format pylock.toml``) and a hashed ``requirements.txt`` (``uv export``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UV = str(Path(sys.executable).parent / "uv")
PYPROJECT = """\
[project]
name = "course"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
    "click",
    "jinja2",
    "colorama; sys_platform == 'win32'",
    "appnope; sys_platform == 'darwin'",
]
"""
# What an install on each platform (Python 3.11) holds, per the markers above.
EXPECTED = {
    "windows": {"click==8.3.1", "colorama==0.4.6", "jinja2==3.1.6", "markupsafe==3.0.3"},
    "macos": {"appnope==0.1.4", "click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"},
    "linux": {"click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"},
}
# uv's --python-platform for each, and the mirror's platform name.
UV_PLATFORMS = {"windows": "x86_64-pc-windows-msvc", "macos": "aarch64-apple-darwin",
                "linux": "x86_64-manylinux_2_28"}
MIRROR_PLATFORMS = {"windows": "windows-x86_64", "macos": "macos-arm64",
                    "linux": "manylinux-x86_64"}


def uv_env(cache: Path) -> dict:
    """uv with no configuration of this machine, its own cache, and no Python downloads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=str(cache), UV_PYTHON_DOWNLOADS="never",
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def uv(*args: str, cwd: Path, cache: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([UV, *args], cwd=cwd, env=uv_env(cache), capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"uv {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def make_course(folder: Path, index_url: str, pyproject: str = PYPROJECT) -> Path:
    """The course's project in ``folder``, locked against ``index_url``, with its exports."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(pyproject)
    cache = folder.parent / f".uv-cache-{folder.name}"
    uv("lock", "--index-url", index_url, "--python", sys.executable, cwd=folder, cache=cache)
    uv("export", "--frozen", "--quiet", "-o", "requirements.txt", cwd=folder, cache=cache)
    uv("export", "--frozen", "--quiet", "--format", "pylock.toml", "-o", "pylock.toml",
       cwd=folder, cache=cache)
    return folder


def main(argv: list[str]) -> int:
    """``python tests/support/course.py DIR INDEX_URL``: the course in DIR, locked against
    INDEX_URL (a Molecule scenario's controller does this before the box mirrors the lock)."""
    make_course(Path(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
