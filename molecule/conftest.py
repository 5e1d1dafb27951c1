"""Fixtures shared by every Molecule scenario's testinfra tests.

`box` is the provisioned Pi-like box. `client` runs commands the way an attendee's laptop does
over Wi-Fi: in a throwaway container on the scenario's Docker network, knowing the box only by
its network name and with no internet index configured; for a box that is no container (the
arm64 VM of scripts/arm64-site.sh), on the box itself, in a fresh private /tmp each time.
"""

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))  # for tests.support

from tests.support import scenario  # noqa: E402

BOX_NAME = scenario.box_name()
NETWORK = scenario.network_name()
# Clients use the same image as the box: a Debian with python3, pip and venv.
CLIENT_IMAGE = scenario.IMAGE
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


class BoxClient:
    """A client on the box itself, for a box with no Docker network around it.

    Each run gets a private, empty /tmp (a mount namespace of its own), so nothing leaks from
    one run to the next; `pi-box` is the box's own name there (/etc/hosts).
    """

    def __init__(self, box):
        self.box = box

    def on(self, network: str) -> "BoxClient":
        raise NotImplementedError("a client on the box reaches only that box")

    def run(self, script: str, timeout: int = 600) -> ClientResult:
        inner = "mount -t tmpfs tmpfs /tmp && cd /tmp && export HOME=/tmp && " + shlex.join(
            ["bash", "-euo", "pipefail", "-c", script])
        result = self.box.run(f"timeout {timeout} unshare --mount --propagation private "
                              f"sh -c {shlex.quote(inner)}")
        return ClientResult(result.rc, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def box():
    # Through Molecule's inventory: a container (docker connection) and a VM (ssh) alike.
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{BOX_NAME}?ansible_inventory={inventory}")


@pytest.fixture(scope="session")
def client(request):
    if scenario.CLIENT == "box":
        return BoxClient(request.getfixturevalue("box"))
    mounts = {}
    uv = shutil.which("uv")
    if uv:
        # The controller venv's uv is a static binary; mounting it beats downloading one.
        mounts[uv] = "/usr/local/bin/uv"
    if scenario.WHEELS_DIR.is_dir():
        mounts[str(scenario.WHEELS_DIR)] = "/wheels"
    return Client(mounts)


@pytest.fixture(scope="session")
def box_url():
    return BOX_URL


@pytest.fixture(scope="session")
def start_box():
    """Start a box container by hand, exactly as Molecule does (tests that reflash a box)."""
    from tests.support.box_container import docker_run_args, wait_for_systemd

    def start(name: str, hostname: str, network: str) -> None:
        subprocess.run(docker_run_args(name, hostname, network, CLIENT_IMAGE), check=True,
                       capture_output=True)
        wait_for_systemd(name)

    return start
