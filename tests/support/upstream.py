"""A real, local, PyPI-like index over a directory of distributions: the one test upstream.

Tests use it in-process (``with Upstream(dir) as up``); benchmarks and Molecule scenarios run it
as a program (``python tests/support/upstream.py DIR [--port N]`` prints ``port N``, then
serves until killed). It serves what installers and mirrors rely on:

- ``/simple/`` and ``/simple/<project>/``: PEP 691 JSON (api-version 1.1) when the Accept header
  asks for it, else PEP 503 HTML (sha256 fragments, ``data-requires-python`` read from each
  file's own metadata, ``data-core-metadata``, ``data-yanked``); links are relative;
- ``/files/<project>/<file>``: the file, with ETag (its sha256), Last-Modified, Range and
  If-Range like a CDN (a resume of a changed file gets the whole new file, never a splice),
  and ``<file>.metadata`` (PEP 658) for wheels;
- ``/static/<path>``: any other file a test puts in ``static`` (a list of Python builds and the
  builds), served like the distributions, faults included (keyed by ``<path>``);
- ``/_stats``: counters (requests, file body bytes, other bytes, range requests), so that a
  benchmark behind a weak link can tell payload from overhead;
- cache headers copied from PyPI (pages ``max-age=600``, files immutable).

It misbehaves on request, in two ways:

- ``faults``: one-shot faults queued per file or page (cut after N bytes, 5xx, slow, corrupt
  bytes, a change of the file mid-download, a redirect), consumed one per request;
- routes: the same index under ``/~<behaviour>[,<behaviour>...]/simple/`` behaves badly for
  every request made there (``url_for``): a captive portal's login page, an endless or
  dripping page, files without validators, a server that ignores Range, every transfer cut,
  no sizes announced, endless file bodies. The relative links of its pages stay on the route.

Every request is logged (``requests``) and every file body byte counted (``served``).
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import hashlib
import html
import io
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

if __name__ == "__main__":  # run as a program: make the collection importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import metadata as md
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import MetadataError
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
# What every route may ask for; see _Handler for what each does.
BEHAVIOURS = frozenset({
    "portal",         # every URL: 200 and a hotel Wi-Fi login page
    "endless-page",   # project pages never end (fast)
    "drip-page",      # project pages never end, one byte every 0.1 s
    "huge-page",      # project pages announce a Content-Length of 1 GiB
    "gzip-page",      # project pages gzip-compressed whatever the client accepts
    "no-validators",  # files without ETag and Last-Modified
    "ignore-range",   # files always whole (200), whatever Range asks
    "no-size",        # pages announce no file sizes
    "endless-files",  # file bodies without Content-Length that never end
    "cut",            # every file body cut after cut_after bytes
})
LOGIN_PAGE = b"""<!DOCTYPE html>
<html><head><title>Grand Hotel Wi-Fi - Sign in</title></head>
<body><h1>Welcome! Sign in to use the Internet</h1>
<form action="/login" method="post"><input name="room"><input type="submit"></form>
<a href="/terms.html">Terms of use</a> <a href="/help.html">Help</a>
</body></html>
"""


def project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


@dataclass
class _Announced:
    """What the index says of a file: computed once from the bytes it announces."""

    source: bytes | Path
    sha256: str
    size: int
    metadata: bytes | None
    requires_python: str | None


def _describe(source: bytes | Path, filename: str) -> _Announced:
    digest = hashlib.sha256()
    if isinstance(source, Path):
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        size = source.stat().st_size
    else:
        digest.update(source)
        size = len(source)
    try:
        meta = (md.wheel_metadata(source) if filename.endswith(".whl")
                else md.sdist_metadata(source))
    except MetadataError:
        meta = None
    requires = None
    if meta:
        value = email.parser.BytesParser().parsebytes(meta, headersonly=True)["Requires-Python"]
        requires = str(value) if value else None
    return _Announced(source, digest.hexdigest(), size, meta, requires)


class _Content:
    """filename -> the bytes served: a file on disk (read on demand, streamed when served) or
    bytes a test put in its place."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self.overrides: dict[str, bytes] = {}

    def source(self, filename: str) -> bytes | Path:
        return self.overrides[filename] if filename in self.overrides else self.paths[filename]

    def __getitem__(self, filename: str) -> bytes:
        source = self.source(filename)
        return source if isinstance(source, bytes) else source.read_bytes()

    def __setitem__(self, filename: str, data: bytes) -> None:
        self.overrides[filename] = data

    def __contains__(self, filename: object) -> bool:
        return filename in self.overrides or filename in self.paths

    def __iter__(self):
        return iter(sorted(set(self.overrides) | set(self.paths)))


class Upstream:
    """Start with ``with Upstream(dir) as up:``; ``up.index_url`` is the simple index URL."""

    def __init__(
        self,
        files_dir: Path | None,
        *,
        json_api: bool = True,
        metadata: bool = True,
        no_metadata_projects=(),
        rate: float | None = None,
        chunk: int = 16 * 1024,
        port: int = 0,
        host: str = "127.0.0.1",
        cut_after: int = 300_000,
    ) -> None:
        paths = {}
        for path in sorted(Path(files_dir).iterdir()) if files_dir else []:
            if path.name.endswith(DIST_SUFFIXES) and not path.name.startswith("."):
                paths[path.name] = path
        self.content = _Content(paths)  # what is served
        self._announced: dict[str, _Announced] = {}  # what the index says, once computed
        self.metadata_override: dict[str, bytes] = {}  # a metadata file that is not the wheel's
        self.mtime: dict[str, float] = defaultdict(lambda: 1_700_000_000.0)
        self.json_api = json_api
        self.metadata = metadata
        self.no_metadata_projects = {canonicalize_name(p) for p in no_metadata_projects}
        self.host, self.port = host, port  # port 0: any free port
        self.rate = rate  # bytes per second per response, None = as fast as possible
        self.chunk = chunk
        self.cut_after = cut_after  # for the "cut" behaviour
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.extra_entries: dict[str, list[dict]] = defaultdict(list)
        self.static: dict[str, bytes] = {}  # /static/<path> -> its bytes
        self.yanked: dict[str, str] = {}  # filename -> reason (PEP 592)
        self.served: Counter = Counter()  # filename -> body bytes sent
        self.stats = {"requests": 0, "file_body_bytes": 0, "overhead_bytes": 0,
                      "range_requests": 0}
        self.requests: list[dict] = []
        self.down = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> Upstream:
        handler = type("Handler", (_Handler,), {"upstream": self})
        self._server = _Server((self.host, self.port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def index_url(self) -> str:
        return self.base_url + "/simple/"

    def url_for(self, *behaviours: str) -> str:
        """The index URL of a route where every request gets ``behaviours``."""
        unknown = set(behaviours) - BEHAVIOURS
        assert not unknown, f"unknown behaviours {unknown}"
        return f"{self.base_url}/~{','.join(behaviours)}/simple/"

    def add_file(self, filename: str, data: bytes) -> None:
        """Serve (and announce) one more distribution."""
        with self._lock:
            self.content[filename] = data
            self._announced.pop(filename, None)

    def replace(self, filename: str, data: bytes, announce: bool = True) -> None:
        """Change a file's bytes (and, by default, what the index announces for it)."""
        with self._lock:
            if not announce:
                self.announced(filename)  # keep announcing what it was
            self.content[filename] = data
            self.mtime[filename] += 1000
            if announce:
                self._announced.pop(filename, None)

    def add_entry(self, project: str, **entry) -> None:
        """Announce an extra (typically hostile) file entry on a project's page."""
        self.extra_entries[canonicalize_name(project)].append(entry)

    def total_bytes(self, filenames=None) -> int:
        names = list(self.content) if filenames is None else filenames
        return sum(self.announced(n).size for n in names)

    def requests_for(self, filename: str) -> list[dict]:
        suffix = "/" + quote(filename)
        return [r for r in self.requests if urlsplit(r["path"]).path.endswith(suffix)]

    # -- content ----------------------------------------------------------------------------
    def announced(self, filename: str) -> _Announced:
        found = self._announced.get(filename)
        if found is None:
            found = _describe(self.content.source(filename), filename)
            self._announced[filename] = found
        return found

    def projects(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = defaultdict(list)
        for filename in self.content:
            result[project_of(filename)].append(filename)
        return result

    def core_metadata(self, filename: str) -> bytes | None:
        if filename in self.metadata_override:
            return self.metadata_override[filename]
        return self.announced(filename).metadata

    def offers_metadata(self, filename: str) -> bool:
        return (self.metadata and filename.endswith(".whl")
                and project_of(filename) not in self.no_metadata_projects)

    def file_entries(self, project: str, sizes: bool = True) -> list[dict]:
        entries = []
        for filename in sorted(self.projects().get(project, [])):
            info = self.announced(filename)
            entry = {
                "filename": filename,
                "url": f"../../files/{project}/{quote(filename)}",
                "hashes": {"sha256": info.sha256},
                "requires-python": info.requires_python,
                "yanked": self.yanked.get(filename, False),
            }
            if sizes:
                entry["size"] = info.size
            if self.offers_metadata(filename):
                digest = hashlib.sha256(self.core_metadata(filename) or b"").hexdigest()
                entry["core-metadata"] = {"sha256": digest}
            entries.append(entry)
        return entries + list(self.extra_entries.get(project, []))

    def render_json(self, project: str, sizes: bool = True) -> bytes:
        versions = sorted({str(version_of(f)) for f in self.projects().get(project, [])})
        data = {"meta": {"api-version": "1.1"}, "name": project,
                "files": self.file_entries(project, sizes), "versions": versions}
        return json.dumps(data).encode()

    def render_html(self, project: str) -> bytes:
        lines = ["<!DOCTYPE html>", "<html><head>",
                 '<meta name="pypi:repository-version" content="1.1">',
                 f"<title>Links for {html.escape(project)}</title></head><body>"]
        for entry in self.file_entries(project):
            href = entry["url"]
            if entry.get("hashes", {}).get("sha256"):
                href += "#sha256=" + entry["hashes"]["sha256"]
            attrs = f'href="{html.escape(href)}"'
            if entry.get("requires-python"):
                attrs += f' data-requires-python="{html.escape(entry["requires-python"])}"'
            if entry.get("yanked") is not False:
                attrs += f' data-yanked="{html.escape(entry["yanked"])}"'
            if entry.get("core-metadata"):
                value = f"sha256={entry['core-metadata']['sha256']}"
                attrs += f' data-core-metadata="{value}" data-dist-info-metadata="{value}"'
            lines.append(f"<a {attrs}>{html.escape(entry['filename'])}</a><br>")
        lines.append("</body></html>")
        return "\n".join(lines).encode()


def version_of(filename: str):
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)[1]
    return parse_sdist_filename(filename)[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients at once (a mirror's pool, a room of pip clients), as a CDN accepts them.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # Cut connections are what these tests and benchmarks do on purpose.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _count(self, key: str, n: int, filename: str | None = None) -> None:
        with self.upstream._lock:
            self.upstream.stats[key] += n
            if filename:
                self.upstream.served[filename] += n

    def _send(self, status: int, body: bytes, content_type: str, extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self._count("overhead_bytes", len(body))

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; that is its right

    def _take_fault(self, key: str) -> str | None:
        with self.upstream._lock:
            queue = self.upstream.faults.get(key)
            return queue.pop(0) if queue else None

    def _get(self) -> None:
        up = self.upstream
        path = unquote(urlsplit(self.path).path)
        record = {"path": self.path, "range": self.headers.get("Range"),
                  "if_range": self.headers.get("If-Range"), "status": None}
        with up._lock:
            up.requests.append(record)
            up.stats["requests"] += 1
        if up.down:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        parts = [p for p in path.split("/") if p]
        behaviours: set[str] = set()
        if parts and parts[0].startswith("~"):
            behaviours = set(parts.pop(0)[1:].split(","))
        if "portal" in behaviours:
            record["status"] = 200
            return self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        wants_json = up.json_api and JSON_TYPE in self.headers.get("Accept", "")
        page_headers = {"Cache-Control": "max-age=600, public", "Vary": "Accept"}
        if path == "/_stats":
            with up._lock:
                body = json.dumps(up.stats).encode()
            return self._send(200, body, "application/json")
        if parts == ["simple"]:
            names = sorted(up.projects())
            record["status"] = 200
            if wants_json:
                body = json.dumps({"meta": {"api-version": "1.1"},
                                   "projects": [{"name": n} for n in names]}).encode()
                return self._send(200, body, JSON_TYPE, page_headers)
            body = "".join(f'<a href="{n}/">{n}</a>\n' for n in names).encode()
            return self._send(200, body, "text/html", page_headers)
        if len(parts) == 2 and parts[0] == "simple":
            return self._project_page(parts[1], record, behaviours, wants_json, page_headers)
        if len(parts) > 1 and parts[0] == "static" and "/".join(parts[1:]) in up.static:
            return self._serve_file("/".join(parts[1:]), record, behaviours)
        if len(parts) == 3 and parts[0] == "files":
            filename = parts[2]
            target = self._take_fault("redirect:" + filename)
            if target:
                record["status"] = 302
                return self._send(302, b"", "text/plain", {"Location": target})
            if filename.endswith(".metadata") and filename[:-9] in up.content:
                return self._metadata(filename[:-9], record)
            if filename in up.content:
                return self._serve_file(filename, record, behaviours)
        record["status"] = 404
        self._send(404, b"not found", "text/plain")

    def _project_page(self, name: str, record: dict, behaviours: set[str], wants_json: bool,
                      headers: dict) -> None:
        up = self.upstream
        project = canonicalize_name(name)
        if project != name:
            record["status"] = 301
            return self._send(301, b"", "text/plain", {"Location": f"../{project}/"})
        target = self._take_fault("redirect-page:" + project)
        if target:
            record["status"] = 302
            return self._send(302, b"", "text/plain", {"Location": target})
        if project not in up.projects() and project not in up.extra_entries:
            record["status"] = 404
            return self._send(404, b"not found", "text/plain")
        fault = self._take_fault("page:" + project) or ""
        if fault.startswith("5"):
            record["status"] = int(fault)
            return self._send(int(fault), b"oops", "text/plain")
        record["status"] = 200
        if behaviours & {"endless-page", "drip-page"} or fault in ("endless", "drip"):
            return self._endless_page("drip-page" in behaviours or fault == "drip")
        if wants_json:
            body, content_type = up.render_json(project, "no-size" not in behaviours), JSON_TYPE
        else:
            body, content_type = up.render_html(project), "text/html; charset=utf-8"
        if "huge-page" in behaviours:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return None
        if "gzip-page" in behaviours:
            import gzip

            body = gzip.compress(body)
            headers = dict(headers, **{"Content-Encoding": "gzip"})
        return self._send(200, body, content_type, headers)

    def _endless_page(self, drip: bool) -> None:
        """An HTML page that never ends: no Content-Length, the connection closes it."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.close_connection = True
        line = b'<a href="../../files/x/not-a-dist.txt">junk</a><br>\n' * 200
        while True:
            if drip:
                self.wfile.write(b"<")
                self.wfile.flush()
                time.sleep(0.1)
            else:
                self.wfile.write(line)

    def _metadata(self, filename: str, record: dict) -> None:
        up = self.upstream
        data = up.core_metadata(filename)
        broken = self._take_fault(filename + ".metadata") == "404"
        if broken or not up.offers_metadata(filename) or data is None:
            record["status"] = 404
            return self._send(404, b"", "text/plain")
        record["status"] = 200
        return self._send(200, data, "text/plain",
                          {"Cache-Control": "max-age=31536000, immutable"})

    def _serve_file(self, filename: str, record: dict, behaviours: set[str]) -> None:
        up = self.upstream
        with up._lock:
            source = up.static.get(filename) or up.content.source(filename)
            mtime = up.mtime[filename]
            sha256 = (hashlib.sha256(source).hexdigest() if isinstance(source, bytes)
                      else up.announced(filename).sha256)
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        validators = {} if "no-validators" in behaviours else {
            "ETag": f'"{sha256}"', "Last-Modified": formatdate(mtime, usegmt=True)}
        fault = self._take_fault(filename) or ""
        if fault[:1] == "5":
            record["status"] = int(fault)
            return self._send(int(fault), b"server error", "text/plain")
        if fault == "corrupt":
            data = source if isinstance(source, bytes) else source.read_bytes()
            source = data[:-1] + bytes([data[-1] ^ 0xFF])
        if fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range") or ""
        if range_header.startswith("bytes=") and "ignore-range" not in behaviours:
            first, _, last = range_header[6:].partition("-")
            if_range = self.headers.get("If-Range")
            if (if_range is None or if_range in validators.values()) and first.isdigit() \
                    and "," not in range_header and (last == "" or last.isdigit()):
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
                status = 206
            if status == 206 and start >= size:
                record["status"] = 416
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
        endless = "endless-files" in behaviours
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if endless:
            self.close_connection = True  # the end of the body is the end of the connection
        else:
            self.send_header("Content-Length", str(end + 1 - start))
        for key, value in validators.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "max-age=31536000, immutable")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self._count("range_requests", 1)
        self.end_headers()
        record["status"] = status
        if self.command == "HEAD":
            return None
        # "cut:N" drops the connection after N body bytes; "cutswap:N" also replaces the file
        # by what the index announces right after (an upstream that changed mid-download).
        cut_after = None
        if fault.startswith(("cut:", "cutswap:")):
            cut_after = int(fault.split(":", 1)[1])
        elif "cut" in behaviours:
            cut_after = up.cut_after
        with (contextlib.nullcontext(io.BytesIO(source)) if isinstance(source, bytes)
              else open(source, "rb")) as reader:
            reader.seek(start)
            left = None if endless else end + 1 - start
            self._stream(filename, reader, left, cut_after)
        if fault.startswith("cutswap:"):
            with up._lock:
                up.content[filename] = _bytes(up.announced(filename).source)
                up.mtime[filename] += 1000
        return None

    def _stream(self, filename: str, reader, left: int | None, cut_after: int | None) -> None:
        """Send ``left`` bytes of ``reader`` (None: all of it, then zeros for ever), cut after
        ``cut_after`` bytes if given."""
        up = self.upstream
        sent = 0
        try:
            while left is None or sent < left:
                want = up.chunk if left is None else min(up.chunk, left - sent)
                piece = reader.read(want) or (b"\0" * want if left is None else b"")
                if not piece:
                    break
                if cut_after is not None and sent + len(piece) > cut_after:
                    piece = piece[: max(0, cut_after - sent)]
                    self.wfile.write(piece)
                    self._count("file_body_bytes", len(piece), filename)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(piece)
                self._count("file_body_bytes", len(piece), filename)
                sent += len(piece)
                if up.rate:
                    time.sleep(len(piece) / up.rate)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _bytes(source: bytes | Path) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Serve a directory of distributions as a PyPI-like index (prints 'port N').")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cut-after", type=int, default=300_000, metavar="BYTES",
                        help="where the /~cut/ route cuts every file body (%(default)s)")
    opts = parser.parse_args()
    upstream = Upstream(opts.directory, host=opts.host, port=opts.port,
                        cut_after=opts.cut_after).start()
    print(f"port {upstream._server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
