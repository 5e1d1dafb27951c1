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

from .errors import MetadataError

# A distribution on disk, in memory, or an open (seekable) file.
Source = Union[Path, bytes, BinaryIO]
# A METADATA or PKG-INFO bigger than this is not metadata (and must not fill the memory when
# it comes out of an archive that compresses it a thousandfold).
METADATA_LIMIT = 16 * 1024 * 1024
# An sdist is read as a stream (PKG-INFO may come last, as hatchling writes it); a .tar.gz that
# unpacks to more than this is a bomb, not a source tree: what was found so far is used.
SDIST_SCAN_LIMIT = 1 << 30
# What pip assumes for an sdist without [build-system] (PEP 517/518 fallback).
LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0"]


def _open(source: Source) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, Path):
        return open(source, "rb")
    source.seek(0)
    return _Borrowed(source)


class _Borrowed(io.BufferedIOBase):
    """A caller's open file, read through a ``with`` block that leaves it open."""

    def __init__(self, handle: BinaryIO) -> None:
        super().__init__()
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:  # the caller's to close
        pass


def wheel_metadata(source: Source) -> bytes:
    """The ``*.dist-info/METADATA`` of a wheel, byte for byte (PEP 658 serves exactly these).

    Raises MetadataError when the wheel has none, several, or one too big to be metadata.
    """
    try:
        with _open(source) as handle, zipfile.ZipFile(handle) as archive:
            candidates = [
                n for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise MetadataError(
                    f"wheel has {len(candidates)} top-level .dist-info/METADATA files")
            if archive.getinfo(candidates[0]).file_size > METADATA_LIMIT:
                raise MetadataError(f"{candidates[0]} is bigger than {METADATA_LIMIT} bytes")
            return archive.read(candidates[0])
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise MetadataError(f"not a readable wheel: {exc}") from None


class _Counted(io.RawIOBase):
    """Counts the bytes gzip hands tarfile, and stops the stream past SDIST_SCAN_LIMIT."""

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.count > SDIST_SCAN_LIMIT:
            raise MetadataError(f"unpacks to more than {SDIST_SCAN_LIMIT} bytes")
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def sdist_members(source: Source, names: tuple[str, ...] = ("PKG-INFO", "pyproject.toml")
                  ) -> dict[str, bytes]:
    """Files at the top of an sdist (inside its single root folder), read in one pass.

    Bounded: a member over METADATA_LIMIT is skipped, a .tar.gz is unpacked at most
    SDIST_SCAN_LIMIT bytes. Raises MetadataError for something that is not an sdist archive.
    """
    found: dict[str, bytes] = {}

    def wanted(path: str) -> str | None:
        top, _, rest = path.partition("/")
        return rest if top and rest in names and rest not in found else None

    try:
        with _open(source) as handle:
            magic = handle.read(2)
            handle.seek(0)
            if magic == b"\x1f\x8b":
                import gzip

                stream = io.BufferedReader(_Counted(gzip.GzipFile(fileobj=handle, mode="rb")))
                with tarfile.open(fileobj=stream, mode="r|") as archive:
                    for member in archive:
                        name = wanted(member.name)
                        if name and member.isfile() and member.size <= METADATA_LIMIT:
                            extracted = archive.extractfile(member)
                            if extracted is not None:
                                found[name] = extracted.read(METADATA_LIMIT + 1)
                        if len(found) == len(names):
                            break
            else:
                with zipfile.ZipFile(handle) as archive:
                    for info in archive.infolist():
                        name = wanted(info.filename)
                        if name and info.file_size <= METADATA_LIMIT:
                            with archive.open(info) as member:
                                found[name] = member.read(METADATA_LIMIT + 1)
    except MetadataError as exc:
        if not found:
            raise MetadataError(f"sdist {exc}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise MetadataError(f"not a readable sdist: {exc}") from None
    return {k: v for k, v in found.items() if len(v) <= METADATA_LIMIT}


def sdist_metadata(source: Source) -> bytes | None:
    """The top-level PKG-INFO of an sdist, or None (very old sdists may lack it)."""
    try:
        return sdist_members(source, ("PKG-INFO",)).get("PKG-INFO")
    except MetadataError:
        return None


def build_requires(pyproject: bytes | None) -> list[Requirement]:
    """[build-system].requires of an sdist's pyproject.toml, or pip's legacy fallback.

    Installing an sdist builds it on the client, in an isolated environment whose build
    requirements come from the index too; offline, they must be in the mirror.
    """
    requires = LEGACY_BUILD_REQUIRES
    if pyproject is not None:
        try:
            import tomllib  # Python 3.11+; Debian bookworm has it
        except ImportError:  # pragma: no cover - older Pythons keep the fallback
            tomllib = None
        if tomllib is not None:
            try:
                build_system = tomllib.loads(pyproject.decode("utf-8")).get("build-system", {})
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
