"""Fixtures for the nginx_cache scenario: the box seen from the controller over the network.

Header-level checks use `requests` from the controller against the box container's address (our
own container, no proxy); installs run with real pip and uv in the `client` fixture's container.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "nginx_cache")
BOX_NAME = f"box-{SCENARIO}"
NETWORK = f"piab-{SCENARIO}"
WHEELS = PROJECT_DIR / ".cache" / "wheels"
ROLE_DEFAULTS = PROJECT_DIR / "roles" / "nginx_cache" / "defaults" / "main.yml"
UPLOAD_USER = "uploader"
UPLOAD_PASSWORD = os.environ.get("PIAB_TEST_UPLOAD_PASSWORD", "molecule-upload-secret")

_NGINX_TIME_UNITS = {"ms": 0.001, "": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def nginx_seconds(value: str) -> float:
    """Seconds in an nginx time such as '10s', '1m30s' or '500ms'."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not an nginx time: {value}"
    return sum(int(number) * _NGINX_TIME_UNITS[unit] for number, unit in parts)


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
    assert path.is_file(), "run scripts/fetch-wheels.sh first"
    return path
