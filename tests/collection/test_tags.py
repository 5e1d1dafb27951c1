"""Every tag the README documents runs what it says, and every tag the roles use is documented.

`ansible-playbook site.yml --list-tasks --tags TAG` shows what a run with that tag would run;
it must be exactly the tasks of the task files the README's table names for the tag (a task file
included at run time without `apply` keeps its tasks out of the tag, which is what this catches).
The input checks are also run for real with their tag, against the controller itself: a bad
value must stop the run with the check's message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTION = "pypi_in_a_box.pi"


def _documented() -> dict[str, list[Path]]:
    """tag -> the task files the README's table names for it."""
    table = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.fullmatch(r"\| `(\w+)` \| [^|]+ \| ((?:`[\w/.-]+\.yml`(?:, )?)+) \|", line)
        if match:
            files = re.findall(r"`([^`]+)`", match.group(2))
            table[match.group(1)] = [ROOT / name for name in files]
    return table


DOCUMENTED = _documented()


def _tasks_of(path: Path, role: str) -> list[tuple[str, str]]:
    """(role, name) of every task a run of ``path`` lists."""
    return _expand(yaml.safe_load(path.read_text()) or [], path.parent, role)


def _expand(tasks: list, directory: Path, role: str) -> list[tuple[str, str]]:
    """What Ansible expands before running: blocks (their main tasks: --list-tasks leaves out
    rescue and always), import_tasks and import_role; an include, resolved only at run time,
    lists as itself."""
    listed = []
    for task in tasks:
        if "block" in task:
            listed += _expand(task["block"], directory, role)
        elif "ansible.builtin.import_tasks" in task:
            listed += _tasks_of(directory / task["ansible.builtin.import_tasks"], role)
        elif "ansible.builtin.import_role" in task:
            spec = task["ansible.builtin.import_role"]
            name = spec["name"].removeprefix(f"{COLLECTION}.")
            tasks_file = ROOT / "roles" / name / "tasks" / spec.get("tasks_from", "main.yml")
            listed += _tasks_of(tasks_file, name)
        else:
            listed.append((role, task["name"]))
    return listed


def _listed(tag: str) -> set[tuple[str, str]]:
    """(role, name) of the role tasks `--list-tasks --tags TAG` shows, leaving out those that
    run whatever the tags (`always`: argument specs, the play's check of every role)."""
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")}
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "site.yml", "-i", "pi.local,", "--list-tasks",
         "--tags", tag],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = set()
    for line in result.stdout.splitlines():
        match = re.fullmatch(rf"\s+{re.escape(COLLECTION)}\.(\w+) : (.+?)\tTAGS: \[(.*)\]", line)
        if match and "always" not in match.group(3).split(", "):
            listed.add((match.group(1), match.group(2)))
    return listed


def test_the_readme_documents_every_tag_the_roles_and_the_site_play_use():
    used = set()
    for tasks_file in [*ROOT.glob("roles/*/tasks/*.yml"), ROOT / "playbooks" / "site.yml"]:
        used |= set(re.findall(r"tags: \[([\w, ]+)\]", tasks_file.read_text()))
    used = {tag.strip() for tags in used for tag in tags.split(",")} - {"always"}
    assert used, "no tags found: the pattern no longer matches the task files"
    assert used - set(DOCUMENTED) == set(), "tags used but not in the README's table"
    assert set(DOCUMENTED) - used == set(), "tags in the README's table that nothing uses"


@pytest.mark.parametrize("tag", sorted(DOCUMENTED))
def test_each_tag_selects_exactly_the_tasks_of_its_files(tag):
    expected = set()
    for tasks_file in DOCUMENTED[tag]:
        role = tasks_file.relative_to(ROOT / "roles").parts[0]
        expected |= set(_tasks_of(tasks_file, role))
    assert expected, f"{tag}: its files have no tasks"
    listed = _listed(tag)
    assert listed - expected == set(), f"--tags {tag} also runs these"
    assert expected - listed == set(), f"--tags {tag} leaves these out"


# A value each role's checks refuse, and the start of the message that names it.
BAD_INPUT = {
    "access_point_validate": ({"access_point_passphrase": "short"},
                              "access_point_passphrase must be 8 to 63"),
    "dnsmasq_validate": ({"dnsmasq_dhcp_lease_time": "4 hours"},
                         "dnsmasq_dhcp_lease_time must be a number"),
    # Two servers on one port is no error to nginx: the limits server's requests would reach
    # the on-demand cache's page fetcher, and pypiserver would seem to hold nothing.
    "nginx_cache_validate": ({"nginx_cache_proxy_internal_port": 8079},
                             "none of the listen port, pypiserver's and "
                             "nginx_cache_pypiserver_limits_port (got 8079)"),
}


@pytest.mark.parametrize("tag", sorted(BAD_INPUT))
def test_a_validate_tag_runs_the_checks(tag, tmp_path):
    """Only the role, so that the site play's own check of every role cannot stand in for it."""
    role = tag.removesuffix("_validate")
    playbook = tmp_path / "role.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Apply the role", "hosts": "all", "gather_facts": False,
        "vars": {"access_point_passphrase": "a good passphrase"},
        "roles": [{"role": f"{COLLECTION}.{role}"}]}]))
    bad_vars, message = BAD_INPUT[tag]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
           "ANSIBLE_NOCOLOR": "1"}
    command = [str(BIN / "ansible-playbook"), str(playbook), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", "--tags", tag]
    good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    ran = {(match.group(1), match.group(2)) for match in re.finditer(
        rf"TASK \[{re.escape(COLLECTION)}\.(\w+) : (.+?)\] \*", good.stdout)
        if not match.group(2).startswith("Validating arguments against arg spec")}
    assert ran == set(_tasks_of(ROOT / "roles" / role / "tasks" / "validate.yml", role))
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0", good.stdout), good.stdout

    bad = subprocess.run([*command, "-e", yaml.safe_dump(bad_vars, default_flow_style=True)],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode != 0, bad.stdout
    assert message in bad.stdout, bad.stdout
