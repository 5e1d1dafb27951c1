"""Benchmark: the mirror engine vs a `pip download` loop over a weak internet link (issue 3).

Usage, from a checkout after `make venv` (needs PyPI once, to fill .cache/bench-upstream*/):

    .venv/bin/python benchmarks/mirror_weak_link.py            # full: 7 projects x 6 targets
    .venv/bin/python benchmarks/mirror_weak_link.py --quick    # 4 projects x 2 targets, ~1.5 min

Full mode moves ~0.35 GB three times over a 20 Mbit/s link: ~13 minutes (measured 12.5).

What it does, in one run:
1. fetches the workshop set once from PyPI (`pip download` per target, benchmarks/workshop_set.py)
   and serves it on 127.0.0.1 as an index with sha256, requires-python, PEP 658 metadata, PEP 691
   JSON and Range support (tests/support/upstream.py, the tests' upstream);
2. puts a weak link in front of it (benchmarks/weak_link.py: 150 ms round trip, 20 Mbit/s shared
   by all connections, a connection reset every ~30 MB on average, seeded);
3. through that link, side by side:
   (a) `pip download` once per target into one directory (what users do today), retried up to
       3 times per target as a user would, with a fresh pip cache;
   (b) `scripts/pypi-mirror` for all targets at once, from empty;
   (c) `scripts/pypi-mirror` from empty, SIGKILLed when half of (b)'s bytes have crossed the link,
       then restarted until it exits 0;
   (d) issue 10, a cutting proxy: the same upstream through the same link, but every file
       transfer is cut after --cut-mb MB and no file has a validator (ETag, Last-Modified);
   (e) issue 10, worse: every transfer cut after --cut-mb MB by a server that ignores Range, so
       a file bigger than that can never arrive; one run each, whatever its exit status;
4. checks (b) and (c): every mirrored file's sha256 equals the upstream's, (c) has the same files
   as (b), and `pip download` of every target with the mirror as its only index succeeds
   (the mirror is dependency-complete);
5. prints wall time, bytes over the link, the physical limit (payload bytes / bandwidth) and
   the ratios, with the goals of issue 3; for (d) and (e) the bytes fetched per byte mirrored,
   the wall time, and how many files arrived or failed, with the goal of issue 10 (the run
   ends, in bounded time, with a clear failure for what it cannot get and everything else
   complete).

Bytes downloaded twice = bytes that crossed the link - non-file bytes the upstream sent (index
pages, metadata, headers) - the size of the files in the result.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from weak_link import WeakLink
from workshop_set import (
    REPO,
    SETS,
    Target,
    missing_for_targets,
    pip_download_args,
    pip_env,
)

sys.path[:0] = [str(REPO / "collections"), str(REPO)]
from tests.support.upstream import Upstream as LocalIndex  # noqa: E402

ENGINE = REPO / "scripts" / "pypi-mirror"
# Goals from issue 3.
GOAL_RATIO = 1.15
GOAL_TWICE = 0.02


@dataclass
class RunResult:
    name: str
    wall: float = 0.0
    link_bytes: int = 0
    overhead_bytes: int = 0
    payload_bytes: int = 0  # size of the files in the result
    files: int = 0
    drops: int = 0
    connections: int = 0
    ok: bool = False
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def twice_bytes(self) -> int:
        return max(0, self.link_bytes - self.overhead_bytes - self.payload_bytes)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def clean_pip_env(cache: Path) -> dict[str, str]:
    """pip with no site/user config (this machine's pip.conf adds extra indexes and find-links)."""
    return pip_env(cache)


class Upstream:
    def __init__(self, directory: Path, cut_after: int = 300_000) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "support" / "upstream.py"), str(directory),
             "--cut-after", str(cut_after)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=10) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Measure:
    """Link and upstream counters between start() and stop()."""

    def __init__(self, link: WeakLink, upstream: Upstream, result: RunResult) -> None:
        self.link, self.upstream, self.result = link, upstream, result

    def __enter__(self) -> Measure:
        self.l0, self.u0, self.t0 = self.link.stats(), self.upstream.stats(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result.wall = time.monotonic() - self.t0
        l1, u1 = self.link.stats(), self.upstream.stats()
        self.result.link_bytes = l1.bytes_down - self.l0.bytes_down
        self.result.drops = l1.drops - self.l0.drops
        self.result.connections = l1.connections - self.l0.connections
        self.result.overhead_bytes = u1["overhead_bytes"] - self.u0["overhead_bytes"]


def dir_payload(directory: Path) -> tuple[int, int]:
    wheels = [p for p in directory.rglob("*.whl") if not any(
        part.startswith(".") for part in p.relative_to(directory).parts)]
    return len(wheels), sum(p.stat().st_size for p in wheels)


def run_pip_loop(targets: list[Target], projects: list[str], index: str, work: Path,
                 link: WeakLink, upstream: Upstream, timeout: float) -> RunResult:
    result = RunResult("pip download loop")
    dest = work / "pip-loop"
    env = clean_pip_env(work / "pip-cache")
    attempts = failures = 0
    deadline = time.monotonic() + timeout
    with Measure(link, upstream, result):
        for target in targets:
            for attempt in range(3):
                attempts += 1
                args = [*pip_download_args(target, projects, dest), "--index-url", index,
                        "--quiet", "--timeout", "60"]
                left = deadline - time.monotonic()
                try:
                    proc = subprocess.run(args, env=env, capture_output=True, text=True,
                                          timeout=max(left, 1))
                except subprocess.TimeoutExpired:
                    result.note = f"timed out after {timeout:.0f}s"
                    break
                if proc.returncode == 0:
                    break
                failures += 1
                err = (proc.stderr.strip().splitlines() or ["?"])[-1]
                log(f"pip download {target.label} attempt {attempt + 1} failed: {err[:160]}")
            else:
                result.note = f"{target.label} failed 3 times"
            if result.note:
                break
    result.files, result.payload_bytes = dir_payload(dest)
    result.ok = not result.note
    result.extra = {"pip runs": attempts, "failed runs": failures}
    return result


def engine_args(dest: Path, index: str, targets: list[Target], projects: list[str],
                concurrency: int | None) -> list[str]:
    args = [str(ENGINE), "--dest", str(dest), "--index-url", index, "--package-type", "wheel",
            "--json"]
    for py in sorted({t.python for t in targets}):
        args += ["--python-version", py]
    for plat in sorted({t.name for t in targets}, key=[t.name for t in targets].index):
        args += ["--platform", plat]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    return [*args, *projects]


def _failures(stdout: str) -> list[str]:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return [f["reason"] for f in json.loads(stdout)["failures"]]
    return []


def _summarize_json(stdout: str) -> dict[str, object]:
    with contextlib.suppress(ValueError, IndexError):
        data = json.loads(stdout)
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool))}
    return {}


def run_engine(name: str, args: list[str], dest: Path, link: WeakLink, upstream: Upstream,
               timeout: float, kill_at_bytes: int | None = None, max_runs: int = 6,
               once: bool = False) -> RunResult:
    """Runs the engine until it exits 0; optionally SIGKILLs the first run at kill_at_bytes.

    ``once``: one run, which succeeds when it ends by itself (0: complete, 1: a failures list).
    """
    result = RunResult(name)
    runs, kills, codes = 0, 0, []
    deadline = time.monotonic() + timeout
    with Measure(link, upstream, result) as m:
        while runs < max_runs and time.monotonic() < deadline:
            runs += 1
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
            out: list[str] = []
            err: list[str] = []
            readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
                       for s, b in ((proc.stdout, out), (proc.stderr, err))]
            for t in readers:
                t.start()
            killed = False
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    result.note = f"timed out after {timeout:.0f}s"
                    break
                if kill_at_bytes is not None and kills == 0 and \
                        link.stats().bytes_down - m.l0.bytes_down >= kill_at_bytes:
                    # The whole process group: a power cut leaves no child behind either.
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    kills += 1
                    log(f"{name}: SIGKILL after {(time.monotonic() - m.t0):.1f}s at "
                        f"{kill_at_bytes / 1e6:.0f} MB over the link; restarting")
                    break
                time.sleep(0.1)
            proc.wait()
            for t in readers:
                t.join(10)
            codes.append(proc.returncode)
            if killed:
                continue
            if proc.returncode == 0 or (once and proc.returncode == 1):
                result.ok = True
                result.extra.update(_summarize_json("".join(out)))
                if once:
                    result.extra["failures"] = _failures("".join(out))
                break
            if result.note:
                break
            log(f"{name}: run {runs} exited {proc.returncode}: "
                f"{''.join(err).strip().splitlines()[-3:] if ''.join(err).strip() else ''}")
            if proc.returncode == 2:
                result.note = "engine rejected its input (exit 2)"
                break
    result.files, result.payload_bytes = dir_payload(dest / "files") if (dest / "files").is_dir() \
        else dir_payload(dest)
    result.extra.update({"runs": runs, "kills": kills, "exit codes": codes})
    if not result.ok and not result.note:
        result.note = f"did not complete in {runs} runs"
    return result


def verify(dest: Path, upstream_hashes: dict[str, str]) -> tuple[int, list[str]]:
    """sha256 of every mirrored wheel vs the upstream's; returns (#verified, problems)."""
    problems: list[str] = []
    ok = 0
    for path in sorted(dest.rglob("*.whl")):
        if any(part.startswith(".") for part in path.relative_to(dest).parts):
            continue
        want = upstream_hashes.get(path.name)
        if want is None:
            problems.append(f"{path.name}: not an upstream file")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != want:
            problems.append(f"{path.name}: sha256 differs from upstream")
        else:
            ok += 1
    return ok, problems


def closure_check(dest: Path, targets: list[Target], projects: list[str], work: Path) -> list[str]:
    """pip download every target with the mirror (served locally) as the only index."""
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                               "0", "--directory", str(dest)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    problems = []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)"
        port = int(line.split(" port ")[1].split()[0])
        env = clean_pip_env(work / "closure-cache")
        for target in targets:
            args = [*pip_download_args(target, projects, work / "closure"), "--quiet",
                    "--index-url", f"http://127.0.0.1:{port}/simple/"]
            proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                problems.append(f"{target.label}: {last[:200]}")
    finally:
        server.terminate()
        server.wait(10)
    return problems


def fmt_mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def report(results: list[RunResult], rate: float, opts: argparse.Namespace,
           checks: list[tuple[str, bool, str]]) -> None:
    print()
    print(f"Weak link: {opts.rtt_ms:.0f} ms round trip, {opts.mbit:g} Mbit/s shared, "
          f"a reset every {opts.drop_mb:g} MB on average (seed {opts.seed})")
    head = (f"{'run':<28}{'wall s':>9}{'link MB':>10}{'files':>7}{'payload MB':>12}"
            f"{'limit s':>9}{'x limit':>9}{'twice MB':>10}{'twice %':>9}{'drops':>7}  ok")
    print(head)
    print("-" * len(head))
    for r in results:
        limit = r.payload_bytes / rate if r.payload_bytes else 0
        ratio = r.wall / limit if limit else float("nan")
        twice_pct = 100 * r.twice_bytes / r.payload_bytes if r.payload_bytes else float("nan")
        print(f"{r.name:<28}{r.wall:>9.1f}{fmt_mb(r.link_bytes):>10}{r.files:>7}"
              f"{fmt_mb(r.payload_bytes):>12}{limit:>9.1f}{ratio:>9.2f}"
              f"{fmt_mb(r.twice_bytes):>10}{twice_pct:>9.2f}{r.drops:>7}  "
              f"{'yes' if r.ok else 'NO'}{'  ' + r.note if r.note else ''}")
    for r in results:
        if r.extra:
            print(f"  {r.name}: " + ", ".join(f"{k}={v}" for k, v in r.extra.items()
                                              if k != "failures"))
    by = {r.name: r for r in results}
    pip, eng, kill = by.get("pip download loop"), by.get("engine"), by.get("engine, killed halfway")
    print("\nAgainst the goals of issue 3:")
    if eng and eng.ok and eng.payload_bytes:
        ratio = eng.wall / (eng.payload_bytes / rate)
        print(f"  engine wall / physical limit    = {ratio:.2f}x  (goal <= {GOAL_RATIO}x) "
              f"{'MET' if ratio <= GOAL_RATIO else 'NOT MET'}")
        if pip and pip.ok:
            print(f"  pip loop wall / engine wall     = {pip.wall / eng.wall:.2f}x "
                  f"(pip loop / its own limit = {pip.wall / (pip.payload_bytes / rate):.2f}x)")
    if kill and kill.payload_bytes:
        share = kill.twice_bytes / kill.payload_bytes
        met = "MET" if share < GOAL_TWICE and kill.ok else "NOT MET"
        print(f"  bytes twice across the kill     = {100 * share:.2f}%  "
              f"(goal < {100 * GOAL_TWICE:g}%) {met}")
        if eng and eng.ok:
            extra = (kill.twice_bytes - eng.twice_bytes) / kill.payload_bytes
            print(f"  of which the kill itself        = {100 * extra:.2f}%  (the rest: resets; the "
                  f"clean run lost {100 * eng.twice_bytes / eng.payload_bytes:.2f}% to them)")
            print(f"  killed+restarted / clean run    = {kill.wall / eng.wall:.2f}x wall time")
    for name, ok, detail in checks:
        print(f"  {name:<32}= {'OK' if ok else 'FAILED'}{'  ' + detail if detail else ''}")
    hostile = [r for r in results if r.name.startswith(("cut,", "ignores Range"))]
    if hostile and eng and eng.payload_bytes:
        print(f"\nAgainst the goal of issue 10 (the clean run's mirror: {eng.files} files, "
              f"{fmt_mb(eng.payload_bytes)} MB):")
    for r in hostile:
        failures = r.extra.get("failures", [])
        print(f"  {r.name:<38} wall {r.wall:6.1f}s, fetched/mirrored "
              f"{r.link_bytes / max(1, r.payload_bytes):.2f}x "
              f"({fmt_mb(r.link_bytes)} MB for {fmt_mb(r.payload_bytes)} MB), "
              f"{r.files} files arrived, {len(failures)} failed; "
              f"{'ended by itself' if r.ok else 'DID NOT END: ' + r.note}")
        for reason in failures[:3]:
            print(f"      {reason[:150]}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Mirror engine vs pip download loop over a weak link (issue 3).",
        epilog="See the top of this file for what is measured.")
    parser.add_argument("--quick", action="store_true", help="4 projects x 2 targets")
    parser.add_argument("--rtt-ms", type=float, default=150, help="round-trip time (150)")
    parser.add_argument("--mbit", type=float, default=20, help="link bandwidth (20 Mbit/s)")
    parser.add_argument("--drop-mb", type=float, default=None,
                        help="mean MB between connection resets (30; quick: 10); 0 = none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=None, help="engine --concurrency")
    parser.add_argument("--skip-pip", action="store_true", help="skip the pip download loop")
    parser.add_argument("--no-closure-check", action="store_true")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per run (default: 6x the physical limit + 120)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--cut-mb", type=float, default=2.0,
                        help="where the runs of issue 10 cut every file transfer (2 MB)")
    parser.add_argument("--skip-hostile", action="store_true",
                        help="skip the runs of issue 10 (cutting proxy, ignored Range)")
    opts = parser.parse_args()
    if opts.drop_mb is None:
        opts.drop_mb = 10 if opts.quick else 30

    workshop = SETS["quick" if opts.quick else "workshop"]
    projects, targets = workshop.projects, workshop.targets
    source = workshop.fetch()
    served = LocalIndex(source)  # what the upstream program will announce, read the same way
    upstream_hashes = {name: served.announced(name).sha256 for name in served.content}
    total = served.total_bytes()
    rate = opts.mbit * 1e6 / 8
    timeout = opts.timeout or 6 * total / rate + 120
    log(f"upstream: {len(upstream_hashes)} wheels, {fmt_mb(total)} MB "
        f"(physical limit {total / rate:.0f}s at {opts.mbit:g} Mbit/s)")

    work_ctx = contextlib.nullcontext(opts.keep) if opts.keep else \
        tempfile.TemporaryDirectory(prefix="piab-bench-mirror-")
    with work_ctx as work_dir:
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        upstream = Upstream(source, cut_after=int(opts.cut_mb * 1e6))
        link = WeakLink(("127.0.0.1", upstream.port), opts.rtt_ms, opts.mbit,
                        opts.drop_mb or None, opts.seed)
        base = f"http://127.0.0.1:{link.start()}"
        index = f"{base}/simple/"
        results: list[RunResult] = []
        checks: list[tuple[str, bool, str]] = []
        info: list[str] = []
        try:
            if not opts.skip_pip:
                log("(a) pip download, one run per target, through the weak link")
                results.append(run_pip_loop(targets, projects, index, work, link, upstream,
                                            timeout))
            if not ENGINE.exists():
                log(f"{ENGINE.relative_to(REPO)} does not exist yet: engine runs skipped")
                results.append(RunResult("engine", note="scripts/pypi-mirror missing"))
            else:
                log("(b) the engine from empty, through the weak link")
                clean = run_engine("engine", engine_args(work / "engine", index, targets,
                                                         projects, opts.concurrency),
                                   work / "engine", link, upstream, timeout)
                results.append(clean)
                half = (clean.link_bytes or total) // 2
                log("(c) the engine from empty, SIGKILLed halfway, restarted")
                killed = run_engine("engine, killed halfway",
                                    engine_args(work / "engine-kill", index, targets, projects,
                                                opts.concurrency),
                                    work / "engine-kill", link, upstream, timeout,
                                    kill_at_bytes=half)
                results.append(killed)
                for r, d in ((clean, work / "engine"), (killed, work / "engine-kill")):
                    n, problems = verify(d, upstream_hashes)
                    checks.append((f"sha256 vs upstream ({r.name.split(',')[0]}"
                                   f"{', kill' if d.name.endswith('kill') else ''})",
                                   bool(n) and not problems,
                                   f"{n} files verified" + (f"; {problems[:3]}" if problems
                                                            else "")))
                names_clean = {p.name for p in (work / "engine").rglob("*.whl")
                               if "/." not in str(p)}
                names_kill = {p.name for p in (work / "engine-kill").rglob("*.whl")
                              if "/." not in str(p)}
                checks.append(("killed run == clean run", names_clean == names_kill
                               and bool(names_clean),
                               f"{len(names_kill ^ names_clean)} files differ"))
                if not opts.skip_pip:
                    # Informational: pip evaluates markers for this host, not the target.
                    gaps = missing_for_targets(work / "pip-loop", targets)
                    info.append("pip loop result misses, per target: " + (
                        "; ".join(f"{t.label}: {' '.join(sorted(n))}" for t, n in gaps.items())
                        if gaps else "nothing"))
                    pip_names = {p.name for p in (work / "pip-loop").glob("*.whl")}
                    missing = sorted(pip_names - names_clean)
                    checks.append(("engine has pip loop's files", not missing,
                                   f"missing {len(missing)}: {missing[:3]}" if missing else
                                   f"{len(pip_names)} files, engine has "
                                   f"{len(names_clean - pip_names)} more"))
                if not opts.skip_hostile:
                    for name, route in (("cut, no validators", "no-validators,cut"),
                                        ("ignores Range, cuts", "ignore-range,cut")):
                        log(f"({'d' if 'no' in route else 'e'}) the engine from empty, every "
                            f"file transfer cut after {opts.cut_mb:g} MB, {name}")
                        dest = work / route.replace(",", "-")
                        results.append(run_engine(
                            name, engine_args(dest, f"{base}/~{route}/simple/", targets,
                                              projects, opts.concurrency),
                            dest, link, upstream, timeout, once=True))
                if not opts.no_closure_check and clean.ok:
                    log("closure check: pip download of every target from the mirror alone")
                    problems = closure_check(work / "engine", targets, projects, work)
                    checks.append(("pip resolves from the mirror", not problems,
                                   "; ".join(problems[:2]) if problems else
                                   f"{len(targets)} targets"))
        finally:
            link.stop()
            upstream.stop()
        report(results, rate, opts, checks)
        for line in info:
            print(f"  {line}")
    failed = [r for r in results if not r.ok] + [c for c in checks if not c[1]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
