"""Edge cases of the topic lifecycle and group offsets, as a Kafka user meets them: a topic deleted
under a consuming group and recreated with more partitions, auto-creation on produce from each
Python client, consumers with allow.auto.create.topics=false, a broker with auto-creation off, and
committed offsets carrying metadata.

Every assertion is what a real Kafka broker does with the same client calls.
"""

from __future__ import annotations

import asyncio
import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
kafka = pytest.importorskip("kafka")

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition  # noqa: E402

from helpers import BrokerProcess, wait_for  # noqa: E402
from interop_clients import (  # noqa: E402
    Rec,
    ak_produce,
    ck_admin,
    ck_config,
    ck_create_topic,
    ck_produce,
    kjs,
    kafkajs_available,
    kp_produce,
    uniq,
    until_from,
)

pytestmark = pytest.mark.interop

NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: nothing committed


def _all_topics(bs: str) -> set[str]:
    # list_topics() without a topic asks for all topics: it can never auto-create one.
    return set(ck_admin(bs).list_topics(timeout=10).topics)


def _committed(bs: str, group: str) -> dict[tuple[str, int], tuple[int, str | None]]:
    admin = ck_admin(bs)  # held until the result is in: a collected AdminClient never answers
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(timeout=15)
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in res.topic_partitions}


def _group_consumer(bs: str, group: str, **extra) -> Consumer:
    conf = {
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "topic.metadata.refresh.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(ck_config(bs, **conf))


# --- delete a topic under a group, recreate it with more partitions ----------------------------------


def test_deleted_topic_drops_committed_offsets(shared_broker):
    """Kafka removes every group's committed offsets of a deleted topic. A group that committed
    offset 20 on the old topic therefore reads the recreated topic (3 partitions) from the
    start: all 90 new records, none skipped."""
    bs = shared_broker.bootstrap
    topic, group = uniq("edge-delc"), uniq("edge-delc-g")
    ck_create_topic(bs, topic, 1)
    ck_produce(bs, topic, [Rec(b"k", b"old%d" % i, (), None, 0) for i in range(20)])
    c = _group_consumer(bs, group)
    try:
        c.subscribe([topic])
        n = 0
        deadline = time.monotonic() + 20
        while n < 20 and time.monotonic() < deadline:
            n += sum(1 for m in c.consume(100, 0.2) if m.error() is None)
        assert n == 20
        c.commit(asynchronous=False)
    finally:
        c.close()
    assert _committed(bs, group)[(topic, 0)][0] == 20

    admin = ck_admin(bs)
    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    wait_for(lambda: topic not in _all_topics(bs), 10, 0.1, "topic gone")
    after = _committed(bs, group)
    assert after.get((topic, 0), (NO_OFFSET, None))[0] == NO_OFFSET, f"offsets of the deleted topic still committed: {after}"

    ck_create_topic(bs, topic, 3)
    ck_produce(bs, topic, [Rec(b"k", b"new%d" % i, (), None, i % 3) for i in range(90)])
    c = _group_consumer(bs, group)
    got = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 10
        while len(got) < 90 and time.monotonic() < deadline:
            got += [(m.partition(), m.offset()) for m in c.consume(100, 0.2) if m.error() is None]
    finally:
        c.close()
    assert sorted(got) == [(p, o) for p in range(3) for o in range(30)]


def test_live_group_consumer_through_delete_and_recreate_with_more_partitions(shared_broker):
    """A group consumer keeps polling while its topic is deleted and recreated with 3
    partitions: it gets the recreated topic's records from offset 0 of every partition."""
    bs = shared_broker.bootstrap
    topic, group = uniq("edge-dellive"), uniq("edge-dellive-g")
    ck_create_topic(bs, topic, 1)
    ck_produce(bs, topic, [Rec(b"k", b"old%d" % i, (), None, 0) for i in range(20)])
    c = _group_consumer(bs, group)
    errors = []
    got: list[tuple[int, int, bytes]] = []

    def pump(seconds: float, until=lambda: False):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            for m in c.consume(100, 0.1):
                if m.error() is not None:
                    errors.append(m.error())
                else:
                    got.append((m.partition(), m.offset(), m.value()))

    try:
        c.subscribe([topic])
        pump(20, lambda: len(got) >= 20)
        assert len(got) == 20
        c.commit(asynchronous=False)
        got.clear()
        admin = ck_admin(bs)
        admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
        # The consumer notices (metadata every 0.5 s) and gives the partition up.
        pump(15, lambda: not c.assignment())
        assert not c.assignment(), c.assignment()
        ck_create_topic(bs, topic, 3)
        ck_produce(bs, topic, [Rec(b"k", b"new%d" % i, (), None, i % 3) for i in range(90)])

        def caught_up():
            asg = c.assignment()
            if len(asg) != 3:
                return False
            return all(tp.offset == 30 for tp in c.position(asg))

        pump(15, caught_up)  # at the end of all three partitions (wherever it started)
    finally:
        c.close()
    assert all(e.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION) for e in errors), errors
    assert sorted((p, o) for p, o, _ in got) == [(p, o) for p in range(3) for o in range(30)]
    assert all(v.startswith(b"new") for _, _, v in got)


# --- auto-creation ------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_auto_create_on_produce(shared_broker, client):
    """Producing to an unknown topic creates it (the producer's Metadata request, with
    auto.create.topics.enable=true) with num.partitions=1, and the record is stored."""
    bs = shared_broker.bootstrap
    topic = uniq(f"edge-auto-{client}")
    recs = [Rec(b"k%d" % i, b"v%d" % i) for i in range(5)]
    if client == "kafka-python":
        parts = kp_produce(bs, topic, recs)
    else:
        parts = ak_produce(bs, topic, recs)
    assert parts == [0] * 5
    assert topic in _all_topics(bs)
    assert until_from(bs, topic, 1) == {0: 5}


def test_consumers_without_auto_create_leave_topics_alone(shared_broker):
    """A librdkafka consumer (allow.auto.create.topics=false by default) subscribing to a missing
    topic does not create it (Metadata v4+ with allow_auto_topic_creation=false) and reports
    it unknown; a consumer that allows auto-creation (kafka-python's default) creates it.

    (kafka-python 3.0.12 does not pass its own allow_auto_create_topics=False on to its
    metadata requests, so it cannot be checked with that client.)"""
    from kafka import KafkaConsumer

    bs = shared_broker.bootstrap
    t_ck, t_kp_yes = uniq("edge-noauto-ck"), uniq("edge-auto-kpc")
    c = _group_consumer(bs, uniq("edge-noauto"))
    try:
        c.subscribe([t_ck])
        deadline = time.monotonic() + 2.0
        codes = set()
        while time.monotonic() < deadline:
            codes |= {m.error().code() for m in c.consume(10, 0.1) if m.error() is not None}
    finally:
        c.close()
    assert codes <= {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}, codes
    assert t_ck not in _all_topics(bs)

    k = KafkaConsumer(t_kp_yes, bootstrap_servers=bs, group_id=None, allow_auto_create_topics=True, request_timeout_ms=15000)
    try:
        wait_for(lambda: k.poll(timeout_ms=100) is not None and t_kp_yes in _all_topics(bs), 10, what="auto-created by the consumer")
    finally:
        k.close()


@pytest.fixture
def no_auto_broker(tmp_path):
    b = BrokerProcess(tmp_path / "data", overrides={"auto.create.topics.enable": "false"}).start()
    yield b
    b.kill()


def test_broker_without_auto_create(no_auto_broker):
    """auto.create.topics.enable=false: producing to an unknown topic fails (librdkafka: the
    message times out, or UNKNOWN_TOPIC_OR_PART once topic.metadata.propagation.max.ms passed;
    kafka-python: the send times out waiting for metadata) and no topic appears."""
    bs = no_auto_broker.bootstrap
    t1, t2 = uniq("edge-off-ck"), uniq("edge-off-kp")
    with pytest.raises(AssertionError, match="UNKNOWN_TOPIC|Unknown topic|_MSG_TIMED_OUT"):
        ck_produce(bs, t1, [Rec(b"k", b"v")], **{"message.timeout.ms": 2000, "allow.auto.create.topics": True})
    from kafka.errors import KafkaTimeoutError

    with pytest.raises(KafkaTimeoutError):
        kp_produce(bs, t2, [Rec(b"k", b"v")], max_block_ms=1500)
    assert not {t1, t2} & _all_topics(bs)


@pytest.mark.skipif(not kafkajs_available(), reason="KafkaJS not installed")
def test_kafkajs_no_auto_create_flag(shared_broker):
    """KafkaJS producer with allowAutoTopicCreation=false against a missing topic: an error, and
    the topic is not created."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-kjs-noauto")
    (res,) = kjs(bs, {"op": "produce", "topic": topic, "messages": [{"key_b64": None, "value_b64": "dg=="}], "allowAutoTopicCreation": False}, retries=1)
    assert not res["ok"], res
    assert topic not in _all_topics(bs)


# --- committed offsets with metadata ----------------------------------------------------------------


def _kp_group_member_commit(bs: str, topic: str, group: str, offsets: dict[int, tuple[int, str | None]]) -> None:
    """A kafka-python member of ``group`` joins (subscribe), then commits ``offsets``."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    k = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                      request_timeout_ms=15000, fetch_max_wait_ms=100)
    try:
        k.subscribe([topic])
        wait_for(lambda: k.poll(timeout_ms=100) is not None and len(k.assignment()) == 3, 20, what="kafka-python member assigned")
        k.commit({KTP(topic, p): OffsetAndMetadata(o, md, -1) for p, (o, md) in offsets.items()})
    finally:
        k.close()


def _read_back_everywhere(bs: str, topic: str, group: str) -> dict[str, dict[int, tuple[int, str]]]:
    """The group's committed offsets and metadata as kafka-python and aiokafka read them."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTP

    out = {}
    ka = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
    try:
        kofs = ka.list_group_offsets({group: [KTP(topic, p) for p in range(3)]})[group]
        out["kafka-python"] = {tp.partition: (om.offset, om.metadata) for tp, om in kofs.items()}
    finally:
        ka.close()

    async def ak_committed():
        ac = AIOKafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
        await ac.start()
        try:
            res = await ac._coordinator.fetch_committed_offsets([ATP(topic, p) for p in range(3)])
            return {tp.partition: (om.offset, om.metadata) for tp, om in res.items()}
        finally:
            await ac.stop()

    out["aiokafka"] = asyncio.run(ak_committed())
    return out


def test_group_commits_offsets_with_metadata_and_fetches_them_back(shared_broker):
    """Members of a live group commit offsets with metadata and the clients read the same
    offsets and metadata back; a commit without metadata reads back as an empty string.

    confluent-kafka-python handles offset metadata as a NUL-terminated C string both ways, as
    against Kafka too: it sends the terminating NUL along (kafka-python then reads 'abc\\x00'),
    and reads metadata that other clients wrote without one past its end (garbage, or a
    UnicodeDecodeError). So what librdkafka commits is read back with librdkafka only, and what
    kafka-python commits with kafka-python and aiokafka."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-meta")
    ck_create_topic(bs, topic, 3)
    ck_produce(bs, topic, [Rec(b"k", b"v%d" % i, (), None, i % 3) for i in range(30)])

    # kafka-python member commits; everybody reads.
    group = uniq("edge-meta-kp")
    metas = {0: (7, "plain ascii"), 1: (8, "ünïcødé ✓ " * 10), 2: (9, None)}
    _kp_group_member_commit(bs, topic, group, metas)
    want = {p: (o, md or "") for p, (o, md) in metas.items()}
    assert _read_back_everywhere(bs, topic, group) == {"kafka-python": want, "aiokafka": want}

    # librdkafka member commits; librdkafka reads.
    group = uniq("edge-meta-ck")
    c = _group_consumer(bs, group)
    try:
        c.subscribe([topic])
        n = 0
        deadline = time.monotonic() + 20
        while n < 30 and time.monotonic() < deadline:
            n += sum(1 for m in c.consume(100, 0.2) if m.error() is None)
        assert n == 30
        offs = [TopicPartition(topic, p, o) if md is None else TopicPartition(topic, p, o, metadata=md) for p, (o, md) in metas.items()]
        res = c.commit(offsets=offs, asynchronous=False)
        assert all(tp.error is None for tp in res), res
        back = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert {tp.partition: (tp.offset, tp.metadata or "") for tp in back} == want
    finally:
        c.close()


def test_offset_metadata_limit_counts_characters(shared_broker):
    """Kafka checks offset.metadata.max.bytes (4096) against the metadata string's length()
    (characters), so 4096 'é' (8192 bytes of UTF-8) is taken, and 4097 ASCII characters are not."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.errors import OffsetMetadataTooLargeError
    from kafka.structs import OffsetAndMetadata

    bs = shared_broker.bootstrap
    topic = uniq("edge-meta-len")
    ck_create_topic(bs, topic, 1)
    k = KafkaConsumer(bootstrap_servers=bs, group_id=uniq("edge-meta-len"), enable_auto_commit=False, request_timeout_ms=15000)
    try:
        tp = KTP(topic, 0)
        with pytest.raises(OffsetMetadataTooLargeError):
            k.commit({tp: OffsetAndMetadata(2, "x" * 4097, -1)})
        k.commit({tp: OffsetAndMetadata(3, "é" * 4096, -1)})
        got = k.committed(tp, metadata=True)
        assert (got.offset, got.metadata) == (3, "é" * 4096)
    finally:
        k.close()
