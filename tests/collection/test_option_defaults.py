"""One source for each default: the mirror's options table, and each role's argument_specs.

The engine's Options, the module's argument_spec and the CLI are built from
plugins/module_utils/mirror/options.py; the module's DOCUMENTATION (also checked by ansible-test's
validate-modules in `make lint`), the pypi_mirror role's defaults and its argument_specs are
written by hand, so these tests hold them to it. The same goes for the pypi_mirror_tools module
(options.TOOL_OPTIONS), whose options the role passes from the same variables. Every role's
defaults/main.yml must say what its argument_specs.yml documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.pypi_in_a_box.pi.plugins.module_utils.mirror import cli, engine, options

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in REPO.glob("roles/*/meta/argument_specs.yml"))
# Role variables that are the module's option under the role's prefix, and the exceptions:
# the role keeps the mirror in a fixed place, and reads requirements files on the controller.
ROLE_ONLY = {"dest"}


def _same(a: object, b: object) -> bool:
    """Equal as Ansible would pass them (30 and 30.0 are one timeout)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _module_documentation(module: str = "pypi_mirror") -> dict:
    source = (REPO / f"plugins/modules/{module}.py").read_text()
    text = source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    return yaml.safe_load(text)["options"]


MODULE_OPTIONS = [o for o in options.OPTIONS if not o.required]
TOOL_OPTIONS = [o for o in options.TOOL_OPTIONS if not o.required]
# Each option once, the mirror's and the tools module's: the role has one variable for each.
ROLE_OPTIONS = list({o.name: o for o in MODULE_OPTIONS + TOOL_OPTIONS}.values())


@pytest.mark.parametrize("option", MODULE_OPTIONS, ids=lambda o: o.name)
def test_module_documentation_states_the_tables_default(option):
    documented = _module_documentation()[option.name]
    assert documented["type"] == option.type
    assert _same(documented.get("default"), option.default)


@pytest.mark.parametrize("option", TOOL_OPTIONS, ids=lambda o: o.name)
def test_tools_module_documentation_states_the_tables_default(option):
    documented = _module_documentation("pypi_mirror_tools")[option.name]
    assert documented["type"] == option.type
    assert _same(documented.get("default"), option.default)
    assert documented.get("choices") == (list(option.choices) if option.choices else None)


@pytest.mark.parametrize("option", [o for o in ROLE_OPTIONS if o.name not in ROLE_ONLY],
                         ids=lambda o: o.name)
def test_pypi_mirror_role_defaults_to_the_tables_default(option):
    name = f"pypi_mirror_{option.name}"
    defaults = _load(REPO / "roles/pypi_mirror/defaults/main.yml")
    spec = _load(REPO / "roles/pypi_mirror/meta/argument_specs.yml")
    documented = spec["argument_specs"]["main"]["options"][name]
    assert _same(defaults[name], option.default), name
    assert _same(documented["default"], option.default), name
    assert documented["type"] == option.type or (documented["type"], option.type) == (
        "list", "list"), name


def test_engine_and_cli_start_from_the_table():
    run_options = engine.Options(dest="/m")
    parsed = cli.build_parser().parse_args(["--dest", "/m"])
    for option in options.OPTIONS:
        if option.engine and not option.required:
            assert _same(getattr(run_options, option.name), option.default), option.name
    for name in ("index_url", "lock_files", "releases", "max_file_size", "max_page_size",
                 "min_free_space", "concurrency", "timeout", "retries"):
        assert _same(getattr(parsed, name), options.default(name)), name
    assert not parsed.prune and not parsed.allow_partial and not parsed.no_dependencies
    assert options.default("prune") is False and options.default("dependencies") is True


# A role whose every option is required (apt_packages) has no defaults file.
@pytest.mark.parametrize("role", [r for r in ROLES if (REPO / f"roles/{r}/defaults").is_dir()])
def test_each_role_default_is_the_one_its_argument_specs_document(role):
    defaults = _load(REPO / "roles" / role / "defaults/main.yml")
    spec = _load(REPO / "roles" / role / "meta/argument_specs.yml")
    documented = spec["argument_specs"]["main"]["options"]
    for name, value in defaults.items():
        assert name in documented, f"{role}: {name} is not in argument_specs.yml"
        assert "default" in documented[name], f"{role}: {name} documents no default"
        if isinstance(value, str) and "{{" in value:
            continue  # computed from other variables: argument_specs shows what it usually is
        assert _same(documented[name]["default"], value), (
            f"{role}: {name} defaults to {value!r}, argument_specs says "
            f"{documented[name]['default']!r}")
