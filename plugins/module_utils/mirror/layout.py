"""The one description of a mirror directory on disk: every other module asks here for a path.

::

    <root>/simple/index.{html,json}               the root page (projects)
    <root>/simple/<project>/index.{html,json}     a project's pages (PEP 503 / PEP 691)
    <root>/files/<project>/<filename>             a distribution, complete and verified
    <root>/files/<project>/<filename>.metadata    its core metadata (PEP 658)
    <root>/.partial/<project>/<filename>.part     bytes of an unfinished download
    <root>/.partial/<project>/<filename>.json     where they came from (URL, hash, validators)
    <root>/.state/projects/<project>.json         the records a project's pages are built from
    <root>/.state/lock                            held by the run writing this directory
    <root>/.incoming/                             a fleet box: the controller's copy, staged

Names starting with a dot are internal: nginx never serves them. The static index of
pypiserver's packages uses the same ``simple/`` and ``.state/`` names under its own root.
Only the standard library: the box runs this.
"""

from __future__ import annotations

from pathlib import Path

SIMPLE = "simple"
FILES = "files"
PARTIAL = ".partial"
STATE = ".state"
STAGING = ".incoming"
METADATA_SUFFIX = ".metadata"
PART_SUFFIX = ".part"
PART_STATE_SUFFIX = ".json"
# A distribution's name must leave room for the longest suffix we put after it, within the
# 255 bytes a file name may have on every filesystem a box uses.
NAME_MAX = 255
LONGEST_SUFFIX = max(len(METADATA_SUFFIX), len(PART_SUFFIX), len(PART_STATE_SUFFIX))
PAGES = ("index.json", "index.html", "index.json.gz", "index.html.gz")


def fits_on_disk(filename: str) -> bool:
    """True when ``filename`` and every name derived from it fit in one path component."""
    return len(filename.encode("utf-8", "surrogateescape")) + LONGEST_SUFFIX <= NAME_MAX


class Layout:
    """Paths inside one mirror (or static index) root."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- what clients see ------------------------------------------------------------------
    @property
    def simple(self) -> Path:
        return self.root / SIMPLE

    def project_pages(self, project: str) -> Path:
        """The folder of a project's index.html / index.json."""
        return self.simple / project

    def root_page(self, kind: str = "json") -> Path:
        return self.simple / f"index.{kind}"

    @property
    def files(self) -> Path:
        return self.root / FILES

    def project_files(self, project: str) -> Path:
        return self.files / project

    def file(self, project: str, filename: str) -> Path:
        return self.files / project / filename

    def metadata(self, project: str, filename: str) -> Path:
        return self.files / project / (filename + METADATA_SUFFIX)

    # -- internal ----------------------------------------------------------------------------
    @property
    def partial(self) -> Path:
        return self.root / PARTIAL

    def partial_paths(self, project: str, filename: str) -> tuple[Path, Path]:
        """(the bytes so far, the JSON note of where they came from)."""
        folder = self.partial / project
        return folder / (filename + PART_SUFFIX), folder / (filename + PART_STATE_SUFFIX)

    @property
    def state(self) -> Path:
        return self.root / STATE

    @property
    def records(self) -> Path:
        return self.state / "projects"

    def records_file(self, project: str) -> Path:
        return self.records / f"{project}.json"

    @property
    def lock(self) -> Path:
        return self.state / "lock"

    @property
    def staging(self) -> Path:
        return self.root / STAGING
