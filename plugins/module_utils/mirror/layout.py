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

uv and Python for attendees (the pypi_mirror_tools module), beside the package mirror:

    <root>/uv/<version>/uv-<triple>.tar.gz|.zip   uv, repacked from its wheel for one platform
    <root>/python/<folder>/<filename>             a standalone CPython build, as uv downloads it
                                                  (<folder>: the source's release, e.g. 20251120)
    <root>/.partial/.uv/<version>/<wheel>         a uv wheel while it is fetched and repacked
    <root>/.partial/.python/<folder>/<filename>.part|.json   a build's unfinished download
    <root>/.state/uv.json, .state/python.json     what uv/ and python/ list, written after them

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
UV = "uv"
PYTHON = "python"
TOOLS = (UV, PYTHON)
# Under .partial/: a dot-name, so no project's folder can ever be one of these.
UV_WHEELS = ".uv"
PYTHON_PARTIAL = ".python"


def fits_on_disk(filename: str) -> bool:
    """True when ``filename`` and every name derived from it fit in one path component."""
    return len(filename.encode("utf-8", "surrogateescape")) + LONGEST_SUFFIX <= NAME_MAX


class Shelf:
    """Where the downloader keeps one kind of file: ``<folder>/<group>/<filename>`` once
    complete and verified, its bytes so far and their note under ``<partial>/<group>/``."""

    def __init__(self, root: Path, folder: Path, partial: Path) -> None:
        self.root = root  # the mirror's root: its disk is the one that fills up
        self.folder = folder
        self.partial = partial

    def file(self, group: str, filename: str) -> Path:
        return self.folder / group / filename

    def partial_paths(self, group: str, filename: str) -> tuple[Path, Path]:
        """(the bytes so far, the JSON note of where they came from)."""
        folder = self.partial / group
        return folder / (filename + PART_SUFFIX), folder / (filename + PART_STATE_SUFFIX)


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
        return self.distributions.file(project, filename)

    def metadata(self, project: str, filename: str) -> Path:
        return self.files / project / (filename + METADATA_SUFFIX)

    # -- internal ----------------------------------------------------------------------------
    @property
    def partial(self) -> Path:
        return self.root / PARTIAL

    def partial_paths(self, project: str, filename: str) -> tuple[Path, Path]:
        """(the bytes so far, the JSON note of where they came from)."""
        return self.distributions.partial_paths(project, filename)

    # -- what the downloader fills -----------------------------------------------------------
    @property
    def distributions(self) -> Shelf:
        """Distributions: ``files/<project>/<filename>``."""
        return Shelf(self.root, self.files, self.partial)

    @property
    def uv_wheels(self) -> Shelf:
        """uv's wheels, by version: never served, gone once repacked."""
        return Shelf(self.root, self.partial / UV_WHEELS, self.partial / UV_WHEELS)

    @property
    def python_builds(self) -> Shelf:
        """Standalone CPython builds: ``python/<folder>/<filename>``."""
        return Shelf(self.root, self.root / PYTHON, self.partial / PYTHON_PARTIAL)

    # -- uv and Python for attendees ---------------------------------------------------------
    def tool_folder(self, tool: str) -> Path:
        """``uv/`` or ``python/``: everything one tool serves."""
        return self.root / tool

    def uv_archive(self, version: str, filename: str) -> Path:
        return self.root / UV / version / filename

    def python_build(self, folder: str, filename: str) -> Path:
        return self.python_builds.file(folder, filename)

    def tool_records(self, tool: str) -> Path:
        """The record of what ``uv/`` or ``python/`` lists."""
        return self.state / f"{tool}.json"

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
