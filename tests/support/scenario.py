"""What a Molecule scenario's run is: its release, its names, its clients' Python and CPU.

scripts/run-molecule.sh runs each scenario on one or both Debian releases, two runs at a time,
and sets the environment read here (and by the scenario files, see .config/molecule/config.yml).
Every container and network name carries the release, box-<scenario>-<release> and
piab-<scenario>-<release>, so that runs side by side never collide. The clients run the box's
image, so the image's Python and CPU are theirs: the mirror selection and the seed wheels follow
them instead of pinning one Debian release's.
"""

from __future__ import annotations

import os
from pathlib import Path


def _env(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise RuntimeError(
            f"{name} is not set: run Molecule scenarios through scripts/run-molecule.sh, which "
            f"sets it for the release (or `eval \"$(scripts/run-molecule.sh --env RELEASE)\"`)"
        ) from None


SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
RELEASE = _env("PIAB_RELEASE")
IMAGE = _env("PIAB_IMAGE")
CLIENT_PYTHON = _env("PIAB_CLIENT_PYTHON")
CLIENT_MACHINE = _env("PIAB_CLIENT_MACHINE")
WHEELS_DIR = Path(_env("PIAB_WHEELS_DIR"))
# Where the clients run: "docker" (a throwaway container on the scenario's network) or "box"
# (on the box itself, for a box that is not a container: scripts/arm64-site.sh's VM).
CLIENT = os.environ.get("PIAB_CLIENT", "docker")


def box_name(name: str = SCENARIO) -> str:
    """The container (and inventory host) of a box: box-fleet-1 -> box-fleet-1-trixie."""
    return f"box-{name}-{RELEASE}"


def network_name(name: str = SCENARIO) -> str:
    """A Docker network of the run: piab-dnsmasq -> piab-dnsmasq-trixie."""
    return f"piab-{name}-{RELEASE}"


def net_prefix() -> str:
    """The first two octets of the release's own fixed subnets (10.x.0.0/24, 10.x.1.0/24)."""
    return _env("PIAB_NET_PREFIX")


def upstream_port() -> int:
    """The run's own port for an upstream on the controller (scripts/run-molecule.sh)."""
    return int(_env("PIAB_UPSTREAM_PORT"))
