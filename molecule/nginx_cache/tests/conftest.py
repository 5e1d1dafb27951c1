"""Fixtures for the nginx_cache scenario: the box seen from the controller over the network.

Header-level checks use `requests` from the controller against the box container's address (our
own container, no proxy); installs run with real pip and uv in the `client` fixture's container.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.support import scenario

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
BOX_NAME = scenario.box_name()
NETWORK = scenario.network_name()
WHEELS = scenario.WHEELS_DIR
ROLE_DEFAULTS = PROJECT_DIR / "roles" / "nginx_cache" / "defaults" / "main.yml"
UPLOAD_USER = "uploader"
UPLOAD_PASSWORD = os.environ.get("PIAB_TEST_UPLOAD_PASSWORD", "molecule-upload-secret")

_NGINX_TIME_UNITS = {"ms": 0.001, "": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def nginx_seconds(value: str) -> float:
    """Seconds in an nginx time such as '10s', '1m30s' or '500ms'."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not an nginx time: {value}"
    return sum(int(number) * _NGINX_TIME_UNITS[unit] for number, unit in parts)


SCENARIO_DIR = Path(__file__).resolve().parents[1]


def run_playbook(playbook: str, tmp_path: Path, **extra_vars) -> subprocess.CompletedProcess:
    """ansible-playbook on the box, from the scenario directory, the way molecule runs it."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"boxes": {"hosts": {BOX_NAME: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))
    environment = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        MOLECULE_PROJECT_DIRECTORY=str(PROJECT_DIR),
        PIAB_TEST_UPLOAD_PASSWORD=UPLOAD_PASSWORD,
        ANSIBLE_NOCOLOR="1",
        # molecule exports ANSIBLE_FORCE_COLOR for its own runs; these outputs are parsed.
        ANSIBLE_FORCE_COLOR="0",
    )
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", str(inventory), str(SCENARIO_DIR / playbook), "-e", json.dumps(extra_vars),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=environment, cwd=PROJECT_DIR
    )


@pytest.fixture
def reconverged(request, tmp_path):
    """The box converged with other variables (the test's indirect parameter) for one test,
    then back to the scenario's own state for the others."""
    result = run_playbook("converge.yml", tmp_path, **request.param)
    assert result.returncode == 0, result.stdout + result.stderr
    yield
    restored = run_playbook("converge.yml", tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr


@pytest.fixture(scope="session")
def role_defaults() -> dict:
    """The role's documented defaults, which converge.yml does not override for the cache."""
    return yaml.safe_load(ROLE_DEFAULTS.read_text())


@pytest.fixture(scope="session")
def box_ip() -> str:
    template = f'{{{{ (index .NetworkSettings.Networks "{NETWORK}").IPAddress }}}}'
    address = subprocess.run(
        ["docker", "inspect", "-f", template, BOX_NAME],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert address, f"{BOX_NAME} has no address on {NETWORK}"
    return address


@pytest.fixture(scope="session")
def base(box_ip) -> str:
    return f"http://{box_ip}"


@pytest.fixture(scope="session")
def http() -> requests.Session:
    session = requests.Session()
    # The box is our own container: never through a proxy from the environment.
    session.trust_env = False
    return session


@pytest.fixture(scope="session")
def wheel_file() -> Path:
    """A real seed wheel, served from pypiserver's directory."""
    path = WHEELS / "requests-2.32.3-py3-none-any.whl"
    assert path.is_file(), "run scripts/fetch-wheels.sh first (scripts/run-molecule.sh does)"
    return path
