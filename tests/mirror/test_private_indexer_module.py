"""The private_indexer module through real Ansible: it installs the very modules the collection
holds, rewrites only what differs, and refuses a bad list before writing anything."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tests.mirror.conftest import REPO, run_module

SOURCES = REPO / "plugins" / "module_utils" / "mirror"
INDEXER_MODULES = yaml.safe_load((REPO / "roles/nginx_cache/vars/main.yml").read_text())[
    "nginx_cache_indexer_modules"]


def install(dest, modules=INDEXER_MODULES, *extra):
    return run_module("private_indexer", json.dumps({"dest": str(dest), "modules": modules}),
                      *extra)


def test_installs_the_collections_modules_and_then_changes_nothing(tmp_path):
    dest = tmp_path / "lib" / "mirror"
    code, result = install(dest)
    assert code == 0, result
    assert result["changed"] is True
    assert sorted(result["written"]) == sorted(INDEXER_MODULES)
    assert sorted(p.name for p in dest.iterdir()) == sorted(INDEXER_MODULES)
    for name in INDEXER_MODULES:
        assert (dest / name).read_bytes() == (SOURCES / name).read_bytes(), name
        assert (dest / name).stat().st_mode & 0o777 == 0o644

    code, result = install(dest)
    assert (code, result["changed"], result["written"]) == (0, False, [])


def test_rewrites_only_a_module_that_differs(tmp_path):
    dest = tmp_path / "mirror"
    install(dest)
    (dest / "index.py").write_text("# edited on the box\n")
    untouched = (dest / "names.py").stat().st_ino

    code, result = install(dest, INDEXER_MODULES, "--check")
    assert (code, result["changed"], result["written"]) == (0, True, ["index.py"])
    assert (dest / "index.py").read_text() == "# edited on the box\n"

    code, result = install(dest)
    assert (code, result["written"]) == (0, ["index.py"])
    assert (dest / "index.py").read_bytes() == (SOURCES / "index.py").read_bytes()
    assert (dest / "names.py").stat().st_ino == untouched


def test_a_module_the_collection_lacks_fails_before_anything_is_written(tmp_path):
    dest = tmp_path / "mirror"
    code, result = install(dest, ["__init__.py", "nosuchmodule.py"])
    assert code != 0
    assert "nosuchmodule.py is not among the mirror engine modules" in result["msg"]
    code, result = install(dest, ["__init__.py", "../../etc/passwd"])
    assert code != 0
    assert "is not a Python module file name" in result["msg"]
    assert not dest.exists()


def test_the_installed_modules_run_the_indexer(tmp_path):
    lib = tmp_path / "lib"
    install(lib / "mirror")
    command = lib / "pypi-in-a-box-index"
    command.write_bytes((REPO / "roles/nginx_cache/files/pypi-in-a-box-index").read_bytes())
    packages, index = tmp_path / "packages", tmp_path / "index"
    packages.mkdir()
    subprocess.run([sys.executable, "-I", str(command), "--packages", str(packages),
                    "--dest", str(index)], check=True, cwd=tmp_path)
    assert (index / "simple" / "index.json").is_file()


PROXY_MODULES = yaml.safe_load((REPO / "roles/nginx_cache/vars/main.yml").read_text())[
    "nginx_cache_proxy_modules"]


def test_box_modules_install_as_their_own_package_and_run_the_proxy_command(tmp_path):
    lib = tmp_path / "lib"
    code, result = run_module("private_indexer", json.dumps(
        {"dest": str(lib / "box"), "modules": PROXY_MODULES, "package": "box"}))
    assert code == 0, result
    assert sorted(result["written"]) == sorted(PROXY_MODULES)
    for name in PROXY_MODULES:
        assert (lib / "box" / name).read_bytes() == \
            (REPO / "plugins/module_utils/box" / name).read_bytes(), name
    command = lib / "pypi-in-a-box-proxy"
    command.write_bytes((REPO / "roles/nginx_cache/files/pypi-in-a-box-proxy").read_bytes())
    resolv_conf, out = tmp_path / "resolv.conf", tmp_path / "resolver.conf"
    resolv_conf.write_text("nameserver 10.42.0.1\n")
    subprocess.run([sys.executable, "-I", str(command), "resolver", "--out", str(out),
                    "--resolv-conf", str(resolv_conf)], check=True, cwd=tmp_path)
    assert out.read_text().startswith("resolver 10.42.0.1 ")
    code, result = run_module("private_indexer", json.dumps(
        {"dest": str(lib / "box"), "modules": ["private_index.py"], "package": "box"}))
    assert code != 0
    assert "private_index.py is not among the box modules" in result["msg"]
