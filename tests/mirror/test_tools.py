"""uv and Python for attendees (pypi_mirror_tools): uv repacked from its real wheels, Python
builds from a list in uv's format, through the engine's transport and downloader.

The upstream serves uv 0.13.9's real wheels for six platforms (fetched once from PyPI) and, under
``/static/``, stand-ins for python-build-standalone's builds (GitHub is out of reach) listed in
uv's download-metadata.json format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.box.status import tools_inventory
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (
    options,
    tool_records,
    tools,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
    MirrorError,
    MirrorInputError,
    NoRoom,
    UpstreamError,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.layout import Layout

from tests.mirror.conftest import clean_env, run_module
from tests.mirror.test_mirror_publish import Fleet
from tests.support import python_builds
from tests.support.fetch_fixtures import UV_VERSION, ensure_uv_wheels
from tests.support.static import MirrorServer
from tests.support.upstream import Upstream

LINUX = ("linux", "x86_64", "gnu", "x86_64-unknown-linux-gnu")
WINDOWS = ("windows", "x86_64", "none", "x86_64-pc-windows-msvc")
MAC = ("darwin", "aarch64", "none", "aarch64-apple-darwin")
BUILDS = [
    python_builds.fake_build("3.12.8", *LINUX),
    python_builds.fake_build("3.12.7", *LINUX),
    python_builds.fake_build("3.12.8", *WINDOWS),
    python_builds.fake_build("3.13.1", *MAC),
    # Never what a laptop gets by default: free-threaded, and a newer CPU level only.
    python_builds.fake_build("3.13.1", *LINUX, variant="freethreaded"),
    python_builds.fake_build("3.13.2", *LINUX, arch_variant="v3"),
]
LINUX_3_12 = BUILDS[0]
TWO_UV = ["manylinux-x86_64", "windows-x86_64"]
THREE_PLATFORMS = ["manylinux-x86_64", "windows-x86_64", "macos-arm64"]


@pytest.fixture(scope="session")
def uv_wheels() -> Path:
    return ensure_uv_wheels()


@pytest.fixture
def tool_upstream(fixture_dir, uv_wheels, tmp_path):
    """The fixture set and uv's wheels on one index; the stand-in builds and their list."""
    folder = tmp_path / "upstream"
    folder.mkdir()
    for source in (fixture_dir, uv_wheels):
        for path in source.iterdir():
            if not path.name.startswith("."):
                (folder / path.name).symlink_to(path)
    with Upstream(folder) as upstream:
        upstream.builds_url = python_builds.serve(upstream, BUILDS)
        yield upstream


def run_tools(upstream, dest: Path, check_mode: bool = False, **options) -> dict:
    options.setdefault("uv_platforms", TWO_UV)
    options.setdefault("python_versions", ["3.12", "3.13"])
    options.setdefault("platforms", THREE_PLATFORMS)
    options.setdefault("python_builds_url", upstream.builds_url)
    return tools.run(tools.ToolOptions(dest=str(dest), index_url=upstream.index_url, **options),
                     check_mode=check_mode)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wheel_scripts(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.rpartition("/")[2]: archive.read(name) for name in archive.namelist()
                if ".data/scripts/" in name}


def archive_members(path: Path) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, bytes) of a .tar.gz or .zip."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return {i.filename: (i.external_attr >> 16 & 0o777, archive.read(i))
                    for i in archive.infolist()}
    with tarfile.open(path) as archive:
        return {m.name: (m.mode, archive.extractfile(m).read()) for m in archive if m.isfile()}


# -- uv ---------------------------------------------------------------------------------------
def test_uv_for_the_six_platforms_from_its_own_wheels(tool_upstream, uv_wheels, tmp_path):
    dest = tmp_path / "mirror"
    result = run_tools(tool_upstream, dest, tools=["uv"], uv_platforms=options.UV_PLATFORMS)
    assert result["complete"], result["failures"]
    assert result["uv"]["version"] == UV_VERSION
    archives = {a["platform"]: a for a in result["uv"]["archives"]}
    assert sorted(archives) == sorted(options.UV_PLATFORMS)
    for platform, archive in archives.items():
        path = dest / "uv" / UV_VERSION / archive["filename"]
        assert sha256(path.read_bytes()) == archive["sha256"]
        assert path.stat().st_size == archive["size"]
        scripts = wheel_scripts(uv_wheels / archive["wheel"])
        members = archive_members(path)
        if platform.startswith("windows"):
            assert path.name == f"uv-{archive['triple']}.zip"
            assert sorted(members) == ["uv.exe", "uvw.exe", "uvx.exe"]
            expected = {name: scripts[name] for name in members}
        else:
            top = f"uv-{archive['triple']}"
            assert sorted(members) == [f"{top}/uv", f"{top}/uvx"]
            expected = {f"{top}/{name}": data for name, data in scripts.items()}
        for name, (mode, data) in members.items():
            assert data == expected[name], f"{path.name}: {name} is not the wheel's"
            assert mode == 0o755
    # The macOS Intel archive is made of the macOS Intel wheel, and so on.
    assert "macosx" in archives["macos-x86_64"]["wheel"] and \
        archives["macos-x86_64"]["wheel"].endswith("x86_64.whl")
    assert "win_arm64" in archives["windows-arm64"]["wheel"]
    # The wheels were only on their way: nothing of them is left, nothing of them is served.
    assert not list(dest.rglob("*.whl"))
    assert not (dest / "python").exists() and not (dest / ".state/python.json").exists()


def test_uv_again_fetches_nothing_and_the_same_wheel_gives_the_same_bytes(tool_upstream,
                                                                            tmp_path):
    dest = tmp_path / "mirror"
    first = run_tools(tool_upstream, dest, tools=["uv"])
    served = len(tool_upstream.requests)
    again = run_tools(tool_upstream, dest, tools=["uv"])
    assert again["changed"] is False and again["downloaded"]["count"] == 0
    assert not [r for r in tool_upstream.requests[served:] if r["path"].endswith(".whl")]
    # Rebuilt from scratch, on another "box": byte for byte the same archives.
    other = run_tools(tool_upstream, tmp_path / "other", tools=["uv"])
    assert [a["sha256"] for a in other["uv"]["archives"]] == \
        [a["sha256"] for a in first["uv"]["archives"]]


def test_uv_version_the_organizer_chooses(tool_upstream, tmp_path):
    chosen = run_tools(tool_upstream, tmp_path / "a", tools=["uv"], uv_platforms=TWO_UV[:1],
                       uv_version=UV_VERSION)
    assert chosen["complete"] and chosen["uv"]["archives"][0]["version"] == UV_VERSION
    missing = run_tools(tool_upstream, tmp_path / "b", tools=["uv"], uv_version="0.0.1")
    assert not missing["complete"]
    assert "uv 0.0.1 has no wheels" in missing["failures"][0]["reason"]
    assert UV_VERSION in missing["failures"][0]["reason"]  # says what there is
    with pytest.raises(MirrorInputError, match="uv_version"):
        run_tools(tool_upstream, tmp_path / "c", uv_version="newest please")
    assert not (tmp_path / "c").exists()


def test_a_platform_without_a_uv_wheel_is_a_failure_the_rest_is_served(tool_upstream,
                                                                        tmp_path):
    result = run_tools(tool_upstream, tmp_path / "m", tools=["uv"],
                       uv_platforms=["manylinux-x86_64", "linux-armv7l"])
    assert [a["platform"] for a in result["uv"]["archives"]] == ["manylinux-x86_64"]
    assert [f["file"] for f in result["failures"]] == ["uv-armv7-unknown-linux-gnueabihf.tar.gz"]


# -- Python builds ----------------------------------------------------------------------------
def test_python_builds_newest_default_build_per_version_and_platform(tool_upstream, tmp_path):
    dest = tmp_path / "mirror"
    result = run_tools(tool_upstream, dest, tools=["python"])
    assert result["complete"], result["failures"]
    served = {b["key"]: b for b in result["python"]["builds"]}
    assert sorted(served) == ["cpython-3.12.8-linux-x86_64-gnu",
                              "cpython-3.12.8-windows-x86_64-none",
                              "cpython-3.13.1-darwin-aarch64-none"]
    by_key = {b.key: b for b in BUILDS}
    for key, build in served.items():
        path = dest / "python" / python_builds.RELEASE / build["filename"]
        assert path.read_bytes() == by_key[key].data
        assert build["sha256"] == by_key[key].sha256
        assert "url" not in build["entry"] and build["entry"]["patch"] == by_key[key].entry("")[
            "patch"]
    # No default 3.13 for Linux (only free-threaded, and x86-64-v3): noted, not a failure.
    assert any("3.13 has no build for manylinux-x86_64" in n for n in result["unavailable"])
    assert any("3.12 has no build for macos-arm64" in n for n in result["unavailable"])
    again = run_tools(tool_upstream, dest, tools=["python"])
    assert again["changed"] is False and again["received_bytes"] == 0


def test_an_exact_python_version(tool_upstream, tmp_path):
    result = run_tools(tool_upstream, tmp_path / "m", tools=["python"],
                       python_versions=["3.12.7"], platforms=["manylinux-x86_64"])
    assert [b["key"] for b in result["python"]["builds"]] == ["cpython-3.12.7-linux-x86_64-gnu"]


def test_a_cut_download_resumes_where_it_stopped(tool_upstream, tmp_path):
    # The list gives no sizes: the run asks with HEAD first (no fault), then cut the GET.
    tool_upstream.faults[LINUX_3_12.path] = ["", "cut:200000"]
    result = run_tools(tool_upstream, tmp_path / "m", tools=["python"],
                       platforms=["manylinux-x86_64"], python_versions=["3.12"])
    assert result["complete"], result["failures"]
    asked = [r for r in tool_upstream.requests if r["path"].endswith(
        quote(LINUX_3_12.filename))]
    assert [r["range"] for r in asked] == [None, None, "bytes=200000-"]
    assert asked[2]["if_range"]  # the ETag: a changed file is sent whole, never spliced
    assert tool_upstream.served[LINUX_3_12.path] == len(LINUX_3_12.data)  # no byte twice
    path = tmp_path / "m" / "python" / LINUX_3_12.path
    assert sha256(path.read_bytes()) == LINUX_3_12.sha256


def test_a_build_with_the_wrong_sha256_is_refused(tool_upstream, tmp_path):
    listing = json.loads(tool_upstream.static[python_builds.LISTING])
    listing[LINUX_3_12.key]["sha256"] = "0" * 64
    tool_upstream.static[python_builds.LISTING] = json.dumps(listing).encode()
    dest = tmp_path / "m"
    result = run_tools(tool_upstream, dest, tools=["python"], platforms=["manylinux-x86_64"],
                       python_versions=["3.12"])
    assert not result["complete"]
    assert "sha256 mismatch" in result["failures"][0]["reason"]
    assert not (dest / "python" / LINUX_3_12.path).exists()
    assert not list((dest / ".partial").rglob("*.part"))  # the bad bytes are gone
    assert result["python"]["builds"] == []


def test_corrupt_bytes_in_transit_are_fetched_again(tool_upstream, tmp_path):
    tool_upstream.faults[LINUX_3_12.path] = ["", "corrupt"]  # HEAD, then the GET
    result = run_tools(tool_upstream, tmp_path / "m", tools=["python"],
                       platforms=["manylinux-x86_64"], python_versions=["3.12"])
    assert result["complete"], result["failures"]
    assert sha256((tmp_path / "m" / "python" / LINUX_3_12.path).read_bytes()) == \
        LINUX_3_12.sha256


def test_unsafe_or_unverifiable_entries_are_refused(tool_upstream, tmp_path):
    listing = json.loads(tool_upstream.static[python_builds.LISTING])
    newer = dict(listing[LINUX_3_12.key], patch=9)
    listing["cpython-3.12.9-linux-x86_64-gnu"] = dict(newer, sha256=None)
    listing["cpython-3.12.10-linux-x86_64-gnu"] = dict(newer, patch=10,
                                                        url="http://evil.example/x.tar.gz")
    listing["cpython-3.12.11-linux-x86_64-gnu"] = dict(
        newer, patch=11, url=newer["url"].rsplit("/", 1)[0] + "/..%2F..%2Fescape.tar.gz")
    tool_upstream.static[python_builds.LISTING] = json.dumps(listing).encode()
    result = run_tools(tool_upstream, tmp_path / "m", tools=["python"],
                       platforms=["manylinux-x86_64"], python_versions=["3.12"])
    assert [b["version"] for b in result["python"]["builds"]] == ["3.12.8"]  # the newest good
    reasons = {r["file"]: r["reason"] for r in result["rejected"]}
    assert "no valid sha256" in reasons["cpython-3.12.9-linux-x86_64-gnu"]
    assert "not an allowed host" in reasons["cpython-3.12.10-linux-x86_64-gnu"]
    assert "file name" in reasons["cpython-3.12.11-linux-x86_64-gnu"]
    assert not list((tmp_path).rglob("escape.tar.gz"))


def test_a_portal_instead_of_the_list_stops_the_run_before_anything_is_written(tool_upstream,
                                                                                 tmp_path):
    portal = tool_upstream.url_for("portal").replace("/simple/", "/static/list.json")
    with pytest.raises(UpstreamError, match="not a list of Python downloads"):
        run_tools(tool_upstream, tmp_path / "m", python_builds_url=portal)
    assert not (tmp_path / "m").exists()


def test_the_list_of_the_uv_version_served(tool_upstream, tmp_path):
    tool_upstream.static[f"{UV_VERSION}/{python_builds.LISTING}"] = \
        tool_upstream.static[python_builds.LISTING]
    url = f"{tool_upstream.base_url}/static/{{uv_version}}/{python_builds.LISTING}"
    result = run_tools(tool_upstream, tmp_path / "m", tools=["python"], python_builds_url=url,
                       platforms=["manylinux-x86_64"], python_versions=["3.12"])
    assert result["python"]["source"].endswith(f"/{UV_VERSION}/{python_builds.LISTING}")
    assert result["complete"] and len(result["python"]["builds"]) == 1


def test_a_refresh_that_fails_keeps_what_the_box_served(tool_upstream, tmp_path):
    dest = tmp_path / "m"
    narrow = {"tools": ["python"], "platforms": ["manylinux-x86_64"], "python_versions": ["3.12"]}
    run_tools(tool_upstream, dest, **narrow)
    listing = json.loads(tool_upstream.static[python_builds.LISTING])
    listing["cpython-3.12.9-linux-x86_64-gnu"] = dict(listing[LINUX_3_12.key], patch=9,
                                                      sha256="1" * 64)
    tool_upstream.static[python_builds.LISTING] = json.dumps(listing).encode()
    result = run_tools(tool_upstream, dest, **narrow)
    assert not result["complete"]
    assert [b["version"] for b in result["python"]["builds"]] == ["3.12.8"]


# -- both ---------------------------------------------------------------------------------------
def test_check_mode_reports_what_uv_and_the_pythons_add_and_writes_nothing(tool_upstream,
                                                                           uv_wheels, tmp_path):
    dest = tmp_path / "mirror"
    plan = run_tools(tool_upstream, dest, check_mode=True)
    assert not dest.exists()
    would = plan["would_download"]
    wheels = [w for w in uv_wheels.glob("*.whl") if "manylinux_2_17_x86_64" in w.name
              or "win_amd64" in w.name]
    assert would["uv_bytes"] == sum(w.stat().st_size for w in wheels)
    # The list gives no sizes: they come from HEAD requests.
    chosen = [b for b in BUILDS if b.key in ("cpython-3.12.8-linux-x86_64-gnu",
                                             "cpython-3.12.8-windows-x86_64-none",
                                             "cpython-3.13.1-darwin-aarch64-none")]
    assert would["python_bytes"] == sum(len(b.data) for b in chosen)
    assert would["bytes"] == would["uv_bytes"] + would["python_bytes"]
    assert would["count"] == 5 and would["unknown_size"] == 0 and would["fits"]
    assert plan["changed"] is True

    done = run_tools(tool_upstream, dest)
    assert done["complete"], done["failures"]
    on_disk = sum(p.stat().st_size for folder in ("uv", "python")
                  for p in (dest / folder).rglob("*") if p.is_file())
    assert done["tools_size"] == on_disk
    again = run_tools(tool_upstream, dest, check_mode=True)
    assert again["would_download"]["count"] == 0 and again["changed"] is False
    assert again["tools_size"] == on_disk


def test_no_room_stops_before_any_download(tool_upstream, tmp_path):
    with pytest.raises(NoRoom, match="serve uv for fewer platforms or fewer Pythons"):
        run_tools(tool_upstream, tmp_path / "m", min_free_space=1 << 60)
    assert not list((tmp_path / "m").rglob("*.tar.gz"))


def test_switched_off_the_box_stops_offering_it_and_prune_removes_it(tool_upstream, tmp_path):
    dest = tmp_path / "m"
    run_tools(tool_upstream, dest, uv_platforms=TWO_UV[:1], platforms=["manylinux-x86_64"],
              python_versions=["3.12"])
    off = run_tools(tool_upstream, dest, tools=[])
    assert off["changed"] and off["uv"]["archives"] == [] and off["python"]["builds"] == []
    assert not (dest / ".state/uv.json").exists() and (dest / "uv").is_dir()
    pruned = run_tools(tool_upstream, dest, tools=[], prune=True)
    assert pruned["changed"] and not (dest / "uv").exists() and not (dest / "python").exists()


def test_the_box_status_lists_what_the_records_list(tool_upstream, tmp_path):
    dest = tmp_path / "m"
    run_tools(tool_upstream, dest, uv_platforms=TWO_UV, platforms=["manylinux-x86_64"],
              python_versions=["3.12"])
    found = tools_inventory(dest)
    assert found["problems"] == [] and found["uv_versions"] == [UV_VERSION]
    assert {a["family"] for a in found["uv"]} == {"linux", "windows"}
    build = found["python"][0]
    assert build["url_path"] == f"python/{python_builds.RELEASE}/" + \
        quote(LINUX_3_12.filename)  # "+" escaped, as uv's own lists have it
    assert found["bytes"] == sum(i["size"] for i in found["uv"] + found["python"])
    (dest / ".state/uv.json").write_text('{"archives": {"manylinux-x86_64": {"filename": '
                                         '"../../etc/passwd"}}}')
    broken = tools_inventory(dest)
    assert broken["uv"] == [] and "uv.json" in broken["problems"][0]


def test_records_refuse_names_that_would_escape(tmp_path):
    layout = Layout(tmp_path)
    bad = {"builds": {"cpython-3.12.8-linux-x86_64-gnu": {
        "platform": "manylinux-x86_64", "request": "3.12", "version": "3.12.8",
        "folder": "..", "filename": "x.tar.gz", "sha256": "0" * 64, "size": 1, "entry": {}}},
        "source": "http://x/"}
    with pytest.raises(MirrorError, match="folder"):
        tool_records.save(layout, "python", bad)


# -- through Ansible ----------------------------------------------------------------------------
def test_the_module_serves_and_reports_and_fails_clearly(tool_upstream, tmp_path):
    dest = tmp_path / "m"
    args = (f"dest={dest} index_url={tool_upstream.index_url} "
            f"python_builds_url={tool_upstream.builds_url} uv_platforms=manylinux-x86_64 "
            "python_versions=3.12 platforms=manylinux-x86_64")
    code, planned = run_module("pypi_mirror_tools", args, "--check")
    assert code == 0, planned
    assert planned["would_download"]["count"] == 2 and not dest.exists()
    code, done = run_module("pypi_mirror_tools", args)
    assert code == 0 and done["changed"], done
    assert done["uv"]["archives"][0]["platform"] == "manylinux-x86_64"
    assert [b["version"] for b in done["python"]["builds"]] == ["3.12.8"]
    code, again = run_module("pypi_mirror_tools", args)
    assert code == 0 and again["changed"] is False
    code, bad = run_module("pypi_mirror_tools", args + " uv_platforms=amiga")
    assert code != 0 and bad["changed"] is False
    assert "unknown platform 'amiga'" in bad["msg"]
    code, failed = run_module("pypi_mirror_tools", args + " uv_version=0.0.1")
    assert code != 0 and "allow_partial" in failed["msg"]


# -- a fleet: built on the controller, verified on the box ------------------------------------
@pytest.fixture
def tool_fleet(tool_upstream, mirror, tmp_path):
    fleet = Fleet(tool_upstream, mirror, tmp_path)
    fleet.build("idna")
    result = run_tools(tool_upstream, fleet.controller, uv_platforms=TWO_UV[:1],
                       platforms=["manylinux-x86_64", "windows-x86_64"],
                       python_versions=["3.12"])
    assert result["complete"], result["failures"]
    return fleet


def test_the_fan_out_carries_uv_and_the_pythons_verified(tool_fleet):
    tool_fleet.push()
    result = tool_fleet.publish()
    assert result["tools"]["files"] == 3
    assert result["tools"]["verified"]["count"] == 3
    assert result["tools"]["published"]["count"] == 3
    box = Layout(tool_fleet.box)
    for tool in ("uv", "python"):
        assert tool_records.load(box, tool) == tool_records.load(Layout(tool_fleet.controller),
                                                                 tool)
        for file in tool_records.files(box, tool, tool_records.load(box, tool)):
            assert sha256(file.path.read_bytes()) == file.sha256
    tool_fleet.push()
    again = tool_fleet.publish()
    assert again["changed"] is False and again["tools"]["verified"]["count"] == 0


def test_a_bad_file_on_arrival_publishes_nothing(tool_fleet):
    tool_fleet.push()
    staged = next((tool_fleet.staging / "python").rglob("*.tar.gz"))
    data = bytearray(staged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    staged.write_bytes(bytes(data))  # same size, other bytes
    with pytest.raises(MirrorError, match=re.escape(f"{staged.name}: sha256")):
        tool_fleet.publish()
    assert not (tool_fleet.box / "python").exists() and not (tool_fleet.box / "uv").exists()
    assert not (tool_fleet.box / "simple").exists()


def test_what_the_controller_stops_serving_leaves_the_box(tool_fleet, tool_upstream):
    tool_fleet.push()
    tool_fleet.publish()
    run_tools(tool_upstream, tool_fleet.controller, tools=["uv"], uv_platforms=TWO_UV[:1],
              prune=True)
    tool_fleet.push()
    result = tool_fleet.publish()
    assert result["tools"]["removed"]["count"] == 2
    assert not list((tool_fleet.box / "python").rglob("*.tar.gz"))
    assert tool_records.load(Layout(tool_fleet.box), "python") == {}
    assert list((tool_fleet.box / "uv").rglob("*.tar.gz"))


def test_repack_refuses_a_wheel_without_uv(tmp_path):
    wheel = tmp_path / "uv-0.13.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("uv-0.13.9.data/scripts/something-else", b"#!/bin/sh\n")
    with pytest.raises(MirrorError, match="no uv executable"):
        tools.repack_uv(wheel, tool_records.PLATFORMS["manylinux-x86_64"],
                        tmp_path / "uv" / "uv-x86_64-unknown-linux-gnu.tar.gz")
    assert os.listdir(tmp_path / "uv") == []  # nothing half written left behind


# -- the real sources (opt-in: PyPI for uv, GitHub for the builds) ------------------------------
@pytest.mark.skipif(not os.environ.get("PIAB_REAL_PYTHON_BUILDS"),
                    reason="reaches GitHub: set PIAB_REAL_PYTHON_BUILDS=1 where it is reachable")
def test_the_real_sources_give_a_uv_and_a_python_that_uv_installs(tmp_path):
    dest = tmp_path / "mirror"
    result = tools.run(tools.ToolOptions(dest=str(dest), uv_platforms=["manylinux-x86_64"],
                                         python_versions=["3.12"],
                                         platforms=["manylinux-x86_64"]))
    assert result["complete"], result["failures"]
    archive = dest / "uv" / result["uv"]["version"] / "uv-x86_64-unknown-linux-gnu.tar.gz"
    with tarfile.open(archive) as packed:
        packed.extractall(tmp_path / "uv", filter="data")
    uv = tmp_path / "uv" / "uv-x86_64-unknown-linux-gnu" / "uv"
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[1] == result["uv"]["version"]
    with MirrorServer(dest) as server:
        base = server.index_url.removesuffix("/simple/")
        listing = {b["key"]: dict(b["entry"], url=f"{base}/{b['url_path']}")
                   for b in tools_inventory(dest)["python"]}
        (dest / "python" / "downloads.json").write_text(json.dumps(listing))
        env = dict(clean_env(), UV_PYTHON_DOWNLOADS_JSON_URL=f"{base}/python/downloads.json",
                   UV_PYTHON_INSTALL_DIR=str(tmp_path / "pythons"),
                   UV_PYTHON_BIN_DIR=str(tmp_path / "bin"), UV_CACHE_DIR=str(tmp_path / "cache"))
        installed = subprocess.run([uv, "python", "install", "3.12"], env=env,
                                   capture_output=True, text=True, timeout=600)
        assert installed.returncode == 0, installed.stderr
    python = next((tmp_path / "pythons").glob("cpython-3.12.*/bin/python3"))
    ran = subprocess.run([python, "-c", "import sys, ssl; print(sys.version)"],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.startswith(result["python"]["builds"][0]["version"])
