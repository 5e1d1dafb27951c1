"""Bad input and broken nginx configs never reach the live box."""

from __future__ import annotations

import subprocess

import pytest
from conftest import run_playbook

SITE_CONFIG = "/etc/nginx/conf.d/pypi-in-a-box.conf"
HTPASSWD = "/etc/pypiserver/htpasswd"


def apply_role(role: str, tmp_path, **variables) -> subprocess.CompletedProcess:
    return run_playbook("apply_role.yml", tmp_path, role_under_test=role, **variables)


def fingerprint(box, path: str) -> tuple[str, float]:
    target = box.file(path)
    return target.sha256sum, target.mtime


def assert_nginx_serves_the_old_site(box, http, base):
    assert box.run("nginx -t").rc == 0
    assert http.get(f"{base}/").status_code == 200
    # Still the role's site (the static index of pypiserver's packages), not Debian's default.
    response = http.get(f"{base}/simple/flask/")
    assert response.status_code == 200
    assert "../../packages/flask-3.0.3-py3-none-any.whl#sha256=" in response.text


def test_broken_nginx_config_is_rejected_and_never_goes_live(box, http, base, tmp_path):
    before = fingerprint(box, SITE_CONFIG)
    result = apply_role(
        "nginx_cache",
        tmp_path,
        nginx_cache_server_name="pi-box",
        nginx_cache_extra_server_config="this_is_not_an_nginx_directive on;",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "failed to validate" in output
    assert "unknown directive" in output
    assert fingerprint(box, SITE_CONFIG) == before
    assert_nginx_serves_the_old_site(box, http, base)


@pytest.mark.parametrize(
    ("role", "variables", "message", "guarded"),
    [
        (
            "nginx_cache",
            {"nginx_cache_max_size": "lots"},
            "nginx_cache_max_size must be an nginx size",
            SITE_CONFIG,
        ),
        (
            "nginx_cache",
            {"nginx_cache_index_valid": "soon"},
            "nginx_cache_index_valid must be an nginx time",
            SITE_CONFIG,
        ),
        (
            "nginx_cache",
            {"pypiserver_authenticate": ["update", "list"]},
            "set nginx_cache_listing_requires_auth: true",
            SITE_CONFIG,
        ),
        (
            "pypiserver",
            {"pypiserver_users": []},
            "pypiserver_users is empty",
            HTPASSWD,
        ),
        (
            "pypiserver",
            {
                "pypiserver_authenticate": ["list"],
                "pypiserver_users": [{"name": "someone", "password": "secret"}],
            },
            "pypiserver_authenticate must contain 'update'",
            HTPASSWD,
        ),
    ],
    ids=["cache-size", "cache-time", "open-static-list", "no-upload-user", "anonymous-uploads"],
)
def test_bad_input_fails_with_a_message_before_anything_changes(
    box, http, base, tmp_path, role, variables, message, guarded
):
    before = fingerprint(box, guarded)
    result = apply_role(role, tmp_path, **variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output
    assert fingerprint(box, guarded) == before
    assert_nginx_serves_the_old_site(box, http, base)
