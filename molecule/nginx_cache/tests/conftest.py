"""Fixtures for the nginx_cache scenario: the box seen from the controller over the network.

Header-level checks use `requests` from the controller against the box container's address (our
own container, no proxy); installs run with real pip and uv in the `client` fixture's container.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support import scenario

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
BOX_NAME = scenario.box_name()
NETWORK = scenario.network_name()
WHEELS = scenario.WHEELS_DIR
ROLE_DEFAULTS = PROJECT_DIR / "roles" / "nginx_cache" / "defaults" / "main.yml"
UPLOAD_USER = "uploader"
UPLOAD_PASSWORD = os.environ.get("PIAB_TEST_UPLOAD_PASSWORD", "molecule-upload-secret")

_NGINX_TIME_UNITS = {"ms": 0.001, "": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def nginx_seconds(value: str) -> float:
    """Seconds in an nginx time such as '10s', '1m30s' or '500ms'."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not an nginx time: {value}"
    return sum(int(number) * _NGINX_TIME_UNITS[unit] for number, unit in parts)


SCENARIO_DIR = Path(__file__).resolve().parents[1]


def run_playbook(playbook: str, tmp_path: Path, **extra_vars) -> subprocess.CompletedProcess:
    """ansible-playbook on the box, from the scenario directory, the way molecule runs it."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"boxes": {"hosts": {BOX_NAME: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))
    environment = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT_DIR / "collections"),
        MOLECULE_PROJECT_DIRECTORY=str(PROJECT_DIR),
        PIAB_TEST_UPLOAD_PASSWORD=UPLOAD_PASSWORD,
        ANSIBLE_NOCOLOR="1",
        # molecule exports ANSIBLE_FORCE_COLOR for its own runs; these outputs are parsed.
        ANSIBLE_FORCE_COLOR="0",
    )
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i", str(inventory), str(SCENARIO_DIR / playbook), "-e", json.dumps(extra_vars),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=environment, cwd=PROJECT_DIR
    )


@pytest.fixture
def reconverged(request, tmp_path):
    """The box converged with other variables (the test's indirect parameter) for one test,
    then back to the scenario's own state for the others."""
    result = run_playbook("converge.yml", tmp_path, **request.param)
    assert result.returncode == 0, result.stdout + result.stderr
    yield
    restored = run_playbook("converge.yml", tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr


@pytest.fixture(scope="session")
def role_defaults() -> dict:
    """The role's documented defaults, which converge.yml does not override for the cache."""
    return yaml.safe_load(ROLE_DEFAULTS.read_text())


@pytest.fixture(scope="session")
def wheel_file() -> Path:
    """A real seed wheel, served from pypiserver's directory."""
    path = WHEELS / "requests-2.32.3-py3-none-any.whl"
    assert path.is_file(), "run scripts/fetch-wheels.sh first (scripts/run-molecule.sh does)"
    return path


def build_wheel(directory: Path, name: str, version: str, padding: int = 0) -> Path:
    """A minimal valid pure-Python wheel: one module, METADATA, WHEEL and a hashed RECORD;
    `padding` random bytes in a data file make it as large as a real compiled wheel."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        **({f"{module}/padding.bin": os.urandom(padding)} if padding else {}),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: Upload probe of the PyPI in a box tests\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: piab-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def twine(base: str, wheel: Path, password: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("twine")
    command = [str(executable) if executable.exists() else shutil.which("twine") or "twine"]
    command += [
        "upload", "--non-interactive", "--disable-progress-bar",
        "--repository-url", f"{base}/", "-u", UPLOAD_USER, "-p", password, str(wheel),
    ]
    # No keyring prompts or lookups: the credentials are on the command line.
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
