#!/usr/bin/python
"""Ansible module pypi_in_a_box.pi.private_indexer: puts the indexer's code on the box."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: private_indexer
short_description: Install the code of the indexer of pypiserver's packages on the box
version_added: "0.1.0"
description:
  - The indexer that writes the static index of pypiserver's packages (run by the
    C(pypi_in_a_box.pi.nginx_cache) role and by C(pypi-in-a-box-cache-purge.service)) is the
    collection's own mirror engine code. This module writes the modules it names from
    C(plugins/module_utils/mirror) into O(dest), byte for byte as the controller's collection
    holds them.
  - The module carries those files with it (Ansible ships the module_utils a module imports),
    so one task installs them all, where a copy per file costs a round trip each.
  - A file is replaced atomically, and only when its content differs; mode C(0644).
  - With O(package=box) it installs modules of C(plugins/module_utils/box) the same way (the
    on-demand cache's command of the C(nginx_cache) role).
  - Needs the Python package C(packaging) on the target (Debian C(python3-packaging)).
author:
  - PyPI in a box contributors (@pypi-in-a-box)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  dest:
    description: The directory that becomes the Python package O(package) (created C(0755)).
    type: path
    required: true
  modules:
    description:
      - File names in C(plugins/module_utils/<package>) to install, C(__init__.py) included.
    type: list
    elements: str
    required: true
  package:
    description: Which of the collection's module_utils packages the modules come from.
    type: str
    choices: [mirror, box]
    default: mirror
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Idempotent - files that already hold the same bytes are left alone (C(changed=false)).
"""

EXAMPLES = r"""
- name: Install the indexer's modules
  pypi_in_a_box.pi.private_indexer:
    dest: /usr/local/lib/pypi-in-a-box/mirror
    modules: [__init__.py, errors.py, fsutil.py, index.py, metadata.py, names.py,
              private_index.py]
"""

RETURN = r"""
written:
  description: The modules written (or, in check mode, that would be), as file names.
  returned: always
  type: list
  elements: str
  sample: [private_index.py]
"""

import os  # noqa: E402  (Ansible keeps the docs first)
import pkgutil  # noqa: E402
import re  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    # private_index and on_demand are imported so that Ansible ships them and what they import.
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import on_demand
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (
        fsutil,
        private_index,
    )
except ImportError:  # packaging missing on the target
    IMPORT_ERROR = traceback.format_exc()
    fsutil = private_index = on_demand = None
else:
    IMPORT_ERROR = None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            modules=dict(type="list", elements="str", required=True),
            package=dict(type="str", choices=["mirror", "box"], default="mirror"),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("packaging"), exception=IMPORT_ERROR)
    dest = Path(module.params["dest"])
    package = {"mirror": private_index, "box": on_demand}[module.params["package"]].__package__
    sources = {}
    # Every name is checked and read before anything is written.
    for name in module.params["modules"]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.py", name):
            module.fail_json(msg=f"private_indexer: {name!r} is not a Python module file name")
        try:
            sources[name] = pkgutil.get_data(package, name)
        except OSError:
            sources[name] = None
        if sources[name] is None:
            kind = {"mirror": "mirror engine", "box": "box"}[module.params["package"]]
            module.fail_json(msg=f"private_indexer: {name} is not among the {kind} modules this "
                                 f"collection ships (plugins/module_utils/"
                                 f"{module.params['package']})")
    if module.check_mode:
        written = [name for name, data in sources.items() if not fsutil.holds(dest / name, data)]
        module.exit_json(changed=bool(written), written=written)
    if not dest.is_dir():
        dest.mkdir(parents=True)
        os.chmod(dest, 0o755)
    written = [name for name, data in sources.items()
               if fsutil.write_if_changed(dest / name, data)]
    module.exit_json(changed=bool(written), written=written)


if __name__ == "__main__":
    main()
