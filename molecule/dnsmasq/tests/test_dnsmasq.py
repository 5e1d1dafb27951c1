"""dnsmasq on the box really serves DHCP and DNS on the Wi-Fi side, and nothing on the uplink.

The Wi-Fi is played by the Docker network piab-dnsmasq-<release> (box <prefix>.0.1), the wired
uplink by piab-dnsmasq-<release>-uplink (see molecule.yml). Clients are throwaway containers
with NET_ADMIN running dhcp_dns_client.py, so the DNS questions come from the address dnsmasq
leased.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from wifi import BOX, BOX_ADDRESS, PROJECT_DIR, UPLINK_NETWORK, WIFI_NETWORK, converge, run_client

# The box_status module's lease reader, checked against the file this dnsmasq really writes.
sys.path.insert(0, str(PROJECT_DIR / "collections"))
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import leases

from tests.support import scenario

# What converge.yml configures.
POOL = (50, 250)
BOX_NAMES = ["pypi.internal", "pypi.lan"]


def box_address_on(network: str) -> str:
    inspect = subprocess.run(["docker", "inspect", BOX], capture_output=True, text=True, check=True)
    return json.loads(inspect.stdout)[0]["NetworkSettings"]["Networks"][network]["IPAddress"]


@pytest.fixture(scope="module")
def wifi_client() -> dict:
    return run_client(
        WIFI_NETWORK, "dhcp_dns_client.py", "--apply", "eth0", *BOX_NAMES, "pypi.example.com"
    )


def test_dnsmasq_enabled_and_running(box):
    service = box.service("dnsmasq")
    assert service.is_enabled
    assert service.is_running


def test_configuration_is_owned_and_valid(box):
    main = box.file("/etc/dnsmasq.conf").content_string
    settings = [line for line in main.splitlines() if line and not line.startswith("#")]
    assert settings == ["conf-dir=/etc/dnsmasq.d/,*.conf"]
    assert box.file("/etc/dnsmasq.d/pypi-in-a-box.conf").mode == 0o644
    check = box.run("dnsmasq --test")
    assert check.rc == 0, check.stderr
    assert "syntax check OK" in check.stderr


def test_dns_socket_only_on_wifi_address(box):
    sockets = box.run("ss -H -lnu 'sport = :53'").stdout.split()
    local_addresses = {field for field in sockets if field.endswith(":53")}
    assert f"{BOX_ADDRESS}:53" in local_addresses
    uplink = box_address_on(UPLINK_NETWORK)
    assert not {f"{uplink}:53", "0.0.0.0:53", "127.0.0.1:53", "*:53"} & local_addresses


def test_client_gets_a_lease_from_the_pool(wifi_client):
    lease = wifi_client["lease"]
    assert lease["ack"] == lease["offer"], lease
    network, host = lease["ack"].rsplit(".", 1)
    assert network == BOX_ADDRESS.rsplit(".", 1)[0]
    assert POOL[0] <= int(host) <= POOL[1]
    assert lease["server_id"] == BOX_ADDRESS
    assert lease["routers"] == [BOX_ADDRESS]
    assert lease["dns_servers"] == [BOX_ADDRESS]
    assert lease["netmask"] == "255.255.255.0"
    assert lease["domain"] == "internal"
    assert lease["lease_seconds"] == 4 * 3600
    # no-ping: the offer is not held back by ICMP probes (dnsmasq waits ~3 s per ping).
    assert lease["seconds"] < 2


def test_status_reads_the_lease_from_dnsmasqs_lease_file(box, wifi_client):
    """Where Debian's dnsmasq keeps its leases, and in the format box_status parses."""
    text = box.file("/var/lib/misc/dnsmasq.leases").content_string
    current = leases.parse_leases(text, time.time())
    (lease,) = [item for item in current if item["ip"] == wifi_client["lease"]["ack"]]
    assert lease["mac"].count(":") == 5, text
    assert lease["expires"] > time.time() + 3 * 3600  # the 4 h lease time, not expired


def test_client_resolves_the_box_through_the_leased_dns(wifi_client):
    answers = {(item["name"], item["type"]): item for item in wifi_client["dns"]}
    for name in BOX_NAMES:
        a_record = answers[(name, "A")]
        assert a_record["id_matches"]
        assert a_record["rcode"] == 0
        assert a_record["answers"] == [BOX_ADDRESS]
        assert a_record["authoritative"]
        # The name exists without an IPv6 address: NOERROR and no answer, not REFUSED/NXDOMAIN.
        aaaa_record = answers[(name, "AAAA")]
        assert aaaa_record["rcode"] == 0
        assert aaaa_record["answers"] == []


def test_offline_box_answers_other_names_at_once(wifi_client):
    answers = {(item["name"], item["type"]): item for item in wifi_client["dns"]}
    other = answers[("pypi.example.com", "A")]
    assert other["rcode"] == 3  # NXDOMAIN, not a timeout
    assert other["seconds"] < 1


def test_uplink_gets_no_dhcp_and_no_dns():
    uplink = box_address_on(UPLINK_NETWORK)
    result = run_client(
        UPLINK_NETWORK,
        "dhcp_dns_client.py",
        "--timeout",
        "3",
        "--dns-server",
        uplink,
        "eth0",
        BOX_NAMES[0],
    )
    assert result["lease"] == {"offer": None}
    for query in result["dns"]:
        assert "error" in query, query


def wifi_interface(box) -> str:
    return box.check_output(f"ip -o -4 address show to {BOX_ADDRESS}/32").split()[1]


def test_address_that_appears_later_is_served(box):
    # bind-dynamic: dnsmasq binds addresses as they appear, as when hostapd brings the Wi-Fi
    # up after dnsmasq started. Without it this address would get no answer.
    late = f"{scenario.net_prefix()}.0.9"
    interface = wifi_interface(box)
    box.run(f"ip address add {late}/24 dev {interface}")
    try:
        result = {}
        for _ in range(10):
            result = run_client(
                WIFI_NETWORK,
                "dhcp_dns_client.py",
                "--no-dhcp",
                "--timeout",
                "2",
                "--dns-server",
                late,
                "eth0",
                BOX_NAMES[0],
            )
            if "error" not in result["dns"][0]:
                break
        assert result["dns"][0]["answers"] == [BOX_ADDRESS], result
    finally:
        box.run(f"ip address del {late}/24 dev {interface}")


# Each bad value, the message naming it. converge.yml is run again with the value as -e.
BAD_INPUT = {
    "dot-local-name": (
        {"dnsmasq_box_name": "pypi.local", "dnsmasq_local_domain": "local"},
        "and not under .local",
    ),
    "name-outside-domain": (
        {"dnsmasq_box_name": "pypi.example"},
        "must be a lower-case DNS name inside dnsmasq_local_domain ('internal')",
    ),
    "pool-outside-network": (
        {"dnsmasq_dhcp_range_start": "10.99.0.50"},
        f"The DHCP pool 10.99.0.50-{scenario.net_prefix()}.0.250 must lie in the network",
    ),
    "box-inside-pool": (
        {"dnsmasq_dhcp_range_start": BOX_ADDRESS},
        "and not contain the box's own address",
    ),
    "not-an-address": (
        {"dnsmasq_dhcp_range_end": f"{scenario.net_prefix()}.0.256"},
        f"dnsmasq_dhcp_range_end must be an IPv4 address, got '{scenario.net_prefix()}.0.256'",
    ),
    "bad-lease-time": (
        {"dnsmasq_dhcp_lease_time": "4 hours"},
        "dnsmasq_dhcp_lease_time must be a number with an optional unit",
    ),
    "captive-url-with-a-quote": (
        {"dnsmasq_captive_portal_url": 'http://pypi.internal/"'},
        "dnsmasq_captive_portal_url must be an http:// or https:// URL of at most 255 bytes",
    ),
    "captive-probe-not-a-name": (
        {"dnsmasq_captive_portal_probe_hosts": ["captive.apple.com", "Captive Apple"]},
        "dnsmasq_captive_portal_probe_hosts lower-case DNS names (Captive Apple are not)",
    ),
    # nginx_cache runs after dnsmasq, which then has nothing to change.
    "nginx-probe-not-a-name": (
        {"nginx_cache_captive_portal_hosts": ["captive.apple.com/x"]},
        "nginx_cache_captive_portal_hosts must be lower-case DNS names",
    ),
}
ETC_FINGERPRINT = "find /etc -xdev -type f -print0 | sort -z | xargs -0 md5sum | md5sum"


@pytest.mark.parametrize("overrides,message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_fails_with_its_message_and_changes_nothing(box, overrides, message):
    before = box.run(ETC_FINGERPRINT).stdout
    result = converge(overrides)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert message in output
    assert box.run(ETC_FINGERPRINT).stdout == before
