"""Serve the test upstream (real wheels, PEP 691/503) on a fixed port until killed.

``python tests/support/serve_upstream.py PORT PIDFILE``: for Molecule scenarios whose mirror is
built on the controller; the pid file lets a test stop it. Standing in for pypi.org.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO)]

from tests.support.fetch_fixtures import ensure_fixtures  # noqa: E402
from tests.support.upstream import Upstream  # noqa: E402


def serve(upstream: Upstream, pidfile: Path, ready=lambda _upstream: None) -> None:
    """Run ``upstream`` until SIGTERM, its pid in ``pidfile`` meanwhile; ``ready`` gets it once
    it listens (to add what depends on its address)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with upstream:
        ready(upstream)
        pidfile.write_text(f"{os.getpid()}\n")
        try:
            stop.wait()
        finally:
            pidfile.unlink(missing_ok=True)


def main(port: int, pidfile: Path) -> None:
    serve(Upstream(ensure_fixtures(), port=port), pidfile)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
