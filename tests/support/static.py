"""Serve a written mirror directory the way the box's nginx does, for real pip/uv clients.

``/simple/<project>/`` -> index.json when the client asks for PEP 691 JSON, else index.html
(with ``Vary: Accept``); ``/files/...`` statically; anything whose name starts with ``.`` is
never served.
"""

from __future__ import annotations

import contextlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _wants_json(accept: str) -> bool:
    """True when the client ranks PEP 691 JSON above HTML (simple q-value comparison)."""
    best_json, best_html = -1.0, -1.0
    for item in accept.split(","):
        media, *params = [p.strip() for p in item.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media == JSON_TYPE:
            best_json = max(best_json, q)
        elif media in ("application/vnd.pypi.simple.v1+html", "text/html", "*/*"):
            best_html = max(best_html, q)
    return best_json > 0 and best_json >= best_html


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def send_head(self):
        path = unquote(urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if any(p.startswith(".") for p in parts):
            self.send_error(404)
            return None
        if parts and parts[0] == "simple" and len(parts) <= 2 and path.endswith("/"):
            folder = Path(self.directory, *parts)
            use_json = _wants_json(self.headers.get("Accept", ""))
            page = folder / ("index.json" if use_json else "index.html")
            if not page.is_file():
                self.send_error(404)
                return None
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE if use_json else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Vary", "Accept")
            self.end_headers()
            import io

            return io.BytesIO(body)
        return super().send_head()


class MirrorServer:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._server = None

    def __enter__(self) -> MirrorServer:
        handler = partial(_Handler, directory=str(self.root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"


def main(argv: list[str]) -> None:
    """``python3 static.py ROOT PORT``: serve a mirror until killed (used inside Molecule boxes)."""
    root, port = argv[1], int(argv[2])
    handler = partial(_Handler, directory=root)
    server = ThreadingHTTPServer(("", port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    import sys

    main(sys.argv)
