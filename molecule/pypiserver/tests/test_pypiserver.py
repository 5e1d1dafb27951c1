"""pypiserver alone: hardened, loopback-only, offline (404, never a redirect), password uploads."""

import os

import pytest

BASE = "http://127.0.0.1:8080"
USER = "uploader"
PASSWORD = os.environ.get("PIAB_TEST_UPLOAD_PASSWORD", "molecule-upload-secret")
WHEEL = "/root/blinker-1.8.2-py3-none-any.whl"
STORED = "/srv/pypi/packages/blinker-1.8.2-py3-none-any.whl"


def http_status(box, *curl_args: str) -> str:
    """Status code (and redirect target, if any) of a curl request made inside the box."""
    result = box.run(
        "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' " + " ".join(curl_args)
    )
    return result.stdout.strip()


def test_service_is_enabled_and_running(box):
    service = box.service("pypiserver")
    assert service.is_enabled
    assert service.is_running


def test_runs_as_its_own_user_with_a_threaded_server(box):
    unit = box.run("systemctl show -p User -p NoNewPrivileges -p ProtectSystem pypiserver").stdout
    assert "User=pypiserver" in unit
    assert "NoNewPrivileges=yes" in unit
    assert "ProtectSystem=strict" in unit
    headers = box.run(f"curl -sfI {BASE}/health").stdout.lower()
    # waitress serves requests from a thread pool; wsgiref would serve one at a time.
    assert "server: waitress" in headers, headers


def test_listens_on_loopback_only(box):
    listening = box.socket("tcp://127.0.0.1:8080")
    assert listening.is_listening
    addresses = {
        line.split()[3]
        for line in box.run("ss -Htln 'sport = :8080'").stdout.splitlines()
        if line.strip()
    }
    assert addresses == {"127.0.0.1:8080"}


def test_health_endpoint(box):
    assert http_status(box, f"{BASE}/health") == "200"


def test_missing_project_is_404_not_a_redirect_to_pypi(box):
    assert http_status(box, f"{BASE}/simple/no-such-project-here/") == "404"


def test_package_dir_is_writable_only_by_the_service(box):
    packages = box.file("/srv/pypi/packages")
    assert packages.user == "pypiserver"
    assert packages.mode == 0o755
    htpasswd = box.file("/etc/pypiserver/htpasswd")
    assert htpasswd.user == "root"
    assert htpasswd.mode == 0o640
    # bcrypt hashes only: "$2b$" / "$2y$" prefixes.
    assert htpasswd.content_string.startswith(f"{USER}:$2")


def upload(box, *auth: str) -> str:
    return http_status(
        box,
        *auth,
        "-F :action=file_upload",
        "-F name=blinker",
        "-F version=1.8.2",
        f"-F content=@{WHEEL}",
        f"{BASE}/",
    )


@pytest.mark.parametrize(
    "auth",
    [(), (f"-u {USER}:wrong-password",), ("-u nobody:nothing",)],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_upload_without_valid_credentials_is_refused(box, auth):
    stored = box.file(STORED)
    before = stored.mtime if stored.exists else None
    assert upload(box, *auth) in {"401", "403"}
    assert (stored.mtime if stored.exists else None) == before


def test_authenticated_upload_is_served(box):
    # Uploads never overwrite: start from a box without the file (it is, unless re-verified).
    box.run(f"rm -f {STORED}")
    assert upload(box, f"-u {USER}:{PASSWORD}") == "200"
    stored = box.file(STORED)
    assert stored.exists
    # Readable by nginx, which serves files straight from disk.
    assert stored.mode == 0o644
    page = box.run(f"curl -sf {BASE}/simple/blinker/").stdout
    assert "blinker-1.8.2-py3-none-any.whl#sha256=" in page
