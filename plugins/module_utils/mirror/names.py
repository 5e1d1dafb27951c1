"""Checks on names and hashes that come from outside: an upstream's pages or a staged copy.

A filename becomes a path on the box and a hash is what every file is verified against, so
both are checked here, once, for every source that hands them to the engine. Only the standard
library and ``packaging``: the publisher on a box without ``requests`` uses these too.
"""

from __future__ import annotations

import posixpath
import re

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
from .layout import LONGEST_SUFFIX, NAME_MAX, fits_on_disk

_HEX = frozenset("0123456789abcdef")
# PEP 503 normalized names, as packaging.utils.is_normalized_name checks them; that function is
# newer than Debian 12's packaging 23.0, which the box runs.
_NORMALIZED_NAME = re.compile(r"^([a-z0-9]|[a-z0-9]([a-z0-9-](?!--))*[a-z0-9])$")


def is_normalized_name(name: str) -> bool:
    """True for a project name exactly as PEP 503 normalizes it (the name of its index page)."""
    return _NORMALIZED_NAME.match(name) is not None


def is_sha256(value: object) -> bool:
    """True for a sha256 digest as the mirror writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def check_path_name(name: object, what: str = "filename") -> str:
    """``name`` if it can be one component of a path on the box, else UnsafeUpstreamData.

    Refused: separators, dot-names, ``..``, control characters, and names too long for the
    suffixes the mirror puts after them.
    """
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or "\\" in name
        or not name.isprintable()  # control characters, line and paragraph separators
        or name.startswith(".")
        or ".." in name
        or name != posixpath.basename(name)
    ):
        raise UnsafeUpstreamData(f"unsafe {what} {name!r}")
    if not fits_on_disk(name):
        raise UnsafeUpstreamData(
            f"{what} {name[:40]!r}... is {len(name.encode('utf-8', 'replace'))} bytes "
            f"long; the mirror stores names of at most {NAME_MAX - LONGEST_SUFFIX} bytes"
        )
    return name


def parse_filename(filename: str) -> tuple[str, str, Version, frozenset[Tag]]:
    """(kind, normalized project, version, tags) of a distribution's filename.

    Raises UnsafeUpstreamData for a name that must never become a path (separators, dot-names,
    control characters) or an invalid wheel name, and ValueError for names that are simply not
    wheels/sdists (eggs, .exe installers), which callers skip silently.
    """
    check_path_name(filename)
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
    return kind, canonicalize_name(name), version, frozenset(wheel_tags)


def check_filename(project: str, filename: str) -> tuple[str, Version, frozenset[Tag]]:
    """Validate an upstream filename of ``project``; return (kind, version, tags).

    Raises like parse_filename, and UnsafeUpstreamData for a file of another project.
    """
    kind, name, version, wheel_tags = parse_filename(filename)
    if name != project:
        raise UnsafeUpstreamData(f"file {filename!r} does not belong to project {project!r}")
    return kind, version, wheel_tags
