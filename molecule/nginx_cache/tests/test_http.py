"""nginx in front of pypiserver and the mirror: what a client sees over the network."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest

HTML = "text/html"
JSON = "application/vnd.pypi.simple.v1+json"
# What pip 23+ sends: JSON preferred, HTML accepted.
PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
MIRROR_PROJECT = "idna"
MIRROR_WHEEL = "idna-3.10-py3-none-any.whl"
# Only pypiserver lists it (prepare.yml puts it in a sub-directory): its page is proxied and cached.
PROXIED_PROJECT = "piab-cache-probe"
PROXIED_WHEEL = "piab-cache-probe-1.0-py3-none-any.whl"


def test_server_header_has_no_version(http, base):
    response = http.get(f"{base}/")
    assert response.headers["Server"] == "nginx"


def test_landing_page_tells_how_to_use_the_box(http, base):
    response = http.get(f"{base}/")
    assert response.status_code == 200
    page = response.text
    assert "pi-box" in page
    assert "pip install --index-url http://pi-box/simple/ --trusted-host pi-box" in page
    assert "[global]\nindex-url = http://pi-box/simple/\ntrusted-host = pi-box" in page
    assert "UV_INDEX_URL=http://pi-box/simple/" in page
    assert "[[tool.uv.index]]" in page
    assert "poetry source add" in page
    assert "twine upload --repository-url http://pi-box/" in page
    # Projects at provision time: the seed wheels (pypiserver) and the mirror's one project.
    for project in ("requests", "flask", "markupsafe", MIRROR_PROJECT):
        assert f'href="/simple/{project}/"' in page


def test_health_is_ok_when_everything_runs(http, base):
    response = http.get(f"{base}/health")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "X-Cache-Status" not in response.headers


def test_missing_project_is_a_fast_404_never_a_redirect(http, base):
    url = f"{base}/simple/no-such-project-{uuid.uuid4().hex[:8]}/"
    for _ in range(2):  # a miss that reaches pypiserver, then the cached 404
        started = time.monotonic()
        response = http.get(url, allow_redirects=False)
        elapsed = time.monotonic() - started
        assert response.status_code == 404
        assert "Location" not in response.headers
        assert elapsed < 0.5, f"404 took {elapsed:.3f} s"
    assert response.headers["X-Cache-Status"] == "HIT"


def test_index_pages_from_pypiserver_are_cached_per_accept_variant(box, http, base):
    # An empty cache (a query string no longer makes a fresh key: it is not part of it).
    box.run_expect([0], "find /var/cache/nginx/pypi-in-a-box -type f -delete")
    url = f"{base}/simple/{PROXIED_PROJECT}/"
    statuses = []
    for accept in (HTML, HTML, PIP_ACCEPT, PIP_ACCEPT, HTML):
        response = http.get(url, headers={"Accept": accept})
        assert response.status_code == 200
        assert f"{PROXIED_WHEEL}#sha256=" in response.text
        assert "Accept" in response.headers["Vary"]
        statuses.append(response.headers["X-Cache-Status"])
    # JSON and HTML are different responses, so the first JSON request is a miss of its own.
    assert statuses == ["MISS", "HIT", "MISS", "HIT", "HIT"]


def test_a_change_in_the_package_directory_purges_cached_pages(box, http, base):
    url = f"{base}/simple/{PROXIED_PROJECT}/"
    assert http.get(url).headers["X-Cache-Status"] in ("MISS", "HIT")
    assert http.get(url).headers["X-Cache-Status"] == "HIT"
    assert box.service("pypi-in-a-box-cache-purge.path").is_running
    # A file elsewhere is no reason to purge: the page stays cached.
    box.run_expect([0], "touch /tmp/unrelated-change")
    time.sleep(1)
    assert http.get(url).headers["X-Cache-Status"] == "HIT"
    # Any change in pypiserver's directory is (an upload, a removed file).
    box.run_expect([0], "install -m 0644 /dev/null /srv/pypi/packages/purge-probe.txt")
    try:
        deadline = time.monotonic() + 5
        while http.get(url).headers["X-Cache-Status"] == "HIT":
            assert time.monotonic() < deadline, "the cached page survived a change for 5 s"
            time.sleep(0.2)
    finally:
        box.run_expect([0], "rm -f /srv/pypi/packages/purge-probe.txt")


def test_index_pages_are_gzipped(http, base):
    for accept in (HTML, PIP_ACCEPT):
        # static (pypiserver's packages, the mirror) and proxied
        for project in ("flask", MIRROR_PROJECT, PROXIED_PROJECT):
            response = http.get(
                f"{base}/simple/{project}/",
                headers={"Accept": accept, "Accept-Encoding": "gzip"},
            )
            assert response.status_code == 200
            assert response.headers.get("Content-Encoding") == "gzip", (project, accept)


def test_mirror_index_is_static_html_or_json_by_accept(http, base):
    html = http.get(f"{base}/simple/{MIRROR_PROJECT}/", headers={"Accept": HTML})
    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    assert "static mirror index" in html.text
    assert f"../../files/{MIRROR_PROJECT}/{MIRROR_WHEEL}#sha256=" in html.text

    as_json = http.get(f"{base}/simple/{MIRROR_PROJECT}/", headers={"Accept": PIP_ACCEPT})
    assert as_json.status_code == 200
    assert as_json.headers["Content-Type"] == JSON
    index = json.loads(as_json.text)
    assert index["meta"]["api-version"] == "1.1"
    assert index["name"] == MIRROR_PROJECT
    assert [f["filename"] for f in index["files"]] == [MIRROR_WHEEL]

    for response in (html, as_json):
        assert "Accept" in response.headers["Vary"]
        # Served from disk, not through pypiserver's cache.
        assert "X-Cache-Status" not in response.headers


def test_mirror_files_are_served_and_match_their_hash(http, base):
    index = http.get(f"{base}/simple/{MIRROR_PROJECT}/", headers={"Accept": JSON}).json()
    entry = index["files"][0]
    response = http.get(f"{base}/files/{MIRROR_PROJECT}/{entry['filename']}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == entry["hashes"]["sha256"]
    assert "immutable" in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        f"/files/{MIRROR_PROJECT}/.partial/{MIRROR_WHEEL}",
        "/files/.state/secret",
        "/.state/secret",
        "/simple/.state/",
        "/packages/.hidden",
    ],
)
def test_internal_dot_files_are_never_served(http, base, path):
    assert http.get(f"{base}{path}", allow_redirects=False).status_code == 404


def test_range_request_on_a_package_file(http, base, wheel_file):
    response = http.get(f"{base}/packages/{wheel_file.name}", headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.content == wheel_file.read_bytes()[:100]
    assert response.headers["Content-Range"] == f"bytes 0-99/{wheel_file.stat().st_size}"


def test_package_files_come_from_disk_without_pypiserver(box, http, base, wheel_file):
    box.run("systemctl stop pypiserver")
    try:
        assert not box.service("pypiserver").is_running
        response = http.get(f"{base}/packages/{wheel_file.name}")
        assert response.status_code == 200
        assert response.content == wheel_file.read_bytes()
        assert "immutable" in response.headers["Cache-Control"]
        # The mirror's index and files do not need pypiserver either.
        assert http.get(f"{base}/simple/{MIRROR_PROJECT}/").status_code == 200
        # /health tells which part is down.
        health = http.get(f"{base}/health")
        assert health.status_code == 503
        assert "pypiserver: not answering" in health.text
    finally:
        box.run("systemctl start pypiserver")
        deadline = time.monotonic() + 30
        while http.get(f"{base}/health").status_code != 200:
            assert time.monotonic() < deadline, "pypiserver did not come back"
            time.sleep(0.5)
