"""Fixtures shared by every Molecule scenario's testinfra tests.

`box` is the provisioned Pi-like container. `client` runs commands in a throwaway container on
the scenario's Docker network, the way an attendee's laptop reaches the box over Wi-Fi: it
knows the box only by its network name and has no internet index configured.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
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

    def __init__(self, mounts: dict[str, str]):
        self.mounts = mounts

    def run(self, script: str, timeout: int = 600) -> ClientResult:
        command = ["docker", "run", "--rm", "--network", NETWORK]
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
