"""Serve the test upstream (real wheels, PEP 691/503) on a fixed port until killed.

``python tests/support/serve_upstream.py PORT PIDFILE [PYTHON]``: for Molecule scenarios whose
mirror is built on the controller; the pid file lets a test stop it. Standing in for pypi.org,
with the compiled wheels for PYTHON too (the clients' Python, see fetch_fixtures.py).
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


def main(port: int, pidfile: Path, client_python: str | None = None) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Upstream(ensure_fixtures(client_python), port=port):
        pidfile.write_text(f"{os.getpid()}\n")
        try:
            stop.wait()
        finally:
            pidfile.unlink(missing_ok=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])
