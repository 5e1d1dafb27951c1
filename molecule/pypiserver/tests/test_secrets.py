"""No password and no password hash in what Ansible prints, at any verbosity (issue 12)."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import scenario

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
SCENARIO_DIR = Path(__file__).resolve().parents[1]
BOX_NAME = scenario.box_name()
PASSWORD = os.environ.get("PIAB_TEST_UPLOAD_PASSWORD", "molecule-upload-secret")


def converge_verbosely(tmp_path: Path, extra_vars: dict) -> str:
    """The scenario's converge again, at -vvv, on the provisioned box: its whole output."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"boxes": {"hosts": {BOX_NAME: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
                       PIAB_TEST_UPLOAD_PASSWORD=PASSWORD, ANSIBLE_NOCOLOR="1",
                       ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-vvv", "-i", str(inventory),
         str(SCENARIO_DIR / "converge.yml"), "-e", json.dumps(extra_vars)],
        capture_output=True, text=True, timeout=600, env=environment, cwd=PROJECT_DIR,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def test_no_password_or_hash_in_the_output_at_any_verbosity(box, tmp_path):
    # A user to remove as well as one to keep: every task that reads or writes the file runs.
    leaving = {"name": "leaving", "password": "leaving-secret-7f3a"}
    staying = {"name": "uploader", "password": PASSWORD}
    first = converge_verbosely(tmp_path, {"pypiserver_users": [staying, leaving]})
    htpasswd = box.file("/etc/pypiserver/htpasswd").content_string
    second = converge_verbosely(tmp_path, {"pypiserver_users": [staying]})
    secrets = [PASSWORD, leaving["password"], base64.b64encode(htpasswd.encode()).decode()]
    secrets += [line.split(":", 1)[1] for line in htpasswd.splitlines() if ":" in line]
    for output in (first, second):
        for secret in secrets:
            assert secret not in output, f"{secret[:12]}... is in the -vvv output"
    assert "leaving" not in box.file("/etc/pypiserver/htpasswd").content_string
