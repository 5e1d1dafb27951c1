"""The downloader: parallel, resumable at the byte level, verified before anything is visible.

A file travels ``.partial/<project>/<filename>.part`` -> sha256 check -> fsync -> rename into
``files/<project>/<filename>`` (paths from ``layout``). Beside the partial, a small JSON note
remembers which URL, hash and HTTP validators (ETag / Last-Modified) its bytes came from, so a
later attempt (after a cut connection, a SIGKILL or a power cut) continues with ``Range``, plus
``If-Range`` when the upstream gave a validator: if the file changed meanwhile the server
answers 200 with the whole new file and we start over instead of splicing two files together.
Without a validator the final sha256 check catches a splice, and the bytes are discarded.

The paths come from the ``Shelf`` it fills (``layout``): the distributions', uv's wheels' or the
Python builds', whose files it takes as it takes DistFiles (a group folder as ``project``, and
``filename``, ``url``, ``sha256``, ``size``).

Progress is what a retry is judged by (``transport.retrying``): an attempt progressed only when
it left more verified-so-far bytes on disk than any attempt before it, so a server that ignores
``Range`` and cuts every transfer at the same point ends in a failure instead of a loop.

A file name the mirror has published is never given other bytes: clients and nginx treat files
as immutable. If the index announces another hash for it, that is a failure naming the file,
and the published file stays.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .errors import DownloadError
from .fsutil import atomic_write, free_bytes, publish, sha256_file
from .layout import Shelf
from .transport import Exchange, Refused, Transient, Transport
from .upstream import DistFile

FSYNC_EVERY = 8 * 1024 * 1024  # bound what a power cut can lose of a big partial; also how
# often the free space is looked at while a file grows

Progress = Callable[[int], None]
# The sha256 under which a file name was published, if it was.
Published = Callable[[DistFile], Optional[str]]


@dataclass
class FileOutcome:
    file: DistFile
    status: str  # "downloaded", "present" or "failed"
    received: int = 0  # bytes that crossed the network for this file in this run
    error: str = ""


class _Attempt:
    """What one file's attempts share: the bytes received, the most ever held."""

    def __init__(self) -> None:
        self.received = 0
        self.best = 0


class Downloader:
    """Fetches DistFiles into a shelf (``files/``) with resume, verification and retries."""

    def __init__(
        self,
        transport: Transport,
        shelf: Shelf,
        max_file_size: int | None,
        min_free_space: int = 0,
        published: Published | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.transport = transport
        self.shelf = shelf
        self.max_file_size = max_file_size
        self.min_free_space = min_free_space
        self.published = published or (lambda _file: None)
        self.progress = progress or (lambda _n: None)
        self._verified: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._file_locks: dict[Path, threading.Lock] = {}

    def final_path(self, file: DistFile) -> Path:
        return self.shelf.file(file.project, file.filename)

    def is_present(self, file: DistFile) -> bool:
        """True when the verified file is already in place (hashing it once per run)."""
        path = self.final_path(file)
        with self._lock:
            known = self._verified.get(path)
        if known is None:
            try:
                known = sha256_file(path)
            except OSError:
                return False
            with self._lock:
                self._verified[path] = known
        return known == file.sha256

    def conflict(self, file: DistFile) -> str | None:
        """Why ``file`` must not be downloaded: its name was published with other bytes."""
        published = self.published(file)
        if published is None or published == file.sha256:
            return None
        return (f"{file.filename}: the upstream changed a published file (published sha256 "
                f"{published}, the index now says {file.sha256}); the published file stays. "
                "A release must get a new file name (or a build tag) to change")

    # -- one file ----------------------------------------------------------------------------
    def fetch(self, file: DistFile) -> FileOutcome:
        """Fetch one file; safe to call for the same file from several threads at once."""
        with self._lock:
            file_lock = self._file_locks.setdefault(self.final_path(file), threading.Lock())
        with file_lock:
            reason = self.conflict(file)
            if reason:
                return FileOutcome(file, "failed", 0, reason)
            if self.is_present(file):
                return FileOutcome(file, "present")
            tally = _Attempt()
            try:
                self.transport.retrying(file.filename, lambda: self._attempt(file, tally))
            except DownloadError as exc:
                return FileOutcome(file, "failed", tally.received, str(exc))
            except OSError as exc:  # the disk, not the upstream: no use retrying
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    # A partial on a full disk would only keep the index from being written.
                    self._discard(*self.shelf.partial_paths(file.project, file.filename))
                where = exc.filename or self.shelf.root
                return FileOutcome(file, "failed", tally.received,
                                   f"{file.filename}: cannot write {where}: {exc.strerror}")
            return FileOutcome(file, "downloaded", tally.received)

    def bytes_to_fetch(self, file: DistFile) -> int | None:
        """Bytes ``file`` still needs: its announced size (where the index announces none, what
        a HEAD request does) less what a partial download holds; None when no size is known."""
        total = file.size
        if total is None:
            total = self.transport.content_length(file.url, file.filename)
        if total is None:
            return None
        part, _ = self.shelf.partial_paths(file.project, file.filename)
        with contextlib.suppress(OSError):
            total -= min(total, part.stat().st_size)
        return total

    def limit(self, file: DistFile) -> int | None:
        """The most bytes this file may have: its announced size, else max_file_size."""
        return file.size if file.size is not None else self.max_file_size

    def _load_state(self, file: DistFile, part: Path, side: Path) -> dict | None:
        try:
            state = json.loads(side.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("sha256") != file.sha256:
            return None
        return state if part.is_file() else None

    def _discard(self, *paths: Path) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _attempt(self, file: DistFile, tally: _Attempt) -> None:
        """One HTTP exchange; returns when the file is published."""
        part, side = self.shelf.partial_paths(file.project, file.filename)
        part.parent.mkdir(parents=True, exist_ok=True)
        state = self._load_state(file, part, side)
        offset = part.stat().st_size if state else 0
        tally.best = max(tally.best, offset)
        limit = self.limit(file)
        if state and limit is not None and offset >= limit:
            # Complete (or over-long) partial from a run killed before the rename.
            if offset == limit and sha256_file(part) == file.sha256:
                self._publish(file, part, side)
                return
            offset = 0
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = state.get("etag") or state.get("last_modified")
            if validator:
                headers["If-Range"] = validator
        remaining = None if limit is None else limit - offset
        with self.transport.exchange(file.url, file.filename, headers, remaining) as exchange:
            self._receive(file, exchange, part, side, offset, limit, tally)

    def _receive(self, file: DistFile, exchange: Exchange, part: Path, side: Path,
                 offset: int, limit: int | None, tally: _Attempt) -> None:
        status = exchange.status
        if status == 429 or status >= 500:
            raise Transient(f"HTTP {status}")
        if status == 416:
            self._discard(part, side)
            raise Transient("HTTP 416 on resume; restarting from zero")
        if status == 206:
            start = _content_range_start(exchange.headers.get("Content-Range", ""))
            if start != offset:
                self._discard(part, side)
                raise Transient(f"server resumed at {start}, not {offset}; restarting from zero")
        elif status == 200:
            offset = 0  # the whole file: a server that ignores Range, or a changed file
            note = {
                "url": file.url,
                "sha256": file.sha256,
                "size": file.size,
                "etag": _strong_etag(exchange.headers.get("ETag")),
                "last_modified": exchange.headers.get("Last-Modified"),
            }
            atomic_write(side, json.dumps(note).encode())
        else:
            raise Refused(f"HTTP {status} from {exchange.url}")
        bound = ("the announced size" if limit == file.size else "max_file_size") + f" {limit}"
        digest = hashlib.sha256()
        if offset:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(block)
        position = offset
        since_check = 0
        with open(part, "ab" if offset else "wb", buffering=0) as handle:
            try:
                body_limit = None if limit is None else limit - offset
                for chunk in exchange.chunks(body_limit, file.filename, bound=bound):
                    handle.write(chunk)
                    digest.update(chunk)
                    tally.received += len(chunk)
                    position += len(chunk)
                    since_check += len(chunk)
                    self.progress(len(chunk))
                    if since_check >= FSYNC_EVERY:
                        os.fsync(handle.fileno())
                        since_check = 0
                        self._check_room(file)
            except Transient as exc:
                progressed = position > tally.best
                tally.best = max(tally.best, position)
                raise Transient(str(exc), progressed) from None
            except Refused:
                self._discard(part, side)  # bytes of something bigger than this file can be
                raise
            os.fsync(handle.fileno())
        if file.size is not None and position < file.size:
            progressed = position > tally.best
            tally.best = max(tally.best, position)
            raise Transient(f"transfer cut at byte {position} of {file.size}", progressed)
        if digest.hexdigest() != file.sha256:
            self._discard(part, side)
            tally.best = 0
            raise Transient(f"sha256 mismatch (got {digest.hexdigest()}, index says "
                            f"{file.sha256}); discarded")
        self._publish(file, part, side)

    def _check_room(self, file: DistFile) -> None:
        free = free_bytes(self.shelf.root)
        if free is not None and free < self.min_free_space:
            raise Refused(f"{file.filename}: only {free} bytes left on the disk of "
                          f"{self.shelf.root}, less than min_free_space ({self.min_free_space})")

    def _publish(self, file: DistFile, part: Path, side: Path) -> None:
        final = self.final_path(file)
        publish(part, final)
        self._discard(side)
        with self._lock:
            self._verified[final] = file.sha256


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    unit, _, rest = value.partition(" ")
    start, _, _ = rest.partition("-")
    return int(start) if unit == "bytes" and start.isdigit() else None


def _strong_etag(value: str | None) -> str | None:
    """If-Range accepts only strong validators (RFC 9110 13.1.5)."""
    if not value or value.startswith("W/"):
        return None
    return value
