"""The static simple index the box serves, and the records it is built from.

Per project the mirror keeps a record set (``layout.records_file``): one record per mirrored
file (hash, size, requires-python, yanked, metadata hash). Pages are rendered from these records
and the files on disk, so files kept from earlier runs stay listed; a page is replaced
atomically and only after every file it links to is complete. ``private_index`` renders
pypiserver's packages with the same functions.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .fsutil import write_if_changed
from .layout import FILES, PAGES, Layout

API_VERSION = "1.1"
Record = dict[str, object]


def load_records(layout: Layout, project: str) -> dict[str, Record]:
    try:
        data = json.loads(layout.records_file(project).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def save_records(layout: Layout, project: str, records: dict[str, Record]) -> bool:
    body = json.dumps({"name": project, "files": records}, indent=1, sort_keys=True)
    return write_if_changed(layout.records_file(project), body.encode())


def known_projects(layout: Layout) -> list[str]:
    if not layout.records.is_dir():
        return []
    return sorted(p.stem for p in layout.records.glob("*.json")
                  if p.stem == canonicalize_name(p.stem))


def present_records(layout: Layout, project: str, records: dict[str, Record]) -> list[Record]:
    """Records whose file is really on disk, in page order (see in_page_order)."""
    present = []
    for filename, record in records.items():
        if layout.file(project, filename).is_file():
            present.append(dict(record, filename=filename))
    return in_page_order(present)


def in_page_order(records: Iterable[Record]) -> list[Record]:
    """Oldest version first, then by filename (an invalid version sorts as 0)."""

    def key(record: Record):
        try:
            version = Version(str(record.get("version")))
        except InvalidVersion:
            version = Version("0")
        return (version, str(record["filename"]))

    return sorted(records, key=key)


def file_url(files_url: str | None, project: str, filename: str) -> str:
    """A file's URL under ``files_url``; by default relative to its project's page, from
    simple/<project>/ up to the mirror's files/<project>/."""
    base = f"../../{FILES}/{project}" if files_url is None else files_url
    return f"{base}/{quote(filename)}"


def render_project_html(project: str, records: Iterable[Record],
                        files_url: str | None = None) -> str:
    """PEP 503 page; links to ``files_url``/<file> (relative to the page), by default the
    mirror's ``files/<project>/``."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        f'<meta name="pypi:repository-version" content="{API_VERSION}">',
        f"<title>Links for {html.escape(project)}</title>",
        "</head>",
        "<body>",
        f"<h1>Links for {html.escape(project)}</h1>",
    ]
    for record in records:
        filename = str(record["filename"])
        url = file_url(files_url, project, filename)
        attrs = [f'href="{html.escape(url)}#sha256={record["sha256"]}"']
        if record.get("requires_python"):
            attrs.append(f'data-requires-python="{html.escape(str(record["requires_python"]))}"')
        if record.get("yanked") is not None:
            attrs.append(f'data-yanked="{html.escape(str(record["yanked"]))}"')
        if record.get("metadata_sha256"):
            value = f"sha256={record['metadata_sha256']}"
            # PEP 714: the new name, plus the old one for installers from before it.
            attrs.append(f'data-dist-info-metadata="{value}"')
            attrs.append(f'data-core-metadata="{value}"')
        lines.append(f"<a {' '.join(attrs)}>{html.escape(filename)}</a><br>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def render_project_json(project: str, records: Iterable[Record],
                        files_url: str | None = None) -> str:
    """PEP 691 page; file URLs as in render_project_html."""
    files = []
    versions = set()
    for record in records:
        filename = str(record["filename"])
        entry: dict[str, object] = {
            "filename": filename,
            "url": file_url(files_url, project, filename),
            "hashes": {"sha256": record["sha256"]},
            "requires-python": record.get("requires_python") or None,
            "size": record["size"],
            "yanked": False if record.get("yanked") is None else (record["yanked"] or True),
            "core-metadata": {"sha256": record["metadata_sha256"]}
            if record.get("metadata_sha256") else False,
        }
        if record.get("upload_time"):
            entry["upload-time"] = record["upload_time"]
        files.append(entry)
        versions.add(str(record.get("version")))
    data = {
        "meta": {"api-version": API_VERSION},
        "name": project,
        "versions": sorted(versions, key=_version_key),
        "files": files,
    }
    return json.dumps(data, indent=1) + "\n"


def _version_key(text: str):
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)


def write_page(path: Path, data: bytes, gzip_sibling: bool = False) -> bool:
    """write_if_changed, and ``<path>.gz`` beside it first for nginx's gzip_static; True when
    either changed. The .gz is byte-stable (no timestamp), so an unchanged page stays unchanged.
    """
    changed = False
    if gzip_sibling:
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        changed = write_if_changed(path.with_name(path.name + ".gz"), packed)
    return write_if_changed(path, data) or changed


def write_project(layout: Layout, project: str, records: dict[str, Record]) -> bool:
    """Write both pages of one mirrored project; True when either changed.

    A project none of whose files is on disk gets no pages (clients get a 404, as for any
    project the mirror does not have), unless it had pages before: those then list nothing.
    """
    present = present_records(layout, project, records)
    folder = layout.project_pages(project)
    if not present and not folder.exists():
        return False
    return write_project_pages(folder, project, present)


def write_project_pages(folder: Path, project: str, records: list[Record],
                        files_url: str | None = None, gzip_siblings: bool = False) -> bool:
    """Write ``folder``/index.json then index.html (try_files looks for the HTML last)."""
    json_page = render_project_json(project, records, files_url).encode()
    html_page = render_project_html(project, records, files_url).encode()
    changed = write_page(folder / "index.json", json_page, gzip_siblings)
    changed |= write_page(folder / "index.html", html_page, gzip_siblings)
    return changed


def remove_project_pages(folder: Path) -> bool:
    """Delete a project's pages and then its folder (unless something unknown is left in it)."""
    removed = False
    for page in PAGES:
        with contextlib.suppress(FileNotFoundError):
            (folder / page).unlink()
            removed = True
    with contextlib.suppress(OSError):
        folder.rmdir()
    return removed


def write_root(layout: Layout, projects: Iterable[str], gzip_siblings: bool = False) -> bool:
    names = sorted(set(projects))
    data = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
    changed = write_page(layout.root_page("json"),
                         (json.dumps(data, indent=1) + "\n").encode(), gzip_siblings)
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        f'<meta name="pypi:repository-version" content="{API_VERSION}">',
        "<title>Simple index</title>",
        "</head>",
        "<body>",
    ]
    lines += [f'<a href="{quote(n)}/">{html.escape(n)}</a><br>' for n in names]
    lines += ["</body>", "</html>", ""]
    changed |= write_page(layout.root_page("html"), "\n".join(lines).encode(), gzip_siblings)
    return changed


def read_root(layout: Layout) -> list[str] | None:
    """Project names the root page lists; None when there is no readable root page."""
    try:
        data = json.loads(layout.root_page("json").read_bytes())
        names = [entry["name"] for entry in data["projects"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return names if all(isinstance(n, str) for n in names) else None
