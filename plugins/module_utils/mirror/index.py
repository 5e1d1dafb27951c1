"""The static simple index the box serves, and the records it is built from.

Per project the mirror keeps ``.state/projects/<project>.json``: one record per mirrored file
(hash, size, requires-python, yanked, metadata hash). Pages are rendered from these records and
the files on disk, so files kept from earlier runs stay listed; a page is replaced atomically and
only after every file it links to is complete.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .fsutil import write_if_changed

API_VERSION = "1.1"
Record = dict[str, object]


def records_path(dest: Path, project: str) -> Path:
    return dest / ".state" / "projects" / f"{project}.json"


def load_records(dest: Path, project: str) -> dict[str, Record]:
    try:
        data = json.loads(records_path(dest, project).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def save_records(dest: Path, project: str, records: dict[str, Record]) -> bool:
    body = json.dumps({"name": project, "files": records}, indent=1, sort_keys=True)
    return write_if_changed(records_path(dest, project), body.encode())


def known_projects(dest: Path) -> list[str]:
    folder = dest / ".state" / "projects"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if p.stem == canonicalize_name(p.stem))


def present_records(dest: Path, project: str, records: dict[str, Record]) -> list[Record]:
    """Records whose file is really on disk, newest version first then by name."""
    present = []
    for filename, record in records.items():
        if (dest / "files" / project / filename).is_file():
            present.append(dict(record, filename=filename))

    def key(record: Record):
        try:
            version = Version(str(record.get("version")))
        except InvalidVersion:
            version = Version("0")
        return (version, str(record["filename"]))

    return sorted(present, key=key)


def _file_url(project: str, filename: str) -> str:
    return f"../../files/{project}/{quote(filename)}"


def render_project_html(project: str, records: Iterable[Record]) -> str:
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
        attrs = [f'href="{html.escape(_file_url(project, filename))}#sha256={record["sha256"]}"']
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


def render_project_json(project: str, records: Iterable[Record]) -> str:
    files = []
    versions = set()
    for record in records:
        filename = str(record["filename"])
        entry: dict[str, object] = {
            "filename": filename,
            "url": _file_url(project, filename),
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


def write_project(dest: Path, project: str, records: dict[str, Record]) -> bool:
    """Write both pages of one project (JSON first, HTML last); True when either changed."""
    present = present_records(dest, project, records)
    folder = dest / "simple" / project
    json_page = render_project_json(project, present).encode()
    html_page = render_project_html(project, present).encode()
    changed = write_if_changed(folder / "index.json", json_page)
    changed |= write_if_changed(folder / "index.html", html_page)
    return changed


def write_root(dest: Path, projects: Iterable[str]) -> bool:
    names = sorted(set(projects))
    data = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
    changed = write_if_changed(
        dest / "simple" / "index.json", (json.dumps(data, indent=1) + "\n").encode()
    )
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
    changed |= write_if_changed(dest / "simple" / "index.html", "\n".join(lines).encode())
    return changed
