"""Reading a lock file: which format it is (by its content, so a renamed copy still reads), and
the ``lockmodel.Lock`` it describes."""

from __future__ import annotations

from pathlib import Path

from . import pylock, uvlock
from .errors import MirrorInputError
from .lockmodel import Lock


def toml():
    """The standard library's TOML reader (Python 3.11+: Debian 12 on the box, the controller);
    imported when a lock is read, so that a run without locks works on an older Python."""
    try:
        import tomllib
    except ImportError:
        raise MirrorInputError("reading a lock file needs Python 3.11 or later (tomllib) where "
                               "the mirror runs") from None
    return tomllib


def parse(data: bytes | str, where: str) -> Lock:
    """The Lock in a pylock.toml or uv.lock's text (raises MirrorInputError)."""
    tomllib = toml()
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MirrorInputError(f"lock file {where} is not valid TOML: {exc}") from None
    if "lock-version" in doc:
        return pylock.parse(doc, where)
    if "version" in doc and "package" in doc:
        return uvlock.parse(doc, where)
    raise MirrorInputError(f"lock file {where} is neither a pylock.toml (PEP 751: lock-version) "
                           "nor a uv.lock (version and [[package]])")


def load(path: Path | str) -> Lock:
    """The Lock in a file (raises MirrorInputError)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MirrorInputError(f"lock file {path}: {exc.strerror or exc}") from None
    return parse(data, str(path))
