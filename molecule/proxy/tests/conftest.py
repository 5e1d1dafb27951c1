"""Fixtures for the proxy scenario: the box seen from the controller, the upstream and its log.

The upstream (tests/support/serve_upstream.py in the container upstream-proxy-<release>) writes
one JSON line per request it received: what reached it is read from there, never inferred from
the box.
Header-level checks use `http` and `base` (molecule/conftest.py) from the controller; installs
run with real pip and uv in the `client` fixture's containers, which reach the upstream only
through the box.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))  # for tests.support

from tests.support import scenario  # noqa: E402

SCENARIO_DIR = Path(__file__).resolve().parents[1]
# The names of molecule.yml, which carry the release.
BOX_NAME = scenario.box_name()
UPSTREAM_NAME = f"upstream-{scenario.SCENARIO}-{scenario.RELEASE}"
UPLINK_NETWORK = f"{scenario.network_name()}-uplink"
UPSTREAM_LOG = "/var/log/piab-upstream.jsonl"
JSON = "application/vnd.pypi.simple.v1+json"
PIP = "pip --disable-pip-version-check --no-cache-dir"
INDEX = "--index-url http://pi-box/simple/ --trusted-host pi-box"
UV = "UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 uv"
# An offline miss is bounded by the resolver's and the connect timeout (3 s each by default).
OFFLINE_BOUND = 10
# The scenario's settings (converge.yml and apply_role.yml read the same file).
SETTINGS = yaml.safe_load((SCENARIO_DIR / "vars" / "scenario.yml").read_text())
CACHE = SETTINGS["nginx_cache_proxy_dir"]
# The nginx_cache tasks a change of the on-demand cache's settings needs (README: role tags).
PROXY_TAGS = "nginx_cache_validate,nginx_cache_proxy,nginx_cache_site,nginx_cache_landing," \
             "nginx_cache_service"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


class UpstreamServer:
    """The upstream container: its access log, and stopping and starting its server."""

    def records(self) -> list[dict]:
        out = docker("exec", UPSTREAM_NAME, "cat", UPSTREAM_LOG).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def mark(self) -> int:
        return len(self.settled())

    def settled(self) -> list[dict]:
        """The log once its writer has caught up (it appends every 0.1 s)."""
        records = self.records()
        for _ in range(20):
            time.sleep(0.3)
            again = self.records()
            if len(again) == len(records):
                return again
            records = again
        return records

    def since(self, mark: int) -> list[dict]:
        return self.settled()[mark:]

    def stop(self) -> None:
        docker("exec", UPSTREAM_NAME, "systemctl", "stop", "piab-upstream")

    def start(self) -> None:
        docker("exec", UPSTREAM_NAME, "systemctl", "start", "piab-upstream")
        deadline = time.monotonic() + 60
        while docker("exec", UPSTREAM_NAME, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000",
                     check=False).returncode != 0:
            assert time.monotonic() < deadline, "the upstream did not come back"
            time.sleep(0.5)


@pytest.fixture(scope="session")
def upstream() -> UpstreamServer:
    return UpstreamServer()


def ansible_playbook(playbook: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook against the box over the docker connection, as molecule runs it."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"boxes": {"hosts": {BOX_NAME: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        # What status.yml reads from the inventory, as the site play's users set it.
        "nginx_cache_proxy_dir": CACHE,
    }}}}))
    environment = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        MOLECULE_PROJECT_DIRECTORY=str(PROJECT_DIR),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",  # molecule exports it for its own runs; these are parsed
    )
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
               str(playbook), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env=environment, cwd=PROJECT_DIR)


@pytest.fixture
def apply_role(tmp_path):
    """apply_role(role, tags=None, **extra_vars): the role again (only those of its tags if
    given), with the scenario's settings."""

    def apply(role: str, tags: str | None = None, **extra_vars) -> subprocess.CompletedProcess:
        result = ansible_playbook(SCENARIO_DIR / "apply_role.yml", tmp_path, "-e",
                                  json.dumps({"role_under_test": role, **extra_vars}),
                                  *(["--tags", tags] if tags else []))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result

    return apply


@pytest.fixture
def status_report(tmp_path):
    """The output of `ansible-playbook status.yml` for the box."""

    def run() -> str:
        result = ansible_playbook(PROJECT_DIR / "status.yml", tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result.stdout

    return run


def refresh_report(box) -> None:
    """Run what the timer runs every minute, now."""
    box.run_expect([0], "systemctl start pypi-in-a-box-proxy.service")


MIB = 1024 * 1024


def cache_bytes(box) -> int:
    """What nginx counts against max_size: the cache files' allocated blocks."""
    out = box.check_output(f"find {CACHE} -type f -printf '%b\\n'")
    return sum(int(n) for n in out.split()) * 512


def wait_for(condition, seconds: float, what) -> None:
    """Poll condition() every second until it holds; fail with what() after seconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(1)
