"""The selection for lock files: exactly the files a lock names for each target, verified.

No resolution of ours: per target, the lock says which packages install (``lockmodel``), and of
each the files a client there takes (``selection.usable_files``: wheels whose tags it accepts,
else the sdist). Each file is looked up by name on the configured indexes' page of its project
(the lock's URLs point at whatever index it was made against) and the index's sha256 must be
the lock's. A file the index lacks or disagrees on is a failure naming it; a target the lock
cannot install on is reported (``uncovered``), since no mirror can change that.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .closure import PageSource, Selection
from .errors import MirrorError
from .lockmodel import Lock, LockedFile, LockedPackage, Uncovered
from .names import parse_filename
from .selection import Policy, usable_files
from .targets import Target
from .upstream import DistFile

WHY_NOT_SERVED = ("a mirror serves files from an index, so attendees need that source's host "
                  "to install it")


def _stand_in(package: LockedPackage, file: LockedFile) -> DistFile:
    """A file the index does not list, as the lock describes it (to choose, then report)."""
    kind, project, version, tags = parse_filename(file.filename)
    return DistFile(project=project, filename=file.filename, url=file.url or "",
                    sha256=file.sha256 or "", version=version, kind=kind, tags=tags)


class _LockSelection:
    def __init__(self, locks: Sequence[Lock], targets: Sequence[Target], policy: Policy,
                 pages: PageSource, selection: Selection, concurrency: int) -> None:
        self.locks, self.targets, self.policy = locks, targets, policy
        self.pages, self.selection, self.concurrency = pages, selection, concurrency
        self.uncovered: list[dict] = []
        self.sdist_targets: dict[tuple[str, str], list[str]] = {}  # (lock, package) -> labels
        self.files: dict[str, list[DistFile] | None] = {}

    def run(self) -> list[dict]:
        plans = []
        for lock in self.locks:
            for target in self.targets:
                try:
                    plans.append((lock, target, lock.packages_for(target)))
                except Uncovered as exc:
                    self._uncover(lock, target, str(exc))
        self._load_pages({p.name: lock.path for lock, _t, packages in plans
                          for p in packages if not p.unservable})
        for lock, target, packages in plans:
            for package in packages:
                self._place(lock, target, package)
        for (where, label), targets in sorted(self.sdist_targets.items()):
            self.selection.warn(
                f"{where}: {', '.join(targets)} get the sdist of {label}; building it there "
                "needs its build requirements, which the lock does not name (add them to "
                "packages)")
        return self.uncovered

    def _uncover(self, lock: Lock, target: Target, reason: str) -> None:
        self.uncovered.append({"lock": lock.path, "target": target.label, "reason": reason})

    def _load_pages(self, wanted: dict[str, str]) -> None:
        """The index's files of each project in ``wanted`` (project -> the lock naming it)."""
        def load(project: str):
            try:
                return project, self.pages(project), None
            except MirrorError as exc:  # one bad page must not stop the others
                return project, None, str(exc)

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for project, files, error in pool.map(load, sorted(wanted)):
                self.files[project] = files
                if error:
                    self.selection.errors[project] = error
                elif files is None:
                    self.selection.missing_projects.setdefault(project, wanted[project])

    def _place(self, lock: Lock, target: Target, package: LockedPackage) -> None:
        """Add the files ``target`` takes of ``package``, or say why they cannot be."""
        selection = self.selection
        if package.unservable:
            selection.fail(package.name, None, f"{lock.path} takes {package.label} from "
                           f"{package.unservable}: {WHY_NOT_SERVED}")
            return
        files = self.files.get(package.name)
        if files is None:
            return  # reported with the project: unknown to the index, or its page unusable
        on_index = {f.filename: f for f in files}
        locked = {f.filename: f for f in package.files}
        candidates = [on_index.get(name) or _stand_in(package, f) for name, f in locked.items()]
        chosen = usable_files(candidates, target, self.policy)
        if not chosen:
            kinds = ", ".join(sorted(locked))
            self._uncover(lock, target, f"no file of {package.label} installs there "
                                        f"(the lock names {kinds})")
            return
        for file in chosen:
            reason = self._disagreement(lock, locked[file.filename], on_index.get(file.filename))
            if reason:
                selection.fail(package.name, file.filename, reason)
                continue
            selection.add(file)
            if file.kind == "sdist":
                labels = self.sdist_targets.setdefault((lock.path, package.label), [])
                labels.append(target.label)

    @staticmethod
    def _disagreement(lock: Lock, locked: LockedFile, indexed: DistFile | None) -> str | None:
        """Why a locked file cannot be mirrored as the lock names it, or None."""
        name = locked.filename
        if indexed is None:
            return (f"{name} ({lock.path}) is missing upstream: the index's page for its "
                    "project does not list it")
        if locked.sha256 is None:
            return f"{name}: {lock.path} gives no sha256 for it, so it cannot be verified"
        if locked.sha256 != indexed.sha256:
            return (f"{name}: the index's sha256 {indexed.sha256} is not the one {lock.path} "
                    f"gives, {locked.sha256}")
        return None


def select_locked(locks: Sequence[Lock], targets: Sequence[Target], policy: Policy,
                  pages: PageSource, selection: Selection, concurrency: int = 8) -> list[dict]:
    """Add to ``selection`` the files ``locks`` name for ``targets``; return the targets a
    lock does not cover, as {lock, target, reason}."""
    return _LockSelection(locks, targets, policy, pages, selection, concurrency).run()
