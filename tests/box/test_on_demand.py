"""The on-demand cache's reader: nginx's cache files and miss log, and the landing page's list.

The cache files here are laid out the way nginx 1.22 writes them (a binary header, then the
``KEY:`` line and the upstream's status line and headers, then the body; compared against a
real entry of the proxy Molecule scenario, which reads a real cache end to end).
"""

from __future__ import annotations

import gzip
import hashlib
import struct

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import on_demand


def nginx_entry(key: str, status: str = "200 OK", body: bytes = b"x" * 100) -> bytes:
    # Version, valid_sec, updating... then etag and vary slots: binary, NULs and all.
    header = struct.pack("<QqqqqqIII", 5, 1_796_000_000, 0, 0, -1, 1_796_000_000, 0, 0, 337)
    header += b"\0" * 128 + b"\x06Accept" + b"\0" * 200
    return (header + f"\nKEY: {key}\nHTTP/1.1 {status}\r\nContent-Type: x\r\n\r\n".encode()
            + body)


def put(cache, key: str, **kwargs) -> None:
    name = hashlib.md5(key.encode()).hexdigest()
    folder = cache / name[-1] / name[-3:-1]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(nginx_entry(key, **kwargs))


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    return root


def test_projects_come_from_cached_pages_and_files(cache):
    put(cache, "page json jinja2")
    put(cache, "page html jinja2")
    put(cache, "page json no-such-project", status="404 Not Found")
    put(cache, "file root files/jinja2-3.1.6-py3-none-any.whl bytes=0-4194303",
        status="206 Partial Content", body=b"w" * 4000)
    put(cache, "file root files/jinja2-3.1.6-py3-none-any.whl bytes=4194304-8388607",
        status="206 Partial Content", body=b"w" * 1000)
    put(cache, "file root files/jinja2-3.1.6-py3-none-any.whl.metadata bytes=0-4194303")
    # A project whose page was evicted still counts by its files; names are URL-encoded.
    put(cache, "file files packages/ab/cd/torch-2.1.0%2Bcpu-cp311-cp311-linux_x86_64.whl "
               "bytes=0-4194303", status="206 Partial Content")
    put(cache, "uplink")
    found = on_demand.fetched(cache)
    assert [p["name"] for p in found["projects"]] == ["jinja2", "torch"]
    jinja2, torch = found["projects"]
    assert jinja2["files"] == 1 and jinja2["versions"] == ["3.1.6"]
    assert jinja2["bytes"] > 5000  # both slices and the metadata
    assert torch["versions"] == ["2.1.0+cpu"]
    assert found["project_count"] == 2 and found["file_count"] == 2


def test_anything_but_whole_entries_is_skipped(cache):
    put(cache, "page json click")
    folder = cache / "a" / "bc"
    folder.mkdir(parents=True)
    (folder / ("0" * 32 + ".0000000042")).write_bytes(nginx_entry("page json being-written"))
    (folder / ("1" * 32)).write_bytes(b"\0" * 64)  # no key
    (folder / ("2" * 32)).write_bytes(nginx_entry("page json x", status="garbage"))
    (folder / ("3" * 32)).write_bytes(nginx_entry("page json"))  # a key of the wrong shape
    assert [p["name"] for p in on_demand.fetched(cache)["projects"]] == ["click"]


def test_a_missing_cache_is_an_empty_one(tmp_path):
    found = on_demand.fetched(tmp_path / "none")
    assert found["exists"] is False and found["projects"] == []


def test_misses_say_why_how_often_and_when(cache):
    lines = [
        "2026-05-04T10:00:00+00:00 reqeusts 404 upstream",
        "2026-05-04T10:00:05+00:00 reqeusts 404 upstream",
        "2026-05-04T10:01:00+00:00 numpy 404 offline",
        "2026-05-04T10:02:00+00:00 numpy 200 upstream",  # served later: not a miss any more
        "2026-05-04T10:03:00+00:00 six 404 not-allowed",
        "2026-05-04T10:04:00+00:00 torch 404 offline",
        "2026-05-04T10:05:00+00:00 tqdm 502 upstream",
        "2026-05-04T10:06:00+00:00 left-pad 404 off",
        "2026-05-04T10:07:00+00:00 flask 404 offline",  # failed, but its files are cached
        "a line that is not one of ours",
        "2026-05-04T10:08:00+00:00 x notanumber upstream",
    ]
    misses = on_demand.misses(lines, served={"flask"})
    assert misses == [
        {"name": "left-pad", "requests": 1, "reason": "on-demand fetching is off",
         "last": "2026-05-04T10:06:00+00:00"},
        {"name": "reqeusts", "requests": 2, "reason": "not found upstream",
         "last": "2026-05-04T10:00:05+00:00"},
        {"name": "six", "requests": 1, "reason": "not on the allow-list",
         "last": "2026-05-04T10:03:00+00:00"},
        {"name": "torch", "requests": 1, "reason": "upstream unreachable",
         "last": "2026-05-04T10:04:00+00:00"},
        {"name": "tqdm", "requests": 1, "reason": "upstream error 502",
         "last": "2026-05-04T10:05:00+00:00"},
    ]


def test_the_log_is_read_with_its_rotated_files_oldest_first(tmp_path):
    log = tmp_path / "misses.log"
    with gzip.open(tmp_path / "misses.log.3.gz", "wt") as old:
        old.write("t1 a 404 offline\n")
    with gzip.open(tmp_path / "misses.log.2.gz", "wt") as old:
        old.write("t2 b 404 offline\n")
    (tmp_path / "misses.log.1").write_text("t3 c 404 offline\n")
    log.write_text("t4 a 200 upstream\n")
    (tmp_path / "misses.log.9.gz").write_bytes(b"not gzip")  # skipped, not fatal
    assert on_demand.log_lines(log) == ["t1 a 404 offline", "t2 b 404 offline",
                                        "t3 c 404 offline", "t4 a 200 upstream"]
    # Bounded: the newest bytes win.
    assert on_demand.log_lines(log, limit=20) == ["t4 a 200 upstream"]
    assert [m["name"] for m in on_demand.misses(on_demand.log_lines(log), set())] == ["b", "c"]


def test_inventory_joins_cache_and_log(cache, tmp_path):
    put(cache, "page json click")
    log = tmp_path / "misses.log"
    log.write_text("t1 click 404 offline\nt2 colour 404 offline\n")
    found = on_demand.inventory(cache, log)
    assert [p["name"] for p in found["projects"]] == ["click"]
    assert [m["name"] for m in found["misses"]] == ["colour"]
    assert found["miss_count"] == 1 and found["miss_log"] == str(log)


def test_the_report_lists_both_and_escapes_what_it_quotes(cache, tmp_path):
    put(cache, "page json click")
    put(cache, "file root files/click-8.3.1-py3-none-any.whl bytes=0-4194303",
        status="206 Partial Content")
    log = tmp_path / "misses.log"
    log.write_text("t<1> <script> 404 offline\n")
    page = on_demand.report_html(on_demand.inventory(cache, log))
    assert '<a href="/simple/click/">click</a> <span class="versions">8.3.1</span>' in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "(upstream unreachable; once, last t&lt;1&gt;)" in page
    empty = on_demand.report_html(on_demand.inventory(tmp_path / "none", tmp_path / "none.log"))
    assert "Nothing fetched on demand yet." in empty and "not served" not in empty


def test_the_report_command_writes_only_on_change(cache, tmp_path, capsys):
    put(cache, "page json click")
    out = tmp_path / "report" / "on-demand.html"
    out.parent.mkdir()
    argv = ["report", "--cache", str(cache), "--log", str(tmp_path / "none.log"),
            "--out", str(out)]
    assert on_demand.main(argv) == 0
    assert capsys.readouterr().out == "changed\n"
    assert "click" in out.read_text()
    assert on_demand.main(argv) == 0
    assert capsys.readouterr().out == "unchanged\n"


def test_the_command_names_its_subcommands(capsys):
    assert on_demand.main([]) == 2
    assert on_demand.main(["purge"]) == 2
    assert "report|resolver" in capsys.readouterr().err
