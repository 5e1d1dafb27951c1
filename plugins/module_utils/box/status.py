"""One box's status, read-only: what it serves, its Wi-Fi, its clients and its disk.

Every source may be missing (a box without a mirror, a test container without a radio, a
dnsmasq that has handed out nothing yet): a missing file is reported as absent, never an error.
The services come from systemd through the caller (the module runs ``systemctl``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..mirror import tool_records
from ..mirror.errors import MirrorError
from ..mirror.layout import PYTHON, UV, Layout
from . import distributions, hostapd, leases, on_demand


def disk_usage(path: Path) -> dict:
    """Size and free space of the filesystem that holds path (or would, once it exists)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    total = stats.f_blocks * stats.f_frsize
    return {
        "path": str(probe),
        "total_bytes": total,
        # What a non-root writer (the mirror run, pypiserver) can still use.
        "free_bytes": stats.f_bavail * stats.f_frsize,
        "used_bytes": total - stats.f_bfree * stats.f_frsize,
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def access_point(config: Path) -> dict | None:
    text = _read(config)
    if text is None:
        return None
    return dict(hostapd.access_point(text), config=str(config))


def dhcp_leases(lease_file: Path, now: float) -> dict:
    text = _read(lease_file)
    current = leases.parse_leases(text or "", now)
    return {"file": str(lease_file), "exists": text is not None, "count": len(current),
            "leases": current}


def tools_inventory(mirror_dir: Path) -> dict:
    """uv and the Python builds the mirror serves, as their records list them.

    Each uv archive and build carries what the landing page needs: its ``url_path`` (under the
    mirror's root), ``sha256`` and ``size``; a build also uv's ``entry`` for its list. A record
    that cannot be read is reported in ``problems``, not raised.
    """
    layout = Layout(mirror_dir)
    found: dict = {"uv": [], "python": [], "problems": []}
    for tool in (UV, PYTHON):
        try:
            records = tool_records.load(layout, tool)
        except MirrorError as exc:
            found["problems"].append(str(exc))
            continue
        listed = tool_records.files(layout, tool, records)
        entries = sorted(tool_records.entries(records, tool).items())
        for (name, record), file in zip(entries, listed):
            item = dict(record, url_path=file.url_path)
            if tool == UV:
                platform = tool_records.PLATFORMS[name]
                item.update(platform=name, family=platform.family)
            else:
                item.update(key=name, family=tool_records.PLATFORMS[record["platform"]].family)
            found[tool].append(item)
    found["uv_versions"] = sorted({a["version"] for a in found["uv"]})
    found["python_versions"] = sorted({b["version"] for b in found["python"]},
                                      key=lambda v: tuple(int(p) for p in v.split(".")))
    found["bytes"] = sum(i["size"] for i in found["uv"] + found["python"])
    return found


def gather(mirror_dir: Path, packages_dir: Path, hostapd_config: Path, lease_file: Path,
           now: float, proxy_cache_dir: Path, proxy_miss_log: Path) -> dict:
    """Everything but the services, in the shape the box_status module returns."""
    return {
        "mirror": distributions.mirror_inventory(mirror_dir),
        "tools": tools_inventory(mirror_dir),
        "private": distributions.packages_inventory(packages_dir),
        "on_demand": on_demand.inventory(proxy_cache_dir, proxy_miss_log),
        "disk": disk_usage(mirror_dir),
        "access_point": access_point(hostapd_config),
        "dhcp": dhcp_leases(lease_file, now),
    }
