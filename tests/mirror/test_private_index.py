"""The static index of pypiserver's package directory, against real wheels and sdists."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (
    index,
    private_index,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.layout import Layout

from tests.mirror.conftest import clean_env
from tests.support.static import MirrorServer

CLICK_NEW = "click-8.3.1-py3-none-any.whl"  # Requires-Python >=3.10
CLICK_OLD = "click-8.1.8-py3-none-any.whl"  # Requires-Python >=3.7
IDNA = "idna-3.10-py3-none-any.whl"
DOCOPT = "docopt-0.6.2.tar.gz"  # an sdist without Requires-Python
MARKUPSAFE_SDIST = "markupsafe-3.0.3.tar.gz"  # an sdist whose PKG-INFO has Requires-Python
SEED = [CLICK_NEW, CLICK_OLD, IDNA, DOCOPT, MARKUPSAFE_SDIST]


@pytest.fixture
def box(fixture_dir, tmp_path):
    """pypiserver's directory with real files, an empty index directory, and a small mirror."""
    packages = tmp_path / "packages"
    packages.mkdir()
    for name in SEED:
        shutil.copy(fixture_dir / name, packages / name)
    mirror = tmp_path / "mirror"
    index.write_root(Layout(mirror), ["jinja2", "pygments"])

    class Box:
        def __init__(self):
            self.packages, self.dest, self.mirror = packages, tmp_path / "index", mirror

        def build(self, **kw):
            kw.setdefault("settle", 0.05)
            return private_index.build(self.packages, self.dest, self.mirror, **kw)

        def page(self, project: str, kind: str = "json"):
            text = (self.dest / "simple" / project / f"index.{kind}").read_text()
            return json.loads(text) if kind == "json" else text

    return Box()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file but the run lock, with its mtime."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "lock"}


def test_pages_list_every_file_with_hash_requires_python_and_link_to_packages(box):
    result = box.build()
    assert result["changed"] and result["settled"]
    assert (result["projects"], result["files"], result["read"]) == (4, 5, 5)

    click = box.page("click")
    assert click["meta"]["api-version"] == "1.1"
    assert click["versions"] == ["8.1.8", "8.3.1"]
    by_name = {f["filename"]: f for f in click["files"]}
    assert by_name[CLICK_NEW]["requires-python"] == ">=3.10"
    assert by_name[CLICK_OLD]["requires-python"] == ">=3.7"
    for name, entry in by_name.items():
        assert entry["url"] == f"../../packages/{name}"
        assert entry["hashes"] == {"sha256": sha256(box.packages / name)}
        assert entry["size"] == (box.packages / name).stat().st_size
        assert entry["upload-time"].endswith("Z")
    assert box.page("markupsafe")["files"][0]["requires-python"] == ">=3.9"
    assert box.page("docopt")["files"][0]["requires-python"] is None

    html = box.page("click", "html")
    assert (f'href="../../packages/{CLICK_NEW}#sha256={sha256(box.packages / CLICK_NEW)}" '
            'data-requires-python="&gt;=3.10"') in html


def test_pages_have_identical_gzip_twins_for_nginx_gzip_static(box):
    box.build()
    pages = [p for p in (box.dest / "simple").rglob("index.*") if p.suffix != ".gz"]
    assert len(pages) == 2 * 4 + 2  # four projects and the root, HTML and JSON each
    for page in pages:
        assert gzip.decompress(page.with_name(page.name + ".gz").read_bytes()) == page.read_bytes()


def test_root_lists_private_and_mirrored_projects(box):
    box.build()
    root = json.loads((box.dest / "simple" / "index.json").read_text())
    assert [p["name"] for p in root["projects"]] == [
        "click", "docopt", "idna", "jinja2", "markupsafe", "pygments"]
    assert '<a href="jinja2/">jinja2</a>' in (box.dest / "simple" / "index.html").read_text()


def test_root_without_a_mirror_lists_the_private_projects(box):
    shutil.rmtree(box.mirror)
    box.build()
    assert index.read_root(Layout(box.dest)) == ["click", "docopt", "idna", "markupsafe"]


def test_a_rerun_reads_no_file_and_writes_nothing(box):
    box.build()
    before = snapshot(box.dest)
    result = box.build()
    assert not result["changed"]
    assert result["read"] == 0
    assert snapshot(box.dest) == before


def test_only_a_new_or_changed_file_is_read_again(box, fixture_dir):
    box.build()
    shutil.copy(fixture_dir / "idna-3.9-py3-none-any.whl", box.packages)
    os.utime(box.packages / CLICK_OLD)  # touched: same bytes, new mtime
    result = box.build()
    assert result["changed"]
    assert result["read"] == 2
    assert box.page("idna")["versions"] == ["3.9", "3.10"]


def test_hashes_are_kept_under_name_size_and_mtime(box):
    """The cache is what makes 50,000 files fast: a file with the same name, size and mtime is
    not read again (pypiserver never rewrites a file in place; uploads cannot overwrite)."""
    box.build()
    path = box.packages / IDNA
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert box.build()["read"] == 0
    os.utime(path)  # what any real rewrite does to the mtime
    result = box.build()
    assert result["read"] == 1
    assert IDNA in result["incomplete"]  # zeros are no wheel
    assert not (box.dest / "simple" / "idna").exists()


def test_removed_files_and_projects_leave_the_pages(box):
    box.build()
    (box.packages / CLICK_OLD).unlink()
    (box.packages / IDNA).unlink()
    result = box.build()
    assert result["removed_projects"] == ["idna"]
    assert [f["filename"] for f in box.page("click")["files"]] == [CLICK_NEW]
    assert not (box.dest / "simple" / "idna").exists()
    assert "idna" not in index.read_root(Layout(box.dest))


def test_partial_uploads_are_left_out_until_whole(box, fixture_dir):
    box.build()
    for name in ("idna-3.9-py3-none-any.whl", "markupsafe-3.0.3.tar.gz"):
        data = (fixture_dir / name).read_bytes()
        (box.packages / name).unlink(missing_ok=True)
        (box.packages / name).write_bytes(data[: len(data) // 2])
    result = box.build()
    assert sorted(result["incomplete"]) == ["idna-3.9-py3-none-any.whl", MARKUPSAFE_SDIST]
    assert box.page("idna")["versions"] == ["3.10"]
    assert "markupsafe" not in index.read_root(Layout(box.dest))
    for name in ("idna-3.9-py3-none-any.whl", MARKUPSAFE_SDIST):
        shutil.copy(fixture_dir / name, box.packages / name)
    result = box.build()
    assert result["incomplete"] == []
    assert box.page("idna")["versions"] == ["3.9", "3.10"]
    assert box.page("markupsafe")["versions"] == ["3.0.3"]


def test_a_file_growing_during_a_run_makes_it_pass_again(box, fixture_dir, monkeypatch):
    name = "idna-3.9-py3-none-any.whl"
    data = (fixture_dir / name).read_bytes()
    (box.packages / name).write_bytes(data[:100])
    listings = []
    real_list = private_index.list_packages

    def list_while_uploading(packages):
        listings.append(None)
        if len(listings) == 2:  # the upload ends while the first pass writes its pages
            (packages / name).write_bytes(data)
        return real_list(packages)

    monkeypatch.setattr(private_index, "list_packages", list_while_uploading)
    result = box.build()
    assert result["passes"] == 2 and result["settled"]
    assert result["incomplete"] == []
    assert "3.9" in box.page("idna")["versions"]


def test_hostile_and_foreign_names_are_never_listed_or_escaped(box, fixture_dir):
    wheel = (fixture_dir / IDNA).read_bytes()
    ignored = [
        ".hidden-1.0-py3-none-any.whl",  # dot-names are internal
        "evil\nname-1.0.tar.gz",  # control characters
        "sp ace-1.0.tar.gz",  # not a project name an index can serve
        "x<script>-1.0.tar.gz",
        "café-1.0.tar.gz",
        'q"uote-1.0-py3-none-any.whl',  # an invalid wheel name
        "notes.txt",
        "demo-1.0.egg",
    ]
    for name in ignored:
        (box.packages / name).write_bytes(wheel)
    (box.packages / "subdir-1.0-py3-none-any.whl").mkdir()
    (box.packages / "link-1.0-py3-none-any.whl").symlink_to(box.packages / IDNA)
    # A valid name whose build tag holds characters that mean something in URLs and HTML.
    odd = "idna-3.10-1#a&b%41-py3-none-any.whl"
    (box.packages / odd).write_bytes(wheel)

    result = box.build()
    assert sorted(result["ignored"]) == sorted(n for n in ignored if not n.startswith("."))
    assert index.read_root(Layout(box.dest)) == [
        "click", "docopt", "idna", "jinja2", "link", "markupsafe", "pygments"]
    assert sorted(p.name for p in (box.dest / "simple").iterdir() if p.is_dir()) == [
        "click", "docopt", "idna", "link", "markupsafe"]
    entry = next(f for f in box.page("idna")["files"] if f["filename"] == odd)
    assert entry["url"] == "../../packages/idna-3.10-1%23a%26b%2541-py3-none-any.whl"
    assert ('href="../../packages/idna-3.10-1%23a%26b%2541-py3-none-any.whl#sha256='
            in box.page("idna", "html"))
    assert ">idna-3.10-1#a&amp;b%41-py3-none-any.whl</a>" in box.page("idna", "html")


def test_no_package_directory_yet_lists_the_mirror_only(box):
    shutil.rmtree(box.packages)
    result = box.build()
    assert result["projects"] == 0
    assert index.read_root(Layout(box.dest)) == ["jinja2", "pygments"]


def test_cli_prints_the_result_and_fails_with_a_message(box, capsys):
    argv = ["--packages", str(box.packages), "--dest", str(box.dest), "--mirror", str(box.mirror)]
    assert private_index.main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 5
    assert private_index.main(argv) == 0
    assert "5 files of 4 projects indexed (0 read), 6 on the root page, unchanged" in (
        capsys.readouterr().out)
    blocked = box.dest.parent / "a-file"
    blocked.write_text("")
    assert private_index.main(["--packages", str(box.packages), "--dest", str(blocked)]) == 1
    assert capsys.readouterr().err.startswith("pypi-in-a-box-index: ")


def test_pip_and_uv_install_from_the_pages_served_like_nginx_does(box, tmp_path):
    box.build()
    root = tmp_path / "served"
    root.mkdir()
    (root / "simple").symlink_to(box.dest / "simple")
    (root / "packages").symlink_to(box.packages)
    with MirrorServer(root) as server:
        out = tmp_path / "dl"
        # Python 3.9 cannot use click 8.3.1: only its Requires-Python on the page says so.
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir",
             "--no-deps", "--only-binary=:all:", "--python-version", "3.9",
             "--index-url", server.index_url, "-d", str(out), "click", "idna"],
            capture_output=True, text=True, env=clean_env(), timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(p.name for p in out.iterdir()) == [CLICK_OLD, IDNA]
        uv = str(Path(sys.executable).parent / "uv")
        venv = tmp_path / "venv"
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                       env=clean_env(), timeout=120)
        proc = subprocess.run(
            [uv, "pip", "install", "--no-cache", "--python", str(venv / "bin" / "python"),
             "--index-url", server.index_url, "click", "idna"],
            capture_output=True, text=True, env=clean_env(), timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
