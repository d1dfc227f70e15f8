from __future__ import annotations

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
