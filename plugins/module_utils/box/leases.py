"""dnsmasq's DHCP lease file (Debian: /var/lib/misc/dnsmasq.leases).

dnsmasq rewrites the file on every change, one lease a line:
``<expiry> <mac> <ip> <hostname|*> <client-id|*>``, the expiry in seconds since the epoch and 0
for an infinite lease; a MAC of another hardware type than Ethernet carries its type as a
``<type>-`` prefix. DHCPv6 leases follow a ``duid <server duid>`` line as
``<expiry> <iaid> <ipv6> <hostname|*> <client-id|*>``. Expired leases may linger in the file
until dnsmasq tidies up; they are not clients any more and are left out.
"""

from __future__ import annotations


def parse_leases(text: str, now: float) -> list[dict]:
    """The leases not yet expired at ``now``, in file order."""
    leases = []
    ipv6 = False
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "duid":
            ipv6 = True
            continue
        if len(fields) < 4:
            continue
        try:
            expires = int(fields[0])
        except ValueError:
            continue
        if expires != 0 and expires <= now:
            continue
        leases.append({
            "ip": fields[2],
            "mac": None if ipv6 else fields[1],
            "hostname": None if fields[3] == "*" else fields[3],
            "expires": expires or None,
        })
    return leases
