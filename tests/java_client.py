"""The Java client scenarios (tests/interop/java/client/*.java) compiled against both Kafka client
versions and run as JVMs that print one JSON object.

- :func:`classes` compiles the sources once per profile (``kafka-4`` = 4.4.0, ``kafka-3`` = 3.9.2);
  what differs between the two clients lives in ``v4/Versioned.java`` and ``v3/Versioned.java``.
- :func:`run_all` starts one scenario JVM per profile at the same time and returns their JSON
  results: the scenarios spend most of their time waiting on the broker, so running the two
  versions side by side halves the wall time.
- :class:`Driver` keeps a JVM (``AdminDriver``) open and sends it one command per line, for tests
  that change the cluster between Admin calls.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import kafka_jvm
from helpers import track, wait_or_kill

SOURCES = Path(__file__).resolve().parent / "interop" / "java" / "client"
PROFILES = ("kafka-4", "kafka-3")
VERSION_DIR = {"kafka-4": "v4", "kafka-3": "v3"}
HEAP = "256m"


def classes(profile: str) -> Path:
    """The compiled scenarios for one client version (cached by the sources' hash)."""
    sources = sorted(SOURCES.glob("*.java")) + sorted((SOURCES / VERSION_DIR[profile]).glob("*.java"))
    return kafka_jvm.compile_java(sources, profile)


def command(profile: str, main: str, args: Sequence[str]) -> list[str]:
    return kafka_jvm.java_command(main, list(args), profile=profile, heap=HEAP, extra_cp=[classes(profile)])


def _b64(b: bytes | None) -> str:
    return "-" if b is None else base64.b64encode(b).decode()


def records_file(records, path: Path) -> Path:
    """Writes records (interop_clients.Rec) in the format Util.readRecords reads."""
    lines = []
    for r in records:
        hs = ",".join(f"{_b64(k.encode())}:{_b64(v)}" for k, v in r.headers) or "-"
        part = "-" if r.partition is None else str(r.partition)
        ts = "-" if r.timestamp is None else str(r.timestamp)
        lines.append(f"{part} {_b64(r.key)} {_b64(r.value)} {ts} {hs}\n")
    path.write_text("".join(lines))
    return path


def unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


class JavaFailed(AssertionError):
    pass


def run_all(main: str, args_for: dict[str, Sequence[str]], timeout: float = 240) -> dict[str, dict]:
    """Runs ``main`` once per profile, all at once; {profile: the JSON it printed}."""
    procs = {}
    with tempfile.TemporaryDirectory(prefix="java-client-") as tmp:
        for profile, args in args_for.items():
            out = open(Path(tmp) / f"{profile}.out", "w+b")
            err = open(Path(tmp) / f"{profile}.err", "w+b")
            proc = track(subprocess.Popen(command(profile, main, args), stdout=out, stderr=err))
            procs[profile] = (proc, out, err)
        deadline = time.monotonic() + timeout
        results = {}
        failures = []
        for profile, (proc, out, err) in procs.items():
            rc = proc.returncode if wait_or_kill(proc, max(1.0, deadline - time.monotonic())) else "timeout"
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
            out.close()
            err.close()
            lines = [x for x in stdout.splitlines() if x.startswith("{")]
            if rc != 0 or not lines:
                failures.append(f"{main} ({profile}) ended with {rc}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-6000:]}")
                continue
            results[profile] = json.loads(lines[-1])
        if failures:
            raise JavaFailed("\n\n".join(failures))
        return results


class Driver:
    """A long-lived ``AdminDriver`` JVM: one command per line in, one JSON line out."""

    def __init__(self, profile: str, bootstrap: str) -> None:
        self.profile = profile
        self.err = tempfile.TemporaryFile()
        self.proc = track(subprocess.Popen(command(profile, "AdminDriver", ["--bootstrap", bootstrap]),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True))

    def __call__(self, *words: str):
        line = " ".join(words)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            self.err.seek(0)
            raise JavaFailed(f"AdminDriver ({self.profile}) died at {line!r}:\n{self.err.read().decode(errors='replace')[-6000:]}")
        return json.loads(answer)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            wait_or_kill(self.proc, 30)
        self.err.close()
