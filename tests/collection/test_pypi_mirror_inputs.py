"""The pypi_mirror role's path for requirements and lock files on the box (mirror.yml), through
real ansible-playbook on this machine: a requirements file comes with the constraints file it
names, so `-c` resolves where the engine reads it, and the lock comes along too.

Only the role's mirror.yml runs (validate.yml and install.yml concern a Pi, not this machine);
localhost stands in for the box.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.course import make_course
from tests.support.fetch_fixtures import ensure_fixtures
from tests.support.upstream import Upstream

REPO = Path(__file__).resolve().parents[2]
PLAY = """\
- name: Mirror on localhost with the role's tasks
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Run the role's mirror tasks
      ansible.builtin.include_role:
        name: pypi_in_a_box.pi.pypi_mirror
        tasks_from: mirror.yml
"""


def playbook(tmp_path: Path, extra: dict) -> tuple[int, dict, str]:
    """ansible-playbook on localhost; (exit code, the stats of localhost, its JSON output)."""
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"),
                           str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}"],
                          capture_output=True, text=True, env=env, cwd="/", timeout=300)
    try:
        return proc.returncode, json.loads(proc.stdout)["stats"]["localhost"], proc.stdout
    except (ValueError, KeyError):
        pytest.fail(proc.stdout[-3000:] + proc.stderr[-3000:])


def test_the_role_copies_requirements_with_their_constraints_and_locks(tmp_path):
    fixtures = ensure_fixtures()
    course = tmp_path / "course"
    with Upstream(fixtures) as upstream:
        make_course(course, upstream.index_url)
        (course / "constraints").mkdir()
        (course / "constraints" / "pins.txt").write_text("click<8.2\n")
        (course / "extra.txt").write_text("-c constraints/pins.txt\nclick\n")
        dest = tmp_path / "box" / "mirror"
        extra = {
            "pypi_mirror_dest": str(dest),
            "pypi_mirror_index_url": upstream.index_url,
            "pypi_mirror_packages": [],
            "pypi_mirror_requirements_files": [str(course / "extra.txt")],
            "pypi_mirror_lock_files": [str(course / "uv.lock")],
            "pypi_mirror_python_versions": ["3.11"],
            "pypi_mirror_platforms": ["windows-x86_64"],
            # uv and Pythons are another test's: the local upstream has no uv wheels.
            "pypi_mirror_tools": [],
        }
        code, first, _ = playbook(tmp_path, extra)
        assert code == 0 and first["changed"] > 0
        code, again, _ = playbook(tmp_path, extra)
    assert code == 0 and again["changed"] == 0
    state = dest / ".state"
    assert (state / "requirements/0/extra.txt").read_text().startswith("-c constraints/")
    assert (state / "requirements/0/constraints/pins.txt").read_text() == "click<8.2\n"
    assert (state / "locks/0-uv.lock").read_bytes() == (course / "uv.lock").read_bytes()
    clicks = sorted(p.name for p in (dest / "files/click").glob("*.whl"))
    # The constraint holds for extra.txt's click; the lock brings its own pin, 8.3.1.
    assert clicks == ["click-8.1.8-py3-none-any.whl", "click-8.3.1-py3-none-any.whl"]


def test_a_constraints_file_outside_the_folder_is_refused_before_anything(tmp_path):
    (tmp_path / "pins.txt").write_text("click<8.2\n")
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "req.txt").write_text("-c ../pins.txt\nclick\n")
    dest = tmp_path / "box" / "mirror"
    code, stats, output = playbook(tmp_path, {
        "pypi_mirror_dest": str(dest), "pypi_mirror_packages": [],
        "pypi_mirror_requirements_files": [str(tmp_path / "course" / "req.txt")],
        "pypi_mirror_lock_files": []})
    assert code != 0 and stats["failures"] == 1
    assert f"{tmp_path}/pins.txt, named in {tmp_path}/course/req.txt, is not in" in output
    assert not (dest / ".state").exists()
