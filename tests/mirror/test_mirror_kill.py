"""SIGKILL the mirror CLI at random points, again and again: the end result must be exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.transport import CHUNK

from tests.mirror.conftest import CLI, clean_env, run_cli, tree
from tests.support.upstream import Upstream

KILLS = 4
CONCURRENCY = 4
UPSTREAM_PIECE = 8192


def test_killed_runs_finish_byte_identical_with_little_redownload(fixture_dir, tmp_path):
    seed = int(os.environ.get("MIRROR_KILL_SEED", time.time()))
    rng = random.Random(seed)
    # Throttled per response so that kills land mid-file.
    with Upstream(fixture_dir, rate=600_000, chunk=UPSTREAM_PIECE) as up:
        args = ["--dest", str(tmp_path / "killed"), "--index-url", up.index_url,
                "--python-version", "3.9", "--python-version", "3.11",
                "--concurrency", str(CONCURRENCY), "--releases", "all",
                "click", "jinja2", "pygments", "idna"]
        code, plan, stderr = run_cli(*args, "--check")
        assert code == 0, stderr
        to_download = plan["would_download"]["bytes"]
        kills = 0
        for _ in range(KILLS):
            # Kill on progress, not on a clock: each run dies after the upstream has sent it a
            # random 5-15 % of the whole, so 4 kills always land mid-job however fast the host.
            kill_after = sum(up.served.values()) + rng.uniform(0.05, 0.15) * to_download
            proc = subprocess.Popen([sys.executable, str(CLI), *args], env=clean_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if sum(up.served.values()) >= kill_after:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.005)
            proc.wait()
        code, result, stderr = run_cli(*args)
        assert code == 0 and result["complete"], stderr
        assert kills == KILLS, f"seed {seed}: a run ended before it could be killed"
        served_files = {n: b for n, b in up.served.items() if b}
        needed = {f.split("/")[-1] for f in tree(tmp_path / "killed") if f.startswith("files/")
                  and not f.endswith(".metadata")}
        total = up.total_bytes(needed)
        redownloaded = sum(served_files.values()) - total
        # one last run finds nothing to do
        code, again, _ = run_cli(*args)
        assert code == 0 and again["changed"] is False and again["downloaded"]["count"] == 0

    # Compare with an uninterrupted run: the same files, the same index, byte for byte.
    with Upstream(fixture_dir) as clean_up:
        clean_args = [a if a != up.index_url else clean_up.index_url for a in args]
        clean_args[1] = str(tmp_path / "clean")
        code, _, _ = run_cli(*clean_args)
        assert code == 0
    assert tree(tmp_path / "killed") == tree(tmp_path / "clean")
    for name in needed:
        project = name.split("-")[0].lower()
        assert (tmp_path / "killed/files" / project / name).read_bytes() == up.content[name]

    mean_file = total / len(needed)
    print(f"seed={seed} kills={kills} files={len(needed)} bytes={total} "
          f"redownloaded={redownloaded} ({redownloaded / max(kills, 1):.0f} per kill, "
          f"mean file {mean_file:.0f})")
    assert redownloaded >= 0
    # A kill may only lose what was in flight: per connection, the engine's unwritten read
    # buffer plus the piece the upstream had just sent. A run restarting files from zero would
    # re-fetch whole files (mean above) and exceed this.
    in_flight = CONCURRENCY * (CHUNK + UPSTREAM_PIECE)
    assert redownloaded <= kills * in_flight, f"seed {seed}"
