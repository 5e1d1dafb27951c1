"""Filter pypi_in_a_box.pi.requirements_files: requirements files and the files they name."""

from __future__ import annotations

DOCUMENTATION = r"""
name: requirements_files
short_description: Requirements files with every file they name (-r, -c), for a copy
version_added: "0.1.0"
author:
  - PyPI in a box contributors (@pypi-in-a-box)
description:
  - For each requirements file given, the file and every file it names with C(-r) or C(-c)
    (recursively), each with the path it must have in a copy for those names to resolve -
    O(under), the file's position in the list, then its path relative to the first file's
    folder.
  - Reads the files as the pypi_mirror module does, so a file it would refuse fails here,
    before anything is copied.
options:
  _input:
    description: Paths of requirements files (on the controller).
    type: list
    elements: path
    required: true
  under:
    description: The folder of the copy.
    type: path
    default: ""
"""

EXAMPLES = r"""
- name: Copy requirements files with their constraints files
  ansible.builtin.copy:
    src: "{{ item.src }}"
    dest: "{{ item.dest }}"
    mode: "0640"
  loop: >-
    {{ ['course/requirements.txt']
       | pypi_in_a_box.pi.requirements_files('/srv/pypi/mirror/.state/requirements') }}
"""

RETURN = r"""
_value:
  description:
    - One entry per file to copy - C(src) (its path) and C(dest) (C(<under>/<position>/<relative
      path>)); the first entry of each position is the file given.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError  # noqa: E402  (Ansible keeps the docs first)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (  # noqa: E402
    MirrorError,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.reqfile import (  # noqa: E402
    files_to_copy,
)


def requirements_files(paths, under=""):
    folder = f"{str(under).rstrip('/')}/" if under else ""
    copies = []
    for position, path in enumerate(paths):
        try:
            named = files_to_copy(str(path))
        except MirrorError as exc:
            raise AnsibleFilterError(str(exc)) from None
        copies += [{"src": str(src), "dest": f"{folder}{position}/{relative}"}
                   for src, relative in named]
    return copies


class FilterModule:
    def filters(self):
        return {"requirements_files": requirements_files}
