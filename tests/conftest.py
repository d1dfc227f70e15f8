from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from helpers import BrokerProcess  # noqa: E402


@pytest.fixture
def broker(tmp_path):
    """A fresh single-node broker subprocess, stopped by PID afterwards."""
    b = BrokerProcess(tmp_path / "data").start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    """One broker for a whole test module (tests use their own topic names)."""
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield b
    b.kill()


# CI (scripts/test sets ODRADEK_REQUIRE_TOOLS=1) installs every tool the suite uses, so a test
# skipped for lack of one means the set-up failed: it fails loudly instead of skipping quietly.
_MISSING_TOOL = ("not installed", "missing", "not found on PATH")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("ODRADEK_REQUIRE_TOOLS") != "1":
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(m in reason for m in _MISSING_TOOL):
        report.outcome = "failed"
        report.longrepr = f"a tool the suite needs is missing (ODRADEK_REQUIRE_TOOLS=1): {reason}"
