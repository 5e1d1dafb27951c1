"""Real pip and uv against the written mirror, served like the box serves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine

from tests.mirror.conftest import clean_env
from tests.support.static import MirrorServer
from tests.support.upstream import Upstream

BIN = Path(sys.executable).parent
UV = str(BIN / "uv")


@pytest.fixture(scope="module")
def box(fixture_dir, tmp_path_factory):
    """A mirror of click + jinja2 for 3.9 and 3.11 on the laptop platforms, served over HTTP."""
    dest = tmp_path_factory.mktemp("box") / "mirror"
    with Upstream(fixture_dir) as upstream:
        result = engine.run(engine.Options(dest=str(dest), packages=["click", "jinja2", "docopt"],
                                           index_url=upstream.index_url,
                                           python_versions=["3.9", "3.11"]))
    assert result["complete"]
    with MirrorServer(dest) as server:
        yield server


def run(*cmd, cwd=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), cwd=cwd,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def pip_download(box, tmp_path, *args):
    out = tmp_path / "dl"
    run(sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir",
        "--only-binary=:all:", "--index-url", box.index_url, "-d", str(out), *args)
    return sorted(p.name for p in out.iterdir())


def test_pip_download_for_python_39_skips_releases_needing_newer(box, tmp_path):
    files = pip_download(box, tmp_path, "--python-version", "3.9", "--platform",
                         "manylinux2014_x86_64", "click", "jinja2")
    assert files == [
        "click-8.1.8-py3-none-any.whl",  # 8.3.1 requires Python >= 3.10
        "jinja2-3.1.6-py3-none-any.whl",
        "markupsafe-3.0.3-cp39-cp39-manylinux2014_x86_64.manylinux_2_17_x86_64"
        ".manylinux_2_28_x86_64.whl",
    ]


def test_pip_download_for_windows_gets_the_windows_closure(box, tmp_path):
    files = pip_download(box, tmp_path, "--python-version", "3.11", "--platform", "win_amd64",
                         "click", "jinja2")
    # pip evaluates markers for the machine it runs on, not for --platform, so it skips
    # colorama here; uv's --python-platform does not (see the compile test below).
    assert files == ["click-8.3.1-py3-none-any.whl", "jinja2-3.1.6-py3-none-any.whl",
                     "markupsafe-3.0.3-cp311-cp311-win_amd64.whl"]


@pytest.mark.parametrize(
    ("python", "platform", "expected"),
    [
        ("3.9", "linux", {"click==8.1.8", "jinja2==3.1.6", "markupsafe==3.0.3"}),
        ("3.11", "linux", {"click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"}),
        ("3.11", "windows", {"click==8.3.1", "colorama==0.4.6", "jinja2==3.1.6",
                             "markupsafe==3.0.3"}),
    ],
)
def test_uv_pip_compile_resolves_per_python(box, tmp_path, python, platform, expected):
    (tmp_path / "in.txt").write_text("click\njinja2\n")
    out = run(UV, "pip", "compile", "--no-config", "--no-cache", "--quiet",
              "--python", sys.executable, "--python-version", python,
              "--python-platform", platform, "--index-url", box.index_url,
              "--no-header", "--no-annotate", str(tmp_path / "in.txt"))
    pins = {line.strip() for line in out.splitlines() if "==" in line}
    assert pins == expected


def test_pip_install_with_the_mirror_as_only_index(box, tmp_path):
    target = tmp_path / "site"
    run(sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir",
        "--index-url", box.index_url, "--target", str(target), "click", "jinja2")
    out = run(sys.executable, "-c",
              f"import sys; sys.path.insert(0, {str(target)!r}); import click, jinja2, "
              "markupsafe._speedups; print(click.__version__ if hasattr(click, '__version__') "
              "else 'ok', jinja2.__version__)")
    assert "3.1.6" in out


def test_pip_builds_an_sdist_only_project_offline(box, tmp_path):
    # docopt has no wheel; pip builds it in an isolated environment whose setuptools must come
    # from the mirror too (the closure adds build requirements of kept sdists).
    run(sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir",
        "--index-url", box.index_url, "--target", str(tmp_path / "site"), "docopt")
    assert (tmp_path / "site" / "docopt.py").is_file()


def test_uv_pip_install_with_the_mirror_as_only_index(box, tmp_path):
    venv = tmp_path / "venv"
    run(UV, "venv", "--no-config", "--python", sys.executable, str(venv))
    run(UV, "pip", "install", "--no-config", "--no-cache", "--python", str(venv / "bin/python"),
        "--index-url", box.index_url, "click", "jinja2")
    out = run(str(venv / "bin/python"), "-c",
              "import importlib.metadata as m; print(m.version('click'), m.version('jinja2'))")
    assert out.split() == ["8.3.1", "3.1.6"]
