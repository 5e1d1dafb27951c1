"""Serve, on a fixed port until killed, an upstream for uv and Python for attendees.

``python tests/support/serve_tools_upstream.py PORT STATE_DIR IMAGE``: the fixture set and uv's
real wheels as a PyPI-like index, and under ``/static/`` a stand-in python-build-standalone
build (IMAGE's own python3, which runs in a client container of that image) with its list in
uv's format. STATE_DIR gets ``upstream.pid`` while it serves, and ``standin.yml`` (the stand-in's
version, for the playbook) before it does. For the Molecule scenario ``tools``, whose mirror is
built on the controller.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO)]

from tests.support import python_builds  # noqa: E402
from tests.support.fetch_fixtures import ensure_fixtures, ensure_uv_wheels  # noqa: E402
from tests.support.serve_upstream import serve  # noqa: E402
from tests.support.upstream import Upstream  # noqa: E402


def index_folder(state: Path) -> Path:
    """The fixture set and uv's wheels in one folder, as links."""
    folder = state / "index"
    folder.mkdir(parents=True, exist_ok=True)
    for source in (ensure_fixtures(), ensure_uv_wheels()):
        for path in source.iterdir():
            link = folder / path.name
            if not path.name.startswith(".") and not link.exists():
                link.symlink_to(path)
    return folder


def main(port: int, state: Path, image: str) -> None:
    build = python_builds.standin_from_image(image)
    minor = build.version.rsplit(".", 1)[0]
    (state / "standin.yml").write_text(
        f"---\ntools_standin_version: \"{build.version}\"\n"
        f"tools_standin_minor: \"{minor}\"\n")
    serve(Upstream(index_folder(state), port=port), state / "upstream.pid",
          lambda upstream: python_builds.serve(upstream, [build]))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
