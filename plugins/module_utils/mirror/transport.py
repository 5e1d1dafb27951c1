"""The engine's one HTTP layer: the session, bounds, redirect checks and the retry loop.

Index pages, metadata files, distributions and check-mode size probes all go through here, so
every request of every kind gets the same guarantees, whatever the upstream does (a captive
portal, a proxy that cuts or rewrites transfers, a server that never stops sending):

- Each redirect hop is checked (scheme http/https, host on the allow-list) before it is sent;
  at most ``MAX_REDIRECTS`` hops.
- A body never exceeds its byte bound (the caller's: an index page's cap, a file's announced
  size); a bigger ``Content-Length`` is refused before a byte is read. Bodies are read raw
  (``Accept-Encoding: identity``); a page that comes compressed anyway is inflated with the same
  bound, a compressed file is refused (its offsets would mean nothing to a resume).
- A request has an overall deadline, ``timeout + bound / MIN_RATE``, and is cut when no
  ``CHUNK`` of its body completes within ``timeout``: a watchdog thread shuts the socket down,
  because a read blocked on a server sending a byte now and then never times out by itself.
- ``retrying`` is the one retry loop: bounded in attempts that make no progress (``retries``),
  in attempts overall (``MAX_ATTEMPTS``), each attempt bounded in time, with jittered
  exponential backoff. What counts as progress is the caller's to say.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import random
import socket
import threading
import time
import zlib
from collections.abc import Collection, Iterator
from typing import BinaryIO, Callable, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error

from .errors import DownloadError

# Small reads: a SIGKILL loses at most one unwritten chunk per connection, and the watchdog
# sees progress at this granularity.
CHUNK = 16 * 1024
# Slower than this for a whole request is not a link worth waiting for (256 kbit/s).
MIN_RATE = 32 * 1024
MAX_REDIRECTS = 10
# Attempts per request whatever their progress: a server that cuts every transfer a little
# further on still ends in a failure.
MAX_ATTEMPTS = 64
BACKOFF_BASE = 0.2
BACKOFF_MAX = 10.0
REDIRECTS = (301, 302, 303, 307, 308)
WATCHDOG_TICK = 0.25
# What reading a body may raise in urllib3 1.26 (Debian 12, on the box) and 2.x: a cut, a
# timeout, a socket the watchdog shut down, a response already closed.
_READ_ERRORS = (Urllib3Error, http.client.HTTPException, OSError, ValueError)

T = TypeVar("T")


class Transient(Exception):
    """An attempt failed in a way another attempt may not (a cut, a 5xx, a timeout).

    ``progressed``: the attempt left more usable bytes than there were before it.
    """

    def __init__(self, message: str, progressed: bool = False) -> None:
        super().__init__(message)
        self.progressed = progressed


class Refused(Exception):
    """Another attempt would get the same answer (a 4xx, a foreign host, an oversized body)."""


def backoff_sleep(failures: int) -> None:
    """Exponential backoff with jitter, so parallel retries do not hit the upstream in step."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** failures))
    time.sleep(delay * random.uniform(0.5, 1.0))


# -- the watchdog ----------------------------------------------------------------------------
class _Watch:
    """One request in flight: its socket once known, its deadline, its last sign of life."""

    def __init__(self, deadline: float, idle: float) -> None:
        self.deadline = deadline
        self.idle = idle
        self.touched = time.monotonic()
        self.sock: socket.socket | None = None
        self.expired = ""  # why the watchdog cut it

    def touch(self) -> None:
        self.touched = time.monotonic()


class _Watchdog:
    """Shuts down the sockets of requests past their deadline or idle for too long."""

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.local = threading.local()  # the current thread's watch, for the connection hook

    def add(self, watch: _Watch) -> None:
        with self._lock:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-watchdog",
                                                daemon=True)
                self._thread.start()

    def discard(self, watch: _Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK)
            now = time.monotonic()
            with self._lock:
                due = [w for w in self._watches
                       if w.sock is not None and not w.expired
                       and (now > w.deadline or now - w.touched > w.idle)]
                for watch in due:
                    watch.expired = ("deadline passed" if now > watch.deadline
                                     else f"no data for {watch.idle:g} s")
            for watch in due:
                with contextlib.suppress(OSError):
                    watch.sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


class _WatchedConnection(HTTPConnection):
    """Hands its socket to the watchdog when a response is awaited (new or kept-alive)."""

    # urllib3 1.26 and 2.x both call this after sending a request on a connection.
    def getresponse(self, *args, **kwargs):
        watch = getattr(_WATCHDOG.local, "watch", None)
        if watch is not None:
            watch.sock = self.sock
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _Adapter(HTTPAdapter):
    """Every connection pool, direct or through an HTTP proxy, makes watched connections."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def make_session(concurrency: int, user_agent: str = "pypi-in-a-box-mirror") -> requests.Session:
    """One session per run: its pool keeps a connection per worker alive."""
    session = requests.Session()
    # Room for the resolver's workers and the download workers at once; retries are ours.
    adapter = _Adapter(pool_connections=4, pool_maxsize=2 * concurrency + 2, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    # Content-Encoding would make byte offsets meaningless for Range requests.
    session.headers["Accept-Encoding"] = "identity"
    return session


# -- one exchange ----------------------------------------------------------------------------
class Exchange:
    """A response whose status is not a redirect, with its bounds; read it with ``chunks``."""

    def __init__(self, response: requests.Response, watch: _Watch, url: str) -> None:
        self.response = response
        self.watch = watch
        self.url = url  # after redirects

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self):
        return self.response.headers

    def content_length(self) -> int | None:
        value = self.response.headers.get("Content-Length", "")
        return int(value) if value.isdigit() else None

    def chunks(self, limit: int | None, what: str, inflate: bool = False,
               bound: str = "") -> Iterator[bytes]:
        """The body in chunks of at most CHUNK bytes, never more than ``limit`` in all.

        ``bound`` names the limit in messages (default: "the <limit> bytes allowed").

        Raises Refused when the body is (announced or turns out) bigger than ``limit`` or comes
        in an encoding we do not read, and Transient when the transfer breaks or is cut.
        """
        encoding = self.response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity") and not (inflate and encoding in ("gzip", "deflate")):
            raise Refused(f"{what}: sent with Content-Encoding {encoding!r}, which is refused")
        bound = bound or f"the {limit} bytes allowed"
        announced = self.content_length() if encoding in ("", "identity") else None
        if limit is not None and announced is not None and announced > limit:
            raise Refused(f"{what}: upstream announces {announced} bytes, more than {bound}")
        inflater = None
        if encoding in ("gzip", "deflate"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else 0)
        # urllib3 2 would drop the bytes of a short last read; we check lengths ourselves.
        with contextlib.suppress(AttributeError):
            self.response.raw.enforce_content_length = False
        total = 0
        while True:
            try:
                raw = self.response.raw.read(CHUNK, decode_content=False)
            except _READ_ERRORS as exc:
                reason = self.watch.expired or _short(exc)
                raise Transient(f"{what}: transfer cut after {total} bytes: {reason}") from None
            if not raw:
                break
            self.watch.touch()
            for piece in _inflated(inflater, raw, limit, total, what) if inflater else (raw,):
                total += len(piece)
                if limit is not None and total > limit:
                    raise Refused(f"{what}: body is larger than {bound}")
                yield piece
        if self.watch.expired:
            raise Transient(f"{what}: cut after {total} bytes: {self.watch.expired}")
        if announced is not None and total < announced:
            raise Transient(f"{what}: transfer cut at byte {total} of {announced}")



def _inflated(inflater, data: bytes, limit: int | None, total: int, what: str) -> Iterator[bytes]:
    """A compressed page's bytes, inflated at most one byte past ``limit`` (a bomb stops)."""
    while data:
        room = CHUNK if limit is None else max(1, min(CHUNK, limit - total + 1))
        try:
            piece = inflater.decompress(data, room)
        except zlib.error as exc:
            raise Refused(f"{what}: bad compressed data: {exc}") from None
        total += len(piece)
        yield piece
        data = inflater.unconsumed_tail


class Transport:
    """Requests to the upstream for one run; ``allowed_hosts`` are the only hosts it talks to."""

    def __init__(self, session: requests.Session, allowed_hosts: Collection[str],
                 timeout: float, retries: int) -> None:
        self.session = session
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.timeout = float(timeout)
        self.retries = int(retries)

    def check_url(self, url: str, what: str) -> str:
        """Raise Refused unless ``url`` may be requested at all (before it is sent)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError as exc:
            raise Refused(f"{what}: bad URL {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise Refused(f"{what}: URL scheme {parts.scheme!r} refused ({url})")
        if host not in self.allowed_hosts:
            raise Refused(
                f"{what}: {url} is on host {host!r}, which is not an allowed host "
                f"({', '.join(sorted(self.allowed_hosts))}); add it to allowed_hosts if it is "
                "legitimate (a captive portal or a proxy's login page is not)"
            )
        return url

    @contextlib.contextmanager
    def exchange(self, url: str, what: str, headers: dict | None = None,
                 limit: int | None = None, method: str = "GET") -> Iterator[Exchange]:
        """One request, redirects followed hop by hop after each hop is checked.

        Raises Refused or Transient; the response is closed when the block ends.
        """
        deadline = time.monotonic() + self.timeout + (limit or 0) / MIN_RATE
        watch = _Watch(deadline, idle=self.timeout)
        _WATCHDOG.add(watch)
        response = None
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                self.check_url(url, what)
                response = self._send(method, url, headers, watch, what)
                if response.status_code not in REDIRECTS:
                    break
                location = response.headers.get("Location")
                response.close()
                response = None
                if not location:
                    raise Refused(f"{what}: redirect without a Location from {url}")
                url = urljoin(url, location)
            else:
                raise Refused(f"{what}: more than {MAX_REDIRECTS} redirects")
            yield Exchange(response, watch, url)
        finally:
            if response is not None:
                response.close()
            _WATCHDOG.discard(watch)

    def _send(self, method: str, url: str, headers: dict | None, watch: _Watch,
              what: str) -> requests.Response:
        _WATCHDOG.local.watch = watch
        try:
            response = self.session.request(method, url, headers=headers, stream=True,
                                            allow_redirects=False,
                                            timeout=(self.timeout, self.timeout))
            watch.touch()  # the headers are a sign of life: the body gets its own idle time
            return response
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"{what}: {watch.expired or _short(exc)}") from None
        except (requests.RequestException, ValueError) as exc:
            # Invalid URL, schema or header: the same request would fail the same way.
            raise Refused(f"{what}: {_short(exc)}") from None
        finally:
            _WATCHDOG.local.watch = None

    def retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it returns; raise DownloadError when retries run out.

        An attempt raising Transient without progress counts against ``retries``; one with
        progress resets that count (a resumed download got further). MAX_ATTEMPTS bounds both.
        """
        failures = 0
        for attempts in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except Refused as exc:
                raise DownloadError(str(exc)) from None
            except Transient as exc:
                failures = 0 if exc.progressed else failures + 1
                if failures > self.retries or attempts == MAX_ATTEMPTS:
                    raise DownloadError(
                        f"{what}: gave up after {_plural(attempts, 'attempt')}: {exc}"
                    ) from None
            if failures:
                backoff_sleep(failures - 1)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- whole bodies: pages, metadata, check mode's look into a file ------------------------
    def fetch(self, url: str, what: str, limit: int | None, sink: BinaryIO,
              accept: str | None = None, missing_ok: bool = False, sha256: str | None = None,
              inflate: bool = False) -> Exchange | None:
        """GET a body into ``sink`` (from its start, again on each attempt), with retries.

        None for a 404/410 when ``missing_ok``. With ``sha256`` a body that does not match is
        fetched again (and in the end refused). ``inflate``: accept a gzip/deflate body (index
        pages); never for anything a hash vouches for. The returned exchange is for its headers
        and final URL only: the connection is already released.
        """
        headers = {"Accept": accept} if accept else None

        def attempt():
            sink.seek(0)
            sink.truncate()
            with self.exchange(url, what, headers, limit) as exchange:
                status = exchange.status
                if status in (404, 410) and missing_ok:
                    return None
                if status == 429 or status >= 500:
                    raise Transient(f"{what}: HTTP {status}")
                if status != 200:
                    raise Refused(f"{what}: HTTP {status} from {exchange.url}")
                digest = hashlib.sha256()
                for chunk in exchange.chunks(limit, what, inflate=inflate):
                    sink.write(chunk)
                    digest.update(chunk)
                if sha256 and digest.hexdigest() != sha256:
                    raise Transient(f"{what}: sha256 mismatch (got {digest.hexdigest()}, "
                                    f"expected {sha256})")
                return exchange

        return self.retrying(what, attempt)

    def read(self, url: str, what: str, limit: int, accept: str | None = None,
             missing_ok: bool = False, sha256: str | None = None, inflate: bool = False,
             ) -> tuple[bytes, Exchange] | None:
        """``fetch`` into memory: (body, exchange), or None for a 404 when ``missing_ok``."""
        sink = io.BytesIO()
        exchange = self.fetch(url, what, limit, sink, accept, missing_ok, sha256, inflate)
        return None if exchange is None else (sink.getvalue(), exchange)

    def content_length(self, url: str, what: str) -> int | None:
        """The size a HEAD request announces (check mode, for indexes that give none)."""
        try:
            with self.exchange(url, what, method="HEAD") as exchange:
                if exchange.status == 200:
                    return exchange.content_length()
        except (Refused, Transient):
            pass
        return None


def _short(exc: BaseException) -> str:
    """requests' messages nest the whole urllib3 chain; the innermost reason is what matters
    ("[Errno 111] Connection refused", "Read timed out.")."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException) and exc.args and isinstance(exc.args[0],
                                                                           BaseException):
            inner = exc.args[0]
        if not isinstance(inner, BaseException):
            break
        exc = inner
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Failed to resolve "):
        if marker in text:
            text = marker.strip(": ") + ": " + text.split(marker, 1)[1].rstrip("\"')")
    return text if len(text) <= 300 else text[:297] + "..."


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
