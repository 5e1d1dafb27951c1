"""SIGKILL the mirror CLI at random points, again and again: the end result must be exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from tests.mirror.conftest import CLI, clean_env, run_cli, tree
from tests.support.upstream import Upstream

KILLS = 4


def test_killed_runs_finish_byte_identical_with_little_redownload(fixture_dir, tmp_path):
    seed = int(os.environ.get("MIRROR_KILL_SEED", time.time()))
    rng = random.Random(seed)
    # Throttled per response so that a run lasts a few seconds and kills land mid-file.
    with Upstream(fixture_dir, rate=600_000, chunk=8192) as up:
        args = ["--dest", str(tmp_path / "killed"), "--index-url", up.index_url,
                "--python-version", "3.9", "--python-version", "3.11", "--concurrency", "4",
                "click", "jinja2", "pygments", "idna", "--releases", "all"]
        kills = 0
        for _ in range(KILLS):
            proc = subprocess.Popen([sys.executable, str(CLI), *args], env=clean_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 1.3))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        code, result, stderr = run_cli(*args)
        assert code == 0 and result["complete"], stderr
        assert kills >= KILLS - 1, f"seed {seed}: runs ended before they could be killed"
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
    assert redownloaded / max(kills, 1) < 0.5 * mean_file, f"seed {seed}"
