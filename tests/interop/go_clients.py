"""The Go clients (franz-go with kadm, IBM sarama) as two small programs built from ``tests/interop/go``.

- :func:`build` compiles ``franz`` and ``sarama`` with ``go build`` into a cache folder keyed by the
  hash of the module's sources, go.mod, go.sum, the Go version and the build flags
  (``kafka_jvm.cache_dir()``), under a file lock, so only the first run downloads modules and
  compiles; later runs find the binaries.
- :func:`run` runs one subcommand to completion and returns its JSON; :class:`GoProcess` runs a
  long-lived one (``group``, ``load``) that prints one JSON object per line and takes commands on
  stdin.

``python tests/interop/go_clients.py build`` builds them (scripts/test runs it before pytest). A
machine without Go fails loudly: scripts/test installs it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for kafka_jvm when run as a script

from kafka_jvm import _locked, cache_dir  # noqa: E402

GO_DIR = HERE / "go"
PROGRAMS = ("franz", "sarama")
# Where Go's official tarball installs itself (scripts/test puts it on PATH as well).
GO_FALLBACK = Path("/usr/local/go/bin/go")
# Reproducible paths, no debug symbols (smaller cached binaries); part of the cache key.
BUILD_FLAGS = ["-trimpath", "-ldflags=-s -w"]


def go() -> str:
    path = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.exists() else None)
    if path is None:
        raise RuntimeError("Go is not installed (neither `go` on PATH nor /usr/local/go/bin/go): scripts/test installs it")
    return path


def _sources() -> list[Path]:
    return sorted([GO_DIR / "go.mod", GO_DIR / "go.sum", *GO_DIR.rglob("*.go")])


def _digest(go_bin: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go_bin, "version"], capture_output=True, text=True, timeout=60).stdout
    h.update(version.encode())
    h.update(" ".join(BUILD_FLAGS).encode())
    for src in _sources():
        h.update(str(src.relative_to(GO_DIR)).encode() + b"\0")
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


_built: dict[str, Path] = {}


def build() -> dict[str, Path]:
    """The compiled programs, {name: path}; built once per source hash and cached."""
    if _built:
        return dict(_built)
    go_bin = go()
    target = cache_dir() / "go" / _digest(go_bin)
    if not (target / ".complete").exists():
        with _locked(f"go-{target.name}"):
            if not (target / ".complete").exists():
                tmp = target.with_name(target.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                env = {**os.environ, "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
                cmd = [go_bin, "build", *BUILD_FLAGS, "-o", str(tmp) + os.sep, *(f"./{p}" for p in PROGRAMS)]
                proc = subprocess.run(cmd, cwd=GO_DIR, env=env, capture_output=True, text=True, timeout=1200)
                if proc.returncode != 0:
                    raise RuntimeError(f"go build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
                (tmp / ".complete").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
    for p in PROGRAMS:
        _built[p] = target / p
    return dict(_built)


def binary(client: str) -> Path:
    return build()[client]


# --- JSON in and out ------------------------------------------------------------------------------


def b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


def run(client: str, sub: str, *args: str, input: object | None = None, timeout: float = 90) -> dict:
    """Run ``<client> <sub> args...`` to completion; its stdout is one JSON object."""
    cmd = [str(binary(client)), sub, *args]
    proc = subprocess.run(cmd, input=None if input is None else json.dumps(input), capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{client} {sub} exited with {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{client} {sub} printed no JSON:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}") from None


class GoProcess:
    """A long-running subcommand: its JSON lines are collected as they come; commands go to stdin."""

    def __init__(self, client: str, sub: str, *args: str) -> None:
        from helpers import track

        self.name = f"{client} {sub}"
        self.proc = track(subprocess.Popen([str(binary(client)), sub, *args], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1))
        self.lines: list[dict] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                with self._lock:
                    self.lines.append(json.loads(line))

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                self.stderr.append(line)
                del self.stderr[:-400]

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.lines)

    def where(self, pred: Callable[[dict], bool]) -> list[dict]:
        return [x for x in self.snapshot() if pred(x)]

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def finish(self, command: str | None = None, timeout: float = 90) -> list[dict]:
        """Send ``command`` (if any), close stdin, wait for the exit; all JSON lines."""
        if self.proc.poll() is None:
            try:
                if command is not None:
                    self.send(command)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout} s:\n{self.stderr_text()}") from None
        self._out.join(10)
        self._err.join(10)
        return self.snapshot()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @staticmethod
    def abandon(*procs: "GoProcess") -> None:
        """After a failure: print each one's stderr (pytest shows it with the failure) and kill it."""
        for p in procs:
            print(f"--- {p.name} stderr:\n{p.stderr_text()}")
            p.kill()

    def stderr_text(self, n: int = 4000) -> str:
        with self._lock:
            return "".join(self.stderr)[-n:]


# --- produce and read back ----------------------------------------------------------------------


def produce(client: str, bootstrap: str, topic: str, records: Sequence, *, codec: str = "none", acks="all",
            manual: bool = False, extra: Sequence[str] = ()) -> list[dict]:
    """Produce ``records`` (interop_clients.Rec) in one call; returns per record {partition, offset, error}."""
    payload = {"records": [
        {"key": b64(r.key), "value": b64(r.value), "headers": [{"key": k, "value": b64(v)} for k, v in r.headers],
         "partition": r.partition, "timestamp": r.timestamp or 0}
        for r in records
    ]}
    args = ["--brokers", bootstrap, "--topic", topic, "--codec", codec, "--acks", str(acks),
            "--partitioner", "manual" if manual else "default", *extra]
    out = run(client, "produce", *args, input=payload)["records"]
    errors = [r["error"] for r in out if r.get("error")]
    assert not errors, f"{client} produce failed for {len(errors)} records: {errors[:3]}"
    return out


def consume(client: str, bootstrap: str, topic: str, *, partitions: int = 0, timeout: float = 60,
            extra: Sequence[str] = ()):
    """Every partition read from its start to its high watermark: ({partition: end}, {partition: [Got]})."""
    from interop_clients import Got

    out = run(client, "consume", "--brokers", bootstrap, "--topic", topic, "--partitions", str(partitions),
              "--timeout", str(timeout), *extra, timeout=timeout + 30)
    assert not out["error"], f"{client} consume: {out['error']}"
    got: dict[int, list] = {}
    for r in out["records"] or []:
        got.setdefault(r["partition"], []).append(Got(
            r["partition"], r["offset"], unb64(r["key"]), unb64(r["value"]),
            tuple((h["key"], unb64(h["value"])) for h in r["headers"]), r["timestamp"]))
    return {int(p): e for p, e in out["ends"].items()}, got


if __name__ == "__main__":
    if sys.argv[1:] in (["build"], ["prefetch"]):
        t0 = time.monotonic()
        built = build()
        print(f"Go clients: {', '.join(str(p) for p in built.values())} ({time.monotonic() - t0:.1f} s)")
    else:
        sys.exit("usage: go_clients.py build")
