"""The access point role in the Pi-like container: no radio there, so the configuration is
installed and enabled, and the real hostapd must parse it (it then fails only at nl80211).
prepare.yml runs NetworkManager as on Raspberry Pi OS Bookworm, so the role must detect it.

Bad input is tried by running the role again (role_run.yml) against the same box: each bad
value must fail with its own message and leave /etc exactly as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = SCENARIO_DIR.parent.parent
BOX = scenario.box_name()
BIN = Path(sys.executable).parent
# Every file under /etc with its checksum: any change the role makes shows up here.
ETC_FINGERPRINT = "find /etc -xdev -type f -print0 | sort -z | xargs -0 md5sum | md5sum"


def playbook(name: str, extra_vars: dict) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    command = [
        str(BIN / "ansible-playbook"),
        "-i",
        f"{BOX},",
        "-c",
        "community.docker.docker",
        "-e",
        "ansible_python_interpreter=/usr/bin/python3",
        "-e",
        json.dumps(extra_vars),
        str(SCENARIO_DIR / name),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )


def hostapd_parse(box, path: str) -> str:
    # No check-only flag exists: run it briefly; without nl80211 it stops right after parsing.
    result = box.run(f"timeout 20 hostapd -dd {path}")
    return result.stdout + result.stderr


def assert_parsed(output: str) -> None:
    assert "errors found in configuration file" not in output, output
    assert "Line " not in output, output
    # It got past the configuration, to the driver, which this kernel does not have.
    assert "nl80211" in output, output


def test_hostapd_conf_is_private_and_wpa2_ccmp_only(box):
    conf = box.file("/etc/hostapd/hostapd.conf")
    assert conf.user == "root"
    assert conf.mode == 0o600
    settings = dict(
        line.split("=", 1)
        for line in conf.content_string.splitlines()
        if line and not line.startswith("#")
    )
    assert settings["interface"] == "wlan0"
    assert settings["ssid"] == "PyPI Café ☕ Molecule"
    assert settings["wpa"] == "2"
    assert settings["wpa_key_mgmt"] == "WPA-PSK"
    assert settings["rsn_pairwise"] == "CCMP"
    assert "wpa_pairwise" not in settings
    assert not [key for key, value in settings.items() if "TKIP" in value]
    assert settings["wpa_passphrase"] == "molecule test passphrase"
    assert (settings["country_code"], settings["hw_mode"], settings["channel"]) == ("DE", "g", "11")
    assert settings["ieee80211n"] == "1"


def test_real_hostapd_parses_the_installed_config(box):
    assert_parsed(hostapd_parse(box, "/etc/hostapd/hostapd.conf"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"access_point_security": "transition"},
        {"access_point_security": "wpa3"},
        {"access_point_hw_mode": "a", "access_point_channel": 36, "access_point_ieee80211ac": True},
        {"access_point_hide_ssid": True, "access_point_ieee80211n": False},
    ],
    ids=["wpa3-transition", "wpa3-only", "5ghz-ac", "hidden-legacy"],
)
def test_real_hostapd_parses_every_variant(box, overrides):
    dest = "/tmp/hostapd-variant.conf"
    extra = {"access_point_passphrase": "variant passphrase", "render_dest": dest, **overrides}
    rendered = playbook("render_hostapd.yml", extra)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert_parsed(hostapd_parse(box, dest))
    text = box.file(dest).content_string
    if overrides.get("access_point_security") == "transition":
        assert "wpa_key_mgmt=WPA-PSK SAE" in text and "ieee80211w=1" in text
    if overrides.get("access_point_security") == "wpa3":
        assert "wpa_key_mgmt=SAE\n" in text and "ieee80211w=2" in text


def test_hostapd_unmasked_enabled_and_waits_for_the_device(box):
    assert box.run("systemctl is-enabled hostapd.service").stdout.strip() == "enabled"
    dropin = box.file("/etc/systemd/system/hostapd.service.d/pypi-in-a-box.conf").content_string
    assert "BindsTo=sys-subsystem-net-devices-wlan0.device" in dropin
    assert "After=sys-subsystem-net-devices-wlan0.device" in dropin
    # systemd itself reads the drop-in.
    binds = box.run("systemctl show -p BindsTo hostapd.service").stdout
    assert "sys-subsystem-net-devices-wlan0.device" in binds


def test_radio_unit_sets_country_and_unblocks_at_every_boot(box):
    unit = box.file("/etc/systemd/system/pypi-in-a-box-wifi-radio.service").content_string
    assert "ExecStart=/usr/sbin/rfkill unblock wlan" in unit
    assert "ExecStart=/usr/sbin/iw reg set DE" in unit
    assert "Before=hostapd.service" in unit
    enabled = box.run("systemctl is-enabled pypi-in-a-box-wifi-radio.service").stdout.strip()
    assert enabled == "enabled"
    wants = box.file("/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants")
    assert wants.is_directory


def test_networkmanager_leaves_wlan0_alone_and_keeps_other_unmanaged_devices(box):
    # prepare.yml installed NetworkManager as on Raspberry Pi OS Bookworm (eth0 unmanaged by an
    # earlier conf.d file); the role must have detected it without being told.
    conf = box.file("/etc/NetworkManager/conf.d/99-pypi-in-a-box.conf")
    assert "unmanaged-devices+=interface-name:wlan0" in conf.content_string
    states = dict(
        line.split(":", 1)
        for line in box.check_output("nmcli -t -f DEVICE,STATE device status").splitlines()
    )
    assert states["wlan0"] == "unmanaged"
    # "+=" appended: the earlier file's devices are still unmanaged.
    assert states["eth0"] == "unmanaged"
    assert not box.file("/etc/dhcpcd.conf").exists


def test_address_unit_assigns_the_box_address_once_the_device_exists(box):
    unit = box.file("/etc/systemd/system/pypi-in-a-box-wifi-address.service").content_string
    assert "ExecStart=/usr/sbin/ip address replace 10.42.0.1/24 dev wlan0" in unit
    assert "BindsTo=sys-subsystem-net-devices-wlan0.device" in unit
    enabled = box.run("systemctl is-enabled pypi-in-a-box-wifi-address.service").stdout.strip()
    assert enabled == "enabled"
    verify = box.run("systemd-analyze verify /etc/systemd/system/pypi-in-a-box-wifi-*.service")
    assert "pypi-in-a-box" not in verify.stderr, verify.stderr


def test_nat_off_by_default(box):
    assert not box.file("/etc/systemd/system/pypi-in-a-box-wifi-nat.service").exists
    assert not box.file("/etc/sysctl.d/90-pypi-in-a-box-forward.conf").exists


def test_without_a_radio_the_role_says_it_does_not_start_hostapd(box):
    before = box.run(ETC_FINGERPRINT).stdout
    result = playbook("role_run.yml", {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No Wi-Fi interface 'wlan0' on this host" in result.stdout
    assert "changed=0" in result.stdout
    assert box.run(ETC_FINGERPRINT).stdout == before
    assert not box.service("hostapd").is_running


BAD_INPUT = {
    "short-passphrase": (
        {"access_point_passphrase": "tiny7"},
        "access_point_passphrase must be 8 to 63 printable ASCII characters",
    ),
    "long-passphrase": (
        {"access_point_passphrase": "x" * 64},
        "access_point_passphrase must be 8 to 63 printable ASCII characters",
    ),
    "non-ascii-passphrase": (
        {"access_point_passphrase": "pässwörter123"},
        "access_point_passphrase must be 8 to 63 printable ASCII characters",
    ),
    "unknown-country": (
        {"access_point_country": "XX"},
        "access_point_country 'XX' is not an ISO 3166-1 alpha-2 country code",
    ),
    "lowercase-country": (
        {"access_point_country": "de"},
        "access_point_country 'de' is not an ISO 3166-1 alpha-2 country code",
    ),
    "channel-13-in-us": (
        {"access_point_country": "US", "access_point_channel": 13},
        "access_point_channel 13 is not legal for 2.4 GHz (hw_mode g) in US",
    ),
    "channel-14": (
        {"access_point_channel": 14},
        "access_point_channel 14 is not legal for 2.4 GHz (hw_mode g) in DE",
    ),
    "2ghz-channel-on-5ghz": (
        {"access_point_hw_mode": "a", "access_point_channel": 6},
        "access_point_channel 6 is not legal for 5 GHz (hw_mode a) in DE",
    ),
    "ssid-33-bytes": (
        {"access_point_ssid": "€" * 11},
        "access_point_ssid must be 1 to 32 bytes of UTF-8",
    ),
    "empty-ssid": ({"access_point_ssid": ""}, "access_point_ssid must be 1 to 32 bytes of UTF-8"),
    "interface-required": (
        {"access_point_require_interface": True},
        "access_point_interface 'wlan0' is not a Wi-Fi interface on this host",
    ),
}


@pytest.mark.parametrize("overrides,message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_fails_with_its_message_and_changes_nothing(box, overrides, message):
    before = box.run(ETC_FINGERPRINT).stdout
    result = playbook("role_run.yml", overrides)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert message in output
    assert box.run(ETC_FINGERPRINT).stdout == before
    # The passphrase never shows up in the output, even when it is the bad value.
    if "access_point_passphrase" in overrides:
        assert overrides["access_point_passphrase"] not in output


def test_nat_to_the_uplink_when_enabled_and_gone_when_disabled(box):
    # net.ipv4.ip_forward is per network namespace: writable /proc/sys reaches only the box.
    assert box.run("mount -o remount,rw /proc/sys").rc == 0
    nat = {"access_point_nat_enabled": True, "access_point_nat_uplink_interface": "eth0"}
    on = playbook("role_run.yml", nat)
    assert on.returncode == 0, on.stdout + on.stderr
    table = box.run("nft list table ip pypi_in_a_box_nat")
    assert table.rc == 0, table.stderr
    assert 'oifname "eth0" ip saddr 10.42.0.0/24 masquerade' in table.stdout
    assert 'iifname "eth0" oifname "wlan0" drop' in table.stdout
    assert box.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    assert box.service("pypi-in-a-box-wifi-nat").is_enabled
    again = playbook("role_run.yml", nat)
    assert "changed=0" in again.stdout
    off = playbook("role_run.yml", {})
    assert off.returncode == 0, off.stdout + off.stderr
    assert box.run("nft list table ip pypi_in_a_box_nat").rc != 0
    assert not box.file("/etc/systemd/system/pypi-in-a-box-wifi-nat.service").exists
    assert not box.file("/etc/pypi-in-a-box-nat.nft").exists


# Last on purpose: it turns the box into an older Raspberry Pi OS with dhcpcd.
def test_zz_dhcpcd_stack_gets_the_static_address_from_the_role(box):
    # Container-only settings, in the distribution's part of dhcpcd.conf: stay off Docker's
    # link, keep Docker's resolv.conf, and do not wait for udev (none runs here). dhcpcd also
    # writes per-interface sysctls, which Docker mounts read-only; they are per network
    # namespace, so making /proc/sys writable in the box does not reach the host's network.
    box.run(
        "printf 'nodev\\nnohook resolv.conf\\ndenyinterfaces eth0 wlan0-peer\\n' > /etc/dhcpcd.conf"
    )
    remount = box.run("mount -o remount,rw /proc/sys")
    assert remount.rc == 0, remount.stderr
    install = box.run(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold "
        "--no-install-recommends dhcpcd"
    )
    assert install.rc == 0, install.stderr
    stack = {"access_point_network_stack": "dhcpcd"}
    first = playbook("role_run.yml", stack)
    assert first.returncode == 0, first.stdout + first.stderr
    conf = box.file("/etc/dhcpcd.conf").content_string
    assert "denyinterfaces eth0 wlan0-peer" in conf  # the distribution's part is kept
    assert "interface wlan0\n    static ip_address=10.42.0.1/24\n    nohook wpa_supplicant" in conf
    # dhcpcd itself applies the block once the link has a carrier.
    box.run("ip link set wlan0-peer up && ip link set wlan0 up")
    address = box.run(
        "for i in $(seq 30); do ip -4 -o address show dev wlan0 | grep -q 10.42.0.1/24 && exit 0;"
        " sleep 1; done; exit 1"
    )
    assert address.rc == 0, box.run("ip address show dev wlan0; journalctl -u dhcpcd -n 20").stdout
    again = playbook("role_run.yml", stack)
    assert again.returncode == 0
    assert "changed=0" in again.stdout
