"""The whole box as `ansible-playbook site.yml` leaves it: the roles wired to each other.

Each role's own scenario tests that role in depth; these tests check what only the site
playbook brings together: nginx serving the mirror the pypi_mirror role wrote and the files
pypiserver holds, in one client resolve, and the site-wide check of every role's input before
anything changes.
"""

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import scenario

PROJECT_DIR = Path(__file__).resolve().parents[3]
BOX_HOST = scenario.box_name()
PIP = "pip --disable-pip-version-check --no-cache-dir"
INDEX = "--index-url http://pi-box/simple/ --trusted-host pi-box"


@pytest.mark.parametrize("service", ["nginx", "pypiserver", "dnsmasq"])
def test_serving_services_run_and_start_at_boot(box, service):
    unit = box.service(service)
    assert unit.is_enabled, f"{service} is not enabled"
    assert unit.is_running, f"{service} is not running"


def test_access_point_waits_for_a_radio(box):
    # No Wi-Fi in a container: hostapd is configured for the next boot with a radio, not started.
    assert box.file("/etc/hostapd/hostapd.conf").exists
    assert box.service("hostapd").is_enabled
    assert not box.service("hostapd").is_running


def test_pip_resolves_across_mirror_and_uploads_in_one_install(client, box):
    """flask comes from pypiserver's seed; jinja2, click and markupsafe from the mirror."""
    result = client.run(
        f"""
        python3 -m venv /tmp/venv
        /tmp/venv/bin/{PIP} install {INDEX} flask
        /tmp/venv/bin/python -c 'import flask, jinja2, click, markupsafe; print("imported")'
        /tmp/venv/bin/pip list --format=freeze
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    installed = result.stdout.lower()
    assert "flask==3.0.3" in installed
    # The mirror's releases, not the older copies seeded into pypiserver: the mirror wins.
    assert "jinja2==3.1.6" in installed
    assert "markupsafe==3.0.3" in installed
    access_log = box.file("/var/log/nginx/access.log").content_string
    assert "GET /files/jinja2/jinja2-3.1.6-py3-none-any.whl" in access_log
    assert "GET /packages/flask-3.0.3-py3-none-any.whl" in access_log


def test_uv_resolves_across_mirror_and_uploads(client):
    result = client.run(
        """
        export UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1
        uv venv --python /usr/bin/python3 /tmp/uv-venv
        uv pip install --python /tmp/uv-venv/bin/python --index-url http://pi-box/simple/ flask
        /tmp/uv-venv/bin/python -c 'import flask, jinja2; print(jinja2.__version__)'
        """
    )
    assert result.succeeded, result.stdout + result.stderr
    assert "3.1.6" in result.stdout


def test_mirrored_project_speaks_pep_691_json(client):
    result = client.run(
        "curl -fsS -H 'Accept: application/vnd.pypi.simple.v1+json' http://pi-box/simple/click/"
    )
    assert result.succeeded, result.stderr
    page = json.loads(result.stdout)
    assert page["meta"]["api-version"].startswith("1.")
    assert page["name"] == "click"
    assert all(file["hashes"]["sha256"] for file in page["files"])


def test_landing_page_names_the_box_and_what_it_holds(client):
    result = client.run("curl -fsS http://pi-box/")
    assert result.succeeded, result.stderr
    page = result.stdout
    assert "pypi.internal" in page, "the landing page should use dnsmasq_box_name"
    for project in ("jinja2", "click", "flask", "requests"):
        assert project in page, f"{project} is on the box but not on the landing page"
    # Each project with its versions, newest first, and the box's free space when rendered.
    assert re.search(r'jinja2</a>\s*<span class="versions">3\.1\.6</span>', page), page
    # pypiserver's older jinja2 is listed too, saying the mirror's is the one served.
    assert re.search(r'jinja2</a>\s*<span class="versions">3\.1\.4</span> <span class="shadowed">',
                     page), page
    assert re.search(r"As of \d{4}-\d\d-\d\d \d\d:\d\d UTC", page), page
    free = re.search(r"([\d.]+) ([KMGT]?B) free of\s+([\d.]+) ([KMGT]?B) on the box", page)
    assert free and float(free.group(1)) > 0, page


@pytest.fixture(scope="module")
def status_run(tmp_path_factory):
    """`ansible-playbook status.yml` against the provisioned box, its results as JSON."""
    # No ansible.cfg (the checkout's or Molecule's): its extra callbacks would print into the JSON.
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    result = subprocess.run(
        ["ansible-playbook", str(PROJECT_DIR / "status.yml"),
         "-i", os.environ["MOLECULE_INVENTORY_FILE"]],
        cwd=tmp_path_factory.mktemp("status"), env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    (play,) = json.loads(result.stdout)["plays"]
    tasks = {task["task"]["name"]: task["hosts"] for task in play["tasks"]}
    return result.stdout, tasks


def test_status_reports_the_mirror_with_the_files_it_serves(status_run, box):
    _, tasks = status_run
    status = tasks["Read the box's status"][BOX_HOST]
    assert status["changed"] is False
    mirrored = {project["name"]: project for project in status["mirror"]["projects"]}
    assert {"jinja2", "click", "markupsafe"} <= set(mirrored)
    assert mirrored["jinja2"]["versions"] == ["3.1.6"]
    for name, project in mirrored.items():
        served = json.loads(box.file(f"/srv/pypi/mirror/simple/{name}/index.json").content_string)
        assert project["files"] == len(served["files"]), name
    assert status["mirror"]["file_count"] == sum(p["files"] for p in mirrored.values())
    assert "flask" in {project["name"] for project in status["private"]["projects"]}
    assert status["disk"]["total_bytes"] > status["disk"]["free_bytes"] > 0


def test_status_reports_services_and_wifi(status_run):
    output, tasks = status_run
    status = tasks["Read the box's status"][BOX_HOST]
    for service in ("nginx", "pypiserver", "dnsmasq"):
        assert status["services"][service]["active"], status["services"][service]
    # No radio in the container: hostapd is installed and enabled, waiting for one.
    assert not status["services"]["hostapd"]["active"]
    assert status["services"]["hostapd"]["enabled"] == "enabled"
    access_point = status["access_point"]
    assert (access_point["ssid"], access_point["channel"], access_point["country"]) == (
        "pypi-in-a-box", 6, "GB")
    assert status["dhcp"]["count"] == 0
    assert "workshop-passphrase" not in output


def test_status_prints_a_summary_per_box_and_a_fleet_table(status_run):
    _, tasks = status_run
    summary = tasks["Summarize the box"][BOX_HOST]["msg"]
    assert summary[0].startswith("services  3/4 up"), summary
    assert any(line.startswith("mirror") and "jinja2 3.1.6" in line for line in summary), summary
    assert any(line.startswith("Wi-Fi     pypi-in-a-box, channel 6") for line in summary), summary
    (table_result,) = tasks["Summarize the fleet"].values()
    header, *rows = table_result["msg"]
    assert header.split()[:2] == ["box", "services"]
    (row,) = rows
    assert row.split()[:3] == [BOX_HOST, "3/4", "pypi-in-a-box,"], row


def run_site(*args: str, **extra_vars) -> tuple[int, str]:
    """`ansible-playbook site.yml` on the provisioned box again: its status and output."""
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PROJECT_DIR / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    result = subprocess.run(
        ["ansible-playbook", "site.yml", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args,
         "-e", json.dumps(extra_vars)],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900,
    )
    return result.returncode, result.stdout + result.stderr


def test_bad_input_anywhere_fails_before_anything_changes(box):
    """A mistake in the last role's settings must stop the run before the first role acts."""
    box.run_expect([0], "touch /tmp/before-bad-run")
    # A changed box name would rewrite dnsmasq's and nginx's configs if any role got to run.
    returncode, output = run_site(dnsmasq_box_name="renamed.internal", pypi_mirror_concurrency=0)
    assert returncode != 0, output
    assert "pypi_mirror_concurrency 1-64" in output, output[-3000:]
    changed = box.run(
        "find /etc /srv/pypi /var/www -xdev -newer /tmp/before-bad-run -type f -print"
    ).stdout.split()
    assert changed == [], f"the failed run changed files: {changed}"
    assert "renamed.internal" not in box.file("/etc/nginx/conf.d/pypi-in-a-box.conf").content_string


# A project of the upstream the mirror does not hold yet.
NEW_PROJECT = "pygments"


def test_a_mirror_past_its_bound_fails_before_anything_is_downloaded(box):
    returncode, output = run_site("--tags", "pypi_mirror", pypi_mirror_max_size=100_000,
                                  pypi_mirror_packages=["jinja2", "click", NEW_PROJECT])
    assert returncode != 0, output[-3000:]
    assert "more than pypi_mirror_max_size" in output, output[-3000:]
    assert not box.file(f"/srv/pypi/mirror/files/{NEW_PROJECT}").exists


def test_a_verbose_run_prints_no_secret_and_the_engine_writes_as_the_mirrors_user(box):
    """The whole site at -vvv, mirroring one more project: no password, hash or passphrase in
    what it prints; the new project's files are the engine's own, written as pypi-mirror."""
    returncode, output = run_site("-vvv", pypi_mirror_packages=["jinja2", "click", NEW_PROJECT])
    assert returncode == 0, output[-3000:]
    htpasswd = box.file("/etc/pypiserver/htpasswd").content_string
    secrets = ["workshop-passphrase", "organizer-secret",
               base64.b64encode(htpasswd.encode()).decode(),
               *(line.split(":", 1)[1] for line in htpasswd.splitlines() if ":" in line)]
    for secret in secrets:
        assert secret not in output, f"{secret[:12]}... is in the -vvv output"
    owners = box.check_output(f"find /srv/pypi/mirror/files/{NEW_PROJECT} -type f -printf '%u\\n'")
    assert owners and set(owners.split()) == {"pypi-mirror"}, owners
    assert box.check_output("find /srv/pypi/mirror ! -user pypi-mirror | head -5") == ""
    assert box.run("runuser -u pypi-mirror -- touch /srv/pypi/packages/probe").rc != 0
