"""A real local upstream index for tests: PEP 691 JSON + PEP 503 HTML over HTTP on 127.0.0.1.

It serves a directory of real distributions with correct sha256, size, requires-python (read
from each file's own metadata) and PEP 658 metadata files, honours Range/If-Range like a CDN,
and can be told to misbehave per file: cut the connection after N bytes, answer 5xx, be slow,
serve bytes that do not match the announced hash, or change a file between two requests. It
counts every body byte it sends, so tests can measure what a client re-downloaded.
"""

from __future__ import annotations

import contextlib
import email.parser
import hashlib
import html
import json
import threading
import time
from collections import Counter, defaultdict
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.metadata as md
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


class Upstream:
    """Start with ``with Upstream(dir) as up:``; ``up.index_url`` is the simple index URL."""

    def __init__(
        self,
        files_dir: Path,
        *,
        json_api: bool = True,
        metadata: bool = True,
        no_metadata_projects=(),
        rate: float | None = None,
        chunk: int = 16 * 1024,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.content: dict[str, bytes] = {}
        self.announced: dict[str, bytes] = {}  # what the index describes (hash, size)
        self.mtime: dict[str, float] = {}
        for path in sorted(Path(files_dir).iterdir()):
            if path.name.endswith((".whl", ".tar.gz", ".zip")):
                data = path.read_bytes()
                self.content[path.name] = data
                self.announced[path.name] = data
                self.mtime[path.name] = 1_700_000_000.0
        self.json_api = json_api
        self.metadata = metadata
        self.no_metadata_projects = {canonicalize_name(p) for p in no_metadata_projects}
        self.host = host  # another address serves a container network (serve_upstream.py)
        self.port = port  # 0: any free port
        self.rate = rate  # bytes per second per response, None = as fast as possible
        self.chunk = chunk
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.extra_entries: dict[str, list[dict]] = defaultdict(list)
        self.yanked: dict[str, str] = {}  # filename -> reason (PEP 592)
        self.served: Counter = Counter()  # filename -> body bytes sent
        self.requests: list[dict] = []
        self.down = False
        self._lock = threading.Lock()
        self._metadata_cache: dict[str, bytes | None] = {}
        self._server: ThreadingHTTPServer | None = None

    # -- control ----------------------------------------------------------------------------
    def __enter__(self) -> Upstream:
        handler = type("Handler", (_Handler,), {"upstream": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def index_url(self) -> str:
        return self.base_url + "/simple/"

    def replace(self, filename: str, data: bytes, announce: bool = True) -> None:
        """Change a file's bytes (and, by default, what the index announces for it)."""
        with self._lock:
            self.content[filename] = data
            self.mtime[filename] += 1000
            if announce:
                self.announced[filename] = data
                self._metadata_cache.pop(filename, None)

    def add_entry(self, project: str, **entry) -> None:
        """Announce an extra (typically hostile) file entry on a project's page."""
        self.extra_entries[canonicalize_name(project)].append(entry)

    def total_bytes(self, filenames=None) -> int:
        names = self.content if filenames is None else filenames
        return sum(len(self.content[n]) for n in names)

    def requests_for(self, filename: str) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/" + quote(filename))]

    # -- content ----------------------------------------------------------------------------
    def projects(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = defaultdict(list)
        for filename in self.announced:
            result[_project_of(filename)].append(filename)
        return result

    def core_metadata(self, filename: str) -> bytes | None:
        if filename not in self._metadata_cache:
            data = self.announced[filename]
            if filename.endswith(".whl"):
                value: bytes | None = md.wheel_metadata(data)
            else:
                value = md.sdist_metadata(data)
            self._metadata_cache[filename] = value
        return self._metadata_cache[filename]

    def requires_python(self, filename: str) -> str | None:
        data = self.core_metadata(filename)
        if not data:
            return None
        message = email.parser.BytesParser().parsebytes(data, headersonly=True)
        value = message.get("Requires-Python")
        return str(value) if value else None

    def offers_metadata(self, filename: str) -> bool:
        return (
            self.metadata
            and filename.endswith(".whl")
            and _project_of(filename) not in self.no_metadata_projects
        )

    def file_entries(self, project: str) -> list[dict]:
        entries = []
        for filename in sorted(self.projects().get(project, [])):
            data = self.announced[filename]
            entry = {
                "filename": filename,
                "url": f"../../files/{quote(filename)}",
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                "requires-python": self.requires_python(filename),
                "size": len(data),
                "yanked": self.yanked.get(filename, False),
            }
            if self.offers_metadata(filename):
                digest = hashlib.sha256(self.core_metadata(filename) or b"").hexdigest()
                entry["core-metadata"] = {"sha256": digest}
            entries.append(entry)
        return entries + list(self.extra_entries.get(project, []))

    def render_json(self, project: str) -> bytes:
        entries = self.file_entries(project)
        data = {"meta": {"api-version": "1.1"}, "name": project, "files": entries,
                "versions": []}
        return json.dumps(data).encode()

    def render_html(self, project: str) -> bytes:
        lines = ["<!DOCTYPE html><html><body>"]
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
                attrs += f' data-dist-info-metadata="sha256={entry["core-metadata"]["sha256"]}"'
            lines.append(f"<a {attrs}>{html.escape(entry['filename'])}</a><br>")
        lines.append("</body></html>")
        return "\n".join(lines).encode()


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle(self) -> None:
        # clients cut connections on purpose in these tests
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; that is its right

    def _get(self) -> None:
        up = self.upstream
        path = unquote(urlsplit(self.path).path)
        record = {"path": self.path, "range": self.headers.get("Range"),
                  "if_range": self.headers.get("If-Range"), "status": None}
        with up._lock:
            up.requests.append(record)
        if up.down:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        parts = [p for p in path.split("/") if p]
        if parts == ["simple"]:
            names = sorted(up.projects())
            body = "".join(f'<a href="{n}/">{n}</a>\n' for n in names).encode()
            record["status"] = 200
            return self._send(200, body, "text/html")
        if len(parts) == 2 and parts[0] == "simple":
            project = canonicalize_name(parts[1])
            if project != parts[1]:
                record["status"] = 301
                return self._send(301, b"", "text/plain", {"Location": f"/simple/{project}/"})
            if project not in up.projects() and project not in up.extra_entries:
                record["status"] = 404
                return self._send(404, b"not found", "text/plain")
            fault = self._take_fault("page:" + project)
            if fault and fault.startswith("5"):
                record["status"] = int(fault)
                return self._send(int(fault), b"oops", "text/plain")
            if up.json_api and JSON_TYPE in self.headers.get("Accept", ""):
                record["status"] = 200
                return self._send(200, up.render_json(project), JSON_TYPE, {"Vary": "Accept"})
            record["status"] = 200
            return self._send(200, up.render_html(project), "text/html; charset=utf-8",
                              {"Vary": "Accept"})
        if len(parts) == 2 and parts[0] == "files":
            filename = parts[1]
            target = self._take_fault("redirect:" + filename)
            if target:
                record["status"] = 302
                return self._send(302, b"", "text/plain", {"Location": target})
            if filename.endswith(".metadata") and filename[:-9] in up.content:
                data = up.core_metadata(filename[:-9])
                broken = self._take_fault(filename) == "404"
                if broken or not up.offers_metadata(filename[:-9]) or data is None:
                    record["status"] = 404
                    return self._send(404, b"", "text/plain")
                record["status"] = 200
                return self._send(200, data, "text/plain")
            if filename in up.content:
                return self._serve_file(filename, record)
        record["status"] = 404
        self._send(404, b"not found", "text/plain")

    def _take_fault(self, key: str) -> str | None:
        up = self.upstream
        with up._lock:
            queue = up.faults.get(key)
            return queue.pop(0) if queue else None

    def _serve_file(self, filename: str, record: dict) -> None:
        up = self.upstream
        with up._lock:
            data = up.content[filename]
            mtime = up.mtime[filename]
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        last_modified = formatdate(mtime, usegmt=True)
        fault = self._take_fault(filename)
        if fault and fault[0] == "5":
            record["status"] = int(fault)
            return self._send(int(fault), b"server error", "text/plain")
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        start = 0
        status = 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range in (etag, last_modified):
                first = range_header[6:].split("-", 1)[0]
                if first.isdigit():
                    start = int(first)
                    status = 206
            if status == 206 and start >= len(data):
                record["status"] = 416
                return self._send(416, b"", "text/plain",
                                  {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        record["status"] = status
        if self.command == "HEAD":
            return
        # "cut:N" drops the connection after N body bytes; "cutswap:N" also replaces the file
        # by what the index announces right after (an upstream that changed mid-download).
        cut_after = None
        if fault and fault.startswith(("cut:", "cutswap:")):
            cut_after = int(fault.split(":", 1)[1])
        sent = 0
        try:
            while sent < len(body):
                piece = body[sent:sent + up.chunk]
                if cut_after is not None and sent + len(piece) > cut_after:
                    piece = piece[: max(0, cut_after - sent)]
                    self.wfile.write(piece)
                    self._count(filename, len(piece))
                    self.wfile.flush()
                    if fault.startswith("cutswap:"):
                        with up._lock:
                            up.content[filename] = up.announced[filename]
                            up.mtime[filename] += 1000
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(piece)
                self._count(filename, len(piece))
                sent += len(piece)
                if up.rate:
                    time.sleep(len(piece) / up.rate)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _count(self, filename: str, n: int) -> None:
        with self.upstream._lock:
            self.upstream.served[filename] += n
