"""One laptop of benchmarks/proxy_room.py: fetches what an installer fetches, nothing else.

    python room_client.py INDEX_URL FILE... [--parallel 8] [--retries 5]

For each wanted distribution file, the project's PEP 691 page (as uv and pip ask for it), then
the file's PEP 658 metadata when the page offers it, then the file, checked against the page's
sha256; pages first, then metadata and files, each phase in parallel as uv does. A transfer cut
by the link is started again, like an installer's retry. Exits non-zero if any file is missing
or wrong. The point: a room of laptops each with its own CPU, which real installers on one
2-core machine are not (unpacking 30 copies of numpy would time the machine, not the link).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

JSON = "application/vnd.pypi.simple.v1+json"


def project_of(filename: str) -> str:
    """The normalized project name of a wheel file name (its first dash-separated field)."""
    return filename.split("-", 1)[0].replace("_", "-").replace(".", "-").lower()


def get(url: str, retries: int, accept: str = "*/*") -> bytes:
    for attempt in range(retries + 1):
        try:
            request = urllib.request.Request(url, headers={"Accept": accept})
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError:
            raise
        except (OSError, http.client.HTTPException):
            if attempt == retries:
                raise
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index_url")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--retries", type=int, default=5)
    opts = parser.parse_args(argv)
    projects = sorted({project_of(f) for f in opts.files})
    with ThreadPoolExecutor(opts.parallel) as pool:
        pages = dict(zip(projects, pool.map(
            lambda p: json.loads(get(f"{opts.index_url}{p}/", opts.retries, JSON)), projects)))
        entries = []
        for project, page in pages.items():
            base = f"{opts.index_url}{project}/"
            for entry in page["files"]:
                if entry["filename"] in opts.files:
                    entries.append((urljoin(base, entry["url"]), entry))
        missing = set(opts.files) - {e["filename"] for _, e in entries}
        if missing:
            print(f"not on the index: {sorted(missing)}", file=sys.stderr)
            return 1

        def fetch(item: tuple[str, dict]) -> str | None:
            url, entry = item
            if entry.get("core-metadata"):
                get(url + ".metadata", opts.retries)
            data = get(url, opts.retries)
            if hashlib.sha256(data).hexdigest() != entry["hashes"]["sha256"]:
                return entry["filename"]
            return None

        bad = [name for name in pool.map(fetch, entries) if name]
    if bad:
        print(f"wrong hash: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
