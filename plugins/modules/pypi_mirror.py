#!/usr/bin/python
"""Ansible module pypi_in_a_box.pi.pypi_mirror: a thin wrapper around the mirror engine."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pypi_mirror
short_description: Mirror selected projects and their dependencies from a Python package index
version_added: "0.1.0"
description:
  - Downloads a filtered, dependency-complete mirror of a simple index (PyPI by default) into
    O(dest) and writes a static index there that pip and uv can use offline
    (PEP 503 HTML with sha256 fragments, data-requires-python and data-yanked; PEP 691 JSON
    api-version 1.1; PEP 658/714 C(<file>.metadata) files).
  - Selection is per target environment, the matrix O(python_versions) x O(platforms).
    Environment markers and extras of dependencies are evaluated per target, and each project
    keeps the releases whose files a client on that target can install (wheel tags computed
    with C(packaging.tags), requires-python honoured).
  - Downloads run in parallel, resume at the byte level (C(Range) + C(If-Range)) after a cut
    connection or a killed run, and are verified against the upstream sha256 before they
    become visible. Partial files live in C(<dest>/.partial/), never served.
  - Whatever the upstream sends, a run ends - every request has a byte bound and a deadline,
    redirects are checked hop by hop against the allowed hosts before they are followed, and
    retries are bounded. A problem with one project or file is listed in RV(failures) and the
    rest is mirrored. An index that answers like a captive portal or a proxy's login page, or
    a selection that does not fit on the disk, stops the run before anything is written.
  - A file name the mirror has published never gets other bytes - if the upstream changes the
    hash of a published file, that is a failure and the published file stays.
  - Layout written under O(dest) - C(simple/index.html), C(simple/index.json),
    C(simple/<project>/index.html), C(simple/<project>/index.json),
    C(files/<project>/<filename>) and C(files/<project>/<filename>.metadata). Names starting
    with a dot (C(.partial), C(.state)) are internal.
  - Needs the Python packages C(packaging) and C(requests) on the target
    (Debian C(python3-packaging) and C(python3-requests)).
author:
  - PyPI in a box contributors (@pypi-in-a-box)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  dest:
    description: Directory of the mirror; created when missing.
    type: path
    required: true
  packages:
    description:
      - Requirement strings such as C(django>=4.2,<5) or C(requests[socks]).
    type: list
    elements: str
    default: []
  requirements_files:
    description:
      - Paths (on the target) of pip requirements files, read as pip reads them. Requirement
        lines and their environment markers (evaluated per target), nested C(-r) files and
        C(-c)/C(--constraint) files (they restrict every requirement, dependencies included,
        on every target) are used.
      - C(--hash) options are kept - a mirrored file must match one of the hashes given for its
        requirement, and a release with no such file is a failure naming the file. As in pip's
        hash-checking mode (hashes on any line, or C(--require-hashes)), every requirement then
        needs hashes and an C(==) pin, and those pins restrict the dependencies too.
      - C(--index-url) and C(--extra-index-url) lines must name an index the mirror reads
        (O(index_url), O(extra_index_urls)); C(--pre) considers pre-releases.
      - Refused, with the reason - C(-e), URL and path requirements (a mirror serves projects by
        name from an index), C(--no-index), C(--find-links), C(${VARIABLES}). Options that only
        change how clients install (C(--trusted-host), C(--only-binary), ...) are listed in
        RV(warnings_unsatisfied).
    type: list
    elements: path
    default: []
  lock_files:
    description:
      - Paths (on the target) of lock files - C(pylock.toml) (PEP 751) or C(uv.lock), told apart
        by their content. The mirror holds exactly the files each lock names for the targets,
        with no resolution of its own - the lock's markers (pylock) or its graph (uv.lock, from
        the project with all its extras and dependency groups) decide per target, and of each
        package the target takes the wheels whose tags it accepts, else the sdist.
      - Files are looked up by name on the pages of O(index_url) and O(extra_index_urls) (the
        lock's own URLs point at the index it was made against); the index's sha256 must equal
        the lock's. A file missing upstream or with another hash is a failure naming it.
        Packages from the attendee's checkout (the project, path dependencies) are skipped; from
        a VCS or a plain URL they are failures. Targets the lock cannot install on are listed in
        RV(uncovered). O(releases), O(dependencies) and O(prereleases) do not apply to locks.
    type: list
    elements: path
    default: []
  index_url:
    description: Upstream simple index. PEP 691 JSON is used when offered, else PEP 503 HTML.
    type: str
    default: https://pypi.org/simple/
  extra_index_urls:
    description: More indexes (for example piwheels); for a file name the first index wins.
    type: list
    elements: str
    default: []
  allowed_hosts:
    description:
      - Hosts besides the index hosts that files may be downloaded from
        (C(files.pythonhosted.org) is allowed automatically with pypi.org).
    type: list
    elements: str
    default: []
  python_versions:
    description: Target CPython versions as C(MAJOR.MINOR), 3.7 to 3.20.
    type: list
    elements: str
    default: ["3.10", "3.11", "3.12", "3.13"]
  platforms:
    description:
      - Target platforms.
      - C(windows-x86_64) (win_amd64), C(windows-arm64) (win_arm64), C(windows-x86) (win32).
      - C(macos-arm64), C(macos-x86_64) (macosx_*_<arch> up to macOS 15, and universal2).
      - C(manylinux-x86_64), C(manylinux-aarch64) (glibc Linux, manylinux up to glibc 2.39).
      - C(musllinux-x86_64), C(musllinux-aarch64) (musl Linux such as Alpine).
      - C(linux-aarch64), C(linux-armv7l) (Raspberry Pi OS 64/32-bit - manylinux plus the
        plain C(linux_<arch>) tags piwheels uses).
    type: list
    elements: str
    default: [windows-x86_64, macos-arm64, macos-x86_64, manylinux-x86_64, manylinux-aarch64]
  package_types:
    description:
      - Which files to keep. With both, wheels are kept and the sdist only where a target has
        no compatible wheel.
    type: list
    elements: str
    choices: [wheel, sdist]
    default: [wheel, sdist]
  dependencies:
    description:
      - Mirror the dependency closure of O(packages) too - Requires-Dist evaluated per target,
        and the build requirements of every sdist kept, so clients can build it offline.
    type: bool
    default: true
  releases:
    description:
      - Releases per requirement and target - C(latest) matching, C(all) matching, or a
        count N of the newest matching.
    type: str
    default: latest
  prereleases:
    description: Consider pre-releases (they are also used when a specifier asks for one).
    type: bool
    default: false
  max_file_size:
    description:
      - Skip files the index announces as larger than this many bytes, and cut off a file whose
        size the index does not announce once it passes this size.
    type: int
    default: 4294967296
  max_page_size:
    description: Refuse an index page larger than this many bytes (PyPI's biggest are a few MiB).
    type: int
    default: 33554432
  min_free_space:
    description:
      - Bytes to keep free on the disk of O(dest). A run whose downloads would leave less stops
        before downloading, with both figures; a download stops when the disk gets that full.
    type: int
    default: 1073741824
  concurrency:
    description: Parallel downloads (connections reused within one session).
    type: int
    default: 12
  timeout:
    description:
      - Seconds to wait for a connection or for the next bytes. A request also ends when its
        whole body takes longer than this plus its size at 32 KiB/s.
    type: float
    default: 30.0
  retries:
    description:
      - Attempts without progress before a page, metadata file or file is given up. An attempt
        progressed when it left more of the file on disk than any attempt before it (a server
        that ignores C(Range) and cuts every transfer gets nowhere).
    type: int
    default: 5
  allow_partial:
    description:
      - Succeed even when some files or projects could not be mirrored (they are listed in
        RV(failures)). By default the task fails, after writing an index of what is complete.
    type: bool
    default: false
  prune:
    description: Delete mirrored files of the listed projects that the selection no longer names.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Resolves the selection and reports what would be downloaded and its size.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Idempotent - a run with nothing new downloads nothing and reports C(changed=false).
  - Files of earlier runs stay (and stay listed) unless O(prune=true).
"""

EXAMPLES = r"""
- name: Mirror Django and requests for the workshop laptops
  pypi_in_a_box.pi.pypi_mirror:
    dest: /srv/pypi/mirror
    packages:
      - django>=4.2,<6
      - requests
    python_versions: ["3.11", "3.12", "3.13"]

- name: Add the Raspberry Pi itself as a target, from PyPI and piwheels
  pypi_in_a_box.pi.pypi_mirror:
    dest: /srv/pypi/mirror
    requirements_files: [/etc/pypi-mirror/workshop.txt]
    extra_index_urls: [https://www.piwheels.org/simple/]
    allowed_hosts: [archive1.piwheels.org]
    platforms: [windows-x86_64, macos-arm64, manylinux-x86_64, linux-aarch64]

- name: Mirror exactly what the course's lock names, for the laptops in the room
  pypi_in_a_box.pi.pypi_mirror:
    dest: /srv/pypi/mirror
    lock_files: [/etc/pypi-mirror/uv.lock]
    python_versions: ["3.12"]

- name: Will it fit on the SD card?
  pypi_in_a_box.pi.pypi_mirror:
    dest: /srv/pypi/mirror
    packages: [numpy, pandas]
  check_mode: true
  register: plan
"""

RETURN = r"""
complete:
  description: Whether everything selected is mirrored.
  returned: always
  type: bool
projects:
  description: Projects (normalized names) in the selection, dependencies included.
  returned: always
  type: list
  elements: str
  sample: [click, colorama, jinja2, markupsafe]
files:
  description: Number of files in the selection.
  returned: always
  type: int
downloaded:
  description: Files fetched by this run, and their bytes.
  returned: always
  type: dict
  sample: {count: 16, bytes: 1785074}
present:
  description: Selected files already present and verified (skipped), and their bytes.
  returned: always
  type: dict
  sample: {count: 0, bytes: 0}
missing:
  description: Number of failures (files and projects), and the bytes of files that failed.
  returned: always
  type: dict
  sample: {count: 0, bytes: 0}
received_bytes:
  description: Bytes received from the network, re-downloads after a hash mismatch included.
  returned: always
  type: int
would_download:
  description:
    - In check mode, what a real run would download - C(count), C(bytes), C(unknown_size),
      C(files), the C(free_space) of the disk of O(dest), and whether it C(fits) with
      O(min_free_space) kept free.
  returned: when check_mode
  type: dict
mirror_size:
  description: Total bytes under C(<dest>/files).
  returned: always
  type: int
failures:
  description: One entry per failure with C(project), C(file) (or null) and C(reason).
  returned: always
  type: list
  elements: dict
warnings_unsatisfied:
  description:
    - Not fatal - requirements no release satisfies on some target, files a target gets
      instead of one whose hash a requirement does not give, sdists a lock's target must
      build, and requirements-file options only the clients act on.
  returned: always
  type: list
  elements: str
rejected:
  description: Upstream entries refused as unsafe (hostile filename, foreign host, no hash).
  returned: always
  type: list
  elements: dict
uncovered:
  description:
    - Targets a lock cannot install on, one entry per lock and target with C(lock), C(target)
      and C(reason) (outside its requires-python or environments, or no file of a package it
      takes installs there).
  returned: always
  type: list
  elements: dict
  sample: [{lock: /srv/pypi/mirror/.state/locks/0-uv.lock, target: cp38-windows-x86_64,
            reason: the lock requires Python >=3.9}]
targets:
  description: Target labels, for example C(cp311-windows-x86_64).
  returned: always
  type: list
  elements: str
"""

import traceback  # noqa: E402  (Ansible keeps the docs first)

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

# The options table imports nothing from outside the standard library.
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (  # noqa: E402
    module_result,
    options,
)

try:
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
        MirrorError,
    )
except ImportError:  # packaging or requests missing on the target
    IMPORT_ERROR = traceback.format_exc()
    engine = None
else:
    IMPORT_ERROR = None


def main():
    # Types and defaults: the engine's options table, the one place they are stated.
    module = AnsibleModule(argument_spec=options.argument_spec(), supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("packaging and requests"),
                         exception=IMPORT_ERROR)
    params = module.params
    run_options = engine.Options(**{option.name: params[option.name]
                                    for option in options.OPTIONS if option.engine})
    try:
        result = engine.run(run_options, check_mode=module.check_mode)
    except MirrorError as exc:
        module.fail_json(msg=f"pypi_mirror: {exc}", changed=False)
    for warning in result["warnings"]:
        module.warn(warning)
    result["warnings_unsatisfied"] = result.pop("warnings")
    module_result.exit_with(module, "pypi_mirror", result, "the mirror is incomplete")


if __name__ == "__main__":
    main()
