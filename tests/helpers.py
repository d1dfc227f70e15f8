"""Test helpers: start Odradek brokers as subprocesses on free loopback ports, poll with deadlines."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "client-batches"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last one
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f": {last_exc!r}" if last_exc else ""))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


_STARTED: list[subprocess.Popen] = []


@atexit.register
def _stop_leftovers() -> None:
    """Processes a failed test left running are stopped by PID when the test run ends."""
    for proc in _STARTED:
        kill_process(proc)


def track(proc: subprocess.Popen) -> subprocess.Popen:
    _STARTED[:] = [p for p in _STARTED if p.poll() is None]
    _STARTED.append(proc)
    return proc


def odradek_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the worktree's ``src`` first on PYTHONPATH, and ``extra``: for an
    ``odradek`` (or Python client) subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def wait_listening(proc: subprocess.Popen, port: int, timeout: float, what: str, log_text: Callable[[], str]) -> None:
    """Wait until the server ``proc`` (``what``) accepts connections on ``port``; if it exits
    first, RuntimeError with ``log_text()`` (the end of its log)."""
    wait_for(lambda: proc.poll() is not None or port_open(port), timeout, what=f"{what} on {port}")
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log_text()}")


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``proc`` to exit, else SIGKILL it; reaped either way.
    True when it exited by itself."""
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def stop_process(proc: subprocess.Popen, timeout: float) -> bool:
    """SIGTERM (unless it exited already), then :func:`wait_or_kill`: True when it ended within
    ``timeout`` seconds."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    return wait_or_kill(proc, timeout)


def kill_process(proc: subprocess.Popen) -> None:
    """SIGKILL (unless it exited already) and reap."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class BrokerProcess:
    """An ``odradek serve`` subprocess with its own data dir and port."""

    def __init__(self, data_dir: Path, port: int | None = None, overrides: dict[str, str] | None = None, broker_id: int = 0,
                 env: dict[str, str] | None = None):
        self.env = dict(env or {})  # extra environment, e.g. ODRADEK_CRASH_AT for crash tests
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.broker_id = broker_id
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"broker-{broker_id}-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        ov = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            "broker.id": str(self.broker_id),
            "group.initial.rebalance.delay.ms": "0",
        }
        ov.update(self.overrides)
        out = [sys.executable, "-m", "odradek", "serve"]
        for k, v in ov.items():
            out += ["--override", f"{k}={v}"]
        return out

    def start(self, timeout: float = 20.0) -> "BrokerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen(self.args(), stdout=self._log, stderr=subprocess.STDOUT, env=odradek_env(self.env), cwd=str(ROOT)))
        wait_listening(self.proc, self.port, timeout, "broker", self.log_text)
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: a clean shutdown."""
        if self.proc is None:
            return None
        if not stop_process(self.proc, timeout):
            # the log says which shutdown step hung: show it with the failure
            sys.stderr.write(f"broker {self.broker_id} did not stop within {timeout} s; its log ends:\n{self.log_text()}\n")
        self._log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None:
            kill_process(self.proc)
            self._log.close()
        self.proc = None

    def restart(self) -> "BrokerProcess":
        self.stop()
        return self.start()
