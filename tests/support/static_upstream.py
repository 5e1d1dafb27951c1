"""Write the test upstream as a static PEP 503 tree (for places where only a file server runs).

``python tests/support/static_upstream.py OUT`` -> OUT/simple/<project>/index.html (hashes,
requires-python, PEP 658 metadata files) and OUT/files/<project>/<filename>, from the fixture set of
fetch_fixtures.py, plus OUT.tar.gz of the same tree (one transfer instead of one per file). The
Molecule scenario serves it inside the box with ``python3 -m http.server``.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO)]

from tests.support.fetch_fixtures import ensure_fixtures  # noqa: E402
from tests.support.upstream import Upstream, project_of  # noqa: E402


def write_static_upstream(out: Path) -> Path:
    source = ensure_fixtures()
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
    with tarfile.open(out.with_name(out.name + ".tar.gz"), "w:gz") as archive:
        archive.add(out, arcname=".")
    return out


if __name__ == "__main__":
    print(write_static_upstream(Path(sys.argv[1])))
