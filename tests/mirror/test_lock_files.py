"""Lock files read, evaluated per target and rewritten for the box (pylock.toml, uv.lock).

Locks come from real uv against the local upstream; the few shapes uv cannot make here (a git
source, a hostile file name, another lock version) are its output edited by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine, lockfiles
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
    MirrorInputError,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.lockmodel import Uncovered
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.lockserve import for_box
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.targets import (
    make_target,
    platform_by_name,
)
from packaging.version import Version

from tests.support.course import make_course
from tests.support.upstream import Upstream

# Extras and dependency groups: attendees may install any of them, so the mirror holds them all;
# the environments leave macOS out.
EXTRAS_AND_GROUPS = """\
[project]
name = "course"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["click"]

[project.optional-dependencies]
templates = ["jinja2"]

[dependency-groups]
dev = ["pygments"]

[tool.uv]
environments = ["sys_platform == 'linux'", "sys_platform == 'win32'"]
"""


@pytest.fixture(scope="module")
def locks(fixture_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("locks")
    with Upstream(fixture_dir) as upstream:
        simple = make_course(root / "simple", upstream.index_url)
        rich = make_course(root / "rich", upstream.index_url, EXTRAS_AND_GROUPS)
    return {"simple": simple, "rich": rich}


def target(python: str, platform: str):
    return make_target(Version(python), platform_by_name(platform))


def installs(lock_path: Path, python: str, platform: str) -> set[str]:
    lock = lockfiles.load(lock_path)
    return {f"{p.name}=={p.version}" for p in lock.packages_for(target(python, platform))}


@pytest.mark.parametrize("name", ["uv.lock", "pylock.toml"])
def test_a_lock_installs_per_target_what_its_markers_and_graph_say(locks, name):
    simple = locks["simple"] / name
    assert installs(simple, "3.9", "windows-x86_64") == {
        "click==8.1.8", "colorama==0.4.6", "jinja2==3.1.6", "markupsafe==3.0.3"}
    assert installs(simple, "3.11", "macos-arm64") == {
        "appnope==0.1.4", "click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"}
    assert installs(simple, "3.11", "manylinux-aarch64") == {
        "click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"}


def test_a_uv_lock_brings_every_extra_and_dependency_group(locks):
    assert installs(locks["rich"] / "uv.lock", "3.11", "manylinux-x86_64") == {
        "click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3", "pygments==2.19.1"}


@pytest.mark.parametrize("name", ["uv.lock", "pylock.toml"])
def test_targets_outside_the_locks_environments_or_python_are_uncovered(locks, name):
    lock = lockfiles.load(locks["rich"] / name)
    with pytest.raises(Uncovered, match="none of the lock's environments"):
        lock.packages_for(target("3.11", "macos-arm64"))
    with pytest.raises(Uncovered, match=r"requires Python >=3\.9"):
        lock.packages_for(target("3.8", "manylinux-x86_64"))


def test_the_format_is_told_by_the_content_not_the_name(locks, tmp_path):
    renamed = tmp_path / "0-course.lock"
    renamed.write_bytes((locks["simple"] / "pylock.toml").read_bytes())
    assert lockfiles.load(renamed).kind == "pylock.toml"


def edited(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    path = tmp_path / source.name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("uv.lock", "version = 1\n", "version = 2\n", "uv.lock version 2"),
        ("pylock.toml", 'lock-version = "1.0"', 'lock-version = "2.0"', "lock-version '2.0'"),
        ("uv.lock", "click-8.3.1-py3-none-any.whl", "..%2Fclick-8.3.1-py3-none-any.whl",
         "is not a wheel or sdist name the mirror can keep"),
        ("pylock.toml", "click-8.3.1-py3-none-any.whl", "click-8.1.8-py3-none-any.whl",
         "click-8.1.8-py3-none-any.whl is not a file of click 8.3.1"),
        ("uv.lock", 'name = "jinja2"\n', 'name = "jinja2\n', "not valid TOML"),
        ("pylock.toml", "lock-version", "locked-version", "neither a pylock.toml"),
        ("uv.lock", "{ name = \"jinja2\" }", "{ name = \"jinja3\" }",
         "the dependency on jinja3 names no package of the lock"),
        ("pylock.toml", 'marker = "sys_platform', 'marker = "sys_platfrm', "invalid marker"),
    ],
)
def test_a_broken_lock_is_refused_saying_where(locks, tmp_path, name, old, new, message):
    with pytest.raises(MirrorInputError, match=message.replace(".", r"\.")):
        lockfiles.load(edited(tmp_path, locks["simple"] / name, old, new))


def test_packages_from_the_checkout_are_skipped_and_from_git_are_failures(locks, upstream,
                                                                          tmp_path):
    lock = edited(tmp_path, locks["simple"] / "uv.lock",
                  '[[package]]\nname = "jinja2"\nversion = "3.1.6"\n'
                  'source = { registry = ', '[[package]]\nname = "jinja2"\nversion = "3.1.6"\n'
                  'source = { git = "https://example.org/jinja2.git?rev=main#0123abc" }\n'
                  'x-registry = { registry = ')
    result = engine.run(engine.Options(dest=str(tmp_path / "m"), index_url=upstream.index_url,
                                       lock_files=[str(lock)], python_versions=["3.11"],
                                       platforms=["manylinux-x86_64"]))
    # The course project itself (virtual) is never looked for; jinja2's git source is named.
    assert "course" not in result["projects"]
    [failure] = result["failures"]
    assert failure["project"] == "jinja2"
    assert "git source https://example.org/jinja2.git" in failure["reason"]
    assert "a mirror serves files from an index" in failure["reason"]


@pytest.mark.parametrize("name", ["uv.lock", "pylock.toml"])
def test_the_box_serves_a_lock_whose_only_change_is_its_urls(locks, name):
    original = (locks["simple"] / name).read_text()
    served = for_box(original, "http://pypi.internal", name)
    assert served.name == name
    before, after = tomllib.loads(original), tomllib.loads(served.content)
    urls = [line for line in served.content.splitlines() if "http://" in line]
    assert urls and all("http://pypi.internal/" in line for line in urls)
    assert "127.0.0.1" not in served.content
    assert "http://pypi.internal/files/markupsafe/markupsafe-3.0.3-cp311-cp311-win_amd64.whl" \
        in served.content
    # Same packages, versions, markers and hashes; same lines, only URLs differ.
    assert lockfiles.parse(served.content, name).packages == tuple(
        type(p)(p.name, p.version, tuple(type(f)(f.filename, f.sha256, _box(f), f.kind)
                                         for f in p.files), p.unservable)
        for p in lockfiles.parse(original, name).packages)
    assert len(original.splitlines()) == len(served.content.splitlines())
    assert set(before) == set(after)


def _box(file) -> str:
    project = file.filename.split("-")[0].lower()
    return f"http://pypi.internal/files/{project}/{file.filename}"


def test_a_pylock_keeps_a_name_installers_accept(locks):
    text = (locks["simple"] / "pylock.toml").read_text()
    assert for_box(text, "http://b", "pylock.course.toml").name == "pylock.course.toml"
    assert for_box(text, "http://b", "0-course-lock.toml").name == "pylock.toml"
    assert for_box((locks["simple"] / "uv.lock").read_text(), "http://b",
                   "0-uv.lock").name == "uv.lock"
