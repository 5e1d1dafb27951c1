"""Every option of a mirror run, once: its type and its default.

The engine's ``Options``, the module's ``argument_spec`` and the CLI's defaults are built from
this table; the module's DOCUMENTATION (checked by ``ansible-test sanity``, validate-modules)
and the pypi_mirror role's defaults and argument_specs (checked by
tests/collection/test_option_defaults.py) must agree with it. Change a default here.

``TOOL_OPTIONS`` is the same for the pypi_mirror_tools module (uv and Python builds for
attendees); the options it shares with the mirror are the mirror's, with their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class Option:
    """One option as Ansible types it (``type``, ``elements``, ``choices``)."""

    name: str
    type: str
    default: object = None
    elements: str | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    engine: bool = True  # False: the caller's to act on (allow_partial), not the engine's

    def spec(self) -> dict:
        """This option as an AnsibleModule argument_spec entry."""
        entry: dict = {"type": self.type}
        if self.required:
            entry["required"] = True
        else:
            entry["default"] = _copy(self.default)
        if self.elements:
            entry["elements"] = self.elements
        if self.choices:
            entry["choices"] = list(self.choices)
        return entry


def _copy(value: object) -> object:
    return list(value) if isinstance(value, (list, tuple)) else value


OPTIONS: tuple[Option, ...] = (
    Option("dest", "path", required=True),
    Option("packages", "list", [], elements="str"),
    Option("requirements_files", "list", [], elements="path"),
    Option("lock_files", "list", [], elements="path"),
    Option("index_url", "str", "https://pypi.org/simple/"),
    Option("extra_index_urls", "list", [], elements="str"),
    Option("allowed_hosts", "list", [], elements="str"),
    # Attendees' laptops: the Pythons they usually run, and Windows, macOS and Linux.
    Option("python_versions", "list", ["3.10", "3.11", "3.12", "3.13"], elements="str"),
    Option("platforms", "list", ["windows-x86_64", "macos-arm64", "macos-x86_64",
                                 "manylinux-x86_64", "manylinux-aarch64"], elements="str"),
    Option("package_types", "list", ["wheel", "sdist"], elements="str",
           choices=("wheel", "sdist")),
    Option("dependencies", "bool", True),
    Option("releases", "str", "latest"),
    Option("prereleases", "bool", False),
    # Files announced bigger are skipped; a file whose size the index does not announce is cut
    # off here (an endless body must not fill the disk).
    Option("max_file_size", "int", 4 * GIB),
    # An index page bigger than this is not an index page (PyPI's biggest are a few MiB).
    Option("max_page_size", "int", 32 * MIB),
    # Kept free on the mirror's disk for everything else the box writes (uploads, the cache).
    Option("min_free_space", "int", 1 * GIB),
    Option("concurrency", "int", 12),
    Option("timeout", "float", 30.0),
    Option("retries", "int", 5),
    Option("prune", "bool", False),
    Option("allow_partial", "bool", False, engine=False),
)

BY_NAME = {option.name: option for option in OPTIONS}

# Where uv and Python live on attendees' laptops: the tools' choices.
TOOLS = ("uv", "python")
# uv's wheels hold the binary for each of these (the platform names of ``targets``).
UV_PLATFORMS = ["windows-x86_64", "windows-arm64", "macos-arm64", "macos-x86_64",
                "manylinux-x86_64", "manylinux-aarch64"]
# The list of Python builds the uv of that version installs from (python-build-standalone),
# in uv's own format; {uv_version} is the uv the box serves (its tag in uv's repository).
PYTHON_BUILDS_URL = ("https://raw.githubusercontent.com/astral-sh/uv/{uv_version}/crates/"
                     "uv-python/download-metadata.json")
# Where those builds are downloaded from: GitHub's release downloads and where they redirect,
# and Astral's mirror of them.
PYTHON_BUILDS_HOSTS = ["github.com", "objects.githubusercontent.com",
                       "release-assets.githubusercontent.com", "releases.astral.sh"]

TOOL_OPTIONS: tuple[Option, ...] = (
    BY_NAME["dest"],
    Option("tools", "list", list(TOOLS), elements="str", choices=TOOLS),
    BY_NAME["index_url"],
    BY_NAME["extra_index_urls"],
    BY_NAME["allowed_hosts"],
    Option("uv_version", "str", "latest"),
    Option("uv_platforms", "list", UV_PLATFORMS, elements="str"),
    BY_NAME["python_versions"],
    BY_NAME["platforms"],
    Option("python_builds_url", "str", PYTHON_BUILDS_URL),
    Option("python_builds_hosts", "list", PYTHON_BUILDS_HOSTS, elements="str"),
    BY_NAME["max_file_size"],
    BY_NAME["max_page_size"],
    BY_NAME["min_free_space"],
    BY_NAME["concurrency"],
    BY_NAME["timeout"],
    BY_NAME["retries"],
    BY_NAME["prune"],
    BY_NAME["allow_partial"],
)
TOOL_BY_NAME = {option.name: option for option in TOOL_OPTIONS}


def default(name: str) -> object:
    """A fresh copy of an option's default (lists are never shared)."""
    return _copy((BY_NAME.get(name) or TOOL_BY_NAME[name]).default)


def argument_spec(table: tuple[Option, ...] = OPTIONS) -> dict:
    return {option.name: option.spec() for option in table}
