"""Core metadata (PEP 566/643): read Requires-Dist, extract METADATA from wheels and sdists."""

from __future__ import annotations

import email.parser
import io
import tarfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

Source = Union[Path, bytes]
# A METADATA or PKG-INFO bigger than this is not metadata (and must not fill the memory when
# it comes out of an archive that compresses it a thousandfold).
METADATA_LIMIT = 16 * 1024 * 1024


def _open(source: Source) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def wheel_metadata(source: Source) -> bytes:
    """The ``*.dist-info/METADATA`` of a wheel, byte for byte (PEP 658 serves exactly these)."""
    with _open(source) as handle, zipfile.ZipFile(handle) as archive:
        candidates = [
            n for n in archive.namelist()
            if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise ValueError(f"wheel has {len(candidates)} top-level .dist-info/METADATA files")
        if archive.getinfo(candidates[0]).file_size > METADATA_LIMIT:
            raise ValueError(f"{candidates[0]} is bigger than {METADATA_LIMIT} bytes")
        return archive.read(candidates[0])


def sdist_metadata(source: Source) -> bytes | None:
    """The top-level PKG-INFO of an sdist, or None (very old sdists may lack it)."""
    return _sdist_member(source, "PKG-INFO")


def _sdist_member(source: Source, name: str) -> bytes | None:
    """A file at the top of an sdist (inside its single root folder), or None."""
    with _open(source) as handle:
        data = handle.read()
    try:
        if data[:2] == b"\x1f\x8b":
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                for member in archive.getmembers():
                    if member.name.count("/") == 1 and member.name.endswith("/" + name):
                        if member.size > METADATA_LIMIT:
                            return None
                        extracted = archive.extractfile(member)
                        return extracted.read() if extracted else None
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if info.filename.count("/") == 1 and info.filename.endswith("/" + name):
                        if info.file_size > METADATA_LIMIT:
                            return None
                        return archive.read(info)
    except (tarfile.TarError, zipfile.BadZipFile, OSError):
        return None
    return None


# What pip assumes for an sdist without [build-system] (PEP 517/518 fallback).
LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0"]


def sdist_build_requires(source: Source) -> list[Requirement]:
    """[build-system].requires of an sdist's pyproject.toml, or pip's legacy fallback.

    Installing an sdist builds it on the client, in an isolated environment whose build
    requirements come from the index too; offline, they must be in the mirror.
    """
    text = _sdist_member(source, "pyproject.toml")
    requires = LEGACY_BUILD_REQUIRES
    if text is not None:
        try:
            import tomllib  # Python 3.11+; Debian bookworm has it
        except ImportError:  # pragma: no cover - older Pythons keep the fallback
            tomllib = None
        if tomllib is not None:
            try:
                build_system = tomllib.loads(text.decode("utf-8")).get("build-system", {})
                requires = build_system.get("requires", LEGACY_BUILD_REQUIRES)
            except (ValueError, UnicodeDecodeError, AttributeError):
                requires = LEGACY_BUILD_REQUIRES
    result = []
    for line in requires if isinstance(requires, list) else []:
        try:
            result.append(Requirement(str(line)))
        except InvalidRequirement:
            continue
    return result


def requires_dist(metadata: bytes) -> list[Requirement]:
    """Parse Requires-Dist; invalid lines are skipped (pip does the same with a warning).

    For an sdist whose metadata is older than 2.2 or marks Requires-Dist as Dynamic, the
    field says nothing reliable; it is used anyway because it is all we have without a build.
    """
    message = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    result = []
    for line in message.get_all("Requires-Dist") or []:
        try:
            result.append(Requirement(str(line)))
        except InvalidRequirement:
            continue
    return result


def metadata_name(metadata: bytes) -> str:
    message = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    return canonicalize_name(str(message.get("Name", "")))


def requires_python(metadata: bytes) -> str | None:
    """The Requires-Python field, or None when absent or not a valid specifier set."""
    message = email.parser.BytesParser().parsebytes(metadata, headersonly=True)
    value = str(message.get("Requires-Python") or "").strip()
    if not value:
        return None
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return None
    return value
