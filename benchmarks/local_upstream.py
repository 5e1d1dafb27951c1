"""A local package index over a directory of wheels, standing in for PyPI in the benchmarks.

    python benchmarks/local_upstream.py DIR [--port 0]     # prints "port N" then serves

What it serves (the parts of PyPI that mirroring clients rely on):
- `/simple/` and `/simple/<name>/`: PEP 503 HTML (`#sha256=` fragments, `data-requires-python`,
  `data-core-metadata` / `data-dist-info-metadata`) or PEP 691 JSON (api-version 1.1) when the
  Accept header asks for `application/vnd.pypi.simple.v1+json`; links are relative
  (`../../files/<name>/<file>`), so the index works the same behind a proxy on another port.
- `/files/<name>/<file>`: the wheel, with `ETag` (its sha256), `Accept-Ranges`, `Range` and
  `If-Range` (a resumed download of a changed file gets the whole new file, never a splice).
- `/files/<name>/<file>.metadata`: the wheel's METADATA (PEP 658).
- `/_stats`: JSON counters (bytes of file bodies vs everything else), read by the benchmark
  directly (not through the weak link) to tell payload from overhead.
Cache headers copy PyPI's (index pages `max-age=600`, files immutable) so pip's HTTP cache
behaves as it does against PyPI.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import hashlib
import html
import json
import sys
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class Dist:
    filename: str
    path: Path
    size: int
    sha256: str
    metadata: bytes
    metadata_sha256: str
    requires_python: str | None


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return zf.read(name)
    raise ValueError(f"{path.name}: no .dist-info/METADATA")


def load_dists(directory: Path) -> dict[str, list[Dist]]:
    """Every wheel in directory, by normalized project name, with hashes and metadata."""
    projects: dict[str, list[Dist]] = {}
    for path in sorted(directory.glob("*.whl")):
        name = parse_wheel_filename(path.name)[0]
        data = path.read_bytes()
        meta = _wheel_metadata(path)
        requires = email.parser.BytesParser().parsebytes(meta, headersonly=True)
        projects.setdefault(canonicalize_name(name), []).append(Dist(
            filename=path.name, path=path, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            metadata=meta, metadata_sha256=hashlib.sha256(meta).hexdigest(),
            requires_python=requires.get("Requires-Python")))
    return projects


def project_html(name: str, dists: list[Dist]) -> bytes:
    lines = ["<!DOCTYPE html>", "<html><head><meta name=\"pypi:repository-version\" "
             "content=\"1.1\"><title>Links for " + html.escape(name) + "</title></head><body>",
             f"<h1>Links for {html.escape(name)}</h1>"]
    for d in dists:
        attrs = f' data-core-metadata="sha256={d.metadata_sha256}"' \
                f' data-dist-info-metadata="sha256={d.metadata_sha256}"'
        if d.requires_python:
            attrs += f' data-requires-python="{html.escape(d.requires_python)}"'
        lines.append(f'<a href="../../files/{name}/{d.filename}#sha256={d.sha256}"{attrs}>'
                     f"{d.filename}</a><br/>")
    lines.append("</body></html>")
    return "\n".join(lines).encode()


def project_json(name: str, dists: list[Dist]) -> bytes:
    files = [{
        "filename": d.filename, "url": f"../../files/{name}/{d.filename}",
        "hashes": {"sha256": d.sha256}, "requires-python": d.requires_python,
        "core-metadata": {"sha256": d.metadata_sha256}, "size": d.size, "yanked": False,
    } for d in dists]
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files,
                       "versions": sorted({str(parse_wheel_filename(d.filename)[1])
                                           for d in dists})}).encode()


class Upstream(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients at once (the engine's pool, pip), like a CDN would accept.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], directory: Path) -> None:
        super().__init__(address, Handler)
        self.projects = load_dists(directory)
        self.files = {(n, d.filename): d for n, ds in self.projects.items() for d in ds}
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "file_body_bytes": 0, "overhead_bytes": 0,
                      "range_requests": 0}

    def handle_error(self, request: object, client_address: object) -> None:
        # Cut connections are the point of the weak-link benchmark, not errors worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def count(self, key: str, n: int) -> None:
        with self.lock:
            self.stats[key] += n


class Handler(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the benchmark's output

    def _send(self, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.server.count("overhead_bytes", len(body))

    def end_headers(self) -> None:
        # Header bytes are overhead; approximate them by what is buffered right now.
        self.server.count("overhead_bytes", sum(len(h) for h in getattr(self, "_headers_buffer",
                                                                         [])))
        super().end_headers()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.server.count("requests", 1)
        path = unquote(urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        wants_json = JSON_TYPE in self.headers.get("Accept", "")
        index_headers = {"Cache-Control": "max-age=600, public", "Vary": "Accept"}
        if path == "/_stats":
            with self.server.lock:
                body = json.dumps(self.server.stats).encode()
            return self._send(200, body, "application/json")
        if parts == ["simple"]:
            names = sorted(self.server.projects)
            if wants_json:
                body = json.dumps({"meta": {"api-version": "1.1"},
                                   "projects": [{"name": n} for n in names]}).encode()
                return self._send(200, body, JSON_TYPE, index_headers)
            body = "\n".join(f'<a href="{n}/">{n}</a><br/>' for n in names).encode()
            return self._send(200, body, "text/html", index_headers)
        if len(parts) == 2 and parts[0] == "simple":
            name = canonicalize_name(parts[1])
            if name != parts[1]:
                return self._send(301, b"", "text/html", {"Location": f"/simple/{name}/"})
            dists = self.server.projects.get(name)
            if dists is None:
                return self._send(404, b"not found", "text/plain")
            if wants_json:
                return self._send(200, project_json(name, dists), JSON_TYPE, index_headers)
            return self._send(200, project_html(name, dists), "text/html", index_headers)
        if len(parts) == 3 and parts[0] == "files":
            name, filename = parts[1], parts[2]
            if filename.endswith(".metadata"):
                dist = self.server.files.get((name, filename[: -len(".metadata")]))
                if dist is None:
                    return self._send(404, b"not found", "text/plain")
                return self._send(200, dist.metadata, "text/plain",
                                  {"Cache-Control": "max-age=31536000, immutable"})
            dist = self.server.files.get((name, filename))
            if dist is None:
                return self._send(404, b"not found", "text/plain")
            return self._send_file(dist)
        return self._send(404, b"not found", "text/plain")

    def _send_file(self, dist: Dist) -> None:
        etag = f'"{dist.sha256}"'
        headers = {"ETag": etag, "Accept-Ranges": "bytes",
                   "Cache-Control": "max-age=31536000, immutable"}
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        start, end, status = 0, dist.size - 1, 200
        if rng and (if_range is None or if_range == etag) and rng.startswith("bytes="):
            start_s, _, end_s = rng[len("bytes="):].partition("-")
            if "," not in rng and start_s.isdigit() and (end_s == "" or end_s.isdigit()):
                start = int(start_s)
                end = min(int(end_s), dist.size - 1) if end_s else dist.size - 1
                if start >= dist.size:
                    return self._send(416, b"", "text/plain",
                                      {"Content-Range": f"bytes */{dist.size}"})
                self.server.count("range_requests", 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{dist.size}"
                status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end + 1 - start))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        # Streamed and counted chunk by chunk: a cut connection stops the count where it broke.
        with dist.path.open("rb") as f:
            f.seek(start)
            left = end + 1 - start
            while left > 0:
                chunk = f.read(min(left, 256 * 1024))
                if not chunk:
                    break
                self.wfile.write(chunk)
                self.server.count("file_body_bytes", len(chunk))
                left -= len(chunk)

def main() -> int:
    parser = argparse.ArgumentParser(description="Serve a directory of wheels as an index.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    opts = parser.parse_args()
    server = Upstream((opts.host, opts.port), opts.directory)
    print(f"port {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
