"""What to mirror: requirements in, releases and files out.

The filters are allow-lists, each a small named function with one job, applied per target:
requires-python, wheel tags (against the tags ``packaging.tags`` computes for the target),
package type, size cap, yanked, prereleases, and the release policy (latest / latest N / all).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
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


def parse_requirement(text: str, origin: str = "packages") -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise MirrorInputError(f"{origin}: invalid requirement {text!r}: {exc}") from None
    if requirement.url:
        raise MirrorInputError(
            f"{origin}: {text!r} is a direct URL reference; a mirror can only take named projects"
        )
    return requirement


def read_requirements_file(path: Path, _seen: set[Path] | None = None) -> list[Requirement]:
    """Requirements from a pip-style file: comments, continuations and nested ``-r``."""
    seen = _seen if _seen is not None else set()
    path = Path(path)
    resolved = path.resolve()
    if resolved in seen:
        return []
    seen.add(resolved)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MirrorInputError(f"requirements file {path}: {exc.strerror or exc}") from None
    logical_lines: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            buffer += raw[:-1]
            continue
        logical_lines.append(buffer + raw)
        buffer = ""
    if buffer:
        logical_lines.append(buffer)
    result = []
    for number, line in enumerate(logical_lines, start=1):
        # A comment starts at '#' preceded by whitespace or at line start (pip's rule).
        if line.lstrip().startswith("#"):
            continue
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line:
            continue
        origin = f"{path}:{number}"
        if line.startswith("-"):
            words = shlex.split(line)
            option = words[0]
            if option in ("-r", "--requirement", "-c", "--constraint") and len(words) == 2:
                if option in ("-r", "--requirement"):
                    result.extend(read_requirements_file(path.parent / words[1], seen))
                continue
            if option.startswith(("-r", "--requirement=")):
                nested = option[2:] if option.startswith("-r") else option.split("=", 1)[1]
                result.extend(read_requirements_file(path.parent / nested, seen))
                continue
            raise MirrorInputError(
                f"{origin}: option {option!r} is not supported in a mirror requirements file; "
                "use only requirement lines and -r"
            )
        result.append(parse_requirement(line, origin))
    return result


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
