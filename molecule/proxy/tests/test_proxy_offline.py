"""The uplink drops: what was fetched keeps being served, a miss is a quick 404, never a hang.

Two ways to lose the upstream: its server stops (connections refused at once), and the box
loses the uplink network altogether (the upstream's name no longer resolves), after which nginx
must still (re)start. Runs after test_proxy.py, whose installs filled the cache.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import (
    BOX_NAME,
    INDEX,
    JSON,
    OFFLINE_BOUND,
    PIP,
    UPLINK_NETWORK,
    UV,
    docker,
    refresh_report,
)

PAGE_VALID = 5  # nginx_cache_proxy_page_valid in vars/scenario.yml


@pytest.fixture(scope="module")
def upstream_stopped(upstream):
    upstream.stop()
    # Every page fetched before is past its validity now: what follows is served stale.
    time.sleep(PAGE_VALID + 1)
    yield
    upstream.start()


@pytest.fixture
def uplink_gone(box, upstream):
    docker("network", "disconnect", UPLINK_NETWORK, BOX_NAME)
    yield
    docker("network", "connect", UPLINK_NETWORK, BOX_NAME)
    # A fresh resolver cache: the name did not resolve a moment ago.
    box.run_expect([0], "systemctl reload nginx")


def timed_get(http, url: str, **kwargs):
    started = time.monotonic()
    response = http.get(url, timeout=60, **kwargs)
    return response, time.monotonic() - started


def test_fetched_projects_install_with_the_upstream_stopped(upstream_stopped, client, http,
                                                           base):
    response = http.get(f"{base}/simple/jinja2/", headers={"Accept": JSON})
    assert response.status_code == 200
    assert response.headers["X-Cache-Status"] in ("STALE", "UPDATING")
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} jinja2 click
        {UV} pip install --target /tmp/uv --python /usr/bin/python3 \
            --index-url http://pi-box/simple/ pygments
        /tmp/venv/bin/python -c 'import jinja2, click; print("imported")'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported" in result.stdout


def test_an_unfetched_project_is_a_quick_404_with_the_upstream_stopped(upstream_stopped,
                                                                      client, http, base, box):
    for _ in range(2):  # the first attempt, then the remembered failure
        response, took = timed_get(http, f"{base}/simple/docopt/", headers={"Accept": JSON})
        assert response.status_code == 404
        assert took < OFFLINE_BOUND, f"an offline miss took {took:.1f} s"
        assert "cannot be reached" in response.text
    started = time.monotonic()
    result = client.run(f"python3 -m venv /tmp/v && /tmp/v/bin/{PIP} install {INDEX} docopt")
    assert not result.succeeded
    assert "No matching distribution found for docopt" in result.stderr
    assert time.monotonic() - started < 60
    refresh_report(box)
    page = http.get(f"{base}/").text
    assert re.search(r"<li>docopt <span[^>]*>\(upstream unreachable; \d+ times", page), page


def test_the_landing_page_says_offline(upstream_stopped, http, base):
    # The upstream's answer is remembered for 15 s at most.
    deadline = time.monotonic() + 20
    while 'class="uplink offline"' not in (page := http.get(f"{base}/").text):
        assert time.monotonic() < deadline, "the landing page still says online"
        time.sleep(1)
    assert "Offline now" in page
    assert '<a href="/simple/jinja2/">jinja2</a>' in page  # what was fetched is still listed


def test_with_no_uplink_nginx_restarts_and_serves_what_it_fetched(uplink_gone, box, client,
                                                                 http, base):
    # nginx resolves the upstream's name per request: with no such name it still starts.
    box.run_expect([0], "systemctl restart nginx")
    assert box.service("nginx").is_running
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} jinja2
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    response, took = timed_get(http, f"{base}/simple/never-fetched/", headers={"Accept": JSON})
    assert response.status_code == 404
    assert took < OFFLINE_BOUND, f"a miss with no uplink took {took:.1f} s"


@pytest.fixture
def black_hole_dns(box):
    """nginx's resolver pointed at an address that never answers (TEST-NET-1), through the
    role's own command; the timer that would put it back is held meanwhile."""
    box.run_expect([0], "systemctl stop pypi-in-a-box-proxy.timer pypi-in-a-box-proxy.path")
    box.run_expect([0], "/usr/local/lib/pypi-in-a-box/pypi-in-a-box-proxy resolver --reload "
                        "--out /etc/nginx/pypi-in-a-box/resolver.conf --server 192.0.2.1")
    yield
    box.run_expect([0], "systemctl start pypi-in-a-box-proxy.service "
                        "pypi-in-a-box-proxy.timer pypi-in-a-box-proxy.path")


def test_a_dns_server_that_never_answers_still_bounds_a_miss(black_hole_dns, box, http, base):
    assert "192.0.2.1" in box.file("/etc/nginx/pypi-in-a-box/resolver.conf").content_string
    time.sleep(1)  # the reload, done without waiting
    response, took = timed_get(http, f"{base}/simple/not-resolvable/", headers={"Accept": JSON})
    assert response.status_code == 404
    assert took < OFFLINE_BOUND, f"a miss with a silent DNS server took {took:.1f} s"
    # What was fetched needs no name at all.
    assert http.get(f"{base}/simple/jinja2/", headers={"Accept": JSON}).status_code == 200
