"""The state of systemd units, from ``systemctl show --property=... UNIT...``.

systemctl prints one block of ``Name=value`` lines per unit, in the order the units were named,
blocks separated by an empty line. A unit that does not exist still gets a block
(``LoadState=not-found``), so the blocks and the names always pair up.
"""

from __future__ import annotations

PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState")


def show_command(systemctl: str, units: list[str]) -> list[str]:
    return [systemctl, "show", "--no-pager", f"--property={','.join(PROPERTIES)}", "--", *units]


def parse_show(text: str, units: list[str]) -> dict[str, dict]:
    """Each unit's state as reported; ``active`` is true only for ActiveState=active."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        name, _sep, value = line.partition("=")
        current[name] = value
    if len(blocks) != len(units):
        raise ValueError(f"systemctl reported {len(blocks)} units for {len(units)} asked")
    return {unit: _state(block) for unit, block in zip(units, blocks)}


def _state(block: dict[str, str]) -> dict:
    return {
        "unit": block.get("Id") or None,
        "active": block.get("ActiveState") == "active",
        "state": block.get("ActiveState") or "unknown",
        "sub_state": block.get("SubState") or None,
        "loaded": block.get("LoadState") or None,
        "enabled": block.get("UnitFileState") or None,
    }


def unknown_state(reason: str) -> dict:
    """The entry of a unit whose state could not be read (no systemd on the host)."""
    return {"unit": None, "active": False, "state": "unknown", "sub_state": None,
            "loaded": None, "enabled": None, "error": reason}
