"""A static PEP 503 / PEP 691 index of pypiserver's package directory, and the box's root page.

pypiserver re-scans and re-hashes its whole directory for every index page it serves. This
writes the pages once per change instead, with the mirror's renderers (``index``), so that nginx
serves private projects the way it serves mirrored ones: from disk. The nginx_cache role runs it
on every change in the package directory (a systemd path unit) and once at provision time.

- The directory is flat, as pypiserver's uploads are: the wheels and sdists (``.tar.gz``,
  ``.zip``) at its top are listed; dot-names, other files and sub-directories are not.
- A file is listed once it is whole: a wheel or ``.zip`` whose central directory reads, a
  ``.tar.gz`` whose gzip stream ends. pypiserver writes an upload under its final name, so a
  file still growing is left out, and the run passes again until the directory is quiet.
- The sha256 and Requires-Python of each file are kept in ``<dest>/.state/files.json`` under
  its name, size and mtime, so a re-run reads only new or changed files.
- Pages link ``../../packages/<file>#sha256=...`` (nginx serves ``/packages/`` from disk) and
  carry a ``.gz`` twin for nginx's gzip_static.
- ``simple/index.{html,json}`` lists these projects and the mirror's (its own root page), so
  ``/simple/`` shows everything the box serves. Pages of projects that are gone are removed
  after the root page stops listing them.

Only the standard library and ``packaging`` as Debian 12 ships it (23.0): this runs on the box.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from . import index
from .errors import MetadataError, MirrorError
from .fsutil import run_lock, sha256_file, write_if_changed
from .layout import PAGES, Layout
from .metadata import requires_python, sdist_metadata, wheel_metadata
from .names import is_normalized_name, is_sha256, parse_filename

FILES_URL = "../../packages"  # from /simple/<project>/ to pypiserver's directory
STATE_VERSION = 1
# How long the package directory must stay unchanged for a run to end, and the longest a run
# keeps waiting for that; an upload finishing later triggers the next run.
SETTLE_SECONDS = 1.0
MAX_SECONDS = 30.0
# A .tar.gz is checked to the end of its gzip stream; past this many bytes unpacked it is
# taken as whole (it was not growing) rather than unpacked further.
GZIP_CHECK_LIMIT = 1 << 30

Listing = dict[str, tuple[int, int]]  # filename -> (size, mtime_ns)


def list_packages(packages: Path) -> Listing:
    """Size and mtime of every regular file (or link to one) at the top of ``packages``."""
    found: Listing = {}
    try:
        entries = list(os.scandir(packages))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_file():
                continue
            info = entry.stat()
        except OSError:  # removed while we looked
            continue
        found[entry.name] = (info.st_size, info.st_mtime_ns)
    return found


def _gzip_ends(path: Path) -> bool:
    """True when the gzip stream runs to its end marker (a cut upload stops short)."""
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    unpacked = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            while block and not unpacker.eof:
                unpacked += len(unpacker.decompress(block, 1 << 20))
                block = unpacker.unconsumed_tail
            if unpacker.eof or unpacked > GZIP_CHECK_LIMIT:
                return True
    return False


def _is_whole(path: Path) -> bool:
    try:
        if path.name.endswith(".tar.gz"):
            return _gzip_ends(path)
        with zipfile.ZipFile(path):
            return True
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return False


def _requires_python(path: Path) -> str | None:
    """From the wheel's METADATA or the sdist's PKG-INFO (both read with bounds, see
    ``metadata``); None when it cannot be read: the file is listed anyway, and pip will say
    what is wrong with it."""
    try:
        metadata = wheel_metadata(path) if path.name.endswith(".whl") else sdist_metadata(path)
    except MetadataError:
        return None
    return requires_python(metadata) if metadata else None


def examine(path: Path, seen: tuple[int, int]) -> dict | None:
    """What the index needs to know of one file, or None if it changed while being read."""
    entry = {"size": seen[0], "mtime_ns": seen[1], "complete": _is_whole(path)}
    try:
        if entry["complete"]:
            entry["sha256"] = sha256_file(path)
            entry["requires_python"] = _requires_python(path)
        after = os.stat(path)
    except OSError:  # removed meanwhile
        return None
    return entry if (after.st_size, after.st_mtime_ns) == seen else None


def _renderer() -> str:
    """Changes when the code that renders pages changes: then every page is written again."""
    digest = hashlib.sha256()
    for module in (index.__file__, __file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


class _State:
    """``.state/files.json``: what each file is (kept under its name, size and mtime), and
    which files each project's pages were last written from."""

    def __init__(self, dest: Layout) -> None:
        self.path = dest.state / "files.json"
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            data = {}
        files, pages = data.get("files"), data.get("pages")
        self.files: dict[str, dict] = files if isinstance(files, dict) else {}
        self.pages: dict[str, str] = pages if isinstance(pages, dict) else {}
        if data.get("renderer") != _renderer():
            self.pages = {}

    def save(self) -> None:
        body = json.dumps({"version": STATE_VERSION, "renderer": _renderer(),
                           "files": self.files, "pages": self.pages}, sort_keys=True)
        write_if_changed(self.path, body.encode())


def _upload_time(mtime_ns: int) -> str:
    moment = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mirror_projects(mirror: Path | None) -> list[str]:
    """The projects on the mirror's root page (none without a mirror)."""
    names = index.read_root(Layout(mirror)) if mirror is not None else None
    return [n for n in names or [] if is_normalized_name(n)]


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _still_valid(entry: object, seen: tuple[int, int]) -> bool:
    """A kept entry describes the file as it is now (and is well-formed)."""
    if not isinstance(entry, dict) or (entry.get("size"), entry.get("mtime_ns")) != seen:
        return False
    if not isinstance(entry.get("project"), str) or not isinstance(entry.get("version"), str):
        return False
    return not entry.get("complete") or is_sha256(entry.get("sha256"))


def _describe(packages: Path, name: str, seen: tuple[int, int]) -> dict | None:
    """A new state entry for one file; None when the file changed while being read.

    Raises MirrorError or ValueError for a name that is not a distribution to list.
    """
    _kind, project, version, _tags = parse_filename(name)
    if not is_normalized_name(project):
        raise ValueError(f"{project!r} is not a project name an index can serve")
    entry = examine(packages / name, seen)
    if entry is not None:
        entry.update(project=project, version=str(version))
    return entry


class _Pass:
    """One look at the directory: which files make which project's pages."""

    def __init__(self, packages: Path, listing: Listing, known: dict[str, dict]) -> None:
        self.projects: dict[str, list[tuple[str, tuple[int, int], dict]]] = {}
        self.fingerprints: dict = {}  # project -> sha256 of what its pages list
        self.files: dict[str, dict] = {}  # the entries to keep
        self.read = 0
        self.incomplete: list[str] = []
        self.moving: list[str] = []  # changed while being read
        self.ignored: list[str] = []
        for name, seen in sorted(listing.items()):
            entry = known.get(name)
            if not _still_valid(entry, seen):
                try:
                    entry = _describe(packages, name, seen)
                except (MirrorError, ValueError):
                    self.ignored.append(name)
                    continue
                if entry is None:
                    self.moving.append(name)
                    continue
                self.read += 1
            self.files[name] = entry
            if not entry["complete"]:
                self.incomplete.append(name)
                continue
            project = entry["project"]
            self.projects.setdefault(project, []).append((name, seen, entry))
            self.fingerprints.setdefault(project, hashlib.sha256()).update(
                f"{name}\t{seen[0]}\t{seen[1]}\t{entry['sha256']}\n".encode())

    def records(self, project: str) -> list[index.Record]:
        """What the renderers need of each file, in page order."""
        return index.in_page_order({
            "filename": name,
            "version": entry["version"],
            "sha256": entry["sha256"],
            "size": seen[0],
            "requires_python": entry.get("requires_python"),
            "upload_time": _upload_time(seen[1]),
        } for name, seen, entry in self.projects[project])

    def fingerprint(self, project: str) -> str:
        return self.fingerprints[project].hexdigest()


def _write(dest: Layout, found: _Pass, state: _State, mirrored: Iterable[str]
           ) -> tuple[bool, list[str]]:
    """Project pages, then the root page, then the removal of pages nothing lists any more.

    A project's pages are rendered only when its files changed since they were last written
    (or a page is missing): a re-run over 50,000 unchanged files renders nothing but the root.
    """
    changed = False
    pages = {}
    for project in sorted(found.projects):
        folder = dest.project_pages(project)
        pages[project] = found.fingerprint(project)
        if state.pages.get(project) == pages[project] and all(
                (folder / page).is_file() for page in PAGES):
            continue
        changed |= index.write_project_pages(folder, project, found.records(project),
                                             files_url=FILES_URL, gzip_siblings=True)
    state.pages = pages
    changed |= index.write_root(dest, set(found.projects) | set(mirrored), gzip_siblings=True)
    removed = []
    try:
        folders = [e.name for e in os.scandir(dest.simple) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        folders = []
    for name in sorted(folders):
        gone = name not in found.projects and not name.startswith(".")
        if gone and index.remove_project_pages(dest.project_pages(name)):
            removed.append(name)
    return changed or bool(removed), removed


def build(packages: Path, dest: Path, mirror: Path | None = None,
          settle: float = SETTLE_SECONDS, max_seconds: float = MAX_SECONDS) -> dict:
    """Bring ``dest`` up to date with ``packages``; passes again while the directory changes."""
    deadline = time.monotonic() + max_seconds
    changed = False
    removed: set[str] = set()
    passes = read = 0
    layout = Layout(dest)
    mirror_page = Layout(mirror).root_page("json") if mirror else None
    with run_lock(layout, wait=True):
        state = _State(layout)
        while True:
            passes += 1
            listing = list_packages(packages)
            mirror_root = _signature(mirror_page) if mirror_page else None
            found = _Pass(packages, listing, state.files)
            read += found.read
            state.files = found.files
            wrote, gone = _write(layout, found, state, mirror_projects(mirror))
            # After the pages: a run cut short renders again what it may not have finished.
            state.save()
            changed |= wrote
            removed.update(gone)
            quiet = (not found.moving and list_packages(packages) == listing
                     and (mirror_page is None or _signature(mirror_page) == mirror_root))
            if quiet or time.monotonic() + settle > deadline:
                break
            time.sleep(settle)
    return {
        "changed": changed,
        "projects": len(found.projects),
        "files": sum(len(r) for r in found.projects.values()),
        "read": read,
        "root_projects": len(set(found.projects) | set(mirror_projects(mirror))),
        "removed_projects": sorted(removed - set(found.projects)),
        "incomplete": found.incomplete + found.moving,
        "ignored": found.ignored,
        "passes": passes,
        "settled": quiet,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pypi-in-a-box-index",
        description="Write the static simple index of pypiserver's package directory, and the "
                    "root page listing its projects and the mirror's.")
    parser.add_argument("--packages", required=True, type=Path,
                        help="pypiserver's package directory (read only)")
    parser.add_argument("--dest", required=True, type=Path,
                        help="where simple/ and the hash cache (.state/) are written")
    parser.add_argument("--mirror", type=Path,
                        help="the mirror's root, whose simple/index.json lists its projects")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help="seconds the directory must stay unchanged (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                        help="longest wait for the directory to settle (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = build(args.packages, args.dest, args.mirror, args.settle, args.max_seconds)
    except (OSError, MirrorError) as exc:
        print(f"pypi-in-a-box-index: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{result['files']} files of {result['projects']} projects indexed "
              f"({result['read']} read), {result['root_projects']} on the root page"
              + (", changed" if result["changed"] else ", unchanged")
              + (f"; not yet whole: {', '.join(result['incomplete'])}"
                 if result["incomplete"] else "")
              + (f"; removed: {', '.join(result['removed_projects'])}"
                 if result["removed_projects"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
