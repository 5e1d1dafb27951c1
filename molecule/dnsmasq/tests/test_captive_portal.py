"""Captive-portal sign-in: a laptop joining the box's Wi-Fi is sent to the landing page.

converge.yml wires the dnsmasq and nginx_cache roles as the site playbook does. A client joins
the Wi-Fi stand-in, takes its lease (which must carry DHCP option 114), resolves every probe name
of tests/support/captive_probes.yml through the box's DNS and makes each check with curl: the
answer must be none that an OS takes for "online", but a redirect to the landing page. Then the
box gets an uplink (the access_point role's NAT switch) and nothing may be redirected any more.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml
from wifi import BOX_ADDRESS, PROJECT_DIR, WIFI_NETWORK, converge, run_client

PROBES = yaml.safe_load((PROJECT_DIR / "tests/support/captive_probes.yml").read_text())[
    "captive_probes"
]
ROLE_DEFAULTS = yaml.safe_load((PROJECT_DIR / "roles/dnsmasq/defaults/main.yml").read_text())
# What converge.yml configures.
LANDING = "http://pypi.internal/"
CAPTIVE_CONFIG = "/etc/nginx/conf.d/pypi-in-a-box-captive-portal.conf"
# Ubuntu's check names its host with the root's dot; the Host header then ends in one.
EXTRA_URLS = ["http://connectivity-check.ubuntu.com./", LANDING]
OUTSIDE = "pypi.org"


def join_and_probe() -> dict:
    urls = [probe["url"] for probe in PROBES] + EXTRA_URLS
    names = ["captive.apple.com", OUTSIDE]
    args = [arg for name in names for arg in ("--name", name)]
    return run_client(WIFI_NETWORK, "captive_client.py", *args, "eth0", *urls)


@pytest.fixture(scope="module")
def offline() -> dict:
    return join_and_probe()


@pytest.fixture(scope="module")
def online(box):
    """The same laptop on a box that routes the Wi-Fi to a wired uplink."""
    result = converge({"access_point_nat_enabled": True})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    try:
        yield {"client": join_and_probe(), "captive_config": box.file(CAPTIVE_CONFIG).exists}
    finally:
        restored = converge({})
        assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]


def answers(run: dict) -> dict:
    return {(item["name"], item["type"]): item for item in run["dns"]}


def is_success(answer: dict, success: dict) -> bool:
    """Whether an OS would take this answer for "online"."""
    if answer["status"] != success["status"]:
        return False
    header = success.get("header")
    if header and header.lower() in (line.lower() for line in answer["headers"]):
        return True
    if "body_prefix" in success:
        return answer["body"].startswith(success["body_prefix"])
    if "body_contains" in success:
        return success["body_contains"] in answer["body"]
    return not header


def test_probe_table_matches_the_roles_list():
    """Every probe the tests make is a name the box answers: one list, not two that drift."""
    hosts = set(ROLE_DEFAULTS["dnsmasq_captive_portal_probe_hosts"])
    assert {urlsplit(probe["url"]).hostname for probe in PROBES} <= hosts


def test_lease_carries_the_landing_page_as_captive_portal_option(offline):
    assert offline["lease"]["captive_portal"] == LANDING, offline["lease"]


def test_probe_names_resolve_to_the_box_and_others_stay_offline(offline):
    dns = answers(offline)
    a_record = dns[("captive.apple.com", "A")]
    assert a_record["rcode"] == 0 and a_record["answers"] == [BOX_ADDRESS], a_record
    # No address of another family, but the name exists: NOERROR, not NXDOMAIN, which some
    # resolvers would also apply to the A answer.
    aaaa_record = dns[("captive.apple.com", "AAAA")]
    assert aaaa_record["rcode"] == 0 and aaaa_record["answers"] == [], aaaa_record
    assert dns[(OUTSIDE, "A")]["rcode"] == 3, dns[(OUTSIDE, "A")]


@pytest.mark.parametrize("probe", PROBES, ids=[probe["url"] for probe in PROBES])
def test_each_check_is_redirected_to_the_landing_page(offline, probe):
    check = offline["probes"][probe["url"]]["check"]
    assert "error" not in check, check
    assert check["remote_ip"] == BOX_ADDRESS, check
    assert check["status"] == 302, check
    assert check["redirect_url"] == LANDING, check
    assert "cache-control: no-store" in (line.lower() for line in check["headers"]), check
    if probe["success"] is not None:
        assert not is_success(check, probe["success"]), f"{probe['os']} would be online: {check}"


@pytest.mark.parametrize("url", [probe["url"] for probe in PROBES] + EXTRA_URLS[:1])
def test_the_sign_in_sheet_shows_the_landing_page(offline, url):
    sheet = offline["probes"][url]["sheet"]
    assert sheet["status"] == 200, sheet
    assert sheet["url_effective"] == LANDING, sheet
    assert sheet["remote_ip"] == BOX_ADDRESS, sheet
    assert "<title>PyPI in a box" in sheet["body"], sheet


def test_the_box_itself_is_not_redirected(offline):
    page = offline["probes"][LANDING]["check"]
    assert page["status"] == 200 and page["num_redirects"] == 0, page


def test_with_an_uplink_nothing_is_redirected(online):
    client = online["client"]
    assert client["lease"]["captive_portal"] is None, client["lease"]
    assert not online["captive_config"], f"{CAPTIVE_CONFIG} is still on the box"
    # The probe names are not the box's any more: offline DNS without forwarding says NXDOMAIN,
    # which a laptop with the uplink's own DNS never asks. No request reaches nginx then.
    assert answers(client)[("captive.apple.com", "A")]["rcode"] == 3, answers(client)
    for probe in PROBES:
        check = client["probes"][probe["url"]]["check"]
        assert "error" in check, check
    assert client["probes"][LANDING]["check"]["status"] == 200


def test_with_an_uplink_a_probe_reaching_the_box_is_not_redirected(online, box):
    """Even a request that names a probe host and reaches nginx gets no redirect."""
    response = box.run(
        "curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: captive.apple.com' "
        f"http://{BOX_ADDRESS}/hotspot-detect.html"
    )
    status, _, redirect = response.stdout.partition(" ")
    assert redirect != LANDING and status != "302", response.stdout
