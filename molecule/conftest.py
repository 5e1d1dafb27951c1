"""Fixtures shared by every Molecule scenario's testinfra tests.

`box` is the provisioned Pi-like container. `client` runs commands in a throwaway container on
the scenario's Docker network, the way an attendee's laptop reaches the box over Wi-Fi: it
knows the box only by its network name and has no internet index configured. `base` and `http`
reach the box from the controller, for header-level checks.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
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

    def _command(self, script: str, *docker_args: str) -> list[str]:
        command = ["docker", "run", "--rm", "--network", self.network, *docker_args]
        for source, target in self.mounts.items():
            command += ["-v", f"{source}:{target}:ro"]
        return [*command, CLIENT_IMAGE, "bash", "-euo", "pipefail", "-c", script]

    def run(self, script: str, timeout: int = 600) -> ClientResult:
        completed = subprocess.run(self._command(script), capture_output=True, text=True,
                                   timeout=timeout)
        return ClientResult(completed.returncode, completed.stdout, completed.stderr)

    @contextlib.contextmanager
    def running(self, script: str) -> Iterator[subprocess.Popen]:
        """A client that keeps running while the test does something else (e.g. one that
        misbehaves while others install); removed, whatever state it is in, at the end."""
        name = f"piab-client-{uuid.uuid4().hex[:12]}"
        process = subprocess.Popen(self._command(script, "--name", name),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield process
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
            process.communicate(timeout=60)


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
