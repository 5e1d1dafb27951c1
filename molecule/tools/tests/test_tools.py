"""uv and Python for attendees, from a laptop that can reach the box and nothing else.

The clients run on an internal Docker network (no route anywhere) that the box joins under the
name the landing page uses; they have no uv of their own. They install uv with the landing
page's own Linux line and a Python with `uv python install`, as an attendee would.
"""

import hashlib
import html
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import BOX_NAME, Client

from tests.support import scenario

PROJECT_DIR = Path(__file__).resolve().parents[3]
STATE_DIR = PROJECT_DIR / ".cache" / f"molecule-tools-{scenario.RELEASE}"
OFFLINE_NETWORK = scenario.network_name("tools-offline")
MIRROR = "/srv/pypi/mirror"
BOX = "http://pi-box"


class _Blocks(HTMLParser):
    """The text of each <pre class=...> and the links and sha256 of the checksum list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pre: dict[str, str] = {}
        self.sums: dict[str, str] = {}
        self._pre = None
        self._href = None
        self._in_sums = False
        self._code = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "pre" and attrs.get("class"):
            self._pre = attrs["class"]
            self.pre[self._pre] = ""
        elif tag == "ul" and attrs.get("class") == "checksums":
            self._in_sums = True
        elif tag == "a" and self._in_sums:
            self._href = attrs["href"]
        elif tag == "code" and self._in_sums:
            self._code = True

    def handle_endtag(self, tag):
        if tag == "pre":
            self._pre = None
        elif tag == "ul":
            self._in_sums = False
        elif tag == "code":
            self._code = False

    def handle_data(self, data):
        if self._pre:
            self.pre[self._pre] += data
        elif self._code and self._href:
            self.sums[self._href] = data.strip()


@pytest.fixture(scope="module")
def offline():
    """A client that reaches the box, as pi-box, and nothing else."""
    subprocess.run(["docker", "network", "rm", OFFLINE_NETWORK], capture_output=True)
    subprocess.run(["docker", "network", "create", "--internal", OFFLINE_NETWORK],
                   check=True, capture_output=True)
    subprocess.run(["docker", "network", "connect", "--alias", "pi-box", OFFLINE_NETWORK,
                    BOX_NAME], check=True, capture_output=True)
    yield Client({}, network=OFFLINE_NETWORK)  # no uv mounted: it comes from the box
    subprocess.run(["docker", "network", "disconnect", OFFLINE_NETWORK, BOX_NAME],
                   capture_output=True)
    subprocess.run(["docker", "network", "rm", OFFLINE_NETWORK], capture_output=True)


@pytest.fixture(scope="module")
def page(box):
    result = box.run("curl -fsS http://127.0.0.1/")
    assert result.rc == 0, result.stderr
    blocks = _Blocks()
    blocks.feed(result.stdout)
    return blocks


@pytest.fixture(scope="module")
def standin_minor():
    text = (STATE_DIR / "standin.yml").read_text()
    return re.search(r'tools_standin_minor: "([0-9.]+)"', text).group(1)


def test_the_page_has_a_line_per_os_and_one_for_the_pythons(page):
    assert page.pre["install-linux"] == f"curl -fsSL {BOX}/uv/install.sh | sh"
    assert page.pre["install-windows"] == (
        f'powershell -ExecutionPolicy ByPass -c "irm {BOX}/uv/install.ps1 | iex"')
    assert "install-macos" not in page.pre  # this box serves no uv for macOS
    assert page.pre["python-env"] == (
        f"export UV_PYTHON_DOWNLOADS_JSON_URL={BOX}/python/downloads.json")


def test_the_landing_page_line_installs_uv_and_a_python_offline(offline, page, standin_minor):
    result = offline.run(f"""
        if curl -sS -m 5 -o /dev/null https://pypi.org/simple/ 2>/dev/null; then
            echo "this client reaches the internet"; exit 1
        fi
        {html.unescape(page.pre["install-linux"])}
        export PATH=$HOME/.local/bin:$PATH
        uv --version
        {html.unescape(page.pre["python-env"])}
        uv python install {standin_minor}
        uv venv --managed-python --python {standin_minor} /tmp/v
        /tmp/v/bin/python -c 'import sys; print("base", sys.base_prefix)'
        uv pip install --python /tmp/v/bin/python --index-url {BOX}/simple/ idna
        /tmp/v/bin/python -c 'import idna; print("idna", idna.__version__)'
    """)
    assert result.succeeded, result.stdout + result.stderr
    assert re.search(r"^uv 0\.13\.9\b", result.stdout, re.M), result.stdout
    assert "installed uv 0.13.9" in result.stderr
    # The venv's Python is the one uv installed from the box, not the image's own.
    assert re.search(r"^base /root/\.local/share/uv/python/cpython-3", result.stdout, re.M), \
        result.stdout
    assert "idna " in result.stdout


def test_the_install_script_refuses_an_archive_whose_sha256_differs(offline):
    result = offline.run(f"""
        curl -fsS -o /tmp/install.sh {BOX}/uv/install.sh
        sed -i -E 's/sha256=[0-9a-f]{{64}}/sha256={"0" * 64}/' /tmp/install.sh
        if sh /tmp/install.sh; then echo INSTALLED; fi
        ls $HOME/.local/bin/uv 2>/dev/null || echo "no uv"
    """)
    assert result.succeeded, result.stderr
    assert "INSTALLED" not in result.stdout and "no uv" in result.stdout
    assert "sha256 mismatch" in result.stderr and "nothing was installed" in result.stderr


def test_the_checksums_on_the_page_are_those_of_the_files_served(offline, page):
    assert len(page.sums) == 4  # two uv archives, two scripts
    paths = " ".join(page.sums)
    result = offline.run(f"cd /tmp && for p in {paths}; do "
                         f"curl -fsS {BOX}$p | sha256sum | sed \"s|-|$p|\"; done")
    assert result.succeeded, result.stderr
    served = dict(line.split()[::-1] for line in result.stdout.splitlines())
    assert served == page.sums


def test_uvs_list_of_pythons_points_at_the_box(offline):
    result = offline.run(f"curl -fsS -D /dev/stderr {BOX}/python/downloads.json")
    assert result.succeeded, result.stderr
    assert re.search(r"^cache-control: no-cache", result.stderr, re.I | re.M)
    assert re.search(r"^content-type: application/json", result.stderr, re.I | re.M)
    listing = json.loads(result.stdout)
    assert listing and all(e["url"].startswith(f"{BOX}/python/") for e in listing.values())
    build = next(iter(listing.values()))
    archive = offline.run(f"curl -fsS -D /dev/stderr {build['url']} | sha256sum")
    assert archive.stdout.split()[0] == build["sha256"]
    assert "immutable" in archive.stderr


def test_what_arrived_from_the_controller_was_verified_and_is_what_it_built(box):
    controller = STATE_DIR / "mirror"
    for tool in ("uv", "python"):
        records = json.loads((controller / ".state" / f"{tool}.json").read_text())
        on_box = json.loads(box.file(f"{MIRROR}/.state/{tool}.json").content_string)
        assert on_box == records
    listed = box.run(f"cd {MIRROR} && find uv python -type f | sort | xargs sha256sum")
    assert listed.rc == 0, listed.stderr
    built = {}
    for path in sorted(p for folder in ("uv", "python")
                       for p in (controller / folder).rglob("*") if p.is_file()):
        built[str(path.relative_to(controller))] = hashlib.sha256(path.read_bytes()).hexdigest()
    assert {name: digest for digest, name in map(str.split, listed.stdout.splitlines())} == built


def test_internal_names_are_not_served(offline):
    result = offline.run(f"""
        for path in /uv/ /.state/uv.json /uv/../.state/uv.json /python/.partial/; do
            printf '%s %s\\n' "$path" "$(curl -s -o /dev/null -w '%{{http_code}}' {BOX}$path)"
        done
    """)
    assert result.succeeded, result.stderr
    codes = dict(line.split() for line in result.stdout.splitlines())
    assert all(code in ("403", "404") for code in codes.values()), codes
