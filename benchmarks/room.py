"""The room mode of benchmarks/serving.py (issue 12): a room of laptops installing at once from
one box while one attendee misbehaves.

Each attendee is a container of its own on the box's network (its own address, as a laptop on
the Wi-Fi has), doing a cold `pip install` or `uv pip install` (every other one) of the workshop
set into a fresh virtualenv on a tmpfs of its own (a laptop's own disk), all started together;
the install time of each is timed from the common start to its own end.

By default the clients and the servers are kept off each other's CPUs (`cpu_split`: the servers
and the attacker get a quarter of this machine's CPUs, at least one, the clients the rest; here
one each): a laptop's CPU is not the box's, and the attacker's load lands on the server's CPU,
where it would hurt the room through the server. The clients still share theirs, so the room's
times here are those of N installs on one core, not of N laptops (--no-pin: everything shares
every CPU). The CPU seconds of each party (the server's processes, the pip clients, the uv
clients, the attacker) are logged for each run and their medians reported. Each client's tmpfs
holds its virtualenv (about 200 MB) until the next run: 40 clients take about 8 GB of RAM.

The misbehaving attendee is two more containers, each held to ATTACKER_CPUS of this machine's
CPUs: one holds HALF_OPEN connections whose request header never ends (a header line every 5 s;
a connection the server drops is opened again), the other floods index pages with random query
strings (known projects, unknown ones, /simple/) and anonymous 100 MB uploads to `/`. The same
room runs without them ("calm"), and with the flooder's container only burning its CPU share
("control"): on a real Wi-Fi the attacker's laptop has CPUs of its own, here it shares the
server's (and unpinned, everyone's), so attacked / control is what the attack costs the room
through the server, attacked / calm what the issue asks. All of it against the box and against a
plain static nginx with Debian's default settings serving the same files.

What the server keeps on disk for requests is read from the host, which sees every process:
nginx deletes its temporary files as it creates them (so `du` never shows them), and so do
pypiserver's servers; the largest total of such files held open at once is reported, with the
growth of the package directory, nginx's temporary directory and the logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HALF_OPEN = 500
ATTACKER_CPUS = "0.25"
UPLOAD_BYTES = 100 * 2**20
FLOOD_GETTERS = 6
FLOOD_UPLOADERS = 2
# Issue 12: the room's median install time with the attacker within this of the calm room's.
GOAL_RATIO = 1.3
# One install may not take longer than this (a bound on every wait of the benchmark).
INSTALL_LIMIT = 900
# Where the box and the static nginx keep what they hold on disk for a request.
TEMP_PREFIXES = ("/var/lib/nginx/", "/tmp/", "/var/tmp/")
GROWTH_DIRS = {"packages": "/srv/pypi/packages", "nginx temp": "/var/lib/nginx",
               "logs": "/var/log/nginx"}

SLOWLORIS = r"""
import json, os, select, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
poller, held = select.poll(), {}
opened = dropped = refused = 0
samples, announced, next_beat = [], False, 0.0
while not os.path.exists("/tmp/stop"):
    while len(held) < count:
        try:
            sock = socket.create_connection((host, port), timeout=2)
            sock.sendall(b"GET /simple/ HTTP/1.1\r\nHost: pi-box\r\n")
        except OSError:
            refused += 1
            break
        held[sock.fileno()] = sock
        poller.register(sock, select.POLLIN)
        opened += 1
    if not announced and len(held) >= count:
        print("holding", len(held), flush=True)
        announced = True
    # Readable: the server answered (408) or closed it.
    for fd, _ in poller.poll(0):
        poller.unregister(fd)
        held.pop(fd).close()
        dropped += 1
    if time.monotonic() >= next_beat:
        for fd, sock in list(held.items()):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                poller.unregister(fd)
                held.pop(fd).close()
                dropped += 1
        next_beat = time.monotonic() + 5
    samples.append(len(held))
    time.sleep(0.2)
samples.sort()
print(json.dumps({"held": samples[len(samples) // 2] if samples else 0, "opened": opened,
                  "dropped": dropped, "refused": refused}), flush=True)
"""

FLOOD = r"""
import collections, http.client, json, os, random, socket, sys, threading, time, uuid
host, projects = sys.argv[1], sys.argv[6].split(",")
port, getters, uploaders, upload_bytes = map(int, sys.argv[2:6])
lock, pages, uploads = threading.Lock(), collections.Counter(), collections.Counter()
def tally(counter, key, amount=1):
    with lock:
        counter[key] += amount
def stopped():
    return os.path.exists("/tmp/stop")
def get_pages():
    conn = None
    while not stopped():
        pick = random.random()
        path = (f"/simple/{random.choice(projects)}/" if pick < 0.5
                else f"/simple/piab-{uuid.uuid4().hex[:10]}/" if pick < 0.8 else "/simple/")
        try:
            conn = conn or http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", f"{path}?{uuid.uuid4().hex}", headers={"Accept": random.choice(
                ["application/vnd.pypi.simple.v1+json", "text/html"])})
            response = conn.getresponse()
            response.read()
            tally(pages, str(response.status))
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            tally(pages, "error")
            conn = None
            time.sleep(0.01)
def upload():
    head = (f"POST / HTTP/1.1\r\nHost: pi-box\r\nContent-Type: multipart/form-data; boundary=b"
            f"\r\nContent-Length: {upload_bytes}\r\n\r\n").encode()
    chunk = bytes(1 << 16)
    while not stopped():
        sent = 0
        try:
            with socket.create_connection((host, port), timeout=30) as sock:
                sock.sendall(head)
                while sent < upload_bytes:
                    sock.sendall(chunk)
                    sent += len(chunk)
                reply = sock.recv(64)
                answer = reply.split()[1].decode() if reply.startswith(b"HTTP/") else "none"
                tally(uploads, answer)
        except OSError:
            tally(uploads, "cut off")
            time.sleep(0.01)
        tally(uploads, "MB sent", sent / 2**20)
started = time.monotonic()
threads = [threading.Thread(target=get_pages) for _ in range(getters)]
threads += [threading.Thread(target=upload) for _ in range(uploaders)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
seconds = time.monotonic() - started
print(json.dumps({"pages": pages, "pages_per_s": sum(v for k, v in pages.items()) / seconds,
                  "uploads": {k: round(v) for k, v in uploads.items()}}), flush=True)
"""


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:4])}... exited {proc.returncode}: "
                           f"{proc.stderr[-1500:]}")
    return proc


@dataclass
class Room:
    """The attendees' and the attacker's containers."""

    image: str
    network: str
    uv: str
    # CPUs for `docker run --cpuset-cpus`: the clients' and the attacker's ("" = unpinned).
    client_cpus: str = ""
    attacker_cpus: str = ""
    clients: list[str] = field(default_factory=list)
    attackers: dict[str, str] = field(default_factory=dict)
    counters: dict[str, Path] = field(default_factory=dict)

    def start(self, count: int, prefix: str) -> None:
        self.clients = [f"{prefix}-{i:02d}" for i in range(count)]
        self.attackers = {"slowloris": f"{prefix}-slowloris", "flooder": f"{prefix}-flooder"}
        self.remove()
        # Each laptop installs onto a disk of its own: here a tmpfs, not this machine's one disk
        # shared by the whole room.
        for name in self.clients:
            docker("run", "-d", "--name", name, "--network", self.network,
                   *pinned(self.client_cpus), "--tmpfs", "/tmp:rw,exec,size=2g",
                   "-v", f"{self.uv}:/usr/local/bin/uv:ro",
                   self.image, "sleep", "infinity")
        for name in self.attackers.values():
            docker("run", "-d", "--name", name, "--network", self.network,
                   *pinned(self.attacker_cpus), "--cpus", ATTACKER_CPUS, self.image,
                   "sleep", "infinity")
        for name in [*self.clients, *self.attackers.values()]:
            self.counters[name] = cpu_counter(
                int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()))
        # pip's virtualenvs are copied from one made here once (venv + ensurepip takes seconds).
        for _, result in parallel([(name, "python3 -m venv /tmp/template")
                                   for name in self.pip_clients()]):
            if result.returncode != 0:
                raise RuntimeError(f"venv in {result.args[0]}: {result.stderr[-500:]}")

    def pip_clients(self) -> list[str]:
        return self.clients[::2]

    def uv_clients(self) -> list[str]:
        return self.clients[1::2]

    def cpu(self, names: list[str]) -> float:
        """CPU seconds the containers have used so far (their cgroups' counters)."""
        return sum(read_cpu(self.counters[name]) for name in names)

    def remove(self) -> None:
        names = [*self.clients, *self.attackers.values()]
        if names:
            docker("rm", "-f", *names, check=False)


def cpu_split() -> tuple[str, str]:
    """(the server's and the attacker's CPUs, the clients' CPUs) as --cpuset-cpus lists: a
    quarter of this machine's CPUs (at least one) for the server, the rest for the room."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("pinning needs 2 CPUs at least: run with --no-pin")
    server = max(1, len(cpus) // 4)
    return (",".join(map(str, cpus[:server])), ",".join(map(str, cpus[server:])))


def pinned(cpus: str) -> list[str]:
    return ["--cpuset-cpus", cpus] if cpus else []


def cpu_counter(pid: int) -> Path:
    """The CPU counter of the cgroup a container's first process is in, as the host sees it:
    cgroup v1's cpuacct.usage or v2's cpu.stat, whatever the driver or the cgroup parent."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            counter = Path(f"/sys/fs/cgroup{path}/cpu.stat")
        elif "cpuacct" in controllers.split(","):
            counter = Path(f"/sys/fs/cgroup/{controllers}{path}/cpuacct.usage")
            if not counter.exists():
                counter = Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage")
        else:
            continue
        if counter.exists():
            return counter
    raise RuntimeError(f"no CPU counter found for the cgroup of process {pid}")


def read_cpu(counter: Path) -> float:
    """CPU seconds from a cgroup's counter (cpuacct.usage in ns, or cpu.stat's usage_usec)."""
    if counter.name == "cpuacct.usage":
        return int(counter.read_text()) / 1e9
    usage = dict(line.split() for line in counter.read_text().splitlines())
    return int(usage["usage_usec"]) / 1e6


def parallel(commands: list[tuple[str, str]], timeout: float = INSTALL_LIMIT
             ) -> list[tuple[float, subprocess.CompletedProcess]]:
    """`docker exec` of each (container, script) at once; (seconds, result) of each, the seconds
    from the common start to that command's own end (a thread waits for each). `timeout` runs
    in the container: killing `docker exec` here would leave the command running there."""
    started = time.monotonic()
    results: list = [None] * len(commands)

    def wait(i: int, name: str, script: str) -> None:
        try:
            proc = subprocess.run(
                ["docker", "exec", name, "timeout", "-k", "5", str(int(timeout)),
                 "bash", "-euo", "pipefail", "-c", script],
                capture_output=True, text=True, timeout=timeout + 60, check=False)
            result = subprocess.CompletedProcess([name, script], proc.returncode, proc.stdout,
                                                 proc.stderr)
        except Exception as exc:  # any failure is this client's, and reported as such
            result = subprocess.CompletedProcess([name, script], -1, "", repr(exc))
        results[i] = (time.monotonic() - started, result)

    waiters = [threading.Thread(target=wait, args=(i, *command))
               for i, command in enumerate(commands)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    return results


def install_commands(room: Room, port: int, projects: list[str]) -> tuple[list, list]:
    """(preparation, timed install) per client: a fresh virtualenv, then a cold install."""
    index = f"http://pi-box:{port}/simple/"
    prepare, install = [], []
    for name in room.clients:
        if name in room.pip_clients():
            prepare.append((name, "rm -rf /tmp/v && cp -a /tmp/template /tmp/v"))
            install.append((name, "/tmp/v/bin/python -m pip install -q --no-cache-dir "
                                  "--no-compile --disable-pip-version-check --index-url "
                                  f"{index} --trusted-host pi-box {' '.join(projects)}"))
        else:
            prepare.append((name, "rm -rf /tmp/v && uv venv -q --python /usr/bin/python3 /tmp/v"))
            install.append((name, "UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never uv pip install -q "
                                  f"--python /tmp/v/bin/python --index-url {index} "
                                  f"{' '.join(projects)}"))
    return prepare, install


class DiskWatch:
    """The largest total size of temporary files the server's processes hold open at once."""

    def __init__(self, pids: Callable[[], list[int]]):
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _held(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for descriptor in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(descriptor).startswith(TEMP_PREFIXES):
                            total += descriptor.stat().st_size
        return total

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self._held())

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def kill_scripts(name: str, proc: subprocess.Popen) -> None:
    """Ends a script run by `docker exec` in the container too (killing `docker exec` here
    would leave it running there)."""
    docker("exec", name, "pkill", "-9", "-f", "python3", check=False)
    proc.kill()


BURN = """
import os
while not os.path.exists("/tmp/stop"):
    sum(range(10000))
"""


@contextlib.contextmanager
def cpu_burner(room: Room) -> Iterator[dict]:
    """The flooder's container busy with nothing but its CPU share (the control run)."""
    name = room.attackers["flooder"]
    docker("exec", name, "rm", "-f", "/tmp/stop")
    proc = subprocess.Popen(["docker", "exec", name, "python3", "-c", BURN])
    try:
        yield {}
    finally:
        docker("exec", name, "touch", "/tmp/stop", check=False)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_scripts(name, proc)


@contextlib.contextmanager
def attacker(room: Room, port: int, projects: list[str]) -> Iterator[dict]:
    """The misbehaving attendee for the duration of the block; its figures in the dict."""
    figures: dict = {}
    for name in room.attackers.values():
        docker("exec", name, "rm", "-f", "/tmp/stop")
    slow = subprocess.Popen(
        ["docker", "exec", room.attackers["slowloris"], "python3", "-c", SLOWLORIS, "pi-box",
         str(port), str(HALF_OPEN)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([slow.stdout], [], [], 120)
    figures["ready"] = slow.stdout.readline().strip() if ready else "not all held in 120 s"
    flood = subprocess.Popen(
        ["docker", "exec", room.attackers["flooder"], "python3", "-c", FLOOD, "pi-box",
         str(port), str(FLOOD_GETTERS), str(FLOOD_UPLOADERS), str(UPLOAD_BYTES),
         ",".join(projects)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)  # the flood is under way before the room starts
    try:
        yield figures
    finally:
        for name in room.attackers.values():
            docker("exec", name, "touch", "/tmp/stop", check=False)
        for key, proc in (("slowloris", slow), ("flooder", flood)):
            late = ""
            try:
                out, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                kill_scripts(room.attackers[key], proc)
                out, err = proc.communicate()
                late = "still running 120 s after the stop; "
            try:
                figures[key] = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                figures[key] = {"error": f"{late}exit {proc.returncode}: {(err or out)[-300:]}"}


VARIANTS = ("calm", "control", "attacked")


@dataclass
class RoomRun:
    server: str
    variant: str
    times: list[float]
    failures: list[str]
    tools: list[str]
    held_on_disk: int = 0
    growth: dict[str, int] = field(default_factory=dict)
    attack: dict = field(default_factory=dict)
    # CPU seconds used while the room installed: the server's processes, the pip and the uv
    # clients' containers and the attacker's.
    cpu: dict[str, float] = field(default_factory=dict)

    def median(self, tool: str | None = None) -> float:
        times = [t for t, k in zip(self.times, self.tools) if tool in (None, k)]
        return statistics.median(times) if times else float("nan")


def sizes(dexec: Callable) -> dict[str, int]:
    script = "; ".join(f"du -sb {path} 2>/dev/null | cut -f1 | grep . || echo 0"
                       for path in GROWTH_DIRS.values())
    values = dexec(script, check=False).stdout.split()
    return {key: int(value) for key, value in zip(GROWTH_DIRS, values)}


def room_run(room: Room, server: str, port: int, projects: list[str], variant: str,
             dexec: Callable, pids: Callable[[], list[int]],
             cpu_seconds: Callable[[list[int]], float]) -> RoomRun:
    prepare, install = install_commands(room, port, projects)
    for _, result in parallel(prepare):
        if result.returncode != 0:
            raise RuntimeError(f"preparing {result.args[0]}: {result.stderr[-500:]}")
    before = sizes(dexec)
    server_pids = pids()
    parties = {"server": lambda: cpu_seconds(server_pids),
               "pip clients": lambda: room.cpu(room.pip_clients()),
               "uv clients": lambda: room.cpu(room.uv_clients()),
               "attacker": lambda: room.cpu(list(room.attackers.values()))}
    with contextlib.ExitStack() as stack:
        attack = (stack.enter_context(attacker(room, port, projects)) if variant == "attacked"
                  else stack.enter_context(cpu_burner(room)) if variant == "control" else {})
        watch = stack.enter_context(DiskWatch(pids))
        cpu_before = {party: read() for party, read in parties.items()}
        results = parallel(install)
        cpu = {party: read() - cpu_before[party] for party, read in parties.items()}
    growth = {key: value - before.get(key, 0) for key, value in sizes(dexec).items()}
    tools = ["pip" if name in room.pip_clients() else "uv" for name in room.clients]
    failures = [f"{result.args[0]}: {(result.stderr or result.stdout).strip()[-300:]}"
                for _, result in results if result.returncode != 0]
    return RoomRun(server, variant, [seconds for seconds, _ in results], failures, tools,
                   watch.peak, growth, attack, cpu)


def group_median(group: list[RoomRun], tool: str | None = None) -> float:
    values = [run.median(tool) for run in group]
    return statistics.median(values) if values else float("nan")


def attack_figure(runs: list[RoomRun], who: str, key: str) -> float:
    """The median over the attacked runs of one figure the attacker printed."""
    return statistics.median([run.attack.get(who, {}).get(key, 0) for run in runs] or [0])


def report(runs: list[RoomRun], clients: int, projects: list[str], rounds: int,
           labels: dict[str, str], room: Room) -> bool:
    """Prints the figures; True when the box meets every goal of issue 12."""
    print()
    print(f"Room benchmark (issue 12): {clients} clients at once, each a cold install of "
          f"{' '.join(projects)} (pip and uv, every other client), {rounds} round(s), medians.")
    print(f"Attacker: {HALF_OPEN} half-open connections, and {FLOOD_GETTERS} connections of "
          f"random query strings with {FLOOD_UPLOADERS} loops of anonymous "
          f"{UPLOAD_BYTES >> 20} MB uploads; {ATTACKER_CPUS} CPU each. Control: the room while "
          "the flooder's container only burns its CPU share.")
    print(f"CPUs: the clients on {room.client_cpus}, the servers and the attacker on "
          f"{room.attacker_cpus} (laptops have CPUs of their own; the attacker's load lands on "
          "the server's)." if room.client_cpus else
          "CPUs: unpinned, the servers, the clients and the attacker share every CPU.")
    head = (f"{'server':<24}{'calm s':>8}{'control s':>11}{'attacked s':>12}"
            f"{'att/calm':>10}{'att/ctrl':>10}{'pip/uv att/calm':>17}{'failed':>8}"
            f"{'half-open':>11}{'flood req/s':>13}{'on disk MB':>12}")
    print(head)
    print("-" * len(head))
    met = True
    for server in dict.fromkeys(run.server for run in runs):
        group = {v: [run for run in runs if run.server == server and run.variant == v]
                 for v in VARIANTS}
        hit = group["attacked"]
        ratio = group_median(hit) / group_median(group["calm"])
        per_tool = "/".join(f"{group_median(hit, tool) / group_median(group['calm'], tool):.2f}"
                            for tool in ("pip", "uv"))
        failed = sum(len(run.failures) for run in runs if run.server == server)
        on_disk = max((run.held_on_disk for run in hit), default=0) / 2**20
        print(f"{labels[server]:<24}"
              + "".join(f"{group_median(group[v]):>{w}.1f}"
                        for v, w in zip(VARIANTS, (8, 11, 12)))
              + f"{ratio:>10.2f}{group_median(hit) / group_median(group['control']):>10.2f}"
              f"{per_tool:>17}{failed:>8}"
              f"{attack_figure(hit, 'slowloris', 'held'):>11.0f}"
              f"{attack_figure(hit, 'flooder', 'pages_per_s'):>13.0f}{on_disk:>12.1f}")
        print("  CPU s, median of the runs: " + "; ".join(
            f"{variant} " + ", ".join(
                f"{party} {statistics.median(run.cpu[party] for run in group[variant]):.1f}"
                for party in group[variant][0].cpu)
            for variant in VARIANTS if group[variant] and group[variant][0].cpu))
        for run in hit:
            flood = run.attack.get("flooder", {})
            print(f"  attacked: pages {flood.get('pages', {})}; uploads {flood.get('uploads', {})}"
                  f"; half-open {run.attack.get('slowloris', {})}; growth {run.growth}")
        for run in (run for run in runs if run.server == server):
            for failure in run.failures[:5]:
                print(f"  {run.variant} failure: {failure}")
        if server == "box":
            grew = max((run.growth.get("packages", 0) + run.growth.get("nginx temp", 0)
                        for run in hit), default=0)
            goals = {"every install succeeds": failed == 0,
                     f"attacked median within {GOAL_RATIO}x of calm": ratio <= GOAL_RATIO,
                     "no request body kept on disk, no growth": on_disk == 0 and grew <= 0}
            met = all(goals.values())
            print("  goals: " + "; ".join(f"{goal}: {'MET' if ok else 'NOT MET'}"
                                          for goal, ok in goals.items()))
    print("att/calm, att/ctrl = attacked median install time over the calm and control ones "
          "(pip/uv: per tool); half-open = connections the attacker held (median); on disk = "
          "the most bytes of temporary files the server held open at once during the attack; "
          "growth in bytes of the package directory, nginx's temporary directory and its logs.")
    return met
