"""What the dnsmasq scenario's tests share: its names, client containers, converge.yml again.

The Wi-Fi is played by the Docker network piab-dnsmasq-<release> (box <prefix>.0.1), the wired
uplink by piab-dnsmasq-<release>-uplink (see molecule.yml). Clients are throwaway containers
with NET_ADMIN running the scripts beside this file, so that what they ask comes from the
address dnsmasq leased.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parents[2]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))  # for tests.support

from tests.support import scenario  # noqa: E402

BOX = scenario.box_name()
WIFI_NETWORK = scenario.network_name()
UPLINK_NETWORK = f"{WIFI_NETWORK}-uplink"
IMAGE = scenario.IMAGE
# The box's address on the Wi-Fi stand-in (converge.yml).
BOX_ADDRESS = f"{scenario.net_prefix()}.0.1"


def run_client(network: str, script: str, *args: str) -> dict:
    """Run a client script from this directory in a fresh container; its JSON output."""
    command = ["docker", "run", "--rm", "--network", network, "--cap-add", "NET_ADMIN"]
    command += ["-v", f"{HERE}:/client:ro", IMAGE, "python3", f"/client/{script}", *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def converge(extra_vars: dict) -> subprocess.CompletedProcess:
    """Run converge.yml against the box again; extra vars outrank every other setting."""
    inventory = {
        "boxes": {
            "hosts": {
                BOX: {
                    "ansible_connection": "community.docker.docker",
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            }
        }
    }
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        ANSIBLE_NOCOLOR="1",
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json") as inventory_file:
        json.dump(inventory, inventory_file)
        inventory_file.flush()
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                inventory_file.name,
                "-e",
                json.dumps(extra_vars),
                str(HERE.parent / "converge.yml"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
