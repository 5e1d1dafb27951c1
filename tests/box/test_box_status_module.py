"""The box_status module through real Ansible: read-only, check mode, never a secret."""

from __future__ import annotations

import json
import time

import pytest

from tests.mirror.conftest import run_module

PASSPHRASE = "do-not-print-me-42"


def box_status(module_args: dict, *extra: str) -> tuple[int, dict]:
    code, result = run_module("box_status", json.dumps(module_args), *extra)
    assert PASSPHRASE not in json.dumps(result)
    return code, result


@pytest.fixture
def box(tmp_path):
    """A box's files in a temporary directory, in the layout the roles leave."""
    project = tmp_path / "mirror" / "files" / "jinja2"
    project.mkdir(parents=True)
    (project / "jinja2-3.1.6-py3-none-any.whl").write_bytes(b"w" * 1000)
    (project / "jinja2-3.1.6-py3-none-any.whl.metadata").write_bytes(b"m" * 10)
    (tmp_path / "mirror" / ".partial").mkdir()
    (tmp_path / "mirror" / ".partial" / "click-8.3.1-py3-none-any.whl").write_bytes(b"p")
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "workshop_helpers-0.1.0-py3-none-any.whl").write_bytes(b"x" * 5)
    (tmp_path / "hostapd.conf").write_text(
        f"interface=wlan0\nssid=pypi-in-a-box-2\ncountry_code=GB\nhw_mode=g\nchannel=6\n"
        f"wpa=2\nwpa_key_mgmt=WPA-PSK\nwpa_passphrase={PASSPHRASE}\n")
    now = int(time.time())
    (tmp_path / "leases").write_text(
        f"{now + 3600} 3c:22:fb:12:34:56 10.42.0.93 laptop-7 *\n"
        f"{now - 10} 00:11:22:33:44:55 10.42.0.95 gone *\n")
    (tmp_path / "proxy").mkdir()
    (tmp_path / "misses.log").write_text("2026-05-04T10:00:00+00:00 reqeusts 404 upstream\n")
    return {
        "mirror_dir": str(tmp_path / "mirror"),
        "packages_dir": str(tmp_path / "packages"),
        "hostapd_config": str(tmp_path / "hostapd.conf"),
        "lease_file": str(tmp_path / "leases"),
        "proxy_cache_dir": str(tmp_path / "proxy"),
        "proxy_miss_log": str(tmp_path / "misses.log"),
        "services": [],
    }


def test_reports_the_box_and_changes_nothing(box):
    code, result = box_status(box)
    assert code == 0, result
    assert result["changed"] is False
    assert result["mirror"]["projects"] == [
        {"name": "jinja2", "versions": ["3.1.6"], "files": 1, "bytes": 1010}]
    assert result["private"]["projects"] == [
        {"name": "workshop-helpers", "versions": ["0.1.0"], "files": 1, "bytes": 5}]
    assert result["access_point"]["ssid"] == "pypi-in-a-box-2"
    assert result["access_point"]["channel"] == 6
    assert result["dhcp"]["count"] == 1
    assert result["dhcp"]["leases"][0]["hostname"] == "laptop-7"
    assert result["disk"]["total_bytes"] >= result["disk"]["free_bytes"] > 0
    assert result["on_demand"]["project_count"] == 0
    assert result["on_demand"]["misses"] == [
        {"name": "reqeusts", "reason": "not found upstream", "requests": 1,
         "last": "2026-05-04T10:00:00+00:00"}]
    assert result["services"] == {}


def test_check_mode_reports_the_same(box):
    _, result = box_status(box)
    code, checked = box_status(box, "--check")
    assert code == 0 and checked["changed"] is False
    for key in ("mirror", "private", "access_point", "dhcp", "on_demand"):
        assert checked[key] == result[key]


def test_missing_sources_are_absent_not_errors(tmp_path):
    code, result = box_status({
        "mirror_dir": str(tmp_path / "no-mirror" / "yet"),
        "packages_dir": str(tmp_path / "no-packages"),
        "hostapd_config": str(tmp_path / "no-hostapd.conf"),
        "lease_file": str(tmp_path / "no-leases"),
        "proxy_cache_dir": str(tmp_path / "no-cache"),
        "proxy_miss_log": str(tmp_path / "no-misses.log"),
        "services": [],
    })
    assert code == 0, result
    assert result["access_point"] is None
    assert result["dhcp"] == {"file": str(tmp_path / "no-leases"), "exists": False, "count": 0,
                              "leases": []}
    assert result["mirror"]["exists"] is False and result["mirror"]["project_count"] == 0
    assert result["on_demand"]["exists"] is False and result["on_demand"]["misses"] == []
    # The free space of the filesystem the mirror will be created on.
    assert result["disk"]["path"] == str(tmp_path)
