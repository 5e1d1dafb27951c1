"""Filter pypi_in_a_box.pi.locks_for_box: a course's locks, rewritten to install from the box."""

from __future__ import annotations

DOCUMENTATION = r"""
name: locks_for_box
short_description: Rewrite lock files (pylock.toml, uv.lock) to install from the box
version_added: "0.1.0"
author:
  - PyPI in a box contributors (@pypi-in-a-box)
description:
  - C(uv sync --frozen), C(uv pip install -r pylock.toml) and C(pip install -r pylock.toml)
    download every file from the URL the lock records, whatever index they are told to use.
    This filter rewrites each lock so those URLs are the box's - each file at
    C(<box_url>/files/<project>/<file>) where the mirror keeps it, each index URL the box's
    C(<box_url>/simple/) - and nothing else changes (names, versions, markers, hashes).
  - The input is a list of pairs (the lock's path, its text), as C(zip) makes them; the output
    gives each lock a place under C(locks/<position>/), named as its installers need it.
options:
  _input:
    description: Pairs of (path of the lock, its text).
    type: list
    elements: list
    required: true
  box_url:
    description: The box as clients reach it, such as C(http://pypi.internal).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Serve the course's lock from the box
  ansible.builtin.debug:
    msg: >-
      {{ locks | zip(query('ansible.builtin.file', *locks, rstrip=false))
         | pypi_in_a_box.pi.locks_for_box('http://pypi.internal') }}
  vars:
    locks: [course/uv.lock]
"""

RETURN = r"""
_value:
  description:
    - One entry per lock - C(kind) (C(uv.lock) or C(pylock.toml)), C(name) (the file name its
      installers need), C(path) (C(locks/<position>/<name>)), C(url) (where the box serves it)
      and C(content) (the rewritten text).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError  # noqa: E402  (Ansible keeps the docs first)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (  # noqa: E402
    MirrorError,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.lockserve import (  # noqa: E402
    for_box,
)


def locks_for_box(pairs, box_url):
    served = []
    for position, (path, text) in enumerate(pairs, start=1):
        try:
            lock = for_box(str(text), str(box_url), str(path))
        except MirrorError as exc:
            raise AnsibleFilterError(str(exc)) from None
        where = f"locks/{position}/{lock.name}"
        served.append({"kind": lock.kind, "name": lock.name, "path": where,
                       "url": f"{str(box_url).rstrip('/')}/{where}", "content": lock.content})
    return served


class FilterModule:
    def filters(self):
        return {"locks_for_box": locks_for_box}
