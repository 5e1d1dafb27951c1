"""A Pi-like box container started by hand exactly as Molecule starts one.

The platform in .config/molecule/config.yml is the one description of how a box container runs
(systemd as PID 1 without --privileged); the demo, the benchmarks and the tests that "reflash"
a box build their `docker run` from it here instead of repeating the flags.

    python tests/support/box_container.py NAME HOSTNAME NETWORK IMAGE [DOCKER-ARG...]

prints the command, one argument per line (for scripts/demo.sh).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def docker_run_args(name: str, hostname: str, network: str, image: str,
                    *extra: str) -> list[str]:
    """`docker run --detach` for a box named ``name``, reachable as ``hostname`` on
    ``network`` ("" for Docker's default bridge, which has no names); ``extra`` goes before
    the image (e.g. ``-p`` for a published port)."""
    config = yaml.safe_load((REPO / ".config" / "molecule" / "config.yml").read_text())
    platform = config["platforms"][0]
    args = ["docker", "run", "--detach", "--name", name, "--hostname", hostname,
            "--stop-signal", platform["stop_signal"], "--cgroupns", platform["cgroupns_mode"]]
    if network:
        args += ["--network", network, "--network-alias", hostname]
    args += [f"--cap-add={cap}" for cap in platform["capabilities"]]
    args += [f"--security-opt={opt}" for opt in platform["security_opts"]]
    args += [f"--tmpfs={path}" for path in platform["tmpfs"]]
    args += [f"--volume={volume}" for volume in platform["volumes"]]
    args += [f"--env={key}={value}" for key, value in platform["env"].items()]
    return [*args, *extra, image, platform["command"]]


def wait_for_systemd(name: str, timeout: float = 60) -> None:
    state = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                               capture_output=True, text=True).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"systemd in {name} did not come up (state {state!r})")


if __name__ == "__main__":
    print("\n".join(docker_run_args(*sys.argv[1:5], *sys.argv[5:])))
