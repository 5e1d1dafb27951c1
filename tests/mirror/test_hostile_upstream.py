"""The mirror against a broken or hostile upstream (issue 10): captive portals, cutting proxies,
lying servers.

Each case runs twice, through the engine's command line and through the Ansible module, on top
of a mirror published earlier from the healthy index, and checks that:
- the run ends within its stated bound, whatever the upstream does;
- the result (or, for a run that cannot start, the error) names what went wrong;
- the mirror published before is byte for byte what it was;
- the memory of the whole process tree stays under a stated bound.
The upstream is tests/support/upstream.py: one misbehaviour per route or per queued fault.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.mirror.conftest import measured_cli, measured_module, tree
from tests.support.upstream import Upstream

IDNA = "idna-3.10-py3-none-any.whl"
PYGMENTS = "pygments-2.19.1-py3-none-any.whl"  # 1.2 MB: big enough to cut in the middle
ONE_TARGET = {"python_versions": ["3.11"], "platforms": ["manylinux-x86_64"]}
PUBLISHED = ["idna", "click"]
# The engine alone, and Ansible with the module (ansible itself is most of that).
ENGINE_RSS = 200 << 20
MODULE_RSS = 400 << 20
FAST = {"timeout": 2, "retries": 1}


@dataclass
class Case:
    packages: list[str]
    expect: str  # a regular expression the failure reasons, or the error, must match
    stops: bool = False  # the run cannot start: an error, and nothing written at all
    route: tuple[str, ...] = ()  # behaviours of the whole index
    setup: Callable[[Upstream, Upstream], None] | None = None  # (upstream, tripwire)
    options: dict = field(default_factory=dict)
    seconds: float = 60
    complete_projects: tuple[str, ...] = ()  # mirrored in spite of the rest
    rejected: str = ""  # a regular expression some rejected entry's reason must match


def _queue(key: str, fault: str, times: int = 20):
    def setup(up: Upstream, _tripwire: Upstream) -> None:
        up.faults[key] = [fault] * times
    return setup


def _redirect(key: str, scheme: str = "tripwire"):
    """Send the request for ``key`` elsewhere: to the tripwire (a host not allowed), or to a
    URL of another scheme."""

    def setup(up: Upstream, tripwire: Upstream) -> None:
        target = {"ftp": "ftp://127.0.0.1/pub/" + PYGMENTS,
                  "file": "file:///etc/passwd"}.get(scheme)
        if target is None:  # same machine, but a host name the run must not talk to
            target = tripwire.base_url.replace("127.0.0.1", "localhost") + "/anything"
        up.faults[key] = [target] * 20
    return setup


def _long_name(up: Upstream, _tripwire: Upstream) -> None:
    name = "idna-3.11+" + "x" * 300 + "-py3-none-any.whl"
    up.add_entry("idna", filename=name, url="../../files/idna/" + name,
                 hashes={"sha256": "0" * 64}, size=10)


def _nothing_usable(up: Upstream, _tripwire: Upstream) -> None:
    # A project the index knows, whose every file must be refused: no hash to verify it by.
    for version in ("1.0", "1.1"):
        name = f"unverifiable-{version}-py3-none-any.whl"
        up.add_entry("unverifiable", filename=name, url=f"../../files/unverifiable/{name}",
                     hashes={})


def _bomb_sdist() -> bytes:
    """An sdist whose PKG-INFO comes after 1.2 GiB of zeros (a few MB compressed)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as packed, \
            tarfile.open(fileobj=packed, mode="w") as archive:
        zeros = tarfile.TarInfo("boom-1.0/padding.bin")
        zeros.size = 1200 << 20

        class Zeros:
            left = zeros.size

            def read(self, size: int = -1) -> bytes:
                size = self.left if size < 0 else min(size, self.left)
                self.left -= size
                return bytes(size)

        archive.addfile(zeros, Zeros())
        info = tarfile.TarInfo("boom-1.0/PKG-INFO")
        body = b"Metadata-Version: 2.1\nName: boom\nVersion: 1.0\nRequires-Dist: idna\n"
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    return raw.getvalue()


BOMB = None


def _bomb(up: Upstream, _tripwire: Upstream) -> None:
    global BOMB
    BOMB = BOMB or _bomb_sdist()
    up.add_file("boom-1.0.tar.gz", BOMB)


def _changed_hash(up: Upstream, _tripwire: Upstream) -> None:
    # The published idna wheel, announced with other bytes under the same name.
    up.replace(IDNA, up.content[IDNA] + b"\0" * 100)


CASES = {
    # Pages.
    "captive portal answers every URL with its login page": Case(
        ["idna"], r"not a package index page.*captive portal", stops=True, route=("portal",)),
    "a redirect of the first page to a login host": Case(
        ["idna"], r"host 'localhost', which is not an allowed host.*captive portal", stops=True,
        setup=_redirect("redirect-page:idna")),
    "an endless index page": Case(
        ["idna"], r"larger than the 1048576 bytes allowed", stops=True, route=("endless-page",),
        options={"max_page_size": 1 << 20}),
    "an endless index page at the default bound": Case(
        ["idna"], r"larger than the 33554432 bytes allowed", stops=True,
        route=("endless-page",)),
    "a page that announces a gigabyte": Case(
        ["idna"], r"announces 1073741824 bytes", stops=True, route=("huge-page",)),
    "a page that drips a byte at a time, for ever": Case(
        ["idna"], r"no data for 2 s|deadline passed", stops=True, route=("drip-page",),
        options=FAST, seconds=30),
    "an endless page of one dependency": Case(
        ["jinja2"], r"markupsafe.*larger than", setup=_queue("page:markupsafe", "endless"),
        complete_projects=("jinja2",)),
    "a redirect of a dependency's page to another host": Case(
        ["jinja2"], r"markupsafe.*'localhost', which is not an allowed host",
        setup=_redirect("redirect-page:markupsafe"), complete_projects=("jinja2",)),
    # Files.
    "files cut every 300 kB, with no validators, are resumed": Case(
        ["pygments", "idna"], "", route=("no-validators", "cut"),
        complete_projects=("pygments", "idna")),
    "a server that ignores Range and cuts every transfer": Case(
        ["pygments", "idna"], rf"{PYGMENTS}: gave up after 3 attempts", route=("ignore-range",
        "cut"), options=FAST, complete_projects=("idna",)),
    "a redirect of a file to ftp://": Case(
        ["pygments", "idna"], r"URL scheme 'ftp' refused", setup=_redirect(
            "redirect:" + PYGMENTS, "ftp"), complete_projects=("idna",)),
    "a redirect of a file to file://": Case(
        ["pygments", "idna"], r"URL scheme 'file' refused", setup=_redirect(
            "redirect:" + PYGMENTS, "file"), complete_projects=("idna",)),
    "a redirect of a file to another host": Case(
        ["pygments", "idna"], r"'localhost', which is not an allowed host",
        setup=_redirect("redirect:" + PYGMENTS), complete_projects=("idna",)),
    "a redirect of a metadata file to another host": Case(
        ["pygments"], "", setup=_redirect(f"redirect:{PYGMENTS}.metadata"),
        complete_projects=("pygments",)),
    "a file name longer than a file system allows": Case(
        ["idna"], "", complete_projects=("idna",), setup=_long_name,
        rejected=r"is 327 bytes long; the mirror stores names of at most 246 bytes"),
    "endless file bodies of unannounced size": Case(
        ["pygments"], r"larger than max_file_size 3000000", route=("no-size", "endless-files"),
        options={"max_file_size": 3_000_000}),
    "a published file whose hash the upstream changed": Case(
        ["idna"], rf"{IDNA}: the upstream changed a published file", setup=_changed_hash),
    "a requested project with nothing usable": Case(
        ["unverifiable", "idna"], r"requested project 'unverifiable' has nothing usable.*"
        r"2 files rejected", setup=_nothing_usable, complete_projects=("idna",)),
    "an sdist that unpacks to more than a gigabyte": Case(
        ["boom"], r"boom-1.0.tar.gz: metadata unavailable: sdist unpacks to more than",
        setup=_bomb, options={"package_types": ["sdist"]}, seconds=120),
    # The disk.
    "a selection bigger than the free space": Case(
        ["pygments"], r"needs 1.2 MB \(1225293 bytes\) more .* has [\d,.]+ MB \(\d+ bytes\) free"
        r".*Nothing was downloaded",
        stops=True, options={"min_free_space": 1 << 62}),
}


@pytest.fixture(scope="module")
def running(fixture_dir):
    with Upstream(fixture_dir) as up, Upstream(None) as tripwire:
        yield up, tripwire


@pytest.fixture
def servers(running):
    """The upstream and the tripwire, healthy again for each test."""
    up, tripwire = running
    idna = up.content[IDNA]
    for server in running:
        server.faults.clear()
        server.extra_entries.clear()
        server.requests.clear()
    yield up, tripwire
    up.replace(IDNA, idna)
    up.content.overrides.pop("boom-1.0.tar.gz", None)


@pytest.fixture
def published(servers, tmp_path):
    """A mirror of idna and click published from the healthy index; the tree as it was."""
    up, _ = servers
    dest = tmp_path / "mirror"
    code, result, stderr = measured_cli(_args(dest, up.index_url, PUBLISHED, {}))[:3]
    assert code == 0 and result["complete"], stderr
    return dest, tree(dest)


# The module's options as the command line spells them.
FLAGS = {"python_versions": "--python-version", "platforms": "--platform",
         "package_types": "--package-type"}


def _args(dest: Path, index_url: str, packages: list[str], options: dict) -> list[str]:
    args = ["--dest", str(dest), "--index-url", index_url]
    for key, value in {**ONE_TARGET, **options}.items():
        if key == "dependencies":
            args += [] if value else ["--no-dependencies"]
            continue
        flag = FLAGS.get(key, "--" + key.replace("_", "-"))
        for item in value if isinstance(value, list) else [value]:
            args += [flag, str(item)]
    return [*args, *packages]


def _module_args(dest: Path, index_url: str, packages: list[str], options: dict) -> str:
    return json.dumps({"dest": str(dest), "index_url": index_url, "packages": packages,
                       **ONE_TARGET, **options})


@pytest.mark.parametrize("via", ["engine", "module"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_upstream_ends_the_run_cleanly(name, via, servers, published, fixture_dir):
    case = CASES[name]
    up, tripwire = servers
    dest, before = published
    if case.setup:
        case.setup(up, tripwire)
    index_url = up.url_for(*case.route) if case.route else up.index_url
    started = time.monotonic()
    if via == "engine":
        code, result, stderr, rss = measured_cli(
            _args(dest, index_url, case.packages, case.options), timeout=case.seconds + 60)
        error = result.get("error", "") if result else stderr
    else:
        code, result, stderr, rss = measured_module(
            "pypi_mirror", _module_args(dest, index_url, case.packages, case.options),
            timeout=case.seconds + 60)
        error = result.get("msg", "")
    elapsed = time.monotonic() - started

    assert elapsed < case.seconds, f"{name}: took {elapsed:.0f} s"
    assert rss < (ENGINE_RSS if via == "engine" else MODULE_RSS), f"{name}: {rss >> 20} MiB"
    assert "Traceback" not in stderr + json.dumps(result)
    assert not tripwire.requests, f"a host that is not allowed was asked: {tripwire.requests}"
    after = tree(dest)
    if case.stops:
        assert code != 0 and result.get("changed") is False
        assert _matches(case.expect, error), error
        assert after == before  # not one byte changed, not one file added
        return
    # The run went on: what was published stays, and the rest is mirrored and listed.
    assert {k: after[k] for k in before if not k.startswith("simple/index.")} == {
        k: v for k, v in before.items() if not k.startswith("simple/index.")}
    reasons = " | ".join(f["reason"] for f in result["failures"])
    if case.expect:
        assert code != 0 and result["complete"] is False
        assert _matches(case.expect, reasons), reasons
        if via == "module":
            assert "failure" in error and "allow_partial" in error
    else:
        assert code == 0 and result["complete"], reasons
    if case.rejected:
        rejected = " | ".join(r["reason"] for r in result["rejected"])
        assert _matches(case.rejected, rejected), rejected
    for project in case.complete_projects:
        page = (dest / "simple" / project / "index.html").read_text()
        for filename in (Path(p).name for p in after if p.startswith(f"files/{project}/")
                         and not p.endswith(".metadata")):
            digest = hashlib.sha256(after[f"files/{project}/{filename}"]).hexdigest()
            assert f"{filename}#sha256={digest}" in page


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text, re.DOTALL) is not None


def test_cut_transfers_without_validators_fetch_each_byte_once(servers, tmp_path):
    up, _ = servers
    code, result, stderr, _ = measured_cli(_args(tmp_path / "m", up.url_for(
        "no-validators", "cut"), ["pygments"], {"dependencies": False}))
    assert code == 0, stderr
    size = len(up.content[PYGMENTS])
    assert result["received_bytes"] == size  # resumed with Range, never restarted from zero


def test_a_server_that_ignores_range_costs_a_bounded_number_of_requests(servers, tmp_path):
    up, _ = servers
    code, result, _, _ = measured_cli(_args(tmp_path / "m", up.url_for("ignore-range", "cut"),
                                            ["pygments"], {"retries": 3, "timeout": 2}))
    assert code == 1
    # One attempt that got 300 kB, then four that got no further: retries=3 allows three
    # retries after an attempt without progress.
    assert len(up.requests_for(PYGMENTS)) == 5
    assert result["received_bytes"] == 5 * up.cut_after


@pytest.mark.parametrize("via", ["engine", "module"])
def test_a_dest_under_a_file_gets_one_line_naming_it(tmp_path, servers, via):
    up, _ = servers
    (tmp_path / "plain-file").write_text("not a directory\n")
    dest = tmp_path / "plain-file" / "mirror"
    message = _bad_dest_message(via, dest, up)
    assert message.count("\n") == 0 and "Errno" not in message
    assert f"{tmp_path / 'plain-file'} is a file, not a directory" in message
    assert "choose another path" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only file system needs root")
@pytest.mark.parametrize("via", ["engine", "module"])
def test_a_dest_on_a_read_only_file_system_gets_one_line_naming_it(tmp_path, servers, via):
    import subprocess

    up, _ = servers
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], check=True)
    try:
        message = _bad_dest_message(via, mount / "mirror", up)
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert message.count("\n") == 0 and "Errno" not in message
    assert f"{mount / 'mirror'} is on a read-only filesystem" in message
    assert "remount it read-write" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_a_dest_this_user_cannot_write_gets_one_line_naming_it(servers):
    """As an unprivileged user (root writes anywhere), in a forked child of this process."""
    import shutil
    import tempfile

    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import engine
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
        MirrorError,
    )

    up, _ = servers
    # Under /tmp, which every user can enter (pytest's own tmp_path is root's alone).
    locked = Path(tempfile.mkdtemp(prefix="piab-locked-"))
    locked.chmod(0o755)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, try, report
        try:
            os.setgid(65534)
            os.setuid(65534)
            engine.run(engine.Options(dest=str(locked / "mirror"), packages=["idna"],
                                      index_url=up.index_url))
            message = "no error"
        except MirrorError as exc:
            message = str(exc)
        except BaseException as exc:
            message = f"unexpected {type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    message = os.read(read, 65536).decode()
    os.close(read)
    shutil.rmtree(locked)
    assert f"{locked} is not writable by this user" in message, message
    assert message.count("\n") == 0


def _bad_dest_message(via: str, dest: Path, up: Upstream) -> str:
    if via == "engine":
        code, result, _stderr, _ = measured_cli(_args(dest, up.index_url, ["idna"], {}))
        assert code == 2
        return result["error"]
    code, result, _, _ = measured_module("pypi_mirror",
                                         _module_args(dest, up.index_url, ["idna"], {}))
    assert code != 0 and result["changed"] is False
    return result["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_full_disk_fails_the_file_and_keeps_what_was_published(tmp_path, servers):
    """An endless body of unannounced size on a 2 MB file system with no reserve kept: the
    disk fills, that file fails with the reason, the mirror published before stays whole."""
    import subprocess

    up, _ = servers
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        dest = disk / "mirror"
        code, result, stderr, _ = measured_cli(_args(dest, up.index_url, ["idna"],
                                                     {"min_free_space": 0}))
        assert code == 0, stderr
        before = tree(dest)
        code, result, stderr, _ = measured_cli(_args(
            dest, up.url_for("no-size", "endless-files"), ["pygments"],
            {"min_free_space": 0, "max_file_size": 50_000_000}))
        after = tree(dest)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert "Traceback" not in stderr
    assert code == 1, stderr
    (failure,) = result["failures"]
    assert failure["file"] == PYGMENTS and "No space left on device" in failure["reason"]
    assert after == before
