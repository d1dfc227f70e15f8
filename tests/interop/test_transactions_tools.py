"""Hanging transactions and the tools that find and end them: Kafka's own kafka-transactions
(org.apache.kafka.tools.TransactionsCommand 4.4: list, describe, describe-producers,
find-hanging, abort) and ``odradek txn`` (the same commands), plus ``odradek consume --isolation``.

A *hanging* transaction is one a partition has open but no coordinator will ever end (KIP-664):
the classic way to get one is a transactional write the coordinator never heard of. KIP-890
verification refuses such writes, so this module's broker runs with
``transaction.partition.verification.enable=false`` and writes one with a raw Produce request.
A live transaction (open, known to its coordinator) sits beside it: the tools must not call that
one hanging."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import kafka_jvm
from helpers import BrokerProcess
from interop_clients import uniq
from txn_support import create_topics, high_watermark, lso, produce_plain, read, txn_broker_overrides, values
from wire import WireClient

from odradek.cli.main import main as odradek_main
from odradek.client import Consumer, TopicPartition
from odradek.client.sync import SyncProducer
from odradek.protocol import record_codec

pytestmark = pytest.mark.interop

PROGRAM = Path(kafka_jvm.JVM_DIR) / "programs" / "TransactionsTool.java"
TWENTY_MINUTES_MS = 20 * 60_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("txn-tools") / "data",
                      overrides=txn_broker_overrides(**{"transaction.partition.verification.enable": "false"})).start()
    yield b
    b.kill()


def hang(port: int, topic: str, partition: int, vals: list[bytes], age_ms: int = TWENTY_MINUTES_MS) -> tuple[int, int]:
    """Write ``vals`` as one transactional batch of a producer id no coordinator knows (an
    idempotent id from InitProducerId), timestamped ``age_ms`` ago; return (producer id, offset)."""
    w = WireClient(port)
    try:
        init = w.request(22, 1, {"transactional_id": None, "transaction_timeout": 60000})
        assert init.error_code == 0, init
        ts = int(time.time() * 1000) - age_ms
        batch = record_codec.build_batch([(None, v) for v in vals], producer_id=init.producer_id, producer_epoch=init.producer_epoch,
                                         base_sequence=0, is_transactional=True, base_timestamp=ts, timestamps=[ts] * len(vals))
        resp = w.request(0, 7, {"transactional_id": "nobody-knows-this-id", "acks": -1, "timeout": 5000, "topic_data": [
            {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]})
        (p,) = resp.responses[0].partition_responses
        assert p.error_code == 0, p
        return init.producer_id, p.base_offset
    finally:
        w.close()


def rows(table_text: str) -> list[list[str]]:
    """kafka-transactions' tables: tab-separated, padded columns; the header row first."""
    return [[c.strip() for c in line.split("\t")[:-1] or line.split("\t")] for line in table_text.splitlines() if line.strip()]


@pytest.fixture
def scene(broker):
    made = []

    def make(tag: str) -> "Scene":
        made.append(Scene(broker, tag))
        return made[-1]

    yield make
    for s in made:
        s.live.close()


class Scene:
    """A topic with a hanging transaction on partition 0 (records after it are stuck behind it for
    read_committed) and a live transaction of an Odradek producer on partition 1."""

    def __init__(self, broker: BrokerProcess, tag: str) -> None:
        bs = self.bs = broker.bootstrap
        self.topic = uniq(tag)
        create_topics(bs, {self.topic: 2})
        produce_plain(bs, self.topic, [b"before"])
        self.pid, self.start = hang(broker.port, self.topic, 0, [b"hanging-1", b"hanging-2"])
        produce_plain(bs, self.topic, [b"after"])
        self.live_tid = uniq("live")
        self.live = SyncProducer(bs, transactional_id=self.live_tid)
        self.live.init_transactions()
        self.live.begin_transaction()
        self.live.send_and_wait(self.topic, b"live", partition=1)
        assert lso(bs, self.topic, 0) == self.start == 1
        assert lso(bs, self.topic, 1) == 0

    def after_abort(self) -> None:
        """The hanging transaction was aborted: read_committed passes it and never shows it."""
        bs, topic = self.bs, self.topic
        assert lso(bs, topic, 0) == high_watermark(bs, topic, 0) == 5  # before, 2 hanging, after, ABORT marker
        assert values(read(bs, [(topic, 0)], "read_committed"))[(topic, 0)] == [b"before", b"after"]
        assert values(read(bs, [(topic, 0)], "read_uncommitted"))[(topic, 0)] == [b"before", b"hanging-1", b"hanging-2", b"after"]
        self.live.commit_transaction()
        assert values(read(bs, [(topic, 1)], "read_committed"))[(topic, 1)] == [b"live"]


def test_kafka_transactions_tool(scene):
    s = scene("kt")
    t = s.topic
    commands = [
        "list",
        "list --transactional-id-pattern ^live-",
        f"describe --transactional-id {s.live_tid}",
        f"describe-producers --topic {t} --partition 0",
        f"find-hanging --topic {t}",
        f"find-hanging --topic {t} --max-transaction-timeout 0",
        f"find-hanging --broker-id 0 --max-transaction-timeout 0",
        f"abort --topic {t} --partition 0 --start-offset {s.start}",
        f"find-hanging --topic {t} --max-transaction-timeout 0",
        f"describe-producers --topic {t} --partition 0",
        "describe --transactional-id no-such-transactional-id",
        f"abort --topic {t} --partition 0 --start-offset {s.start}",
    ]
    classes = kafka_jvm.compile_java([PROGRAM])
    cmd = kafka_jvm.java_command("TransactionsTool", [f"--bootstrap-server {s.bs} {c}" for c in commands], extra_cp=[classes], heap="256m")
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    (lst, lst_pattern, desc, producers, hanging15, hanging0, hanging_broker, abort, none_left, producers_after, unknown, abort_again) = res
    for r in res[:10]:
        assert r["rc"] == 0, r
    header, *listed = rows(lst["out"])
    assert header == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    assert [s.live_tid, "0", str(s.live.producer_id), "Ongoing"] in listed
    assert [r[0] for r in rows(lst_pattern["out"])[1:]] == [s.live_tid]

    header, row = rows(desc["out"])
    assert header == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState", "TransactionTimeoutMs",
                      "CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions"]
    assert row[:6] == ["0", s.live_tid, str(s.live.producer_id), str(s.live.producer_epoch), "Ongoing", "60000"]
    assert int(row[6]) > 0 and int(row[7]) >= 0 and row[8] == f"{t}-1"

    header, *prows = rows(producers["out"])
    assert header == ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset"]
    (row,) = [r for r in prows if r[0] == str(s.pid)]
    assert row[1:4] == ["0", "-1", "1"] and row[5] == str(s.start)
    assert all(r[5] == "None" for r in prows if r is not row)  # the idempotent producers of the plain records

    hang_header = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset", "LastTimestamp", "Duration(min)"]
    for found in (hanging15, hanging0, hanging_broker):
        header, *hung = rows(found["out"])
        assert header == hang_header
        # the live transaction is open too, but its coordinator lists the partition: not hanging
        assert [r[:6] for r in hung] == [[t, "0", str(s.pid), "0", "-1", str(s.start)]], found["args"]
        assert int(hung[0][7]) >= 19

    assert abort["out"] == "" and abort["err"] == ""
    assert rows(none_left["out"]) == [hang_header]
    (row,) = [r for r in rows(producers_after["out"])[1:] if r[0] == str(s.pid)]
    assert row[2] == "0" and row[5] == "None"  # the marker's coordinator epoch; nothing open

    assert unknown["rc"] == 1 and "no-such-transactional-id" in unknown["err"] and "TransactionalIdNotFoundException" not in unknown["out"]
    assert "could not be found" in unknown["err"].lower() or "transactionalid" in unknown["err"].lower(), unknown
    # nothing is open at that offset any more: the tool says so and fails
    assert abort_again["rc"] == 1 and f"Could not find any open transactions starting at offset {s.start}" in abort_again["err"]
    s.after_abort()


def odradek(capsys, *argv: str) -> tuple[int, str, str]:
    rc = odradek_main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_odradek_txn_commands(scene, capsys):
    s = scene("ot")
    t, bs = s.topic, s.bs

    rc, out, _ = odradek(capsys, "txn", "list", "-b", bs, "--format", "json")
    assert rc == 0 and {"transactional_id": s.live_tid, "coordinator": 0, "producer_id": s.live.producer_id, "state": "Ongoing"} in json.loads(out)
    rc, out, _ = odradek(capsys, "txn", "list", "-b", bs, "--state", "CompleteCommit", "--transactional-id-pattern", "^live-", "--format", "json")
    assert rc == 0 and s.live_tid not in [x["transactional_id"] for x in json.loads(out)]
    rc, out, _ = odradek(capsys, "txn", "list", "-b", bs, "--duration-filter", "0", "--producer-id", str(s.live.producer_id))
    assert rc == 0 and out.splitlines()[0].split() == ["TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"]
    assert out.splitlines()[1].split() == [s.live_tid, "0", str(s.live.producer_id), "Ongoing"]

    rc, out, _ = odradek(capsys, "txn", "describe", s.live_tid, "-b", bs, "--format", "json")
    d = json.loads(out)
    assert rc == 0 and d["state"] == "Ongoing" and d["partitions"] == [[t, 1]] and d["producer_epoch"] == s.live.producer_epoch
    assert d["timeout_ms"] == 60000 and d["start_time_ms"] > 0 and d["duration_ms"] >= 0
    rc, out, _ = odradek(capsys, "txn", "describe", "--transactional-id", s.live_tid, "-b", bs)
    assert rc == 0 and "Ongoing" in out and f"{t}-1" in out
    rc, _, err = odradek(capsys, "txn", "describe", "no-such-id", "-b", bs)
    assert rc == 4 and "does not exist" in err

    rc, out, _ = odradek(capsys, "txn", "describe-producers", "--topic", t, "--partition", "0", "-b", bs, "--format", "json")
    states = json.loads(out)
    (p,) = [p for p in states if p["producer_id"] == s.pid]
    assert rc == 0 and (p["producer_epoch"], p["coordinator_epoch"], p["last_sequence"], p["current_txn_start_offset"]) == (0, -1, 1, s.start)
    assert len(states) == 3 and all(q["current_txn_start_offset"] is None for q in states if q is not p)  # two plain producers
    rc, out, _ = odradek(capsys, "txn", "describe-producers", "--topic", t, "--partition", "0", "-b", bs)
    assert out.splitlines()[0].split() == ["PRODUCER-ID", "PRODUCER-EPOCH", "COORDINATOR-EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "TXN-START-OFFSET"]

    # the Python client: read_committed stops at the hanging transaction, and counts its lag to the LSO
    async def lags():
        out = {}
        for isolation in ("read_committed", "read_uncommitted"):
            async with Consumer(bs, isolation_level=isolation, fetch_max_wait_ms=100) as c:
                tp = TopicPartition(t, 0)
                c.assign([tp])
                c.seek(tp, 1)
                got = await c.poll(1.0, max_records=1)
                out[isolation] = ([r.value for r in got], await c.position(tp), c.highwater(tp), c.lag(tp))
        return out

    assert asyncio.run(lags()) == {"read_committed": ([], 1, 4, 0), "read_uncommitted": ([b"hanging-1"], 2, 4, 2)}

    # read_committed stops at the hanging transaction; read_uncommitted does not
    rc, out, _ = odradek(capsys, "consume", t, "-p", "0", "-b", bs, "--from-beginning", "--isolation", "read_committed", "--idle-timeout", "1.5")
    assert rc == 0 and out.split() == ["before"]
    rc, out, _ = odradek(capsys, "consume", t, "-p", "0", "-b", bs, "--from-beginning", "--idle-timeout", "1.5")
    assert rc == 0 and out.split() == ["before", "hanging-1", "hanging-2", "after"]

    for extra in ([], ["--max-transaction-timeout", "0"]):
        rc, out, _ = odradek(capsys, "txn", "find-hanging", "--topic", t, "-b", bs, "--format", "json", *extra)
        (h,) = json.loads(out)
        assert rc == 0 and (h["topic"], h["partition"], h["producer_id"], h["start_offset"]) == (t, 0, s.pid, s.start) and h["duration_minutes"] >= 19
    rc, out, _ = odradek(capsys, "txn", "find-hanging", "--broker-id", "0", "-b", bs, "--fail-if-found")
    assert rc == 1 and str(s.pid) in out
    rc, _, err = odradek(capsys, "txn", "find-hanging", "-b", bs)
    assert rc == 2 and "--topic or --broker-id" in err

    rc, _, err = odradek(capsys, "txn", "abort", "--topic", t, "--partition", "0", "-b", bs)
    assert rc == 2
    rc, _, err = odradek(capsys, "txn", "abort", "--topic", t, "--partition", "0", "--start-offset", "0", "-b", bs)
    assert rc == 4 and "no open transaction starts at offset 0" in err
    rc, out, _ = odradek(capsys, "txn", "abort", "--topic", t, "--partition", "0", "--start-offset", str(s.start), "-b", bs, "--format", "json")
    assert rc == 0 and json.loads(out) == {"topic": t, "partition": 0, "producer_id": s.pid, "producer_epoch": 0, "coordinator_epoch": 0, "aborted": True}

    rc, out, _ = odradek(capsys, "txn", "find-hanging", "--topic", t, "-b", bs, "--format", "json", "--max-transaction-timeout", "0", "--fail-if-found")
    assert rc == 0 and json.loads(out) == []
    rc, out, _ = odradek(capsys, "consume", t, "-p", "0", "-b", bs, "--from-beginning", "--isolation", "read_committed", "-n", "2")
    assert rc == 0 and out.split() == ["before", "after"]
    s.after_abort()


def test_odradek_txn_abort_by_producer_id(broker, capsys):
    """The form for brokers without DescribeProducers: producer id, epoch and coordinator epoch given."""
    bs = broker.bootstrap
    topic = uniq("byid")
    create_topics(bs, {topic: 1})
    pid, start = hang(broker.port, topic, 0, [b"x"])
    assert lso(bs, topic) == start
    rc, _, err = odradek(capsys, "txn", "abort", "--topic", topic, "--partition", "0", "--producer-id", str(pid), "-b", bs)
    assert rc == 2 and "--producer-epoch" in err
    # coordinator epoch -1 (no marker yet, as describe-producers shows it) is sent as 0, as Kafka's tool does
    rc, out, err = odradek(capsys, "txn", "abort", "--topic", topic, "--partition", "0", "--producer-id", str(pid), "--producer-epoch", "0",
                           "--coordinator-epoch", "-1", "-b", bs)
    assert rc == 0, err
    assert lso(bs, topic) == high_watermark(bs, topic) == start + 2
