"""Targets, validation and the selection filters, without any network."""

from __future__ import annotations

import pytest
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import (
    engine,
    options,
    targets,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
    MirrorInputError,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.selection import (
    Policy,
    select_releases,
)
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.upstream import (
    DistFile,
    check_filename,
)
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version


def target(python: str, platform: str) -> targets.Target:
    return targets.make_target(Version(python), targets.platform_by_name(platform))


def wheel_ok(filename: str, tgt: targets.Target) -> bool:
    return bool(set(parse_wheel_filename(filename)[3]) & tgt.supported_tags)


@pytest.mark.parametrize(
    ("filename", "python", "platform", "expected"),
    [
        ("markupsafe-3.0.3-cp311-cp311-win_amd64.whl", "3.11", "windows-x86_64", True),
        ("markupsafe-3.0.3-cp39-cp39-win_amd64.whl", "3.11", "windows-x86_64", False),
        ("markupsafe-3.0.3-cp311-cp311-win_amd64.whl", "3.11", "macos-arm64", False),
        ("markupsafe-3.0.3-cp311-cp311-macosx_11_0_arm64.whl", "3.11", "macos-arm64", True),
        ("markupsafe-3.0.3-cp311-cp311-macosx_10_9_x86_64.whl", "3.11", "macos-x86_64", True),
        ("numpy-2.0.0-cp311-cp311-macosx_10_9_universal2.whl", "3.11", "macos-arm64", True),
        ("x-1-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", "3.11",
         "manylinux-aarch64", True),
        ("x-1-cp311-cp311-manylinux_2_17_x86_64.whl", "3.11", "manylinux-aarch64", False),
        ("x-1-cp311-cp311-manylinux_2_99_x86_64.whl", "3.11", "manylinux-x86_64", False),
        ("x-1-cp311-cp311-musllinux_1_2_x86_64.whl", "3.11", "manylinux-x86_64", False),
        ("x-1-cp311-cp311-musllinux_1_2_x86_64.whl", "3.11", "musllinux-x86_64", True),
        ("x-1-cp311-cp311-linux_armv7l.whl", "3.11", "linux-armv7l", True),
        ("x-1-cp311-cp311-linux_armv7l.whl", "3.11", "manylinux-x86_64", False),
        ("x-1-cp39-abi3-manylinux_2_17_x86_64.whl", "3.12", "manylinux-x86_64", True),
        ("x-1-cp312-abi3-manylinux_2_17_x86_64.whl", "3.11", "manylinux-x86_64", False),
        ("x-1-py3-none-any.whl", "3.9", "windows-x86_64", True),
        ("x-1-py2.py3-none-any.whl", "3.13", "linux-aarch64", True),
        ("x-1-py2-none-any.whl", "3.13", "linux-aarch64", False),
    ],
)
def test_wheel_tags_per_target(filename, python, platform, expected):
    assert wheel_ok(filename, target(python, platform)) is expected


def test_marker_environment_per_platform():
    windows = target("3.9", "windows-x86_64").marker_environment()
    assert windows["sys_platform"] == "win32"
    assert windows["platform_system"] == "Windows"
    assert windows["python_version"] == "3.9"
    mac = target("3.12", "macos-arm64").marker_environment("socks")
    assert (mac["sys_platform"], mac["platform_machine"], mac["extra"]) == ("darwin", "arm64",
                                                                            "socks")


@pytest.mark.parametrize("bad", ["2.7", "3.99", "four", "3", "4.0", "3.11rc1", ""])
def test_impossible_python_versions_are_refused(bad):
    with pytest.raises(MirrorInputError, match="python version"):
        targets.build_targets([bad], ["windows-x86_64"])


def test_python_version_with_patch_level_is_accepted():
    (only,) = targets.build_targets(["3.11.4"], ["manylinux-x86_64"])
    assert only.label == "cp311-manylinux-x86_64"
    assert only.marker_environment()["python_full_version"] == "3.11.4"


def test_unknown_platform_names_the_known_ones():
    with pytest.raises(MirrorInputError) as info:
        targets.build_targets(["3.11"], ["raspberry"])
    assert "raspberry" in str(info.value) and "linux-armv7l" in str(info.value)


def test_default_targets_are_the_laptops():
    labels = [t.label for t in targets.build_targets(["3.12"], options.default("platforms"))]
    assert labels == ["cp312-windows-x86_64", "cp312-macos-arm64", "cp312-macos-x86_64",
                      "cp312-manylinux-x86_64", "cp312-manylinux-aarch64"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("packages", ["django>=4.2,<"], "invalid requirement"),
        ("packages", ["pkg @ https://example.org/pkg.whl"], "direct URL"),
        ("packages", [], "nothing to mirror"),
        ("platforms", ["amiga"], "unknown platform"),
        ("python_versions", ["3.1000"], "python version"),
        ("package_types", ["egg"], "package_types"),
        ("releases", "newest", "releases"),
        ("releases", "0", "releases"),
        ("max_file_size", -1, "max_file_size"),
        ("concurrency", 0, "concurrency"),
        ("index_url", "ftp://example.org/simple", "index URL"),
        ("requirements_files", ["/nonexistent/req.txt"], "requirements file"),
    ],
)
def test_bad_input_is_refused_before_anything(tmp_path, field, value, message):
    run_options = engine.Options(dest=str(tmp_path / "m"), packages=["click"],
                                 index_url="http://127.0.0.1:9/simple/")
    setattr(run_options, field, value)
    with pytest.raises(MirrorInputError, match=message):
        engine.validate(run_options)
    assert not (tmp_path / "m").exists()


def fake(filename: str, requires_python=None, yanked=None, size=100) -> DistFile:
    kind, version, tags = check_filename(canonicalize_name(filename.split("-")[0]), filename)
    return DistFile(project=canonicalize_name(filename.split("-")[0]), filename=filename,
                    url="http://x/" + filename, sha256="0" * 64, version=version, kind=kind,
                    tags=tags, requires_python=requires_python, yanked=yanked, size=size)


FILES = [
    fake("demo-1.0-py3-none-any.whl", ">=3.7"),
    fake("demo-1.0.tar.gz", ">=3.7"),
    fake("demo-2.0-py3-none-any.whl", ">=3.8"),
    fake("demo-2.1-py3-none-any.whl", ">=3.8", yanked="broken"),
    fake("demo-3.0-cp311-cp311-win_amd64.whl", ">=3.10"),
    fake("demo-3.0.tar.gz", ">=3.10", size=10_000),
    fake("demo-4.0b1-py3-none-any.whl", ">=3.10"),
]


def chosen(spec="", python="3.11", platform="windows-x86_64", **policy):
    picked = select_releases(FILES, SpecifierSet(spec), target(python, platform), Policy(**policy))
    return {str(v): sorted(f.filename for f in files) for v, files in picked.items()}


def test_latest_release_per_target_honours_requires_python():
    assert chosen(python="3.11") == {"3.0": ["demo-3.0-cp311-cp311-win_amd64.whl"]}
    assert chosen(python="3.9") == {"2.0": ["demo-2.0-py3-none-any.whl"]}


def test_sdist_only_where_the_target_has_no_wheel():
    assert chosen(python="3.12") == {"3.0": ["demo-3.0.tar.gz"]}
    assert chosen(python="3.12", package_types=frozenset({"wheel"})) == {
        "2.0": ["demo-2.0-py3-none-any.whl"]}
    assert chosen(python="3.9", package_types=frozenset({"sdist"})) == {
        "1.0": ["demo-1.0.tar.gz"]}


def test_release_policies_yanked_prereleases_and_size_cap():
    assert list(chosen(releases=2)) == ["3.0", "2.0"]
    assert list(chosen(releases="all")) == ["3.0", "2.0", "1.0"]  # 2.1 is yanked
    assert list(chosen("==2.1")) == ["2.1"]  # PEP 592: an exact pin still gets it
    assert list(chosen(prereleases=True)) == ["4.0b1"]
    assert list(chosen(">=4.0b1")) == ["4.0b1"]  # asked for explicitly
    assert list(chosen("<3")) == ["2.0"]
    assert chosen(python="3.12", max_file_size=1000) == {"2.0": ["demo-2.0-py3-none-any.whl"]}


@pytest.mark.parametrize(
    "filename",
    ["../evil-1.0-py3-none-any.whl", "evil/../x-1.0-py3-none-any.whl", "a\\b-1.0.tar.gz",
     ".hidden-1.0-py3-none-any.whl", "other-1.0-py3-none-any.whl"],
)
def test_hostile_or_foreign_filenames_are_refused(filename):
    from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror.errors import (
        UnsafeUpstreamData,
    )

    with pytest.raises(UnsafeUpstreamData):
        check_filename("evil" if "evil" in filename else "demo", filename)
