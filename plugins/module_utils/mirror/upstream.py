"""Client of an upstream simple index: PEP 691 JSON preferred, PEP 503 HTML as the fallback.

Everything an upstream says is untrusted: filenames become paths on the box (checked by
``names``) and URLs are fetched (checked here), before anything else sees them.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import requests
from packaging.tags import Tag
from packaging.version import Version

from .errors import UnsafeUpstreamData, UpstreamError
from .names import check_filename, is_sha256

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# PyPI's pages live on pypi.org but its files on this host: allowed whenever pypi.org is used.
PYPI_FILE_HOST = "files.pythonhosted.org"


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
    index_url: str = ""

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
    """Reads project pages from one or more simple indexes."""

    def __init__(
        self,
        session: requests.Session,
        index_urls: Sequence[str],
        timeout: float,
        allowed_hosts: Sequence[str] = (),
        retries: int = 3,
    ) -> None:
        self.session = session
        self.index_urls = [u if u.endswith("/") else u + "/" for u in index_urls]
        self.timeout = timeout
        self.retries = retries
        hosts = {urlsplit(u).hostname for u in self.index_urls}
        if "pypi.org" in hosts:
            hosts.add(PYPI_FILE_HOST)
        hosts.update(h.lower() for h in allowed_hosts)
        self.allowed_hosts = {h for h in hosts if h}
        self.rejected: list[RejectedFile] = []
        self._lock = threading.Lock()

    # -- pages -------------------------------------------------------------------------------
    def _get(self, url: str, accept: str) -> requests.Response | None:
        """GET with retries on connection trouble and 5xx; None on 404."""
        from .download import backoff_sleep  # local: download imports nothing from here

        last: Exception = UpstreamError(url)
        for attempt in range(self.retries + 1):
            try:
                response = self.session.get(url, headers={"Accept": accept}, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
            else:
                if response.status_code == 404:
                    return None
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code != 200:
                        raise UpstreamError(f"{url}: HTTP {response.status_code}")
                    return response
                last = UpstreamError(f"{url}: HTTP {response.status_code}")
            if attempt < self.retries:
                backoff_sleep(attempt)
        raise UpstreamError(f"{url}: {last}")

    def check_reachable(self) -> None:
        """Fail early, before anything is written, when an index cannot be reached at all."""
        for index in self.index_urls:
            try:
                # Streamed and closed at once: PyPI's root page alone is tens of megabytes.
                self.session.get(index, headers={"Accept": ACCEPT}, timeout=self.timeout,
                                 stream=True).close()
            except requests.RequestException as exc:
                raise UpstreamError(f"index {index} is unreachable: {exc}") from None

    def project_files(self, project: str) -> list[DistFile] | None:
        """All valid files of ``project`` over all indexes (first index wins per filename).

        None when no index knows the project.
        """
        found = False
        files: dict[str, DistFile] = {}
        for index in self.index_urls:
            page_url = urljoin(index, project + "/")
            response = self._get(page_url, ACCEPT)
            if response is None:
                continue
            found = True
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type == JSON_TYPE:
                entries = self._parse_json(project, page_url, response)
            else:
                entries = self._parse_html(project, page_url, response.text)
            for entry in entries:
                files.setdefault(entry.filename, entry)
        return list(files.values()) if found else None

    # -- parsing -----------------------------------------------------------------------------
    def _make_file(self, project: str, page_url: str, **raw: object) -> DistFile | None:
        filename = str(raw["filename"])
        try:
            kind, version, wheel_tags = check_filename(project, filename)
            url = urljoin(page_url, str(raw["url"]))
            url, _ = urldefrag(url)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise UnsafeUpstreamData(f"{filename}: URL scheme {parts.scheme!r} refused")
            if (parts.hostname or "").lower() not in self.allowed_hosts:
                raise UnsafeUpstreamData(
                    f"{filename}: URL host {parts.hostname!r} is not an allowed host "
                    f"({', '.join(sorted(self.allowed_hosts))}); add it to allowed_hosts"
                )
            if unquote(posixpath.basename(parts.path)) != filename:
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
            index_url=page_url,
        )

    def _parse_json(
        self, project: str, page_url: str, response: requests.Response
    ) -> list[DistFile]:
        try:
            data = response.json()
            raw_files = data["files"]
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
