#!/usr/bin/env python3
"""A minimal DHCP and DNS client, run inside a throwaway client container.

Debian's base image has no DHCP client (no busybox, no dhclient) and nothing may be installed
from the internet in a test, so this speaks the two protocols with the standard library only:
DHCPDISCOVER/OFFER/REQUEST/ACK with the broadcast flag (so a plain UDP socket on port 68 gets
the replies), then, with --apply, puts the leased address on the interface and asks the DNS
server from the lease. It prints one JSON object; the test decides what is right.

Usage: dhcp_dns_client.py [--apply] [--resolv-conf] [--dns-server IP] [--timeout S] IFACE [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import subprocess
import sys
import time

MAGIC_COOKIE = b"\x63\x82\x53\x63"
DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK = 1, 2, 3, 5
QTYPES = {"A": 1, "AAAA": 28}


def dhcp_packet(xid: int, mac: bytes, msg_type: int, options: bytes = b"") -> bytes:
    # op=BOOTREQUEST, htype=ethernet, hlen=6; flags=0x8000 asks the server to broadcast replies.
    header = struct.pack(
        "!BBBBIHHIIII16s64s128s",
        1,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        0,
        0,
        0,
        0,
        mac.ljust(16, b"\0"),
        b"",
        b"",
    )
    # Option 55 asks for subnet mask, router, DNS server, domain name and, as Android, Apple and
    # systemd-networkd do, the captive portal's URL (RFC 8910).
    body = bytes([53, 1, msg_type]) + options + bytes([55, 5, 1, 3, 6, 15, 114]) + b"\xff"
    return header + MAGIC_COOKIE + body


def parse_dhcp(data: bytes) -> tuple[int, str, dict[int, bytes]]:
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = socket.inet_ntoa(data[16:20])
    options: dict[int, bytes] = {}
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        options[code] = data[i + 2 : i + 2 + length]
        i += 2 + length
    return xid, yiaddr, options


def addresses(option: bytes) -> list[str]:
    return [socket.inet_ntoa(option[i : i + 4]) for i in range(0, len(option), 4)]


def wait_for(sock: socket.socket, xid: int, msg_type: int, timeout: float):
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, sender = sock.recvfrom(4096)
        except socket.timeout:
            break
        reply_xid, yiaddr, options = parse_dhcp(data)
        if reply_xid == xid and options.get(53) == bytes([msg_type]):
            return yiaddr, options, sender[0]
    return None


def dhcp_lease(iface: str, timeout: float) -> dict:
    with open(f"/sys/class/net/{iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    xid = random.getrandbits(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("", 68))
    started = time.monotonic()
    sock.sendto(dhcp_packet(xid, mac, DHCPDISCOVER), ("255.255.255.255", 67))
    offer = wait_for(sock, xid, DHCPOFFER, timeout)
    if offer is None:
        return {"offer": None}
    offered, options, _ = offer
    request_options = bytes([50, 4]) + socket.inet_aton(offered) + bytes([54, 4]) + options[54]
    sock.sendto(dhcp_packet(xid, mac, DHCPREQUEST, request_options), ("255.255.255.255", 67))
    ack = wait_for(sock, xid, DHCPACK, timeout)
    elapsed = time.monotonic() - started
    if ack is None:
        return {"offer": offered, "ack": None}
    address, options, _ = ack
    return {
        "offer": offered,
        "ack": address,
        "seconds": round(elapsed, 3),
        "server_id": socket.inet_ntoa(options[54]),
        "netmask": socket.inet_ntoa(options[1]),
        "routers": addresses(options.get(3, b"")),
        "dns_servers": addresses(options.get(6, b"")),
        "domain": options.get(15, b"").decode(),
        "lease_seconds": struct.unpack("!I", options[51])[0],
        "captive_portal": options[114].decode() if 114 in options else None,
    }


def dns_query(server: str, name: str, qtype: str, timeout: float) -> dict:
    query_id = random.getrandbits(16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    packet += struct.pack("!HH", QTYPES[qtype], 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    started = time.monotonic()
    try:
        sock.sendto(packet, (server, 53))
        data = sock.recv(4096)
    except socket.timeout:
        return {"name": name, "type": qtype, "error": "timeout"}
    except OSError as error:  # ICMP port unreachable shows up as ECONNREFUSED
        return {"name": name, "type": qtype, "error": type(error).__name__}
    elapsed = time.monotonic() - started
    reply_id, flags, _, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
    i = 12 + len(question) + 4
    answers = []
    for _ in range(ancount):
        if data[i] & 0xC0 == 0xC0:  # compressed name
            i += 2
        else:
            while data[i]:
                i += data[i] + 1
            i += 1
        rtype, _, _, rdlength = struct.unpack("!HHIH", data[i : i + 10])
        rdata = data[i + 10 : i + 10 + rdlength]
        if rtype == 1:
            answers.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            answers.append(socket.inet_ntop(socket.AF_INET6, rdata))
        i += 10 + rdlength
    return {
        "name": name,
        "type": qtype,
        "id_matches": reply_id == query_id,
        "rcode": flags & 0xF,
        "authoritative": bool(flags & 0x0400),
        "answers": answers,
        "seconds": round(elapsed, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("iface")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--apply", action="store_true", help="use the leased address for DNS")
    parser.add_argument("--no-dhcp", action="store_true")
    parser.add_argument("--resolv-conf", action="store_true", help="resolve through that server")
    parser.add_argument("--dns-server")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()

    result: dict = {}
    if not args.no_dhcp:
        result["lease"] = dhcp_lease(args.iface, args.timeout)
    lease = result.get("lease") or {}
    if args.apply and lease.get("ack"):
        prefix = sum(bin(int(octet)).count("1") for octet in lease["netmask"].split("."))
        # Drop Docker's address so every DNS query below comes from the leased one.
        subprocess.run(["ip", "address", "flush", "dev", args.iface], check=True)
        subprocess.run(
            ["ip", "address", "add", f"{lease['ack']}/{prefix}", "dev", args.iface], check=True
        )
    server = args.dns_server or (lease.get("dns_servers") or [None])[0]
    if args.resolv_conf and server:
        # The client's own programs (curl) then resolve through the box, as a laptop's do.
        with open("/etc/resolv.conf", "w") as resolv:
            resolv.write(f"nameserver {server}\n")
    if server and args.names:
        result["dns_server"] = server
        result["dns"] = [
            dns_query(server, name, qtype, args.timeout)
            for name in args.names
            for qtype in ("A", "AAAA")
        ]
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
