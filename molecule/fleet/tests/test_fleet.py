"""A workshop fleet from one controller: one download, fanned out; a reflashed box rebuilt with
no upstream and no internet.

The reflash test runs last: it recreates box-fleet-3-<release> from the bare image on an
internal Docker network (no route anywhere), stops the controller's upstream and listens on its
port instead, and runs the site playbook for that box alone.
"""

import contextlib
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
import testinfra

from tests.support import scenario

PROJECT_DIR = Path(__file__).resolve().parents[3]
STATE_DIR = PROJECT_DIR / ".cache" / f"molecule-fleet-{scenario.RELEASE}"
BOX_1, BOX_2, BOX_3 = (scenario.box_name(f"fleet-{n}") for n in (1, 2, 3))
BOXES = {BOX_1: "pi-1", BOX_2: "pi-2", BOX_3: "pi-3"}
UPSTREAM_PORT = scenario.upstream_port()
OFFLINE_NETWORK = scenario.network_name("fleet-offline")
MIRROR = "/srv/pypi/mirror"
PIP = "pip --disable-pip-version-check --no-cache-dir"
# The box's state that must come out the same however it was provisioned.
FINGERPRINT = f"""
cd {MIRROR} && find files simple -type f -print0 | sort -z | xargs -0 sha256sum
dpkg-query -W -f '${{Package}} ${{Version}}\\n' \\
    nginx dnsmasq hostapd python3-venv python3-bcrypt rsync
/opt/pypiserver/venv/bin/pip freeze --all
"""


def host(name):
    return testinfra.get_host(f"docker://{name}")


def fingerprint(name: str) -> str:
    result = host(name).run(FINGERPRINT)
    assert result.rc == 0, result.stderr
    return result.stdout


def controller_tree() -> str:
    mirror = STATE_DIR / "mirror"
    lines = subprocess.run(
        f"cd {mirror} && find files simple -type f -print0 | sort -z | xargs -0 sha256sum",
        shell=True, capture_output=True, text=True, check=True).stdout
    assert lines.count("\n") > 10, "the controller's mirror is nearly empty"
    return lines


@pytest.mark.parametrize("name", sorted(BOXES))
def test_every_box_serves(name):
    for service in ("nginx", "pypiserver", "dnsmasq"):
        assert host(name).service(service).is_running, f"{service} is down on {name}"


@pytest.mark.parametrize("name", sorted(BOXES))
def test_every_box_holds_the_controllers_mirror_exactly(name):
    box_tree = host(name).check_output(
        f"cd {MIRROR} && find files simple -type f -print0 | sort -z | xargs -0 sha256sum")
    assert box_tree + "\n" == controller_tree()
    # The staged copy shares the published files' inodes: the fan-out costs the box no space.
    assert host(name).check_output(
        f"find {MIRROR}/files -type f -links 1 | wc -l") == "0"


@pytest.mark.parametrize("name", sorted(BOXES))
def test_the_mirror_arrives_and_is_published_by_its_own_user(name):
    """rsync and the publishing ran as pypi-mirror: what they wrote is its own, and it can
    write nothing but the mirror."""
    box = host(name)
    assert box.check_output(f"find {MIRROR} ! -user pypi-mirror | head -5") == ""
    assert box.check_output(f"find {MIRROR}/.incoming/files -type f | wc -l") != "0"
    assert box.run("runuser -u pypi-mirror -- touch /srv/pypi/packages/probe").rc != 0


def test_the_software_cache_was_filled_once():
    manifests = list((STATE_DIR / "software").glob("*/debs/manifest.json"))
    assert len(manifests) == 1, manifests
    debs = json.loads(manifests[0].read_text())["debs"]
    assert any(name.startswith("nginx_") for name in debs), debs
    with tarfile.open(manifests[0].with_name("debs.tar")) as archive:
        assert sorted(archive.getnames()) == sorted(debs)
    wheels = manifests[0].parent.parent / "wheels"
    files = json.loads((wheels / "manifest.json").read_text())["files"]
    assert any(name.startswith("pypiserver-") for name in files), files
    with tarfile.open(wheels / "wheels.tar") as archive:
        assert sorted(archive.getnames()) == sorted(files)


@pytest.mark.parametrize("name", sorted(BOXES))
def test_pip_and_uv_install_from_every_box(client, name):
    alias = BOXES[name]
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install --index-url http://{alias}/simple/ --trusted-host {alias} jinja2
        export UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1
        uv venv --python /usr/bin/python3 /tmp/uv-venv
        uv pip install --python /tmp/uv-venv/bin/python --index-url http://{alias}/simple/ click
        /tmp/venv/bin/python -c 'import jinja2, markupsafe'
        /tmp/uv-venv/bin/python -c 'import click'
        """
    )
    assert result.succeeded, result.stdout + result.stderr


def run_site(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PROJECT_DIR / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        ["ansible-playbook", "site.yml", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1800)


def test_a_failing_box_does_not_stop_the_others(tmp_path):
    """One box with a bad setting: it fails with the reason, the others run to the end."""
    bad = tmp_path / "bad-box.yml"
    bad.write_text(f'all: {{hosts: {{{BOX_2}: {{access_point_channel: 13, '
                   'access_point_country: US}}}\n')
    run = run_site("-i", str(bad), "--limit", f"{BOX_1},{BOX_2}")
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "access_point_channel 13 is not legal" in output, output[-3000:]
    recap = output[output.rindex("PLAY RECAP"):]
    assert re.search(rf"{BOX_2}\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", recap), recap
    # BOX_1 went through every role (its landing page was rendered again: a post_task).
    assert re.search(rf"{BOX_1}\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", recap), recap
    assert "List what the box now holds on the landing page" in output


class Tripwire:
    """Listens where the upstream was and counts every connection attempt."""

    def __init__(self, port: int):
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()

    def close(self):
        self.sock.close()


def stop_upstream():
    pidfile = STATE_DIR / "upstream.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), 15)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", UPSTREAM_PORT)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError("the upstream did not stop")


@pytest.fixture
def reflashed_box(start_box):
    """BOX_3 recreated from the bare image, on a network with no route anywhere."""
    name = BOX_3
    subprocess.run(["docker", "rm", "--force", name], check=True, capture_output=True)
    subprocess.run(["docker", "network", "rm", OFFLINE_NETWORK], capture_output=True)
    subprocess.run(["docker", "network", "create", "--internal", OFFLINE_NETWORK],
                   check=True, capture_output=True)
    start_box(name, BOXES[name], OFFLINE_NETWORK)
    yield name
    subprocess.run(["docker", "rm", "--force", name], capture_output=True)
    subprocess.run(["docker", "network", "rm", OFFLINE_NETWORK], capture_output=True)


def test_a_reflashed_box_is_rebuilt_with_no_upstream_and_no_internet(reflashed_box, client):
    expected = fingerprint(BOX_1)
    assert host(reflashed_box).run("test -e /srv/pypi || test -e /usr/sbin/nginx").rc != 0
    # No route out of the box: a download of anything (apt, pip, the mirror) would fail.
    offline = host(reflashed_box).run(
        "python3 -c 'import urllib.request as u; u.urlopen(\"http://deb.debian.org\", timeout=5)'")
    assert offline.rc != 0

    stop_upstream()
    tripwire = Tripwire(UPSTREAM_PORT)
    try:
        run = run_site("--limit", reflashed_box)
    finally:
        tripwire.close()
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert tripwire.connections == 0, "the reflash reached for the upstream"

    assert fingerprint(reflashed_box) == expected
    result = client.on(OFFLINE_NETWORK).run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install --index-url http://pi-3/simple/ --trusted-host pi-3 jinja2 click
        /tmp/venv/bin/python -c 'import jinja2, click'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
