"""pypiserver's packages as a static index: served from disk, by pypiserver only when it must be."""

from __future__ import annotations

import hashlib
import shlex
import time

import pytest
from conftest import UPLOAD_PASSWORD, UPLOAD_USER, WHEELS

JSON = "application/vnd.pypi.simple.v1+json"
PIP = "pip --disable-pip-version-check --no-cache-dir"
INDEX = "--index-url http://pi-box/simple/ --trusted-host pi-box"
FLASK = "flask-3.0.3-py3-none-any.whl"  # a seed wheel in pypiserver's directory
INDEX_DIR = "/var/lib/pypi-in-a-box/private-index"


@pytest.fixture
def pypiserver_stopped(box, http, base):
    box.run_expect([0], "systemctl stop pypiserver")
    assert not box.service("pypiserver").is_running
    yield
    box.run_expect([0], "systemctl start pypiserver")
    deadline = time.monotonic() + 30
    while http.get(f"{base}/health").status_code != 200:
        assert time.monotonic() < deadline, "pypiserver did not come back"
        time.sleep(0.5)


def test_private_page_is_pep_691_json_with_hashes_and_requires_python(http, base):
    response = http.get(f"{base}/simple/flask/", headers={"Accept": JSON})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON
    assert "Accept" in response.headers["Vary"]
    assert "X-Cache-Status" not in response.headers  # from disk, not through pypiserver
    page = response.json()
    assert page["meta"]["api-version"] == "1.1"
    assert page["name"] == "flask"
    [entry] = page["files"]
    assert entry["filename"] == FLASK
    assert entry["url"] == f"../../packages/{FLASK}"
    assert entry["hashes"]["sha256"] == hashlib.sha256((WHEELS / FLASK).read_bytes()).hexdigest()
    assert entry["requires-python"] == ">=3.8"
    html = http.get(f"{base}/simple/flask/").text
    assert f'href="../../packages/{FLASK}#sha256={entry["hashes"]["sha256"]}"' in html


def test_pages_go_out_precompressed(http, base):
    """gzip_static: the indexer's .gz twin, sent as a file (a length, a strong ETag), not
    compressed for every request."""
    for accept in ("text/html", JSON):
        response = http.get(f"{base}/simple/flask/",
                            headers={"Accept": accept, "Accept-Encoding": "gzip"}, stream=True)
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Content-Length" in response.headers
        assert not response.headers["ETag"].startswith("W/")
        response.close()


def test_simple_lists_mirrored_and_private_projects(http, base):
    root = http.get(f"{base}/simple/", headers={"Accept": JSON})
    assert root.status_code == 200
    assert root.headers["Content-Type"] == JSON
    names = [p["name"] for p in root.json()["projects"]]
    assert "idna" in names  # the mirror's (and a seed: listed once)
    assert {"flask", "werkzeug", "requests", "markupsafe"} <= set(names)
    assert len(names) == len(set(names))
    html = http.get(f"{base}/simple/")
    assert html.headers["Content-Type"].startswith("text/html")
    assert '<a href="flask/">flask</a>' in html.text
    assert '<a href="idna/">idna</a>' in html.text


def test_simple_follows_the_mirrors_root_page_within_seconds(box, http, base):
    """A mirror run that adds a project rewrites its root page; the box's /simple/ follows."""
    root = "/srv/pypi/mirror/simple/index.json"
    original = box.file(root).content_string
    added = original.replace('"name": "idna"', '"name": "idna"}, {"name": "piab-new-mirrored"')
    assert added != original
    write = ("python3 -c 'import os, sys; open(sys.argv[1] + \".tmp\", \"w\").write(sys.argv[2]);"
             " os.replace(sys.argv[1] + \".tmp\", sys.argv[1])' {} {}")
    box.run_expect([0], write.format(root, shlex.quote(added)))
    try:
        deadline = time.monotonic() + 5
        while "piab-new-mirrored/" not in http.get(f"{base}/simple/").text:
            assert time.monotonic() < deadline, "/simple/ did not follow the mirror within 5 s"
            time.sleep(0.25)
    finally:
        box.run_expect([0], write.format(root, shlex.quote(original)))
    deadline = time.monotonic() + 5
    while "piab-new-mirrored/" in http.get(f"{base}/simple/").text:
        assert time.monotonic() < deadline, "/simple/ still lists a project the mirror dropped"
        time.sleep(0.25)


def test_pip_installs_private_packages_with_pypiserver_stopped(pypiserver_stopped, client,
                                                               http, base):
    assert http.get(f"{base}/simple/flask/").status_code == 200
    assert http.get(f"{base}/simple/").status_code == 200
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install -q {INDEX} flask
        /tmp/venv/bin/python -c 'import flask, werkzeug; print("imported")'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported" in result.stdout


def test_the_index_is_owned_by_its_user_and_only_readable_by_nginx(box):
    index = box.file(f"{INDEX_DIR}/simple/flask/index.json")
    assert index.user == "pypi-index"
    assert index.mode == 0o644
    assert box.file(INDEX_DIR).user == "pypi-index"
    assert box.run(f"runuser -u www-data -- touch {INDEX_DIR}/simple/x").rc != 0


@pytest.mark.parametrize("reconverged", [{"pypiserver_authenticate": ["update", "list"],
                                          "nginx_cache_listing_requires_auth": True}],
                         indirect=True)
def test_with_listing_behind_a_password_nothing_private_is_public(
    reconverged, box, http, base
):
    # The static pages are still written, just never served.
    assert box.file(f"{INDEX_DIR}/simple/flask/index.html").exists
    for path in ("/simple/flask/", "/simple/"):
        for accept in ("text/html", JSON):
            response = http.get(f"{base}{path}", headers={"Accept": accept})
            assert response.status_code == 401, (path, accept)
    authenticated = http.get(f"{base}/simple/flask/", auth=(UPLOAD_USER, UPLOAD_PASSWORD))
    assert authenticated.status_code == 200
    assert FLASK in authenticated.text
    assert "X-Cache-Status" in authenticated.headers  # pypiserver's page (never cached: BYPASS)
    # The mirror's pages are not pypiserver's to close.
    assert http.get(f"{base}/simple/idna/").status_code == 200
    # Nor does the landing page name pypiserver's projects or versions; the mirror's it does.
    landing = http.get(f"{base}/").text
    for project in ("flask", "werkzeug", "blinker", "itsdangerous"):
        assert f"/simple/{project}/" not in landing, project
    assert "3.0.3" not in landing  # flask's version
    assert 'href="/simple/idna/"' in landing
