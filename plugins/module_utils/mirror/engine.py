"""One mirror run: validate into a plan, select (with the dependency closure), check the room,
download, write the index.

Whatever an upstream sends, a run ends: every request is bounded (``transport``), and what goes
wrong with one project or file becomes an entry in the result's ``failures`` while the rest is
mirrored and indexed. Only a problem with the whole run stops it before anything is written:
bad input (``MirrorInputError``), an index that cannot be used or is not an index
(``UpstreamError``), or a selection that does not fit on the disk (``NoRoom``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, make_dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement

from . import index as static_index
from . import lockfiles
from . import options as option_table
from .closure import Selection, compute_closure
from .constraints import Constraints
from .download import Downloader, FileOutcome
from .errors import DownloadError, MetadataError, MirrorError, MirrorInputError, NoRoom
from .fsutil import free_bytes, run_lock, write_if_changed
from .layout import Layout
from .lockmodel import Lock
from .lockselect import select_locked
from .metadata import METADATA_LIMIT, build_requires, requires_dist, sdist_members, wheel_metadata
from .reqfile import parse_requirement, read_requirements_files
from .selection import Policy, parse_package_types, parse_releases
from .targets import Target, build_targets
from .transport import Transport, make_session
from .upstream import DistFile, IndexClient, allowed_hosts

# A file fetched for its metadata in check mode stays in memory up to this size, then spills
# into a temporary file (not into dest: check mode writes nothing there).
CHECK_MODE_SPOOL = 8 << 20


def _option_field(option: option_table.Option):
    if option.required:
        return (option.name, object)
    return (option.name, object, field(default_factory=partial(option_table.default, option.name)))


# The engine's options as the module and the CLI pass them: one field per engine option of the
# ``options`` table, with its default (a fresh copy per instance). ``validate`` checks them.
Options = make_dataclass("Options", [_option_field(o) for o in option_table.OPTIONS if o.engine])


class Reporter:
    """Progress hooks; the CLI draws a bar, the module stays silent."""

    def phase(self, name: str) -> None:
        pass

    def start_downloads(self, count: int, total_bytes: int) -> None:
        pass

    def advance(self, received: int) -> None:
        pass

    def file_done(self, outcome: FileOutcome) -> None:
        pass


@dataclass(frozen=True)
class Plan:
    """A run's validated input: everything ``_Run`` reads, and nothing else."""

    layout: Layout
    requirements: list[Requirement]  # the roots of the closure
    constraints: Constraints  # -c lines and hashed requirements, on every edge
    locks: list[Lock]
    probe_project: str  # a project the indexes are asked for before anything is written
    notes: list[str]  # requirements-file options only the clients act on
    targets: list[Target]
    policy: Policy
    index_urls: list[str]
    allowed_hosts: frozenset[str]
    dependencies: bool
    prune: bool
    concurrency: int
    timeout: float
    retries: int
    max_page_size: int
    min_free_space: int


@dataclass(frozen=True)
class Limits:
    """The numbers that bound a run (the tools' run has the same): checked once, here."""

    concurrency: int
    timeout: float
    retries: int
    max_page_size: int
    max_file_size: int
    min_free_space: int


def check_limits(options) -> Limits:
    """The bounds of ``options`` (any options object with these fields), or MirrorInputError."""
    return Limits(
        concurrency=_number(options, "concurrency", int, 1, 64, "between 1 and 64"),
        timeout=_number(options, "timeout", float, 0.001, None, "a positive number of seconds"),
        retries=_number(options, "retries", int, 0, None, "0 or more"),
        max_page_size=_number(options, "max_page_size", int, 1024, None,
                              "at least 1024 bytes"),
        max_file_size=_number(options, "max_file_size", int, 1, None, "a positive number of "
                              "bytes"),
        min_free_space=_number(options, "min_free_space", int, 0, None, "0 or more bytes"),
    )


def _number(options, name: str, kind: type, low: float, high: float | None,
            meaning: str):
    value = getattr(options, name)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < low or (
            high is not None and number > high):
        raise MirrorInputError(f"{name} must be {meaning}, not {value!r}")
    return number


def check_dest(dest: Path) -> None:
    """Raise MirrorInputError, with the path and the fix, unless the mirror can live in dest."""
    user = f"this user (uid {os.geteuid()}); give this user the directory or run as its owner"
    for folder in (dest, *dest.parents):  # the nearest folder that exists
        try:
            info = os.stat(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            blocked = next((d for d in reversed(folder.parents)
                            if not os.access(d, os.X_OK)), folder.parent)
            raise MirrorInputError(f"dest {dest}: {blocked} cannot be entered by {user}"
                                   ) from None
        break
    if not stat.S_ISDIR(info.st_mode):
        where = "exists and is not a directory" if folder == dest else \
            f"cannot be created: {folder} is a file, not a directory"
        raise MirrorInputError(f"dest {dest} {where}; choose another path for the mirror")
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise MirrorInputError(f"dest {dest} is on a read-only filesystem ({folder}); remount "
                               "it read-write or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MirrorInputError(f"dest {dest}: {folder} is not writable by {user}")


def check_http_url(url: object, what: str, example: str) -> str:
    """``url`` if it is an http(s) URL with a host, else MirrorInputError naming ``what``."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except (TypeError, ValueError):
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise MirrorInputError(f"{what} {url!r} must be an http(s) URL such as {example}")
    return str(url)


def check_index_urls(options) -> list[str]:
    """index_url and extra_index_urls, checked (raises MirrorInputError)."""
    return [check_http_url(url, "index URL", option_table.default("index_url"))
            for url in [options.index_url, *options.extra_index_urls]]


def validate(options: Options) -> Plan:
    """Check every option before anything is fetched or written (raises MirrorInputError)."""
    if not options.dest:
        raise MirrorInputError("dest is required: the directory the mirror lives in")
    dest = Path(options.dest).expanduser().resolve()
    check_dest(dest)
    files = read_requirements_files(options.requirements_files)
    requirements = [parse_requirement(text, "packages") for text in options.packages]
    requirements += [line.requirement for line in files.requirements]
    locks = [lockfiles.load(path) for path in options.lock_files]
    probe = next(iter([r.name for r in requirements] + [
        p.name for lock in locks for p in lock.packages if not p.unservable]), None)
    if probe is None:
        raise MirrorInputError("nothing to mirror: give packages, requirements_files and/or "
                               "lock_files (that name a package from an index)")
    targets = build_targets(options.python_versions, options.platforms)
    index_urls = check_index_urls(options)
    _check_index_lines(files.index_urls, index_urls)
    limits = check_limits(options)
    policy = Policy(
        package_types=parse_package_types(options.package_types),
        releases=parse_releases(options.releases),
        prereleases=bool(options.prereleases) or files.prereleases,
        max_file_size=limits.max_file_size,
    )
    return Plan(
        layout=Layout(dest),
        requirements=requirements,
        constraints=Constraints(files.constraints + [
            line for line in files.requirements if line.hashes]),
        locks=locks,
        probe_project=probe,
        notes=files.notes,
        targets=targets,
        policy=policy,
        index_urls=index_urls,
        allowed_hosts=frozenset(allowed_hosts(index_urls, options.allowed_hosts)),
        dependencies=bool(options.dependencies),
        prune=bool(options.prune),
        concurrency=limits.concurrency,
        timeout=limits.timeout,
        retries=limits.retries,
        max_page_size=limits.max_page_size,
        min_free_space=limits.min_free_space,
    )


def _check_index_lines(lines: list[tuple[str, str]], index_urls: list[str]) -> None:
    """An index a requirements file names must be one the mirror reads (else its files would
    come from elsewhere than the file means)."""
    read = {url.rstrip("/") for url in index_urls}
    for origin, url in lines:
        if url.rstrip("/") not in read:
            raise MirrorInputError(
                f"{origin}: the file names the index {url}, which this mirror does not read "
                f"(it reads {', '.join(index_urls)}); set index_url or extra_index_urls to it, "
                "or drop the line")


def _size_of_tree(root: Path) -> int:
    total = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def require_room(root: Path, needed: int, reserve: int, fewer: str) -> int | None:
    """The free bytes of root's disk; NoRoom unless ``needed`` more fit with ``reserve`` kept.

    ``fewer`` says what to select less of, in the message.
    """
    free = free_bytes(root)
    if free is not None and needed + reserve > free:
        raise NoRoom(
            f"the selection needs {_mb(needed)} more in {root}, whose disk has "
            f"{_mb(free)} free, and min_free_space keeps {_mb(reserve)} of it free: "
            f"{_mb(needed + reserve - free)} short. Free some space, {fewer}, "
            "or lower min_free_space. Nothing was downloaded"
        )
    return free


def _about(message: str, project: str) -> bool:
    """True when an unsatisfied-requirement message is about ``project``."""
    return re.match(rf"{re.escape(project)}(?![A-Za-z0-9._-])", message) is not None


def _mb(count: int) -> str:
    return f"{count / 1e6:,.1f} MB ({count} bytes)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _Run:
    def __init__(self, plan: Plan, check_mode: bool, reporter: Reporter):
        self.plan = plan
        self.layout = plan.layout
        self.check_mode = check_mode
        self.reporter = reporter
        self.session = make_session(plan.concurrency)
        self.transport = Transport(self.session, plan.allowed_hosts, plan.timeout, plan.retries)
        self.client = IndexClient(self.transport, plan.index_urls, plan.max_page_size)
        self.downloader = Downloader(self.transport, plan.layout.distributions,
                                     plan.policy.max_file_size,
                                     plan.min_free_space, published=self._published_sha256,
                                     progress=reporter.advance)
        self.early_outcomes: dict[str, FileOutcome] = {}  # downloaded while reading metadata
        self.uncovered: list[dict] = []  # targets a lock cannot install on
        self._records: dict[str, dict] = {}
        self._lock = threading.Lock()

    def _published_sha256(self, file: DistFile) -> str | None:
        """The hash the mirror's pages list for this file name, if they list it."""
        with self._lock:
            if file.project not in self._records:
                self._records[file.project] = static_index.load_records(self.layout,
                                                                        file.project)
            record = self._records[file.project].get(file.filename)
        sha256 = record.get("sha256") if isinstance(record, dict) else None
        return sha256 if isinstance(sha256, str) else None

    # -- metadata for the closure -----------------------------------------------------------
    @contextlib.contextmanager
    def _the_file(self, file: DistFile):
        """The file itself, to read metadata from: on disk if present, else downloaded (into a
        temporary file in check mode). Raises DownloadError."""
        if self.downloader.is_present(file):
            yield self.downloader.final_path(file)
            return
        if self.check_mode:
            with tempfile.SpooledTemporaryFile(CHECK_MODE_SPOOL) as sink:
                self.transport.fetch(file.url, file.filename, self.downloader.limit(file),
                                     sink, sha256=file.sha256)
                yield sink
            return
        outcome = self.downloader.fetch(file)
        with self._lock:
            self.early_outcomes[file.filename] = outcome
        if outcome.status == "failed":
            raise DownloadError(outcome.error)
        yield self.downloader.final_path(file)

    def dependencies_of(self, file: DistFile) -> list[Requirement]:
        """Requires-Dist of a file; for an sdist also its build requirements.

        Raises MirrorError (the closure records it against the project).
        """
        try:
            if file.kind == "wheel":
                return requires_dist(self.metadata_of(file))
            with self._the_file(file) as source:
                members = sdist_members(source)
        except OSError as exc:
            raise MetadataError(f"{file.filename}: cannot read it: {exc.strerror}") from None
        pkg_info = members.get("PKG-INFO")
        return (requires_dist(pkg_info) if pkg_info else []) + build_requires(
            members.get("pyproject.toml"))

    def metadata_of(self, file: DistFile) -> bytes:
        """The exact METADATA of a wheel: kept, from the upstream (PEP 658), or extracted."""
        sidecar = self.layout.metadata(file.project, file.filename)
        if sidecar.is_file() and self.downloader.is_present(file):
            return sidecar.read_bytes()
        if file.has_metadata:
            # Announced but unusable (404, wrong hash) is the upstream's bug, not a reason
            # to fail: the wheel carries the same bytes.
            with contextlib.suppress(DownloadError):
                data, _ = self.transport.read(file.metadata_url, f"{file.filename}.metadata",
                                              METADATA_LIMIT, sha256=file.metadata_sha256)
                return data
        with self._the_file(file) as source:
            return wheel_metadata(source)

    # -- the run -----------------------------------------------------------------------------
    def select(self) -> Selection:
        self.reporter.phase("resolving")
        selection = compute_closure(
            self.plan.requirements, self.plan.targets, self.plan.policy,
            self.client.project_files, self.dependencies_of,
            follow_dependencies=self.plan.dependencies, concurrency=self.plan.concurrency,
            constraints=self.plan.constraints,
        )
        self.uncovered = select_locked(self.plan.locks, self.plan.targets, self.plan.policy,
                                       self.client.project_files, selection,
                                       self.plan.concurrency)
        return selection

    def sizes_to_fetch(self, missing: list[DistFile]) -> dict[str, int | None]:
        """Bytes each missing file still needs (the announced size less what a partial
        download already holds; a HEAD request where the index announces no size)."""

        def size(file: DistFile) -> tuple[str, int | None]:
            return file.filename, self.downloader.bytes_to_fetch(file)

        with ThreadPoolExecutor(max_workers=self.plan.concurrency) as pool:
            return dict(pool.map(size, missing))

    def check_room(self, needed: int) -> int | None:
        """Raise NoRoom unless ``needed`` more bytes fit in dest with the reserve kept."""
        return require_room(self.layout.root, needed, self.plan.min_free_space,
                            "mirror fewer projects or targets")

    def execute(self) -> dict:
        selection = self.select()
        wanted = [f for files in selection.files.values() for f in files.values()]
        conflicts = {f.filename: reason for f in wanted
                     if (reason := self.downloader.conflict(f))}
        missing = [f for f in wanted
                   if f.filename not in conflicts and not self.downloader.is_present(f)]
        sizes = self.sizes_to_fetch(missing)
        needed = sum(s or 0 for s in sizes.values())
        if self.check_mode:
            return self._plan_only(selection, wanted, missing, sizes, conflicts)
        self.check_room(needed)

        self.reporter.phase("downloading")
        self.reporter.start_downloads(len(missing), needed)
        outcomes: dict[str, FileOutcome] = {}
        with ThreadPoolExecutor(max_workers=self.plan.concurrency) as pool:
            # Biggest first: the long transfers start early and the tail is short.
            order = sorted(wanted, key=lambda f: -(f.size or 0))
            for outcome in pool.map(self.downloader.fetch, order):
                outcomes[f"{outcome.file.project}/{outcome.file.filename}"] = outcome
                self.reporter.file_done(outcome)
        # A file the resolver downloaded for its metadata shows up "present" in the pool.
        for outcome in self.early_outcomes.values():
            key = f"{outcome.file.project}/{outcome.file.filename}"
            current = outcomes.get(key)
            if current is None or (current.status == "present" and outcome.status != "present"):
                outcomes[key] = outcome
        results = list(outcomes.values())
        present = [o.file for o in results if o.status == "present"]

        self._tidy_partials()
        self.reporter.phase("indexing")
        changed = any(o.status == "downloaded" for o in results)
        try:
            changed |= self._write_index(selection)
        except OSError as exc:  # each page is replaced atomically: the old ones still stand
            raise MirrorError(f"writing the index in {self.layout.root} failed at "
                              f"{exc.filename or self.layout.root}: {exc.strerror}; the pages "
                              "served before are unchanged, run again once this is fixed"
                              ) from None
        return self._summary(selection, wanted, present, results,
                             failures=self._failures(selection, results), changed=changed)

    def _tidy_partials(self) -> None:
        """Drop the per-project folders of .partial/ that finished downloads left empty."""
        if self.layout.partial.is_dir():
            for folder in self.layout.partial.iterdir():
                with contextlib.suppress(OSError):  # not empty: a resume point for next time
                    folder.rmdir()

    def _plan_only(self, selection: Selection, wanted: list[DistFile],
                   missing: list[DistFile], sizes: dict[str, int | None],
                   conflicts: dict[str, str]) -> dict:
        """Check mode: what a real run would download, how many bytes, and whether it fits."""
        outcomes = [FileOutcome(f, "failed", 0, conflicts[f.filename])
                    for f in wanted if f.filename in conflicts]
        present = [f for f in wanted if f not in missing and f.filename not in conflicts]
        result = self._summary(selection, wanted, present, outcomes,
                               failures=self._failures(selection, outcomes))
        needed = sum(s or 0 for s in sizes.values())
        free = free_bytes(self.layout.root)
        result["would_download"] = {
            "count": len(missing),
            "bytes": needed,
            "unknown_size": sum(1 for s in sizes.values() if s is None),
            "files": sorted(f"{f.project}/{f.filename}" for f in missing),
            "free_space": free,
            "fits": free is None or needed + self.plan.min_free_space <= free,
        }
        result["changed"] = bool(missing)
        return result

    def _write_index(self, selection: Selection) -> bool:
        changed = False
        for project, files in sorted(selection.files.items()):
            records = static_index.load_records(self.layout, project)
            for file in files.values():
                if not self.downloader.is_present(file):
                    continue  # failed, or a published name the upstream changed: record kept
                metadata_hash = None
                if file.kind == "wheel":
                    metadata_hash, wrote = self._ensure_metadata_file(file)
                    changed |= wrote
                records[file.filename] = {
                    "version": str(file.version),
                    "sha256": file.sha256,
                    "size": self.downloader.final_path(file).stat().st_size,
                    "requires_python": file.requires_python,
                    "yanked": file.yanked,
                    "upload_time": file.upload_time,
                    "metadata_sha256": metadata_hash,
                }
            if self.plan.prune:
                changed |= self._prune(project, records, set(files))
            changed |= static_index.save_records(self.layout, project, records)
            changed |= static_index.write_project(self.layout, project, records)
        projects = [p for p in static_index.known_projects(self.layout)
                    if static_index.present_records(self.layout, p,
                                                    static_index.load_records(self.layout, p))]
        if self.plan.prune:
            projects = [p for p in projects if p in selection.files]
        changed |= static_index.write_root(self.layout, projects)
        return changed

    def _ensure_metadata_file(self, file: DistFile):
        """Write ``<wheel>.metadata`` (PEP 658); returns (its sha256 or None, wrote).

        The bytes come out of the verified wheel, not from the upstream's metadata file: the
        wheel is what the sha256 vouches for, and installers may check that the two agree.
        """
        try:
            data = wheel_metadata(self.downloader.final_path(file))
        except MetadataError:
            return None, False  # advertise nothing; clients read the wheel itself
        wrote = write_if_changed(self.layout.metadata(file.project, file.filename), data)
        return hashlib.sha256(data).hexdigest(), wrote

    def _prune(self, project: str, records: dict, keep: set) -> bool:
        changed = False
        for filename in list(records):
            if filename in keep:
                continue
            for path in (self.layout.file(project, filename),
                         self.layout.metadata(project, filename)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    changed = True
            del records[filename]
        return changed

    def _size(self, file: DistFile) -> int:
        """Announced size, else (HTML indexes announce none) the size on disk."""
        if file.size is not None:
            return file.size
        with contextlib.suppress(OSError):
            return self.downloader.final_path(file).stat().st_size
        return 0

    def _nothing_usable(self, selection: Selection) -> list[dict]:
        """Requested projects the index knows but that gave no file for any target."""
        failures = []
        for project in sorted(selection.requested):
            if (selection.files.get(project) or project in selection.missing_projects
                    or project in selection.errors
                    or any(p["project"] == project for p in selection.problems)):
                continue  # said already
            rejected = [r for r in self.client.rejected if r.project == project]
            why = [f"{_plural(len(rejected), 'file')} rejected ({rejected[0].reason})"
                   ] if rejected else []
            why += [w for w in selection.unsatisfied if _about(w, project)][:3]
            failures.append({"project": project, "file": None,
                              "reason": f"requested project {project!r} has nothing usable "
                                        f"for any target: {'; '.join(why) or 'no files'}"})
        return failures

    def _failures(self, selection: Selection, outcomes: list[FileOutcome]) -> list[dict]:
        failures = [
            {"project": project, "file": None,
             "reason": f"project {project!r} not found on any index (needed by {parent})"}
            for project, parent in sorted(selection.missing_projects.items())
        ]
        failures += [{"project": p, "file": None, "reason": reason}
                     for p, reason in sorted(selection.errors.items())]
        failures += selection.problems
        failures += self._nothing_usable(selection)
        failures += [{"project": o.file.project, "file": o.file.filename, "reason": o.error}
                     for o in outcomes if o.status == "failed"]
        return failures

    def _summary(self, selection, wanted, present, outcomes, failures, changed=False) -> dict:
        downloaded = [o for o in outcomes if o.status == "downloaded"]
        failed = [o for o in outcomes if o.status == "failed"]
        root = self.layout.root
        return {
            "changed": changed,
            "check_mode": self.check_mode,
            "complete": not failures,
            "dest": str(root),
            "targets": [t.label for t in self.plan.targets],
            "projects": sorted(selection.files),
            "files": len(wanted),
            "downloaded": {"count": len(downloaded),
                           "bytes": sum(self._size(o.file) for o in downloaded)},
            "received_bytes": sum(o.received for o in outcomes),
            # Not "skipped": Ansible would report the task as skipped.
            "present": {"count": len(present), "bytes": sum(self._size(f) for f in present)},
            # Not "failed": Ansible reads that key as the task's own failure flag.
            "missing": {"count": len(failures), "bytes": sum(o.file.size or 0 for o in failed)},
            "failures": failures,
            "warnings": [*self.plan.notes, *selection.unsatisfied],
            "uncovered": self.uncovered,
            "rejected": [{"project": r.project, "file": r.filename, "reason": r.reason}
                         for r in self.client.rejected],
            "mirror_size": _size_of_tree(self.layout.files) if root.is_dir() else 0,
        }


def _dest_error(dest: Path, exc: OSError) -> MirrorInputError:
    """One line naming the path and the fix, for a dest that turned out unusable."""
    where = exc.filename or dest
    fixes = {
        errno.EROFS: "is on a read-only filesystem; remount it read-write or choose another "
                     "path",
        errno.EACCES: "is not writable by this user; give this user the directory or run as "
                      "its owner",
        errno.EPERM: "is not writable by this user; give this user the directory or run as "
                     "its owner",
        errno.ENOTDIR: "has a file where a directory must be; choose another path",
        errno.ENOSPC: "is on a full disk; free some space",
    }
    fix = fixes.get(exc.errno, f"cannot be used ({exc.strerror})")
    return MirrorInputError(f"dest {dest}: {where} {fix}")


@contextlib.contextmanager
def writing(layout: Layout) -> Iterator[None]:
    """The root of ``layout`` created and its run lock held, for a run that writes there; a
    root that cannot be used is a MirrorInputError naming the path and the fix."""
    with contextlib.ExitStack() as held:
        try:
            layout.root.mkdir(parents=True, exist_ok=True)
            held.enter_context(run_lock(layout))
        except OSError as exc:
            raise _dest_error(layout.root, exc) from None
        yield


def run(options: Options, check_mode: bool = False, reporter: Reporter | None = None) -> dict:
    """Run the mirror. Raises MirrorInputError / UpstreamError / NoRoom before any change.

    The result's ``complete`` is False when anything is missing; callers decide whether that
    fails (``allow_partial``).
    """
    plan = validate(options)
    job = _Run(plan, check_mode, reporter or Reporter())
    try:
        # An index that cannot be reached, or answers like a captive portal, is reported
        # before dest is even created.
        job.client.check_indexes(plan.probe_project)
        if check_mode:
            return job.execute()
        with writing(plan.layout):
            return job.execute()
    finally:
        job.session.close()
