"""The unit tests of bench/run.py load it as a module (bench/ is scripts, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[3] / "bench" / "run.py"


@pytest.fixture(scope="module")
def bench():
    """bench/run.py, loaded afresh for each test module."""
    spec = importlib.util.spec_from_file_location("bench_run_under_test", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
