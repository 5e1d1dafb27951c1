"""Projects, versions and sizes of the distribution files in a directory.

File names are parsed with ``packaging``, the parser pip uses, never with a regex of our own:
``Foo_Bar-1.0-py3-none-any.whl`` and ``foo.bar-1.0.tar.gz`` are both version 1.0 of project
``foo-bar``. Names starting with a dot are internal (the mirror's ``.partial/`` and ``.state/``;
pypiserver ignores them too) and are never counted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version


class Distribution(NamedTuple):
    project: str
    version: Version


def parse_filename(filename: str) -> Distribution | None:
    """Project (normalized) and version of a wheel or sdist file name; None for anything else."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return Distribution(str(name), version)


class Tally:
    """Versions, distribution count and bytes of one project."""

    def __init__(self) -> None:
        self.versions: set[Version] = set()
        self.files = 0
        self.bytes = 0

    def as_dict(self, name: str) -> dict:
        return {
            "name": name,
            "versions": [str(v) for v in sorted(self.versions, reverse=True)],
            "files": self.files,
            "bytes": self.bytes,
        }


def _visible_files(folder: Path):
    """(name, size) of the regular files under folder, skipping dot-names at every level."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            try:
                size = os.stat(os.path.join(root, name), follow_symlinks=False).st_size
            except OSError:  # removed while we looked
                continue
            yield name, size


def summarize(tallies: dict[str, Tally], path: Path) -> dict:
    """The inventory shape every reader returns: projects by name, with totals."""
    projects = [tallies[name].as_dict(name) for name in sorted(tallies)]
    return {
        "path": str(path),
        "exists": path.is_dir(),
        "projects": projects,
        "project_count": len(projects),
        "file_count": sum(p["files"] for p in projects),
        "bytes": sum(p["bytes"] for p in projects),
    }


def packages_inventory(packages_dir: Path) -> dict:
    """pypiserver's directory: files anywhere below it, each file's project from its name."""
    tallies: dict[str, Tally] = {}
    for name, size in _visible_files(packages_dir):
        dist = parse_filename(name)
        if dist is None:
            continue
        tally = tallies.setdefault(dist.project, Tally())
        tally.versions.add(dist.version)
        tally.files += 1
        tally.bytes += size
    return summarize(tallies, packages_dir)


def mirror_inventory(mirror_dir: Path) -> dict:
    """The mirror's ``files/<project>/``: the project is the directory.

    ``files`` counts distributions; ``bytes`` is everything in the project's directory, the
    ``<file>.metadata`` sidecars included, so the total is what the pypi_mirror module calls
    ``mirror_size``.
    """
    # Imported here, not at the top: the box's on-demand report (pypi-in-a-box-proxy) installs
    # this module without the mirror package, and never takes a mirror's inventory.
    from ..mirror.layout import Layout

    tallies: dict[str, Tally] = {}
    files_dir = Layout(mirror_dir).files
    try:
        entries = [e for e in os.scandir(files_dir) if not e.name.startswith(".")]
    except OSError:
        entries = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        tally = tallies.setdefault(canonicalize_name(entry.name), Tally())
        for name, size in _visible_files(Path(entry.path)):
            tally.bytes += size
            dist = parse_filename(name)
            if dist is not None:
                tally.versions.add(dist.version)
                tally.files += 1
    return summarize(tallies, mirror_dir)
