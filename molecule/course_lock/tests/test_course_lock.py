"""The course's locks on the box: mirrored, served rewritten, and installed by uv on a client
that reaches nothing but the box (the scenario's network has no route to the controller's
upstream the locks were made against)."""

from pathlib import Path

import pytest

from tests.support import scenario

PROJECT_DIR = Path(__file__).resolve().parents[3]
COURSE = PROJECT_DIR / ".cache" / f"molecule-course_lock-{scenario.RELEASE}" / "course"
LANDING = "/var/www/pypi-in-a-box"
UV = "UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never uv"
FETCH = "python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(" \
        "urllib.request.urlopen(sys.argv[1]).read())'"
# The clients' Python and CPU (the box image's), and markupsafe's wheel tag for that Python.
PYTHON = scenario.CLIENT_PYTHON
MACHINE = scenario.CLIENT_MACHINE
CP = "cp" + PYTHON.replace(".", "")
# What each platform's install holds (tests/support/course.py), on the clients' Python.
EXPECTED = {
    f"{MACHINE}-manylinux_2_28": ["click==8.3.1", "jinja2==3.1.6", "markupsafe==3.0.3"],
    "x86_64-pc-windows-msvc": ["click==8.3.1", "colorama==0.4.6", "jinja2==3.1.6",
                               "markupsafe==3.0.3"],
    "aarch64-apple-darwin": ["appnope==0.1.4", "click==8.3.1", "jinja2==3.1.6",
                             "markupsafe==3.0.3"],
}
# name==version of every distribution installed in the folder given.
LIST = ("python3 -c 'import importlib.metadata as m, sys; print(sorted("
        "f\"{d.name.lower()}=={d.version}\" for d in m.distributions(path=[sys.argv[1]])))'")


@pytest.fixture(scope="module")
def attendee(client):
    """A laptop with the course's checkout (its pyproject.toml), on the box's network."""
    return type(client)({**client.mounts, str(COURSE): "/course"})


def test_the_mirror_holds_what_the_locks_name(box):
    listing = box.run("ls /srv/pypi/mirror/files").stdout.split()
    assert listing == ["appnope", "click", "colorama", "jinja2", "markupsafe"]
    markupsafe = box.run("ls /srv/pypi/mirror/files/markupsafe").stdout.split()
    assert sorted(f for f in markupsafe if f.endswith(".whl")) == [
        f"markupsafe-3.0.3-{CP}-{CP}-macosx_11_0_arm64.whl",
        f"markupsafe-3.0.3-{CP}-{CP}-manylinux2014_{MACHINE}.manylinux_2_17_{MACHINE}"
        f".manylinux_2_28_{MACHINE}.whl",
        f"markupsafe-3.0.3-{CP}-{CP}-win_amd64.whl",
    ]


def test_the_landing_page_shows_how_to_install_the_course(box):
    page = box.file(f"{LANDING}/index.html").content_string
    assert "curl -f -o uv.lock http://pi-box/locks/1/uv.lock\nuv sync --frozen" in page
    assert "uv pip install -r http://pi-box/locks/2/pylock.toml" in page
    assert "pip install -r http://pi-box/locks/2/pylock.toml" in page


def test_the_box_serves_the_locks_pointing_at_itself(attendee):
    result = attendee.run(f"{FETCH} http://pi-box/locks/1/uv.lock")
    assert result.succeeded, result.stderr
    assert f"127.0.0.1:{scenario.upstream_port()}" not in result.stdout
    assert 'source = { registry = "http://pi-box/simple/" }' in result.stdout
    assert "http://pi-box/files/click/click-8.3.1-py3-none-any.whl" in result.stdout


@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_uv_sync_frozen_installs_the_course_from_the_box(attendee, platform):
    result = attendee.run(f"""
        cp -r /course /tmp/course && cd /tmp/course
        curl -f -o uv.lock http://pi-box/locks/1/uv.lock
        {UV} sync --frozen --python /usr/bin/python3 --python-platform {platform}
        {LIST} .venv/lib/python{PYTHON}/site-packages
    """)
    assert result.succeeded, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(EXPECTED[platform])


@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_uv_pip_installs_the_boxs_pylock(attendee, platform):
    result = attendee.run(f"""
        {UV} pip install --python /usr/bin/python3 --python-platform {platform} \\
            --python-version {PYTHON} --target /tmp/site -r http://pi-box/locks/2/pylock.toml
        {LIST} /tmp/site
    """)
    assert result.succeeded, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(EXPECTED[platform])
