"""dnsmasq's lease file, in the format dnsmasq writes it (lease.c, lease_update_file)."""

from __future__ import annotations

from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import leases

NOW = 1_767_225_600  # 2026-01-01 00:00 UTC

# Lines as dnsmasq writes them: expiry, MAC (non-Ethernet types get a "<type>-" prefix), IPv4,
# hostname or "*", client-id or "*"; then DHCPv6 after the server's "duid" line.
LEASE_FILE = f"""\
{NOW + 3600} 3c:22:fb:12:34:56 10.42.0.93 laptop-7 01:3c:22:fb:12:34:56
{NOW + 14400} f2:11:aa:00:bc:01 10.42.0.94 * 01:f2:11:aa:00:bc:01
0 aa:bb:cc:dd:ee:ff 10.42.0.2 printer *
{NOW - 60} 00:11:22:33:44:55 10.42.0.95 gone-home *
{NOW + 60} 20-00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01 10.42.0.96 ib-host *
duid 00:01:00:01:2c:5e:9f:2a:dc:a6:32:00:00:01
{NOW + 3600} 2882343476 fd00:42::93 laptop-7 00:01:00:01:2c:5e:9f:11:3c:22:fb:12:34:56
"""


def test_current_leases_in_file_order():
    current = leases.parse_leases(LEASE_FILE, NOW)
    assert [lease["ip"] for lease in current] == [
        "10.42.0.93", "10.42.0.94", "10.42.0.2", "10.42.0.96", "fd00:42::93"]
    assert current[0] == {"ip": "10.42.0.93", "mac": "3c:22:fb:12:34:56",
                          "hostname": "laptop-7", "expires": NOW + 3600}


def test_no_hostname_is_none_and_infinite_lease_never_expires():
    by_ip = {lease["ip"]: lease for lease in leases.parse_leases(LEASE_FILE, NOW)}
    assert by_ip["10.42.0.94"]["hostname"] is None
    assert by_ip["10.42.0.2"]["expires"] is None


def test_expired_leases_are_not_clients():
    assert "10.42.0.95" not in {lease["ip"] for lease in leases.parse_leases(LEASE_FILE, NOW)}
    assert leases.parse_leases(LEASE_FILE, NOW + 10**6) == [
        {"ip": "10.42.0.2", "mac": "aa:bb:cc:dd:ee:ff", "hostname": "printer", "expires": None}]


def test_dhcpv6_leases_have_no_mac():
    (v6,) = [lease for lease in leases.parse_leases(LEASE_FILE, NOW) if ":" in lease["ip"]]
    assert v6["mac"] is None and v6["hostname"] == "laptop-7"


def test_empty_or_damaged_file():
    assert leases.parse_leases("", NOW) == []
    assert leases.parse_leases("garbage\nnot-a-number aa 10.0.0.1 x *\n", NOW) == []
