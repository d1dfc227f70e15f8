"""confluent-kafka 2.16 (librdkafka 2.16) against a real broker subprocess: admin, produce with
every codec and acks setting, group-less consume (assign, no commits), offsets by time, murmur2."""

from __future__ import annotations

import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import KafkaError, KafkaException, OFFSET_END, TopicPartition  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from interop_clients import (
    produce_time_rounds,  # noqa: E402
    CODECS,
    Rec,
    check_consumed,
    check_murmur2,
    ck_admin,
    ck_config,
    ck_consume,
    ck_create_topic,
    ck_produce,
    counts,
    first_at_or_after,
    time_queries,
    time_records,
    make_records,
    produce_rounds,
    stored_codecs,
    uniq,
    until_from,
    wait_end_offsets,
    wait_topic_partitions,
)
from murmur2 import partition_for  # noqa: E402

pytestmark = pytest.mark.interop

NP = 3


def _err_code(excinfo) -> int:
    err = excinfo.value.args[0]
    assert isinstance(err, KafkaError), excinfo.value
    return err.code()


def _create(admin, *topics: NewTopic, **kw):
    fs = admin.create_topics(list(topics), operation_timeout=10, request_timeout=15, **kw)
    return {t: f for t, f in fs.items()}


def _describe(admin, rtype, name) -> dict:
    res = ConfigResource(rtype, name)
    fs = admin.describe_configs([res], request_timeout=15)
    return fs[res].result(timeout=20)


# --- topics and metadata ------------------------------------------------------------------------


def test_create_topic_shows_in_metadata(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-create")
    admin = ck_admin(bs)
    assert _create(admin, NewTopic(topic, num_partitions=NP, replication_factor=1))[topic].result(timeout=20) is None
    md = admin.list_topics(topic, timeout=10)
    t = md.topics[topic]
    assert t.error is None
    assert sorted(t.partitions) == list(range(NP))
    for p in t.partitions.values():
        assert p.leader == 0 and p.replicas == [0] and p.isrs == [0]
    assert [b.id for b in md.brokers.values()] == [0]
    assert md.controller_id == 0


def test_create_topic_errors(shared_broker):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic = uniq("ck-dup")
    _create(admin, NewTopic(topic, num_partitions=1, replication_factor=1))[topic].result(timeout=20)

    with pytest.raises(KafkaException) as ei:
        _create(admin, NewTopic(topic, num_partitions=1, replication_factor=1))[topic].result(timeout=20)
    assert _err_code(ei) == KafkaError.TOPIC_ALREADY_EXISTS

    for bad in ("bad name with spaces", "a" * 250, "..", "semi;colon"):
        with pytest.raises(KafkaException) as ei:
            _create(admin, NewTopic(bad, num_partitions=1, replication_factor=1))[bad].result(timeout=20)
        assert _err_code(ei) == KafkaError.TOPIC_EXCEPTION, bad  # INVALID_TOPIC_EXCEPTION (17)

    name = uniq("ck-zero-parts")
    with pytest.raises(KafkaException) as ei:
        _create(admin, NewTopic(name, num_partitions=0, replication_factor=1))[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_PARTITIONS

    name = uniq("ck-rf2")
    with pytest.raises(KafkaException) as ei:
        _create(admin, NewTopic(name, num_partitions=1, replication_factor=2))[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_REPLICATION_FACTOR

    name = uniq("ck-badcfg")
    with pytest.raises(KafkaException) as ei:
        _create(admin, NewTopic(name, num_partitions=1, replication_factor=1, config={"retention.ms": "soon"}))[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_CONFIG

    # None of the failed creates left a topic behind.
    listed = admin.list_topics(timeout=10).topics
    assert not [t for t in listed if t.startswith(("ck-zero-parts", "ck-rf2", "ck-badcfg"))]


def test_create_topic_validate_only(shared_broker):
    admin = ck_admin(shared_broker.bootstrap)
    topic = uniq("ck-validate")
    _create(admin, NewTopic(topic, num_partitions=2, replication_factor=1), validate_only=True)[topic].result(timeout=20)
    assert topic not in admin.list_topics(timeout=10).topics


def test_create_partitions(shared_broker):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic = uniq("ck-grow")
    ck_create_topic(bs, topic, NP)
    fs = admin.create_partitions([NewPartitions(topic, 5)], operation_timeout=10, request_timeout=15)
    fs[topic].result(timeout=20)
    wait_topic_partitions(bs, topic, 5)

    # The new partitions take records, and keyed records now spread by murmur2 over 5.
    recs = make_records("ck-grow", 40, keyless_every=0, headers=False)
    parts = ck_produce(bs, topic, recs)
    check_murmur2(recs, parts, 5)
    assert set(parts) == set(range(5))
    got = ck_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=5)

    with pytest.raises(KafkaException) as ei:
        admin.create_partitions([NewPartitions(topic, 2)], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_PARTITIONS

    missing = uniq("ck-nosuch")
    with pytest.raises(KafkaException) as ei:
        admin.create_partitions([NewPartitions(missing, 4)], operation_timeout=10, request_timeout=15)[missing].result(timeout=20)
    assert _err_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_delete_topics(shared_broker):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic = uniq("ck-delete")
    ck_create_topic(bs, topic, NP)
    ck_produce(bs, topic, make_records("del", 10))
    assert topic in admin.list_topics(timeout=10).topics
    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    assert topic not in admin.list_topics(timeout=10).topics

    with pytest.raises(KafkaException) as ei:
        admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    assert _err_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # The name can be used again, and the new topic starts empty.
    ck_create_topic(bs, topic, 1)
    assert until_from(bs, topic, 1) == {0: 0}


# --- configs ------------------------------------------------------------------------------------


def test_describe_topic_configs_defaults(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-desc")
    ck_create_topic(bs, topic, 1)
    cfg = _describe(ck_admin(bs), ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["segment.bytes"].value == "1073741824"
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["max.message.bytes"].value == "1048588"
    for name in ("retention.ms", "segment.bytes"):
        assert cfg[name].is_default, name
        assert cfg[name].source == ConfigSource.DEFAULT_CONFIG.value, (name, cfg[name].source)


def test_describe_topic_created_with_override(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-override")
    ck_create_topic(bs, topic, 1, configs={"retention.ms": "3600000"})
    cfg = _describe(ck_admin(bs), ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "3600000"
    assert not cfg["retention.ms"].is_default
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["segment.bytes"].value == "1073741824"


def test_describe_broker_configs(shared_broker):
    cfg = _describe(ck_admin(shared_broker.bootstrap), ResourceType.BROKER, "0")
    assert cfg["num.partitions"].value == "1"
    assert cfg["log.segment.bytes"].value == "1073741824"
    assert cfg["auto.create.topics.enable"].value == "true"
    assert cfg["broker.id"].value == "0"


def test_describe_configs_unknown_topic(shared_broker):
    with pytest.raises(KafkaException) as ei:
        _describe(ck_admin(shared_broker.bootstrap), ResourceType.TOPIC, uniq("ck-nosuch"))
    assert _err_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_alter_configs_survive_restart(broker):
    bs = broker.bootstrap
    topic = uniq("ck-alter")
    ck_create_topic(bs, topic, NP)
    admin = ck_admin(bs)

    # AlterConfigs (whole set) ...
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "86400000", "cleanup.policy": "compact"})
    with pytest.warns(DeprecationWarning):
        admin.alter_configs([res], request_timeout=15)[res].result(timeout=20)
    cfg = _describe(admin, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "86400000"
    assert cfg["cleanup.policy"].value == "compact"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # ... then IncrementalAlterConfigs: SET one, DELETE another (back to its default), APPEND a list.
    inc = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
            ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
        ],
    )
    admin.incremental_alter_configs([inc], request_timeout=15)[inc].result(timeout=20)
    cfg = _describe(admin, ResourceType.TOPIC, topic)
    assert cfg["segment.bytes"].value == "1048576"
    assert cfg["retention.ms"].value == "604800000" and cfg["retention.ms"].is_default
    assert sorted(cfg["cleanup.policy"].value.split(",")) == ["compact", "delete"]

    # A dynamic broker config (librdkafka refuses the cluster-wide name "", so broker 0's).
    bres = ConfigResource(
        ResourceType.BROKER, "0", incremental_configs=[ConfigEntry("log.retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)]
    )
    admin.incremental_alter_configs([bres], request_timeout=15)[bres].result(timeout=20)
    other = uniq("ck-alter-other")
    ck_create_topic(bs, other, 1)
    assert _describe(admin, ResourceType.TOPIC, other)["retention.ms"].value == "7200000"

    broker.restart()
    admin = ck_admin(bs)
    cfg = _describe(admin, ResourceType.TOPIC, topic)
    assert cfg["segment.bytes"].value == "1048576"
    assert sorted(cfg["cleanup.policy"].value.split(",")) == ["compact", "delete"]
    assert cfg["retention.ms"].value == "7200000"  # the topic override was deleted: broker default wins
    assert _describe(admin, ResourceType.TOPIC, other)["retention.ms"].value == "7200000"
    # The topic still works after the restart. It is compacted now: keyless records are
    # refused with INVALID_RECORD, as Kafka does.
    recs = make_records("after-restart", 6, keyless_every=0)
    parts = ck_produce(bs, topic, recs)
    got = ck_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=NP)
    with pytest.raises(AssertionError, match="INVALID_RECORD"):
        ck_produce(bs, topic, [Rec(None, b"no key", (), None, 0)], **{"message.timeout.ms": 5000})


def test_alter_configs_bad_values(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-badalter")
    ck_create_topic(bs, topic, 1)
    admin = ck_admin(bs)
    for key, value in (("retention.ms", "notanumber"), ("segment.bytes", "1"), ("cleanup.policy", "shred"), ("no.such.config", "1")):
        res = ConfigResource(ResourceType.TOPIC, topic, set_config={key: value})
        with pytest.raises(KafkaException) as ei, pytest.warns(DeprecationWarning):
            admin.alter_configs([res], request_timeout=15)[res].result(timeout=20)
        assert _err_code(ei) == KafkaError.INVALID_CONFIG, (key, value)
        inc = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
        with pytest.raises(KafkaException) as ei:
            admin.incremental_alter_configs([inc], request_timeout=15)[inc].result(timeout=20)
        assert _err_code(ei) == KafkaError.INVALID_CONFIG, (key, value)
    cfg = _describe(admin, ResourceType.TOPIC, topic)
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["segment.bytes"].value == "1073741824"


# --- produce / consume --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_all_acks(shared_broker, codec):
    """acks 0, 1 and all with one codec; keyed records land on murmur2's partition; everything
    reads back exactly (keys, values, headers, timestamps, order) with assign and no commits."""
    bs = shared_broker.bootstrap
    topic = uniq(f"ck-{codec}")
    ck_create_topic(bs, topic, NP)
    records, parts = produce_rounds(ck_produce, bs, topic, f"ck-{codec}", num_partitions=NP, codec=codec)
    check_murmur2(records, parts, NP)
    assert until_from(bs, topic, NP) == counts(records, parts, {p: 0 for p in range(NP)})
    got = ck_consume(bs, topic, counts(records, parts))
    check_consumed(records, parts, got, num_partitions=NP)
    stored = stored_codecs(shared_broker.data_dir, topic, NP)
    if codec == "lz4" and stored == {"none"}:
        # librdkafka decides a broker takes LZ4 from FindCoordinator v0 being advertised
        # (its LZ4 feature check); without it, lz4 batches are silently sent uncompressed.
        pytest.xfail("librdkafka sends lz4 uncompressed: the broker does not advertise FindCoordinator (issue 3)")
    assert stored == {codec}


def test_idempotent_producer(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-idem")
    ck_create_topic(bs, topic, NP)
    recs = make_records("ck-idem", 60)
    parts = ck_produce(bs, topic, recs, codec="lz4", **{"enable.idempotence": True})
    got = ck_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=NP)


def test_edge_records(shared_broker):
    """Null value (tombstone), empty key and value, an empty-named header, a ~500 KB value."""
    bs = shared_broker.bootstrap
    topic = uniq("ck-edge")
    ck_create_topic(bs, topic, 1)
    big = bytes(range(256)) * 2000
    recs = [
        Rec(b"tomb", None, (), None, 0),
        Rec(b"", b"", (), None, 0),
        Rec(None, b"x", (("", b""),), None, 0),
        Rec(b"big", big, (("h", b"v"),), None, 0),
        Rec(None, None, (), None, 0),
    ]
    for codec in ("none", "zstd"):
        parts = ck_produce(bs, topic, recs, codec=codec, **{"message.max.bytes": 1000000})
        assert parts == [0] * len(recs)
    got = ck_consume(bs, topic, {0: 2 * len(recs)})
    check_consumed(recs + recs, [0] * 2 * len(recs), got, check_timestamps=False)


def test_produce_to_unknown_partition_fails(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-badpart")
    ck_create_topic(bs, topic, 1)
    with pytest.raises(AssertionError, match="PARTITION"):
        ck_produce(bs, topic, [Rec(b"k", b"v", (), None, 5)], **{"message.timeout.ms": 3000})


def test_auto_create_on_produce(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-auto")
    recs = make_records("auto", 5)
    parts = ck_produce(bs, topic, recs, **{"allow.auto.create.topics": True})
    assert set(parts) == {0}  # num.partitions defaults to 1
    md = ck_admin(bs).list_topics(topic, timeout=10)
    assert len(md.topics[topic].partitions) == 1


def test_murmur2_partitioner_many_keys(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-murmur")
    ck_create_topic(bs, topic, 7)
    keys = [f"user-{i}".encode() for i in range(150)] + [b"", b"\x00", b"\xff" * 13, "ключ".encode()]
    recs = [Rec(k, b"v%d" % i) for i, k in enumerate(keys)]
    parts = ck_produce(bs, topic, recs, partitioner="murmur2_random")
    assert parts == [partition_for(k, 7) for k in keys]
    got = ck_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=7)


# --- offsets ------------------------------------------------------------------------------------


def test_offsets_for_times(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-times")
    ck_create_topic(bs, topic, NP)
    base = int(time.time() * 1000) - 7_200_000
    recs = time_records("t", base, NP)
    sent = produce_time_rounds(ck_produce, bs, topic, recs, NP, "gzip")

    from confluent_kafka import Consumer

    c = Consumer(ck_config(bs, **{"group.id": uniq("ck-times")}))
    try:
        for p in range(NP):
            for q in time_queries(base, p):
                (tp,) = c.offsets_for_times([TopicPartition(topic, p, q)], timeout=10)
                assert tp.error is None
                want = first_at_or_after(sent[p], q)
                # Kafka answers -1 when no record is at or after the time; librdkafka passes it on.
                assert tp.offset == (OFFSET_END if want is None else want), (p, q - base, tp.offset, want)
    finally:
        c.close()

    # The AdminClient's ListOffsets: by timestamp, earliest, latest, max timestamp.
    admin = ck_admin(bs)
    for p in range(NP):
        q = base + p + 150
        specs = {
            TopicPartition(topic, p): OffsetSpec.for_timestamp(q),
        }
        res = {tp: f.result(timeout=20) for tp, f in admin.list_offsets(specs, request_timeout=15).items()}
        (info,) = res.values()
        want = first_at_or_after(sent[p], q)
        assert info.offset == want
        assert info.timestamp == sent[p][want].timestamp
        for spec, want in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), len(sent[p])), (OffsetSpec.max_timestamp(), len(sent[p]) - 1)):
            (f,) = admin.list_offsets({TopicPartition(topic, p): spec}, request_timeout=15).values()
            assert f.result(timeout=20).offset == want, spec


def test_delete_records_moves_low_watermark(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-delrec")
    ck_create_topic(bs, topic, 2)
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, i % 2) for i in range(40)]
    for k in range(4):  # several batches
        ck_produce(bs, topic, recs[k * 10:(k + 1) * 10])
    admin = ck_admin(bs)

    def earliest(p):
        (f,) = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.earliest()}, request_timeout=15).values()
        return f.result(timeout=20).offset

    assert earliest(0) == 0 and earliest(1) == 0
    fs = admin.delete_records([TopicPartition(topic, 0, 7)], request_timeout=15, operation_timeout=10)
    (res,) = [f.result(timeout=20) for f in fs.values()]
    assert res.low_watermark == 7
    assert earliest(0) == 7
    assert earliest(1) == 0
    # Reading from the beginning now starts at 7.
    got = ck_consume(bs, topic, {0: 13})
    assert [g.offset for g in got[0]] == list(range(7, 20))
    assert [g.value for g in got[0]] == [r.value for r in recs if r.partition == 0][7:]

    # Deleting to the end (offset -1 = high watermark) empties partition 1.
    fs = admin.delete_records([TopicPartition(topic, 1, OFFSET_END)], request_timeout=15, operation_timeout=10)
    (res,) = [f.result(timeout=20) for f in fs.values()]
    assert res.low_watermark == 20
    assert earliest(1) == 20

    # Beyond the high watermark: OFFSET_OUT_OF_RANGE.
    fs = admin.delete_records([TopicPartition(topic, 0, 1000)], request_timeout=15, operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        [f.result(timeout=20) for f in fs.values()]
    assert _err_code(ei) == KafkaError.OFFSET_OUT_OF_RANGE


def test_describe_cluster(shared_broker):
    admin = ck_admin(shared_broker.bootstrap)
    desc = admin.describe_cluster(request_timeout=15).result(timeout=20)
    assert [n.id for n in desc.nodes] == [0]
    assert desc.nodes[0].port == shared_broker.port
    assert desc.controller.id == 0
    assert desc.cluster_id


# --- more topic behaviour -------------------------------------------------------------------------


def test_log_append_time_topic(shared_broker):
    """message.timestamp.type=LogAppendTime: the broker stamps batches; readers see its time and
    the LOG_APPEND_TIME type, time lookups use it, whatever the producer put in."""
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

    bs = shared_broker.bootstrap
    topic = uniq("ck-lat")
    ck_create_topic(bs, topic, 1, configs={"message.timestamp.type": "LogAppendTime"})
    old = int(time.time() * 1000) - 50_000_000
    before = int(time.time() * 1000)
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), old + i, 0) for i in range(6)]
    ck_produce(bs, topic, recs[:3], codec="none")
    ck_produce(bs, topic, recs[3:], codec="zstd")
    after = int(time.time() * 1000)

    from confluent_kafka import OFFSET_BEGINNING, Consumer

    c = Consumer(ck_config(bs, **{"group.id": uniq("ck-lat"), "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msgs = []
        deadline = time.monotonic() + 20
        while len(msgs) < 6 and time.monotonic() < deadline:
            msgs += [m for m in c.consume(10, 0.2) if m.error() is None]
        assert [m.value() for m in msgs] == [r.value for r in recs]
        for m in msgs:
            ts_type, ts = m.timestamp()
            assert ts_type == TIMESTAMP_LOG_APPEND_TIME, m.timestamp()
            assert before - 1000 <= ts <= after + 1000, (ts, before, after)
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, old)], timeout=10)
        assert tp.offset == 0  # producer times are not what the index holds
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, after + 60_000)], timeout=10)
        assert tp.offset == OFFSET_END
    finally:
        c.close()
    # Other clients see the same.
    from interop_clients import kp_consume

    got = kp_consume(bs, topic, {0: 6})
    assert [g.timestamp for g in got[0]] == [m.timestamp()[1] for m in msgs]


def test_topic_max_message_bytes(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ck-maxmsg")
    ck_create_topic(bs, topic, 1, configs={"max.message.bytes": "2000"})
    with pytest.raises(AssertionError, match="MSG_SIZE_TOO_LARGE"):
        ck_produce(bs, topic, [Rec(b"k", b"x" * 5000, (), None, 0)], **{"message.timeout.ms": 5000})
    ck_produce(bs, topic, [Rec(b"k", b"x" * 500, (), None, 0)])
    assert until_from(bs, topic, 1) == {0: 1}


def test_delete_and_recreate_topic(shared_broker):
    """A new topic under an old name has a new topic id; Fetch v13+ (by id) reads only new data."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic = uniq("ck-recreate")
    ck_create_topic(bs, topic, 1)
    ck_produce(bs, topic, [Rec(b"a", b"old%d" % i, (), None, 0) for i in range(5)])
    old_id = admin.describe_topics(_topic_collection([topic]), request_timeout=15)[topic].result(timeout=20).topic_id
    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    ck_create_topic(bs, topic, 2)
    new_id = admin.describe_topics(_topic_collection([topic]), request_timeout=15)[topic].result(timeout=20).topic_id
    assert str(old_id) != str(new_id)
    recs = [Rec(b"a", b"new%d" % i, (), None, i % 2) for i in range(4)]
    ck_produce(bs, topic, recs)
    got = ck_consume(bs, topic, {0: 2, 1: 2})
    check_consumed(recs, [0, 1, 0, 1], got, check_timestamps=False)


def _topic_collection(names):
    from confluent_kafka import TopicCollection

    return TopicCollection(names)


def test_small_fetch_limits(shared_broker):
    """fetch.max.bytes and max.partition.fetch.bytes below one batch: the broker still returns
    the first batch (KIP-74), and the consumer makes progress batch by batch."""
    bs = shared_broker.bootstrap
    topic = uniq("ck-smallfetch")
    ck_create_topic(bs, topic, 2)
    recs = [Rec(b"k%d" % i, bytes([i]) * 5000, (), None, i % 2) for i in range(20)]
    ck_produce(bs, topic, recs[:10], **{"batch.num.messages": 3})
    ck_produce(bs, topic, recs[10:], codec="gzip", **{"batch.num.messages": 3})
    got = ck_consume(
        bs,
        topic,
        {0: 10, 1: 10},
        **{"fetch.max.bytes": 1000, "message.max.bytes": 1000, "max.partition.fetch.bytes": 100, "receive.message.max.bytes": 200000},
    )
    check_consumed(recs, [i % 2 for i in range(20)], got, check_timestamps=False)


def test_restart_keeps_records_offsets_and_times(broker):
    """A clean restart: every record, the high watermarks, the log start after DeleteRecords,
    and time lookups come back the same."""
    bs = broker.bootstrap
    topic = uniq("ck-restart")
    ck_create_topic(bs, topic, NP)
    base = int(time.time() * 1000) - 3_600_000
    records, parts = [], []
    for i, codec in enumerate(CODECS):
        recs = make_records(f"r-{codec}", 12, ts_base=base + i * 1000)
        parts += ck_produce(bs, topic, recs, codec=codec)
        records += recs
    admin = ck_admin(bs)
    [f.result(timeout=20) for f in admin.delete_records([TopicPartition(topic, 0, 3)], request_timeout=15).values()]
    ends = until_from(bs, topic, NP)
    from confluent_kafka import Consumer

    def lookups():
        c = Consumer(ck_config(bs, **{"group.id": uniq("ck-restart")}))
        try:
            return [tp.offset for tp in c.offsets_for_times([TopicPartition(topic, p, base + 2500) for p in range(NP)], timeout=10)]
        finally:
            c.close()

    before = lookups()
    broker.restart()
    assert until_from(bs, topic, NP) == ends
    admin = ck_admin(bs)  # keep a reference: futures of a collected AdminClient never finish
    (f,) = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}, request_timeout=15).values()
    assert f.result(timeout=20).offset == 3
    assert lookups() == before
    got = ck_consume(bs, topic, {p: ends[p] - (3 if p == 0 else 0) for p in range(NP)})
    want0 = [r for r, p in zip(records, parts) if p == 0][3:]
    assert [g.value for g in got[0]] == [r.value for r in want0]
    rest = [(r, p) for r, p in zip(records, parts) if p != 0]
    check_consumed([r for r, _ in rest], [p for _, p in rest], {p: got[p] for p in range(1, NP)})


def test_alter_configs_semantics(shared_broker):
    """Legacy AlterConfigs replaces the whole override set; validate_only changes nothing;
    APPEND on a non-list config is INVALID_CONFIG; read-only broker configs are refused."""
    bs = shared_broker.bootstrap
    topic = uniq("ck-altersem")
    ck_create_topic(bs, topic, 1, configs={"segment.bytes": "1048576"})
    admin = ck_admin(bs)
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "1000"})
    with pytest.warns(DeprecationWarning):
        admin.alter_configs([res], request_timeout=15)[res].result(timeout=20)
    cfg = _describe(admin, ResourceType.TOPIC, topic)
    assert (cfg["segment.bytes"].value, cfg["retention.ms"].value) == ("1073741824", "1000")

    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "2000"})
    with pytest.warns(DeprecationWarning):
        admin.alter_configs([res], request_timeout=15, validate_only=True)[res].result(timeout=20)
    inc = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[ConfigEntry("retention.ms", "3000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([inc], request_timeout=15, validate_only=True)[inc].result(timeout=20)
    assert _describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "1000"

    inc = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)])
    with pytest.raises(KafkaException) as ei:
        admin.incremental_alter_configs([inc], request_timeout=15)[inc].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_CONFIG

    inc = ConfigResource(ResourceType.TOPIC, uniq("ck-nosuch"), incremental_configs=[ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as ei:
        admin.incremental_alter_configs([inc], request_timeout=15)[inc].result(timeout=20)
    assert _err_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART

    inc = ConfigResource(ResourceType.BROKER, "0", incremental_configs=[ConfigEntry("broker.id", "3", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as ei:
        admin.incremental_alter_configs([inc], request_timeout=15)[inc].result(timeout=20)
    assert _err_code(ei) in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST)
