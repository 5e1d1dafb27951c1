"""Wi-Fi over simulated radios: the roles' real hostapd.conf and dnsmasq.conf in a Linux VM.

One qemu boot (see radio_build.py) runs the whole scenario inside the VM and reports each step
as a "RADIO-TEST: ..." line on its serial console; each test below judges one claim from those
lines against the values the roles rendered. The VM is built once and cached (.cache/radio/);
a cold build takes a couple of minutes, a warm run about a minute (most of it the boot under TCG
and Ansible rendering the configs).

Not skipped when the host lacks qemu or debootstrap: the test fails and names the apt packages.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass

import pytest
import radio_build

# Generous: a run takes about 30 s on a quiet machine; CI machines are shared and TCG is slow.
BOOT_TIMEOUT = 300


@dataclass(repr=False)  # assertion messages show the markers, not the whole console
class Radio:
    console: str
    markers: list[str]
    params: dict
    page: bytes
    seconds: float

    def __repr__(self) -> str:
        return f"Radio({len(self.markers)} markers, {self.seconds:.0f} s)"

    def find(self, prefix: str) -> list[str]:
        """The rest of each marker line that starts with prefix."""
        return [m[len(prefix) :].strip() for m in self.markers if m.startswith(prefix)]

    def one(self, prefix: str) -> str:
        """The single marker starting with prefix; fails with the whole trace if it is missing."""
        found = self.find(prefix)
        assert len(found) == 1, f"expected one marker {prefix!r}, got {found}" + self.context()
        return found[0]

    def logs(self, *names: str) -> str:
        """The VM's log lines for the named logs (hostapd, dnsmasq, wpa-good, ...), for messages."""
        wanted = tuple(f"RADIO-LOG {n}: " for n in names)
        lines = [line for line in self.console.splitlines() if line.startswith(wanted)]
        return "\n".join(lines[-60:]) or "(no log lines)"

    def context(self, *names: str) -> str:
        return "\nmarkers:\n  " + "\n  ".join(self.markers) + "\nlogs:\n" + self.logs(*names)


@pytest.fixture(scope="module")
def radio(tmp_path_factory: pytest.TempPathFactory) -> Radio:
    missing = radio_build.missing_host_tools()
    if missing:
        pytest.fail(
            f"the radio test needs these host packages: apt-get install {' '.join(missing)}",
            pytrace=False,
        )
    try:
        base = radio_build.build_vm()
    except radio_build.BuildError as exc:
        pytest.fail(f"could not build the radio test VM: {exc}", pytrace=False)
    work = tmp_path_factory.mktemp("radio")
    configs = work / "configs"
    configs.mkdir()
    try:
        radio_build.render_configs(configs, radio_build.extra_vars_from_env())
    except radio_build.BuildError as exc:
        pytest.fail(f"could not render the roles' configurations: {exc}", pytrace=False)
    result = radio_build.boot(base, configs, work, timeout=BOOT_TIMEOUT)
    (work / "console.txt").write_text(result.console)
    markers = re.findall(r"^.*?RADIO-TEST: (.*?)\s*$", result.console, re.MULTILINE)
    if result.timed_out:
        pytest.fail(
            f"the VM did not finish within {BOOT_TIMEOUT} s (killed); console tail:\n"
            + "\n".join(result.console.splitlines()[-80:]),
            pytrace=False,
        )
    return Radio(
        console=result.console,
        markers=markers,
        params=json.loads((configs / "etc/radio/radio.json").read_text()),
        page=(configs / "www/index.html").read_bytes(),
        seconds=result.seconds,
    )


def test_vm_runs_the_scenario_to_the_end(radio: Radio) -> None:
    assert "done" in radio.markers, (
        "the VM's /init did not reach the end of the scenario; console tail:\n"
        + "\n".join(radio.console.splitlines()[-80:])
    )
    radios = radio.one("radios ")
    assert len(radios.split()) >= 3, f"mac80211_hwsim made no 3 radios: {radios}" + radio.context(
        "modprobe"
    )


def test_access_point_starts_with_the_role_config(radio: Radio) -> None:
    assert "ap enabled" in radio.markers, (
        "hostapd did not enable the AP with roles/access_point's hostapd.conf"
        + radio.context("hostapd", "hostapd.out")
    )
    assert "dnsmasq started" in radio.markers, (
        "dnsmasq did not start with roles/dnsmasq's dnsmasq.conf"
        + radio.context("dnsmasq", "dnsmasq.out")
    )


def test_client_associates_with_the_right_passphrase(radio: Radio) -> None:
    assert "associated ok" in radio.markers, (
        "the client with the right passphrase did not connect"
        + radio.context("wpa-good", "hostapd")
    )
    status = dict(item.split("=", 1) for item in radio.one("status wpa ").split() if "=" in item)
    status["ssid"] = radio.one("status ssid=")
    assert status.get("wpa_state") == "COMPLETED", f"wpa_supplicant status: {status}"
    assert status.get("key_mgmt") == "WPA2-PSK", f"not WPA2-PSK: {status}"
    assert status.get("pairwise_cipher") == "CCMP", f"pairwise cipher is not CCMP: {status}"
    assert status.get("group_cipher") == "CCMP", f"group cipher is not CCMP: {status}"
    stations = dict(item.split("=", 1) for item in radio.one("box stations").split())
    mac = radio.one("good mac ")
    assert "[AUTHORIZED]" in stations.get(mac, ""), (
        f"hostapd does not hold {mac} as an authorized station: {stations}"
    )
    assert status.get("ssid") == radio.params["ssid"], (
        f"associated to SSID {status.get('ssid')!r}, the role configures {radio.params['ssid']!r}"
    )


def test_client_gets_a_lease_from_the_configured_range(radio: Radio) -> None:
    leases = radio.find("lease good ")
    assert leases and leases[-1][0].isdigit(), (
        f"the client got no DHCP lease: {leases}" + radio.context("udhcpc-good", "dnsmasq")
    )
    address = ipaddress.ip_address(leases[-1])
    start = ipaddress.ip_address(radio.params["dhcp_range_start"])
    end = ipaddress.ip_address(radio.params["dhcp_range_end"])
    assert start <= address <= end, f"lease {address} is outside the range {start}-{end}"
    options = radio.one("lease-options good ")
    box = radio.params["box_address"]
    assert f"router={box}" in options.split(), f"router is not the box ({box}): {options}"
    assert f"dns={box}" in options.split(), f"DNS server is not the box ({box}): {options}"
    box_leases = radio.one("box leases")
    mac = radio.one("good mac ")
    assert f"{address}={mac}" in box_leases.split(), (
        f"dnsmasq's lease file does not hold {address} for {mac}: {box_leases!r}"
    )


def test_client_resolves_the_box_name_through_the_leased_dns(radio: Radio) -> None:
    name = radio.params["box_name"]
    answers = radio.find(f"resolve {name} ")
    assert answers, f"no resolution of {name} was attempted (no lease?)" + radio.context(
        "udhcpc-good"
    )
    assert answers[-1] == radio.params["box_address"], (
        f"{name} resolved to {answers[-1]}, expected the box {radio.params['box_address']}"
        + radio.context("dnsmasq")
    )


def test_box_name_has_no_refused_record_types(radio: Radio) -> None:
    """An AAAA query for the box's name gets an empty answer, not REFUSED (laptops ask both)."""
    name = radio.params["box_name"]
    outcome = radio.one(f"dns-aaaa {name} ")
    assert outcome in ("empty", "answer"), (
        f"AAAA query for {name} -> {outcome}; clients asking A+AAAA may give up or wait"
        + radio.context("nslookup", "dnsmasq")
    )


def test_outside_names_are_answered_at_once_offline(radio: Radio) -> None:
    """With no uplink, a name outside the box gets an immediate error, not a resolver timeout."""
    outcome, _, seconds = radio.one("dns-outside pypi.org ").partition(" seconds=")
    assert outcome in ("NXDOMAIN", "REFUSED"), (
        f"pypi.org from the offline box -> {outcome}" + radio.context("nslookup", "dnsmasq")
    )
    # nslookup's own timeout is 5 s; an answer takes well under a second even under TCG.
    assert float(seconds) < 3, f"the answer for pypi.org took {seconds} s (a timeout?)"


def test_client_fetches_the_landing_page_over_wifi(radio: Radio) -> None:
    results = radio.find("http ")
    assert results, "no HTTP fetch was attempted" + radio.context("curl-good")
    fields = results[-1].split()
    assert fields[0] == "200", f"GET http://{radio.params['box_name']}/ -> {results[-1]}" + (
        radio.context("curl-good", "dnsmasq")
    )
    assert fields[1] == radio.params["box_address"], f"connected to {fields[1]}, not the box"
    expected = hashlib.sha256(radio.page).hexdigest()
    assert fields[-1] == f"sha256={expected}", (
        f"the page fetched over Wi-Fi is not the rendered landing page ({fields[-1]})"
    )


def test_lease_carries_the_captive_portal_option(radio: Radio) -> None:
    """DHCP option 114 (RFC 8910) reaches a client that asks for it, with the role's URL."""
    assert radio.params["captive_portal"], "the roles' defaults should turn the portal on offline"
    options = dict(
        item.split("=", 1) for item in radio.one("lease-options good ").split() if "=" in item
    )
    raw = options.get("captive", "none")
    assert raw != "none", f"the lease has no option 114: {options}" + radio.context("dnsmasq")
    # udhcpc hands over options it has no name for as hex.
    url = bytes.fromhex(raw).decode() if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", raw) else raw
    assert url == radio.params["captive_portal_url"], f"option 114 is {url!r}"


def test_connectivity_checks_land_on_the_landing_page(radio: Radio) -> None:
    """Each OS's check, followed as its sign-in sheet follows it, ends on the landing page."""
    results = {}
    for line in radio.find("probe "):
        url, _, rest = line.partition(" ")
        results[url] = rest.split()
    expected = hashlib.sha256(radio.page).hexdigest()
    wrong = {}
    for url in radio.params["probe_urls"]:
        fields = results.get(url)
        # code, redirects followed, final URL, the address that answered, the page's hash
        if fields != ["200", "1", radio.params["landing_page_url"], radio.params["box_address"],
                      f"sha256={expected}"]:  # fmt: skip
            wrong[url] = fields
    assert not wrong, f"checks that did not land on the landing page: {wrong}" + radio.context(
        "curl-probes", "nginx-error", "dnsmasq"
    )


def test_wrong_passphrase_is_refused(radio: Radio) -> None:
    refused = radio.one("wrong-key refused")
    assert refused in ("reason=WRONG_KEY", "4-way-handshake-failed"), (
        f"the client with a wrong passphrase was not refused: {refused}"
        + radio.context("wpa-wrong", "hostapd")
    )
    # It may be listed mid-retry (authenticated, associated), never as authorized.
    stations = dict(item.split("=", 1) for item in radio.one("box stations").split())
    mac = radio.one("wrong-key mac ")
    assert "[AUTHORIZED]" not in stations.get(mac, ""), (
        f"hostapd authorized the client with the wrong passphrase: {stations}"
    )
    assert radio.find("wrong-key connected") == ["no"], (
        "the client with a wrong passphrase completed a connection"
        + radio.context("wpa-wrong", "hostapd")
    )


def test_wrong_passphrase_gets_no_lease(radio: Radio) -> None:
    assert radio.find("lease wrong") == ["none"], (
        "the refused client got a DHCP lease" + radio.context("udhcpc-wrong", "dnsmasq")
    )
    mac = radio.one("wrong-key mac ")
    box_leases = radio.one("box leases")
    assert mac and mac not in box_leases, f"dnsmasq leased to the refused client: {box_leases}"
