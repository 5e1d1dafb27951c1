"""Target environments: which Python versions and platforms the mirror serves.

A target is one (Python version, platform) pair. For each we compute, with ``packaging.tags``,
the set of wheel tags an installer on that machine accepts, and the marker environment its
dependencies are evaluated in. Platform names are ours (short, stable, documented); each maps
to the platform tags the installers generate for such a machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

from packaging import tags
from packaging.version import InvalidVersion, Version

from .errors import MirrorInputError

# Newest C library / OS releases we expect on attendees' machines. Wheels built for a newer one
# would not install there anyway; wheels for older ones do, so every older tag is included.
MANYLINUX_GLIBC_MAX = 39
MUSLLINUX_MAX = 2
MACOS_MAX = (15, 0)

# Oldest and newest CPython minor versions we accept as a target (anything else is a typo).
PYTHON_MINOR_MIN = 7
PYTHON_MINOR_MAX = 20


def _manylinux(arch: str) -> list[str]:
    """manylinux tags for ``arch``, newest first, with the legacy aliases PEP 600 keeps valid."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    legacy_arches = {
        17: {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"},
        12: {"x86_64", "i686"},
        5: {"x86_64", "i686"},
    }
    platforms = []
    for minor in range(MANYLINUX_GLIBC_MAX, 4, -1):
        if arch in {"aarch64", "armv7l"} and minor < 17:
            break  # manylinux for ARM starts at glibc 2.17
        platforms.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy and arch in legacy_arches[minor]:
            platforms.append(f"{legacy[minor]}_{arch}")
    return platforms


def _musllinux(arch: str) -> list[str]:
    return [f"musllinux_1_{minor}_{arch}" for minor in range(MUSLLINUX_MAX, -1, -1)]


def _macos(arch: str) -> list[str]:
    return list(tags.mac_platforms(MACOS_MAX, arch))


@dataclass(frozen=True)
class Platform:
    """A named kind of machine: its wheel platform tags and its marker values."""

    name: str
    description: str
    platform_tags: Callable[[], list[str]]
    sys_platform: str
    platform_system: str
    platform_machine: str
    os_name: str = "posix"


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in [
        Platform("windows-x86_64", "Windows on x86-64 (win_amd64)",
                 lambda: ["win_amd64"], "win32", "Windows", "AMD64", "nt"),
        Platform("windows-arm64", "Windows on ARM (win_arm64)",
                 lambda: ["win_arm64"], "win32", "Windows", "ARM64", "nt"),
        Platform("windows-x86", "32-bit Windows (win32)",
                 lambda: ["win32"], "win32", "Windows", "x86", "nt"),
        Platform("macos-arm64", "macOS on Apple silicon (macosx_*_arm64, universal2)",
                 lambda: _macos("arm64"), "darwin", "Darwin", "arm64"),
        Platform("macos-x86_64", "macOS on Intel (macosx_*_x86_64, universal2)",
                 lambda: _macos("x86_64"), "darwin", "Darwin", "x86_64"),
        Platform("manylinux-x86_64", "glibc Linux on x86-64 (manylinux)",
                 lambda: _manylinux("x86_64"), "linux", "Linux", "x86_64"),
        Platform("manylinux-aarch64", "glibc Linux on 64-bit ARM (manylinux)",
                 lambda: _manylinux("aarch64"), "linux", "Linux", "aarch64"),
        Platform("musllinux-x86_64", "musl Linux on x86-64, e.g. Alpine (musllinux)",
                 lambda: _musllinux("x86_64"), "linux", "Linux", "x86_64"),
        Platform("musllinux-aarch64", "musl Linux on 64-bit ARM (musllinux)",
                 lambda: _musllinux("aarch64"), "linux", "Linux", "aarch64"),
        # Raspberry Pi OS: manylinux wheels plus piwheels' plain linux_* builds.
        Platform("linux-aarch64", "Raspberry Pi OS 64-bit (manylinux + linux_aarch64)",
                 lambda: [*_manylinux("aarch64"), "linux_aarch64"], "linux", "Linux", "aarch64"),
        Platform("linux-armv7l", "Raspberry Pi OS 32-bit (manylinux + linux_armv7l)",
                 lambda: [*_manylinux("armv7l"), "linux_armv7l"], "linux", "Linux", "armv7l"),
    ]
}


def parse_python_version(text: str) -> Version:
    """Parse a target Python version such as ``3.11``; reject what no CPython ever was."""
    try:
        version = Version(str(text))
    except InvalidVersion:
        raise MirrorInputError(
            f"python version {text!r} is not a version; use MAJOR.MINOR such as 3.11"
        ) from None
    release = version.release
    if (
        len(release) not in (2, 3)
        or version.pre or version.dev or version.post or version.local or version.epoch
        or release[0] != 3
        or not PYTHON_MINOR_MIN <= release[1] <= PYTHON_MINOR_MAX
    ):
        raise MirrorInputError(
            f"python version {text!r} is not a CPython 3 version this mirror can serve; use "
            f"3.{PYTHON_MINOR_MIN} ... 3.{PYTHON_MINOR_MAX} such as 3.11"
        )
    return version


def platform_by_name(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise MirrorInputError(
            f"unknown platform {name!r}; known platforms: {', '.join(sorted(PLATFORMS))}"
        ) from None


@dataclass(frozen=True)
class Target:
    """One environment a client of the mirror runs in."""

    python: Version
    platform: Platform
    supported_tags: frozenset[tags.Tag] = field(compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        return f"cp{self.python.major}{self.python.minor}-{self.platform.name}"

    @property
    def python_minor(self) -> Version:
        """The version pip compares requires-python with (``--python-version 3.9`` is 3.9)."""
        return Version(f"{self.python.major}.{self.python.minor}")

    def marker_environment(self, extra: str = "") -> dict[str, str]:
        major_minor = f"{self.python.major}.{self.python.minor}"
        full = str(self.python) if len(self.python.release) == 3 else major_minor + ".0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": self.platform.os_name,
            "platform_machine": self.platform.platform_machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": self.platform.platform_system,
            "platform_version": "",
            "python_full_version": full,
            "python_version": major_minor,
            "sys_platform": self.platform.sys_platform,
            "extra": extra,
        }


def make_target(python: Version, platform: Platform) -> Target:
    version = (python.major, python.minor)
    platforms = platform.platform_tags()
    interpreter = f"cp{python.major}{python.minor}"
    supported = set(tags.cpython_tags(version, abis=[interpreter], platforms=platforms))
    supported.update(tags.compatible_tags(version, interpreter=interpreter, platforms=platforms))
    return Target(python, platform, frozenset(supported))


def build_targets(python_versions: Sequence[str], platform_names: Sequence[str]) -> list[Target]:
    """The matrix python_versions x platforms, validated (raises MirrorInputError)."""
    if not python_versions:
        raise MirrorInputError("python_versions is empty; name at least one, such as 3.11")
    if not platform_names:
        raise MirrorInputError(
            f"platforms is empty; name at least one of: {', '.join(sorted(PLATFORMS))}"
        )
    versions = [parse_python_version(v) for v in python_versions]
    platforms = [platform_by_name(p) for p in platform_names]
    seen = set()
    targets = []
    for version in versions:
        for platform in platforms:
            key = (str(version), platform.name)
            if key not in seen:
                seen.add(key)
                targets.append(make_target(version, platform))
    return targets
