"""The access point's settings from hostapd.conf, without its secrets.

hostapd reads ``name=value`` lines: a ``#`` only starts a comment in the first column, and
nothing is trimmed, so an SSID may hold spaces and ``#``. A ``bss=`` line starts a second
network on the same radio; the first network is the box's. The file also holds the passphrase,
so ``access_point`` names each setting it reports and nothing else leaves this module.
"""

from __future__ import annotations

BANDS = {"a": "5 GHz", "b": "2.4 GHz", "g": "2.4 GHz", "ad": "60 GHz"}


def parse_config(text: str) -> dict[str, str]:
    """The first network's settings as hostapd reads them (a later line wins)."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            continue  # hostapd refuses such a line; a status reader skips it
        if name == "bss":
            break
        settings[name] = value
    return settings


def ssid_of(settings: dict[str, str]) -> str | None:
    """``ssid`` is plain text; ``ssid2`` is quoted text, ``P"..."`` or hex."""
    if "ssid" in settings:
        return settings["ssid"]
    value = settings.get("ssid2")
    if value is None:
        return None
    for prefix in ('P"', '"'):
        if value.startswith(prefix) and value.endswith('"') and len(value) > len(prefix):
            return value[len(prefix):-1]
    try:
        return bytes.fromhex(value).decode("utf-8", "replace")
    except ValueError:
        return value


def _number(value: str | None) -> int | str | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return value


def access_point(text: str) -> dict:
    """SSID, channel, country, band and security of the box's network; never a secret."""
    settings = parse_config(text)
    key_mgmt = settings.get("wpa_key_mgmt", "").split()
    if "SAE" in key_mgmt:
        security = "wpa2+wpa3" if "WPA-PSK" in key_mgmt else "wpa3"
    elif settings.get("wpa", "0") != "0":
        security = "wpa2" if settings["wpa"] == "2" else "wpa"
    else:
        security = "open"
    hw_mode = settings.get("hw_mode", "b")  # hostapd's default
    return {
        "interface": settings.get("interface"),
        "ssid": ssid_of(settings),
        "hidden": settings.get("ignore_broadcast_ssid", "0") != "0",
        # 0 or acs_survey: hostapd picks the channel itself.
        "channel": _number(settings.get("channel")),
        "country": settings.get("country_code"),
        "band": BANDS.get(hw_mode, hw_mode),
        "security": security,
        "max_clients": _number(settings.get("max_num_sta")),
    }
