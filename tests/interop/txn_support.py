"""Shared pieces of the transaction interop tests (tests/interop/test_transactions_*.py).

- :func:`txn_broker_overrides`: what every transaction module's broker runs with: timed-out
  transactions are looked for every 200 ms (Kafka's default is 10 s), so a test that waits for a
  killed producer's transaction to be aborted waits about its ``transaction.timeout.ms``; fewer
  internal partitions than the default 50 so the first FindCoordinator is quick.
  :func:`broker_fixture` makes a module's ``bs`` fixture: one such broker, its bootstrap.
- The scenarios every client runs: :func:`across_topics` and :data:`ROUNDS` with
  :func:`round_values` (commit, abort, commit across topics and partitions), written by
  :func:`produce_rounds` and checked by :func:`check_rounds`; :func:`ctp_input`
  (the input of a consume-transform-produce run); :func:`topic_and_id` (fencing, a killed producer).
- A neutral reader (Odradek's own client, checked on its own in test_transactions_odradek.py):
  :func:`read` reads partitions from the start to their end under one isolation level.
- :func:`lso`, :func:`describe`, :func:`committed`: ListOffsets(read_committed), DescribeTransactions
  and OffsetFetch(require_stable) as plain functions.
- :func:`expect_ctp`: what a consume-transform-produce run must leave behind
  (:func:`expect_ctp_one_abort`: and one transaction aborted on the way, :func:`offsets_not_ahead`).
- :class:`Hanger`: a producer in another process that opens a transaction, writes into it, says
  so on stdout and waits to be SIGKILLed; :func:`check_killed_producer` is the check that follows.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence

import pytest

from helpers import ROOT, BrokerProcess, odradek_env, track
from interop_clients import uniq

from odradek.client import Admin, Consumer, NewTopic, Producer, TopicPartition

KILL_TIMEOUT_MS = 3000  # transaction.timeout.ms of the producers that get SIGKILLed


def txn_broker_overrides(**extra: str) -> dict[str, str]:
    return {
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
        "transaction.state.log.num.partitions": "8",
        "offsets.topic.num.partitions": "8",
        **extra,
    }


def broker_fixture(name: str, check: Callable[[], None] | None = None):
    """A module-scoped fixture: one broker with :func:`txn_broker_overrides` (data in a temporary
    folder named ``name``), giving its bootstrap. ``check`` runs first (a tool the module needs)."""

    @pytest.fixture(scope="module")
    def bs(tmp_path_factory):
        if check is not None:
            check()
        b = BrokerProcess(tmp_path_factory.mktemp(name) / "data", overrides=txn_broker_overrides()).start()
        yield b.bootstrap
        b.kill()

    return bs


def run(coro):
    return asyncio.run(coro)


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    async def go() -> None:
        async with Admin(bootstrap) as a:
            await a.create_topics([NewTopic(t, n) for t, n in topics.items()])

    run(go())


def produce_plain(bootstrap: str, topic: str, values: Sequence[bytes], partition: int = 0, keys: Sequence[bytes] | None = None) -> None:
    async def go() -> None:
        async with Producer(bootstrap) as p:
            for i, v in enumerate(values):
                await p.send(topic, v, None if keys is None else keys[i], partition=partition)
            await p.flush()

    run(go())


def read(bootstrap: str, tps: Iterable[tuple[str, int]], isolation: str, timeout: float = 30.0) -> dict[tuple[str, int], list[tuple[int, bytes | None, bytes | None]]]:
    """Every record of ``tps`` from the log start to the end the broker gives for ``isolation``
    (the last stable offset for read_committed): {(topic, partition): [(offset, key, value)]}."""

    async def go():
        tplist = [TopicPartition(*tp) for tp in tps]
        out = {tuple(tp): [] for tp in tplist}
        async with Consumer(bootstrap, isolation_level=isolation, auto_offset_reset="earliest", fetch_max_wait_ms=100) as c:
            c.assign(tplist)
            ends = await c.end_offsets(tplist)
            deadline = time.monotonic() + timeout
            while True:
                for r in await c.poll(0.2):
                    out[(r.topic, r.partition)].append((r.offset, r.key, r.value))
                if all([await c.position(tp) >= ends[tp] for tp in tplist]):
                    return out
                if time.monotonic() > deadline:
                    raise AssertionError(f"reading {tplist} ({isolation}) did not reach {ends} in {timeout}s: got {out}")

    return run(go())


def visible_ends(bootstrap: str, tps: Iterable[tuple[str, int]], isolation: str) -> dict[tuple[str, int], int]:
    """Where a reader with ``isolation`` stops: the LSO for read_committed, else the high watermark."""
    end = lso if isolation == "read_committed" else high_watermark
    return {tp: end(bootstrap, *tp) for tp in tps}


def values(got: dict, tps: Iterable[tuple[str, int]] | None = None) -> dict[tuple[str, int], list[bytes | None]]:
    return {tp: [v for _o, _k, v in recs] for tp, recs in got.items() if tps is None or tp in tps}


def lso(bootstrap: str, topic: str, partition: int = 0) -> int:
    """ListOffsets latest with read_committed: the last stable offset."""

    async def go() -> int:
        async with Consumer(bootstrap, isolation_level="read_committed") as c:
            tp = TopicPartition(topic, partition)
            return (await c.end_offsets([tp]))[tp]

    return run(go())


def high_watermark(bootstrap: str, topic: str, partition: int = 0) -> int:
    async def go() -> int:
        async with Consumer(bootstrap) as c:
            tp = TopicPartition(topic, partition)
            return (await c.end_offsets([tp]))[tp]

    return run(go())


def describe(bootstrap: str, transactional_id: str):
    async def go():
        async with Admin(bootstrap) as a:
            return (await a.describe_transactions([transactional_id]))[transactional_id]

    return run(go())


def committed(bootstrap: str, group: str, tps: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
    """The group's committed offsets, read with require_stable (waits out pending transactional offsets)."""

    async def go():
        async with Consumer(bootstrap, group_id=group, isolation_level="read_committed") as c:
            res = await c.committed([TopicPartition(*tp) for tp in tps])
            return {tuple(tp): (om.offset if om is not None else None) for tp, om in res.items()}

    return run(go())


# --- the scenarios every client runs -------------------------------------------------------------

ROUNDS = (("one", True), ("two", False), ("three", True))  # (name, commit?): committed, aborted, committed


def across_topics(bootstrap: str, prefix: str) -> list[tuple[str, int]]:
    """Two new topics (three partitions and two): the partitions a transaction of each round writes
    to, two records each (:func:`round_values`)."""
    a, b = uniq(f"{prefix}-a"), uniq(f"{prefix}-b")
    create_topics(bootstrap, {a: 3, b: 2})
    return [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1)]


def round_values(tps: Iterable[tuple[str, int]], *names: str) -> dict[tuple[str, int], list[bytes]]:
    """What the rounds ``names`` wrote to each partition: ``{name}-{partition}-{i}``, i = 0, 1."""
    return {(t, part): [f"{n}-{part}-{i}".encode() for n in names for i in range(2)] for t, part in tps}


async def produce_rounds(tps: Sequence[tuple[str, int]], *, begin: Callable, send: Callable, flush: Callable,
                         commit: Callable, abort: Callable) -> None:
    """A client's producer runs :data:`ROUNDS`: each round ``begin()``, ``send(topic, partition,
    value)`` of two records to each partition (:func:`round_values`), then ``commit()``, or
    ``flush()`` (the records in the logs before the abort marker) and ``abort()``. Each callable
    may be a plain or an async function."""

    async def call(fn, *args):
        r = fn(*args)
        if inspect.iscoroutine(r):  # not any awaitable: kafka-python's send returns a future that is one
            await r

    for name, committed_round in ROUNDS:
        await call(begin)
        for t, part in tps:
            for i in range(2):
                await call(send, t, part, f"{name}-{part}-{i}".encode())
        if committed_round:
            await call(commit)
        else:
            await call(flush)
            await call(abort)


def check_rounds(bootstrap: str, tps: Sequence[tuple[str, int]], client_read: Callable) -> None:
    """After :func:`produce_rounds`: ``client_read(bootstrap, tps, isolation)`` (the client's own
    consumer) sees rounds one and three read_committed and all three read_uncommitted, and
    Odradek's reader agrees on read_committed."""
    for isolation, names in (("read_committed", ("one", "three")), ("read_uncommitted", ("one", "two", "three"))):
        got, want = client_read(bootstrap, tps, isolation), round_values(tps, *names)
        assert got == want, f"{isolation}: read {got}, expected {want}"
    got, want = values(read(bootstrap, tps, "read_committed")), round_values(tps, "one", "three")
    assert got == want, f"Odradek's reader (read_committed): {got}, expected {want}"


def ctp_input(bootstrap: str, prefix: str, n: int = 24) -> tuple[str, str, str, list[bytes]]:
    """(input topic, output topic, group, input values) of a consume-transform-produce run: both
    topics created with one partition, the ``n`` input values written (not in a transaction)."""
    inp, out, group = uniq(f"{prefix}-in"), uniq(f"{prefix}-out"), uniq(f"{prefix}-g")
    create_topics(bootstrap, {inp: 1, out: 1})
    inputs = [f"v{i}".encode() for i in range(n)]
    produce_plain(bootstrap, inp, inputs)
    return inp, out, group, inputs


def topic_and_id(bootstrap: str, prefix: str) -> tuple[str, str]:
    """A new topic of one partition and a new transactional id, both named after ``prefix``."""
    topic = uniq(prefix)
    create_topics(bootstrap, {topic: 1})
    return topic, uniq(f"{prefix}-tid")


def transform(v: bytes) -> bytes:
    """What every consume-transform-produce loop of these tests writes for an input value."""
    return b"out:" + v


def expect_ctp(bootstrap: str, inp: str, out: str, group: str, inputs: Sequence[bytes]) -> None:
    """After a consume-transform-produce run over ``inputs`` (one input partition, one output
    partition): the committed output is each input transformed, exactly once and in order, and the
    group's committed offset is the end of the input."""
    got = values(read(bootstrap, [(out, 0)], "read_committed"))[(out, 0)]
    assert got == [transform(v) for v in inputs], f"committed output {got}"
    assert committed(bootstrap, group, [(inp, 0)]) == {(inp, 0): len(inputs)}


def expect_ctp_one_abort(bootstrap: str, inp: str, out: str, group: str, inputs: Sequence[bytes], checks: list[tuple[int, int]]) -> None:
    """:func:`expect_ctp`, after a run that aborted one transaction on purpose and checked
    :func:`offsets_not_ahead` then (``checks``): the transactions committed before it had moved
    the group's offset and the output together."""
    assert len(checks) == 1 and checks[0][0] == checks[0][1] > 0, checks
    expect_ctp(bootstrap, inp, out, group, inputs)


def offsets_not_ahead(bootstrap: str, inp: str, out: str, group: str) -> tuple[int, int]:
    """(committed input offset, committed output records): with one output record per input
    record the offset may never be ahead of the output the transactions committed."""
    c = committed(bootstrap, group, [(inp, 0)])[(inp, 0)] or 0
    n = len(read(bootstrap, [(out, 0)], "read_committed")[(out, 0)])
    assert c <= n, f"group offset {c} is ahead of the {n} committed output records"
    return c, n


# --- a producer killed inside its transaction -----------------------------------------------------


class Hanger:
    """A process that opens a transaction, writes ``value`` to ``topic``-0 in it, prints one JSON
    line (``{"sent": true, ...}``) and waits; :meth:`kill` sends SIGKILL."""

    def __init__(self, argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        self.proc = track(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or str(ROOT), env=odradek_env(env), text=True))
        self.line = self._read_line(timeout)

    def _read_line(self, timeout: float) -> dict:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = self.proc.stdout.readline()
                if not line:
                    break
                line = line.strip()
                if line.startswith("{"):
                    return json.loads(line)
            elif self.proc.poll() is not None:
                break
        self.proc.kill()
        err = self.proc.stderr.read()[-4000:] if self.proc.stderr else ""
        raise AssertionError(f"the transactional producer never said it had sent (rc {self.proc.poll()}): {err}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def python_hanger(client: str, bootstrap: str, topic: str, transactional_id: str, value: str) -> Hanger:
    """A Python process (one of the clients here) hanging inside a transaction."""
    script = PY_HANGERS[client].format(bs=bootstrap, topic=topic, tid=transactional_id, value=value, timeout=KILL_TIMEOUT_MS)
    return Hanger([sys.executable, "-c", script])


PY_HANGERS = {
    "odradek": """
import asyncio, json, sys
from odradek.client import Producer
async def main():
    p = Producer("{bs}", transactional_id="{tid}", transaction_timeout_ms={timeout})
    await p.init_transactions()
    await p.begin_transaction()
    md = await p.send_and_wait("{topic}", b"{value}", partition=0)
    print(json.dumps({{"sent": True, "offset": md.offset}}), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
""",
    "confluent": """
import json, time
from confluent_kafka import Producer
p = Producer({{"bootstrap.servers": "{bs}", "transactional.id": "{tid}", "transaction.timeout.ms": {timeout}}})
p.init_transactions(30)
p.begin_transaction()
offs = []
p.produce("{topic}", b"{value}", partition=0, on_delivery=lambda err, m: offs.append(m.offset()))
p.flush(30)
print(json.dumps({{"sent": True, "offset": offs[0]}}), flush=True)
time.sleep(3600)
""",
    "kafka-python": """
import json, time
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers="{bs}", transactional_id="{tid}", transaction_timeout_ms={timeout})
p.init_transactions()
p.begin_transaction()
md = p.send("{topic}", b"{value}", partition=0).get(30)
print(json.dumps({{"sent": True, "offset": md.offset}}), flush=True)
time.sleep(3600)
""",
    "aiokafka": """
import asyncio, json
from aiokafka import AIOKafkaProducer
async def main():
    p = AIOKafkaProducer(bootstrap_servers="{bs}", transactional_id="{tid}", enable_idempotence=True, transaction_timeout_ms={timeout})
    await p.start()
    await p.begin_transaction()
    md = await p.send_and_wait("{topic}", b"{value}", partition=0)
    print(json.dumps({{"sent": True, "offset": md.offset}}), flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
""",
}


def check_killed_producer(bootstrap: str, topic: str, transactional_id: str, hanger: Hanger, read_committed_values) -> None:
    """``hanger`` wrote :data:`HANG_VALUE` into an open transaction at ``hanger.line["offset"]`` of
    ``topic``-0. Kill it; write a committed record after it; a read_committed consumer
    (``read_committed_values()`` returns the values the client under test read up to that record)
    must not see that record before the coordinator aborted the dead producer's transaction (after
    its transaction.timeout.ms), must see it after, and never sees the dead producer's record."""
    start = hanger.line["offset"]
    d1 = describe(bootstrap, transactional_id)
    hanger.kill()
    killed_at = time.monotonic()
    produce_plain(bootstrap, topic, [b"after-the-kill"])
    stable = lso(bootstrap, topic)
    d2 = describe(bootstrap, transactional_id)
    assert d1.state in ("Ongoing", "PrepareAbort", "CompleteAbort"), d1
    if d2.state == "Ongoing":  # the transaction was open while the LSO was read
        assert (topic, 0) in [tuple(tp) for tp in d2.partitions], d2
        assert stable == start, f"LSO {stable} while a transaction is open at {start}"
    got = read_committed_values()
    waited = time.monotonic() - killed_at
    # the consumer got the later record, so the LSO passed the dead transaction: it must be aborted
    d3 = describe(bootstrap, transactional_id)
    assert d3.state in ("PrepareAbort", "CompleteAbort"), d3
    assert d3.producer_id == d1.producer_id
    if d1.state == "Ongoing":
        assert d3.producer_epoch == d1.producer_epoch + 1  # the coordinator fenced the dead producer
    assert b"after-the-kill" in got and HANG_VALUE.encode() not in got, got
    assert waited < KILL_TIMEOUT_MS / 1000 + 30, f"read_committed waited {waited:.1f}s for a {KILL_TIMEOUT_MS} ms transaction timeout"
    assert lso(bootstrap, topic) == high_watermark(bootstrap, topic)


HANG_VALUE = "in-the-killed-transaction"
