"""The dependency closure: from the requested projects to everything they need, per target.

Each requirement edge is evaluated per target (markers with that target's environment, extras
as requested) and selects releases on its own, within the constraints of requirements files
(``constraints``: -c lines and hashed pins hold on every edge, dependencies included). The
union over edges is a superset of what any resolver on that target can pick, so an offline
install never meets a missing dependency.
Work proceeds in waves so that project pages and metadata of one wave are fetched in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .constraints import Constraints
from .errors import MirrorError
from .selection import Policy
from .targets import Target
from .upstream import DistFile

# What installing a file needs (Requires-Dist, and build requirements for an sdist); raises
# MirrorError when that cannot be known.
DependencySource = Callable[[DistFile], list[Requirement]]
# A project's files, None for an unknown project; raises MirrorError for an unusable page.
PageSource = Callable[[str], Optional[list[DistFile]]]


@dataclass(frozen=True)
class Need:
    """One requirement edge on one target."""

    project: str
    specifier: str
    extras: frozenset[str]
    target: int  # index into the target list
    parent: str  # who asked, for messages


@dataclass
class Selection:
    """The outcome: files to mirror per project, and what could not be satisfied."""

    files: dict[str, dict[str, DistFile]] = field(default_factory=dict)  # project -> name -> f
    requested: set[str] = field(default_factory=set)  # roots some target needs
    missing_projects: dict[str, str] = field(default_factory=dict)  # project -> who asked
    unsatisfied: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # project -> page/metadata error
    problems: list[dict] = field(default_factory=list)  # {project, file, reason}: failures

    def add(self, file: DistFile) -> None:
        self.files.setdefault(file.project, {}).setdefault(file.filename, file)

    def fail(self, project: str, file: str | None, reason: str) -> None:
        _append_once(self.problems, {"project": project, "file": file, "reason": reason})

    def warn(self, message: str) -> None:
        _append_once(self.unsatisfied, message)


def _marker_ok(marker: Marker | None, target: Target, extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate(target.marker_environment(extra)) for extra in ("", *extras))


def _needs_from(requirement: Requirement, targets: Sequence[Target], parent: str,
                extras_of_parent: frozenset[str] = frozenset(),
                only_target: int | None = None) -> list[Need]:
    result = []
    for index, target in enumerate(targets):
        if only_target is not None and index != only_target:
            continue
        if _marker_ok(requirement.marker, target, extras_of_parent):
            result.append(Need(
                canonicalize_name(requirement.name),
                str(requirement.specifier),
                frozenset(canonicalize_name(e) for e in requirement.extras),
                index,
                parent,
            ))
    return result


def compute_closure(
    roots: Sequence[Requirement],
    targets: Sequence[Target],
    policy: Policy,
    pages: PageSource,
    dependencies: DependencySource,
    follow_dependencies: bool = True,
    concurrency: int = 8,
    constraints: Constraints | None = None,
) -> Selection:
    """Select files for ``roots`` and everything they need on each target, each edge within
    ``constraints``."""
    from packaging.specifiers import SpecifierSet

    constraints = constraints or Constraints()
    selection = Selection()
    pending: list[Need] = []
    for requirement in roots:
        pending += _needs_from(requirement, targets, "requested")
    selection.requested = {need.project for need in pending}
    seen_needs: set[Need] = set()
    expanded: set[tuple[str, Version, int, frozenset[str]]] = set()
    page_cache: dict[str, list[DistFile] | None] = {}
    dependency_cache: dict[str, list[Requirement] | None] = {}

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while pending:
            wave = []
            for need in pending:
                key = Need(need.project, need.specifier, need.extras, need.target, "")
                if key not in seen_needs:
                    seen_needs.add(key)
                    wave.append(need)
            pending = []
            new_projects = sorted({n.project for n in wave} - page_cache.keys())

            def load(project: str):
                try:
                    return project, pages(project), None
                except MirrorError as exc:  # one bad project must not stop the others
                    return project, None, str(exc)

            for project, files, error in pool.map(load, new_projects):
                page_cache[project] = files
                if error:
                    selection.errors[project] = error

            to_expand: list[tuple[Need, Version, DistFile]] = []
            for need in wave:
                files = page_cache.get(need.project)
                if files is None:
                    if need.project not in selection.errors:
                        selection.missing_projects.setdefault(need.project, need.parent)
                    continue
                target = targets[need.target]
                pick = constraints.pick(need.project, files, SpecifierSet(need.specifier),
                                        target, policy, need.parent)
                for failure in pick.failures:
                    selection.fail(**failure)
                for warning in pick.warnings:
                    selection.warn(warning)
                if not pick.releases:
                    if not pick.failures:
                        selection.warn(f"{need.project}{need.specifier or ''} (needed by "
                                       f"{need.parent}): no release matches {target.label}")
                    continue
                for version, release_files in pick.releases.items():
                    for file in release_files:
                        selection.add(file)
                    key = (need.project, version, need.target, need.extras)
                    if follow_dependencies and key not in expanded:
                        expanded.add(key)
                        to_expand.append((need, version, release_files[0]))

            wanted = sorted({f.filename: f for _, _, f in to_expand}.items())
            wanted = [(name, f) for name, f in wanted if name not in dependency_cache]

            def read(item):
                name, file = item
                try:
                    return name, file.project, dependencies(file), None
                except MirrorError as exc:
                    return name, file.project, None, f"{name}: metadata unavailable: {exc}"

            for name, project, requirements, error in pool.map(read, wanted):
                dependency_cache[name] = requirements
                if error:
                    selection.errors.setdefault(project, error)

            for need, version, file in to_expand:
                requirements = dependency_cache.get(file.filename)
                if requirements is None:
                    continue
                parent = f"{need.project}=={version}"
                for requirement in requirements:
                    if requirement.url:
                        continue
                    pending += _needs_from(requirement, targets, parent, need.extras,
                                           only_target=need.target)
    return selection


def _append_once(items: list, item) -> None:
    if item not in items:
        items.append(item)
