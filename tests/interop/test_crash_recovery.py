"""kill -9 at any moment, torn tails: the broker restarts with every acknowledged record."""

from __future__ import annotations

import random
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import BrokerProcess, wait_for

pytestmark = pytest.mark.interop


def _create(bootstrap: str, topic: str, partitions: int, **configs) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics(
        [NewTopic(topic, partitions, 1, config={k.replace("_", "."): str(v) for k, v in configs.items()})]
    )
    for f in fs.values():
        f.result(10)


def _read_all(bootstrap: str, topic: str, partitions: int, expect: int) -> dict[int, list[tuple[int, bytes]]]:
    """Every record up to each partition's high watermark. Reading stops on positions, not on a
    count: the log may also hold records that were written but never acknowledged (in flight at
    the kill), and a count would stop before the end of a partition."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-reader", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    tps = [TopicPartition(topic, p, 0) for p in range(partitions)]
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(partitions)}
    c.assign(tps)
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    position = {p: 0 for p in range(partitions)}

    def more():
        for m in c.consume(1000, 0.5):
            if m.error() is None:
                got[m.partition()].append((m.offset(), m.value()))
                position[m.partition()] = m.offset() + 1
        return all(position[p] >= ends[p] for p in range(partitions))

    try:
        wait_for(more, 30, what=f"every partition read to its end {ends}")
    finally:
        c.close()
    assert sum(len(v) for v in got.values()) >= expect
    return got


@pytest.mark.parametrize("flush_messages", [None, 1])
def test_acknowledged_records_survive_repeated_kill_9(tmp_path, flush_messages):
    rng = random.Random(7)
    overrides = {"log.segment.bytes": "65536"}
    if flush_messages:
        overrides["log.flush.interval.messages"] = str(flush_messages)
    broker = BrokerProcess(tmp_path / "data", overrides=overrides).start()
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    _create(broker.bootstrap, topic, 2)
    acked: dict[int, dict[int, bytes]] = {0: {}, 1: {}}
    seq = 0
    try:
        for _round in range(4):
            p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                          "enable.idempotence": False, "message.timeout.ms": 3000, "retries": 0})

            def done(err, msg):
                if err is None:
                    acked[msg.partition()][msg.offset()] = msg.value()

            target = sum(len(v) for v in acked.values()) + rng.randrange(200, 2000)
            while sum(len(v) for v in acked.values()) < target:
                for _ in range(50):
                    p.produce(topic, value=b"v%08d" % seq + b"x" * rng.randrange(0, 300), partition=seq % 2, callback=done)
                    seq += 1
                p.poll(0.01)
            broker.kill()  # SIGKILL with requests possibly in flight
            p.flush(5)
            broker.start()
        total = sum(len(v) for v in acked.values())
        got = _read_all(broker.bootstrap, topic, 2, total)
        for part, records in got.items():
            offsets = [o for o, _ in records]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
            by_offset = dict(records)
            for off, value in acked[part].items():
                assert by_offset.get(off) == value, f"acknowledged {topic}-{part}@{off} lost or changed"
    finally:
        broker.kill()


def test_torn_tail_is_truncated_and_the_rest_served(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    topic = f"torn-{uuid.uuid4().hex[:8]}"
    _create(broker.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(100):
        p.produce(topic, value=b"r%d" % i)
        p.flush(5)
    broker.kill()
    seg = sorted((tmp_path / "data" / f"{topic}-0").glob("*.log"))[-1]
    with open(seg, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x64\x00\x00\x01\x00" + b"\xab" * 40)  # a half-written batch
    broker.start()
    try:
        got = _read_all(broker.bootstrap, topic, 1, 100)
        assert [v for _, v in got[0]] == [b"r%d" % i for i in range(100)]
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
        delivered = []
        p.produce(topic, value=b"after", callback=lambda e, m: delivered.append((e, m.offset())))
        p.flush(10)
        assert delivered == [(None, 100)]
    finally:
        broker.kill()
