#!/usr/bin/python3
"""Print the projects on the box as JSON, for the landing page: {"private": [...], "mirror": [...]}.

Usage: list_projects.py PACKAGES_DIR MIRROR_DIR

"private": projects with a distribution file in pypiserver's directory (uploads and seeds);
"mirror": projects with a static index page in MIRROR_DIR/simple/<project>/index.html.
Names are parsed with `packaging`, the parser pip uses, never with a regex of our own:
`Foo_Bar-1.0-py3-none-any.whl` and `foo.bar-1.0.tar.gz` are both project `foo-bar`.
Read-only; missing directories count as empty (the mirror may not exist yet).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)


def project_name(filename: str) -> str | None:
    """The normalized project name of a wheel or sdist file name, or None if it is neither."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def private_projects(packages_dir: Path) -> list[str]:
    names = set()
    for _root, dirs, files in os.walk(packages_dir):
        # pypiserver ignores dot-files and dot-directories; so does the list.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        names.update(project_name(f) for f in files if not f.startswith("."))
    return sorted(name for name in names if name)


def mirror_projects(mirror_dir: Path) -> list[str]:
    simple = mirror_dir / "simple"
    if not simple.is_dir():
        return []
    return sorted(
        canonicalize_name(entry.name)
        for entry in simple.iterdir()
        if not entry.name.startswith(".") and (entry / "index.html").is_file()
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    packages_dir, mirror_dir = Path(argv[1]), Path(argv[2])
    json.dump(
        {"private": private_projects(packages_dir), "mirror": mirror_projects(mirror_dir)},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
