"""The module through real Ansible: results, idempotence, check mode, failures."""

from __future__ import annotations

import pytest

from tests.mirror.conftest import run_module


def ansible(module_args: str, *extra: str) -> tuple:
    return run_module("pypi_mirror", module_args, *extra)


@pytest.fixture
def args(upstream, tmp_path):
    return (f"dest={tmp_path / 'mirror'} index_url={upstream.index_url} "
            "python_versions=3.9,3.11 platforms=windows-x86_64,manylinux-x86_64 ")


def test_module_runs_idempotently_with_check_mode(args, tmp_path, upstream):
    code, plan = ansible(args + "packages=click", "--check")
    assert code == 0 and plan["changed"] is True
    assert plan["would_download"]["count"] == 3
    assert plan["would_download"]["bytes"] == upstream.total_bytes(
        ["click-8.1.8-py3-none-any.whl", "click-8.3.1-py3-none-any.whl",
         "colorama-0.4.6-py2.py3-none-any.whl"])
    assert not (tmp_path / "mirror").exists()

    code, first = ansible(args + "packages=click")
    assert code == 0 and first["changed"] is True
    assert first["downloaded"] == {"count": 3, "bytes": plan["would_download"]["bytes"]}
    assert first["projects"] == ["click", "colorama"]
    assert first["complete"] is True and first["failures"] == []
    assert first["mirror_size"] > first["downloaded"]["bytes"]

    code, second = ansible(args + "packages=click")
    assert code == 0 and second["changed"] is False
    assert second["downloaded"]["count"] == 0 and second["present"]["count"] == 3


def test_module_bad_input_fails_with_a_specific_message(args, tmp_path):
    code, result = ansible(args + "packages=click platforms=amiga")
    assert code != 0 and result["failed"]
    assert "unknown platform 'amiga'" in result["msg"]
    assert not (tmp_path / "mirror").exists()
    code, result = ansible(args + "packages='django>=4.2,<'")
    assert "invalid requirement" in result["msg"]
    code, result = ansible(args)  # neither packages nor requirements_files
    assert "nothing to mirror" in result["msg"]


def test_module_fails_on_missing_files_unless_partial_is_allowed(args, upstream):
    upstream.faults["click-8.3.1-py3-none-any.whl"] = ["corrupt"] * 20
    code, result = ansible(args + "packages=click retries=1")
    assert code != 0 and result["failed"]
    assert "incomplete" in result["msg"] and "sha256 mismatch" in result["msg"]
    assert result["failures"][0]["file"] == "click-8.3.1-py3-none-any.whl"
    code, result = ansible(args + "packages=click retries=1 allow_partial=true")
    assert code == 0 and result["complete"] is False and result["missing"]["count"] == 1


def test_module_reads_requirements_files(args, tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("idna==3.9\n")
    code, result = ansible(args + f"requirements_files={req}")
    assert code == 0 and result["projects"] == ["idna"]
