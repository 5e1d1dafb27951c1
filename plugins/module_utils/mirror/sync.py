"""Make a staged copy of a mirror live: the fleet's way to install one mirror on many boxes.

The mirror is built once, on the controller, and rsync'd into ``<dest>/.incoming/`` of every box
with ``--link-dest=<dest>``, so the files a box already serves arrive as hard links of them and
cost neither transfer nor space. ``publish_staged`` then makes that copy live, trusting nothing
in it: names are checked, and every file that is new to ``dest`` is verified against its record
(size, sha256, metadata sha256) before anything is touched; one bad file and nothing is
published. Files go in as hard links of the staged ones (the staged copy stays a twin of the
live mirror, so the next rsync sends only what changed), then records and pages are written,
and only after no page lists them are the files and projects the staged mirror dropped removed.

Which projects are live is the staged root page's word, not the records': the engine's
``prune`` drops a deselected project from the root page but keeps its records and files.

uv and the Python builds (``uv/``, ``python/``) go the same way: every staged file their records
(``tool_records``) list is verified unless dest already holds that very file, they are linked
in with the distributions, their records are written with the pages, and what dest's ``uv/``
and ``python/`` hold beyond them is removed last.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from . import index, tool_records
from .errors import MirrorError
from .fsutil import existing_ancestor, link_into_place, run_lock, sha256_of
from .layout import FILES, METADATA_SUFFIX, SIMPLE, TOOLS, Layout
from .names import check_filename, is_normalized_name, is_sha256

_TEXT_FIELDS = ("version", "requires_python", "yanked", "upload_time")
_SHOWN_ERRORS = 10


@dataclass
class _File:
    """One staged distribution (or its metadata) and what publishing it takes."""

    project: str
    name: str
    staged: Path
    live: Path
    sha256: str
    size: int
    in_place: bool = False  # dest already holds this very inode
    inode: tuple[int, int] | None = None  # what was verified, when it was


def _fail(problems: list[str], what: str) -> None:
    shown = "; ".join(problems[:_SHOWN_ERRORS])
    more = f"; and {len(problems) - _SHOWN_ERRORS} more" if len(problems) > _SHOWN_ERRORS else ""
    raise MirrorError(f"{len(problems)} {what}, nothing was published: {shown}{more}")


def _check_record(project: str, filename: object, record: object) -> str | None:
    """What is wrong with one staged record, or None."""
    if not isinstance(filename, str):
        return f"{project}: filename {filename!r} is not a string"
    try:
        check_filename(project, filename)
    except (MirrorError, ValueError) as exc:
        return f"{project}: {exc}"
    where = f"{project}/{filename}"
    if not isinstance(record, dict):
        return f"{where}: record is not an object"
    if not is_sha256(record.get("sha256")):
        return f"{where}: bad sha256 {record.get('sha256')!r}"
    size = record.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"{where}: bad size {size!r}"
    if record.get("metadata_sha256") is not None and not is_sha256(record["metadata_sha256"]):
        return f"{where}: bad metadata_sha256 {record['metadata_sha256']!r}"
    for key in _TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{where}: {key} is not a string"
    return None


def load_staged_records(staging: Layout) -> dict[str, dict[str, index.Record]]:
    """Every record set of the staged mirror, checked; raises MirrorError naming each offender."""
    folder = staging.records
    found: dict[str, dict[str, index.Record]] = {}
    problems = []
    paths = sorted(folder.iterdir()) if folder.is_dir() else []
    # Dot-names are atomic_write's temporaries, left by a controller run that was killed.
    for path in (p for p in paths if p.name.endswith(".json") and not p.name.startswith(".")):
        project = path.name[: -len(".json")]
        if not is_normalized_name(project):
            problems.append(f"{path.name}: {project!r} is not a normalized project name")
            continue
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: unreadable ({exc})")
            continue
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or data.get("name", project) != project:
            problems.append(f"{path.name}: not a record set of {project!r}")
            continue
        problems += filter(None, (_check_record(project, f, r) for f, r in files.items()))
        found[project] = files
    if problems:
        _fail(problems, f"bad staged records in {folder}")
    return found


def _regular_inode(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a regular file at exactly ``path`` (no symlink), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _verify(file: _File) -> str | None:
    """Hash the staged file; remember its inode and make its bytes durable. Returns a problem."""
    try:
        fd = os.open(file.staged, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        return f"{file.project}/{file.name}: cannot read ({exc.strerror})"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{file.project}/{file.name}: not a regular file"
        if info.st_size != file.size:
            return f"{file.project}/{file.name}: {info.st_size} bytes, recorded {file.size}"
        digest = sha256_of(handle)
        if digest != file.sha256:
            return f"{file.project}/{file.name}: sha256 {digest}, recorded {file.sha256}"
        os.fsync(fd)  # rsync does not; the page will vouch for these bytes after a power cut
    file.inode = (info.st_dev, info.st_ino)
    return None


class _Publication:
    def __init__(self, dest: Layout, staging: Layout) -> None:
        self.dest = dest
        self.staging = staging
        self.records = load_staged_records(staging)
        if not self.records:
            raise MirrorError(f"{staging.root} holds no mirror (no records in {staging.records}); "
                              "nothing to publish")
        live = index.read_root(staging)
        if live is None:
            raise MirrorError(f"{staging.root_page()} is missing or unreadable; "
                              "is the staged copy complete?")
        unknown = sorted(set(live) - set(self.records))
        if unknown:
            raise MirrorError(f"the staged root page lists projects without staged records: "
                              f"{', '.join(map(repr, unknown[:_SHOWN_ERRORS]))}")
        if not live:
            raise MirrorError(f"the staged mirror in {staging.root} lists no project; refusing "
                              f"to empty {dest.root}")
        self.live = sorted(set(live))
        self.files: list[_File] = []  # distributions and metadata that will be listed
        self.published: dict[str, dict[str, index.Record]] = {}  # the records dest will have
        try:
            self.tool_records = {tool: tool_records.load(staging, tool) for tool in TOOLS}
        except MirrorError as exc:
            raise MirrorError(f"bad staged records of uv or Python, nothing was published: "
                              f"{exc}") from None
        self.tool_files: list[_File] = []  # uv's archives and the Python builds

    def plan(self) -> None:
        """Decide, per staged file, whether it is in place or must be verified and linked."""
        problems = []
        for project in self.live:
            live_records = index.load_records(self.dest, project)
            self.published[project] = {}
            folder = self.staging.project_files(project)
            if not (_is_real_dir(folder.parent) and _is_real_dir(folder)):
                # A symlink here would publish whatever it points at.
                problems.append(f"{project}: staged {folder} is missing or not a directory")
                continue
            for filename, record in sorted(self.records[project].items()):
                if not os.path.lexists(folder / filename):
                    continue  # the staged pages do not list it either
                known = live_records.get(filename) or {}
                recorded = all(known.get(k) == record.get(k)
                               for k in ("sha256", "size", "metadata_sha256"))
                files = self._files_of(project, filename, record)
                for file in files:
                    staged = _regular_inode(file.staged)
                    file.in_place = staged is not None and staged == _regular_inode(file.live)
                    if file.in_place and recorded:
                        continue  # verified when it was published
                    problem = (_verify(file) if staged else
                               f"{project}/{file.name}: missing or not a regular file")
                    if problem:
                        problems.append(problem)
                self.files += files
                self.published[project][filename] = record
            if not self.published[project]:
                # The engine lists a project on its root page only while it has files.
                problems.append(f"{project}: on the staged root page, but none of its files "
                                "is staged")
        problems += self._plan_tools()
        if problems:
            _fail(problems, "staged files failed verification")

    def _plan_tools(self) -> list[str]:
        """As plan() for the files uv's and the Python builds' records list; the problems."""
        problems = []
        for tool in TOOLS:
            try:
                known = tool_records.files(self.dest, tool, tool_records.load(self.dest, tool))
            except MirrorError:
                known = []  # dest's own record is unreadable: every staged file is verified
            verified = {(f.relative, f.sha256, f.size) for f in known}
            records = self.tool_records[tool]
            for staged, live in zip(tool_records.files(self.staging, tool, records),
                                    tool_records.files(self.dest, tool, records)):
                folder, _, name = staged.relative.rpartition("/")
                file = _File(folder, name, staged.path, live.path, staged.sha256, staged.size)
                inode = _regular_inode(file.staged)
                file.in_place = inode is not None and inode == _regular_inode(file.live)
                self.tool_files.append(file)
                if file.in_place and (staged.relative, staged.sha256, staged.size) in verified:
                    continue
                if not (_is_real_dir(file.staged.parent) and _is_real_dir(
                        file.staged.parent.parent)):
                    problem = f"{staged.relative}: staged folder missing or not a directory"
                elif inode is None:
                    problem = f"{staged.relative}: missing or not a regular file"
                else:
                    problem = _verify(file)
                if problem:
                    problems.append(problem)
        return problems

    def obsolete_tools(self) -> list[Path]:
        """Files in dest's uv/ and python/ that no staged record lists."""
        keep = {file.live for file in self.tool_files}
        stale = []
        for tool in TOOLS:
            for folder, _dirs, names in os.walk(self.dest.tool_folder(tool)):
                stale += [Path(folder) / n for n in names if Path(folder) / n not in keep]
        return sorted(stale)

    def _files_of(self, project: str, filename: str, record: index.Record) -> list[_File]:
        """The distribution, and its metadata file when the record announces one."""
        files = [_File(project, filename, self.staging.file(project, filename),
                       self.dest.file(project, filename),
                       str(record["sha256"]), int(record["size"]))]
        if record.get("metadata_sha256"):
            staged = self.staging.metadata(project, filename)
            try:
                size = os.lstat(staged).st_size
            except OSError:
                size = 0  # missing: plan() reports it
            files.append(_File(project, staged.name, staged, self.dest.metadata(project, filename),
                               str(record["metadata_sha256"]), size))
        return files

    def obsolete(self) -> tuple[list[str], list[Path]]:
        """Projects dest has that the staged mirror dropped, and files nothing will list."""
        projects = set(index.known_projects(self.dest))
        for folder in (SIMPLE, FILES):
            with contextlib.suppress(OSError):
                projects.update(entry.name for entry in os.scandir(self.dest.root / folder)
                                if entry.is_dir(follow_symlinks=False)
                                and is_normalized_name(entry.name))
        keep = {file.live for file in self.files}
        stale = []
        for project in sorted(projects):
            with contextlib.suppress(OSError):
                stale += [Path(e.path) for e in os.scandir(self.dest.project_files(project))
                          if not e.is_dir(follow_symlinks=False) and Path(e.path) not in keep]
        return sorted(projects - set(self.live)), stale

    def would_change(self, dropped: list[str], stale: list[Path]) -> bool:
        if dropped or stale or any(not f.in_place for f in self.files + self.tool_files):
            return True
        if index.read_root(self.dest) != self.live:
            return True
        if any(_loaded(self.dest, t) != self.tool_records[t] for t in TOOLS):
            return True
        return any(index.load_records(self.dest, p) != self.published[p] for p in self.live)

    def apply(self, dropped: list[str], stale: list[Path]) -> bool:
        """Files, then records and pages, then removals: no page ever lists a missing file."""
        changed = bool(dropped or stale)
        for file in self.files + self.tool_files:
            if not file.in_place:
                assert file.inode is not None  # verified in plan()
                link_into_place(file.staged, file.live, file.inode)
                changed = True
        for project in self.live:
            changed |= index.save_records(self.dest, project, self.published[project])
            changed |= index.write_project(self.dest, project, self.published[project])
        changed |= index.write_root(self.dest, self.live)
        for tool in TOOLS:
            changed |= tool_records.save(self.dest, tool, self.tool_records[tool])
        for project in dropped:
            index.remove_project_pages(self.dest.project_pages(project))
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for project in dropped:
            with contextlib.suppress(FileNotFoundError):
                self.dest.records_file(project).unlink()
            with contextlib.suppress(OSError):
                self.dest.project_files(project).rmdir()  # unless something unknown is left
        return changed

    def run(self, check_mode: bool) -> dict:
        self.plan()
        dropped, stale = self.obsolete()
        stale_tools = self.obsolete_tools()
        tools_removed = _stale_sizes(stale_tools)
        removed = _distributions(_stale_sizes(stale))
        stale += stale_tools
        changed = self.would_change(dropped, stale) if check_mode else self.apply(dropped, stale)
        files = [(f.name, f.size) for f in self.files]
        return {
            "changed": changed,
            "check_mode": check_mode,
            "dest": str(self.dest.root),
            "staging": str(self.staging.root),
            "projects": self.live,
            "files": _distributions(files)["count"],
            "published": _distributions(
                (f.name, f.size) for f in self.files if not f.in_place),
            "verified": _distributions((f.name, f.size) for f in self.files if f.inode),
            "unchanged": _distributions(
                (f.name, f.size) for f in self.files if f.in_place and not f.inode),
            "removed": removed,
            "removed_projects": dropped,
            "mirror_size": sum(size for _name, size in files),
            "tools": {
                "files": len(self.tool_files),
                "published": _sized(f for f in self.tool_files if not f.in_place),
                "verified": _sized(f for f in self.tool_files if f.inode),
                "removed": {"count": len(tools_removed),
                            "bytes": sum(size for _name, size in tools_removed)},
                "size": sum(f.size for f in self.tool_files),
            },
        }


def _distributions(files) -> dict:
    """Count and bytes of the distributions among ``files`` (metadata files ride along)."""
    sizes = [size for name, size in files
             if not name.endswith(METADATA_SUFFIX) and not name.startswith(".")]
    return {"count": len(sizes), "bytes": sum(sizes)}


def _sized(files) -> dict:
    files = list(files)
    return {"count": len(files), "bytes": sum(f.size for f in files)}


def _loaded(layout: Layout, tool: str) -> dict:
    """dest's records of ``tool``; an unreadable one is as good as none (it gets rewritten)."""
    try:
        return tool_records.load(layout, tool)
    except MirrorError:
        return {}


def _stale_sizes(stale: list[Path]) -> list[tuple[str, int]]:
    sizes = []
    for path in stale:
        with contextlib.suppress(OSError):
            sizes.append((path.name, os.lstat(path).st_size))
    return sizes


def publish_staged(dest: Path | str, staging: Path | str | None = None,
                   check_mode: bool = False) -> dict:
    """Make the mirror staged in ``staging`` (default ``<dest>/.incoming``) live in ``dest``.

    Raises MirrorError, with ``dest`` untouched, when the staged copy is missing, empty, names
    something unsafe or holds a file that does not match its record.
    """
    dest = Path(dest).expanduser().resolve()
    staging = Path(staging or Layout(dest).staging).expanduser().resolve()
    if not staging.is_dir():
        raise MirrorError(f"staging directory {staging} does not exist; rsync the controller's "
                          "mirror there first")
    if staging == dest:
        raise MirrorError(f"staging and dest are both {dest}; staging must be another directory")
    if os.stat(existing_ancestor(dest)).st_dev != os.stat(staging).st_dev:
        raise MirrorError(f"staging {staging} and dest {dest} are on different filesystems; "
                          "files are published as hard links, so they must share one")
    job = _Publication(Layout(dest), Layout(staging))  # reads only the staged copy: no lock yet
    if check_mode:
        return job.run(check_mode=True)
    dest.mkdir(parents=True, exist_ok=True)
    with run_lock(Layout(dest)):
        return job.run(check_mode=False)
