"""The Kafka Streams word-count application of the interop and cluster tests, and what they share.

``java/streams/StreamsWordCounts.java`` splits lines into words, re-keys them by word (the
``by-word`` repartition topic), counts per word in a key-value store (``word-counts``, changelogged)
and per word per 10-second tumbling window in a window store (``windowed-counts``, changelogged),
writing every update to two output topics (no record cache). Input records carry explicit
timestamps, so the expected counts are computed by :func:`reference` exactly.

- :class:`Instance`: one application JVM (heap capped) with a processing guarantee; its stdout is a
  JSON event per line (state changes, active tasks, restored stores, errors);
- :class:`Feeder`: keeps producing input lines at a steady rate in a thread (idempotent
  confluent-kafka producer, retrying through broker failures) until stopped;
- :func:`read_input`, :func:`read_outputs`: what the topics hold, read back with confluent-kafka
  (``read_committed`` for the outputs when asked: aborted transactions are left out);
- :func:`check_exact`: per key, the committed output values are exactly 1, 2, ... N with N the
  reference count (nothing lost, nothing counted twice, nothing of an aborted transaction seen);
  :func:`stop_input_and_check_exact`: the end of an exactly_once_v2 run, input stopped, counts final.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import kafka_jvm
from helpers import kill_process, stop_process, track, wait_for
from interop_clients import ck_read_to_end
from wire import ask

HERE = Path(__file__).resolve().parent
SOURCES = [HERE / "java" / "streams" / "StreamsWordCounts.java"]
APP = "wordcounts"
IN, COUNTS_OUT, WINDOWED_OUT = "streams-lines", "streams-word-counts", "streams-windowed-counts"
PARTITIONS = 4
WINDOW_MS = 10_000
REPARTITION = f"{APP}-by-word-repartition"
CHANGELOG = f"{APP}-word-counts-changelog"
WINDOW_CHANGELOG = f"{APP}-windowed-counts-changelog"
VOCABULARY = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"]


def run(coro):
    return asyncio.run(coro)


def compile_app() -> Path:
    return kafka_jvm.compile_java(SOURCES)


class Clock:
    """Prints how long each step took (shown with -s or on failure): the CI time budget."""

    def __init__(self) -> None:
        self.t0 = self.last = time.monotonic()

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        print(f"[{now - self.t0:6.1f} s] {step} ({now - self.last:.1f} s)")
        self.last = now


class Instance:
    """One StreamsWordCounts JVM; its stdout is a JSON event per line."""

    def __init__(self, name: str, classes: Path, bootstrap: str, workdir: Path, guarantee: str = "at_least_once") -> None:
        self.name = name
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        cmd = kafka_jvm.java_command(
            "StreamsWordCounts",
            [bootstrap, APP, str(workdir / f"state-{name}"), IN, COUNTS_OUT, WINDOWED_OUT, guarantee],
            heap="320m", extra_cp=[classes],
        )
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = track(subprocess.Popen(cmd, stdout=self._out, stderr=self._err))

    def events(self) -> list[dict]:
        """Every complete line so far (the JVM may be writing the last one right now)."""
        lines = self.out_path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines if line.startswith("{")]

    def active_tasks(self) -> list[str] | None:
        """The active tasks last reported while RUNNING (None before that)."""
        self.check_alive()
        tasks = [e for e in self.events() if e["event"] == "tasks"]
        return tasks[-1]["active"] if tasks and tasks[-1]["state"] == "RUNNING" else None

    def transactional_ids(self) -> list[str]:
        """The exactly_once_v2 transactional ids of this instance's threads (from their names)."""
        threads = [t for e in self.events() if e["event"] == "tasks" for t in e.get("threads", [])]
        return sorted({t.replace("-StreamThread-", "-") for t in threads})

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.diagnostics()}")
        errors = [e for e in self.events() if e["event"] == "error"]
        assert not errors, f"{self.name}: {errors}"

    def diagnostics(self) -> str:
        return f"--- {self.name} stdout\n{self.out_path.read_text()[-3000:]}\n--- {self.name} stderr\n{self.err_path.read_text(errors='replace')[-6000:]}"

    def kill(self) -> None:
        kill_process(self.proc)

    def stop(self, timeout: float = 30.0) -> int:
        stop_process(self.proc, timeout)
        self._out.close()
        self._err.close()
        return self.proc.returncode


def all_tasks() -> list[str]:
    """The application's 8 tasks: 4 input-side (0_x) and 4 stateful (1_x)."""
    return [f"{s}_{p}" for s in (0, 1) for p in range(PARTITIONS)]


# ------------------------------------------------------------------------------ data and reference


def make_lines(rng: random.Random, first: int, n: int, base_ts: int, span_ms: int, vocabulary: list[str]) -> list[tuple[str, str, int]]:
    """(key, line, timestamp) records; timestamps fall anywhere in [base_ts, base_ts + span_ms)."""
    out = []
    for i in range(first, first + n):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 6))]
        out.append((f"line-{i:05d}", " ".join(words), base_ts + rng.randrange(span_ms)))
    return out


def reference(lines: list[tuple[str, str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    counts: collections.Counter[str] = collections.Counter()
    windowed: collections.Counter[str] = collections.Counter()
    for _key, line, ts in lines:
        for w in line.split():
            counts[w] += 1
            windowed[f"{w}@{ts - ts % WINDOW_MS}"] += 1
    return dict(counts), dict(windowed)


class Feeder:
    """Produces input lines at ``rate`` per second from a thread until :meth:`stop`; an idempotent
    confluent-kafka producer that keeps retrying through a broker's death (what lands in the topic
    is read back by :func:`read_input` for the reference, so a line written twice would count)."""

    def __init__(self, bootstrap: str, rate: float, base_ts: int, span_ms: int, seed: int = 11) -> None:
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000, "retry.backoff.ms": 100,
                                  "reconnect.backoff.max.ms": 500})
        self.rate, self.base_ts, self.span_ms = rate, base_ts, span_ms
        self.rng = random.Random(seed)
        self.sent = 0
        self.delivered = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Feeder":
        self._thread.start()
        return self

    def _delivered(self, err, _msg) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.errors.append(str(err))

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate)
            while self.sent < due:
                key, line, ts = make_lines(self.rng, self.sent, 1, self.base_ts, self.span_ms, VOCABULARY)[0]
                self.producer.produce(IN, key=key.encode(), value=line.encode(), timestamp=ts, on_delivery=self._delivered)
                self.sent += 1
            self.producer.poll(0.02)

    def wait_for_more(self, n: int, timeout: float, what: str) -> None:
        """Wait until ``n`` more lines than now are acknowledged."""
        delivered = self.delivered
        wait_for(lambda: self.delivered >= delivered + n, timeout, 0.1, what=what)

    def abandon(self) -> None:
        """Stop producing (after a failure); what is queued is not waited for."""
        self._stop.set()

    def stop(self, timeout: float = 120) -> int:
        """Stop producing; wait until every line is acknowledged. Returns how many were sent."""
        self._stop.set()
        self._thread.join(10)
        left = self.producer.flush(timeout)
        assert left == 0 and not self.errors, f"input lines not delivered: {left} queued, errors {self.errors[:5]}"
        assert self.delivered == self.sent
        return self.sent


# ------------------------------------------------------------------------------ reading topics back


def _read(bootstrap: str, topic: str, isolation: str, timeout: float = 60) -> list[tuple[int, int, bytes, bytes, int]]:
    """Every record of every partition of ``topic`` (partition, offset, key, value, timestamp),
    up to where a consumer with ``isolation`` sees the end (the LSO for read_committed)."""
    return ck_read_to_end(bootstrap, topic, isolation, timeout=timeout, strict=True)


def read_input(bootstrap: str) -> list[tuple[str, str, int]]:
    """The input lines as stored (key, line, timestamp)."""
    return [(k.decode(), v.decode(), ts) for _p, _o, k, v, ts in _read(bootstrap, IN, "read_uncommitted")]


def read_outputs(bootstrap: str, isolation: str = "read_committed") -> dict[str, dict[str, list[int]]]:
    """{topic: {key: [values in offset order]}} of both output topics (one partition each)."""
    out = {}
    for topic in (COUNTS_OUT, WINDOWED_OUT):
        seq: dict[str, list[int]] = collections.defaultdict(list)
        for _p, _o, k, v, _ts in sorted(_read(bootstrap, topic, isolation)):
            seq[k.decode()].append(int.from_bytes(v, "big", signed=True))
        out[topic] = dict(seq)
    return out


def aborted_offsets(bootstrap: str, topic: str) -> set[int]:
    """Offsets of records a read_uncommitted consumer gets and a read_committed one does not."""
    return ({o for _p, o, *_ in _read(bootstrap, topic, "read_uncommitted")}
            - {o for _p, o, *_ in _read(bootstrap, topic, "read_committed")})


def committed_updates(bootstrap: str) -> int:
    """How many updates of the word counts are committed (read_committed) so far."""
    return sum(len(v) for v in read_outputs(bootstrap)[COUNTS_OUT].values())


def last_values(outputs: dict[str, dict[str, list[int]]]) -> tuple[dict[str, int], dict[str, int]]:
    return ({k: v[-1] for k, v in outputs[COUNTS_OUT].items()}, {k: v[-1] for k, v in outputs[WINDOWED_OUT].items()})


def check_exact(outputs: dict[str, dict[str, list[int]]], counts: dict[str, int], windowed: dict[str, int]) -> None:
    """Every key's committed updates are exactly 1..N: a record processed twice would repeat a
    value (or skip one, had a state update been lost), one never processed would leave N short."""
    for topic, ref in ((COUNTS_OUT, counts), (WINDOWED_OUT, windowed)):
        got = outputs[topic]
        assert set(got) == set(ref), (topic, sorted(set(got) ^ set(ref))[:10])
        wrong = {k: (v[:5], v[-5:], len(v), ref[k]) for k, v in got.items() if v != list(range(1, ref[k] + 1))}
        assert not wrong, f"{topic}: keys whose committed updates are not exactly 1..N (first, last, count, N): {dict(list(wrong.items())[:5])}"


def stop_input_and_check_exact(bootstrap: str, feeder: Feeder, running: Instance, clock: Clock) -> dict[str, dict[str, list[int]]]:
    """Stop the input; wait (while ``running`` stays up) until the outputs show the counts of
    every input line the topic holds, then :func:`check_exact`. Returns the committed outputs."""
    sent = feeder.stop()
    clock(f"input stopped after {sent} lines")
    lines = read_input(bootstrap)
    assert len(lines) == sent, (len(lines), sent)
    counts, windowed = reference(lines)

    def done():
        running.check_alive()
        return last_values(read_outputs(bootstrap)) == (counts, windowed)

    try:
        wait_for(done, 120, 0.5, what="final counts of every input line")
    except AssertionError:
        got, _ = last_values(read_outputs(bootstrap))
        wrong = {w: (got.get(w), n) for w, n in counts.items() if got.get(w) != n}
        raise AssertionError(f"word counts (got, expected) that differ: {wrong}") from None
    clock("final counts")
    committed = read_outputs(bootstrap)
    check_exact(committed, counts, windowed)
    return committed


# ------------------------------------------------------------------------------ transactions, by wire


def transactions(ports: list[int]) -> dict[str, tuple[int, str]]:
    """ListTransactions of every broker merged (as the admin client does): {id: (producer id, state)}."""
    out = {}
    for port in ports:
        r = ask(port, 66, 0, {"state_filters": [], "producer_id_filters": []})
        for s in r.transaction_states:
            out[s.transactional_id] = (s.producer_id, s.transaction_state)
    return out


def open_transaction_start(port: int, topic: str, partition: int, producer_id: int) -> int:
    """First offset of ``producer_id``'s open transaction on a partition (DescribeProducers to
    its leader at ``port``), or -1."""
    r = ask(port, 61, 0, {"topics": [{"name": topic, "partition_indexes": [partition]}]})
    p = r.topics[0].partitions[0]
    assert p.error_code == 0, p
    return next((a.current_txn_start_offset for a in p.active_producers if a.producer_id == producer_id), -1)


def kill_inside_transaction(victim: Instance, txn_ports: list[int], leader_port, timeout: float = 60) -> dict:
    """SIGKILL ``victim`` while one of its transactions holds output records: it is stopped
    (SIGSTOP), its producer's open transaction looked for on the output partitions (their leader
    is ``leader_port(topic)``), and killed if there is one, else let go on (SIGCONT) and tried
    again. Returns what was found: {topic: first offset of the open transaction}. (A commit the
    victim sent just before it stopped may still land: the kill is inside a transaction with
    output in all but such rare runs.)"""
    tids = victim.transactional_ids()
    assert tids, f"{victim.name} reported no thread names"
    found: dict = {}

    def stopped_inside() -> bool:
        victim.check_alive()
        pids = {tid: info[0] for tid, info in transactions(txn_ports).items() if tid in tids}
        assert set(pids) == set(tids), (tids, pids)
        victim.proc.send_signal(signal.SIGSTOP)
        try:
            for topic in (COUNTS_OUT, WINDOWED_OUT):
                for pid in pids.values():
                    first = open_transaction_start(leader_port(topic), topic, 0, pid)
                    if first >= 0:
                        found[topic] = first
        finally:
            if not found:
                victim.proc.send_signal(signal.SIGCONT)
        if found:
            victim.kill()
        return bool(found)

    wait_for(stopped_inside, timeout, 0.05, what=f"{victim.name} inside a transaction with output")
    found["transactional_ids"] = tids
    return found
