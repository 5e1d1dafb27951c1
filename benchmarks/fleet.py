"""Benchmark: provisioning the N-th box of a fleet vs the first one (issue 5).

Usage, from a checkout after `make venv`, with Docker (needs PyPI once, to fill .cache/bench-*):

    .venv/bin/python benchmarks/fleet.py            # the mirror benchmark's full workshop set
    .venv/bin/python benchmarks/fleet.py --quick    # its quick set
    .venv/bin/python benchmarks/fleet.py --set classroom   # 2.6 GB: the gigabytes of issue 5

What it does:
1. serves the mirror benchmark's wheel set on 127.0.0.1 (tests/support/upstream.py) behind
   the same emulated weak link (benchmarks/weak_link.py: 150 ms round trip, 20 Mbit/s shared,
   a connection reset every ~30 MB on average), standing in for pypi.org;
2. first box: a fresh Pi-like container (tests/support/box_container.py) and empty controller
   caches; `ansible-playbook site.yml` with the fleet settings of inventory/fleet
   (pypi_mirror_build_on: controller, software_cache_dir), limited to that box: the controller
   downloads the mirror through the link, the box fetches its Debian packages from Debian;
3. N-th box: another fresh container, on an internal Docker network (no route anywhere), the
   upstream still behind the link; the same playbook limited to it;
4. prints, for each box, the wall time of ansible-playbook and the bytes that crossed the weak
   link, and the ratio N-th / first, with the goals of issue 5 (no upstream bytes, <= 1/10 of
   the time); then each box's fixed work (every role but the mirror) and mirror seconds per GB,
   and from those the mirror size from which the time goal holds on this link.

The N-th box's fixed work (~65-85 s here: ~150 Ansible tasks, dpkg from the cached .debs,
pypiserver's virtualenv) does not shrink with the mirror, so the time goal is a matter of
size: the workshop set (355 MB) is far below it, the classroom set (2.6 GB) above it.

The first box's Debian packages come over this machine's real connection, not the emulated
link: the figure for the first box is a lower bound of what a weak link would cost it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from mirror_weak_link import Upstream, log
from weak_link import WeakLink
from workshop_set import REPO, SETS

from tests.support.box_container import docker_run_args, wait_for_systemd

GOAL_TIME_RATIO = 0.10
NETWORK = "piab-bench-fleet"
OFFLINE_NETWORK = "piab-bench-fleet-offline"
FIRST, NTH = "piab-bench-fleet-1", "piab-bench-fleet-n"


def run(args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def image() -> str:
    # Bookworm, as the figures in benchmarks/README.md were measured on.
    return os.environ.get("PIAB_IMAGE") or run(
        [str(REPO / "scripts" / "build-base-image.sh"), "bookworm"]).stdout.strip()


def inventory(work: Path, index_url: str, projects: list[str], targets) -> Path:
    settings = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "access_point_passphrase": "bench-passphrase",
        "pypiserver_users": [{"name": "bench", "password": "bench-not-secret"}],
        "pypi_mirror_build_on": "controller",
        "pypi_mirror_controller_dir": str(work / "controller-mirror"),
        "software_cache_dir": str(work / "controller-software"),
        "pypi_mirror_index_url": index_url,
        "pypi_mirror_packages": projects,
        "pypi_mirror_python_versions": sorted({t.python for t in targets}),
        "pypi_mirror_platforms": sorted({t.name for t in targets}),
        "pypi_mirror_package_types": ["wheel"],
        # The benchmark's upstream has no uv and no Python builds to serve.
        "pypi_mirror_tools": [],
    }
    path = work / "inventory.json"
    path.write_text(json.dumps({"boxes": {"hosts": {FIRST: None, NTH: None},
                                          "vars": settings}}))
    return path


def seconds_by_role(stdout: str) -> dict[str, float]:
    """Task times from the profile_tasks callback, summed per role (or "play" for the rest)."""
    totals: dict[str, float] = {}
    for match in re.finditer(r"^(.+?) -+ (\d+\.\d+)s$", stdout.replace("\n  ", " "), re.M):
        name = match.group(1).strip()
        role = name.split(" : ")[0].split(".")[-1] if " : " in name else "play"
        totals[role] = totals.get(role, 0.0) + float(match.group(2))
    return totals


def provision(box: str, inventory_path: Path, link: WeakLink,
              log_dir: Path | None) -> tuple[float, int, dict]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    before = link.stats().bytes_down
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "site.yml", "-i", str(inventory_path),
                           "--limit", box], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=7200)
    wall = time.monotonic() - start
    if log_dir:
        (log_dir / f"{box}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"provisioning {box} failed:\n{proc.stdout[-5000:]}\n"
                           f"{proc.stderr[-2000:]}")
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):].splitlines()[1:2]
    log(f"{box}: {wall:.0f} s; {' '.join(line.strip() for line in recap)}")
    return wall, link.stats().bytes_down - before, seconds_by_role(proc.stdout)


def cleanup() -> None:
    run(["docker", "rm", "--force", FIRST, NTH], check=False)
    for network in (NETWORK, OFFLINE_NETWORK):
        run(["docker", "network", "rm", network], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description="N-th box vs first box of a fleet (issue 5).",
                                     epilog="See the top of this file for what is measured.")
    parser.add_argument("--set", choices=sorted(SETS), default="workshop",
                        help="which wheel set the controller mirrors (benchmarks/workshop_set.py)")
    parser.add_argument("--quick", action="store_const", dest="set", const="quick",
                        help="same as --set quick")
    parser.add_argument("--rtt-ms", type=float, default=150)
    parser.add_argument("--mbit", type=float, default=20)
    parser.add_argument("--drop-mb", type=float, default=30, help="0 = no resets")
    parser.add_argument("--keep", action="store_true", help="keep the containers")
    parser.add_argument("--log-dir", type=Path,
                        help="write each box's ansible-playbook output (with task times) here")
    opts = parser.parse_args()

    projects, targets = SETS[opts.set].projects, SETS[opts.set].targets
    source = SETS[opts.set].fetch()
    box_image = image()
    cleanup()
    run(["docker", "network", "create", NETWORK])
    run(["docker", "network", "create", "--internal", OFFLINE_NETWORK])
    upstream = Upstream(source)
    link = WeakLink(("127.0.0.1", upstream.port), opts.rtt_ms, opts.mbit,
                    opts.drop_mb or None, seed=1)
    index_url = f"http://127.0.0.1:{link.start()}/simple/"
    try:
        with tempfile.TemporaryDirectory(prefix="piab-bench-fleet-") as work_dir:
            work = Path(work_dir)
            inventory_path = inventory(work, index_url, projects, targets)
            run(docker_run_args(FIRST, "pi-1", NETWORK, box_image))
            wait_for_systemd(FIRST)
            log("first box: empty controller, the mirror downloaded through the weak link")
            first_time, first_bytes, first_roles = provision(FIRST, inventory_path, link,
                                                             opts.log_dir)
            run(docker_run_args(NTH, "pi-n", OFFLINE_NETWORK, box_image))
            wait_for_systemd(NTH)
            log("N-th box: the controller has it all; the box has no route anywhere")
            nth_time, nth_bytes, nth_roles = provision(NTH, inventory_path, link, opts.log_dir)
            mirror_files = sum(1 for p in (work / "controller-mirror" / "files").rglob("*")
                               if p.is_file() and not p.name.endswith(".metadata"))
            mirror_mb = sum(p.stat().st_size for p in (work / "controller-mirror" / "files")
                            .rglob("*") if p.is_file()) / 1e6
    finally:
        link.stop()
        upstream.stop()
        if not opts.keep:
            cleanup()

    ratio = nth_time / first_time
    print(f"\nFleet provisioning, {len(projects)} projects x {len(targets)} targets: "
          f"{mirror_files} files, {mirror_mb:.0f} MB; link {opts.rtt_ms:g} ms RTT, "
          f"{opts.mbit:g} Mbit/s, reset every ~{opts.drop_mb:g} MB")
    roles = sorted(set(first_roles) | set(nth_roles))
    print(f"{'box':<10} {'wall s':>8} {'upstream MB':>12}  "
          + " ".join(f"{role[:14]:>14}" for role in roles))
    for label, wall, moved, by_role in (("first", first_time, first_bytes, first_roles),
                                        ("N-th", nth_time, nth_bytes, nth_roles)):
        print(f"{label:<10} {wall:>8.0f} {moved / 1e6:>12.1f}  "
              + " ".join(f"{by_role.get(role, 0):>14.0f}" for role in roles))
    print("(per-role columns: seconds of task time from profile_tasks)")
    mirror_ratio = nth_roles.get("pypi_mirror", 0) / max(first_roles.get("pypi_mirror", 0), 1e-9)
    print(f"mirror step N-th / first: {mirror_ratio:.2f}")
    # Each box's time is fixed work (every other role) plus the mirror step, which grows with
    # the mirror: where the two lines cross the goal says which mirrors the goal holds for.
    first_fixed = first_time - first_roles.get("pypi_mirror", 0)
    nth_fixed = nth_time - nth_roles.get("pypi_mirror", 0)
    first_per_mb = first_roles.get("pypi_mirror", 0) / mirror_mb
    nth_per_mb = nth_roles.get("pypi_mirror", 0) / mirror_mb
    print(f"fixed work: first {first_fixed:.0f} s, N-th {nth_fixed:.0f} s; mirror step per GB: "
          f"first {first_per_mb * 1000:.0f} s, N-th {nth_per_mb * 1000:.0f} s")
    if GOAL_TIME_RATIO * first_per_mb > nth_per_mb:
        crossover = (nth_fixed - GOAL_TIME_RATIO * first_fixed) / (
            GOAL_TIME_RATIO * first_per_mb - nth_per_mb)
        print(f"on this link the goal holds from a mirror of ~{max(crossover, 0) / 1000:.1f} GB")
    print(f"N-th / first time: {ratio:.2f} (goal <= {GOAL_TIME_RATIO:.2f}: "
          f"{'met' if ratio <= GOAL_TIME_RATIO else 'NOT met'}); N-th upstream bytes: "
          f"{nth_bytes} (goal 0: {'met' if nth_bytes == 0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
