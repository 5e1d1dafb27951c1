"""Write the test upstream as a static PEP 503 tree (for places where only a file server runs).

``python tests/support/static_upstream.py OUT [PYTHON]`` -> OUT/simple/<project>/index.html
(hashes, requires-python, PEP 658 metadata files) and OUT/files/<project>/<filename>, from the
fixture set of fetch_fixtures.py (with PYTHON's compiled wheels: the clients' Python), plus
OUT.tar.gz of the same tree (one transfer instead of one per file). Molecule scenarios serve it
inside the box with ``python3 -m http.server``. Both appear whole or not at all, so scenarios
running side by side may all ask for the same tree.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO)]

from tests.support.fetch_fixtures import ensure_fixtures  # noqa: E402
from tests.support.upstream import Upstream, project_of  # noqa: E402


def _write_tree(source: Path, out: Path) -> None:
    upstream = Upstream(source)
    for filename in upstream.content:
        folder = out / "files" / project_of(filename)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / filename, folder / filename)
        if upstream.offers_metadata(filename):  # PEP 658, as the pages announce
            (folder / (filename + ".metadata")).write_bytes(
                upstream.core_metadata(filename) or b"")
    names = sorted(upstream.projects())
    for project in names:
        page = out / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(upstream.render_html(project))
    (out / "simple" / "index.html").write_text(
        "".join(f'<a href="{name}/">{name}</a>\n' for name in names)
    )


def write_static_upstream(out: Path, client_python: str | None = None) -> Path:
    archive_path = out.with_name(out.name + ".tar.gz")
    if out.is_dir() and archive_path.is_file():
        return out
    source = ensure_fixtures(client_python)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        tree = Path(work) / "tree"
        _write_tree(source, tree)
        with tarfile.open(Path(work) / "tree.tar.gz", "w:gz") as archive:
            archive.add(tree, arcname=".")
        # The archive first: a tree in place means both are.
        os.replace(Path(work) / "tree.tar.gz", archive_path)
        try:
            tree.rename(out)
        except OSError:  # another run published the same tree meanwhile
            if not out.is_dir():
                raise
    return out


if __name__ == "__main__":
    print(write_static_upstream(Path(sys.argv[1]), *sys.argv[2:3]))
