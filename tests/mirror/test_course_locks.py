"""A course's lock, end to end: real uv makes it, the mirror holds it, real uv and pip install it
offline from the mirror served as the box serves it; tampering and impossible constraints fail
with a message naming the file or the line, through the engine and through the module.

The lock is made against one local upstream, which is stopped before any client runs: every
byte a client gets comes from the mirror, and a client that still followed the lock's own URLs
would fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.lockserve import for_box

from tests.mirror.conftest import run_cli, run_module
from tests.support.course import (
    EXPECTED,
    MIRROR_PLATFORMS,
    UV_PLATFORMS,
    make_course,
    uv,
    uv_env,
)
from tests.support.static import MirrorServer
from tests.support.upstream import Upstream

PLATFORMS = sorted(EXPECTED)
PYTHONS = ["3.9", "3.11"]
INPUTS = {"requirements": "requirements.txt", "pylock": "pylock.toml", "uvlock": "uv.lock"}


@pytest.fixture(scope="module")
def course(fixture_dir, tmp_path_factory) -> Path:
    """The course's project and its three locks, made by uv against an upstream now gone."""
    with Upstream(fixture_dir) as upstream:
        folder = make_course(tmp_path_factory.mktemp("teacher") / "course", upstream.index_url)
    return folder


def mirror_options(course: Path, kind: str, dest: Path, index_url: str, **extra):
    source = str(course / INPUTS[kind])
    inputs = {"requirements_files": [source]} if kind == "requirements" else {
        "lock_files": [source]}
    extra.setdefault("python_versions", PYTHONS)
    extra.setdefault("platforms", [MIRROR_PLATFORMS[p] for p in PLATFORMS])
    return engine.Options(dest=str(dest), index_url=index_url, **inputs, **extra)


@pytest.fixture(scope="module")
def boxes(course, fixture_dir, tmp_path_factory):
    """Each form of the lock mirrored alone, served like the box; the upstream is stopped."""
    results, roots = {}, {}
    with Upstream(fixture_dir) as upstream:
        for kind in INPUTS:
            roots[kind] = tmp_path_factory.mktemp(f"box-{kind}") / "mirror"
            results[kind] = engine.run(mirror_options(course, kind, roots[kind],
                                                      upstream.index_url))
    with MirrorServer(roots["pylock"]) as pylock_box, MirrorServer(
            roots["uvlock"]) as uv_box, MirrorServer(roots["requirements"]) as req_box:
        servers = {"pylock": pylock_box, "uvlock": uv_box, "requirements": req_box}
        # The box serves each lock rewritten to install from it (the nginx_cache role's /locks/).
        for kind in ("pylock", "uvlock"):
            box_url = servers[kind].index_url.removesuffix("/simple/")
            served = for_box((course / INPUTS[kind]).read_text(), box_url, INPUTS[kind])
            (roots[kind] / "locks").mkdir()
            (roots[kind] / "locks" / served.name).write_text(served.content)
        yield {kind: (servers[kind], results[kind]) for kind in INPUTS}


def installed(site: Path) -> set[str]:
    """name==version of every distribution installed in ``site`` (its .dist-info folders)."""
    found = set()
    for info in site.glob("*.dist-info"):
        fields = dict(line.split(": ", 1) for line in
                      (info / "METADATA").read_text().splitlines() if ": " in line)
        found.add(f"{fields['Name'].lower()}=={fields['Version']}")
    return found


def test_each_form_of_the_lock_mirrors_completely(boxes):
    for kind, (_server, result) in boxes.items():
        assert result["complete"], (kind, result["failures"])
        assert result["uncovered"] == [], kind
        assert set(result["projects"]) >= {"appnope", "click", "colorama", "jinja2",
                                           "markupsafe"}, kind


def test_a_lock_mirrors_exactly_the_files_it_names_for_the_targets(boxes):
    _server, result = boxes["uvlock"]
    files = sorted(p.name for p in Path(result["dest"], "files").rglob("*")
                   if p.suffix in (".whl", ".gz"))
    # Both click forks (3.9 and 3.11), colorama for Windows only, appnope for macOS only, and
    # markupsafe's one wheel per Python and platform: no sdist (every target has a wheel).
    assert files == sorted([
        "appnope-0.1.4-py2.py3-none-any.whl",
        "click-8.1.8-py3-none-any.whl", "click-8.3.1-py3-none-any.whl",
        "colorama-0.4.6-py2.py3-none-any.whl", "jinja2-3.1.6-py3-none-any.whl",
        *(f"markupsafe-3.0.3-{py}-{py}-{plat}.whl" for py in ("cp39", "cp311") for plat in (
            "win_amd64", "macosx_11_0_arm64",
            "manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64")),
    ])
    assert result["files"] == len(files)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_uv_pip_installs_the_hashed_requirements_offline(boxes, course, tmp_path, platform):
    server, _ = boxes["requirements"]
    uv("pip", "install", "--python-platform", UV_PLATFORMS[platform], "--python-version",
       "3.11", "--target", str(tmp_path / "site"), "--index-url", server.index_url,
       "--require-hashes", "-r", str(course / "requirements.txt"),
       cwd=tmp_path, cache=tmp_path / "cache")
    assert installed(tmp_path / "site") == EXPECTED[platform]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_uv_pip_installs_the_boxs_pylock_offline(boxes, tmp_path, platform):
    server, _ = boxes["pylock"]
    lock_url = server.index_url.removesuffix("simple/") + "locks/pylock.toml"
    uv("pip", "install", "--python-platform", UV_PLATFORMS[platform], "--python-version",
       "3.11", "--target", str(tmp_path / "site"), "-r", lock_url,
       cwd=tmp_path, cache=tmp_path / "cache")
    assert installed(tmp_path / "site") == EXPECTED[platform]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_uv_sync_frozen_installs_the_boxs_uv_lock_offline(boxes, course, tmp_path, platform):
    server, _ = boxes["uvlock"]
    project = tmp_path / "course"
    project.mkdir()
    shutil.copy(course / "pyproject.toml", project)
    # What the landing page says: take the box's uv.lock into the project, then sync.
    lock_url = server.index_url.removesuffix("simple/") + "locks/uv.lock"
    with urllib.request.urlopen(lock_url) as answer:
        (project / "uv.lock").write_bytes(answer.read())
    uv("sync", "--frozen", "--python", sys.executable, "--python-platform",
       UV_PLATFORMS[platform], cwd=project, cache=tmp_path / "cache")
    sites = list(project.glob(".venv/lib/python3*/site-packages")) + list(
        project.glob(".venv/Lib/site-packages"))
    assert installed(sites[0]) == EXPECTED[platform]


def test_uv_sync_frozen_with_the_courses_own_lock_does_not_reach_the_box(boxes, course,
                                                                          tmp_path):
    """Why the box serves a rewritten lock: no index option turns uv to another index."""
    server, _ = boxes["uvlock"]
    project = tmp_path / "course"
    project.mkdir()
    shutil.copy(course / "pyproject.toml", project)
    shutil.copy(course / "uv.lock", project)
    proc = uv("sync", "--frozen", "--python", sys.executable, "--default-index",
              server.index_url, cwd=project, cache=tmp_path / "cache", check=False)
    assert proc.returncode != 0
    assert "Connection refused" in proc.stderr or "connect" in proc.stderr.lower()


def test_pip_installs_the_boxs_pylock_and_the_hashed_requirements_offline(boxes, course,
                                                                          tmp_path):
    pylock, _ = boxes["pylock"]
    requirements, _ = boxes["requirements"]
    lock_url = pylock.index_url.removesuffix("simple/") + "locks/pylock.toml"
    for name, args in (("lock", ["-r", lock_url]),
                       ("req", ["--index-url", requirements.index_url, "-r",
                                str(course / "requirements.txt")])):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir",
             "--target", str(tmp_path / name), *args],
            env=uv_env(tmp_path / "cache"), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert installed(tmp_path / name) == EXPECTED["linux"]


# -- what must fail, and say what -------------------------------------------------------------
def tamper(text: str, good: str) -> str:
    assert good in text
    return text.replace(good, "0" * 64)


CLICK_311 = "click-8.3.1-py3-none-any.whl"


@pytest.fixture
def click_sha256(fixture_dir) -> str:
    import hashlib

    return hashlib.sha256((fixture_dir / CLICK_311).read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_a_tampered_hash_fails_naming_the_file(course, upstream, tmp_path, kind, click_sha256):
    (tmp_path / "in").mkdir()
    changed = tmp_path / "in" / INPUTS[kind]
    changed.write_text(tamper((course / INPUTS[kind]).read_text(), click_sha256))
    result = engine.run(mirror_options(changed.parent, kind, tmp_path / "m", upstream.index_url))
    assert not result["complete"]
    failed = [f for f in result["failures"] if f["file"] == CLICK_311]
    assert failed and all("sha256" in f["reason"] for f in failed), result["failures"]
    assert not (tmp_path / "m" / "files" / "click" / CLICK_311).exists()
    # Everything else is mirrored and indexed.
    assert (tmp_path / "m" / "simple" / "jinja2" / "index.html").is_file()


def test_a_tampered_hash_fails_the_module_naming_the_file(course, upstream, tmp_path,
                                                          click_sha256):
    changed = tmp_path / "uv.lock"
    changed.write_text(tamper((course / "uv.lock").read_text(), click_sha256))
    code, result = run_module("pypi_mirror", f"dest={tmp_path / 'm'} index_url="
                              f"{upstream.index_url} lock_files={changed} "
                              "python_versions=3.11 platforms=manylinux-x86_64")
    assert code != 0 and result["failed"]
    assert CLICK_311 in result["msg"] and "sha256" in result["msg"]
    assert result["failures"][0]["file"] == CLICK_311


def test_an_unsatisfiable_constraint_fails_naming_it(course, upstream, tmp_path):
    (tmp_path / "constraints.txt").write_text("# the course pins below what exists\n"
                                              "click<8 ; python_version >= '3.10'\n")
    (tmp_path / "req.txt").write_text("-c constraints.txt\nclick\njinja2\n")
    options = dict(requirements_files=[str(tmp_path / "req.txt")], python_versions=PYTHONS,
                   platforms=["manylinux-x86_64"])
    result = engine.run(engine.Options(dest=str(tmp_path / "m"), index_url=upstream.index_url,
                                       **options))
    assert not result["complete"]
    [failure] = result["failures"]
    assert failure["project"] == "click"
    assert "constraint <8" in failure["reason"] and "constraints.txt:2" in failure["reason"]
    # The constraint's marker holds only from 3.10: 3.9 keeps its click.
    assert (tmp_path / "m" / "files" / "click" / "click-8.1.8-py3-none-any.whl").is_file()
    assert not (tmp_path / "m" / "files" / "click" / CLICK_311).exists()

    code, module = run_module("pypi_mirror", f"dest={tmp_path / 'm2'} index_url="
                              f"{upstream.index_url} requirements_files={tmp_path / 'req.txt'} "
                              "python_versions=3.11 platforms=manylinux-x86_64")
    assert code != 0 and "constraint <8" in module["msg"] and "constraints.txt:2" in module["msg"]


def test_the_module_mirrors_a_lock_and_reports_what_it_does_not_cover(course, upstream,
                                                                      tmp_path):
    args = (f"dest={tmp_path / 'm'} index_url={upstream.index_url} "
            f"lock_files={course / 'pylock.toml'} platforms=windows-x86_64 "
            "python_versions=3.8,3.11")
    code, result = run_module("pypi_mirror", args)
    assert code == 0 and result["complete"] and result["changed"]
    assert result["uncovered"] == [{"lock": str(course / "pylock.toml"),
                                    "target": "cp38-windows-x86_64",
                                    "reason": "the lock requires Python >=3.9"}]
    assert sorted(result["projects"]) == ["click", "colorama", "jinja2", "markupsafe"]
    code, again = run_module("pypi_mirror", args)
    assert code == 0 and again["changed"] is False and again["present"]["count"] == 4


def test_a_file_the_lock_names_but_the_index_lacks_is_a_failure(course, fixture_dir,
                                                                tmp_path):
    upstream_files = tmp_path / "upstream"
    shutil.copytree(fixture_dir, upstream_files)
    (upstream_files / "markupsafe-3.0.3-cp311-cp311-win_amd64.whl").unlink()
    with Upstream(upstream_files) as upstream:
        result = engine.run(mirror_options(course, "uvlock", tmp_path / "m", upstream.index_url,
                                           python_versions=["3.11"],
                                           platforms=["windows-x86_64"]))
    [failure] = result["failures"]
    assert failure["file"] == "markupsafe-3.0.3-cp311-cp311-win_amd64.whl"
    assert "missing upstream" in failure["reason"]


def test_the_cli_takes_a_lock(course, upstream, tmp_path):
    code, result, _stderr = run_cli("--dest", str(tmp_path / "m"), "--index-url",
                                    upstream.index_url, "--lock", str(course / "uv.lock"),
                                    "--python-version", "3.11", "--platform", "macos-arm64")
    assert code == 0, result
    assert "appnope" in result["projects"] and "colorama" not in result["projects"]
    assert json.dumps(result["uncovered"]) == "[]"
