"""What the box fetched on demand from the upstream index, and what the room asked for in vain.

Both sources are written by nginx (the nginx_cache role's on-demand cache, issue 11); the keys
and the log format below are the ones its site template writes, and nothing else does:

- the cache directory: one file per cached response. After a binary header nginx writes
  ``KEY: <key>`` on a line of its own, then the upstream's status line and headers. Index pages
  are keyed ``page <format> <project>``, files and their slices ``file <origin> <url path>
  <range>``; other keys (the uplink probe) are not projects.
- the miss log: one line per request for a project page that neither the mirror nor the
  private index holds, ``<ISO time> <project> <status> <outcome>``, where outcome says what
  nginx did with it: ``upstream`` (asked the upstream, or its cached answer), ``offline`` (the
  upstream could not be reached), ``not-allowed`` (not on the allow-list), ``off`` (on-demand
  fetching switched off). Rotated like every nginx log (``.1``, then ``.2.gz`` ...).

``pypi-in-a-box-proxy report`` writes the landing page's live section from the same reading.
"""

from __future__ import annotations

import argparse
import gzip
import html
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote

from . import distributions, resolver

# Enough of a cache file for nginx's header, the key and the status line.
HEAD_BYTES = 16 * 1024
# How much of the miss log (newest first, rotated files included) is read at most.
LOG_BYTES = 32 * 1024 * 1024
# nginx names a complete cache entry by the md5 of its key; anything else is being written.
_ENTRY_NAME = re.compile(r"[0-9a-f]{32}")
# (outcome, status) of a miss -> why the project was not served; None: it was served.
_SERVED = {200, 304}
REASONS = {
    "offline": "upstream unreachable",
    "not-allowed": "not on the allow-list",
    "off": "on-demand fetching is off",
}


def read_entry(path: Path) -> tuple[str, int] | None:
    """(key, HTTP status) of one cache file; None for anything that is not a whole entry."""
    try:
        with open(path, "rb") as entry:
            head = entry.read(HEAD_BYTES)
    except OSError:  # evicted while we looked
        return None
    start = head.find(b"\nKEY: ")
    if start < 0:
        return None
    end = head.find(b"\n", start + 6)
    status_end = head.find(b"\n", end + 1)
    if end < 0 or status_end < 0:
        return None
    status_line = head[end + 1:status_end].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") \
            or not status_line[1].isdigit():
        return None
    return head[start + 6:end].decode("utf-8", "replace"), int(status_line[1])


def cache_entries(cache_dir: Path):
    """(key, status, size) of every complete entry under cache_dir."""
    for root, _dirs, files in os.walk(cache_dir):
        for name in files:
            if not _ENTRY_NAME.fullmatch(name):
                continue
            path = Path(root, name)
            entry = read_entry(path)
            if entry is None:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            yield entry[0], entry[1], size


def fetched(cache_dir: Path) -> dict:
    """The projects in the on-demand cache, in the inventory shape of the mirror's.

    A project counts once its index page is cached (status 200) or any of its files is; a file
    cached in slices counts once, its bytes are all its slices' (the ``.metadata`` sidecars
    included, as for the mirror).
    """
    if cache_dir.is_dir():
        os.listdir(cache_dir)  # nginx's user and root only: say so rather than report nothing
    tallies: dict[str, distributions.Tally] = {}
    seen_files: set[str] = set()
    for key, status, size in cache_entries(cache_dir):
        parts = key.split(" ")
        if parts[0] == "page" and len(parts) == 3 and status == 200:
            tallies.setdefault(parts[2], distributions.Tally())
        elif parts[0] == "file" and len(parts) >= 3 and status in (200, 206):
            filename = unquote(parts[2].rsplit("/", 1)[-1])
            dist = distributions.parse_filename(filename.removesuffix(".metadata"))
            if dist is None:
                continue
            tally = tallies.setdefault(dist.project, distributions.Tally())
            tally.bytes += size
            if not filename.endswith(".metadata") and filename not in seen_files:
                seen_files.add(filename)
                tally.versions.add(dist.version)
                tally.files += 1
    return distributions.summarize(tallies, cache_dir)


def log_lines(log: Path, limit: int = LOG_BYTES) -> list[str]:
    """The miss log's lines, oldest first, rotated files included, at most ``limit`` bytes."""
    rotated = sorted(log.parent.glob(log.name + ".*.gz"),
                     key=lambda p: int(p.name[len(log.name) + 1:-3] or 0)
                     if p.name[len(log.name) + 1:-3].isdigit() else 1 << 30)
    chunks: list[str] = []
    left = limit
    for path in [log, log.with_name(log.name + ".1"), *rotated]:
        if left <= 0:
            break
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as stream:
                data, whole = _tail(stream, left)
        except (OSError, EOFError):  # absent, unreadable, or a gzip cut short
            continue
        left -= len(data)
        text = data.decode("utf-8", "replace")
        # Cut by the bound: the first line is only the end of one.
        chunks.append(text if whole else text.partition("\n")[2])
    return [line for chunk in reversed(chunks) for line in chunk.splitlines()]


def _tail(stream, size: int) -> tuple[bytes, bool]:
    """The last ``size`` bytes of a stream read to its end, and whether that is all of it."""
    kept = b""
    whole = True
    while chunk := stream.read(1024 * 1024):
        kept += chunk
        if len(kept) > size:
            kept, whole = kept[-size:], False
    return kept, whole


def misses(lines: list[str], served: set[str]) -> list[dict]:
    """Projects whose latest request was not served and that the cache does not hold either,
    each with why, how many requests failed and when the last one did."""
    latest: dict[str, dict] = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 4 or not fields[2].isdigit():
            continue
        when, project, status, outcome = fields[0], fields[1], int(fields[2]), fields[3]
        if status in _SERVED:
            latest.pop(project, None)
            continue
        if outcome == "upstream":
            reason = "not found upstream" if status in (404, 410) else f"upstream error {status}"
        else:
            reason = REASONS.get(outcome, outcome)
        record = latest.setdefault(project, {"name": project, "requests": 0})
        record.update(reason=reason, last=when)
        record["requests"] += 1
    return [latest[name] for name in sorted(latest) if name not in served]


def inventory(cache_dir: Path, miss_log: Path) -> dict:
    """What was fetched on demand and the misses that failed, as box_status returns them."""
    result = fetched(cache_dir)
    failed = misses(log_lines(miss_log), {p["name"] for p in result["projects"]})
    return dict(result, misses=failed, miss_count=len(failed), miss_log=str(miss_log))


def _human(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def report_html(found: dict) -> str:
    """The landing page's live section (included by nginx's SSI)."""
    out = []
    if found["project_count"]:
        out.append(f"<h3>Fetched on demand ({found['project_count']} projects, "
                   f"{found['file_count']} files, {_human(found['bytes'])})</h3>")
        out.append('<ul class="projects">')
        for project in found["projects"]:
            name = html.escape(project["name"])
            versions = ", ".join(project["versions"][:4])
            out.append(f'<li><a href="/simple/{name}/">{name}</a> '
                       f'<span class="versions">{html.escape(versions)}</span></li>')
        out.append("</ul>")
    else:
        out.append("<p>Nothing fetched on demand yet.</p>")
    if found["misses"]:
        out.append(f"<h3>Asked for, not served ({found['miss_count']})</h3>")
        out.append('<ul class="misses">')
        for miss in found["misses"]:
            times = "once" if miss["requests"] == 1 else f"{miss['requests']} times"
            out.append(f"<li>{html.escape(miss['name'])} <span class=\"versions\">"
                       f"({html.escape(miss['reason'])}; {times}, last {html.escape(miss['last'])})"
                       "</span></li>")
        out.append("</ul>")
    out.append('<p class="snapshot">This list is updated every minute.</p>')
    return "\n".join(out) + "\n"


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pypi-in-a-box-proxy report",
        description="Write the landing page's list of projects fetched on demand and misses.")
    parser.add_argument("--cache", type=Path, required=True, help="the on-demand cache")
    parser.add_argument("--log", type=Path, required=True, help="the miss log")
    parser.add_argument("--out", type=Path, required=True, help="the HTML fragment to write")
    opts = parser.parse_args(argv)
    changed = resolver.write_if_changed(opts.out, report_html(inventory(opts.cache, opts.log)))
    print("changed" if changed else "unchanged")
    return 0


def main(argv: list[str]) -> int:
    """``pypi-in-a-box-proxy report|resolver ...``: the box-side command of the on-demand cache."""
    commands = {"report": _report, "resolver": resolver.main}
    if not argv or argv[0] not in commands:
        print(f"usage: pypi-in-a-box-proxy {{{'|'.join(commands)}}} --help", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])
