"""Client of an upstream simple index: PEP 691 JSON preferred, PEP 503 HTML as the fallback.

Everything an upstream says is untrusted: filenames become paths on the box (checked by
``names``) and URLs are fetched (checked here), before anything else sees them.
"""

from __future__ import annotations

import json
import posixpath
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from packaging.tags import Tag
from packaging.version import Version

from .errors import DownloadError, UnsafeUpstreamData, UpstreamError
from .names import check_filename, is_sha256
from .transport import Refused, Transport

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# PyPI's pages live on pypi.org but its files on this host: allowed whenever pypi.org is used.
PYPI_FILE_HOST = "files.pythonhosted.org"
CAPTIVE_HINT = (
    "a captive portal (sign in from a browser on the same network), or a proxy's error or "
    "login page? Nothing was changed"
)


def allowed_hosts(index_urls: Sequence[str], extra: Sequence[str] = ()) -> set[str]:
    """The hosts a run may talk to: the indexes', PyPI's file host with pypi.org, ``extra``."""
    hosts = {(urlsplit(u).hostname or "").lower() for u in index_urls}
    if "pypi.org" in hosts:
        hosts.add(PYPI_FILE_HOST)
    hosts.update(h.lower() for h in extra)
    return {h for h in hosts if h}


@dataclass
class DistFile:
    """One distribution file as an upstream announces it (already validated)."""

    project: str  # canonical name
    filename: str
    url: str
    sha256: str
    version: Version
    kind: str  # "wheel" or "sdist"
    tags: frozenset[Tag] = field(default_factory=frozenset)
    requires_python: str | None = None
    yanked: str | None = None  # None: not yanked; "" yanked without a reason
    size: int | None = None
    metadata_sha256: str | None = None  # PEP 658 metadata offered: its hash ("" if unknown)
    has_metadata: bool = False
    upload_time: str | None = None

    @property
    def metadata_url(self) -> str:
        return self.url.split("#", 1)[0] + ".metadata"


@dataclass
class RejectedFile:
    project: str
    filename: str
    reason: str


def _yanked(value: object) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return ""
    return str(value)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str | None]] = []
        self._current: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._current["_text"] = ""
            self.links.append(self._current)

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["_text"] = (self._current.get("_text") or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None


def _hashes_from_attr(value: str | None) -> tuple[bool, str]:
    """Parse data-core-metadata: absent, "true", or "sha256=<hex>"."""
    if value is None or value.lower() == "false":
        return False, ""
    name, _, digest = value.partition("=")
    return True, digest.lower() if name.lower() == "sha256" else ""


class IndexClient:
    """Reads project pages from one or more simple indexes, through the run's transport."""

    def __init__(self, transport: Transport, index_urls: Sequence[str],
                 max_page_size: int) -> None:
        self.transport = transport
        self.index_urls = [u if u.endswith("/") else u + "/" for u in index_urls]
        self.max_page_size = max_page_size
        self.rejected: list[RejectedFile] = []
        self._lock = threading.Lock()

    def _page(self, index: str, project: str) -> tuple[bytes, str, str] | None:
        """(body, content type, final URL) of a project's page on one index; None on 404."""
        page_url = urljoin(index, project + "/")
        try:
            found = self.transport.read(page_url, f"page {page_url}", self.max_page_size,
                                        accept=ACCEPT, missing_ok=True, inflate=True)
        except DownloadError as exc:
            raise UpstreamError(str(exc)) from None
        if found is None:
            return None
        body, exchange = found
        content_type = exchange.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return body, content_type, exchange.url

    def check_indexes(self, project: str) -> None:
        """Fail, before anything is written, when an index is unreachable or is not an index.

        A captive portal or a proxy answers every URL with its own page: the page of a project
        we are about to mirror tells an index (JSON, or links to that project's files) from
        such a page. A 404 is an index's answer too.
        """
        for index in self.index_urls:
            try:
                page = self._page(index, project)
            except UpstreamError as exc:
                raise UpstreamError(f"index {index} is unreachable or unusable: {exc}") from None
            if page is None:
                continue
            body, content_type, url = page
            if not _looks_like_an_index(project, body, content_type):
                raise UpstreamError(
                    f"index {index} answered {url} with {_describe(body, content_type)}, not a "
                    f"package index page: {CAPTIVE_HINT}"
                )

    def project_files(self, project: str) -> list[DistFile] | None:
        """All valid files of ``project`` over all indexes (first index wins per filename).

        None when no index knows the project. Raises UpstreamError for a page that cannot be
        fetched or read.
        """
        found = False
        files: dict[str, DistFile] = {}
        for index in self.index_urls:
            page = self._page(index, project)
            if page is None:
                continue
            found = True
            body, content_type, page_url = page
            if content_type == JSON_TYPE:
                entries = self._parse_json(project, page_url, body)
            else:
                entries = self._parse_html(project, page_url, body.decode("utf-8", "replace"))
            for entry in entries:
                files.setdefault(entry.filename, entry)
        return list(files.values()) if found else None

    # -- parsing -----------------------------------------------------------------------------
    def _make_file(self, project: str, page_url: str, **raw: object) -> DistFile | None:
        filename = str(raw["filename"])
        try:
            kind, version, wheel_tags = check_filename(project, filename)
            url, _ = urldefrag(urljoin(page_url, str(raw["url"])))
            try:
                self.transport.check_url(url, filename)
            except Refused as exc:
                raise UnsafeUpstreamData(str(exc)) from None
            if unquote(posixpath.basename(urlsplit(url).path)) != filename:
                raise UnsafeUpstreamData(f"{filename}: URL {url} names another file")
            sha256 = str(raw.get("sha256") or "").lower()
            if not is_sha256(sha256):
                raise UnsafeUpstreamData(f"{filename}: no valid sha256 announced, cannot verify")
        except ValueError:
            return None
        except UnsafeUpstreamData as exc:
            with self._lock:
                self.rejected.append(RejectedFile(project, filename, str(exc)))
            return None
        size = raw.get("size")
        return DistFile(
            project=project,
            filename=filename,
            url=url,
            sha256=sha256,
            version=version,
            kind=kind,
            tags=wheel_tags,
            requires_python=(str(raw["requires_python"]).strip() or None)
            if raw.get("requires_python") else None,
            yanked=_yanked(raw.get("yanked")),
            size=int(size) if isinstance(size, int) and size >= 0 else None,
            has_metadata=bool(raw.get("has_metadata")),
            metadata_sha256=str(raw.get("metadata_sha256") or "") or None,
            upload_time=str(raw["upload_time"]) if raw.get("upload_time") else None,
        )

    def _parse_json(self, project: str, page_url: str, body: bytes) -> list[DistFile]:
        try:
            raw_files = json.loads(body)["files"]
            if not isinstance(raw_files, list):
                raise TypeError("'files' is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"{page_url}: invalid PEP 691 JSON: {exc}") from None
        result = []
        for item in raw_files:
            if not isinstance(item, dict) or "filename" not in item or "url" not in item:
                continue
            metadata = item.get("core-metadata", item.get("dist-info-metadata", False))
            hashes = item.get("hashes") or {}
            entry = self._make_file(
                project,
                page_url,
                filename=item["filename"],
                url=item["url"],
                sha256=hashes.get("sha256") if isinstance(hashes, dict) else None,
                requires_python=item.get("requires-python"),
                yanked=item.get("yanked"),
                size=item.get("size"),
                has_metadata=bool(metadata),
                metadata_sha256=metadata.get("sha256") if isinstance(metadata, dict) else None,
                upload_time=item.get("upload-time"),
            )
            if entry:
                result.append(entry)
        return result

    def _parse_html(self, project: str, page_url: str, text: str) -> list[DistFile]:
        parser = _LinkParser()
        parser.feed(text)
        result = []
        for link in parser.links:
            href = link.get("href")
            if not href:
                continue
            url, fragment = urldefrag(urljoin(page_url, href))
            algo, _, digest = fragment.partition("=")
            filename = unquote(posixpath.basename(urlsplit(url).path))
            has_md, md_hash = _hashes_from_attr(
                link.get("data-core-metadata", link.get("data-dist-info-metadata"))
            )
            entry = self._make_file(
                project,
                page_url,
                filename=filename,
                url=url,
                sha256=digest if algo == "sha256" else None,
                requires_python=link.get("data-requires-python"),
                yanked=link.get("data-yanked") if "data-yanked" in link else None,
                has_metadata=has_md,
                metadata_sha256=md_hash,
            )
            if entry:
                if "data-yanked" in link and entry.yanked is None:
                    entry.yanked = ""
                result.append(entry)
        return result


def _looks_like_an_index(project: str, body: bytes, content_type: str) -> bool:
    """A PEP 691 page, or an HTML page that says it is one or links a file of ``project``."""
    if content_type == JSON_TYPE:
        try:
            return isinstance(json.loads(body).get("files"), list)
        except (ValueError, AttributeError):
            return False
    text = body.decode("utf-8", "replace")
    if 'name="pypi:repository-version"' in text:
        return True
    parser = _LinkParser()
    parser.feed(text)
    for link in parser.links:
        url, _ = urldefrag(link.get("href") or "")
        filename = unquote(posixpath.basename(urlsplit(url).path))
        try:
            check_filename(project, filename)
        except (ValueError, UnsafeUpstreamData):
            continue
        return True
    return False


def _describe(body: bytes, content_type: str) -> str:
    """A page in a few words, for a message: its type, and its title when it has one."""
    text = body[:65536].decode("utf-8", "replace")
    start = text.lower().find("<title>")
    end = text.lower().find("</title>", start)
    title = " ".join(text[start + 7:end].split())[:80] if 0 <= start < end else ""
    kind = content_type or "a page without a content type"
    return f"{kind} titled {title!r}" if title else f"{kind} ({len(body)} bytes)"
