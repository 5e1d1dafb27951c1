"""The role again with other settings: an allow-list and a size cap, the mirror taking in what
was fetched on demand, and the switch that keeps a box strictly offline. In this order, last
in the scenario: each test leaves the box as the next one expects.
"""

from __future__ import annotations

import re

from conftest import JSON, MIB, PROXY_TAGS, cache_bytes, refresh_report, wait_for


def test_an_allow_list_keeps_other_names_off_the_upstream(apply_role, http, base, box,
                                                          upstream):
    # With a size cap too, for the test after the next.
    apply_role("nginx_cache", tags=PROXY_TAGS, nginx_cache_proxy_projects=["DocOpt"],
               nginx_cache_proxy_max_size="2m")
    mark = upstream.mark()
    assert http.get(f"{base}/simple/docopt/", headers={"Accept": JSON}).status_code == 200
    refused = http.get(f"{base}/simple/six/", headers={"Accept": JSON})
    assert refused.status_code == 404
    assert "is not fetched from the upstream here" in refused.text
    paths = [r["path"] for r in upstream.since(mark)]
    assert paths == ["/simple/docopt/"], paths
    refresh_report(box)
    page = http.get(f"{base}/").text
    assert re.search(r"<li>six <span[^>]*>\(not on the allow-list; once", page), page


def test_the_next_mirror_run_takes_in_what_was_fetched_on_demand(apply_role, http, base,
                                                                    box):
    result = apply_role("pypi_mirror", pypi_mirror_include_on_demand=True)
    added = re.search(r"Fetched on demand, now mirrored too: ([a-z0-9, -]+)", result.stdout)
    assert added, result.stdout[-3000:]
    names = added.group(1).split(", ")
    assert "docopt" in names  # fetched just before, the cap cannot have evicted it
    assert not {"idna", "colorama"} & set(names)  # the mirror's own and the private one
    for name in names:
        response = http.get(f"{base}/simple/{name}/", headers={"Accept": JSON})
        assert response.status_code == 200, name
        assert "X-Cache-Status" not in response.headers, name  # the mirror's static page
        assert all(f["url"].startswith(f"../../files/{name}/") for f in response.json()["files"])
        assert box.file(f"/srv/pypi/mirror/files/{name}").is_directory


def test_the_cache_keeps_to_its_size_cap(http, base, box):
    # max_size 2m since the allow-list test: four wheels, 2.6 MB, go through it.
    for wheel in ("pygments/pygments-2.19.1-py3-none-any.whl",
                  "setuptools/setuptools-80.9.0-py3-none-any.whl",
                  "jinja2/jinja2-3.1.6-py3-none-any.whl", "click/click-8.3.1-py3-none-any.whl"):
        assert http.get(f"{base}/proxy/root/files/{wheel}").status_code == 200
    # nginx's cache manager evicts the least recently used entries within seconds.
    wait_for(lambda: cache_bytes(box) <= 2 * MIB, 30,
             lambda: f"the cache holds {cache_bytes(box)} bytes, more than its 2m cap")


def test_switched_off_the_box_asks_nobody(apply_role, http, base, box, upstream):
    apply_role("nginx_cache", tags=PROXY_TAGS, nginx_cache_proxy_enabled=False)
    mark = upstream.mark()
    response = http.get(f"{base}/simple/six/", headers={"Accept": JSON})
    assert response.status_code == 404
    assert upstream.since(mark) == []
    for unit in ("pypi-in-a-box-proxy.timer", "pypi-in-a-box-proxy.path"):
        assert not box.service(unit).is_running, unit
        assert not box.service(unit).is_enabled, unit
    log = box.file("/var/log/nginx/pypi-in-a-box-misses.log").content_string
    assert log.splitlines()[-1].endswith(" six 404 off"), log[-500:]
    assert "this box never fetches from the internet" in http.get(f"{base}/").text
