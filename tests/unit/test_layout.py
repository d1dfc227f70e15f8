"""The test tree stays collectable as one run: pytest's default import mode needs unique module names."""

from __future__ import annotations

import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique():
    names = collections.Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and p.name != "__init__.py")
    assert [n for n, c in names.items() if c > 1] == []
