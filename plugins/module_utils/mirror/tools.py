"""uv and Python for attendees: uv's binaries out of its own wheels, and the standalone CPython
builds (python-build-standalone) that ``uv python install`` downloads.

One run: validate into a plan; look up uv's wheels on the package index and the builds in a
list of Python downloads in uv's own format (``python_builds_url``, by default the list of the
uv version served); check the room; download through the engine's transport and downloader
(resumed, verified against the sha256 the index or the list gives); repack each uv wheel as the
archive uv's own releases use; write the records (``tool_records``) last. Check mode does the
look-ups and reports what the run would add, in bytes, and whether it fits.

As for the mirror: bad input (MirrorInputError) and an index or list that cannot be used at all
(UpstreamError) stop the run before anything is written; a file that fails is an entry in
``failures`` and the rest is served. A slot that a failure leaves empty keeps what the box
served there before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, make_dataclass
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.version import InvalidVersion, Version

from . import options as option_table
from . import tool_records
from .download import Downloader, FileOutcome
from .engine import (
    Limits,
    check_dest,
    check_http_url,
    check_index_urls,
    check_limits,
    require_room,
    writing,
)
from .errors import DownloadError, MirrorError, MirrorInputError, UpstreamError
from .fsutil import free_bytes, fsync_dir, publish, sha256_file
from .layout import PYTHON, UV, Layout
from .names import is_sha256
from .targets import PLATFORMS as TARGET_PLATFORMS
from .targets import parse_python_version
from .tool_records import PLATFORMS, ToolPlatform, plain_name
from .transport import Refused, Transport, make_session
from .upstream import DistFile, IndexClient, allowed_hosts

UV_PROJECT = "uv"
# uv's archives are written once per version and platform: level 6 takes a third of level 9's
# time for 0.5% more bytes (uv 0.13.9, Linux x86-64: 16.9 MB in 3.7 s against 16.8 MB in 10 s).
COMPRESSION = 6
# 1980-01-01, the oldest time a zip file can hold: the same archive bytes on every machine.
ARCHIVE_MTIME = 315532800
# A wheel whose scripts unpack to more than this is not uv (uv itself is about 40 MB).
UV_UNPACKED_LIMIT = 1 << 30


def _option_field(option: option_table.Option):
    if option.required:
        return (option.name, object)
    return (option.name, object, field(default_factory=partial(option_table.default, option.name)))


# The run's options as the module passes them, one field per option of ``TOOL_OPTIONS``.
ToolOptions = make_dataclass("ToolOptions", [_option_field(o) for o in option_table.TOOL_OPTIONS
                                             if o.engine])


@dataclass(frozen=True)
class ToolsPlan:
    """A run's validated input."""

    layout: Layout
    tools: frozenset[str]
    index_urls: list[str]
    allowed_hosts: frozenset[str]  # where uv's wheels may come from (the index's hosts)
    uv_version: Version | None  # None: the newest
    uv_platforms: list[ToolPlatform]
    python_builds_url: str
    python_hosts: frozenset[str]
    python_requests: list[Version]
    python_platforms: list[ToolPlatform]
    limits: Limits
    prune: bool


def _tool_platforms(names, what: str) -> list[ToolPlatform]:
    """Platform names to ToolPlatforms, one per distinct ``key`` (linux-aarch64 and
    manylinux-aarch64 are one uv and one Python)."""
    chosen: dict[object, ToolPlatform] = {}
    for name in names:
        if name not in PLATFORMS:
            raise MirrorInputError(f"{what}: unknown platform {name!r}; known platforms: "
                                   f"{', '.join(sorted(PLATFORMS))}")
        platform = PLATFORMS[name]
        chosen.setdefault(platform.triple if what == "uv_platforms" else platform.python_slot,
                          platform)
    if not chosen:
        raise MirrorInputError(f"{what} is empty; name at least one of: "
                               f"{', '.join(sorted(PLATFORMS))}")
    return list(chosen.values())


def _uv_version(text: object) -> Version | None:
    if str(text).strip().lower() == "latest":
        return None
    try:
        return Version(str(text))
    except InvalidVersion:
        raise MirrorInputError(f"uv_version must be 'latest' or a uv version such as 0.13.9, "
                               f"not {text!r}") from None


def _python_builds_url(text: object) -> str:
    """The list's URL, checked with a stand-in for the one placeholder it may hold."""
    url = str(text or "")
    try:
        probe = url.format(uv_version="0.0.0")
    except (KeyError, IndexError, ValueError):
        raise MirrorInputError(
            f"python_builds_url {url!r} may hold no placeholder but {{uv_version}}") from None
    check_http_url(probe, "python_builds_url", option_table.PYTHON_BUILDS_URL)
    return url


def validate(options) -> ToolsPlan:
    """Check every option before anything is fetched or written (raises MirrorInputError)."""
    if not options.dest:
        raise MirrorInputError("dest is required: the mirror's directory")
    dest = Path(options.dest).expanduser().resolve()
    check_dest(dest)
    tools = list(options.tools or [])
    unknown = [t for t in tools if t not in option_table.TOOLS]
    if unknown:
        raise MirrorInputError(f"tools: unknown {unknown}; choose from "
                               f"{', '.join(option_table.TOOLS)}")
    index_urls = check_index_urls(options)
    url = _python_builds_url(options.python_builds_url) if PYTHON in tools else ""
    python_hosts = {(urlsplit(url.format(uv_version="0")).hostname or "").lower()} if url else set()
    python_hosts.update(h.lower() for h in options.python_builds_hosts)
    return ToolsPlan(
        layout=Layout(dest),
        tools=frozenset(tools),
        index_urls=index_urls,
        allowed_hosts=frozenset(allowed_hosts(index_urls, options.allowed_hosts)),
        uv_version=_uv_version(options.uv_version),
        uv_platforms=_tool_platforms(options.uv_platforms, "uv_platforms") if UV in tools
        else [],
        python_builds_url=url,
        python_hosts=frozenset(h for h in python_hosts if h),
        python_requests=[parse_python_version(v) for v in options.python_versions]
        if PYTHON in tools else [],
        python_platforms=_tool_platforms(options.platforms, "platforms") if PYTHON in tools
        else [],
        limits=check_limits(options),
        prune=bool(options.prune),
    )


# -- what to fetch ----------------------------------------------------------------------------
@dataclass
class UvJob:
    """uv for one platform: the wheel it comes from, the archive it becomes."""

    platform: ToolPlatform
    wheel: DistFile
    version: str
    status: str = ""  # "present", "built", "failed"
    error: str = ""
    record: dict | None = None
    received: int = 0


@dataclass
class PythonBuild:
    """One standalone CPython build from the list, in the shape the downloader takes."""

    key: str  # uv's key: cpython-3.12.8-linux-x86_64-gnu
    project: str  # the folder on the Python builds' shelf: the release (e.g. 20251120)
    filename: str
    url: str
    sha256: str
    platform: ToolPlatform
    request: str  # the version asked for: 3.12 or 3.12.8
    version: str  # 3.12.8
    entry: dict  # uv's entry, without its url (the box writes its own)
    size: int | None = None
    outcome: FileOutcome | None = None

    def record(self, size: int) -> dict:
        return {"platform": self.platform.name, "request": self.request, "version": self.version,
                "folder": self.project, "filename": self.filename, "sha256": self.sha256,
                "size": size, "entry": self.entry}


def best_wheel(files: list[DistFile], platform: ToolPlatform) -> DistFile | None:
    """The wheel whose platform tag an installer on ``platform`` ranks first, if any."""
    ranks = {tag: rank for rank, tag in enumerate(TARGET_PLATFORMS[platform.name].platform_tags())}
    best = None
    for file in files:
        rank = min((ranks[t.platform] for t in file.tags
                    if t.platform in ranks and t.abi == "none"), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, file)
    return best[1] if best else None


def _entry_matches(entry: dict, platform: ToolPlatform) -> bool:
    """A default (not free-threaded, not debug), baseline build of CPython for ``platform``."""
    arch = entry.get("arch")
    family, arch_variant = (arch.get("family"), arch.get("variant")) if isinstance(arch, dict) \
        else (arch, None)
    os_name = {"macos": "darwin"}.get(entry.get("os"), entry.get("os"))
    return (str(entry.get("name", "")).lower() == "cpython"
            and entry.get("variant") in (None, "", "default") and arch_variant is None
            and not entry.get("prerelease")
            and (os_name, family, entry.get("libc")) == platform.python_slot)


def _release(entry: dict) -> tuple[int, int, int] | None:
    parts = tuple(entry.get(k) for k in ("major", "minor", "patch"))
    if all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in parts):
        return parts  # type: ignore[return-value]
    return None


def _wants(request: Version, release: tuple[int, int, int]) -> bool:
    return tuple(request.release) == release[:len(request.release)]


class _ToolsRun:
    def __init__(self, plan: ToolsPlan, check_mode: bool) -> None:
        self.plan = plan
        self.layout = plan.layout
        self.check_mode = check_mode
        limits = plan.limits
        self.session = make_session(limits.concurrency)
        self.index_transport = Transport(self.session, plan.allowed_hosts, limits.timeout,
                                         limits.retries)
        self.python_transport = Transport(self.session, plan.python_hosts, limits.timeout,
                                          limits.retries)
        self.client = IndexClient(self.index_transport, plan.index_urls, limits.max_page_size)
        self.wheels = Downloader(self.index_transport, self.layout.uv_wheels,
                                 limits.max_file_size, limits.min_free_space)
        self.old: dict[str, dict] = {}  # the records as the run found them (execute)
        self.builds = Downloader(self.python_transport, self.layout.python_builds,
                                 limits.max_file_size, limits.min_free_space,
                                 published=self._published_build)
        self.failures: list[dict] = []
        self.rejected: list[dict] = []
        self.unavailable: list[str] = []
        self.uv_version: str | None = None
        self.python_source: str | None = None
        self.uv: list[UvJob] = []
        self.python: list[PythonBuild] = []
        self._lock = threading.Lock()

    def _published_build(self, build: PythonBuild) -> str | None:
        """The sha256 the box's list gave this build's file name, if it gave it one."""
        for record in tool_records.entries(self.old[PYTHON], PYTHON).values():
            if (record["folder"], record["filename"]) == (build.project, build.filename):
                return record["sha256"]
        return None

    def _fail(self, tool: str, file: str | None, reason: str) -> None:
        with self._lock:
            self.failures.append({"tool": tool, "file": file, "reason": reason})

    # -- uv ----------------------------------------------------------------------------------
    def uv_jobs(self) -> list[UvJob]:
        """uv's wheels to fetch, one per platform (failures recorded); resolves the version."""
        needs_version = UV in self.plan.tools or "{uv_version}" in self.plan.python_builds_url
        if not needs_version:
            return []
        self.client.check_indexes(UV_PROJECT)
        try:
            files = self.client.project_files(UV_PROJECT) or []
        except UpstreamError as exc:
            raise UpstreamError(f"uv's page on the index: {exc}") from None
        wheels = [f for f in files if f.kind == "wheel" and f.yanked is None]
        versions = sorted({f.version for f in wheels}, reverse=True)
        wanted = self.plan.uv_version
        if wanted is None:
            wanted = next((v for v in versions if not v.is_prerelease), None)
        if wanted is None or wanted not in versions:
            shown = ", ".join(str(v) for v in versions[:5]) or "none"
            self._fail(UV, None, f"uv {self.plan.uv_version or '(newest)'} has no wheels on "
                                 f"{', '.join(self.plan.index_urls)} (newest there: {shown})")
            return []
        self.uv_version = str(wanted)
        if UV not in self.plan.tools:
            return []  # the version was only wanted for python_builds_url
        jobs = []
        for platform in self.plan.uv_platforms:
            wheel = best_wheel([f for f in wheels if f.version == wanted], platform)
            if wheel is None:
                self._fail(UV, platform.uv_archive,
                           f"uv {wanted} has no wheel for {platform.name} on the index")
                continue
            # The wheels' shelf keeps them by version: its "project" is the folder.
            wheel = dataclasses.replace(wheel, project=plain_name(str(wanted), "uv version"))
            jobs.append(UvJob(platform, wheel, str(wanted)))
        return jobs

    def uv_present(self, job: UvJob) -> bool:
        """True when the box already serves this very uv: same wheel, archive intact."""
        record = tool_records.entries(self.old[UV], UV).get(job.platform.name)
        if not record or (record.get("version"), record.get("wheel_sha256")) != (
                job.version, job.wheel.sha256):
            return False
        try:
            intact = sha256_file(tool_records.uv_file(self.layout, record).path) == \
                record["sha256"]
        except OSError:
            return False
        if intact:
            job.status, job.record = "present", record
        return intact

    def build_uv(self, job: UvJob) -> None:
        """Fetch the wheel, repack it, publish the archive, drop the wheel."""
        outcome = self.wheels.fetch(job.wheel)
        job.received = outcome.received
        if outcome.status == "failed":
            job.status, job.error = "failed", outcome.error
            return
        wheel = self.wheels.final_path(job.wheel)
        archive = self.layout.uv_archive(job.version, job.platform.uv_archive)
        try:
            sha256, size = repack_uv(wheel, job.platform, archive)
        except (MirrorError, OSError, zipfile.BadZipFile, EOFError) as exc:
            job.status, job.error = "failed", f"{job.wheel.filename}: cannot repack: {exc}"
            return
        with contextlib.suppress(FileNotFoundError):
            wheel.unlink()
        job.status = "built"
        job.record = {"version": job.version, "triple": job.platform.triple,
                      "filename": job.platform.uv_archive, "sha256": sha256, "size": size,
                      "wheel": job.wheel.filename, "wheel_sha256": job.wheel.sha256}

    # -- Python builds -----------------------------------------------------------------------
    def python_builds(self) -> list[PythonBuild]:
        """The builds to serve, one per version asked for and platform (gaps are noted)."""
        if PYTHON not in self.plan.tools:
            return []
        url = self.plan.python_builds_url
        if "{uv_version}" in url:
            if self.uv_version is None:
                self._fail(PYTHON, None, f"python_builds_url {url} names the uv version, and "
                                         "no uv version was found on the index")
                return []
            url = url.format(uv_version=self.uv_version)
        self.python_source = url
        listing = self._read_listing(url)
        builds = []
        for platform in self.plan.python_platforms:
            for request in self.plan.python_requests:
                build = self._choose(listing, platform, request)
                if build is None:
                    self.unavailable.append(f"Python {request} has no build for "
                                            f"{platform.name} in {url}")
                else:
                    builds.append(build)
        return builds

    def _read_listing(self, url: str) -> dict:
        try:
            body, exchange = self.python_transport.read(url, f"Python builds list {url}",
                                                        self.plan.limits.max_page_size,
                                                        inflate=True)
        except DownloadError as exc:
            raise UpstreamError(f"the list of Python builds is unreachable or unusable: {exc}"
                                ) from None
        try:
            listing = json.loads(body)
        except ValueError:
            listing = None
        if not isinstance(listing, dict) or not all(isinstance(e, dict)
                                                    for e in listing.values()):
            kind = exchange.headers.get("Content-Type", "a page without a content type")
            raise UpstreamError(f"{exchange.url} answered {kind} ({len(body)} bytes), not a "
                                "list of Python downloads in uv's format: a captive portal or "
                                "a proxy's page? Nothing was changed")
        return listing

    def _choose(self, listing: dict, platform: ToolPlatform,
                request: Version) -> PythonBuild | None:
        """The newest usable build of ``request`` for ``platform``; unusable ones are noted."""
        candidates = sorted(((release, key, entry) for key, entry in listing.items()
                             if _entry_matches(entry, platform)
                             and (release := _release(entry)) and _wants(request, release)),
                            key=lambda c: c[0], reverse=True)
        for release, key, entry in candidates:
            try:
                return self._build(key, entry, platform, str(request), release)
            except (MirrorError, Refused) as exc:
                self.rejected.append({"tool": PYTHON, "file": str(key), "reason": str(exc)})
        return None

    def _build(self, key: object, entry: dict, platform: ToolPlatform, request: str,
               release: tuple[int, int, int]) -> PythonBuild:
        """A listed build, every name and the URL checked (raises MirrorError or Refused)."""
        plain_name(key, "build key")
        url = entry.get("url")
        if not isinstance(url, str):
            raise MirrorError(f"{key}: no URL")
        self.python_transport.check_url(url, str(key))
        path = urlsplit(url).path
        filename = plain_name(unquote(posixpath.basename(path)), f"{key}: file name")
        folder = plain_name(unquote(posixpath.basename(posixpath.dirname(path))),
                            f"{key}: folder")
        sha256 = str(entry.get("sha256") or "").lower()
        if not is_sha256(sha256):
            raise MirrorError(f"{key}: no valid sha256 in the list, cannot verify it")
        kept = {k: v for k, v in entry.items() if k != "url"}
        return PythonBuild(str(key), folder, filename, url, sha256, platform, request,
                           ".".join(map(str, release)), kept)

    # -- the run -----------------------------------------------------------------------------
    def look_up(self) -> None:
        """What to serve, from the index and the list (reads only the network)."""
        self.uv = self.uv_jobs()
        self.python = self.python_builds()

    def execute(self) -> dict:
        """Fetch what is missing and write the records (under the run lock)."""
        self.old = {tool: tool_records.load(self.layout, tool) for tool in (UV, PYTHON)}
        uv_jobs, builds = self.uv, self.python
        missing_uv = [j for j in uv_jobs if not self.uv_present(j)]
        missing_builds = [b for b in builds if not self._build_present(b)]
        sizes = self._sizes(missing_uv, missing_builds)
        if self.check_mode:
            return self._result(uv_jobs, builds, sizes)
        # An archive takes about the room of its wheel, and both exist for a moment.
        needed = sum(s or 0 for s in sizes["uv"]) * 2 + sum(s or 0 for s in sizes["python"])
        require_room(self.layout.root, needed, self.plan.limits.min_free_space,
                     "serve uv for fewer platforms or fewer Pythons")
        with ThreadPoolExecutor(max_workers=self.plan.limits.concurrency) as pool:
            work = [partial(self.build_uv, j) for j in missing_uv]
            work += [partial(self._fetch_build, b) for b in missing_builds]
            list(pool.map(lambda job: job(), work))
        for job in missing_uv:
            if job.status == "failed":
                self._fail(UV, job.platform.uv_archive, job.error)
        for build in missing_builds:
            if build.outcome.status == "failed":
                self._fail(PYTHON, build.filename, build.outcome.error)
        changed = self._write_records(uv_jobs, builds)
        changed |= any(j.status == "built" for j in uv_jobs)
        changed |= any(b.outcome and b.outcome.status == "downloaded" for b in builds)
        if self.plan.prune:
            changed |= self._prune()
        self._tidy()
        return self._result(uv_jobs, builds, sizes, changed)

    def _build_present(self, build: PythonBuild) -> bool:
        reason = self.builds.conflict(build)
        if reason:
            build.outcome = FileOutcome(build, "failed", 0, reason)
            self._fail(PYTHON, build.filename, reason)
            return True  # nothing to fetch: the published file stays
        if self.builds.is_present(build):
            build.outcome = FileOutcome(build, "present")
            return True
        return False

    def _fetch_build(self, build: PythonBuild) -> None:
        build.outcome = self.builds.fetch(build)

    def _sizes(self, uv_jobs: list[UvJob], builds: list[PythonBuild]) -> dict:
        """Bytes each missing file still needs (None: unknown), per tool."""
        with ThreadPoolExecutor(max_workers=self.plan.limits.concurrency) as pool:
            return {UV: list(pool.map(lambda j: self.wheels.bytes_to_fetch(j.wheel), uv_jobs)),
                    PYTHON: list(pool.map(self.builds.bytes_to_fetch, builds)),
                    "files": [j.wheel.filename for j in uv_jobs] + [b.filename for b in builds]}

    def _write_records(self, uv_jobs: list[UvJob], builds: list[PythonBuild]) -> bool:
        """Records of what is now served, written after the files. A slot whose new file failed
        keeps the file it had; a tool switched off loses its records (its files stay, unless
        pruned)."""
        uv = {}
        if UV in self.plan.tools:
            made = {j.platform.name: j.record for j in uv_jobs if j.record}
            old = tool_records.entries(self.old[UV], UV)
            for platform in self.plan.uv_platforms:
                if platform.name in made:
                    uv[platform.name] = made[platform.name]
                elif platform.name in old and self._intact(
                        tool_records.uv_file(self.layout, old[platform.name])):
                    uv[platform.name] = old[platform.name]
        changed = tool_records.save(self.layout, UV, {"archives": uv} if uv else {})
        python = {}
        if PYTHON in self.plan.tools:
            for build in builds:
                if build.outcome and build.outcome.status in ("present", "downloaded") \
                        and self.builds.is_present(build):
                    python[build.key] = build.record(self.builds.final_path(build).stat().st_size)
            filled = {(r["platform"], r["request"]) for r in python.values()}
            for key, record in tool_records.entries(self.old[PYTHON], PYTHON).items():
                slot = (record["platform"], record["request"])
                if slot not in filled and self._still_asked(record) and self._intact(
                        tool_records.python_file(self.layout, record)):
                    python[key] = record
        records = {"source": self.python_source, "builds": python} if python else {}
        return changed | tool_records.save(self.layout, PYTHON, records)

    def _still_asked(self, record: dict) -> bool:
        names = {p.name for p in self.plan.python_platforms}
        return record["platform"] in names and any(
            str(r) == record["request"] for r in self.plan.python_requests)

    @staticmethod
    def _intact(file: tool_records.ToolFile) -> bool:
        try:
            return os.stat(file.path).st_size == file.size
        except OSError:
            return False

    def _prune(self) -> bool:
        """Remove what uv/ and python/ hold that no record lists."""
        listed = {f.path for tool in (UV, PYTHON)
                  for f in tool_records.files(self.layout, tool,
                                              tool_records.load(self.layout, tool))}
        changed = False
        for tool in (UV, PYTHON):
            for folder, _dirs, names in os.walk(self.layout.tool_folder(tool), topdown=False):
                for name in names:
                    path = Path(folder) / name
                    if path not in listed:
                        path.unlink()
                        changed = True
                with contextlib.suppress(OSError):
                    Path(folder).rmdir()  # only when empty
        return changed

    def _tidy(self) -> None:
        """Drop the empty folders finished downloads left under .partial/, and the archives a
        killed run left half written (a dot-name: never served)."""
        for shelf in (self.layout.uv_wheels, self.layout.python_builds):
            if shelf.partial.is_dir():
                for folder in shelf.partial.iterdir():
                    with contextlib.suppress(OSError):
                        folder.rmdir()
        for leftover in self.layout.tool_folder(UV).glob("*/.tmp-*"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _result(self, uv_jobs: list[UvJob], builds: list[PythonBuild], sizes: dict,
                changed: bool = False) -> dict:
        current = {tool: tool_records.load(self.layout, tool) for tool in (UV, PYTHON)}
        listed = [f for tool in (UV, PYTHON)
                  for f in tool_records.files(self.layout, tool, current[tool])]
        uv_status = {j.platform.name: j.status or "missing" for j in uv_jobs}
        downloaded = [b for b in builds if b.outcome and b.outcome.status == "downloaded"]
        built = [j for j in uv_jobs if j.status == "built"]
        result = {
            "changed": changed,
            "check_mode": self.check_mode,
            "complete": not self.failures,
            "dest": str(self.layout.root),
            "tools": sorted(self.plan.tools),
            "uv": {
                "version": self.uv_version if UV in self.plan.tools else None,
                "archives": [dict(record, platform=name, status=uv_status.get(name, "kept"))
                             for name, record in sorted(tool_records.entries(current[UV],
                                                                             UV).items())],
            },
            "python": {
                "source": self.python_source,
                "builds": [dict(record, key=key) for key, record in sorted(
                    tool_records.entries(current[PYTHON], PYTHON).items())],
            },
            "downloaded": {"count": len(built) + len(downloaded),
                           "bytes": sum(j.record["size"] for j in built)
                           + sum(b.size or self._size_on_disk(b) for b in downloaded)},
            "received_bytes": sum(j.received for j in uv_jobs)
            + sum(b.outcome.received for b in builds if b.outcome),
            "tools_size": sum(f.size for f in listed),
            "failures": self.failures,
            "unavailable": self.unavailable,
            "rejected": self.rejected,
        }
        if self.check_mode:
            uv_bytes = sum(s or 0 for s in sizes[UV])
            python_bytes = sum(s or 0 for s in sizes[PYTHON])
            free = free_bytes(self.layout.root)
            needed = uv_bytes + python_bytes
            result["would_download"] = {
                "count": len(sizes["files"]),
                "bytes": needed,
                "uv_bytes": uv_bytes,
                "python_bytes": python_bytes,
                "unknown_size": sum(1 for s in sizes[UV] + sizes[PYTHON] if s is None),
                "files": sorted(sizes["files"]),
                "free_space": free,
                "fits": free is None or needed + self.plan.limits.min_free_space <= free,
            }
            result["changed"] = bool(sizes["files"]) or self._records_would_change(current)
        return result

    def _records_would_change(self, current: dict) -> bool:
        return any(bool(current[tool]) != (tool in self.plan.tools) for tool in (UV, PYTHON))

    def _size_on_disk(self, build: PythonBuild) -> int:
        with contextlib.suppress(OSError):
            return self.builds.final_path(build).stat().st_size
        return 0


# -- uv's archives ----------------------------------------------------------------------------
def _scripts(wheel: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The executables a uv wheel installs (``<name>-<version>.data/scripts/*``), checked."""
    members = []
    for info in wheel.infolist():
        folder, _, name = info.filename.rpartition("/")
        parts = folder.split("/")
        if len(parts) == 2 and parts[0].endswith(".data") and parts[1] == "scripts" and name:
            plain_name(name, "script in the wheel")
            members.append(info)
    names = {m.filename.rpartition("/")[2] for m in members}
    if not names & {"uv", "uv.exe"}:
        raise MirrorError("no uv executable in the wheel's scripts")
    if sum(m.file_size for m in members) > UV_UNPACKED_LIMIT:
        raise MirrorError(f"its scripts unpack to more than {UV_UNPACKED_LIMIT} bytes")
    return sorted(members, key=lambda m: m.filename)


def repack_uv(wheel: Path, platform: ToolPlatform, dest: Path) -> tuple[str, int]:
    """Write ``dest``, the archive uv's own releases have for ``platform``, from uv's wheel:
    ``uv-<triple>/uv`` (and ``uvx``) in a .tar.gz, or ``uv.exe``, ``uvx.exe``, ``uvw.exe`` in a
    .zip for Windows. The same wheel gives the same bytes (fixed times, owners, order). The
    archive appears whole or not at all. Returns (sha256, size)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=str(dest.parent), prefix=".tmp-", suffix="-" + dest.name)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as source:
            members = _scripts(source)
            if dest.name.endswith(".zip"):
                _write_zip(out, source, members)
            else:
                _write_tar_gz(out, source, members, f"uv-{platform.triple}")
            out.flush()
            os.fsync(out.fileno())
        sha256, size = sha256_file(tmp), tmp.stat().st_size
        publish(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(dest.parent)
    return sha256, size


def _write_tar_gz(out, source: zipfile.ZipFile, members: list[zipfile.ZipInfo],
                  top: str) -> None:
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0,
                       compresslevel=COMPRESSION) as packed, \
            tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = _tar_info(top, 0)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for member in members:
            info = _tar_info(f"{top}/{member.filename.rpartition('/')[2]}", member.file_size)
            with source.open(member) as data:
                tar.addfile(info, data)


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o755, ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_zip(out, source: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION) as packed:
        for member in members:
            info = zipfile.ZipInfo(member.filename.rpartition("/")[2], (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix: the mode below means the same everywhere
            info.external_attr = 0o100755 << 16
            info.file_size = member.file_size
            with source.open(member) as data, packed.open(info, "w") as target:
                shutil.copyfileobj(data, target, 1 << 20)


# -- entry point ------------------------------------------------------------------------------
def run(options, check_mode: bool = False) -> dict:
    """Serve uv and Python builds from ``options.dest``. Raises MirrorInputError / UpstreamError
    / NoRoom before any change; ``complete`` is False when anything is missing."""
    plan = validate(options)
    job = _ToolsRun(plan, check_mode)
    try:
        # An index or a list that cannot be used is reported before dest is even created.
        job.look_up()
        if check_mode:
            return job.execute()
        with writing(plan.layout):
            return job.execute()
    finally:
        job.session.close()
