"""Publishing on a box a mirror built on the controller and pushed by real rsync, as a fleet does.

The controller's mirror comes from the engine and the local upstream; it reaches the box's
``.incoming`` through rsync with the fleet's options, and ``publish_staged`` makes it live.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import index
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import MirrorError
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.fsutil import run_lock
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.layout import Layout
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.sync import publish_staged

from tests.mirror.conftest import run_module, tree

RSYNC_OPTIONS = ("--delete", "--partial-dir=.rsync-partial")
RSYNC_EXCLUDES = (".partial/", ".state/lock", ".rsync-partial")
CLICK_WHEEL = "click-8.3.1-py3-none-any.whl"


class Fleet:
    """A controller mirror and one box, joined by rsync."""

    def __init__(self, upstream, mirror, root: Path) -> None:
        self.upstream = upstream
        self.mirror = mirror
        self.controller = root / "controller"
        self.box = root / "box"
        self.staging = self.box / ".incoming"

    def build(self, *packages: str, **options) -> dict:
        result = self.mirror(self.upstream, *packages, dest=self.controller, **options)
        assert result["complete"], result["failures"]
        return result

    def push(self) -> list[str]:
        """rsync the controller's mirror into the box's staging; the itemized changes."""
        if shutil.which("rsync") is None:
            pytest.fail("rsync is missing: apt-get install rsync")
        self.box.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["rsync", "-a", "--itemize-changes", *RSYNC_OPTIONS, f"--link-dest={self.box}",
             *(f"--exclude={pattern}" for pattern in RSYNC_EXCLUDES),
             f"{self.controller}/", f"{self.staging}/"],
            capture_output=True, text=True, check=True,
        )
        return proc.stdout.splitlines()

    def publish(self, check_mode: bool = False) -> dict:
        return publish_staged(self.box, check_mode=check_mode)

    def snapshot(self) -> dict:
        """Everything of the box but its staging and lock: path -> (bytes, inode)."""
        found = {}
        for path in sorted(self.box.rglob("*")):
            relative = path.relative_to(self.box)
            if relative.parts[0] == ".incoming" or relative == Path(".state/lock"):
                continue
            found[str(relative)] = (path.read_bytes(), path.stat().st_ino) if path.is_file() \
                else None
        return found


@pytest.fixture
def fleet(upstream, mirror, tmp_path):
    return Fleet(upstream, mirror, tmp_path)


def transferred(lines: list[str]) -> list[str]:
    """Files rsync sent (itemized ``>f...``), not hard links or attribute updates."""
    return sorted(line.split(" ", 1)[1] for line in lines if line.startswith(">f"))


def test_publish_makes_the_controller_mirror_live_and_a_rerun_moves_nothing(fleet):
    built = fleet.build("click", "jinja2", "pygments")
    fleet.push()
    result = fleet.publish()
    assert result["changed"] is True
    assert result["projects"] == ["click", "colorama", "jinja2", "markupsafe", "pygments"]
    assert result["files"] == result["published"]["count"] == built["files"]
    assert result["verified"] == result["published"]
    assert result["published"]["bytes"] == built["downloaded"]["bytes"]
    assert result["unchanged"]["count"] == result["removed"]["count"] == 0
    assert result["mirror_size"] == built["mirror_size"]
    # What clients see on the box is the controller's mirror to the byte, pages included.
    assert tree(fleet.box) == tree(fleet.controller)
    for project in result["projects"]:
        assert index.load_records(Layout(fleet.box), project) == index.load_records(
            Layout(fleet.controller), project)
    # The published files are the staged ones: one inode, no second copy on the SD card.
    for path in (fleet.box / "files").rglob("*"):
        if path.is_file():
            assert path.samefile(fleet.staging / path.relative_to(fleet.box))
    before = fleet.snapshot()

    assert fleet.push() == []  # rsync finds nothing to send, not even attributes
    again = fleet.publish()
    assert again["changed"] is False
    assert again["unchanged"] == result["published"]
    assert again["published"]["count"] == again["verified"]["count"] == 0
    assert fleet.publish(check_mode=True)["changed"] is False
    assert fleet.snapshot() == before


def test_an_update_sends_and_publishes_only_what_is_new(fleet):
    fleet.build("click")
    fleet.push()
    first = fleet.publish()
    added = fleet.build("click", "idna==3.10")
    sent = transferred(fleet.push())
    assert [name for name in sent if name.startswith("files/")] == [
        "files/idna/idna-3.10-py3-none-any.whl",
        "files/idna/idna-3.10-py3-none-any.whl.metadata"]
    result = fleet.publish()
    assert result["changed"] is True
    assert result["published"] == {"count": 1, "bytes": added["downloaded"]["bytes"]}
    assert result["unchanged"] == first["published"]
    assert tree(fleet.box) == tree(fleet.controller)


@pytest.mark.parametrize("damage", ["flip", "truncate", "flip-metadata", "drop-metadata"])
def test_a_damaged_staged_file_fails_and_publishes_nothing(fleet, damage):
    fleet.build("idna==3.10")
    fleet.push()
    fleet.publish()
    fleet.build("idna==3.10", "click")
    fleet.push()
    before = fleet.snapshot()
    victim = fleet.staging / "files" / "click" / CLICK_WHEEL
    if damage.endswith("metadata"):
        victim = victim.with_name(CLICK_WHEEL + ".metadata")
    data = victim.read_bytes()
    victim.unlink()  # a new inode, as rsync would write it: never the box's published file
    if damage.startswith("flip"):
        victim.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncate":
        victim.write_bytes(data[:-1])
    with pytest.raises(MirrorError, match="nothing was published") as failure:
        fleet.publish()
    assert f"click/{victim.name}" in str(failure.value)
    assert fleet.snapshot() == before


def test_a_deselected_project_or_pruned_file_leaves_the_box_and_its_pages(fleet):
    fleet.build("click", "jinja2", "idna==3.9")
    fleet.push()
    fleet.publish()
    fleet.build("click", "idna==3.10", prune=True)
    fleet.push()
    plan = fleet.publish(check_mode=True)
    result = fleet.publish()
    assert plan == dict(result, check_mode=True)
    assert result["changed"] is True
    assert result["removed_projects"] == ["jinja2", "markupsafe"]
    assert result["projects"] == ["click", "colorama", "idna"]
    assert result["published"]["count"] == 1  # idna 3.10
    dropped = [path for project in ("jinja2", "markupsafe")
               for path in (fleet.controller / "files" / project).glob("*.whl")]
    assert result["removed"] == {  # and idna 3.9
        "count": 1 + len(dropped),
        "bytes": fleet.upstream.total_bytes(["idna-3.9-py3-none-any.whl"])
        + sum(p.stat().st_size for p in dropped)}
    assert not (fleet.box / "files/idna/idna-3.9-py3-none-any.whl").exists()
    assert "idna-3.9" not in (fleet.box / "simple/idna/index.html").read_text()
    for project in ("jinja2", "markupsafe"):
        for gone in (f"files/{project}", f"simple/{project}", f".state/projects/{project}.json"):
            assert not (fleet.box / gone).exists(), gone
    root = json.loads((fleet.box / "simple/index.json").read_text())
    assert [p["name"] for p in root["projects"]] == ["click", "colorama", "idna"]
    # The engine's prune only drops them from the controller's root page; the box drops them.
    controller = tree(fleet.controller)
    assert "simple/jinja2/index.html" in controller
    assert tree(fleet.box) == {path: data for path, data in controller.items()
                               if path.split("/")[1] not in ("jinja2", "markupsafe")}


def _records(fleet: Fleet, project: str) -> dict:
    return json.loads(Layout(fleet.staging).records_file(project).read_text())


def _rename_record(fleet: Fleet, old: str, new: str) -> None:
    data = _records(fleet, "click")
    data["files"][new] = data["files"].pop(old)
    Layout(fleet.staging).records_file("click").write_text(json.dumps(data))


def _set_field(key: str, value) -> object:
    def hostile(fleet: Fleet) -> None:
        data = _records(fleet, "click")
        data["files"][CLICK_WHEEL][key] = value
        Layout(fleet.staging).records_file("click").write_text(json.dumps(data))

    return hostile


def _symlinked_wheel(fleet: Fleet) -> None:
    # The link's target has exactly the recorded bytes: only its being a link is wrong.
    outside = fleet.box.parent / CLICK_WHEEL
    staged = fleet.staging / "files/click" / CLICK_WHEEL
    shutil.copy(staged, outside)
    staged.unlink()
    staged.symlink_to(outside)


def _symlinked_project(fleet: Fleet) -> None:
    folder = fleet.staging / "files/click"
    folder.rename(fleet.box.parent / "elsewhere")
    folder.symlink_to(fleet.box.parent / "elsewhere")


HOSTILE = {
    "Click.json": (lambda f: Layout(f.staging).records_file("click").rename(
        f.staging / ".state/projects/Click.json"), "'Click' is not a normalized"),
    "../ in a name": (lambda f: _rename_record(f, CLICK_WHEEL, "../../../etc/passwd"),
                      "unsafe filename '../../../etc/passwd'"),
    "leading dot": (lambda f: _rename_record(f, CLICK_WHEEL, ".click-8.3.1-py3-none-any.whl"),
                    "unsafe filename '.click-8.3.1"),
    "slash": (lambda f: _rename_record(f, CLICK_WHEEL, "x/click-8.3.1-py3-none-any.whl"),
              "unsafe filename 'x/click"),
    "other project": (lambda f: _rename_record(f, CLICK_WHEEL, "evil-1.0-py3-none-any.whl"),
                      "'evil-1.0-py3-none-any.whl' does not belong to project 'click'"),
    "bad sha256": (_set_field("sha256", "ab" * 31 + "zz"), f"click/{CLICK_WHEEL}: bad sha256"),
    "bad metadata sha256": (_set_field("metadata_sha256", "../x"), "bad metadata_sha256"),
    "bad size": (_set_field("size", -1), "bad size -1"),
    "symlinked file": (_symlinked_wheel, f"click/{CLICK_WHEEL}: missing or not a regular file"),
    "symlinked folder": (_symlinked_project, "click: staged"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_staged_records_are_rejected(fleet, attack):
    fleet.build("click")
    fleet.push()
    fleet.publish()
    make_hostile, message = HOSTILE[attack]
    make_hostile(fleet)
    (fleet.box / "files/click" / CLICK_WHEEL).unlink()  # so the staged copy is not in place
    before = fleet.snapshot()
    with pytest.raises(MirrorError) as failure:
        fleet.publish()
    assert message in str(failure.value)
    assert fleet.snapshot() == before


def test_missing_or_empty_staging_is_refused(fleet):
    fleet.box.mkdir()
    with pytest.raises(MirrorError, match=r"\.incoming does not exist"):
        fleet.publish()
    fleet.staging.mkdir()
    with pytest.raises(MirrorError, match="holds no mirror"):
        fleet.publish()
    assert sorted(os.listdir(fleet.box)) == [".incoming"]


def test_publish_never_runs_alongside_an_engine_run(fleet):
    fleet.build("click")
    fleet.push()
    with run_lock(Layout(fleet.box)), pytest.raises(MirrorError, match="another pypi-mirror run"):
        fleet.publish()
    assert not (fleet.box / "simple").exists()


def test_check_mode_writes_nothing(fleet):
    built = fleet.build("click")
    fleet.push()
    plan = fleet.publish(check_mode=True)
    assert plan["changed"] is True and plan["check_mode"] is True
    assert plan["published"]["count"] == plan["verified"]["count"] == built["files"]
    assert sorted(os.listdir(fleet.box)) == [".incoming"]


def test_module_publishes_through_ansible(fleet):
    fleet.build("click")
    fleet.push()
    code, plan = run_module("pypi_mirror_publish", f"dest={fleet.box}", "--check")
    assert code == 0 and plan["changed"] is True and plan["published"]["count"] == 3
    assert sorted(os.listdir(fleet.box)) == [".incoming"]
    code, first = run_module("pypi_mirror_publish", f"dest={fleet.box}")
    assert code == 0 and first["changed"] is True and first["projects"] == ["click", "colorama"]
    assert tree(fleet.box) == tree(fleet.controller)
    code, second = run_module("pypi_mirror_publish", f"dest={fleet.box} staging={fleet.staging}")
    assert code == 0 and second["changed"] is False and second["unchanged"]["count"] == 3
    code, failed = run_module("pypi_mirror_publish", f"dest={fleet.box} staging={fleet.box}")
    assert code != 0 and failed["failed"] and "staging must be another directory" in failed["msg"]
