"""The program nginx asks whether an upload fits on the box (roles/nginx_cache/files)."""

from __future__ import annotations

import http.client
import importlib.machinery
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parents[2] / "roles" / "nginx_cache" / "files" / \
    "pypi-in-a-box-upload-space"
GB = 2**30


def load_program():
    loader = importlib.machinery.SourceFileLoader("upload_space", str(PROGRAM))
    spec = importlib.util.spec_from_loader("upload_space", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


space = load_program()


def test_an_upload_that_fits_is_let_through():
    assert space.refusal(100 << 20, free=10 * GB, stored=GB, reserve=GB, max_size=2 * GB,
                         copies=4) is None


def test_the_reserve_counts_every_copy_made_while_the_upload_is_stored():
    # 1 GB free after one copy of 500 MB, but not after four.
    status, reason = space.refusal(500 << 20, free=3 * GB, stored=0, reserve=2 * GB,
                                   max_size=0, copies=4)
    assert status == 507
    assert reason.startswith("Insufficient Storage: not enough free space on the box")
    assert "would leave 1.0 GB free, less than the 2.0 GB" in reason
    assert "nginx_cache_disk_reserve" in reason
    assert space.refusal(500 << 20, free=3 * GB, stored=0, reserve=2 * GB, max_size=0,
                         copies=1) is None


def test_the_package_directory_has_its_own_bound():
    status, reason = space.refusal(300 << 20, free=100 * GB, stored=int(1.9 * GB), reserve=GB,
                                   max_size=2 * GB, copies=4)
    assert status == 507
    assert "1.9 GB stored" in reason and "2.0 GB allowed (nginx_cache_uploads_max_size)" in reason
    # 0: no bound.
    assert space.refusal(300 << 20, free=100 * GB, stored=int(1.9 * GB), reserve=GB,
                         max_size=0, copies=4) is None


def test_an_upload_of_unknown_size_is_refused():
    status, reason = space.refusal(None, free=100 * GB, stored=0, reserve=GB, max_size=0,
                                   copies=4)
    assert status == 411 and "Content-Length" in reason


@pytest.mark.parametrize("value, length", [("1024", 1024), ("", None), (None, None),
                                           ("-1", None), ("12a", None)])
def test_the_length_nginx_passes_is_read_strictly(value, length):
    assert space.upload_length(value) == length


def test_stored_bytes_count_files_in_sub_directories(tmp_path):
    (tmp_path / "a.whl").write_bytes(b"x" * 10)
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "b.whl").write_bytes(b"x" * 5)
    (tmp_path / "link.whl").symlink_to(tmp_path / "a.whl")
    assert space.stored_bytes(str(tmp_path)) == 15


def ask(path: str, sock_path: Path, length: str | None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("localhost", timeout=10)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.settimeout(10)
    conn.sock.connect(str(sock_path))
    conn.request("GET", path, headers={"X-Upload-Length": length} if length else {})
    return conn.getresponse()


@pytest.fixture
def running(tmp_path):
    """The program on a listening socket passed as descriptor 3, as systemd starts it."""
    sock_path = tmp_path / "space.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.listen()
    packages = tmp_path / "packages"
    packages.mkdir()
    (packages / "seed.whl").write_bytes(b"x" * 4096)

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, str(PROGRAM), "--packages", str(packages), *args],
            # close_fds would close descriptor 3 again after preexec_fn made it.
            close_fds=False, env={**os.environ, "LISTEN_FDS": "1"},
            preexec_fn=lambda: os.dup2(listener.fileno(), 3), stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    started: list[subprocess.Popen] = []
    yield start, sock_path
    for process in started:
        process.kill()
        process.communicate(timeout=10)
    listener.close()


def test_nginx_gets_a_yes_or_no_and_then_a_status_line_that_says_why(running):
    start, sock_path = running
    start("--reserve", "0", "--max-size", "10000")
    for _ in range(50):  # the program starts in well under a second
        try:
            assert ask("/check", sock_path, "1000").status == 204
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    assert ask("/check", sock_path, "8000").status == 403
    refusal = ask("/refusal", sock_path, "8000")
    assert refusal.status == 507
    assert refusal.reason.startswith("Insufficient Storage: the box's uploads are full")
    assert b"nginx_cache_uploads_max_size" in refusal.read()
    no_length = ask("/refusal", sock_path, None)
    assert no_length.status == 411


def test_the_program_wants_its_socket_from_systemd(tmp_path):
    result = subprocess.run([sys.executable, str(PROGRAM), "--packages", str(tmp_path),
                             "--reserve", "0"], capture_output=True, text=True, timeout=30,
                            env={k: v for k, v in os.environ.items() if k != "LISTEN_FDS"})
    assert result.returncode == 2
    assert "pypi-in-a-box-upload-space.socket" in result.stderr
