"""Constraints and hashes: what a requirements file allows of a project, on every edge.

A ``-c`` constraint, and a requirement line with ``--hash`` (pip's hash-checking mode installs
nothing but what the file pins), restrict every release the closure selects for that project,
whoever asks for it, on each target where the line's marker holds. A constraint no release
satisfies, and a release whose files match none of the hashes given for it, are failures that
name the line (and the file); they never shrink the selection silently.

Hashes are applied as pip applies them: of a pinned release, the files whose sha256 is listed
are the candidates, so a target whose preferred file is not listed gets a listed one instead
(reported), and a release with no listed file for a target fails, naming the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from .reqfile import Line
from .selection import Policy, select_releases, usable_files
from .targets import Target
from .upstream import DistFile


@dataclass
class Pick:
    """The releases chosen for one requirement edge on one target, and what went wrong."""

    releases: dict[Version, list[DistFile]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)  # {project, file, reason}
    warnings: list[str] = field(default_factory=list)


def _holds(line: Line, target: Target) -> bool:
    marker = line.requirement.marker
    return marker is None or marker.evaluate(target.marker_environment())


def _origins(lines: Sequence[Line]) -> str:
    return ", ".join(line.origin for line in lines)


class Constraints:
    """Lines that restrict a project's releases (and files) for every requirement edge."""

    def __init__(self, lines: Iterable[Line] = ()) -> None:
        self._by_project: dict[str, list[Line]] = {}
        for line in lines:
            self._by_project.setdefault(canonicalize_name(line.requirement.name), []).append(line)

    def applying(self, project: str, target: Target) -> list[Line]:
        return [line for line in self._by_project.get(project, []) if _holds(line, target)]

    def pick(self, project: str, files: Sequence[DistFile], specifier: SpecifierSet,
             target: Target, policy: Policy, asked_by: str) -> Pick:
        """The releases of ``project`` for one edge (``specifier``, from ``asked_by``)."""
        lines = self.applying(project, target)
        if not lines:
            return Pick(select_releases(files, specifier, target, policy))
        combined = SpecifierSet(str(specifier))
        for line in lines:
            combined &= line.requirement.specifier
        chosen = select_releases(files, combined, target, policy)
        if not chosen:
            if not select_releases(files, specifier, target, policy):
                return Pick()  # nothing matches anyway: the closure's own warning says so
            return Pick(failures=[{
                "project": project, "file": None,
                "reason": f"{project}{specifier} (needed by {asked_by}): no release satisfies "
                          f"the constraint "
                          f"{', '.join(str(line.requirement.specifier) for line in lines)} "
                          f"({_origins(lines)})",
            }])
        hashed = [line for line in lines if line.hashes]
        if not hashed:
            return Pick(chosen)
        allowed = frozenset.intersection(*(line.hashes for line in hashed))
        pick = Pick()
        for version, preferred in chosen.items():
            release = [f for f in files if f.version == version and f.sha256 in allowed]
            kept = usable_files(release, target, policy)
            if not kept:
                pick.failures += [{
                    "project": project, "file": f.filename,
                    "reason": f"{f.filename}: its sha256 {f.sha256} is none of the hashes "
                              f"{_origins(hashed)} give for {project}=={version}, and no "
                              "other file of that release that installs there has one",
                } for f in preferred]
                continue
            pick.releases[version] = kept
            for f in preferred:
                if f not in kept:
                    pick.warnings.append(
                        f"{f.filename}: its sha256 is none of the hashes {_origins(hashed)} "
                        f"give; {target.label} gets {', '.join(k.filename for k in kept)} "
                        "instead, as pip would")
        return pick
