"""What to mirror of a project: its releases and files, per target.

The filters are allow-lists, each a small named function with one job, applied per target:
requires-python, wheel tags (against the tags ``packaging.tags`` computes for the target),
package type, size cap, yanked, prereleases, and the release policy (latest / latest N / all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .errors import MirrorInputError
from .targets import Target
from .upstream import DistFile

PACKAGE_TYPES = ("wheel", "sdist")


@dataclass(frozen=True)
class Policy:
    """User choices that shape the selection."""

    package_types: frozenset = frozenset(PACKAGE_TYPES)
    releases: str | int = "latest"  # "latest", "all" or a count
    prereleases: bool = False
    max_file_size: int | None = None


def parse_releases(value: str | int) -> str | int:
    text = str(value).strip().lower()
    if text in ("latest", "all"):
        return text
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise MirrorInputError(
            f"releases must be 'latest', 'all' or a positive count, not {value!r}"
        )
    return "latest" if count == 1 else count


def parse_package_types(values: Sequence[str]) -> frozenset:
    bad = [v for v in values if v not in PACKAGE_TYPES]
    if bad or not values:
        raise MirrorInputError(
            f"package_types must be a non-empty list of {', '.join(PACKAGE_TYPES)}; "
            f"got {list(values)}"
        )
    return frozenset(values)


# -- per-file filters (each answers: may this file serve this target?) -------------------------
def requires_python_ok(file: DistFile, target: Target) -> bool:
    if not file.requires_python:
        return True
    try:
        spec = SpecifierSet(file.requires_python)
    except InvalidSpecifier:
        return True  # pip ignores an invalid requires-python too
    return spec.contains(target.python_minor, prereleases=True)


def tags_ok(file: DistFile, target: Target) -> bool:
    return file.kind != "wheel" or bool(file.tags & target.supported_tags)


def size_ok(file: DistFile, policy: Policy) -> bool:
    return policy.max_file_size is None or file.size is None or file.size <= policy.max_file_size


def usable_files(files: Iterable[DistFile], target: Target, policy: Policy) -> list[DistFile]:
    """The files of one release a client on ``target`` could install, per the policy.

    Wheels win; the sdist is kept only where the target has no wheel (or only sdists are
    wanted), so a mirror for laptops does not carry a source archive per release for nothing.
    """
    candidates = [f for f in files if requires_python_ok(f, target) and size_ok(f, policy)]
    wheels = [f for f in candidates if f.kind == "wheel" and tags_ok(f, target)]
    if "wheel" in policy.package_types and wheels:
        return sorted(wheels, key=lambda f: f.filename)
    if "sdist" in policy.package_types:
        sdists = sorted(
            (f for f in candidates if f.kind == "sdist"),
            key=lambda f: (not f.filename.endswith(".tar.gz"), f.filename),
        )
        return sdists[:1]
    return []


def _allows_yanked(specifier: SpecifierSet) -> bool:
    """PEP 592: a yanked release is still chosen for an exact pin."""
    return any(s.operator in ("==", "===") and not s.version.endswith(".*") for s in specifier)


def select_releases(
    files: Sequence[DistFile], specifier: SpecifierSet, target: Target, policy: Policy
) -> dict[Version, list[DistFile]]:
    """Releases of one project to mirror for one requirement on one target, with their files."""
    by_version: dict[Version, list[DistFile]] = {}
    for file in files:
        by_version.setdefault(file.version, []).append(file)
    usable: dict[Version, list[DistFile]] = {}
    allow_yanked = _allows_yanked(specifier)
    for version, release_files in by_version.items():
        live = [f for f in release_files if f.yanked is None or allow_yanked]
        chosen = usable_files(live, target, policy)
        if chosen:
            usable[version] = chosen
    matching = list(
        specifier.filter(usable.keys(), prereleases=True if policy.prereleases else None)
    )
    matching.sort(reverse=True)
    if policy.releases == "latest":
        matching = matching[:1]
    elif isinstance(policy.releases, int):
        matching = matching[: policy.releases]
    return {version: usable[version] for version in matching}
