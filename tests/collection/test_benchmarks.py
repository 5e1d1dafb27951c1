"""The benchmark scripts still load: they run by hand, rarely, so a module they import that a
refactor moved or removed would otherwise only show when someone needs a figure."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py"))


def test_there_are_benchmarks():
    assert "serving.py" in SCRIPTS and "proxy_room.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_imports(script):
    # A fresh interpreter per script: each puts benchmarks/ and the repo on sys.path itself.
    code = ("import runpy, sys; sys.argv = [sys.argv[1]]; "
            "runpy.run_path(sys.argv[0], run_name='piab_benchmark_import_check')")
    result = subprocess.run([sys.executable, "-c", code, str(BENCHMARKS / script)],
                            capture_output=True, text=True, timeout=120, cwd=BENCHMARKS.parent,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
