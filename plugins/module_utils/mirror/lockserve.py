"""A course's lock, rewritten to install from the box.

``uv sync --frozen`` and ``uv pip install`` / ``pip install -r pylock.toml`` fetch every file
from the URL the lock records, whatever index they are told to use: ``--index-url``,
``--default-index``, ``UV_INDEX_URL`` and uv.toml change nothing (tried with uv 0.13.9 and pip
26.3; uv does it by design, astral-sh/uv#19625). Without ``--frozen``, ``uv sync --default-index
<box>`` locks again against the box, which rewrites uv.lock and needs the box to hold every
fork of the universal resolution, not only the attendees' platforms. So the box serves the lock
with each file's URL replaced by the box's copy (``<box>/files/<project>/<file>``, where the
mirror keeps it) and each index URL by the box's index; names, versions, markers and hashes stay,
and clients still check every file against the lock's hashes.

Only URL strings change. The text is rewritten in place (the standard library has no TOML
writer, and the lock's own layout should stay), read again and compared with the original read
with the same replacements, so nothing else can have moved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lockfiles
from .errors import MirrorInputError
from .index import file_url
from .layout import FILES, SIMPLE
from .lockmodel import Lock
from .uvlock import KIND as UV_LOCK


@dataclass(frozen=True)
class ServedLock:
    kind: str  # "uv.lock" or "pylock.toml"
    name: str  # the file name clients need it under
    content: str


def _replacements(lock: Lock, box_url: str) -> dict[str, str]:
    box = box_url.rstrip("/")
    mapping = {url: f"{box}/{SIMPLE}/" for url in lock.registries}
    for package in lock.packages:
        for file in package.files:
            if file.url:
                mapping[file.url] = file_url(f"{box}/{FILES}/{package.name}", package.name,
                                             file.filename)
    return mapping


def _mapped(value: object, mapping: dict[str, str]) -> object:
    """A parsed TOML value with every string that ``mapping`` names replaced."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_mapped(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _mapped(v, mapping) for k, v in value.items()}
    return value


def _rewrite(text: str, mapping: dict[str, str]) -> str:
    """Each quoted occurrence of a mapped URL replaced, in one pass (no replacement is ever
    replaced again)."""
    if not mapping:
        return text
    quoted = sorted((q + url + q for url in mapping for q in ('"', "'")), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(q) for q in quoted))
    return pattern.sub(lambda m: m.group()[0] + mapping[m.group()[1:-1]] + m.group()[0], text)


def served_name(kind: str, name: str) -> str:
    """uv wants ``uv.lock``; installers take ``pylock.toml`` or ``pylock.<name>.toml``."""
    if kind == UV_LOCK:
        return "uv.lock"
    parts = name.split(".")
    if parts[0] == "pylock" and parts[-1] == "toml" and len(parts) in (2, 3) and all(parts):
        return name
    return "pylock.toml"


def for_box(text: str, box_url: str, name: str) -> ServedLock:
    """The lock in ``text`` (a file called ``name``), installing from the box at ``box_url``
    (such as http://pypi.internal). Raises MirrorInputError."""
    lock = lockfiles.parse(text, name)
    mapping = _replacements(lock, box_url)
    rewritten = _rewrite(text, mapping)
    loads = lockfiles.toml().loads
    if loads(rewritten) != _mapped(loads(text), mapping):
        raise MirrorInputError(f"lock file {name}: its URLs could not be rewritten for the box "
                               "without changing anything else (escaped characters in a URL?)")
    return ServedLock(lock.kind, served_name(lock.kind, name.rsplit("/", 1)[-1]), rewritten)
