"""pypi_mirror on the Pi-like box: the layout contract, and pip installing from the result."""

import json

MIRROR = "/srv/pypi/mirror"


def test_engine_dependencies_come_from_debian(box):
    assert box.package("python3-packaging").is_installed
    assert box.package("python3-requests").is_installed


def test_layout_contract(box):
    root = json.loads(box.file(f"{MIRROR}/simple/index.json").content_string)
    assert [p["name"] for p in root["projects"]] == ["click", "colorama", "idna", "jinja2",
                                                     "markupsafe"]
    page = box.file(f"{MIRROR}/simple/click/index.html").content_string
    assert 'href="../../files/click/click-8.1.8-py3-none-any.whl#sha256=' in page
    assert 'data-requires-python="&gt;=3.10"' in page
    assert "data-core-metadata=" in page and "data-dist-info-metadata=" in page
    data = json.loads(box.file(f"{MIRROR}/simple/click/index.json").content_string)
    assert data["meta"]["api-version"] == "1.1"
    wheel = box.file(f"{MIRROR}/files/click/click-8.3.1-py3-none-any.whl")
    # Written by the engine, which runs as the mirror's own user.
    assert wheel.mode == 0o644 and wheel.user == "pypi-mirror"
    assert box.file(f"{MIRROR}/files/click/click-8.3.1-py3-none-any.whl.metadata").exists
    # only what a target can use: no cp39 macOS wheel (macOS is not a target here)
    listing = box.run(f"ls {MIRROR}/files/markupsafe").stdout.split()
    assert not [f for f in listing if "macosx" in f]
    assert "markupsafe-3.0.3-cp39-cp39-win_amd64.whl" in listing
    # nothing half-done is visible
    assert box.run(f"find {MIRROR}/files {MIRROR}/simple -name '.*'").stdout == ""


def test_pip_on_a_client_installs_from_the_box(client, box_url):
    result = client.run(f"""
        set -e
        python3 -m venv /tmp/v
        /tmp/v/bin/pip install --isolated --no-cache-dir --index-url {box_url}/simple/ \\
            --trusted-host {box_url.split("//")[1]} click jinja2 idna
        /tmp/v/bin/python -c 'import click, jinja2, idna, markupsafe; print("ok")'
    """)
    assert result.succeeded, result.stdout + result.stderr
    assert "ok" in result.stdout
