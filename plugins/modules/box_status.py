#!/usr/bin/python
"""Ansible module pypi_in_a_box.pi.box_status: a read-only report of what a box holds and runs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: box_status
short_description: Report what a PyPI in a box serves, its Wi-Fi, its clients and its free disk
version_added: "0.1.0"
description:
  - Reads, without changing anything, the state of the box's services (systemd), the access
    point's SSID, channel and country (hostapd.conf), the current DHCP leases (dnsmasq's lease
    file), the projects, versions, files and bytes of the mirror, of pypiserver's private
    packages and of nginx's on-demand cache, the misses the room asked for in vain, uv and the
    Python builds the mirror serves, and the size and free space of the filesystem that holds
    the mirror.
  - The Wi-Fi passphrase and every other secret in hostapd.conf are never returned.
  - A missing file or directory (no mirror yet, no radio, no leases) is reported as absent, not
    as an error. Reading hostapd.conf needs root (the roles make it mode 0600), so run with
    C(become).
  - File names are parsed with C(packaging) (Debian C(python3-packaging), which the nginx_cache
    role installs).
author:
  - PyPI in a box contributors (@pypi-in-a-box)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  mirror_dir:
    description:
      - The mirror's root (the pypi_mirror role's C(pypi_mirror_dest)); its C(files/<project>/)
        are counted. Its filesystem is the one whose free space is reported.
    type: path
    default: /srv/pypi/mirror
  packages_dir:
    description: pypiserver's package directory (the pypiserver role's C(pypiserver_packages_dir)).
    type: path
    default: /srv/pypi/packages
  services:
    description: systemd units whose state is reported; empty to skip systemd.
    type: list
    elements: str
    default: [hostapd, dnsmasq, nginx, pypiserver]
  hostapd_config:
    description: hostapd's configuration, as the access_point role installs it.
    type: path
    default: /etc/hostapd/hostapd.conf
  lease_file:
    description: dnsmasq's lease file, where Debian's dnsmasq keeps it (the role leaves it there).
    type: path
    default: /var/lib/misc/dnsmasq.leases
  proxy_cache_dir:
    description:
      - nginx's on-demand cache (the nginx_cache role's C(nginx_cache_proxy_dir)); readable by
        root only, so run with C(become).
    type: path
    default: /var/cache/nginx/pypi-in-a-box-proxy
  proxy_miss_log:
    description:
      - The log of requests for projects neither the mirror nor pypiserver holds (the
        nginx_cache role's C(nginx_cache_proxy_miss_log)); rotated files are read too.
    type: path
    default: /var/log/nginx/pypi-in-a-box-misses.log
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Never reports C(changed).
"""

EXAMPLES = r"""
- name: Read the box's status
  pypi_in_a_box.pi.box_status:
  become: true
  register: box

- name: Only what is on the disk (no systemd, for a landing page)
  pypi_in_a_box.pi.box_status:
    mirror_dir: /srv/pypi/mirror
    packages_dir: /srv/pypi/packages
    services: []
  register: holdings
"""

RETURN = r"""
services:
  description:
    - Per unit asked for - C(active) (bool), C(state) (ActiveState, C(unknown) without systemd),
      C(sub_state), C(loaded) (C(not-found) for a unit that is not installed), C(enabled)
      (UnitFileState) and C(unit) (the unit's full name).
  returned: always
  type: dict
  sample:
    nginx: {active: true, state: active, sub_state: running, loaded: loaded, enabled: enabled,
            unit: nginx.service}
access_point:
  description:
    - The Wi-Fi network from hostapd.conf - C(ssid), C(channel) (0 when hostapd picks one),
      C(country), C(band), C(security) (C(wpa2), C(wpa2+wpa3), C(wpa3), C(wpa), C(open)),
      C(hidden), C(max_clients), C(interface), C(config). Null when the file is missing.
  returned: always
  type: dict
  sample: {ssid: pypi-in-a-box-1, channel: 1, country: GB, band: 2.4 GHz, security: wpa2}
dhcp:
  description:
    - The current leases - C(count) and C(leases), each with C(ip), C(mac), C(hostname) (null
      when the client sent none) and C(expires) (seconds since the epoch, null for an infinite
      lease); expired leases left in the file are not counted. C(exists) is false before dnsmasq
      has written the file.
  returned: always
  type: dict
  sample:
    file: /var/lib/misc/dnsmasq.leases
    exists: true
    count: 1
    leases: [{ip: 10.42.0.93, mac: "3c:22:fb:12:34:56", hostname: laptop-7, expires: 1767225600}]
mirror:
  description:
    - The mirror's projects, each with C(name), C(versions) (newest first), C(files)
      (distributions) and C(bytes) (the C(.metadata) sidecars included, so the total matches
      the pypi_mirror module's C(mirror_size)); totals C(project_count), C(file_count), C(bytes).
  returned: always
  type: dict
  sample:
    path: /srv/pypi/mirror
    exists: true
    project_count: 1
    file_count: 1
    bytes: 134899
    projects: [{name: jinja2, versions: ["3.1.6"], files: 1, bytes: 134899}]
private:
  description: pypiserver's packages (uploads and seeds), in the shape of RV(mirror).
  returned: always
  type: dict
tools:
  description:
    - uv and the Python builds the mirror serves (M(pypi_in_a_box.pi.pypi_mirror_tools)), as
      their records list them - C(uv) (archives with C(platform), C(family) (C(windows),
      C(macos), C(linux)), C(triple), C(version), C(filename), C(url_path) under the mirror's
      root, C(sha256), C(size)), C(python) (builds with C(key), C(platform), C(family),
      C(version), C(url_path), C(sha256), C(size) and uv's C(entry)), C(uv_versions),
      C(python_versions), C(bytes) in all, and C(problems) (records that could not be read).
  returned: always
  type: dict
  sample:
    uv: [{platform: manylinux-x86_64, family: linux, triple: x86_64-unknown-linux-gnu,
          version: "0.13.9", url_path: uv/0.13.9/uv-x86_64-unknown-linux-gnu.tar.gz,
          sha256: ba672df3fb0deb1987e9a0180703ec70342bee4da7b14d15605b3b9de9559f38,
          size: 17059294}]
    python: []
    uv_versions: ["0.13.9"]
    python_versions: []
    bytes: 17059294
    problems: []
on_demand:
  description:
    - What nginx fetched on demand from the upstream and still holds, in the shape of RV(mirror)
      (a project counts once its page or any of its files is cached), plus C(misses) - the
      projects whose latest request was not served and that the cache does not hold, each with
      C(name), C(reason) (C(upstream unreachable), C(not found upstream), C(not on the
      allow-list), C(on-demand fetching is off)...), C(requests) (failed requests) and C(last)
      (time of the last, ISO 8601) - and C(miss_count).
  returned: always
  type: dict
  sample:
    path: /var/cache/nginx/pypi-in-a-box-proxy
    exists: true
    project_count: 1
    file_count: 1
    bytes: 135912
    projects: [{name: jinja2, versions: ["3.1.6"], files: 1, bytes: 135912}]
    misses:
      - {name: reqeusts, reason: not found upstream, requests: 2,
         last: "2026-05-04T10:12:03+02:00"}
    miss_count: 1
    miss_log: /var/log/nginx/pypi-in-a-box-misses.log
disk:
  description:
    - The filesystem holding O(mirror_dir) (or its nearest existing parent) - C(total_bytes),
      C(free_bytes) (available to non-root writers), C(used_bytes), C(path) measured.
  returned: always
  type: dict
  sample: {path: /srv/pypi/mirror, total_bytes: 31268536320, free_bytes: 24051712000,
           used_bytes: 5581271040}
"""

import time  # noqa: E402  (Ansible keeps the docs first)
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import status, systemd
except ImportError:  # packaging missing on the target
    IMPORT_ERROR = traceback.format_exc()
    status = systemd = None
else:
    IMPORT_ERROR = None


def service_states(module, units):
    if not units:
        return {}
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        module.warn("systemctl not found: the services' state is unknown")
        return {unit: systemd.unknown_state("no systemctl") for unit in units}
    rc, out, err = module.run_command(systemd.show_command(systemctl, units))
    if rc != 0:
        module.warn(f"systemctl show failed ({err.strip()}): the services' state is unknown")
        return {unit: systemd.unknown_state(err.strip()) for unit in units}
    try:
        return systemd.parse_show(out, units)
    except ValueError as exc:
        module.fail_json(msg=f"box_status: {exc}")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mirror_dir=dict(type="path", default="/srv/pypi/mirror"),
            packages_dir=dict(type="path", default="/srv/pypi/packages"),
            services=dict(type="list", elements="str",
                          default=["hostapd", "dnsmasq", "nginx", "pypiserver"]),
            hostapd_config=dict(type="path", default="/etc/hostapd/hostapd.conf"),
            lease_file=dict(type="path", default="/var/lib/misc/dnsmasq.leases"),
            proxy_cache_dir=dict(type="path", default="/var/cache/nginx/pypi-in-a-box-proxy"),
            proxy_miss_log=dict(type="path",
                                default="/var/log/nginx/pypi-in-a-box-misses.log"),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("packaging"), exception=IMPORT_ERROR)
    params = module.params
    try:
        result = status.gather(
            mirror_dir=Path(params["mirror_dir"]),
            packages_dir=Path(params["packages_dir"]),
            hostapd_config=Path(params["hostapd_config"]),
            lease_file=Path(params["lease_file"]),
            now=time.time(),
            proxy_cache_dir=Path(params["proxy_cache_dir"]),
            proxy_miss_log=Path(params["proxy_miss_log"]),
        )
    except PermissionError as exc:
        module.fail_json(msg=f"box_status: cannot read {exc.filename}: permission denied "
                         "(hostapd.conf is readable by root only: run with become)")
    except OSError as exc:
        module.fail_json(msg=f"box_status: cannot read {exc.filename}: {exc.strerror}")
    result["services"] = service_states(module, params["services"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
