"""One mirror run: validate, select (with the dependency closure), download, write the index."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement

from . import index as static_index
from .closure import Selection, compute_closure
from .download import Downloader, FileOutcome, make_session
from .errors import DownloadError, MirrorInputError
from .fsutil import run_lock, write_if_changed
from .metadata import (
    METADATA_LIMIT,
    requires_dist,
    sdist_build_requires,
    sdist_metadata,
    wheel_metadata,
)
from .selection import (
    Policy,
    parse_package_types,
    parse_releases,
    parse_requirement,
    read_requirements_file,
)
from .targets import DEFAULT_PLATFORMS, DEFAULT_PYTHON_VERSIONS, Target, build_targets
from .upstream import DistFile, IndexClient

DEFAULT_INDEX_URL = "https://pypi.org/simple/"
DEFAULT_CONCURRENCY = 12


@dataclass
class Options:
    """Everything a run needs; the module's and the CLI's options map onto these one to one."""

    dest: str
    packages: list[str] = field(default_factory=list)
    requirements_files: list[str] = field(default_factory=list)
    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: list[str] = field(default_factory=list)
    python_versions: list[str] = field(default_factory=lambda: list(DEFAULT_PYTHON_VERSIONS))
    platforms: list[str] = field(default_factory=lambda: list(DEFAULT_PLATFORMS))
    package_types: list[str] = field(default_factory=lambda: ["wheel", "sdist"])
    dependencies: bool = True
    releases: str | int = "latest"
    prereleases: bool = False
    max_file_size: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    allow_partial: bool = False
    timeout: float = 30.0
    retries: int = 5
    allowed_hosts: list[str] = field(default_factory=list)
    prune: bool = False


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


@dataclass
class Plan:
    """Validated input."""

    dest: Path
    requirements: list[Requirement]
    targets: list[Target]
    policy: Policy
    index_urls: list[str]


def validate(options: Options) -> Plan:
    """Check every option before anything is fetched or written (raises MirrorInputError)."""
    if not options.dest:
        raise MirrorInputError("dest is required: the directory the mirror lives in")
    dest = Path(options.dest).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise MirrorInputError(f"dest {dest} exists and is not a directory")
    requirements = [parse_requirement(text) for text in options.packages]
    for path in options.requirements_files:
        requirements += read_requirements_file(Path(path))
    if not requirements:
        raise MirrorInputError("nothing to mirror: give packages and/or requirements_files")
    targets = build_targets(options.python_versions, options.platforms)
    index_urls = [options.index_url, *options.extra_index_urls]
    for url in index_urls:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MirrorInputError(
                f"index URL {url!r} must be an http(s) URL such as {DEFAULT_INDEX_URL}"
            )
    if options.max_file_size is not None and int(options.max_file_size) <= 0:
        raise MirrorInputError("max_file_size must be a positive number of bytes")
    if not 1 <= int(options.concurrency) <= 64:
        raise MirrorInputError("concurrency must be between 1 and 64")
    if float(options.timeout) <= 0:
        raise MirrorInputError("timeout must be a positive number of seconds")
    if int(options.retries) < 0:
        raise MirrorInputError("retries must be 0 or more")
    policy = Policy(
        package_types=parse_package_types(options.package_types),
        releases=parse_releases(options.releases),
        prereleases=bool(options.prereleases),
        max_file_size=int(options.max_file_size) if options.max_file_size else None,
    )
    return Plan(dest, requirements, targets, policy, index_urls)


def _size_of_tree(root: Path) -> int:
    total = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


class _Run:
    def __init__(self, options: Options, plan: Plan, check_mode: bool, reporter: Reporter):
        self.options = options
        self.plan = plan
        self.check_mode = check_mode
        self.reporter = reporter
        self.session = make_session(int(options.concurrency))
        self.client = IndexClient(self.session, plan.index_urls, float(options.timeout),
                                  options.allowed_hosts, retries=min(int(options.retries), 3))
        self.downloader = Downloader(self.session, plan.dest, float(options.timeout),
                                     int(options.retries), plan.policy.max_file_size,
                                     progress=reporter.advance,
                                     allowed_hosts=self.client.allowed_hosts)
        self.early_outcomes: dict[str, FileOutcome] = {}  # downloaded while reading metadata
        self._lock = threading.Lock()

    # -- metadata for the closure -----------------------------------------------------------
    def _local_or_fetch(self, file: DistFile) -> Path | bytes:
        """The file itself: on disk if present, else downloaded (into memory in check mode)."""
        if self.downloader.is_present(file):
            return self.downloader.final_path(file)
        if self.check_mode:
            limit = self.plan.policy.max_file_size
            return self.downloader.fetch_bytes(file.url, file.sha256, limit)
        outcome = self.downloader.fetch(file)
        with self._lock:
            self.early_outcomes[file.filename] = outcome
        if outcome.status == "failed":
            raise RuntimeError(outcome.error)
        return self.downloader.final_path(file)

    def dependencies_of(self, file: DistFile) -> list[Requirement]:
        """Requires-Dist of a file; for an sdist also its build requirements."""
        if file.kind == "wheel":
            return requires_dist(self.metadata_of(file))
        source = self._local_or_fetch(file)
        pkg_info = sdist_metadata(source)
        return (requires_dist(pkg_info) if pkg_info else []) + sdist_build_requires(source)

    def metadata_of(self, file: DistFile) -> bytes:
        """The exact METADATA of a wheel: kept, from the upstream (PEP 658), or extracted."""
        local = self.downloader.final_path(file)
        sidecar = local.with_name(local.name + ".metadata")
        if sidecar.is_file() and self.downloader.is_present(file):
            data = sidecar.read_bytes()
        else:
            data = None
            if file.has_metadata:
                # Announced but unusable (404, wrong hash) is the upstream's bug, not a reason
                # to fail: the wheel carries the same bytes.
                with contextlib.suppress(DownloadError):
                    data = self.downloader.fetch_bytes(
                        file.metadata_url, file.metadata_sha256 or None, METADATA_LIMIT)
            if data is None:
                data = wheel_metadata(self._local_or_fetch(file))
        return data

    # -- the run -----------------------------------------------------------------------------
    def _closure(self, on_selected=None) -> Selection:
        return compute_closure(
            self.plan.requirements, self.plan.targets, self.plan.policy,
            self.client.project_files, self.dependencies_of,
            follow_dependencies=bool(self.options.dependencies),
            concurrency=int(self.options.concurrency), on_selected=on_selected,
        )

    def execute(self) -> dict:
        self.reporter.phase("resolving")
        if self.check_mode:
            return self._plan_only(self._closure())
        futures: dict[str, Future] = {}
        with ThreadPoolExecutor(max_workers=int(self.options.concurrency)) as pool:

            def start(files: list[DistFile]) -> None:
                # Downloads begin while the resolver is still walking the closure, so the
                # link is busy from the first page on; biggest first within a wave.
                for file in sorted(files, key=lambda f: -(f.size or 0)):
                    key = f"{file.project}/{file.filename}"
                    if key not in futures:
                        futures[key] = pool.submit(self.downloader.fetch, file)

            selection = self._closure(on_selected=start)
            wanted = [f for files in selection.files.values() for f in files.values()]
            self.reporter.phase("downloading")
            self.reporter.start_downloads(len(wanted), sum(f.size or 0 for f in wanted))
            outcomes: dict[str, FileOutcome] = {}
            for future in as_completed(list(futures.values())):
                outcome = future.result()
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
        changed |= self._write_index(selection)
        return self._summary(selection, wanted, present, results,
                             failures=self._failures(selection, results), changed=changed)

    def _tidy_partials(self) -> None:
        """Drop the per-project folders of .partial/ that finished downloads left empty."""
        partial = self.plan.dest / ".partial"
        if partial.is_dir():
            for folder in partial.iterdir():
                with contextlib.suppress(OSError):  # not empty: a resume point for next time
                    folder.rmdir()

    def _plan_only(self, selection: Selection) -> dict:
        """Check mode: what a real run would download, and how many bytes that is."""
        wanted = [f for files in selection.files.values() for f in files.values()]
        present, missing = [], []
        for file in wanted:
            (present if self.downloader.is_present(file) else missing).append(file)
        sizes = [f.size if f.size is not None else self.downloader.content_length(f.url)
                 for f in missing]
        result = self._summary(selection, wanted, present, [],
                               failures=self._failures(selection, []))
        result["would_download"] = {
            "count": len(missing),
            "bytes": sum(s or 0 for s in sizes),
            "unknown_size": sum(1 for s in sizes if s is None),
            "files": sorted(f"{f.project}/{f.filename}" for f in missing),
        }
        result["changed"] = bool(missing)
        return result

    def _write_index(self, selection: Selection) -> bool:
        dest = self.plan.dest
        changed = False
        for project, files in sorted(selection.files.items()):
            records = static_index.load_records(dest, project)
            for file in files.values():
                if not self.downloader.is_present(file):
                    continue
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
            if self.options.prune:
                changed |= self._prune(project, records, set(files))
            changed |= static_index.save_records(dest, project, records)
            changed |= static_index.write_project(dest, project, records)
        projects = [p for p in static_index.known_projects(dest)
                    if static_index.present_records(dest, p, static_index.load_records(dest, p))]
        if self.options.prune:
            projects = [p for p in projects if p in selection.files]
        changed |= static_index.write_root(dest, projects)
        return changed

    def _ensure_metadata_file(self, file: DistFile):
        """Write ``<wheel>.metadata`` (PEP 658); returns (its sha256 or None, wrote).

        The bytes come out of the verified wheel, not from the upstream's metadata file: the
        wheel is what the sha256 vouches for, and installers may check that the two agree.
        """
        final = self.downloader.final_path(file)
        sidecar = final.with_name(final.name + ".metadata")
        try:
            data = wheel_metadata(final)
        except (ValueError, OSError, zipfile.BadZipFile):
            return None, False  # advertise nothing; clients read the wheel itself
        wrote = write_if_changed(sidecar, data)
        return hashlib.sha256(data).hexdigest(), wrote

    def _prune(self, project: str, records: dict, keep: set) -> bool:
        changed = False
        for filename in list(records):
            if filename in keep:
                continue
            for path in (self.plan.dest / "files" / project / filename,
                         self.plan.dest / "files" / project / (filename + ".metadata")):
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

    def _failures(self, selection: Selection, outcomes: list[FileOutcome]) -> list[dict]:
        failures = [
            {"project": project, "file": None,
             "reason": f"project {project!r} not found on any index (needed by {parent})"}
            for project, parent in sorted(selection.missing_projects.items())
        ]
        failures += [{"project": p, "file": None, "reason": reason}
                     for p, reason in sorted(selection.errors.items())]
        failures += [{"project": o.file.project, "file": o.file.filename, "reason": o.error}
                     for o in outcomes if o.status == "failed"]
        return failures

    def _summary(self, selection, wanted, present, outcomes, failures, changed=False) -> dict:
        downloaded = [o for o in outcomes if o.status == "downloaded"]
        failed = [o for o in outcomes if o.status == "failed"]
        dest = self.plan.dest
        return {
            "changed": changed,
            "check_mode": self.check_mode,
            "complete": not failures,
            "dest": str(dest),
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
            "warnings": list(selection.unsatisfied),
            "rejected": [{"project": r.project, "file": r.filename, "reason": r.reason}
                         for r in self.client.rejected],
            "mirror_size": _size_of_tree(dest / "files") if dest.is_dir() else 0,
        }


def run(options: Options, check_mode: bool = False, reporter: Reporter | None = None) -> dict:
    """Run the mirror. Raises MirrorInputError / UpstreamError before any change on bad input.

    The result's ``complete`` is False when anything is missing; callers decide whether that
    fails (``allow_partial``).
    """
    plan = validate(options)
    job = _Run(options, plan, check_mode, reporter or Reporter())
    try:
        # An unreachable index is reported before dest is even created.
        job.client.check_reachable()
        if check_mode:
            return job.execute()
        plan.dest.mkdir(parents=True, exist_ok=True)
        with run_lock(plan.dest):
            return job.execute()
    finally:
        job.session.close()
