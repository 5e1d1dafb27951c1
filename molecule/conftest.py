"""Fixtures shared by every Molecule scenario's testinfra tests.

`box` is the provisioned Pi-like box. `client` runs commands the way an attendee's laptop does
over Wi-Fi: in a throwaway container on the scenario's Docker network, knowing the box only by
its network name and with no internet index configured; for a box that is no container (the
arm64 VM of scripts/arm64-site.sh), on the box itself, in a fresh private /tmp each time. `base`
and `http` reach the box from the controller, for header-level checks.
"""

import contextlib
import os
import shlex
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
    from tests.support.box_container import docker_run_args, wait_for_systemd

    def start(name: str, hostname: str, network: str) -> None:
        subprocess.run(docker_run_args(name, hostname, network, CLIENT_IMAGE), check=True,
                       capture_output=True)
        wait_for_systemd(name)

    return start
