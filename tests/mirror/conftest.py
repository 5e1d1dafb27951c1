"""Fixtures of the mirror tests: real distributions, a local upstream, ways to run the mirror."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine, transport

from tests.support.fetch_fixtures import ensure_fixtures
from tests.support.upstream import Upstream

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "scripts" / "pypi-mirror"
TWO_PYTHONS = ["3.9", "3.11"]


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return ensure_fixtures()


@pytest.fixture
def upstream(fixture_dir):
    # pygments offers no PEP 658 metadata, so its METADATA must come out of the wheel.
    with Upstream(fixture_dir, no_metadata_projects=["pygments"]) as server:
        yield server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Retries in tests back off for milliseconds, not seconds (the logic is the same)."""
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.01)


@pytest.fixture
def mirror(tmp_path):
    """Run the engine in-process: mirror(upstream, *requirements, **options) -> result."""

    def run(upstream, *packages, check_mode=False, dest=None, **options):
        options.setdefault("python_versions", TWO_PYTHONS)
        opts = engine.Options(dest=str(dest or tmp_path / "mirror"), packages=list(packages),
                              index_url=upstream.index_url, **options)
        return engine.run(opts, check_mode=check_mode)

    return run


def clean_env() -> dict:
    """The environment for real clients: no pip/uv configuration from this machine leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


# Runs a command and reports, on its last line of stderr, the largest resident set of any
# process in its tree (RUSAGE_CHILDREN covers every descendant that was waited for).
_MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print("maxrss", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _measured(command: list[str], env: dict, timeout: float, cwd=None) -> tuple:
    """(exit code, stdout, stderr, max RSS in bytes) of ``command``."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd)
    stderr, _, last = proc.stderr.rstrip().rpartition("\n")
    return proc.returncode, proc.stdout, stderr, int(last.split()[1]) * 1024


def measured_cli(args: list[str], timeout: float = 120) -> tuple:
    """scripts/pypi-mirror --json ARGS: (exit code, parsed JSON or None, stderr, max RSS)."""
    code, stdout, stderr, rss = _measured([sys.executable, str(CLI), "--json", *args],
                                          clean_env(), timeout)
    try:
        result = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        result = None
    return code, result, stderr, rss


def run_cli(*args: str, timeout: float = 120) -> tuple:
    """Run scripts/pypi-mirror --json ...; returns (exit code, parsed JSON or None, stderr)."""
    return measured_cli(list(args), timeout)[:3]


def measured_module(module: str, module_args: str, *extra: str, timeout: float = 180) -> tuple:
    """One of our modules on localhost through real Ansible: (exit code, task result, stderr,
    max RSS of any process of the run, Ansible's included)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    ansible = str(Path(sys.executable).parent / "ansible")
    code, stdout, stderr, rss = _measured(
        [ansible, "localhost", "-m", f"pypi_in_a_box.pi.{module}", "-a", module_args, *extra],
        env, timeout, cwd="/")  # not the repo's ansible.cfg: plain JSON out
    data = json.loads(stdout)
    return code, data["plays"][0]["tasks"][0]["hosts"]["localhost"], stderr, rss


def run_module(module: str, module_args: str, *extra: str) -> tuple:
    """Run one of our modules on localhost through real Ansible; (exit code, task result)."""
    return measured_module(module, module_args, *extra)[:2]


def tree(root: Path) -> dict:
    """Every visible file under root (relative path -> bytes); dot-names are internal."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }
