#!/usr/bin/env python3
"""A laptop joining the box's Wi-Fi, run inside a throwaway client container.

Takes a lease and the box's DNS server from it (dhcp_dns_client.py beside this file, which also
asks for the captive portal option), then makes each connectivity check with curl, resolving the
probe's name through the box: once as the OS's check does (no redirects followed), once as the
sign-in sheet does (following them). Prints one JSON object; the test decides what is right.

Usage: captive_client.py IFACE [--name NAME ...] URL [URL ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODY_KEPT = 512


def join(iface: str, names: list[str]) -> dict:
    command = [sys.executable, str(HERE / "dhcp_dns_client.py"), "--apply", "--resolv-conf"]
    completed = subprocess.run(
        [*command, iface, *names], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(completed.stdout)


def curl(url: str, follow: bool) -> dict:
    # Bounded like an OS's check: no probe waits longer than a few seconds for the box.
    command = ["curl", "-sS", "--max-time", "10", "-o", "/tmp/body", "-D", "/tmp/headers"]
    command += ["-w", "%{json}"]
    if follow:
        command += ["-L", "--max-redirs", "3"]
    completed = subprocess.run([*command, url], capture_output=True, text=True, timeout=30)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()}
    written = json.loads(completed.stdout)
    body = Path("/tmp/body").read_bytes()
    # With -L the header file holds every response; the last block is the final one.
    blocks = Path("/tmp/headers").read_text(errors="replace").strip().split("\r\n\r\n")
    headers = [line for line in blocks[-1].splitlines()[1:] if ":" in line]
    return {
        "status": written["response_code"],
        "redirect_url": written.get("redirect_url") or None,
        "url_effective": written["url_effective"],
        "num_redirects": written["num_redirects"],
        "remote_ip": written["remote_ip"],
        "headers": [line.strip() for line in headers],
        "body": body[:BODY_KEPT].decode(errors="replace"),
        "body_bytes": len(body),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("iface")
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--name", action="append", default=[], help="also ask the DNS for it")
    args = parser.parse_args()
    result = join(args.iface, args.name)
    result["probes"] = {
        url: {"check": curl(url, follow=False), "sheet": curl(url, follow=True)}
        for url in args.urls
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
