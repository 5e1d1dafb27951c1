"""The software cache must hold every Debian package a role installs, or a reflashed box
with no uplink fails half-way through the site playbook."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# NAT forwards to an uplink, so a box that uses it has one to install nftables from.
NEEDS_AN_UPLINK = {"nftables"}
# The roles install their packages through this one, naming them in apt_packages_names.
APT_ROLE = "pypi_in_a_box.pi.apt_packages"


def _apt_tasks(tasks, inherited_vars=None):
    """(task, what it installs, its vars and those of the blocks around it) for every apt task
    and every import of the apt_packages role that installs."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        task_vars = {**(inherited_vars or {}), **task.get("vars", {})}
        for section in ("block", "rescue", "always"):
            yield from _apt_tasks(task.get(section), task_vars)
        if "ansible.builtin.apt" in task:
            yield task, task["ansible.builtin.apt"].get("name"), task_vars
        imported = task.get("ansible.builtin.import_role", {})
        if imported.get("name") == APT_ROLE and imported.get("tasks_from", "main") == "main":
            yield task, task_vars["apt_packages_names"], task_vars


def _names(task, value, task_vars) -> set[str]:
    """The literal package names an apt task installs, following one `{{ var }}` indirection
    into the vars of the task or of a block around it."""
    if value is None:  # download_only, upgrade and the like install nothing of their own
        return set()
    if isinstance(value, str):
        match = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", value)
        if match:
            value = task_vars[match.group(1)]
    names = {value} if isinstance(value, str) else set(value)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n) for n in names), (task["name"], names)
    return names


def test_the_cache_lists_every_package_the_roles_install():
    cached = set(yaml.safe_load((ROOT / "roles/software_cache/vars/main.yml").read_text())
                 ["software_cache_apt_packages"])
    installed = {}
    for tasks_file in sorted(ROOT.glob("roles/*/tasks/*.yml")):
        if tasks_file.parts[-3] in ("software_cache", "apt_packages"):
            continue
        for task, value, task_vars in _apt_tasks(yaml.safe_load(tasks_file.read_text())):
            for name in _names(task, value, task_vars):
                installed[name] = tasks_file.relative_to(ROOT)
    assert installed, "no apt task found: the parser no longer matches the roles"
    missing = {n: str(f) for n, f in installed.items() if n not in cached | NEEDS_AN_UPLINK}
    assert not missing, f"add to software_cache_apt_packages: {missing}"
    assert cached - set(installed) == set(), "the cache lists packages no role installs"
