"""Benchmark: a room installing what nobody listed, through the box's on-demand cache versus
each laptop going to the upstream itself, over the same weak link (issue 11).

Usage, from a checkout after `make venv`, with Docker (needs PyPI once, for the wheels):

    .venv/bin/python benchmarks/proxy_room.py --quick   # rooms of 10; ~6 minutes
    .venv/bin/python benchmarks/proxy_room.py           # rooms of 10 and 30; ~20 minutes

What it does:
1. fetches the set once (numpy, pandas, requests and their dependencies for CPython 3.11 on
   manylinux x86-64: real wheels, about 35 MB) into .cache/bench-proxy and serves it with
   benchmarks/local_upstream.py on this machine, behind benchmarks/weak_link.py (150 ms round
   trip, 20 Mbit/s shared by every connection, a reset every ~30 MB on average) listening on
   the benchmark network's gateway, so that containers reach the upstream only through it;
2. starts a Pi-like box (tests/support/box_container.py) and provisions it with the real roles
   pypiserver and nginx_cache, nginx_cache_proxy_enabled with the weak link as the upstream;
3. a client container on the same network installs the set with real uv (fresh venv, no
   cache, `uv pip install`), N at once:
   - direct: N clients -> weak link -> upstream (N = 1: "one client's direct install", the
     baseline; N = 10 and 30: the room without the box);
   - through the box: N clients -> box -> weak link -> upstream, the on-demand cache empty;
   each run has a fresh link with the same seed, so every run meets resets at the same byte
   counts; measured: the room's wall time (first start to last finish) and the bytes that
   crossed the link towards the clients (the weak link's counter);
4. server CPU per install on a cached hit: 10 installs at once served from the on-demand cache
   (everything fetched in 3), then the same files laid out on the box as a static mirror (the
   mirror's pages and files/, which win over the cache) and 10 installs again; CPU of the
   box's nginx and pypiserver processes from /proc/<pid>/task/*/schedstat, divided by 10;
5. prints the figures and the ratios with the goals of issue 11: upstream bytes through the box
   <= 1.05 x one client's download, the room's time through the box <= 1.2 x one client's
   direct install, CPU per install on a cache hit <= 1.2 x the mirror's.

The clients share this machine's cores (2 here) with the box, which real laptops do not: uv
unpacking 30 copies of numpy and pandas at once is part of the room's time here, not the
link's. The time of the last byte the upstream sent is printed too, for that reason.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from local_upstream import load_dists, project_html, project_json
from mirror_weak_link import Upstream, log
from serving import cpu_seconds
from weak_link import WeakLink
from workshop_set import CACHE, REPO, TARGETS, fetch

from tests.support.box_container import docker_run_args, wait_for_systemd

PROJECTS = ["numpy", "pandas", "requests"]
BOX = "piab-bench-proxy-box"
CLIENT = "piab-bench-proxy-client"
NETWORK = "piab-bench-proxy"
LINK_PORT = 18711
PROXY_CACHE = "/var/cache/nginx/pypi-in-a-box-proxy"
MIRROR = "/srv/pypi/mirror"
# Goals from issue 11.
GOAL_BYTES = 1.05
GOAL_TIME = 1.2
GOAL_CPU = 1.2
CPU_ROOM = 10


def run(args: list[str], check: bool = True, timeout: float = 900,
        **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])}... exited {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc


def dexec(container: str, script: str, check: bool = True,
          timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return run(["docker", "exec", container, "bash", "-euo", "pipefail", "-c", script],
               check=check, timeout=timeout)


def gateway() -> str:
    """This machine's address on the benchmark network: where the weak link listens."""
    out = run(["docker", "network", "inspect", NETWORK, "-f",
               "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]).stdout.strip()
    if not out:
        raise RuntimeError(f"network {NETWORK} has no gateway address")
    return out


def provision(work: Path, index_url: str) -> None:
    """The real roles, as the site play runs them, with the on-demand cache on."""
    (work / "inventory.json").write_text(json.dumps({"all": {"hosts": {BOX: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "pypiserver_users": [{"name": "bench", "password": "bench-not-secret"}],
        "nginx_cache_server_name": "pi-box",
        "nginx_cache_proxy_enabled": True,
        "nginx_cache_proxy_index_url": index_url,
        "nginx_cache_proxy_files_url": "",
    }}}}))
    (work / "bench.yml").write_text(json.dumps([{
        "name": "The box with the on-demand cache", "hosts": "all", "become": True,
        "roles": [{"role": "pypi_in_a_box.pi.pypiserver"},
                  {"role": "pypi_in_a_box.pi.nginx_cache"}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    log("ansible-playbook with pypiserver and nginx_cache (a few minutes)")
    run(["ansible-playbook", "-i", str(work / "inventory.json"), str(work / "bench.yml")],
        cwd=REPO, env=env, timeout=1800)


def empty_proxy_cache() -> None:
    dexec(BOX, f"systemctl stop nginx && rm -rf {PROXY_CACHE}/* /var/cache/nginx/pypi-in-a-box/*"
               " && systemctl start nginx")


def lay_out_mirror(wheels: Path) -> None:
    """The set as the pypi_mirror module lays it out: pages, files/<project>/, .metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        for project, dists in load_dists(wheels).items():
            add(f"simple/{project}/index.html", project_html(project, dists))
            add(f"simple/{project}/index.json", project_json(project, dists))
            for dist in dists:
                add(f"files/{project}/{dist.filename}", dist.path.read_bytes())
                add(f"files/{project}/{dist.filename}.metadata", dist.metadata)
    subprocess.run(["docker", "exec", "-i", BOX, "bash", "-c",
                    f"mkdir -p {MIRROR} && tar -C {MIRROR} -x"],
                   input=buf.getvalue(), check=True, timeout=600, capture_output=True)


def server_pids() -> list[int]:
    """Host PIDs of the box's nginx (master and workers) and pypiserver."""
    rows = run(["docker", "top", BOX, "-eo", "pid,args"]).stdout.splitlines()[1:]
    return [int(row.split(None, 1)[0]) for row in rows
            if "nginx:" in row or "pypi-server" in row or "pypiserver" in row]


@dataclass
class Room:
    label: str
    clients: int
    wall: float = 0.0
    last_byte: float = 0.0
    link_bytes: int = 0
    drops: int = 0
    failed: int = 0
    cpu_per_install: float = 0.0


def install_room(room: Room, index: str, upstream: Upstream, gw: str,
                 opts: argparse.Namespace) -> Room:
    """room.clients uv installs at once; a fresh weak link with the same seed for each room."""
    venvs = [f"/tmp/room-{room.label.replace(' ', '-')}-{room.clients}-{i}"
             for i in range(room.clients)]
    dexec(CLIENT, "rm -rf /tmp/room-* && " + " && ".join(
        f"uv venv -q --python /usr/bin/python3 {v}" for v in venvs))
    link = WeakLink(("127.0.0.1", upstream.port), opts.rtt_ms, opts.mbit, opts.drop_mb or None,
                    seed=1, host=gw, port=LINK_PORT)
    link.start()
    pids = server_pids()
    cpu0, started = cpu_seconds(pids), time.monotonic()
    last_bytes, last_byte_at = 0, started
    try:
        procs = [subprocess.Popen(
            ["docker", "exec", "-e", "UV_NO_CACHE=1", "-e", "UV_PYTHON_DOWNLOADS=never", CLIENT,
             "uv", "pip", "install", "-q", "--python", f"{v}/bin/python", "--index-url", index,
             *PROJECTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for v in venvs]
        deadline = started + opts.timeout
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
            moved = link.stats().bytes_down
            if moved != last_bytes:
                last_bytes, last_byte_at = moved, time.monotonic()
        room.wall = time.monotonic() - started
        room.cpu_per_install = (cpu_seconds(pids) - cpu0) / room.clients
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
            if proc.returncode != 0:
                room.failed += 1
                log(f"{room.label}: an install failed: {err.strip()[-300:]}")
        stats = link.stats()
        room.link_bytes, room.drops = stats.bytes_down, stats.drops
        room.last_byte = last_byte_at - started
    finally:
        link.stop()
    log(f"{room.label}, {room.clients} clients: {room.wall:.1f} s, "
        f"{room.link_bytes / 1e6:.1f} MB over the link, {room.drops} resets, "
        f"{room.failed} failed")
    return room


def cleanup() -> None:
    run(["docker", "rm", "-f", BOX, CLIENT], check=False)
    run(["docker", "network", "rm", NETWORK], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description="A room through the on-demand cache (issue 11).",
                                     epilog="See the top of this file for what is measured.")
    parser.add_argument("--quick", action="store_true", help="rooms of 10 only")
    parser.add_argument("--rooms", help="room sizes, comma-separated (default 10,30)")
    parser.add_argument("--rtt-ms", type=float, default=150)
    parser.add_argument("--mbit", type=float, default=20)
    parser.add_argument("--drop-mb", type=float, default=30, help="0 = no resets")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per room, at most")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    opts = parser.parse_args()
    rooms = [int(n) for n in (opts.rooms or ("10" if opts.quick else "10,30")).split(",")]

    wheels = fetch(CACHE / "bench-proxy", PROJECTS, [TARGETS[0]])
    set_files = sorted(wheels.glob("*.whl"))
    set_mb = sum(p.stat().st_size for p in set_files) / 1e6
    image = os.environ.get("PIAB_IMAGE") or run(
        [str(REPO / "scripts" / "build-base-image.sh")]).stdout.strip()
    uv = shutil.which("uv") or str(REPO / ".venv" / "bin" / "uv")
    cleanup()
    run(["docker", "network", "create", NETWORK])
    upstream = Upstream(wheels)
    results: list[Room] = []
    cpu: dict[str, float] = {}
    try:
        gw = gateway()
        box_index = "http://pi-box/simple/"
        direct_index = f"http://{gw}:{LINK_PORT}/simple/"
        run(docker_run_args(BOX, "pi-box", NETWORK, image))
        wait_for_systemd(BOX)
        run(["docker", "run", "-d", "--name", CLIENT, "--network", NETWORK,
             "-v", f"{uv}:/usr/local/bin/uv:ro", image, "sleep", "infinity"])
        with tempfile.TemporaryDirectory(prefix="piab-bench-proxy-") as work:
            provision(Path(work), direct_index)
        results.append(install_room(Room("direct", 1), direct_index, upstream, gw, opts))
        for n in rooms:
            results.append(install_room(Room("direct", n), direct_index, upstream, gw, opts))
        for n in rooms:
            empty_proxy_cache()
            results.append(install_room(Room("through the box", n), box_index, upstream, gw,
                                        opts))
        # Cached hits: everything is in the on-demand cache now; then the same from a mirror.
        cpu["on-demand cache"] = install_room(Room("box, cached", CPU_ROOM), box_index,
                                              upstream, gw, opts).cpu_per_install
        lay_out_mirror(wheels)
        cpu["static mirror"] = install_room(Room("box, mirror", CPU_ROOM), box_index, upstream,
                                            gw, opts).cpu_per_install
    finally:
        upstream.stop()
        if not opts.keep:
            cleanup()
    report(results, cpu, len(set_files), set_mb, opts)
    return 0 if not any(r.failed for r in results) else 1


def report(results: list[Room], cpu: dict[str, float], files: int, set_mb: float,
           opts: argparse.Namespace) -> None:
    print(f"\nA room installing {' '.join(PROJECTS)} with uv ({files} wheels, {set_mb:.1f} MB) "
          f"over {opts.rtt_ms:g} ms / {opts.mbit:g} Mbit/s / a reset every ~{opts.drop_mb:g} MB")
    print(f"{'run':<18}{'clients':>8}{'wall s':>9}{'last byte s':>13}{'upstream MB':>13}"
          f"{'resets':>8}{'failed':>8}")
    for r in results:
        print(f"{r.label:<18}{r.clients:>8}{r.wall:>9.1f}{r.last_byte:>13.1f}"
              f"{r.link_bytes / 1e6:>13.1f}{r.drops:>8}{r.failed:>8}")
    one = next(r for r in results if r.label == "direct" and r.clients == 1)
    print(f"\nGoals of issue 11, against one client's direct install ({one.wall:.1f} s, "
          f"{one.link_bytes / 1e6:.1f} MB):")
    for r in (r for r in results if r.label == "through the box"):
        direct = next((d for d in results if d.label == "direct" and d.clients == r.clients),
                      None)
        bytes_ratio, time_ratio = r.link_bytes / one.link_bytes, r.wall / one.wall
        print(f"  room of {r.clients}: upstream bytes {bytes_ratio:.2f}x (goal <= {GOAL_BYTES}: "
              f"{'MET' if bytes_ratio <= GOAL_BYTES else 'NOT MET'}), room time "
              f"{time_ratio:.2f}x (goal <= {GOAL_TIME}: "
              f"{'MET' if time_ratio <= GOAL_TIME else 'NOT MET'}); last upstream byte at "
              f"{r.last_byte / one.wall:.2f}x"
              + (f"; without the box the room took {direct.wall / one.wall:.1f}x and "
                 f"{direct.link_bytes / one.link_bytes:.1f}x the bytes" if direct else ""))
    if len(cpu) == 2:
        ratio = cpu["on-demand cache"] / cpu["static mirror"]
        print(f"  server CPU per install on a cached hit: on-demand cache "
              f"{cpu['on-demand cache'] * 1000:.0f} ms, static mirror "
              f"{cpu['static mirror'] * 1000:.0f} ms: {ratio:.2f}x (goal <= {GOAL_CPU}: "
              f"{'MET' if ratio <= GOAL_CPU else 'NOT MET'})")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
