"""Fixtures shared by every Molecule scenario's testinfra tests.

`box` is the provisioned Pi-like container. `client` runs commands in a throwaway container on
the scenario's Docker network, the way an attendee's laptop reaches the box over Wi-Fi: it
knows the box only by its network name and has no internet index configured. `base` and `http`
reach the box from the controller, for header-level checks.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import testinfra

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
BOX_NAME = f"box-{SCENARIO}"
NETWORK = f"piab-{SCENARIO}"
# Clients use the same base image as the box: a Debian with python3, pip and venv.
CLIENT_IMAGE = os.environ.get("PIAB_IMAGE", "pypi-in-a-box/pi-base:latest")
# The address attendees' tools use for the box inside the test network.
BOX_URL = "http://pi-box"


@dataclass
class ClientResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


class Client:
    """A fresh container per call: nothing leaks from one client run to the next."""

    def __init__(self, mounts: dict[str, str], network: str = NETWORK):
        self.mounts = mounts
        self.network = network

    def on(self, network: str) -> "Client":
        """The same client on another network (another box's Wi-Fi)."""
        return Client(self.mounts, network)

    def run(self, script: str, timeout: int = 600) -> ClientResult:
        command = ["docker", "run", "--rm", "--network", self.network]
        for source, target in self.mounts.items():
            command += ["-v", f"{source}:{target}:ro"]
        command += [CLIENT_IMAGE, "bash", "-euo", "pipefail", "-c", script]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return ClientResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="session")
def box():
    return testinfra.get_host(f"docker://{BOX_NAME}")


@pytest.fixture(scope="session")
def client():
    mounts = {}
    uv = shutil.which("uv")
    if uv:
        # The controller venv's uv is a static binary; mounting it beats downloading one.
        mounts[uv] = "/usr/local/bin/uv"
    wheels = PROJECT_DIR / ".cache" / "wheels"
    if wheels.is_dir():
        mounts[str(wheels)] = "/wheels"
    return Client(mounts)


@pytest.fixture(scope="session")
def box_url():
    return BOX_URL


@pytest.fixture(scope="session")
def box_ip() -> str:
    """The box's address on the scenario network, for checks from the controller."""
    template = f'{{{{ (index .NetworkSettings.Networks "{NETWORK}").IPAddress }}}}'
    address = subprocess.run(["docker", "inspect", "-f", template, BOX_NAME],
                             capture_output=True, text=True, check=True).stdout.strip()
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
def start_box():
    """Start a box container by hand, exactly as Molecule does (tests that reflash a box)."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    from tests.support.box_container import docker_run_args, wait_for_systemd

    def start(name: str, hostname: str, network: str) -> None:
        subprocess.run(docker_run_args(name, hostname, network, CLIENT_IMAGE), check=True,
                       capture_output=True)
        wait_for_systemd(name)

    return start
