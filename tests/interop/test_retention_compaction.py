"""Retention and compaction seen by confluent-kafka against a broker process.

Needs the broker wiring of the log package: ``LogManager.apply_retention`` every
``log.retention.check.interval.ms``, ``LogManager.start_cleaner`` (``log.cleaner.threads``,
``log.cleaner.io.max.bytes.per.second``, ``log.cleaner.backoff.ms``) and the compaction topic
configs (``delete.retention.ms``, ``min.cleanable.dirty.ratio``, ...) passed to LogConfig.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import BrokerProcess, wait_for
from odradek.protocol.records import scan

pytestmark = pytest.mark.interop

SEGMENT = 16384


def create(bootstrap: str, topic: str, **configs: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1, config=configs)]).values():
        f.result(10)


def produce(bootstrap: str, topic: str, records, *, acked: list | None = None, **conf) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2, "batch.size": 4096, **conf})
    errors = []

    def done(err, msg):
        if err is not None:
            errors.append(err)
        elif acked is not None:
            acked.append((msg.offset(), msg.key(), msg.value()))

    for key, value in records:
        while True:
            try:
                p.produce(topic, key=key, value=value, partition=0, callback=done)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(30) == 0
    if acked is None:
        assert not errors, errors


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
    finally:
        c.close()


def read_partition(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record from the log start to the high watermark: (offset, key, value)."""
    _, high = watermarks(bootstrap, topic)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out: list[tuple[int, bytes | None, bytes | None]] = []

    def done():
        for m in c.consume(1000, 0.5):
            if m.error() is None:
                out.append((m.offset(), m.key(), m.value()))
        return not high or (out and out[-1][0] >= high - 1)

    try:
        wait_for(done, 30, what=f"reading {topic} up to {high}")
    finally:
        c.close()
    return out


def partition_dir(broker: BrokerProcess, topic: str) -> Path:
    return broker.data_dir / f"{topic}-0"


def log_files(broker: BrokerProcess, topic: str) -> list[Path]:
    return sorted(partition_dir(broker, topic).glob("*.log"))


def crc_check(directory: Path) -> int:
    """Every batch of every segment is whole and its CRC verifies; returns the batch count."""
    return sum(len(scan(p.read_bytes(), verify_crc=True)) for p in sorted(directory.glob("*.log")))


def latest(records) -> dict[bytes, bytes]:
    out: dict[bytes, bytes | None] = {}
    for _offset, key, value in sorted(records, key=lambda r: r[0]):
        out[key] = value
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------------------------
# retention


def test_time_retention_deletes_old_segments_and_consumers_behind_reset(tmp_path):
    broker = BrokerProcess(tmp_path / "data", overrides={"log.retention.check.interval.ms": "1000"}).start()
    try:
        topic = f"ret-time-{uuid.uuid4().hex[:6]}"
        create(broker.bootstrap, topic, **{"segment.bytes": str(SEGMENT), "retention.ms": "4000"})
        produce(broker.bootstrap, topic, [(b"k%d" % i, b"x" * 200) for i in range(1500)])
        assert len(log_files(broker, topic)) > 5
        assert watermarks(broker.bootstrap, topic) == (0, 1500)
        # every segment goes, the active one too once all of it expired (as in Kafka: an empty
        # one is rolled at the log end); the log start moves to the end
        wait_for(lambda: watermarks(broker.bootstrap, topic) == (1500, 1500), 30, what="every old record deleted")
        assert [int(p.name[:20]) for p in log_files(broker, topic)] == [1500]
        # keep what comes next: retention off, then one record for the consumers below to find
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

        off = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("retention.ms", "-1", incremental_operation=AlterConfigOpType.SET)])
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for f in admin.incremental_alter_configs([off]).values():
            f.result(15)
        produce(broker.bootstrap, topic, [(b"fresh", b"y")])
        low, high = watermarks(broker.bootstrap, topic)
        assert (low, high) == (1500, 1501)

        # consumers at offset 0, now behind the log start, follow auto.offset.reset
        tp = TopicPartition(topic, 0, 0)
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "behind-earliest",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.assign([tp])
        first = wait_for(lambda: next((m for m in c.consume(10, 0.5) if m.error() is None), None), 15,
                         what="a record after the reset to earliest")
        assert first.offset() == low
        c.close()

        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "behind-error",
                      "auto.offset.reset": "error", "enable.auto.commit": False})
        c.assign([tp])
        err = wait_for(lambda: next((m.error() for m in c.consume(10, 0.5) if m.error() is not None), None), 15,
                       what="an offset-out-of-range error")
        assert err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE)
        c.close()

        stats: list[dict] = []
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "behind-latest",
                      "auto.offset.reset": "latest", "enable.auto.commit": False,
                      "statistics.interval.ms": 100, "stats_cb": lambda s: stats.append(json.loads(s))})
        c.assign([tp])

        def reset():  # the consumer's next fetch offset (from its statistics) is the end
            c.consume(10, 0.2)
            parts = [s["topics"].get(topic, {}).get("partitions", {}).get("0", {}) for s in stats[-2:]]
            return any(p.get("next_offset") == high for p in parts)

        wait_for(reset, 15, what="the reset to latest")
        produce(broker.bootstrap, topic, [(b"new", b"after")])
        got = wait_for(lambda: [m for m in c.consume(10, 0.5) if m.error() is None], 15, what="the new record")
        assert [(m.offset(), m.value()) for m in got] == [(high, b"after")]
        c.close()
    finally:
        broker.kill()


def test_size_retention_holds_the_partition_size(tmp_path):
    broker = BrokerProcess(tmp_path / "data", overrides={"log.retention.check.interval.ms": "1000"}).start()
    try:
        topic = f"ret-size-{uuid.uuid4().hex[:6]}"
        limit = 4 * SEGMENT
        create(broker.bootstrap, topic, **{"segment.bytes": str(SEGMENT), "retention.bytes": str(limit),
                                           "retention.ms": "-1"})
        produce(broker.bootstrap, topic, [(None, b"y" * 300) for _ in range(2000)])  # ~ 650 kB

        def size() -> int:
            return sum(p.stat().st_size for p in log_files(broker, topic))

        assert size() > 5 * limit
        wait_for(lambda: size() < limit + SEGMENT, 30, what="the size to come down")
        assert size() >= limit - SEGMENT  # whole segments only: never far below the limit
        low, high = watermarks(broker.bootstrap, topic)
        assert low > 0 and high == 2000
        records = read_partition(broker.bootstrap, topic)
        assert [o for o, _, _ in records] == list(range(low, high))
    finally:
        broker.kill()


# --------------------------------------------------------------------------------------------
# compaction

COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": str(SEGMENT),
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "3000",
}
CLEANER = {"log.cleaner.backoff.ms": "200", "log.cleaner.threads": "1"}


def test_compacted_topic_reads_back_the_latest_value_per_key(tmp_path):
    broker = BrokerProcess(tmp_path / "data", overrides=CLEANER).start()
    try:
        topic = f"compact-{uuid.uuid4().hex[:6]}"
        create(broker.bootstrap, topic, **COMPACTED)
        rng = random.Random(5)
        records: list[tuple[bytes, bytes | None]] = []
        for round_ in range(40):
            for k in range(40):
                records.append((b"key-%d" % k, b"v%d-%d-" % (round_, k) + b"z" * rng.randrange(100)))
        deleted = [b"key-%d" % k for k in range(10)]
        records += [(k, None) for k in deleted]  # tombstones
        records += [(b"key-5", b"back again")]  # one deleted key comes back
        records += [(b"filler-%d" % (i % 7), b"f" * 200) for i in range(300)]  # rolls the segments
        produce(broker.bootstrap, topic, records)
        expected: dict[bytes, bytes | None] = {}
        for k, v in records:
            expected[k] = v
        live = {k: v for k, v in expected.items() if v is not None}
        produced = len(records)

        def compacted():
            got = read_partition(broker.bootstrap, topic)
            return got if len(got) < produced // 3 else None

        got = wait_for(compacted, 60, interval=0.5, what="compaction")
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets))  # gaps, never disorder
        assert latest(got) == live
        crc_check(partition_dir(broker, topic))

        # after delete.retention.ms (and one more clean) the tombstones are gone too
        produce(broker.bootstrap, topic, [(b"filler-%d" % (i % 7), b"g" * 200) for i in range(300)])
        for i in range(300):
            expected[b"filler-%d" % (i % 7)] = b"g" * 200
        live = {k: v for k, v in expected.items() if v is not None}

        def tombstones_gone():
            got = read_partition(broker.bootstrap, topic)
            return got if not [k for _, k, v in got if v is None] else None

        got = wait_for(tombstones_gone, 60, interval=0.5, what="tombstones removed")
        assert latest(got) == live
        assert not {k for _, k, _ in got} & (set(deleted) - {b"key-5"})
    finally:
        broker.kill()


def test_keyless_record_refused_on_compacted_topic(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    try:
        topic = f"compact-nokey-{uuid.uuid4().hex[:6]}"
        create(broker.bootstrap, topic, **COMPACTED)
        acked: list = []
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "message.timeout.ms": 5000})
        errors = []
        p.produce(topic, value=b"no key", partition=0, callback=lambda e, m: errors.append(e))
        p.flush(10)
        assert errors and errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD
        produce(broker.bootstrap, topic, [(b"k", b"with key")], acked=acked)
        assert [(k, v) for _, k, v in acked] == [(b"k", b"with key")]
    finally:
        broker.kill()


def test_kill_9_while_the_cleaner_runs_loses_nothing(tmp_path):
    overrides = dict(CLEANER)
    overrides["log.cleaner.io.max.bytes.per.second"] = "300000"  # a clean takes seconds
    broker = BrokerProcess(tmp_path / "data", overrides=overrides).start()
    topic = f"compact-kill-{uuid.uuid4().hex[:6]}"
    rng = random.Random(11)
    acked: list[tuple[int, bytes, bytes | None]] = []
    try:
        create(broker.bootstrap, topic, **COMPACTED)
        directory = partition_dir(broker, topic)
        n = 0
        for _round in range(3):
            batch = []
            for _ in range(2500):
                key = b"key-%d" % rng.randrange(150)
                value = None if rng.random() < 0.05 else b"v%d-" % n + b"q" * rng.randrange(200)
                batch.append((key, value))
                n += 1
            produce(broker.bootstrap, topic, batch, acked=acked)

            def cleaning():
                return [p for p in directory.iterdir() if p.name.endswith((".cleaned", ".swap"))]

            wait_for(cleaning, 60, interval=0.01, what="a clean in progress")
            broker.kill()  # SIGKILL in the middle of a clean
            broker.start()
        broker.kill()
        assert crc_check(directory) > 0
        broker.start()
        got = read_partition(broker.bootstrap, topic)
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets))
        by_offset = {o: (k, v) for o, k, v in acked}
        for o, k, v in got:
            assert by_offset[o] == (k, v), f"offset {o} changed"
        assert latest(got) == latest(acked)
    finally:
        broker.kill()
