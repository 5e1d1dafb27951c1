"""Projects, versions and sizes from file names: the parser the landing page and status share."""

from __future__ import annotations

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box import distributions
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine
from packaging.version import Version

from tests.support.fetch_fixtures import ensure_fixtures
from tests.support.upstream import Upstream


@pytest.mark.parametrize(
    "filename,project,version",
    [
        ("jinja2-3.1.6-py3-none-any.whl", "jinja2", "3.1.6"),
        ("Foo_Bar-1.0-py3-none-any.whl", "foo-bar", "1.0"),
        ("foo.bar-1.0.tar.gz", "foo-bar", "1.0"),
        ("MarkupSafe-3.0.3.zip", "markupsafe", "3.0.3"),
        ("pkg-2.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", "pkg", "2.0"),  # build tag
        ("markupsafe-3.0.3-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
         "markupsafe", "3.0.3"),
    ],
)
def test_distribution_file_names(filename, project, version):
    assert distributions.parse_filename(filename) == (project, Version(version))


@pytest.mark.parametrize(
    "filename",
    [
        "jinja2-3.1.6-py3-none-any.whl.metadata",  # the mirror's PEP 658 sidecar
        "README.txt",
        "broken.whl",
        "nodash.tar.gz",
        "foo-notaversion.tar.gz",
        "foo-1.0.egg",
    ],
)
def test_anything_else_is_not_a_distribution(filename):
    assert distributions.parse_filename(filename) is None


def test_packages_dir_walks_subdirectories_and_skips_dot_names(tmp_path):
    def write(relative, size):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)

    write("flask-3.0.3-py3-none-any.whl", 100)
    write("team/Flask-2.3.0.tar.gz", 50)
    write("team/workshop_helpers-0.1.0-py3-none-any.whl", 7)
    write("team/notes.txt", 1000)  # not a distribution: not counted
    write(".hidden/secret-1.0-py3-none-any.whl", 1)
    write(".flask-9.9-py3-none-any.whl", 1)

    inventory = distributions.packages_inventory(tmp_path)

    assert inventory["projects"] == [
        {"name": "flask", "versions": ["3.0.3", "2.3.0"], "files": 2, "bytes": 150},
        {"name": "workshop-helpers", "versions": ["0.1.0"], "files": 1, "bytes": 7},
    ]
    assert (inventory["project_count"], inventory["file_count"], inventory["bytes"]) == (2, 3, 157)
    assert inventory["exists"] is True


def test_missing_directories_are_empty(tmp_path):
    for inventory in (distributions.packages_inventory(tmp_path / "none"),
                      distributions.mirror_inventory(tmp_path / "none")):
        assert inventory["exists"] is False
        assert (inventory["projects"], inventory["file_count"], inventory["bytes"]) == ([], 0, 0)


def test_versions_sort_by_pep_440_not_by_text(tmp_path):
    for name in ("idna-3.9-py3-none-any.whl", "idna-3.10-py3-none-any.whl",
                 "idna-3.10rc1-py3-none-any.whl"):
        (tmp_path / name).write_bytes(b"")
    (project,) = distributions.packages_inventory(tmp_path)["projects"]
    assert project["versions"] == ["3.10", "3.10rc1", "3.9"]


def test_mirror_inventory_of_a_mirror_the_engine_wrote(tmp_path):
    """The layout is the engine's own, so the two agree on projects, files and bytes."""
    dest = tmp_path / "mirror"
    with Upstream(ensure_fixtures()) as upstream:
        result = engine.run(engine.Options(
            dest=str(dest), packages=["click", "jinja2", "docopt"], index_url=upstream.index_url,
            python_versions=["3.9", "3.11"]))
    assert result["complete"]

    inventory = distributions.mirror_inventory(dest)

    assert [p["name"] for p in inventory["projects"]] == result["projects"]
    assert inventory["file_count"] == result["files"]
    # .metadata sidecars included: the same figure the pypi_mirror module reports.
    assert inventory["bytes"] == result["mirror_size"]
    click = next(p for p in inventory["projects"] if p["name"] == "click")
    assert click["versions"] == ["8.3.1", "8.1.8"]
    assert click["files"] == 2
    for project in inventory["projects"]:
        served = (dest / "simple" / project["name"] / "index.html").read_text()
        assert served.count("<a ") == project["files"], project["name"]
