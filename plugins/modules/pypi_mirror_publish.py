#!/usr/bin/python
"""Ansible module pypi_in_a_box.pi.pypi_mirror_publish: a thin wrapper around mirror.sync."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pypi_mirror_publish
short_description: Verify a staged copy of a mirror and make it the live mirror
version_added: "0.1.0"
description:
  - The second half of building a mirror once for a fleet of boxes. The controller builds it
    with M(pypi_in_a_box.pi.pypi_mirror); C(ansible.posix.synchronize) (rsync) copies it into
    O(staging) on each box with C(--link-dest=<dest>), so files the box already serves arrive
    as hard links of them; this module then publishes that copy into O(dest).
  - Nothing in O(staging) is trusted. Project names and filenames in its records are checked,
    and every file new to O(dest) is verified against its recorded size and sha256 (and the
    sha256 of its C(.metadata) file) before anything is written. One bad file fails the task
    and publishes nothing.
  - Files are published as hard links of the staged ones (atomic rename, fsync'd), then the
    records and index pages are written, and last the files and projects the staged mirror no
    longer has are removed, so a page never lists a file that is not there.
  - Projects are live when the staged root page (C(simple/index.json)) lists them, as on the
    controller; a project the controller dropped from its selection (with
    O(pypi_in_a_box.pi.pypi_mirror#module:prune=true)) is removed from O(dest).
  - O(staging) keeps its files, as hard links of the published ones, so the next rsync sends
    only what changed on the controller.
  - Needs the Python package C(packaging) on the target (Debian C(python3-packaging)).
author:
  - PyPI in a box contributors (@pypi-in-a-box)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  dest:
    description: The live mirror directory, as nginx serves it (C(files/) and C(simple/)).
    type: path
    required: true
  staging:
    description:
      - The staged copy of the controller's mirror; it must be on the same filesystem as
        O(dest). Defaults to C(<dest>/.incoming), which clients never see.
    type: path
attributes:
  check_mode:
    support: full
    details: Verifies the staged files and reports what would be published and removed.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Idempotent - a run with nothing new staged writes nothing and reports C(changed=false).
  - Takes the mirror's run lock, so it never runs at the same time as a
    M(pypi_in_a_box.pi.pypi_mirror) run on the same O(dest).
  - Push with rsync options C(--delete --partial-dir=.rsync-partial --link-dest=<dest>) and
    exclude C(.partial/) and C(.state/lock); do not use C(--inplace), which would rewrite files
    the box is serving.
"""

EXAMPLES = r"""
- name: Copy the controller's mirror to the box
  ansible.posix.synchronize:
    src: /srv/controller/mirror/
    dest: /srv/pypi/mirror/.incoming/
    delete: true
    rsync_opts:
      - --link-dest=/srv/pypi/mirror
      - --partial-dir=.rsync-partial
      - --exclude=/.partial/
      - --exclude=/.state/lock

- name: Check every arrived file against its sha256 and publish the mirror
  pypi_in_a_box.pi.pypi_mirror_publish:
    dest: /srv/pypi/mirror
"""

RETURN = r"""
projects:
  description: Projects the published mirror lists (normalized names).
  returned: always
  type: list
  elements: str
  sample: [click, colorama]
files:
  description: Number of distribution files the published mirror lists.
  returned: always
  type: int
published:
  description: Distributions linked into O(dest) by this run (new or changed), and their bytes.
  returned: always
  type: dict
  sample: {count: 3, bytes: 216584}
verified:
  description: Staged distributions whose size and sha256 this run checked, and their bytes.
  returned: always
  type: dict
  sample: {count: 3, bytes: 216584}
unchanged:
  description: Distributions already published as the very same file, and their bytes.
  returned: always
  type: dict
  sample: {count: 0, bytes: 0}
removed:
  description: Distributions removed from O(dest) because the staged mirror no longer has them.
  returned: always
  type: dict
  sample: {count: 1, bytes: 70442}
removed_projects:
  description: Projects removed from O(dest) (pages, files and records).
  returned: always
  type: list
  elements: str
mirror_size:
  description: Bytes of the files the published mirror lists, C(.metadata) files included.
  returned: always
  type: int
staging:
  description: The staged copy that was published.
  returned: always
  type: str
"""

import traceback  # noqa: E402  (Ansible keeps the docs first)

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import errors, sync
except ImportError:  # packaging missing on the target
    IMPORT_ERROR = traceback.format_exc()
    errors = sync = None
else:
    IMPORT_ERROR = None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            staging=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("packaging"), exception=IMPORT_ERROR)
    try:
        result = sync.publish_staged(module.params["dest"], module.params["staging"],
                                     check_mode=module.check_mode)
    except errors.MirrorError as exc:
        module.fail_json(msg=f"pypi_mirror_publish: {exc}", changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
