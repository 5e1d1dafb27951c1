"""The downloader: parallel, resumable at the byte level, verified before anything is visible.

A file travels ``.partial/<project>/<filename>.part`` -> sha256 check -> fsync -> rename into
``files/<project>/<filename>``. Beside the partial, a small JSON sidecar remembers which URL,
hash and HTTP validators (ETag / Last-Modified) its bytes came from, so a later attempt (after a
cut connection, a SIGKILL or a power cut) continues with ``Range`` + ``If-Range``: if the
upstream file changed meanwhile the server answers 200 with the whole new file and we start
over instead of splicing two different files together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .errors import DownloadError
from .fsutil import atomic_write, publish, sha256_file
from .upstream import DistFile

# Small reads: a SIGKILL loses at most one unwritten chunk per connection.
CHUNK = 16 * 1024
FSYNC_EVERY = 8 * 1024 * 1024  # bound what a power cut can lose of a big partial
BACKOFF_BASE = 0.2
BACKOFF_MAX = 10.0

Progress = Callable[[int], None]


def backoff_sleep(attempt: int) -> None:
    """Exponential backoff with jitter, so parallel retries do not hit the upstream in step."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** attempt))
    time.sleep(delay * random.uniform(0.5, 1.0))


def make_session(concurrency: int, user_agent: str = "pypi-in-a-box-mirror") -> requests.Session:
    """One session for the whole run: its pool keeps a connection per worker alive."""
    session = requests.Session()
    # Room for the resolver's workers and the download workers at once.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=2 * concurrency + 2, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    # Content-Encoding would make byte offsets meaningless for Range requests.
    session.headers["Accept-Encoding"] = "identity"
    return session


class _AttemptFailed(Exception):
    """One attempt went wrong after ``received`` bytes had crossed the network."""

    def __init__(self, message: str, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


class _Retryable(_AttemptFailed):
    """Worth another attempt; ``progressed`` when this one got bytes we keep."""

    def __init__(self, message: str, progressed: bool, received: int = 0) -> None:
        super().__init__(message, received)
        self.progressed = progressed


class _Permanent(_AttemptFailed):
    """Another attempt would get the same answer (4xx, oversized body, foreign host)."""


@dataclass
class FileOutcome:
    file: DistFile
    status: str  # "downloaded", "present" or "failed"
    received: int = 0  # bytes that crossed the network for this file in this run
    error: str = ""


class Downloader:
    """Fetches DistFiles into ``<dest>/files/`` with resume, verification and retries."""

    def __init__(
        self,
        session: requests.Session,
        dest: Path,
        timeout: float = 30.0,
        retries: int = 5,
        max_file_size: int | None = None,
        progress: Progress | None = None,
        allowed_hosts: Collection[str] | None = None,
    ) -> None:
        self.session = session
        self.dest = Path(dest)
        self.timeout = timeout
        self.retries = retries
        self.max_file_size = max_file_size
        self.progress = progress or (lambda _n: None)
        # Hosts a redirect may lead to (the index client's allow-list); None allows any.
        self.allowed_hosts = set(allowed_hosts) if allowed_hosts is not None else None
        self._verified: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._file_locks: dict[Path, threading.Lock] = {}

    # -- paths -------------------------------------------------------------------------------
    def final_path(self, file: DistFile) -> Path:
        return self.dest / "files" / file.project / file.filename

    def _partial_paths(self, file: DistFile):
        base = self.dest / ".partial" / file.project
        return base / (file.filename + ".part"), base / (file.filename + ".json")

    def is_present(self, file: DistFile) -> bool:
        """True when the verified file is already in place (hashing it once per run)."""
        path = self.final_path(file)
        with self._lock:
            known = self._verified.get(path)
        if known is None:
            if not path.is_file():
                return False
            known = sha256_file(path)
            with self._lock:
                self._verified[path] = known
        return known == file.sha256

    # -- one file ----------------------------------------------------------------------------
    def fetch(self, file: DistFile) -> FileOutcome:
        """Fetch one file; safe to call for the same file from several threads at once."""
        with self._lock:
            file_lock = self._file_locks.setdefault(self.final_path(file), threading.Lock())
        with file_lock:
            return self._fetch(file)

    def _fetch(self, file: DistFile) -> FileOutcome:
        if self.is_present(file):
            return FileOutcome(file, "present")
        received = 0
        failures = 0
        while True:
            try:
                received += self._attempt(file)
                return FileOutcome(file, "downloaded", received)
            except _Retryable as exc:
                received += exc.received
                # A drop after progress is not a failure of the link as a whole: resume at once
                # and count only attempts that got nowhere.
                failures = 0 if exc.progressed else failures + 1
                if failures > self.retries:
                    return FileOutcome(
                        file, "failed", received,
                        f"{file.filename}: gave up after {self.retries + 1} attempts: {exc}",
                    )
                if failures:
                    backoff_sleep(failures - 1)
            except _Permanent as exc:
                return FileOutcome(file, "failed", received + exc.received,
                                   f"{file.filename}: {exc}")

    def _limit(self, file: DistFile) -> int | None:
        limits = [x for x in (file.size, self.max_file_size) if x is not None]
        return min(limits) if limits else None

    def _load_state(self, file: DistFile, part: Path, side: Path) -> dict | None:
        try:
            state = json.loads(side.read_text())
        except (OSError, ValueError):
            return None
        if state.get("sha256") != file.sha256 or not part.is_file():
            return None
        return state

    def _attempt(self, file: DistFile) -> int:
        """One HTTP exchange; returns bytes received when the file is published."""
        part, side = self._partial_paths(file)
        part.parent.mkdir(parents=True, exist_ok=True)
        state = self._load_state(file, part, side)
        offset = part.stat().st_size if state else 0
        validator = (state or {}).get("etag") or (state or {}).get("last_modified")
        limit = self._limit(file)
        if state and limit is not None and offset >= limit:
            # Complete (or over-long) partial from a run killed before the rename.
            if offset == limit and sha256_file(part) == file.sha256:
                self._publish(file, part, side)
                return 0
            offset = 0
        if offset and not validator:
            offset = 0  # without a validator a resumed body could belong to another file
        headers = {}
        if offset:
            headers = {"Range": f"bytes={offset}-", "If-Range": validator}
        try:
            response = self.session.get(file.url, headers=headers, stream=True,
                                        timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(f"connection failed: {exc}", False) from None
        # urllib3 2 would drop the bytes of a short last read with IncompleteRead; we check the
        # length ourselves, so keep every byte that arrived and resume right after it.
        with contextlib.suppress(AttributeError):
            response.raw.enforce_content_length = False
        with contextlib.closing(response):
            return self._receive(file, response, part, side, offset, limit)

    def _receive(self, file, response, part, side, offset, limit) -> int:
        status = response.status_code
        host = (urlsplit(response.url).hostname or "").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            raise _Permanent(f"redirected to {host!r}, which is not an allowed host")
        if status in (429,) or status >= 500:
            raise _Retryable(f"HTTP {status}", False)
        if status == 416:
            for path in (part, side):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise _Retryable("HTTP 416 on resume; restarting from zero", False)
        if status == 206:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                raise _Retryable(f"server resumed at {start}, not {offset}; restarting", False)
        elif status == 200:
            offset = 0
            state = {
                "url": file.url,
                "sha256": file.sha256,
                "size": file.size,
                "etag": _strong_etag(response.headers.get("ETag")),
                "last_modified": response.headers.get("Last-Modified"),
            }
            atomic_write(side, json.dumps(state).encode())
        else:
            raise _Permanent(f"HTTP {status} from {file.url}")
        length = response.headers.get("Content-Length")
        expected_end = offset + int(length) if length and length.isdigit() else None
        if limit is not None and expected_end is not None and expected_end > limit:
            raise _Permanent(
                f"upstream announces {expected_end} bytes, more than the "
                f"{'announced size' if limit == file.size else 'max_file_size'} {limit}"
            )
        digest = hashlib.sha256()
        if offset:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(block)
        received = 0
        position = offset
        since_sync = 0
        with open(part, "ab" if offset else "wb", buffering=0) as handle:
            try:
                for chunk in response.iter_content(CHUNK):
                    if not chunk:
                        continue
                    if limit is not None and position + len(chunk) > limit:
                        raise _Permanent(
                            f"body is larger than the announced/allowed {limit} bytes",
                            received + len(chunk),
                        )
                    handle.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    position += len(chunk)
                    since_sync += len(chunk)
                    self.progress(len(chunk))
                    if since_sync >= FSYNC_EVERY:
                        os.fsync(handle.fileno())
                        since_sync = 0
            except _Permanent:
                raise
            except (requests.RequestException, OSError) as exc:
                raise _Retryable(f"transfer cut at byte {position}: {exc}", received > 0,
                                 received) from None
            os.fsync(handle.fileno())
        short = (expected_end is not None and position < expected_end) or (
            file.size is not None and position < file.size
        )
        if short:
            raise _Retryable(f"transfer cut at byte {position}", received > 0, received)
        if digest.hexdigest() != file.sha256:
            for path in (part, side):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise _Retryable(
                f"sha256 mismatch (got {digest.hexdigest()}, index says {file.sha256}); "
                "discarded", False, received,
            )
        self._publish(file, part, side)
        return received

    def _publish(self, file: DistFile, part: Path, side: Path) -> None:
        final = self.final_path(file)
        publish(part, final)
        with contextlib.suppress(FileNotFoundError):
            side.unlink()
        with self._lock:
            self._verified[final] = file.sha256

    # -- small things (metadata files, check-mode peeks) ---------------------------------------
    def fetch_bytes(self, url: str, sha256: str | None, limit: int | None) -> bytes:
        failures = 0
        while True:
            try:
                response = self.session.get(url, timeout=self.timeout, stream=True)
                with contextlib.closing(response):
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _Retryable(f"HTTP {response.status_code}", False)
                    if response.status_code != 200:
                        raise DownloadError(f"{url}: HTTP {response.status_code}")
                    body = bytearray()
                    for chunk in response.iter_content(CHUNK):
                        body.extend(chunk)
                        if limit is not None and len(body) > limit:
                            raise DownloadError(f"{url}: larger than {limit} bytes")
                    length = response.headers.get("Content-Length")
                    if length and length.isdigit() and len(body) < int(length):
                        raise _Retryable("transfer cut", False)
                data = bytes(body)
                if sha256 and hashlib.sha256(data).hexdigest() != sha256:
                    raise _Retryable(f"{url}: sha256 mismatch", False)
                return data
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError, _Retryable) as exc:
                failures += 1
                if failures > self.retries:
                    message = f"{url}: gave up after {failures} attempts: {exc}"
                    raise DownloadError(message) from None
                backoff_sleep(failures - 1)

    def content_length(self, url: str) -> int | None:
        """Size of a file whose index did not announce one (HTML pages), for check mode."""
        try:
            response = self.session.head(url, timeout=self.timeout, allow_redirects=True)
        except requests.RequestException:
            return None
        length = response.headers.get("Content-Length", "")
        return int(length) if response.status_code == 200 and length.isdigit() else None


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
