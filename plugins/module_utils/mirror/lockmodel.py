"""What a lock file names, whatever its format (``pylock``, ``uvlock`` read into this).

A ``Lock`` holds every package the lock names from an index, with the files it names and their
sha256, and answers, per target, which of them an installer on that target installs: the lock's
own markers and graph decide, never a resolution of ours. Packages a lock takes from the
attendee's checkout (the project itself, path dependencies) are not the mirror's business;
packages from a VCS or a plain URL are named, so the run can say it cannot serve them.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import MirrorInputError, UnsafeUpstreamData
from .names import is_sha256, parse_filename
from .targets import Target


class Uncovered(Exception):
    """The lock cannot install on a target (its reason is the message)."""


@dataclass(frozen=True)
class LockedFile:
    """One distribution file a lock names."""

    filename: str
    sha256: str | None  # None: the lock gives no sha256 (the file cannot be verified)
    url: str | None  # where the lock says it lives (None for a path inside the checkout)
    kind: str  # "wheel" or "sdist"


@dataclass(frozen=True)
class LockedPackage:
    """One package a lock names: from an index (``files``), or from a source no mirror holds
    (``unservable`` says which)."""

    name: str  # canonical
    version: Version | None
    files: tuple[LockedFile, ...] = ()
    unservable: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass
class Lock:
    """A parsed lock: its packages and, per target, which of them install there."""

    path: str  # for messages
    kind: str  # "pylock.toml" or "uv.lock"
    packages: tuple[LockedPackage, ...]
    registries: tuple[str, ...]  # the index URLs it records
    requires_python: SpecifierSet | None
    environments: tuple[Marker, ...]
    installs: Callable[[Target], list[LockedPackage]]  # raises Uncovered

    def packages_for(self, target: Target) -> list[LockedPackage]:
        """The packages an installer on ``target`` installs from this lock (raises Uncovered)."""
        python = target.python_minor
        if self.requires_python is not None and not self.requires_python.contains(
                python, prereleases=True):
            raise Uncovered(f"the lock requires Python {self.requires_python}")
        if self.environments and not any(holds(m, target) for m in self.environments):
            raise Uncovered("none of the lock's environments "
                            f"({'; '.join(str(m) for m in self.environments)}) is this one")
        return self.installs(target)


# -- helpers for the format readers ---------------------------------------------------------
def holds(marker: Marker | None, target: Target, extras: frozenset[str] = frozenset(),
          groups: frozenset[str] = frozenset()) -> bool:
    """A lock's marker on a target, with the extras and dependency groups chosen (PEP 751)."""
    if marker is None:
        return True
    environment = target.marker_environment()
    try:
        return marker.evaluate({**environment, "extras": extras, "dependency_groups": groups},
                               context="lock_file")
    except TypeError:  # packaging < 25 has no lock-file context; such markers never parsed
        return marker.evaluate(environment)


def _parsed(value: object, where: str, parse: Callable, error: type, what: str):
    """``parse(value)``, None for a missing value; MirrorInputError for a bad one."""
    if value is None:
        return None
    try:
        return parse(text(value, where))
    except error as exc:
        raise MirrorInputError(f"{where}: invalid {what} {value!r}: {exc}") from None


def marker(value: object, where: str) -> Marker | None:
    return _parsed(value, where, Marker, InvalidMarker, "marker")


def specifier(value: object, where: str) -> SpecifierSet | None:
    return _parsed(value, where, SpecifierSet, InvalidSpecifier, "version specifier")


def version(value: object, where: str) -> Version | None:
    return _parsed(value, where, Version, InvalidVersion, "version")


def name(value: object, where: str) -> str:
    return canonicalize_name(text(value, where))


def table(value: object, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MirrorInputError(f"{where} must be a table, not {type(value).__name__}")
    return value


def array(value: object, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MirrorInputError(f"{where} must be an array, not {type(value).__name__}")
    return value


def text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MirrorInputError(f"{where} must be a string, not {value!r}")
    return value


def file_name(item: dict, key: str, where: str) -> str:
    """A file's name: ``item[key]``, else the last part of its URL or path."""
    name = item.get(key)
    if name is None:
        location = item.get("url") or item.get("path")
        if not isinstance(location, str) or not location:
            raise MirrorInputError(f"{where}: a file with neither {key}, url nor path")
        name = unquote(posixpath.basename(urlsplit(location).path))
    return text(name, where)


def locked_file(filename: str, sha256: str | None, url: str | None, package: str,
                package_version: Version | None, where: str) -> LockedFile:
    """A file of ``package`` as a lock names it, checked like an upstream's (its name becomes
    a path on the box) and against the package it is listed under."""
    try:
        kind, project, file_version, _tags = parse_filename(filename)
    except (ValueError, UnsafeUpstreamData) as exc:
        raise MirrorInputError(f"{where}: {filename!r} is not a wheel or sdist name the mirror "
                               f"can keep: {exc}") from None
    if project != package or (package_version is not None and file_version != package_version):
        raise MirrorInputError(f"{where}: {filename} is not a file of {package} "
                               f"{package_version or ''}".rstrip())
    if sha256 is not None and not is_sha256(sha256):
        raise MirrorInputError(f"{where}: {filename}: {sha256!r} is not a sha256 hash")
    return LockedFile(filename, sha256, url, kind)
