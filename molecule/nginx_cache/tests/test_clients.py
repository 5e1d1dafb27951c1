"""Real clients against the box: pip and uv install through it, twine uploads to it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import UPLOAD_PASSWORD, build_wheel, nginx_seconds, twine

PIP = "pip --disable-pip-version-check --no-cache-dir"
INDEX = "--index-url http://pi-box/simple/ --trusted-host pi-box"
PROBE = "piab-probe"


def test_pip_installs_requests_and_flask_with_dependencies(client, box):
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} requests flask
        /tmp/venv/bin/python -c 'import requests, flask, idna, markupsafe; print("imported")'
        /tmp/venv/bin/pip list --format=freeze
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported" in result.stdout
    for pinned in ("requests==2.32.3", "Flask==3.0.3", "Werkzeug==3.0.6", "idna==3.10"):
        assert pinned.lower() in result.stdout.lower()
    # idna is in the mirror tree too, and the mirror wins: pip fetched it from /files/.
    access_log = box.file("/var/log/nginx/access.log").content_string
    assert "GET /files/idna/idna-3.10-py3-none-any.whl" in access_log


def test_uv_installs_requests_and_flask(client):
    result = client.run(
        """
        export UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1
        uv venv --python /usr/bin/python3 /tmp/uv-venv
        uv pip install --python /tmp/uv-venv/bin/python \
            --index-url http://pi-box/simple/ requests flask
        /tmp/uv-venv/bin/python -c 'import requests, flask; print("imported")'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "imported" in result.stdout


@pytest.fixture(scope="module")
def probe_wheel(tmp_path_factory) -> Path:
    # A new version on every run, so re-running verify on the same box uploads something new.
    return build_wheel(tmp_path_factory.mktemp("dist"), PROBE, f"1.0.{int(time.time())}")


def test_anonymous_upload_is_refused(http, base, probe_wheel):
    with probe_wheel.open("rb") as content:
        response = http.post(
            f"{base}/",
            data={":action": "file_upload", "name": PROBE, "version": "1.0"},
            files={"content": (probe_wheel.name, content)},
        )
    assert response.status_code in (401, 403)


def test_upload_with_a_wrong_password_is_refused(base, probe_wheel):
    result = twine(base, probe_wheel, "not-the-password")
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr or "401" in result.stdout + result.stderr


def test_twine_upload_becomes_installable_by_pip_and_uv_within_seconds(
    client, http, base, probe_wheel, role_defaults
):
    version = probe_wheel.name.split("-")[1]
    page = f"{base}/simple/{PROBE}/"
    # Worst case first: pypiserver's 404 for the project is in nginx's cache when the upload
    # lands, fresh for longer than this test waits.
    assert http.get(page).status_code in (200, 404)
    backstop = max(
        nginx_seconds(role_defaults["nginx_cache_index_valid"]),
        nginx_seconds(role_defaults["nginx_cache_index_valid_404"]),
    )
    assert backstop >= 30, "the cache validity alone would make this test prove nothing"

    result = twine(base, probe_wheel, UPLOAD_PASSWORD)
    assert result.returncode == 0, result.stdout + result.stderr
    uploaded = time.monotonic()

    # The path unit fires on the upload and the indexer writes the project's static page.
    bound = 5
    while probe_wheel.name not in (response := http.get(page)).text:
        assert time.monotonic() - uploaded <= bound, f"upload not visible within {bound} s"
        time.sleep(0.25)
    print(f"upload visible after {time.monotonic() - uploaded:.1f} s (indexed on change)")
    assert response.status_code == 200
    assert "X-Cache-Status" not in response.headers  # the static page, not pypiserver's

    installed = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} {PROBE}=={version}
        /tmp/venv/bin/python -c 'import piab_probe; print(piab_probe.__version__)'
        export UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1
        uv venv --python /usr/bin/python3 /tmp/uv-venv
        uv pip install --python /tmp/uv-venv/bin/python \
            --index-url http://pi-box/simple/ {PROBE}=={version}
        /tmp/uv-venv/bin/python -c 'import piab_probe; print(piab_probe.__version__)'
        """
    )
    assert installed.succeeded, installed.stdout + installed.stderr
    assert installed.stdout.splitlines().count(version) == 2, installed.stdout  # pip, then uv
