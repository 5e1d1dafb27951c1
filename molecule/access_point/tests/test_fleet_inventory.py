"""The example fleet inventory gives every box its own SSID, channel and subnet from its place
in the `workshop` group, lets host_vars override them, and every value passes the roles' own
validation. Runs fleet_vars.yml against inventory/fleet on the controller; no box is contacted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = SCENARIO_DIR.parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def fleet() -> dict[str, dict]:
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    completed = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(PROJECT_DIR / "inventory" / "fleet"),
            str(SCENARIO_DIR / "fleet_vars.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Other callbacks (profile_tasks) may print lines before and after the JSON document.
    report, _ = json.JSONDecoder().raw_decode(completed.stdout[completed.stdout.index("\n{") + 1 :])
    shown = next(
        task
        for task in report["plays"][0]["tasks"]
        if task["task"]["name"] == "Show the box's settings"
    )
    return {host: result["msg"] for host, result in shown["hosts"].items()}


def test_boxes_in_inventory_order(fleet):
    assert list(fleet) == ["pi-1.local", "pi-2.local", "pi-3.local", "pi-4.local"]


def test_channels_take_turns_on_1_6_11(fleet):
    assert [box["channel"] for box in fleet.values()] == [1, 6, 11, 1]
    assert {box["hw_mode"] for box in fleet.values()} == {"g"}


def test_each_box_has_its_own_subnet_and_pool_inside_it(fleet):
    networks = []
    for box in fleet.values():
        interface = ipaddress.ip_interface(box["address"])
        networks.append(interface.network)
        start, end = (ipaddress.ip_address(a) for a in box["dhcp_range"].split("-"))
        assert start in interface.network and end in interface.network
        assert not start <= interface.ip <= end
        assert int(end) - int(start) + 1 >= 100  # room for a workshop
        assert box["dns_box_address"] == str(interface.ip)
    assert len(set(networks)) == len(networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert str(networks[0]) == "10.42.0.0/24"  # the first box keeps the default address


def test_ssid_suffix_from_order_and_host_vars_override(fleet):
    assert fleet["pi-1.local"]["ssid"] == "pypi-in-a-box-1"
    assert fleet["pi-2.local"]["ssid"] == "pypi-in-a-box-stage"  # host_vars/pi-2.local.yml
    assert fleet["pi-3.local"]["ssid"] == "pypi-in-a-box-3"
    assert fleet["pi-4.local"]["ssid"] == "pypi-in-a-box-4"


def test_every_box_answers_the_shared_name_and_its_own(fleet):
    for number, box in enumerate(fleet.values(), start=1):
        assert box["names"] == ["pypi.internal", f"pypi-{number}.internal"]
