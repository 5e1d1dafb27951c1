"""Make the collection importable as ``ansible_collections.pypi_in_a_box.pi`` in every test."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = str(REPO / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.support
