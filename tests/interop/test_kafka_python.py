"""kafka-python 3 against a real broker subprocess: KafkaAdminClient, an idempotent-by-default
producer with every codec and acks setting, a group-less consumer (assign), offsets by time."""

from __future__ import annotations

import time

import pytest

kafka = pytest.importorskip("kafka")

from kafka import KafkaProducer, TopicPartition  # noqa: E402
from kafka import errors as Errors  # noqa: E402
from kafka.admin import ConfigResource, NewPartitions  # noqa: E402
from kafka.protocol.consumer.offsets import OffsetSpec, OffsetTimestamp  # noqa: E402

from interop_clients import (
    produce_time_rounds,  # noqa: E402
    CODECS,
    Rec,
    check_consumed,
    check_murmur2,
    counts,
    first_at_or_after,
    kp_admin,
    kp_consume,
    kp_consumer,
    kp_produce,
    make_records,
    produce_rounds,
    stored_batches,
    stored_codecs,
    time_queries,
    time_records,
    uniq,
    until_from,
    wait_end_offsets,
)
from murmur2 import partition_for  # noqa: E402

pytestmark = pytest.mark.interop

NP = 3


@pytest.fixture
def admin(shared_broker):
    a = kp_admin(shared_broker.bootstrap)
    yield a
    a.close()


def _create(admin, topic: str, partitions: int = NP, **opts) -> dict:
    return admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1, **opts}})


def _topic_configs(admin, topic: str) -> dict:
    return admin.describe_configs([ConfigResource("TOPIC", topic)], config_filter="all")["topic"][topic]


# --- admin --------------------------------------------------------------------------------------


def test_create_topic(admin):
    topic = uniq("kp-create")
    res = _create(admin, topic)
    (t,) = res["topics"]
    assert t["error_code"] == 0 and t["num_partitions"] == NP and t["replication_factor"] == 1
    # CreateTopics v5+ answers with the topic's configs.
    assert t["configs"]["retention.ms"]["value"] == "604800000"
    assert topic in admin.list_topics()
    (desc,) = admin.describe_topics([topic])
    assert desc["error_code"] == 0
    assert sorted(p["partition_index"] for p in desc["partitions"]) == list(range(NP))
    assert all(p["leader_id"] == 0 and p["replica_nodes"] == [0] and p["isr_nodes"] == [0] for p in desc["partitions"])


def test_create_topic_errors(admin):
    topic = uniq("kp-dup")
    _create(admin, topic, 1)
    with pytest.raises(Errors.TopicAlreadyExistsError):
        _create(admin, topic, 1)
    for bad in ("bad name", "x" * 250, ".", "slash/ed"):
        with pytest.raises(Errors.InvalidTopicError):
            _create(admin, bad, 1)
    with pytest.raises(Errors.InvalidPartitionsError):
        _create(admin, uniq("kp-zero"), 0)
    with pytest.raises(Errors.InvalidPartitionsError):
        _create(admin, uniq("kp-negative"), -5)
    with pytest.raises(Errors.InvalidReplicationFactorError):
        admin.create_topics({uniq("kp-rf2"): {"num_partitions": 1, "replication_factor": 2}})
    with pytest.raises(Errors.InvalidConfigurationError):
        _create(admin, uniq("kp-badcfg"), 1, configs={"segment.bytes": "tiny"})
    # Defaults from the broker (num.partitions=1) when the request leaves them at -1.
    name = uniq("kp-defaults")
    res = admin.create_topics({name: {}})
    assert res["topics"][0]["num_partitions"] == 1
    # validate_only creates nothing.
    name = uniq("kp-validate")
    admin.create_topics({name: {"num_partitions": 2, "replication_factor": 1}}, validate_only=True)
    assert name not in admin.list_topics()


def test_create_partitions(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-grow")
    _create(admin, topic)
    admin.create_partitions({topic: NewPartitions(6)})
    (desc,) = admin.describe_topics([topic])
    assert len(desc["partitions"]) == 6
    with pytest.raises(Errors.InvalidPartitionsError):
        admin.create_partitions({topic: NewPartitions(6)})
    with pytest.raises(Errors.UnknownTopicOrPartitionError):
        admin.create_partitions({uniq("kp-nosuch"): NewPartitions(6)})
    # A producer started after the change sees 6 partitions and spreads keys by murmur2.
    recs = make_records("kp-grow", 60, keyless_every=0, headers=False)
    parts = kp_produce(bs, topic, recs)
    check_murmur2(recs, parts, 6)
    assert set(parts) == set(range(6))


def test_describe_configs(admin):
    topic = uniq("kp-desc")
    _create(admin, topic, 1)
    cfg = _topic_configs(admin, topic)
    assert cfg["retention.ms"]["value"] == "604800000"
    assert cfg["segment.bytes"]["value"] == "1073741824"
    assert cfg["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
    # The default filter ("modified") shows nothing for a topic without overrides.
    assert admin.describe_configs([ConfigResource("TOPIC", topic)])["topic"][topic] == {}
    # Broker configs, by broker id.
    bcfg = admin.describe_configs([ConfigResource("BROKER", "0")], config_filter="all")["broker"]["0"]
    assert bcfg["log.segment.bytes"]["value"] == "1073741824"
    assert bcfg["num.partitions"]["value"] == "1"
    assert bcfg["log.retention.hours"]["value"] == "168"


def test_alter_configs_survive_restart(broker):
    admin = kp_admin(broker.bootstrap)
    topic = uniq("kp-alter")
    try:
        _create(admin, topic)
        # IncrementalAlterConfigs (kafka-python's default on a broker that has it) ...
        res = admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": "3600000", "segment.bytes": "2097152"})])
        assert res == {"topic": {topic: "OK"}}
        # ... and the legacy AlterConfigs, which replaces the whole set (kafka-python re-sends
        # the other modified keys itself).
        res = admin.alter_configs([ConfigResource("TOPIC", topic, {"max.message.bytes": "500000"})], incremental=False)
        assert res == {"topic": {topic: "OK"}}
        cfg = _topic_configs(admin, topic)
        assert cfg["retention.ms"]["value"] == "3600000"
        assert cfg["segment.bytes"]["value"] == "2097152"
        assert cfg["max.message.bytes"]["value"] == "500000"
        assert cfg["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        # reset_configs: back to the default.
        admin.reset_configs([ConfigResource("TOPIC", topic, ["max.message.bytes"])])
        assert _topic_configs(admin, topic)["max.message.bytes"]["value"] == "1048588"
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        cfg = _topic_configs(admin, topic)
        assert cfg["retention.ms"]["value"] == "3600000"
        assert cfg["segment.bytes"]["value"] == "2097152"
        assert cfg["max.message.bytes"]["value"] == "1048588"
        assert admin.describe_configs([ConfigResource("TOPIC", topic)])["topic"][topic].keys() == {"retention.ms", "segment.bytes"}
    finally:
        admin.close()


def test_alter_configs_bad_values(admin):
    topic = uniq("kp-badalter")
    _create(admin, topic, 1)
    for incremental in (True, False):
        for key, value in (("retention.ms", "later"), ("segment.bytes", "10"), ("message.timestamp.type", "WallClock")):
            res = admin.alter_configs([ConfigResource("TOPIC", topic, {key: value})], incremental=incremental)
            msg = res["topic"][topic]
            assert "InvalidConfigurationError" in msg or "Error 40" in msg, (incremental, key, msg)
    cfg = _topic_configs(admin, topic)
    assert cfg["retention.ms"]["value"] == "604800000"
    assert cfg["segment.bytes"]["value"] == "1073741824"
    assert cfg["message.timestamp.type"]["value"] == "CreateTime"


def test_delete_topics(admin):
    topic = uniq("kp-delete")
    _create(admin, topic)
    assert topic in admin.list_topics()
    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    with pytest.raises(Errors.UnknownTopicOrPartitionError):
        admin.delete_topics([topic])


def test_delete_records(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-delrec")
    _create(admin, topic, 2)
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, i % 2) for i in range(30)]
    for k in range(3):
        kp_produce(bs, topic, recs[k * 10:(k + 1) * 10])
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    res = admin.delete_records({tp0: 6})
    assert res[tp0]["low_watermark"] == 6 and res[tp0]["error_code"] == 0
    offs = admin.list_partition_offsets({tp0: OffsetSpec.EARLIEST, tp1: OffsetSpec.EARLIEST})
    assert offs[tp0].offset == 6
    assert offs[tp1].offset == 0
    c = kp_consumer(bs)
    try:
        assert c.beginning_offsets([tp0, tp1]) == {tp0: 6, tp1: 0}
        assert c.end_offsets([tp0, tp1]) == {tp0: 15, tp1: 15}
    finally:
        c.close()
    got = kp_consume(bs, topic, {0: 9})
    assert [g.offset for g in got[0]] == list(range(6, 15))
    assert [g.value for g in got[0]] == [r.value for r in recs if r.partition == 0][6:]


def test_describe_cluster(shared_broker, admin):
    desc = admin.describe_cluster()
    assert desc["controller_id"] == 0
    assert desc["cluster_id"]
    assert desc["brokers"] == [{"broker_id": 0, "host": "127.0.0.1", "port": shared_broker.port, "rack": None}]


# --- produce / consume --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_all_acks(shared_broker, admin, codec):
    """acks 0, 1 and all (all keeps kafka-python's default: idempotent) with one codec; keyed
    records on murmur2's partition (kafka-python's default partitioner); exact read back."""
    bs = shared_broker.bootstrap
    topic = uniq(f"kp-{codec}")
    _create(admin, topic)
    records, parts = produce_rounds(kp_produce, bs, topic, f"kp-{codec}", num_partitions=NP, codec=codec)
    check_murmur2(records, parts, NP)
    got = kp_consume(bs, topic, counts(records, parts))
    check_consumed(records, parts, got, num_partitions=NP)
    assert stored_codecs(shared_broker.data_dir, topic, NP) == {codec}


def test_default_producer_is_idempotent(shared_broker, admin):
    """KafkaProducer() as is: InitProducerId, then batches with a producer id and sequences."""
    bs = shared_broker.bootstrap
    topic = uniq("kp-idem")
    _create(admin, topic)
    p = KafkaProducer(bootstrap_servers=bs)
    try:
        recs = make_records("kp-idem", 40)
        futs = []
        for i, r in enumerate(recs):
            futs.append(p.send(topic, key=r.key, value=r.value, headers=list(r.headers)))
            if i % 10 == 9:
                p.flush()  # several batches per partition
        parts = [f.get(timeout=30).partition for f in futs]
    finally:
        p.close(timeout=10)
    got = kp_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=NP, check_timestamps=False)
    pids = set()
    for part in range(NP):
        seq = 0
        for b in stored_batches(shared_broker.data_dir, topic, part):
            pids.add((b["producer_id"], b["producer_epoch"]))
            assert b["base_sequence"] == seq, (part, b)
            seq += b["count"]
    assert len(pids) == 1 and next(iter(pids))[0] >= 0, pids


def test_murmur2_partitioner_many_keys(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-murmur")
    _create(admin, topic, 7)
    keys = [f"user-{i}".encode() for i in range(150)] + [b"", b"\x00", b"\xff" * 13, "ключ".encode()]
    recs = [Rec(k, b"v%d" % i) for i, k in enumerate(keys)]
    parts = kp_produce(bs, topic, recs)
    assert parts == [partition_for(k, 7) for k in keys]
    got = kp_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=7, check_timestamps=False)


def test_edge_records(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-edge")
    _create(admin, topic, 1)
    big = bytes(range(256)) * 2000
    recs = [
        Rec(b"tomb", None, (), None, 0),
        Rec(b"", b"", (), None, 0),
        Rec(None, b"x", (("", b""),), None, 0),
        Rec(b"big", big, (("h", b"v"),), None, 0),
    ]
    for codec in ("none", "gzip"):
        kp_produce(bs, topic, recs, codec=codec, max_request_size=2_000_000)
    got = kp_consume(bs, topic, {0: 2 * len(recs)})
    check_consumed(recs + recs, [0] * 2 * len(recs), got, check_timestamps=False)


def test_offsets_for_times(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-times")
    _create(admin, topic)
    base = int(time.time() * 1000) - 7_200_000
    recs = time_records("kp", base, NP)
    sent = produce_time_rounds(kp_produce, bs, topic, recs, NP, "snappy")

    c = kp_consumer(bs)
    try:
        for p in range(NP):
            tp = TopicPartition(topic, p)
            for q in time_queries(base, p):
                res = c.offsets_for_times({tp: q})[tp]
                want = first_at_or_after(sent[p], q)
                if want is None:
                    assert res is None, (p, q - base, res)
                else:
                    assert res is not None and res.offset == want, (p, q - base, res, want)
                    assert res.timestamp == sent[p][want].timestamp
    finally:
        c.close()

    for p in range(NP):
        tp = TopicPartition(topic, p)
        q = base + p + 150
        res = admin.list_partition_offsets({tp: OffsetTimestamp(q)})[tp]
        assert res.offset == first_at_or_after(sent[p], q)
        res = admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})[tp]
        assert res.offset == len(sent[p]) - 1 and res.timestamp == sent[p][-1].timestamp
        assert admin.list_partition_offsets({tp: OffsetSpec.LATEST})[tp].offset == len(sent[p])


def test_seek_to_middle(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-seek")
    _create(admin, topic, 1)
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, 0) for i in range(50)]
    for k in range(5):
        kp_produce(bs, topic, recs[k * 10:(k + 1) * 10], codec="lz4")
    # Starting inside a compressed batch: the client gets the whole batch and drops the head.
    got = kp_consume(bs, topic, {0: 27}, start={0: 23})
    assert [g.offset for g in got[0]] == list(range(23, 50))
    assert [g.value for g in got[0]] == [r.value for r in recs[23:]]
    assert until_from(bs, topic, 1) == {0: 50}


def test_fetch_out_of_range_resets(shared_broker, admin):
    """A seek past the end gets OFFSET_OUT_OF_RANGE and auto_offset_reset=earliest recovers."""
    bs = shared_broker.bootstrap
    topic = uniq("kp-oor")
    _create(admin, topic, 1)
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, 0) for i in range(5)]
    kp_produce(bs, topic, recs)
    got = kp_consume(bs, topic, {0: 5}, start={0: 1000})
    assert [g.offset for g in got[0]] == list(range(5))


# --- more broker behaviour ----------------------------------------------------------------------


def _describe_inherited(admin, topic: str) -> dict:
    r = admin.describe_configs([ConfigResource("TOPIC", topic, ["retention.ms", "segment.bytes"])], config_filter="all", include_synonyms=True)
    return r["topic"][topic]


def test_topic_config_source_static_broker_setting(tmp_path):
    """A topic value inherited from a static broker setting is STATIC_BROKER_CONFIG. Through a
    synonym of another name (retention.ms from log.retention.hours) Kafka 4.4's DescribeConfigs
    says DEFAULT_CONFIG with no synonyms (its list starts at log.retention.ms, which is unset),
    while its CreateTopics answer says STATIC_BROKER_CONFIG: both checked against Apache Kafka 4.4."""
    from helpers import BrokerProcess

    b = BrokerProcess(tmp_path / "data", overrides={"log.retention.hours": "1", "log.segment.bytes": "2097152", "num.partitions": "2"}).start()
    admin = kp_admin(b.bootstrap)
    try:
        topic = uniq("kp-static")
        created = admin.create_topics({topic: {}})["topics"][0]
        assert created["num_partitions"] == 2
        sources = {k: (c["value"], c["config_source"]) for k, c in created["configs"].items()}
        assert sources["retention.ms"] == ("3600000", "STATIC_BROKER_CONFIG")
        assert sources["segment.bytes"] == ("2097152", "STATIC_BROKER_CONFIG")
        cfg = _describe_inherited(admin, topic)
        assert (cfg["segment.bytes"]["value"], cfg["segment.bytes"]["config_source"]) == ("2097152", "STATIC_BROKER_CONFIG")
        assert cfg["retention.ms"]["value"] == "3600000"
        assert (cfg["retention.ms"]["config_source"], cfg["retention.ms"]["synonyms"]) == ("DEFAULT_CONFIG", []), cfg["retention.ms"]
        # kafka-python's default "modified" filter counts only dynamic sources (not 3, 4, 5)
        assert "retention.ms" not in admin.describe_configs([ConfigResource("TOPIC", topic)])["topic"][topic]
    finally:
        admin.close()
        b.kill()


def test_topic_config_source_per_broker_dynamic(broker):
    """A topic value inherited from a per-broker dynamic config (resource "0") is
    DYNAMIC_BROKER_CONFIG; DYNAMIC_DEFAULT_BROKER_CONFIG is for the cluster-wide default ("")."""
    admin = kp_admin(broker.bootstrap)
    try:
        topic = uniq("kp-dynbroker")
        _create(admin, topic, 1)
        assert admin.alter_configs([ConfigResource("BROKER", "0", {"log.retention.ms": "7200000"})]) == {"broker": {"0": "OK"}}
        bcfg = admin.describe_configs([ConfigResource("BROKER", "0", ["log.retention.ms"])], config_filter="all")["broker"]["0"]
        assert (bcfg["log.retention.ms"]["value"], bcfg["log.retention.ms"]["config_source"]) == ("7200000", "DYNAMIC_BROKER_CONFIG")
        # Deleting it goes back to the default, whatever the source reporting says.
        cfg = _describe_inherited(admin, topic)
        assert cfg["retention.ms"]["value"] == "7200000"
        value_then_source = cfg["retention.ms"]["config_source"]
        admin.alter_configs([ConfigResource("BROKER", "0", {"log.retention.ms": ("DELETE", None)})])
        assert _describe_inherited(admin, topic)["retention.ms"]["value"] == "604800000"
        assert value_then_source == "DYNAMIC_BROKER_CONFIG", cfg["retention.ms"]
    finally:
        admin.close()


def test_min_insync_replicas_not_enough(shared_broker, admin):
    """min.insync.replicas=2 on one node: acks=all fails with NOT_ENOUGH_REPLICAS, acks=1 works."""
    bs = shared_broker.bootstrap
    topic = uniq("kp-minisr")
    _create(admin, topic, 1, configs={"min.insync.replicas": "2"})
    p = KafkaProducer(bootstrap_servers=bs, acks="all", enable_idempotence=False, retries=0)
    try:
        with pytest.raises(Errors.NotEnoughReplicasError):
            p.send(topic, b"v", partition=0).get(timeout=15)
    finally:
        p.close(timeout=10)
    assert kp_produce(bs, topic, [Rec(b"k", b"v", (), None, 0)], acks=1) == [0]
    assert until_from(bs, topic, 1) == {0: 1}


def test_fetch_below_log_start_resets(shared_broker, admin):
    """After DeleteRecords, fetching from an offset below the log start is OFFSET_OUT_OF_RANGE
    and the consumer resets to the earliest offset; time lookups never answer below it."""
    bs = shared_broker.bootstrap
    topic = uniq("kp-below")
    _create(admin, topic, 1)
    base = int(time.time() * 1000) - 100_000
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), base + 10 * i, 0) for i in range(10)]
    kp_produce(bs, topic, recs)
    tp = TopicPartition(topic, 0)
    admin.delete_records({tp: 5})
    got = kp_consume(bs, topic, {0: 5}, start={0: 2})
    assert [g.offset for g in got[0]] == [5, 6, 7, 8, 9]
    c = kp_consumer(bs)
    try:
        assert c.offsets_for_times({tp: base})[tp].offset == 5
    finally:
        c.close()


def test_long_poll_wakes_on_append(shared_broker, admin):
    """A fetch waiting for data (fetch_max_wait_ms=10 s) answers as soon as a record arrives."""
    import threading

    bs = shared_broker.bootstrap
    topic = uniq("kp-longpoll")
    _create(admin, topic, 1)
    c = kp_consumer(bs, fetch_max_wait_ms=10_000, request_timeout_ms=30_000)
    tp = TopicPartition(topic, 0)
    try:
        c.assign([tp])
        c.seek_to_beginning(tp)
        assert c.poll(timeout_ms=300) == {}  # a fetch is now parked on the broker
        sent = {}

        def produce_later():
            time.sleep(0.5)
            sent["at"] = time.monotonic()
            kp_produce(bs, topic, [Rec(b"k", b"late", (), None, 0)], acks=1)

        th = threading.Thread(target=produce_later)
        th.start()
        got = {}
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            got = c.poll(timeout_ms=100)
        received = time.monotonic()
        th.join()
        assert got and got[tp][0].value == b"late"
        assert received - sent["at"] < 3.0, f"record took {received - sent['at']:.2f}s to arrive"
    finally:
        c.close()


def test_small_fetch_limits_and_read_committed(shared_broker, admin):
    bs = shared_broker.bootstrap
    topic = uniq("kp-smallfetch")
    _create(admin, topic, 1)
    recs = [Rec(b"k%d" % i, bytes([i]) * 5000, (), None, 0) for i in range(20)]
    kp_produce(bs, topic, recs[:10])
    kp_produce(bs, topic, recs[10:], codec="gzip")
    got = kp_consume(bs, topic, {0: 20}, max_partition_fetch_bytes=100, fetch_max_bytes=100)
    check_consumed(recs, [0] * 20, got, check_timestamps=False)
    got = kp_consume(bs, topic, {0: 20}, isolation_level="read_committed")
    check_consumed(recs, [0] * 20, got, check_timestamps=False)


def test_describe_topics_mixed(shared_broker, admin):
    topic = uniq("kp-mixed")
    _create(admin, topic, 2)
    missing = uniq("kp-missing")
    res = {t["name"]: t for t in admin.describe_topics([topic, "bad name", missing])}
    assert res[topic]["error_code"] == 0 and len(res[topic]["partitions"]) == 2
    assert res[topic]["topic_id"]
    assert res["bad name"]["error_code"] == Errors.InvalidTopicError.errno
    assert res[missing]["error_code"] == Errors.UnknownTopicOrPartitionError.errno
    # Describing does not create (kafka-python asks without auto-creation).
    assert missing not in admin.list_topics()


def test_create_topic_with_assignments(admin):
    topic = uniq("kp-assign")
    res = admin.create_topics({topic: {"assignments": {0: [0], 1: [0]}}})
    assert res["topics"][0]["num_partitions"] == 2
    with pytest.raises(Errors.InvalidReplicationAssignmentError):
        admin.create_topics({uniq("kp-assign-unknown"): {"assignments": {0: [5]}}})
    with pytest.raises(Errors.InvalidReplicationAssignmentError):
        admin.create_topics({uniq("kp-assign-dup"): {"assignments": {0: [0, 0]}}})


def test_create_partitions_with_assignments(admin):
    """CreatePartitions checks manual assignments like CreateTopics does: a broker that does not
    exist, a repeated broker, an empty replica list or the wrong number of lists is
    INVALID_REPLICA_ASSIGNMENT, and the topic keeps its partitions (a partition led by a missing
    broker could never be used)."""
    topic = uniq("kp-grow-assign")
    _create(admin, topic, 1)
    admin.create_partitions({topic: NewPartitions(2, [[0]])})
    for bad in ([[0], [0]], [[5]], [[0, 0]], [[]]):
        with pytest.raises(Errors.InvalidReplicationAssignmentError):
            admin.create_partitions({topic: NewPartitions(3, bad)})
    (desc,) = admin.describe_topics([topic])
    assert [(p["partition_index"], p["leader_id"], p["replica_nodes"]) for p in desc["partitions"]] == [(0, 0, [0]), (1, 0, [0])]


def test_topic_names_colliding_in_metrics_are_refused(admin):
    """Kafka refuses a topic whose name differs from an existing one only by '.' versus '_'
    (they collide in metric names): INVALID_TOPIC_EXCEPTION."""
    stem = uniq("kp_collide").replace("-", "_")
    _create(admin, stem + "_a", 1)
    with pytest.raises(Errors.InvalidTopicError):
        _create(admin, stem + ".a", 1)
    assert stem + ".a" not in admin.list_topics()


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_times_out_of_order_within_a_batch(shared_broker, admin, codec):
    """Timestamps that go back and forth inside one batch: MAX_TIMESTAMP names the exact record
    (KIP-734), and a time lookup answers the first record in offset order at or after the time."""
    bs = shared_broker.bootstrap
    topic = uniq(f"kp-ooo-{codec}")
    _create(admin, topic, 1)
    base = int(time.time() * 1000) - 100_000
    deltas = [0, 50, 10, 20, 5]
    from interop_clients import ck_produce

    ck_produce(bs, topic, [Rec(b"k%d" % i, b"v%d" % i, (), base + d, 0) for i, d in enumerate(deltas)], codec=codec)
    ck_produce(bs, topic, [Rec(b"k9", b"v9", (), base + 30, 0)], codec=codec)
    tp = TopicPartition(topic, 0)
    r = admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})[tp]
    assert (r.offset, r.timestamp) == (1, base + 50)
    for q, want in ((15, 1), (45, 1), (25, 1), (0, 0), (51, -1)):
        r = admin.list_partition_offsets({tp: OffsetTimestamp(base + q)})[tp]
        assert r.offset == want, (q, r)
