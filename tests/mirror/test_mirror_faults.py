"""An upstream that misbehaves: cut connections, 5xx, slowness, wrong bytes, hostile entries."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
    MirrorInputError,
    UpstreamError,
)

from tests.mirror.conftest import run_cli, tree

PYGMENTS = "pygments-2.19.1-py3-none-any.whl"
IDNA = "idna-3.10-py3-none-any.whl"
ONE_TARGET = {"python_versions": ["3.11"], "platforms": ["manylinux-x86_64"],
              "dependencies": False}


def test_cut_connections_resume_where_they_stopped(upstream, mirror, tmp_path):
    upstream.faults[PYGMENTS] = ["cut:300000", "cut:500000"]
    result = mirror(upstream, "pygments", **ONE_TARGET)
    assert result["complete"]
    final = tmp_path / "mirror/files/pygments" / PYGMENTS
    assert final.read_bytes() == upstream.content[PYGMENTS]
    gets = upstream.requests_for(PYGMENTS)
    assert [g["status"] for g in gets] == [200, 206, 206]
    assert gets[1]["range"] == "bytes=300000-" and gets[1]["if_range"]
    assert gets[2]["range"] == "bytes=800000-"
    size = len(upstream.content[PYGMENTS])
    assert upstream.served[PYGMENTS] == size  # not one byte fetched twice
    assert result["received_bytes"] == size


def test_5xx_on_files_and_pages_are_retried(upstream, mirror, tmp_path):
    upstream.faults[IDNA] = ["503", "500"]
    upstream.faults["page:idna"] = ["502"]
    result = mirror(upstream, "idna", **ONE_TARGET)
    assert result["complete"], result["failures"]
    assert [g["status"] for g in upstream.requests_for(IDNA)] == [503, 500, 200]
    assert (tmp_path / "mirror/files/idna" / IDNA).read_bytes() == upstream.content[IDNA]


def test_slow_response_times_out_and_is_retried(upstream, mirror):
    upstream.faults[IDNA] = ["slow:1.5"]
    result = mirror(upstream, "idna", timeout=0.5, **ONE_TARGET)
    assert result["complete"], result["failures"]
    assert len(upstream.requests_for(IDNA)) == 2


def test_bytes_not_matching_the_hash_are_discarded_and_retried(upstream, mirror, tmp_path):
    upstream.faults[IDNA] = ["corrupt"]
    result = mirror(upstream, "idna", **ONE_TARGET)
    assert result["complete"]
    assert (tmp_path / "mirror/files/idna" / IDNA).read_bytes() == upstream.content[IDNA]
    assert result["received_bytes"] == 2 * len(upstream.content[IDNA])


def test_persistently_wrong_file_is_never_served_and_fails_the_run(upstream, mirror, tmp_path):
    upstream.faults[IDNA] = ["corrupt"] * 10
    result = mirror(upstream, "idna", "click", retries=2, **ONE_TARGET)
    assert not result["complete"]
    (failure,) = result["failures"]
    assert failure["file"] == IDNA and "sha256 mismatch" in failure["reason"]
    assert result["missing"]["count"] == 1
    dest = tmp_path / "mirror"
    assert not (dest / "files/idna" / IDNA).exists()
    # No page at all for a project none of whose files arrived: a 404, as for any project
    # the mirror does not have, and it is not on the root page either.
    assert not (dest / "simple/idna").exists()
    assert "idna" not in (dest / "simple/index.html").read_text()
    assert "click-8.3.1" in (dest / "simple/click/index.html").read_text()  # the rest is served
    assert len(upstream.requests_for(IDNA)) == 3


def test_cli_exit_codes_for_missing_files(upstream, tmp_path):
    upstream.faults[IDNA] = ["corrupt"] * 20
    args = ["--dest", str(tmp_path / "m"), "--index-url", upstream.index_url,
            "--python-version", "3.11", "--platform", "manylinux-x86_64", "--retries", "1", "idna"]
    code, result, _ = run_cli(*args)
    assert code == 1 and result["complete"] is False
    code, result, _ = run_cli(*args, "--allow-partial")
    assert code == 0 and result["missing"]["count"] == 1


def test_hostile_entries_are_rejected(upstream, mirror, tmp_path):
    good = hashlib.sha256(upstream.content[IDNA]).hexdigest()
    upstream.add_entry("idna", filename="../../../evil-9.0-py3-none-any.whl",
                       url="../../files/evil-9.0-py3-none-any.whl", hashes={"sha256": good})
    upstream.add_entry("idna", filename="idna-9.0-py3-none-any.whl",
                       url="http://203.0.113.7/files/idna-9.0-py3-none-any.whl",
                       hashes={"sha256": good})
    upstream.add_entry("idna", filename="idna-9.1-py3-none-any.whl",
                       url="../../files/idna-9.1-py3-none-any.whl", hashes={})
    upstream.add_entry("idna", filename="idna-9.2-py3-none-any.whl",
                       url="../../files/" + IDNA, hashes={"sha256": good})
    result = mirror(upstream, "idna", **ONE_TARGET)
    reasons = sorted(r["reason"] for r in result["rejected"])
    assert len(reasons) == 4, reasons
    assert any("unsafe filename" in r for r in reasons)
    assert any("not an allowed host" in r for r in reasons)
    assert any("no valid sha256" in r for r in reasons)
    assert any("names another file" in r for r in reasons)
    assert result["complete"]
    assert sorted(tree(tmp_path / "mirror")) == [
        f"files/idna/{IDNA}", f"files/idna/{IDNA}.metadata", "simple/idna/index.html",
        "simple/idna/index.json", "simple/index.html", "simple/index.json"]
    assert not list(tmp_path.glob("**/evil*"))


def test_redirect_to_a_foreign_host_is_refused(upstream, mirror, tmp_path):
    # the same server under another name: it answers, but the host is not on the allow-list
    foreign = upstream.base_url.replace("127.0.0.1", "localhost") + "/files/" + IDNA
    upstream.faults["redirect:" + IDNA] = [foreign]
    result = mirror(upstream, "idna", **ONE_TARGET)
    (failure,) = result["failures"]
    assert "'localhost', which is not an allowed host" in failure["reason"]
    assert not (tmp_path / "mirror/files/idna" / IDNA).exists()


def test_body_larger_than_announced_is_refused(upstream, mirror, tmp_path):
    upstream.replace(IDNA, upstream.content[IDNA] + b"x" * 50_000, announce=False)
    result = mirror(upstream, "idna", **ONE_TARGET)
    (failure,) = result["failures"]
    assert "more than the announced size" in failure["reason"]
    assert not (tmp_path / "mirror/files/idna" / IDNA).exists()
    assert not list((tmp_path / "mirror").rglob("*.part"))  # refused on the headers


def test_changed_upstream_file_is_never_spliced(upstream, mirror, tmp_path):
    # The index announces B; the upstream still serves the old A, cuts the connection, and then
    # switches to B. The resume asks If-Range: <etag of A>, so it gets all of B, not A+B.
    new = upstream.content[PYGMENTS]
    old = bytes(reversed(new[:400_000])) + new[400_000:]
    upstream.replace(PYGMENTS, old, announce=False)
    upstream.faults[PYGMENTS] = ["cutswap:250000"]
    result = mirror(upstream, "pygments", **ONE_TARGET)
    assert result["complete"], result["failures"]
    gets = upstream.requests_for(PYGMENTS)
    assert [g["status"] for g in gets] == [200, 200]
    assert gets[1]["range"] == "bytes=250000-" and gets[1]["if_range"]
    assert (tmp_path / "mirror/files/pygments" / PYGMENTS).read_bytes() == new
    assert upstream.served[PYGMENTS] == 250_000 + len(new)  # no splice, no hash-mismatch retry


def test_announced_but_missing_metadata_falls_back_to_the_wheel(upstream, mirror, tmp_path):
    upstream.faults[IDNA + ".metadata"] = ["404"]
    result = mirror(upstream, "idna", python_versions=["3.11"], platforms=["manylinux-x86_64"])
    assert result["complete"], result["failures"]
    written = (tmp_path / "mirror/files/idna" / (IDNA + ".metadata")).read_bytes()
    assert written == upstream.core_metadata(IDNA)


def test_served_metadata_comes_from_the_verified_wheel(upstream, mirror, tmp_path):
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.metadata import (
        wheel_metadata,
    )

    # An upstream whose metadata file (correctly hashed in its index) is not the wheel's.
    real = upstream.core_metadata(IDNA)
    upstream.metadata_override[IDNA] = real.replace(b"\n", b"\nX-Upstream-Note: differs\n", 1)
    result = mirror(upstream, "idna", **ONE_TARGET)
    assert result["complete"]
    wheel = tmp_path / "mirror/files/idna" / IDNA
    served = (tmp_path / "mirror/files/idna" / (IDNA + ".metadata")).read_bytes()
    assert served == wheel_metadata(wheel) == real
    page = (tmp_path / "mirror/simple/idna/index.html").read_text()
    assert hashlib.sha256(served).hexdigest() in page


def test_unreachable_index_changes_nothing(tmp_path, mirror):
    class Nowhere:
        index_url = "http://127.0.0.1:9/simple/"

    with pytest.raises(UpstreamError, match="unreachable"):
        mirror(Nowhere, "click")
    assert not (tmp_path / "mirror").exists()
    code, _, stderr = run_cli("--dest", str(tmp_path / "m"), "--index-url",
                              Nowhere.index_url, "click")
    assert code == 2 and "unreachable" in stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["django>=4.2,<"], "invalid requirement"),
        (["--platform", "amiga", "click"], "unknown platform 'amiga'"),
        (["--python-version", "2.7", "click"], "python version '2.7'"),
        (["--releases", "x", "click"], "invalid --releases value: 'x'"),
        ([], "nothing to mirror"),
    ],
)
def test_cli_bad_input(upstream, tmp_path, args, message):
    code, _, stderr = run_cli("--dest", str(tmp_path / "m"), "--index-url", upstream.index_url,
                              *args)
    assert code == 2
    assert message in stderr
    assert not (tmp_path / "m").exists()
    assert not upstream.requests


def test_missing_project_is_reported_and_the_rest_mirrored(upstream, mirror):
    result = mirror(upstream, "idna", "no-such-project", **ONE_TARGET)
    assert not result["complete"]
    assert result["projects"] == ["idna"]
    assert "'no-such-project' not found" in result["failures"][0]["reason"]


def test_input_errors_are_typed(mirror, upstream):
    with pytest.raises(MirrorInputError):
        mirror(upstream, "click", platforms=["nope"])
