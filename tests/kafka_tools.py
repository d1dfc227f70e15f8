"""Kafka's command-line tools (from the Maven jars) driven from tests, and their output normalized.

:class:`ToolShell` keeps one JVM (``tests/jvm/programs/ToolShell.java``) that runs tool after tool by
main class: the JVM start and warm-up are paid once per shell instead of once per command (a cold
tool costs 1-2 s on the 2-core CI machine, a warm one a few hundred ms). Tools are named by their
``bin/`` script (``kafka-topics``) and called with the arguments their documentation shows.

:func:`normalize` makes the output of the same command against Odradek and against Apache Kafka
comparable: topic ids, member ids, hosts and ports, timestamps and column widths are replaced.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import kafka_jvm
from helpers import track, wait_or_kill

PROGRAM = kafka_jvm.JVM_DIR / "programs" / "ToolShell.java"

# bin/<script>.sh -> main class, Kafka 4.4 (probed with javap: ConfigCommand moved to the tools jar)
MAIN = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    # these two call System.exit themselves: run them with tool(), each in its own JVM
    "kafka-verifiable-producer": "org.apache.kafka.tools.VerifiableProducer",
    "kafka-verifiable-consumer": "org.apache.kafka.tools.VerifiableConsumer",
}


@dataclass
class Result:
    code: int
    out: str
    err: str
    ms: int

    def ok(self) -> "Result":
        assert self.code == 0, f"exit code {self.code}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-3000:]}"
        return self

    @property
    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]


class ToolShell:
    """One JVM that runs Kafka's tools on request; stopped by PID."""

    def __init__(self, heap: str = "384m") -> None:
        classes = kafka_jvm.compile_java([PROGRAM], "kafka-4")
        cmd = kafka_jvm.java_command("ToolShell", [], profile="kafka-4", heap=heap, extra_cp=[classes])
        self.proc = track(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True, bufsize=1))
        self.history: list[tuple[list[str], Result]] = []
        ready = self._read_line(60)
        assert json.loads(ready) == {"ready": True}, ready

    def _read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = ""
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                err = self.proc.stderr.read()[-4000:]
                last = self.history[-1][0] if self.history else []
                raise AssertionError(f"tool shell gave no answer within {timeout} s (last command {last}):\n{err}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                line = self.proc.stdout.readline()
                if line:
                    return line

    def run(self, script: str, *args: str, stdin: str | None = None, timeout: float = 90) -> Result:
        """Run ``bin/<script>.sh args...`` and return its exit code and output."""
        main = MAIN.get(script, script)
        self.proc.stdin.write(json.dumps({"main": main, "args": list(args), "stdin": stdin}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._read_line(timeout))
        result = Result(reply["code"], reply["out"], reply["err"], reply["ms"])
        self.history.append(([script, *args], result))
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            wait_or_kill(self.proc, 10)

    def timings(self) -> str:
        """How long the commands took: the total and the slowest five."""
        total = sum(r.ms for _, r in self.history)
        slow = sorted(self.history, key=lambda h: -h[1].ms)[:5]
        return f"{len(self.history)} commands, {total / 1000:.1f} s; slowest: " + "; ".join(
            f"{' '.join(a[:1] + [x for x in a[1:] if not x.startswith('127.')][:3])} {r.ms} ms" for a, r in slow)


def tool_process(script: str, *args: str, heap: str = "256m") -> subprocess.Popen:
    """Start one tool in its own JVM (for tools that call System.exit, or must run alongside others)."""
    cmd = kafka_jvm.java_command(MAIN.get(script, script), list(args), heap=heap, quick=True)
    return track(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_TOPIC_ID = re.compile(r"(TopicId: )[A-Za-z0-9_-]{22}")
_HOST_PORT = re.compile(r"\b127\.0\.0\.1:\d+\b")
_TIMESTAMP = re.compile(r"\b1[6-9]\d{11}\b")  # epoch milliseconds
_DATETIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.:]\d{3}")
_CLIENT_ID = re.compile(r"\b(adminclient|producer|consumer)-(\d+)\b")  # numbered per JVM


def normalize(text: str, *, paths: dict[str, str] | None = None) -> list[str]:
    """Lines of a tool's output with what differs between any two runs replaced, and each run of
    spaces or tabs made one space (column widths follow the longest value)."""
    for path, name in (paths or {}).items():
        text = text.replace(path, name)
    text = _UUID.sub("<uuid>", text)
    text = _TOPIC_ID.sub(r"\1<id>", text)
    text = _HOST_PORT.sub("<host:port>", text)
    text = _DATETIME.sub("<datetime>", text)
    text = _TIMESTAMP.sub("<ts>", text)
    text = _CLIENT_ID.sub(r"\1-<n>", text)
    out = []
    for line in text.splitlines():
        line = re.sub(r"[ \t]+", " ", line).strip()
        if line:
            out.append(line)
    return out
