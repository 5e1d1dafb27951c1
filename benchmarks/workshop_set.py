"""The workshop set both benchmarks use, fetched once from PyPI into .cache/.

`pip download` runs once per target (Python version x platform) with wheels only, the way a
user preparing a workshop does today; the union of the files is the local upstream that the
benchmarks serve. A stamp file named after the recipe makes a second call a no-op.

    python benchmarks/workshop_set.py [--set quick|workshop|classroom]   # fetch only

The sets (SETS below): `workshop`, what both benchmarks measure by default (~355 MB); `quick`, a
subset for a first look; `classroom`, a data-science course for four platforms and four
Pythons (~2.6 GB), the size of mirror that issue 5 is about ("the same gigabytes once per Pi").
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

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

    def marker_env(self) -> dict[str, str]:
        """The marker values of such a machine (pip download evaluates them for its host)."""
        system, sys_platform, machine, os_name = MARKERS[self.name]
        return {"python_version": self.python, "python_full_version": f"{self.python}.0",
                "implementation_name": "cpython", "platform_python_implementation": "CPython",
                "sys_platform": sys_platform, "platform_system": system,
                "platform_machine": machine, "os_name": os_name, "extra": ""}


PLATFORMS = {
    "manylinux-x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "macos-arm64": ("macosx_14_0_arm64",),
    "windows-x86_64": ("win_amd64",),
}
MARKERS = {
    "manylinux-x86_64": ("Linux", "linux", "x86_64", "posix"),
    "macos-arm64": ("Darwin", "darwin", "arm64", "posix"),
    "windows-x86_64": ("Windows", "win32", "AMD64", "nt"),
    "manylinux-aarch64": ("Linux", "linux", "aarch64", "posix"),
}
PYTHONS = ("3.11", "3.12")
TARGETS = [Target(py, name, plats) for py in PYTHONS for name, plats in PLATFORMS.items()]
QUICK_TARGETS = [t for t in TARGETS if t.python == "3.11" and t.name != "macos-arm64"]
# A data-science course: the workshop's projects and the heavier scientific stack, for
# attendees on Linux (x86-64 and ARM laptops or Pis), macOS and Windows, with any Python that
# is still supported (3.11-3.14 in late 2026).
CLASSROOM_PROJECTS = [*WORKSHOP_PROJECTS, "scipy", "scikit-learn", "pyarrow",
                      "opencv-python-headless", "seaborn", "polars"]
CLASSROOM_PLATFORMS = {
    **PLATFORMS,
    "manylinux-aarch64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
CLASSROOM_TARGETS = [Target(py, name, plats) for py in ("3.11", "3.12", "3.13", "3.14")
                     for name, plats in CLASSROOM_PLATFORMS.items()]


@dataclass(frozen=True)
class WorkshopSet:
    projects: list[str]
    targets: list[Target]
    # Its own directory under .cache/, so fetching one set leaves the others intact.
    directory: str

    def fetch(self, quiet: bool = False) -> Path:
        return fetch(CACHE / self.directory, self.projects, self.targets, quiet)


SETS = {
    "workshop": WorkshopSet(WORKSHOP_PROJECTS, TARGETS, "bench-upstream"),
    "quick": WorkshopSet(QUICK_PROJECTS, QUICK_TARGETS, "bench-upstream-quick"),
    "classroom": WorkshopSet(CLASSROOM_PROJECTS, CLASSROOM_TARGETS, "bench-upstream-classroom"),
}


def pip_download_args(target: Target, projects: list[str], dest: Path) -> list[str]:
    """The `pip download` command line for one target (used for the fetch and the baseline)."""
    args = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--only-binary=:all:", "--python-version", target.python,
            "--implementation", "cp", "-d", str(dest)]
    for plat in target.pip_platforms:
        args += ["--platform", plat]
    return [*args, *projects]


def pip_env(cache: Path | None = None) -> dict[str, str]:
    """pip without this machine's config (extra indexes, find-links, constraints) but with its
    CA bundle (HTTPS to PyPI may go through an egress proxy with its own CA)."""
    cert = os.environ.get("PIP_CERT")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_PROGRESS_BAR="off")
    if cert:
        env["PIP_CERT"] = cert
    if cache is not None:
        env["PIP_CACHE_DIR"] = str(cache)
    return env


def _stamp(projects: list[str], targets: list[Target]) -> str:
    recipe = json.dumps([projects, [(t.python, t.pip_platforms) for t in targets], "markers-1"])
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
        subprocess.run([*pip_download_args(target, projects, dest), "--quiet"], check=True,
                       env=pip_env())
    # `pip download --platform win_amd64` on Linux still evaluates markers for Linux, so
    # Windows/macOS-only dependencies (tzdata, colorama, pywin32, appnope...) are missing: add
    # them per target until nothing a target needs is absent.
    for _ in range(5):
        missing = missing_for_targets(dest, targets)
        if not missing:
            break
        for target, names in missing.items():
            if not quiet:
                print(f"fetch: {target.label} also needs {' '.join(sorted(names))}",
                      file=sys.stderr, flush=True)
            subprocess.run([*pip_download_args(target, sorted(names), dest), "--quiet"],
                           check=True, env=pip_env())
    stamp.touch()
    return dest


def missing_for_targets(dest: Path, targets: list[Target]) -> dict[Target, set[str]]:
    """Projects some wheel in dest requires on a target (markers evaluated there) but absent."""
    wheels = list(dest.glob("*.whl"))
    present = {canonicalize_name(parse_wheel_filename(p.name)[0]) for p in wheels}
    requires: list[Requirement] = []
    for path in wheels:
        with zipfile.ZipFile(path) as zf:
            meta = next(n for n in zf.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            headers = email.parser.BytesParser().parsebytes(zf.read(meta), headersonly=True)
        requires += [Requirement(r) for r in headers.get_all("Requires-Dist") or []]
    missing: dict[Target, set[str]] = {}
    for target in targets:
        env = target.marker_env()
        for req in requires:
            name = canonicalize_name(req.name)
            if name not in present and (req.marker is None or req.marker.evaluate(env)):
                missing.setdefault(target, set()).add(name)
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="workshop")
    parser.add_argument("--serving", action="store_true", help="fetch the serving set instead")
    opts = parser.parse_args()
    if opts.serving:
        fetch(CACHE / "bench-wheels", SERVING_PROJECTS, [TARGETS[0]])
    else:
        SETS[opts.set].fetch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
