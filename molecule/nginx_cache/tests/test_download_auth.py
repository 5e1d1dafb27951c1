"""With downloads behind a password, nginx must not hand out pypiserver's files from disk."""

from __future__ import annotations

import pytest
from conftest import UPLOAD_PASSWORD, UPLOAD_USER


@pytest.mark.parametrize("reconverged", [{"pypiserver_authenticate": ["update", "download"],
                                          "nginx_cache_packages_require_auth": True}],
                         indirect=True)
def test_package_files_need_the_password_when_pypiserver_asks_for_it(
    reconverged, http, base, wheel_file
):
    url = f"{base}/packages/{wheel_file.name}"
    assert http.get(url).status_code == 401
    authenticated = http.get(url, auth=(UPLOAD_USER, UPLOAD_PASSWORD))
    assert authenticated.status_code == 200
    assert authenticated.content == wheel_file.read_bytes()


def test_package_files_come_from_disk_when_downloads_are_open(http, base, wheel_file):
    response = http.get(f"{base}/packages/{wheel_file.name}")
    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
