"""uv and Python for attendees: their platforms, and the records of what ``uv/`` and ``python/``
hold.

The records are the one account of those folders: the tools run writes them after the files,
the fleet's publisher verifies every staged file against them, and the landing page (through
the box_status module) lists them, with their sha256, and writes the install scripts and uv's
downloads list from them. Each read checks them: a name that will become a path or a line of
HTML is one this module could have written, or the read fails.

Only the standard library and ``names`` (``packaging``): box_status reads them on a box that
may have no ``requests``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import MirrorError
from .fsutil import write_if_changed
from .layout import PYTHON, UV, Layout
from .names import check_path_name, is_sha256

# Names uv and python-build-standalone use: letters, digits and . _ + - (never a dot first).
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_UV_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")


@dataclass(frozen=True)
class ToolPlatform:
    """One kind of laptop (a platform name of ``targets``) as uv and its Pythons name it."""

    name: str
    triple: str  # uv's release archives and python-build-standalone's builds
    family: str  # windows, macos, linux: which install line of the landing page
    python_os: str  # os, arch and libc in uv's list of Python downloads
    python_arch: str
    python_libc: str

    @property
    def uv_archive(self) -> str:
        """The name uv's own releases give its archive for this platform."""
        return f"uv-{self.triple}.{'zip' if self.family == 'windows' else 'tar.gz'}"

    @property
    def python_slot(self) -> tuple[str, str, str]:
        return self.python_os, self.python_arch, self.python_libc


PLATFORMS: dict[str, ToolPlatform] = {
    p.name: p
    for p in [
        ToolPlatform("windows-x86_64", "x86_64-pc-windows-msvc", "windows",
                     "windows", "x86_64", "none"),
        ToolPlatform("windows-arm64", "aarch64-pc-windows-msvc", "windows",
                     "windows", "aarch64", "none"),
        ToolPlatform("windows-x86", "i686-pc-windows-msvc", "windows",
                     "windows", "i686", "none"),
        ToolPlatform("macos-arm64", "aarch64-apple-darwin", "macos", "darwin", "aarch64", "none"),
        ToolPlatform("macos-x86_64", "x86_64-apple-darwin", "macos", "darwin", "x86_64", "none"),
        ToolPlatform("manylinux-x86_64", "x86_64-unknown-linux-gnu", "linux",
                     "linux", "x86_64", "gnu"),
        ToolPlatform("manylinux-aarch64", "aarch64-unknown-linux-gnu", "linux",
                     "linux", "aarch64", "gnu"),
        ToolPlatform("musllinux-x86_64", "x86_64-unknown-linux-musl", "linux",
                     "linux", "x86_64", "musl"),
        ToolPlatform("musllinux-aarch64", "aarch64-unknown-linux-musl", "linux",
                     "linux", "aarch64", "musl"),
        ToolPlatform("linux-aarch64", "aarch64-unknown-linux-gnu", "linux",
                     "linux", "aarch64", "gnu"),
        ToolPlatform("linux-armv7l", "armv7-unknown-linux-gnueabihf", "linux",
                     "linux", "armv7", "gnueabihf"),
    ]
}


def plain_name(value: object, what: str) -> str:
    """``value`` if it is a plain name (uv's and python-build-standalone's kind), safe as a path
    component and as text in a page; else MirrorError naming ``what``."""
    if not isinstance(value, str) or not _PLAIN.match(value):
        raise MirrorError(f"{what} {value!r} is not a plain name (letters, digits, . _ + -)")
    check_path_name(value, what)
    return value


@dataclass(frozen=True)
class ToolFile:
    """One file a record lists: where it is, and what it must hold."""

    tool: str
    path: Path
    relative: str  # to the mirror's root, as nginx serves it under the same name
    sha256: str
    size: int

    @property
    def url_path(self) -> str:
        """``relative`` as it goes into a URL: ``+`` escaped, as uv's own lists have it."""
        return quote(self.relative, safe="/")


# -- uv ---------------------------------------------------------------------------------------
def _uv_record(platform: str, record: object) -> dict:
    where = f"uv.json: {platform!r}"
    tool_platform = PLATFORMS.get(platform) if isinstance(platform, str) else None
    if tool_platform is None:
        raise MirrorError(f"{where} is not a platform name")
    if not isinstance(record, dict):
        raise MirrorError(f"{where}: the record is not an object")
    version = record.get("version")
    if not isinstance(version, str) or not _UV_VERSION.match(version):
        raise MirrorError(f"{where}: bad version {version!r}")
    plain_name(version, f"{where}: version")
    if record.get("filename") != tool_platform.uv_archive:
        raise MirrorError(f"{where}: filename {record.get('filename')!r} is not "
                          f"{tool_platform.uv_archive!r}")
    _check_file_fields(where, record)
    return record


def uv_file(layout: Layout, record: dict) -> ToolFile:
    path = layout.uv_archive(record["version"], record["filename"])
    return ToolFile(UV, path, path.relative_to(layout.root).as_posix(), record["sha256"],
                    record["size"])


# -- Python builds ----------------------------------------------------------------------------
def _python_record(key: str, record: object) -> dict:
    where = f"python.json: {key!r}"
    plain_name(key, "python.json: build key")
    if not isinstance(record, dict):
        raise MirrorError(f"{where}: the record is not an object")
    if record.get("platform") not in PLATFORMS:
        raise MirrorError(f"{where}: bad platform {record.get('platform')!r}")
    for name in ("folder", "filename"):
        plain_name(record.get(name), f"{where}: {name}")
    for name in ("version", "request"):
        if not isinstance(record.get(name), str) or not _VERSION.match(record[name]):
            raise MirrorError(f"{where}: bad {name} {record.get(name)!r}")
    entry = record.get("entry")
    if not isinstance(entry, dict) or "url" in entry:
        raise MirrorError(f"{where}: entry is not uv's entry without its url")
    _check_file_fields(where, record)
    return record


def python_file(layout: Layout, record: dict) -> ToolFile:
    path = layout.python_build(record["folder"], record["filename"])
    return ToolFile(PYTHON, path, path.relative_to(layout.root).as_posix(), record["sha256"],
                    record["size"])


def _check_file_fields(where: str, record: dict) -> None:
    if not is_sha256(record.get("sha256")):
        raise MirrorError(f"{where}: bad sha256 {record.get('sha256')!r}")
    size = record.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MirrorError(f"{where}: bad size {size!r}")


# -- both -------------------------------------------------------------------------------------
_SECTIONS = {UV: ("archives", _uv_record, uv_file), PYTHON: ("builds", _python_record,
                                                             python_file)}


def load(layout: Layout, tool: str) -> dict:
    """The checked records of ``tool`` (``uv`` or ``python``): {"archives"|"builds": {...}, ...};
    empty when there are none. Raises MirrorError for a record this module would not write."""
    section, check, _ = _SECTIONS[tool]
    path = layout.tool_records(tool)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MirrorError(f"{path}: unreadable ({exc})") from None
    entries = data.get(section) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise MirrorError(f"{path}: not a record of {tool} (no {section!r} object)")
    for name, record in entries.items():
        check(name, record)
    if tool == PYTHON and not isinstance(data.get("source"), str):
        raise MirrorError(f"{path}: no source URL")
    return data


def entries(records: dict, tool: str) -> dict[str, dict]:
    return records.get(_SECTIONS[tool][0], {}) if records else {}


def files(layout: Layout, tool: str, records: dict) -> list[ToolFile]:
    """Every file the records of ``tool`` list."""
    make = _SECTIONS[tool][2]
    return [make(layout, record) for _name, record in sorted(entries(records, tool).items())]


def save(layout: Layout, tool: str, records: dict) -> bool:
    """Write the records of ``tool`` (checked first); none at all removes the file. True when
    anything changed."""
    path = layout.tool_records(tool)
    section, check, _ = _SECTIONS[tool]
    if not records or not records.get(section):
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
    for name, record in records[section].items():
        check(name, record)
    data = json.dumps(records, indent=1, sort_keys=True).encode() + b"\n"
    return write_if_changed(path, data)
