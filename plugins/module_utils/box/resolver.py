"""nginx's ``resolver`` directive from the DNS servers of the network the box is on now.

The on-demand cache (nginx_cache role, issue 11) names its upstream by host name. nginx resolves
such a name only when a request needs it, through the servers of its ``resolver`` directive,
which take literal addresses: the box must ask whatever network it is plugged into (a venue's
Ethernet, a phone's tether), and that network's servers are the ``nameserver`` lines of
/etc/resolv.conf, rewritten by DHCP whenever the box changes networks. This module turns them
into the directive; ``pypi-in-a-box-proxy resolver`` writes it and reloads nginx when it changed.
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
from pathlib import Path

# glibc reads at most three nameserver lines, and asks 127.0.0.1 when there is none: nginx
# then does the same as every other program on the box.
MAX_SERVERS = 3
NO_SERVER = "127.0.0.1"


def nameservers(resolv_conf: str) -> list[str]:
    """The usable ``nameserver`` addresses, in order: IPv4, and IPv6 in brackets.

    A link-local IPv6 server needs a zone (``fe80::1%eth0``) that nginx cannot parse: skipped,
    like anything that is not an address.
    """
    servers: list[str] = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        text = server_address(fields[1])
        if text is not None and text not in servers:
            servers.append(text)
    return servers[:MAX_SERVERS]


def server_address(text: str) -> str | None:
    """An address as nginx's resolver takes it (IPv6 in brackets); None if not an address."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 4:
        return str(address)
    return None if address.scope_id else f"[{address}]"


def directive(servers: list[str]) -> str:
    """The include file: ``resolver`` with the servers, A records only.

    ``ipv6=off``: venue networks and tethers are IPv4 far more often than not, and an AAAA
    answer on a box without an IPv6 route costs a connect timeout per address before nginx tries
    the IPv4 one. ``valid``: an answer is kept 30 s whatever its TTL,
    so a box that comes online or changes networks stops using the old answers soon.
    """
    return f"resolver {' '.join(servers or [NO_SERVER])} ipv6=off valid=30s;\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Replace path by text atomically (nginx may read it at any moment); False if equal."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(0o644)
    partial.replace(path)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pypi-in-a-box-proxy resolver",
        description="Write nginx's resolver directive from /etc/resolv.conf (or --server).")
    parser.add_argument("--out", type=Path, required=True, help="the file nginx includes")
    parser.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"))
    parser.add_argument("--server", action="append", default=[],
                        help="a fixed DNS server address instead of resolv.conf (repeatable)")
    parser.add_argument("--reload", action="store_true",
                        help="reload nginx when the file changed (without waiting for it)")
    opts = parser.parse_args(argv)
    if opts.server:
        servers = [server_address(s) for s in opts.server]
        if None in servers:
            parser.error(f"--server takes IP addresses, got {' '.join(opts.server)}")
    else:
        try:
            servers = nameservers(opts.resolv_conf.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            servers = []
    changed = write_if_changed(opts.out, directive(servers))
    print("changed" if changed else "unchanged")
    if changed and opts.reload:
        # --no-block: at boot this runs before nginx, whose start job would wait for us.
        subprocess.run(["systemctl", "--no-block", "try-reload-or-restart", "nginx.service"],
                       check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
