"""Serve the test upstream (real wheels, PEP 691/503) on a fixed port until killed.

``python tests/support/serve_upstream.py PORT PIDFILE [PYTHON] [--host ADDR] [--access-log FILE]``:
for Molecule scenarios whose mirror is built on the controller, or whose box reaches it over a
container network (``--host 0.0.0.0``); the pid file lets a test stop it. Standing in for
pypi.org, with the compiled wheels for PYTHON too (the clients' Python, see fetch_fixtures.py).
``--access-log`` appends one JSON line per request the upstream received (path, Range, status),
so a test can count what reached it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO)]

from tests.support.fetch_fixtures import ensure_fixtures  # noqa: E402
from tests.support.upstream import Upstream  # noqa: E402

# How often the access log catches up with the requests the upstream recorded.
LOG_INTERVAL = 0.1


def write_access_log(up: Upstream, log: Path, stop: threading.Event) -> None:
    """Append the upstream's request records to log as they come, until stop (then once more)."""
    written = 0
    with log.open("a", encoding="utf-8") as out:
        while True:
            stopping = stop.wait(LOG_INTERVAL)
            with up._lock:
                new = up.requests[written:]
                written += len(new)
            for record in new:
                out.write(json.dumps({"path": record["path"], "range": record["range"],
                                      "status": record["status"]}) + "\n")
            out.flush()
            if stopping:
                return


def serve(upstream: Upstream, pidfile: Path, ready=lambda _upstream: None,
          access_log: Path | None = None) -> None:
    """Run ``upstream`` until SIGTERM, its pid in ``pidfile`` meanwhile; ``ready`` gets it once
    it listens (to add what depends on its address)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with upstream:
        ready(upstream)
        logger = None
        if access_log is not None:
            logger = threading.Thread(target=write_access_log, args=(upstream, access_log, stop))
            logger.start()
        pidfile.write_text(f"{os.getpid()}\n")
        try:
            stop.wait()
        finally:
            stop.set()
            if logger is not None:
                logger.join(5)
            pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("pidfile", type=Path)
    parser.add_argument("python", nargs="?", help="the clients' Python, e.g. 3.13")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--access-log", type=Path)
    opts = parser.parse_args(argv)
    serve(Upstream(ensure_fixtures(opts.python), port=opts.port, host=opts.host), opts.pidfile,
          access_log=opts.access_log)


if __name__ == "__main__":
    main(sys.argv[1:])
