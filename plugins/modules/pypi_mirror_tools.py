#!/usr/bin/python
"""Ansible module pypi_in_a_box.pi.pypi_mirror_tools: a thin wrapper around mirror.tools."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pypi_mirror_tools
short_description: Serve uv and standalone Python builds to attendees from the mirror
version_added: "0.1.0"
description:
  - Puts beside the package mirror in O(dest) what laptops need before any package - the uv
    binary for every platform in O(uv_platforms), and the standalone CPython builds
    (python-build-standalone) that C(uv python install) downloads, for O(python_versions) and
    O(platforms).
  - uv comes from its own wheels on O(index_url) (O(uv_version), by default the newest). Each
    wheel is verified against the index's sha256, then repacked as the archive uv's own
    releases use for that platform - C(uv/<version>/uv-<triple>.tar.gz) with C(uv) and C(uvx)
    for macOS and Linux, C(uv/<version>/uv-<triple>.zip) with C(uv.exe), C(uvx.exe) and
    C(uvw.exe) for Windows. The same wheel always gives the same archive bytes.
  - The Python builds come from O(python_builds_url), a list of Python downloads in uv's own
    format (by default the list of the uv version served). For each version and platform the
    newest default build is kept (not free-threaded, not debug); it is downloaded to
    C(python/<release>/<filename>), the layout of python-build-standalone's releases,
    resumed at the byte level after a cut connection or a killed run, and verified against the
    list's sha256 before it becomes visible. A list entry without a sha256, with an unsafe
    name or on a host outside O(python_builds_hosts) is refused.
  - Writes C(.state/uv.json) and C(.state/python.json) after the files, the records the
    nginx_cache role builds the landing page's install lines, the install scripts and uv's
    C(python-downloads-json-url) list from, and the fleet's publisher
    (M(pypi_in_a_box.pi.pypi_mirror_publish)) verifies every copied file against.
  - A tool left out of O(tools) loses its records (the box stops offering it); its files stay
    unless O(prune=true).
  - Needs the Python packages C(packaging) and C(requests) on the target, like
    M(pypi_in_a_box.pi.pypi_mirror).
author:
  - PyPI in a box contributors (@pypi-in-a-box)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  dest:
    description: The mirror's directory (M(pypi_in_a_box.pi.pypi_mirror)'s O(dest)).
    type: path
    required: true
  tools:
    description: What to serve - C(uv), C(python) (the Python builds), both, or nothing.
    type: list
    elements: str
    choices: [uv, python]
    default: [uv, python]
  index_url:
    description: The simple index uv's wheels are taken from.
    type: str
    default: https://pypi.org/simple/
  extra_index_urls:
    description: More indexes to look for uv's wheels on.
    type: list
    elements: str
    default: []
  allowed_hosts:
    description: Hosts besides the index hosts that uv's wheels may be downloaded from.
    type: list
    elements: str
    default: []
  uv_version:
    description:
      - C(latest) (the newest uv that is not a pre-release) or a uv version such as C(0.13.9).
    type: str
    default: latest
  uv_platforms:
    description:
      - Platforms to serve uv for, with the platform names of
        M(pypi_in_a_box.pi.pypi_mirror)'s O(pypi_in_a_box.pi.pypi_mirror#module:platforms).
      - The default is Windows (x86-64, ARM), macOS (Apple silicon, Intel) and Linux (x86-64,
        64-bit ARM).
    type: list
    elements: str
    default: [windows-x86_64, windows-arm64, macos-arm64, macos-x86_64, manylinux-x86_64,
              manylinux-aarch64]
  python_versions:
    description:
      - Python versions to serve builds of - C(3.12) is the newest 3.12.x in the list,
        C(3.12.8) that release. A version or platform the list has no build for is reported in
        RV(unavailable), not as a failure.
    type: list
    elements: str
    default: ["3.10", "3.11", "3.12", "3.13"]
  platforms:
    description:
      - Platforms to serve Python builds for, with the platform names of
        M(pypi_in_a_box.pi.pypi_mirror).
    type: list
    elements: str
    default: [windows-x86_64, macos-arm64, macos-x86_64, manylinux-x86_64, manylinux-aarch64]
  python_builds_url:
    description:
      - The list of Python builds, in the format of uv's C(download-metadata.json) (what C(uv
        python install --python-downloads-json-url) reads). C({uv_version}) in it is the uv
        version served (O(uv_version) resolved on the index).
    type: str
    default: https://raw.githubusercontent.com/astral-sh/uv/{uv_version}/crates/uv-python/download-metadata.json
  python_builds_hosts:
    description:
      - Hosts the builds may be downloaded from, redirects included, besides the host of
        O(python_builds_url).
    type: list
    elements: str
    default: [github.com, objects.githubusercontent.com, release-assets.githubusercontent.com,
              releases.astral.sh]
  max_file_size:
    description:
      - Refuse a file bigger than this many bytes; one whose size is not announced is cut off
        there.
    type: int
    default: 4294967296
  max_page_size:
    description: Refuse an index page or a list of builds bigger than this many bytes.
    type: int
    default: 33554432
  min_free_space:
    description:
      - Bytes to keep free on the disk of O(dest). A run whose downloads would leave less stops
        before downloading, with both figures.
    type: int
    default: 1073741824
  concurrency:
    description: Parallel downloads.
    type: int
    default: 12
  timeout:
    description:
      - Seconds to wait for a connection or for the next bytes. A request also ends when its
        whole body takes longer than this plus its size at 32 KiB/s.
    type: float
    default: 30.0
  retries:
    description: Attempts without progress before a file is given up.
    type: int
    default: 5
  prune:
    description: Delete what C(uv/) and C(python/) hold that the records no longer list.
    type: bool
    default: false
  allow_partial:
    description:
      - Succeed even when some files could not be served (they are listed in RV(failures)).
        By default the task fails, after recording what is complete.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Looks up uv's wheels and the builds, and reports what the run would download, its size
        and whether it fits.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Idempotent - a run with nothing new downloads nothing and reports C(changed=false).
  - Takes the mirror's run lock, so it never runs at the same time as a
    M(pypi_in_a_box.pi.pypi_mirror) run on the same O(dest).
  - C(uv python install) reads the box's list through C(UV_PYTHON_DOWNLOADS_JSON_URL) or
    C(python-downloads-json-url) in C(uv.toml), over HTTP from uv 0.9.10 on; the nginx_cache
    role's landing page gives the line.
"""

EXAMPLES = r"""
- name: Serve uv 0.13.9 and Pythons 3.12 and 3.13 for the workshop laptops
  pypi_in_a_box.pi.pypi_mirror_tools:
    dest: /srv/pypi/mirror
    uv_version: "0.13.9"
    python_versions: ["3.12", "3.13"]

- name: What would uv and the Pythons add?
  pypi_in_a_box.pi.pypi_mirror_tools:
    dest: /srv/pypi/mirror
  check_mode: true
  register: tools
"""

RETURN = r"""
complete:
  description: Whether everything asked for is served.
  returned: always
  type: bool
uv:
  description:
    - C(version) resolved, and C(archives) served, one per platform, each with C(platform),
      C(triple), C(filename), C(version), C(sha256), C(size), the C(wheel) and C(wheel_sha256)
      it was made from, and C(status) (C(present), C(built), C(missing), C(kept)).
  returned: always
  type: dict
python:
  description:
    - C(source) (the list read) and C(builds) served, each with C(key) (uv's), C(platform),
      C(request), C(version), C(folder), C(filename), C(sha256), C(size) and uv's C(entry).
  returned: always
  type: dict
downloaded:
  description: Files this run added (uv archives built, builds downloaded), and their bytes.
  returned: always
  type: dict
  sample: {count: 2, bytes: 52428800}
received_bytes:
  description: Bytes received from the network.
  returned: always
  type: int
tools_size:
  description: Bytes of everything C(uv/) and C(python/) list - what the tools add to the box.
  returned: always
  type: int
would_download:
  description:
    - In check mode, what a real run would download - C(count), C(bytes), C(uv_bytes) (uv's
      wheels; each archive takes about as much again), C(python_bytes), C(unknown_size),
      C(files), the C(free_space) of the disk of O(dest), and whether it C(fits) with
      O(min_free_space) kept free.
  returned: when check_mode
  type: dict
failures:
  description: One entry per failure with C(tool), C(file) (or null) and C(reason).
  returned: always
  type: list
  elements: dict
unavailable:
  description: Python versions and platforms the list has no build for (not fatal).
  returned: always
  type: list
  elements: str
rejected:
  description: Builds in the list refused as unsafe or unverifiable, with the reason.
  returned: always
  type: list
  elements: dict
"""

import traceback  # noqa: E402  (Ansible keeps the docs first)

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

# The options table imports nothing from outside the standard library.
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (  # noqa: E402
    module_result,
    options,
)

try:
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import tools
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
        MirrorError,
    )
except ImportError:  # packaging or requests missing on the target
    IMPORT_ERROR = traceback.format_exc()
    tools = None
else:
    IMPORT_ERROR = None


def main():
    module = AnsibleModule(argument_spec=options.argument_spec(options.TOOL_OPTIONS),
                           supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("packaging and requests"),
                         exception=IMPORT_ERROR)
    params = module.params
    run_options = tools.ToolOptions(**{option.name: params[option.name]
                                       for option in options.TOOL_OPTIONS if option.engine})
    try:
        result = tools.run(run_options, check_mode=module.check_mode)
    except MirrorError as exc:
        module.fail_json(msg=f"pypi_mirror_tools: {exc}", changed=False)
    for note in result["unavailable"]:
        module.warn(note)
    module_result.exit_with(module, "pypi_mirror_tools", result, "uv or Python is not fully served")


if __name__ == "__main__":
    main()
