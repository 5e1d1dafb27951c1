"""Checks on names and hashes that come from outside: an upstream's pages or a staged copy.

A filename becomes a path on the box and a hash is what every file is verified against, so
both are checked here, once, for every source that hands them to the engine. Only the standard
library and ``packaging``: the publisher on a box without ``requests`` uses these too.
"""

from __future__ import annotations

import posixpath

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from .errors import UnsafeUpstreamData

_HEX = frozenset("0123456789abcdef")


def is_sha256(value: object) -> bool:
    """True for a sha256 digest as the mirror writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def check_filename(project: str, filename: str) -> tuple[str, Version, frozenset[Tag]]:
    """Validate an upstream filename; return (kind, version, tags) or raise UnsafeUpstreamData.

    Raises ValueError for names that are simply not wheels/sdists (eggs, .exe installers), which
    callers skip silently.
    """
    if (
        not filename
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
        or filename.startswith(".")
        or ".." in filename
        or filename != posixpath.basename(filename)
    ):
        raise UnsafeUpstreamData(f"unsafe filename {filename!r}")
    if filename.endswith(".whl"):
        try:
            name, version, _build, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise UnsafeUpstreamData(f"invalid wheel filename {filename!r}: {exc}") from None
        kind = "wheel"
    elif filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename as exc:
            raise ValueError(str(exc)) from None
        wheel_tags = frozenset()
        kind = "sdist"
    else:
        raise ValueError(f"not a wheel or sdist: {filename}")
    if canonicalize_name(name) != project:
        raise UnsafeUpstreamData(f"file {filename!r} does not belong to project {project!r}")
    return kind, version, frozenset(wheel_tags)
