"""The engine against a real local upstream: selection, closure, layout, idempotence, check mode."""

from __future__ import annotations

import hashlib
import json
from html.parser import HTMLParser

from tests.mirror.conftest import tree


def files_of(result_dest, project):
    folder = result_dest / "files" / project
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".metadata"))


def test_closure_per_target(upstream, mirror, tmp_path):
    result = mirror(upstream, "click", "jinja2", "docopt")
    dest = tmp_path / "mirror"
    assert result["complete"] and result["changed"]
    # colorama only because Windows is a target (click: colorama; platform_system == "Windows");
    # Babel (jinja2[i18n]) is an extra nobody asked for; setuptools builds the docopt sdist.
    assert result["projects"] == ["click", "colorama", "docopt", "jinja2", "markupsafe",
                                  "setuptools"]
    # click 8.3 needs Python >= 3.10: 3.9 gets 8.1.8, 3.11 gets 8.3.1.
    assert files_of(dest, "click") == ["click-8.1.8-py3-none-any.whl",
                                       "click-8.3.1-py3-none-any.whl"]
    # one wheel per (python, platform) target, no sdist since every target has a wheel
    assert files_of(dest, "markupsafe") == sorted(
        f for f in upstream.content if f.startswith("markupsafe-") and f.endswith(".whl"))
    assert files_of(dest, "docopt") == ["docopt-0.6.2.tar.gz"]
    # byte-identical to the upstream
    for project in result["projects"]:
        for name in files_of(dest, project):
            assert (dest / "files" / project / name).read_bytes() == upstream.content[name]
    assert result["downloaded"]["count"] == result["files"] == 16
    assert result["mirror_size"] > result["downloaded"]["bytes"] > 0


def test_markers_and_platform_subset(upstream, mirror, tmp_path):
    result = mirror(upstream, "click", "markupsafe", platforms=["manylinux-aarch64"],
                    python_versions=["3.11"])
    assert result["projects"] == ["click", "markupsafe"]  # no Windows, no colorama
    assert files_of(tmp_path / "mirror", "markupsafe") == [
        "markupsafe-3.0.3-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64"
        ".manylinux_2_28_aarch64.whl"]


def test_sdist_kept_where_a_target_has_no_wheel(upstream, mirror, tmp_path):
    result = mirror(upstream, "markupsafe", platforms=["linux-armv7l"], python_versions=["3.11"])
    assert result["complete"]
    assert files_of(tmp_path / "mirror", "markupsafe") == ["markupsafe-3.0.3.tar.gz"]
    # its pyproject.toml says requires = ["setuptools>=70.1"]: building it needs that offline
    assert result["projects"] == ["markupsafe", "setuptools"]


def test_options_no_dependencies_all_releases_size_cap(upstream, mirror, tmp_path):
    result = mirror(upstream, "jinja2", "idna", "pygments", dependencies=False, releases="all",
                    max_file_size=500_000)
    assert result["projects"] == ["idna", "jinja2"]  # pygments (1.2 MB) is over the cap
    assert files_of(tmp_path / "mirror", "idna") == ["idna-3.10-py3-none-any.whl",
                                                     "idna-3.9-py3-none-any.whl"]
    assert any("pygments" in w for w in result["warnings"])


def test_idempotent_and_incremental(upstream, mirror, tmp_path):
    first = mirror(upstream, "click")
    before = tree(tmp_path / "mirror")
    served = sum(upstream.served.values())
    second = mirror(upstream, "click")
    assert second["changed"] is False
    assert second["downloaded"]["count"] == 0
    assert second["present"]["count"] == first["files"]
    assert sum(upstream.served.values()) == served  # not a single file byte fetched again
    assert tree(tmp_path / "mirror") == before
    # adding a project later fetches only it and its new dependencies
    third = mirror(upstream, "click", "jinja2")
    assert third["changed"] is True
    fetched = {name for name, count in upstream.served.items() if count}
    assert third["downloaded"]["count"] == len(fetched) - first["files"]
    assert all(n.startswith(("jinja2", "markupsafe", "click", "colorama")) for n in fetched)
    assert json.loads((tmp_path / "mirror/simple/index.json").read_text())["projects"] == [
        {"name": "click"}, {"name": "colorama"}, {"name": "jinja2"}, {"name": "markupsafe"}]


def test_check_mode_writes_nothing_and_sizes_the_download(upstream, mirror, tmp_path):
    result = mirror(upstream, "click", "pygments", check_mode=True)
    assert not (tmp_path / "mirror").exists()
    would = result["would_download"]
    expected = ["click-8.1.8-py3-none-any.whl", "click-8.3.1-py3-none-any.whl",
                "colorama-0.4.6-py2.py3-none-any.whl", "pygments-2.19.1-py3-none-any.whl"]
    assert sorted(f.split("/")[1] for f in would["files"]) == expected
    assert would["bytes"] == upstream.total_bytes(expected)
    assert result["changed"] is True
    mirror(upstream, "click")
    again = mirror(upstream, "click", "pygments", check_mode=True)
    assert [f.split("/")[1] for f in again["would_download"]["files"]] == [expected[-1]]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs))


def test_static_index_layout(upstream, mirror, tmp_path):
    mirror(upstream, "click", "pygments", python_versions=["3.11"], platforms=["macos-arm64"])
    dest = tmp_path / "mirror"
    page = (dest / "simple/click/index.html").read_text()
    assert 'data-requires-python="&gt;=3.10"' in page  # HTML-escaped
    parser = _Links()
    parser.feed(page)
    (link,) = parser.links
    href, fragment = link["href"].split("#")
    assert href == "../../files/click/click-8.3.1-py3-none-any.whl"
    wheel = dest / "files/click/click-8.3.1-py3-none-any.whl"
    assert fragment == "sha256=" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    metadata = (dest / "files/click/click-8.3.1-py3-none-any.whl.metadata").read_bytes()
    md_hash = "sha256=" + hashlib.sha256(metadata).hexdigest()
    assert link["data-core-metadata"] == link["data-dist-info-metadata"] == md_hash
    data = json.loads((dest / "simple/click/index.json").read_text())
    assert data["meta"] == {"api-version": "1.1"}
    assert data["versions"] == ["8.3.1"]
    (entry,) = data["files"]
    assert entry["core-metadata"] == {"sha256": md_hash.split("=")[1]}
    assert "dist-info-metadata" not in entry and "data-dist-info-metadata" not in entry
    assert entry["size"] == wheel.stat().st_size and entry["yanked"] is False
    # pygments' upstream offers no metadata file: it is extracted from the wheel, identically
    pyg = dest / "files/pygments/pygments-2.19.1-py3-none-any.whl.metadata"
    assert pyg.read_bytes() == upstream.core_metadata("pygments-2.19.1-py3-none-any.whl")
    assert not [r for r in upstream.requests if r["path"].endswith("pygments-2.19.1"
                                                                  "-py3-none-any.whl.metadata")]
    # internal state is under dot-names only, and no empty leftovers of finished downloads
    assert sorted(p.name for p in dest.iterdir()) == [".partial", ".state", "files", "simple"]
    assert list((dest / ".partial").iterdir()) == []


def test_html_only_upstream_gives_the_same_mirror(fixture_dir, mirror, tmp_path):
    from tests.support.upstream import Upstream

    with Upstream(fixture_dir) as json_up:
        mirror(json_up, "click", "jinja2", dest=tmp_path / "a")
    with Upstream(fixture_dir, json_api=False, metadata=False) as html_up:
        result = mirror(html_up, "click", "jinja2", dest=tmp_path / "b")
        assert result["complete"]
        assert all(r["status"] != 404 for r in html_up.requests)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_files_of_earlier_runs_stay_unless_pruned(upstream, mirror, tmp_path):
    mirror(upstream, "idna==3.9")
    mirror(upstream, "idna==3.10")
    dest = tmp_path / "mirror"
    assert files_of(dest, "idna") == ["idna-3.10-py3-none-any.whl", "idna-3.9-py3-none-any.whl"]
    assert "idna-3.9-py3-none-any.whl" in (dest / "simple/idna/index.html").read_text()
    result = mirror(upstream, "idna==3.10", prune=True)
    assert result["changed"]
    assert files_of(dest, "idna") == ["idna-3.10-py3-none-any.whl"]
    assert "idna-3.9" not in (dest / "simple/idna/index.html").read_text()


def test_yanked_releases_only_for_exact_pins_and_marked_as_such(fixture_dir, mirror, tmp_path):
    from tests.support.upstream import Upstream

    for json_api in (True, False):
        dest = tmp_path / f"json-{json_api}"
        with Upstream(fixture_dir, json_api=json_api) as up:
            up.yanked["idna-3.9-py3-none-any.whl"] = "broken <encoding>"
            skipped = mirror(up, "idna<3.10", dest=dest, python_versions=["3.11"])
            assert skipped["projects"] == [] and "idna<3.10" in skipped["warnings"][0]
            pinned = mirror(up, "idna==3.9", dest=dest, python_versions=["3.11"])
        assert pinned["complete"] and pinned["projects"] == ["idna"]
        page = (dest / "simple/idna/index.html").read_text()
        assert 'data-yanked="broken &lt;encoding&gt;"' in page
        data = json.loads((dest / "simple/idna/index.json").read_text())
        assert data["files"][0]["yanked"] == "broken <encoding>"
