"""The access point's settings, read from hostapd.conf files the access_point role renders."""

from __future__ import annotations

import json

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import hostapd

from tests.radio import radio_build

PASSPHRASE = "radio-test-passphrase"  # what tests/radio/render.yml sets

# Role settings -> what the status reports.
RENDERINGS = {
    "defaults": ({}, {"ssid": "pypi-in-a-box", "channel": 6, "country": "GB", "band": "2.4 GHz",
                      "security": "wpa2", "hidden": False, "max_clients": 100,
                      "interface": "wlan0"}),
    "fleet-box": (
        {"access_point_ssid": "Room 3 # east", "access_point_channel": 11,
         "access_point_country": "US", "access_point_security": "transition",
         "access_point_hide_ssid": True, "access_point_max_clients": 30},
        {"ssid": "Room 3 # east", "channel": 11, "country": "US", "band": "2.4 GHz",
         "security": "wpa2+wpa3", "hidden": True, "max_clients": 30, "interface": "wlan0"},
    ),
    "5ghz-wpa3": (
        {"access_point_hw_mode": "a", "access_point_channel": 36, "access_point_country": "DE",
         "access_point_security": "wpa3"},
        {"ssid": "pypi-in-a-box", "channel": 36, "country": "DE", "band": "5 GHz",
         "security": "wpa3", "hidden": False, "max_clients": 100, "interface": "wlan0"},
    ),
}


@pytest.fixture(scope="module", params=RENDERINGS.values(), ids=RENDERINGS.keys())
def rendered(request, tmp_path_factory):
    settings, expected = request.param
    dest = tmp_path_factory.mktemp("render")
    radio_build.render_configs(dest, [json.dumps(settings)])
    return (dest / "etc" / "radio" / "hostapd.conf").read_text(), expected


def test_reads_the_roles_hostapd_conf(rendered):
    text, expected = rendered
    assert PASSPHRASE in text, "the rendering should hold the passphrase the test looks for"
    assert hostapd.access_point(text) == expected


def test_never_reports_the_passphrase(rendered):
    text, _ = rendered
    report = json.dumps(hostapd.access_point(text))
    assert PASSPHRASE not in report
    assert "passphrase" not in report


def test_hash_starts_a_comment_only_in_the_first_column():
    text = "# a comment\nssid=my # net \n #indented=1\nchannel=1\n"
    settings = hostapd.parse_config(text)
    assert settings["ssid"] == "my # net "  # hostapd trims nothing
    assert settings[" #indented"] == "1"


def test_only_the_first_network_on_the_radio():
    text = "interface=wlan0\nssid=box\nchannel=1\nbss=wlan0_1\nssid=guest\nwpa_passphrase=x\n"
    assert hostapd.access_point(text)["ssid"] == "box"


@pytest.mark.parametrize(
    "line,ssid",
    [('ssid2="quoted name"', "quoted name"), ("ssid2=70797069", "pypi"),
     ('ssid2=P"printf name"', "printf name")],
)
def test_ssid2_forms(line, ssid):
    assert hostapd.access_point(f"{line}\nchannel=0\n")["ssid"] == ssid


def test_automatic_channel_and_open_network():
    report = hostapd.access_point("ssid=open\nchannel=acs_survey\n")
    assert report["channel"] == "acs_survey"
    assert report["security"] == "open"
    assert report["band"] == "2.4 GHz"  # hostapd's default hw_mode is b
