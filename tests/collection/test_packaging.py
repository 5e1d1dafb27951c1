"""The collection as users get it: built by ansible-galaxy, installed, and run by its FQCN."""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def built_collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out),
                 str(PROJECT_DIR))
    assert result.returncode == 0, result.stderr
    (tarball,) = out.glob("pypi_in_a_box-pi-*.tar.gz")
    return tarball


def test_tarball_ships_the_collection_and_leaves_out_the_development_tree(built_collection):
    with tarfile.open(built_collection) as archive:
        names = set(archive.getnames())
    for shipped in ("MANIFEST.json", "site.yml", "meta/runtime.yml", "playbooks/site.yml",
                    "status.yml", "playbooks/status.yml", "plugins/modules/box_status.py",
                    "plugins/module_utils/box/status.py",
                    "roles/pypiserver/meta/argument_specs.yml",
                    "roles/nginx_cache/meta/argument_specs.yml"):
        assert shipped in names or any(n.endswith(shipped) for n in names), shipped
    leaked = [n for n in names if n.split("/")[0] in
              {"molecule", "tests", ".cache", ".venv", "collections", "benchmarks", ".ci",
               ".ruff_cache", ".pytest_cache", "scripts"}]
    assert not leaked, f"development files in the tarball: {leaked[:5]}"


def test_installed_collection_runs_its_playbooks_by_fqcn(built_collection, tmp_path):
    installed = tmp_path / "collections"
    # --force: ansible-lint leaves a copy in ~/.ansible/collections, which would otherwise make
    # this install a no-op.
    result = run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force",
                 "--no-deps", "-p", str(installed), str(built_collection))
    assert result.returncode == 0, result.stderr
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed)}
    # Outside the checkout, so only the installed copy can satisfy the FQCNs.
    for playbook in ("pypi_in_a_box.pi.site", "pypi_in_a_box.pi.status"):
        result = run(str(BIN / "ansible-playbook"), "-i", "pi.local,", "--syntax-check",
                     playbook, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_checkout_runs_its_playbooks_as_users_type_them():
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_COLLECTIONS_PATH"}
    for playbook in ("site.yml", "status.yml"):
        result = run(str(BIN / "ansible-playbook"), playbook, "-i", "pi.local,", "--syntax-check",
                     env=env, cwd=PROJECT_DIR)
        assert result.returncode == 0, result.stdout + result.stderr


def test_installed_collection_carries_the_indexer_the_nginx_role_installs(built_collection,
                                                                          tmp_path):
    """The role installs the indexer's modules from the collection's plugins/module_utils (with
    the private_indexer module): an installed collection must hold them, and they must run on
    their own."""
    installed = tmp_path / "collections"
    result = run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force",
                 "--no-deps", "-p", str(installed), str(built_collection))
    assert result.returncode == 0, result.stderr
    role = installed / "ansible_collections" / "pypi_in_a_box" / "pi" / "roles" / "nginx_cache"
    modules = yaml.safe_load((role / "vars" / "main.yml").read_text())[
        "nginx_cache_indexer_modules"]
    lib = tmp_path / "lib"
    (lib / "mirror").mkdir(parents=True)
    for module in modules:
        shutil.copy(role / ".." / ".." / "plugins" / "module_utils" / "mirror" / module,
                    lib / "mirror" / module)
    shutil.copy(role / "files" / "pypi-in-a-box-index", lib / "pypi-in-a-box-index")
    packages, dest = tmp_path / "packages", tmp_path / "index"
    packages.mkdir()
    result = run(sys.executable, "-I", str(lib / "pypi-in-a-box-index"), "--packages",
                 str(packages), "--dest", str(dest), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (dest / "simple" / "index.json").is_file()
