"""Edge cases of size and scale, as a Kafka user meets them: batches right at the broker's
``message.max.bytes`` (1 MiB + 12), fetch responses bounded by ``fetch.max.bytes``, a topic with
100 partitions written round robin, hundreds of topics, and topic names at the 249-character limit.

Every assertion is what a real Kafka broker does with the same client calls.
"""

from __future__ import annotations

import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from helpers import wait_for  # noqa: E402
from interop_clients import (  # noqa: E402
    Rec,
    ak_consume,
    check_consumed,
    ck_admin,
    ck_config,
    ck_consume,
    ck_create_topic,
    ck_produce,
    kp_consume,
    kp_produce,
    uniq,
    until_from,
)

pytestmark = pytest.mark.interop

# Kafka's default message.max.bytes (and topic max.message.bytes): 1 MiB plus the 12 bytes of
# offset and length in front of each batch.
KAFKA_MAX_MESSAGE_BYTES = 1048588


def _value(tag: int, size: int) -> bytes:
    head = b"%08d|" % tag
    return head + bytes((tag + i) % 251 for i in range(256)) * ((size - len(head)) // 256) + b"z" * ((size - len(head)) % 256)


# --- batches near message.max.bytes -------------------------------------------------------------


def test_record_batch_just_under_and_over_message_max_bytes(shared_broker):
    """An uncompressed batch of ~1,048,300 bytes is taken (the limit is 1,048,588 including the
    12-byte log overhead); one a few hundred bytes over it is refused with MESSAGE_TOO_LARGE and
    nothing is appended. Every client reads the big record back with its default fetch sizes
    (max.partition.fetch.bytes = 1 MiB is smaller than the batch: KIP-74 still returns it)."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-1mb")
    ck_create_topic(bs, topic, 1)
    big = _value(1, 1_048_200)
    ck_produce(bs, topic, [Rec(b"k", big, (), None, 0)], **{"message.max.bytes": 2_000_000})
    with pytest.raises(AssertionError, match="MSG_SIZE_TOO_LARGE"):
        ck_produce(bs, topic, [Rec(b"k", _value(2, 1_048_700), (), None, 0)], **{"message.max.bytes": 2_000_000, "message.timeout.ms": 5000})
    assert until_from(bs, topic, 1) == {0: 1}
    # The batch of exactly what is left after one more small record is still fine.
    ck_produce(bs, topic, [Rec(None, b"small", (), None, 0)])

    want = [Rec(b"k", big, (), None, 0), Rec(None, b"small", (), None, 0)]
    for reader in (ck_consume, kp_consume, ak_consume):
        got = reader(bs, topic, {0: 2}, timeout=20)
        check_consumed(want, [0, 0], got, check_timestamps=False)


def test_kafka_python_near_limit_with_compression(shared_broker):
    """kafka-python packs several ~300 KB records into compressed batches; the broker's limit
    is on the compressed (stored) size, so a batch of 3 MB of compressible data is taken."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-1mb-gz")
    ck_create_topic(bs, topic, 1)
    recs = [Rec(b"k%d" % i, b"%d" % i * 300_000, (), None, 0) for i in range(1, 10)]
    kp_produce(bs, topic, recs, codec="gzip", max_request_size=4_000_000, batch_size=4_000_000, linger_ms=50)
    got = kp_consume(bs, topic, {0: len(recs)}, timeout=20)
    check_consumed(recs, [0] * len(recs), got, check_timestamps=False)


def test_fetch_max_bytes_bounds_each_response(shared_broker):
    """Four partitions, each with three ~600 KB batches (7.2 MB in all). With
    fetch.max.bytes=1,000,000 and receive.message.max.bytes just above it, librdkafka fails any
    fetch response larger than it asked for: the broker must stop after the first batch that
    does not fit (only the very first batch of a response may exceed the limit, KIP-74)."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-fmb")
    ck_create_topic(bs, topic, 4)
    recs = [Rec(b"k%d" % i, _value(i, 600_000), (), None, i % 4) for i in range(12)]
    ck_produce(bs, topic, recs, **{"message.max.bytes": 1_000_000, "linger.ms": 0, "batch.num.messages": 1})
    parts = [i % 4 for i in range(12)]

    got = ck_consume(
        bs,
        topic,
        {p: 3 for p in range(4)},
        timeout=30,
        **{
            "fetch.max.bytes": 1_000_000,
            "max.partition.fetch.bytes": 1_000_000,
            "receive.message.max.bytes": 1_000_512 + 100_000,
            "fetch.message.max.bytes": 1_000_000,
        },
    )
    check_consumed(recs, parts, got, check_timestamps=False)

    got = kp_consume(bs, topic, {p: 3 for p in range(4)}, timeout=30, fetch_max_bytes=1_000_000, max_partition_fetch_bytes=700_000)
    check_consumed(recs, parts, got, check_timestamps=False)
    got = ak_consume(bs, topic, {p: 3 for p in range(4)}, timeout=30, fetch_max_bytes=1_000_000, max_partition_fetch_bytes=700_000)
    check_consumed(recs, parts, got, check_timestamps=False)


# --- many partitions, many topics ---------------------------------------------------------------


def test_hundred_partitions_round_robin(shared_broker):
    """One topic with 100 partitions: metadata lists them all with a leader; records sent round
    robin (explicit partitions) by two clients read back per partition in order by each client."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-p100")
    n = 100
    ck_create_topic(bs, topic, n)
    md = ck_admin(bs).list_topics(timeout=10).topics[topic]
    assert sorted(md.partitions) == list(range(n))
    assert all(p.leader == 0 and p.error is None for p in md.partitions.values())

    recs = [Rec(b"k%d" % i, b"ck value %d" % i, (), None, i % n) for i in range(5 * n)]
    parts = ck_produce(bs, topic, recs)
    assert parts == [i % n for i in range(5 * n)]
    recs2 = [Rec(None, b"kp value %d" % i, (), None, i % n) for i in range(3 * n)]
    parts2 = kp_produce(bs, topic, recs2)
    assert parts2 == [i % n for i in range(3 * n)]
    assert until_from(bs, topic, n) == {p: 8 for p in range(n)}

    want = recs + recs2
    wparts = parts + parts2
    for reader in (ck_consume, kp_consume, ak_consume):
        got = reader(bs, topic, {p: 8 for p in range(n)}, timeout=30)
        check_consumed(want, wparts, got, check_timestamps=False)


def test_hundred_partitions_group_consumer(shared_broker):
    """A librdkafka group consumer subscribed to a 100-partition topic gets all 100 assigned and
    reads every record (keyless records spread by the default partitioner)."""
    from confluent_kafka import Consumer

    bs = shared_broker.bootstrap
    topic = uniq("edge-p100g")
    ck_create_topic(bs, topic, 100)
    recs = [Rec(None, b"v%d" % i, (), None, i % 100) for i in range(300)]
    ck_produce(bs, topic, recs)
    c = Consumer(ck_config(bs, **{"group.id": uniq("edge-g100"), "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    seen = set()
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(seen) < 300 and time.monotonic() < deadline:
            for m in c.consume(500, 0.2):
                assert m.error() is None, m.error()
                seen.add((m.partition(), m.offset(), m.value()))
        assigned = {tp.partition for tp in c.assignment()}
    finally:
        c.close()
    assert assigned == set(range(100))
    assert len(seen) == 300
    assert {(p, o) for p, o, _ in seen} == {(p, o) for p in range(100) for o in range(3)}


def test_hundreds_of_topics(shared_broker):
    """200 topics created in one CreateTopics request, one record each, all read back through one
    assignment, listed in metadata, then deleted in one DeleteTopics request."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer

    bs = shared_broker.bootstrap
    prefix = uniq("edge-many")
    names = [f"{prefix}-{i:03d}" for i in range(200)]
    admin = ck_admin(bs)
    fs = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in names], operation_timeout=30, request_timeout=60)
    for t, f in fs.items():
        f.result(timeout=60)
    listed = set(admin.list_topics(timeout=20).topics)
    assert set(names) <= listed

    p = Producer(ck_config(bs, **{"linger.ms": 20}))
    errors = []
    for t in names:
        p.produce(t, value=t.encode(), key=b"k", on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0
    assert not errors, errors[:3]

    c = Consumer(ck_config(bs, **{"group.id": uniq("edge-many"), "enable.auto.commit": False, "fetch.wait.max.ms": 100}))
    got = {}
    try:
        c.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in names])
        deadline = time.monotonic() + 30
        while len(got) < len(names) and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                assert m.error() is None, m.error()
                got[m.topic()] = (m.offset(), m.value())
    finally:
        c.close()
    assert got == {t: (0, t.encode()) for t in names}

    fs = admin.delete_topics(names, operation_timeout=30, request_timeout=60)
    for t, f in fs.items():
        f.result(timeout=60)
    wait_for(lambda: not (set(names) & set(admin.list_topics(timeout=10).topics)), 15, 0.1, "200 topics gone from metadata")


# --- topic names at the length limit ---------------------------------------------------------------


def test_topic_name_at_249_chars(shared_broker):
    """249 characters is Kafka's longest legal topic name: create, produce, consume, delete and
    recreate it; 250 characters is INVALID_TOPIC_EXCEPTION (also when auto-created by metadata)."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    stem = uniq("edge-long")
    topic = (stem + "-" + "x" * 300)[:249]
    too_long = (stem + "-" + "y" * 300)[:250]
    ck_create_topic(bs, topic, 2)
    fs = admin.create_topics([NewTopic(too_long, num_partitions=1, replication_factor=1)], operation_timeout=10, request_timeout=15)
    with pytest.raises(KafkaException) as ei:
        fs[too_long].result(timeout=20)
    assert ei.value.args[0].code() == KafkaError.TOPIC_EXCEPTION

    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, i % 2) for i in range(10)]
    kp_produce(bs, topic, recs, codec="lz4")
    got = ck_consume(bs, topic, {0: 5, 1: 5})
    check_consumed(recs, [i % 2 for i in range(10)], got, check_timestamps=False)

    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, 10, 0.1, "long topic deleted")
    leftovers = [p.name for p in shared_broker.data_dir.iterdir() if p.name.startswith(stem[:40])]
    wait_for(lambda: not [p for p in shared_broker.data_dir.iterdir() if p.name.startswith(stem[:40])], 10, 0.1,
             f"partition directories of the deleted topic removed (left: {leftovers})")

    ck_create_topic(bs, topic, 3)
    recs = [Rec(b"n%d" % i, b"new%d" % i, (), None, i % 3) for i in range(6)]
    ck_produce(bs, topic, recs)
    got = kp_consume(bs, topic, {0: 2, 1: 2, 2: 2})
    check_consumed(recs, [i % 3 for i in range(6)], got, check_timestamps=False)
