"""At the workshop the box has no uplink: re-running the roles must work and change nothing."""

from __future__ import annotations

import re

from conftest import run_playbook


def test_converge_again_without_an_uplink_changes_nothing(box, http, base, tmp_path):
    default_route = box.run("ip -4 route show default").stdout.strip()
    assert default_route.startswith("default via"), default_route
    # Provisioned days before the workshop: the apt lists are old, so a role that refreshes
    # them by age (cache_valid_time) would try to reach Debian now.
    box.run_expect(
        [0],
        "touch -d '3 days ago' /var/lib/apt/lists /var/lib/apt/lists/*"
        " /var/lib/apt/periodic/update-success-stamp 2>/dev/null || true",
    )
    box.run_expect([0], "ip -4 route del default")
    try:
        # Nothing outside the scenario network is reachable now (PyPI and Debian included).
        assert box.run("curl -s -m 5 -o /dev/null http://deb.debian.org/").rc != 0
        result = run_playbook("converge.yml", tmp_path)
        # Plain text even if some setting forces colour.
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
        assert result.returncode == 0, output
        recap = re.search(r"box-\S+\s*:\s*ok=\d+\s+changed=(\d+)", output)
        assert recap, output
        assert recap.group(1) == "0", output
    finally:
        box.run(f"ip -4 route add {default_route}")
    assert http.get(f"{base}/simple/flask/").status_code == 200
