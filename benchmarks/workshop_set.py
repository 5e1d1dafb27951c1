"""The workshop set both benchmarks use, fetched once from PyPI into .cache/.

`pip download` runs once per target (Python version x platform) with wheels only, the way a
user preparing a workshop does today; the union of the files is the local upstream that the
benchmarks serve. A stamp file named after the recipe makes a second call a no-op.

    python benchmarks/workshop_set.py [--quick]      # fetch only (also done on demand)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"

WORKSHOP_PROJECTS = ["django", "flask", "requests", "numpy", "pandas", "matplotlib", "jupyterlab"]
QUICK_PROJECTS = ["django", "flask", "requests", "numpy"]
# The wheels the serving benchmark loads into the box and installs from a client container.
SERVING_PROJECTS = ["django", "flask", "requests", "numpy", "pandas"]


@dataclass(frozen=True)
class Target:
    """One attendee environment: what `pip download` is told to pretend to be."""

    python: str
    # Name understood by `scripts/pypi-mirror --platform` (see its --help).
    name: str
    # What pip is given; pip expands manylinux/macosx tags to the older compatible ones.
    pip_platforms: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"cp{self.python.replace('.', '')}-{self.name}"


PLATFORMS = {
    "manylinux-x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "macos-arm64": ("macosx_14_0_arm64",),
    "windows-x86_64": ("win_amd64",),
}
PYTHONS = ("3.11", "3.12")
TARGETS = [Target(py, name, plats) for py in PYTHONS for name, plats in PLATFORMS.items()]
QUICK_TARGETS = [t for t in TARGETS if t.python == "3.11" and t.name != "macos-arm64"]


def pip_download_args(target: Target, projects: list[str], dest: Path) -> list[str]:
    """The `pip download` command line for one target (used for the fetch and the baseline)."""
    args = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--only-binary=:all:", "--python-version", target.python,
            "--implementation", "cp", "-d", str(dest)]
    for plat in target.pip_platforms:
        args += ["--platform", plat]
    return [*args, *projects]


def _stamp(projects: list[str], targets: list[Target]) -> str:
    recipe = json.dumps([projects, [(t.python, t.pip_platforms) for t in targets]])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def fetch(dest: Path, projects: list[str], targets: list[Target], quiet: bool = False) -> Path:
    """pip download every target into dest (once); returns dest."""
    stamp = dest / f".complete-{_stamp(projects, targets)}"
    if stamp.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for target in targets:
        if not quiet:
            print(f"fetch: pip download {' '.join(projects)} for {target.label} -> {dest}",
                  file=sys.stderr, flush=True)
        subprocess.run([*pip_download_args(target, projects, dest), "--quiet"], check=True)
    stamp.touch()
    return dest


def upstream_dir(quick: bool) -> Path:
    """Quick mode fetches a subset into its own directory so the full set stays intact."""
    return CACHE / ("bench-upstream-quick" if quick else "bench-upstream")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serving", action="store_true", help="fetch the serving set instead")
    opts = parser.parse_args()
    if opts.serving:
        fetch(CACHE / "bench-wheels", SERVING_PROJECTS, [TARGETS[0]])
    elif opts.quick:
        fetch(upstream_dir(True), QUICK_PROJECTS, QUICK_TARGETS)
    else:
        fetch(upstream_dir(False), WORKSHOP_PROJECTS, TARGETS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
