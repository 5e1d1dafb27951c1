"""Units' states from `systemctl show`, as systemd 252 (Debian bookworm) prints them."""

from __future__ import annotations

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import systemd

# As captured from the Pi-like base image (unit names changed to the box's): a running unit, one
# that is not installed, a masked one; asked for by short name, systemctl adds ".service".
SHOW = """\
Id=nginx.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled

Id=nosuch.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=

Id=hostapd.service
LoadState=masked
ActiveState=inactive
SubState=dead
UnitFileState=masked
"""


def test_states_pair_with_the_names_asked_for():
    states = systemd.parse_show(SHOW, ["nginx", "nosuch", "hostapd"])
    assert states["nginx"] == {"unit": "nginx.service", "active": True, "state": "active",
                               "sub_state": "running", "loaded": "loaded", "enabled": "enabled"}
    assert states["nosuch"]["active"] is False
    assert states["nosuch"]["loaded"] == "not-found"
    assert states["nosuch"]["enabled"] is None
    assert states["hostapd"]["loaded"] == "masked"


def test_a_missing_block_is_an_error_not_a_wrong_pairing():
    with pytest.raises(ValueError, match="2 units for 3 asked"):
        systemd.parse_show(SHOW.split("\n\nId=hostapd")[0], ["nginx", "nosuch", "hostapd"])


def test_command_asks_for_the_parsed_properties():
    command = systemd.show_command("/usr/bin/systemctl", ["nginx", "-dash"])
    assert command[:3] == ["/usr/bin/systemctl", "show", "--no-pager"]
    assert command[-3:] == ["--", "nginx", "-dash"]
    assert command[3] == "--property=Id,LoadState,ActiveState,SubState,UnitFileState"
