"""Online: what nobody listed is fetched from the upstream once and served by the box to all.

The box's mirror holds idna 3.10, pypiserver holds colorama (both exist upstream too); every
other project of the upstream's fixture set is unlisted. The files asked for here are the
first requests for them since the box was provisioned, so the upstream's log tells exactly
what the box fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urljoin

from conftest import INDEX, JSON, MIB, PIP, UV, cache_bytes, refresh_report, wait_for

UPSTREAM_URL = "http://upstream:8000"


def files_of(records: list[dict]) -> list[str]:
    return [r["path"] for r in records if r["path"].startswith("/files/")]


def pages_of(records: list[dict]) -> list[str]:
    return [r["path"] for r in records if r["path"].startswith("/simple/")]


def upstream_get(box, path: str, accept: str = JSON) -> bytes:
    """What the upstream itself answers, asked from the box (the controller has no route)."""
    result = box.run(f"curl -sf -H 'Accept: {accept}' {UPSTREAM_URL}{path}")
    assert result.rc == 0, result.stderr
    return result.stdout.encode()


def test_pip_installs_an_unlisted_project_through_the_box(client, upstream):
    mark = upstream.mark()
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} jinja2
        /tmp/venv/bin/python -c 'import jinja2, markupsafe; print("imported", jinja2.__version__)'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported 3.1.6" in result.stdout
    # pip downloaded from the box, which fetched from the upstream: the page of each project
    # and the files pip took, once each.
    assert "http://pi-box/proxy/root/files/jinja2/jinja2-3.1.6-py3-none-any.whl" in result.stdout
    fetched = upstream.since(mark)
    assert sorted(set(pages_of(fetched))) == ["/simple/jinja2/", "/simple/markupsafe/"]
    files = files_of(fetched)
    assert "/files/jinja2/jinja2-3.1.6-py3-none-any.whl" in files
    assert len(files) == len(set(files)), files


def test_uv_installs_an_unlisted_project_through_the_box(client, upstream):
    mark = upstream.mark()
    result = client.run(
        f"""
        {UV} venv -q --python /usr/bin/python3 /tmp/uv-venv
        {UV} pip install --python /tmp/uv-venv/bin/python --index-url http://pi-box/simple/ click
        /tmp/uv-venv/bin/python -c 'import click; print("imported", click.__version__)'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported 8.3.1" in result.stdout
    files = files_of(upstream.since(mark))
    assert "/files/click/click-8.3.1-py3-none-any.whl" in files
    assert len(files) == len(set(files)), files


def test_pages_are_rewritten_to_the_box_with_hashes_untouched(http, base, box):
    # JSON (PEP 691): every file's URL points at the box; everything else is the upstream's.
    ours = http.get(f"{base}/simple/click/", headers={"Accept": JSON})
    assert ours.status_code == 200
    assert ours.headers["Content-Type"] == JSON
    assert [v.strip() for v in ours.headers["Vary"].split(",")].count("Accept") == 1
    upstream_page = json.loads(upstream_get(box, "/simple/click/"))
    page = ours.json()
    assert len(page["files"]) == len(upstream_page["files"]) == 2
    for mine, original in zip(page["files"], upstream_page["files"]):
        assert mine["url"] == "/proxy/root/files/click/" + original["filename"]
        assert {k: v for k, v in mine.items() if k != "url"} == \
            {k: v for k, v in original.items() if k != "url"}
    # HTML (PEP 503): the same links, the #sha256 fragments and data- attributes untouched.
    html = http.get(f"{base}/simple/click/", headers={"Accept": "text/html"}).text
    original_html = upstream_get(box, "/simple/click/", "text/html").decode()
    assert html == original_html.replace('"../../', '"/proxy/root/')
    assert html.count('href="/proxy/root/files/click/click-') == 2


def test_files_and_pep_658_metadata_pass_through_byte_for_byte(http, base):
    page = http.get(f"{base}/simple/jinja2/", headers={"Accept": JSON}).json()
    [entry] = page["files"]
    url = urljoin(f"{base}/simple/jinja2/", entry["url"])
    wheel = http.get(url)
    assert wheel.status_code == 200
    assert hashlib.sha256(wheel.content).hexdigest() == entry["hashes"]["sha256"]
    assert wheel.headers["X-Cache-Status"] == "HIT"  # pip fetched it through the box before
    metadata = http.get(url + ".metadata")
    assert metadata.status_code == 200
    assert hashlib.sha256(metadata.content).hexdigest() == entry["core-metadata"]["sha256"]
    assert metadata.content.startswith(b"Metadata-Version:")


def test_ten_clients_at_once_cost_the_upstream_one_fetch_per_file(client, upstream):
    mark = upstream.mark()
    # Five pip and five uv installs of two ~1.2 MB wheels nobody asked for yet, all at once.
    result = client.run(
        f"""
        export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
        for i in 1 2 3 4 5; do
            python3 -m pip install -q --no-cache-dir --break-system-packages --target /tmp/pip-$i \
                {INDEX} pygments setuptools > /tmp/pip-$i.log 2>&1 &
            {UV} pip install -q --target /tmp/uv-$i --python /usr/bin/python3 \
                --index-url http://pi-box/simple/ pygments setuptools > /tmp/uv-$i.log 2>&1 &
        done
        failed=0
        for job in $(jobs -p); do wait $job || failed=$((failed + 1)); done
        cat /tmp/*.log
        ls -d /tmp/pip-*/pygments /tmp/uv-*/pygments /tmp/pip-*/setuptools /tmp/uv-*/setuptools
        exit $failed
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert len(result.stdout.split()) >= 20  # every client has both
    fetched = upstream.since(mark)
    files = files_of(fetched)
    for wheel in ("pygments/pygments-2.19.1-py3-none-any.whl",
                  "setuptools/setuptools-80.9.0-py3-none-any.whl"):
        assert files.count(f"/files/{wheel}") == 1, files
        assert files.count(f"/files/{wheel}.metadata") <= 1, files
    # Pages: one fetch each, or two when a refresh came due (they are fresh for 5 s here).
    pages = pages_of(fetched)
    for page in ("/simple/pygments/", "/simple/setuptools/"):
        assert 1 <= pages.count(page) <= 2, pages


def test_a_private_name_is_never_asked_of_the_upstream(client, http, base, upstream):
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} colorama
        /tmp/venv/bin/python -c 'import colorama; print("imported")'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "http://pi-box/packages/colorama-0.4.6-py2.py3-none-any.whl" in result.stdout
    # Spelled otherwise, it is still pypiserver's (a redirect to the normal name), not a miss.
    for spelling in ("Colorama", "COLORAMA"):
        response = http.get(f"{base}/simple/{spelling}/", headers={"Accept": JSON})
        assert response.status_code == 200, spelling
        assert response.json()["name"] == "colorama"
    assert not [r for r in upstream.settled() if "colorama" in r["path"].lower()]


def test_the_mirror_wins_over_the_upstream(client, upstream):
    mark = upstream.mark()
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} idna
        ! /tmp/venv/bin/{PIP} install {INDEX} idna==3.9
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "http://pi-box/files/idna/idna-3.10-py3-none-any.whl" in result.stdout
    assert not [r for r in upstream.since(mark) if "idna" in r["path"]]


def test_a_project_the_upstream_lacks_is_a_404_and_listed_as_a_miss(http, base, box):
    response = http.get(f"{base}/simple/reqeusts-typo/", headers={"Accept": JSON})
    assert response.status_code == 404
    refresh_report(box)
    page = http.get(f"{base}/").text
    assert re.search(r"<li>reqeusts-typo <span[^>]*>\(not found upstream; once", page), page


def test_the_landing_page_says_online_and_lists_what_was_fetched(http, base, box):
    refresh_report(box)
    page = http.get(f"{base}/").text
    assert 'class="uplink online"' in page
    assert "Offline now" not in page
    listed = re.search(r"<h3>Fetched on demand \((\d+) projects", page)
    assert listed, page
    for project in ("jinja2", "markupsafe", "click", "pygments", "setuptools"):
        assert f'<a href="/simple/{project}/">{project}</a>' in page
    # Neither the mirror's nor pypiserver's projects were fetched.
    section = page[page.index("Fetched on demand"):]
    assert "/simple/idna/" not in section and "/simple/colorama/" not in section


def test_status_playbook_lists_on_demand_projects_and_misses(status_report):
    report = status_report()
    fetched = re.search(r"on demand (\d+) projects fetched, (\d+) files, .*?: (.*?)\"", report)
    assert fetched, report
    assert int(fetched.group(1)) >= 5
    for project in ("click 8.3.1", "jinja2 3.1.6", "pygments 2.19.1"):
        assert project in fetched.group(3)
    assert re.search(r"misses +\d+ projects? asked for and not served: .*reqeusts-typo "
                     r"\(not found upstream, 1x\)", report), report


def test_unknown_urls_under_proxy_are_not_forwarded(http, base, upstream):
    mark = upstream.mark()
    for path in ("/proxy/root/simple/", "/proxy/root/etc/passwd", "/proxy/files/x.whl",
                 "/proxy/other/x.whl"):
        assert http.get(f"{base}{path}").status_code == 404, path
    assert upstream.since(mark) == []


DISK = "/srv/proxy-disk"  # the cache's small disk (prepare.yml); min_free 8m (vars/scenario.yml)


def free_bytes(box) -> int:
    available, block = box.check_output(f"stat -f -c '%a %S' {DISK}").split()
    return int(available) * int(block)


def fetch_like_an_installer(http, base, projects) -> None:
    """Each project's JSON page, and every file with its metadata, through the box."""
    for project in projects:
        page_url = f"{base}/simple/{project}/"
        page = http.get(page_url, headers={"Accept": JSON})
        assert page.status_code == 200, project
        for entry in page.json()["files"]:
            url = urljoin(page_url, entry["url"])
            assert http.get(url).status_code == 200, url
            if entry.get("core-metadata"):
                assert http.get(url + ".metadata").status_code == 200, url


def test_the_cache_makes_room_when_the_disk_fills_up(box, http, base):
    held = cache_bytes(box)
    assert held > 2 * MIB  # what the tests above fetched
    # The mirror and uploads grow by 6 MiB: less than min_free is left, so the cache gives way
    # (nginx's cache manager looks at least every 10 s).
    box.run_expect([0], f"fallocate -l 14M {DISK}/mirror-and-uploads")
    try:
        assert free_bytes(box) < 8 * MIB
        wait_for(lambda: free_bytes(box) >= 8 * MIB, 40,
                 lambda: f"only {free_bytes(box)} bytes free, below the 8m the cache must leave")
        assert 0 < cache_bytes(box) < held  # room made, and no more than needed
    finally:
        box.run_expect([0], f"rm {DISK}/mirror-and-uploads && "
                            f"fallocate -l 8M {DISK}/mirror-and-uploads")
    # Evicted is only gone from the box: asked again, it is fetched again (and what the offline
    # tests install is in the cache again).
    fetch_like_an_installer(http, base, ["jinja2", "markupsafe", "click", "pygments"])
