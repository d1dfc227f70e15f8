"""aiokafka 0.14 against a real broker subprocess: its admin client, produce with every codec and
acks setting, a group-less consumer (assign), offsets by time, its murmur2 default partitioner.

aiokafka only uses non-flexible versions (ApiVersions v0, Metadata v5, Produce v7, Fetch v11,
ListOffsets v3): these tests cover the broker's old-version paths."""

from __future__ import annotations

import asyncio
import time

import pytest

aiokafka = pytest.importorskip("aiokafka")

from aiokafka import AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete  # noqa: E402
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: E402
from aiokafka import errors as Errors  # noqa: E402

from interop_clients import (
    produce_time_rounds,  # noqa: E402
    CODECS,
    Rec,
    ak_consume,
    ak_produce,
    check_consumed,
    check_murmur2,
    counts,
    first_at_or_after,
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


def admin_run(bootstrap: str, fn):
    """Run ``await fn(admin)`` with a started AIOKafkaAdminClient."""

    async def run():
        a = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        await a.start()
        try:
            return await fn(a)
        finally:
            await a.close()

    return asyncio.run(run())


def ak_create(bootstrap: str, topic: str, partitions: int = NP, rf: int = 1, configs: dict | None = None) -> int:
    """Create through aiokafka's admin; returns the topic's error code."""
    resp = admin_run(bootstrap, lambda a: a.create_topics([NewTopic(topic, partitions, rf, topic_configs=configs or {})]))
    ((name, code, *_),) = resp.topic_errors if hasattr(resp, "topic_errors") else resp.topics
    assert name == topic
    return code


def _configs(bootstrap: str, rtype, name: str) -> dict[str, str]:
    (resp,) = admin_run(bootstrap, lambda a: a.describe_configs([ConfigResource(rtype, name)]))
    ((code, _msg, _rt, rname, entries),) = resp.resources
    assert code == 0 and rname == name
    return {e[0]: e[1] for e in entries}


# --- admin --------------------------------------------------------------------------------------


def test_create_topic_and_errors(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-create")
    assert ak_create(bs, topic) == 0
    topics = admin_run(bs, lambda a: a.list_topics())
    assert topic in topics
    (desc,) = admin_run(bs, lambda a: a.describe_topics([topic]))
    assert desc["error_code"] == 0 and len(desc["partitions"]) == NP
    assert ak_create(bs, topic) == Errors.TopicAlreadyExistsError.errno
    assert ak_create(bs, "no spaces allowed") == Errors.InvalidTopicError.errno
    assert ak_create(bs, uniq("ak-zero"), 0) == Errors.InvalidPartitionsError.errno
    assert ak_create(bs, uniq("ak-rf2"), 1, 2) == Errors.InvalidReplicationFactorError.errno
    assert ak_create(bs, uniq("ak-badcfg"), 1, configs={"retention.ms": "-7"}) == Errors.InvalidConfigurationError.errno


def test_create_partitions_and_configs(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-grow")
    assert ak_create(bs, topic) == 0
    admin_run(bs, lambda a: a.create_partitions({topic: NewPartitions(4)}))
    (desc,) = admin_run(bs, lambda a: a.describe_topics([topic]))
    assert len(desc["partitions"]) == 4
    with pytest.raises(Errors.InvalidPartitionsError):
        admin_run(bs, lambda a: a.create_partitions({topic: NewPartitions(2)}))

    cfg = _configs(bs, ConfigResourceType.TOPIC, topic)
    assert cfg["retention.ms"] == "604800000" and cfg["segment.bytes"] == "1073741824"
    resps = admin_run(bs, lambda a: a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": "60000"})]))
    assert [r.resources[0][0] for r in resps] == [0]
    assert _configs(bs, ConfigResourceType.TOPIC, topic)["retention.ms"] == "60000"
    resps = admin_run(bs, lambda a: a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": "sixty"})]))
    assert resps[0].resources[0][0] == Errors.InvalidConfigurationError.errno
    bcfg = _configs(bs, ConfigResourceType.BROKER, "0")
    assert bcfg["log.segment.bytes"] == "1073741824"


def test_delete_topic_and_records(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-delrec")
    assert ak_create(bs, topic, 1) == 0
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), None, 0) for i in range(20)]
    ak_produce(bs, topic, recs[:10])
    ak_produce(bs, topic, recs[10:])
    tp = TopicPartition(topic, 0)
    res = admin_run(bs, lambda a: a.delete_records({tp: RecordsToDelete(12)}))
    assert res == {tp: 12}
    got = ak_consume(bs, topic, {0: 8})
    assert [g.offset for g in got[0]] == list(range(12, 20))

    admin_run(bs, lambda a: a.delete_topics([topic]))
    assert topic not in admin_run(bs, lambda a: a.list_topics())


# --- produce / consume --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_all_acks(shared_broker, codec):
    bs = shared_broker.bootstrap
    topic = uniq(f"ak-{codec}")
    assert ak_create(bs, topic) == 0
    records, parts = produce_rounds(ak_produce, bs, topic, f"ak-{codec}", num_partitions=NP, codec=codec)
    # acks=0 sends report no partition (None): check_consumed finds where they went and still
    # holds keyed ones to murmur2.
    check_murmur2(records, parts, NP)
    got = ak_consume(bs, topic, until_from(bs, topic, NP))
    check_consumed(records, parts, got, num_partitions=NP)
    assert stored_codecs(shared_broker.data_dir, topic, NP) == {codec}


def test_idempotent_producer(shared_broker):
    """enable_idempotence: InitProducerId v0 and sequence numbers per partition."""
    bs = shared_broker.bootstrap
    topic = uniq("ak-idem")
    assert ak_create(bs, topic) == 0
    recs = make_records("ak-idem", 45)
    parts = ak_produce(bs, topic, recs, codec="zstd", enable_idempotence=True)
    got = ak_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=NP)
    pids = {(b["producer_id"], b["producer_epoch"]) for p in range(NP) for b in stored_batches(shared_broker.data_dir, topic, p)}
    assert len(pids) == 1 and next(iter(pids))[0] >= 0


def test_murmur2_partitioner_many_keys(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-murmur")
    assert ak_create(bs, topic, 7) == 0
    keys = [f"user-{i}".encode() for i in range(150)] + [b"", b"\x00", b"\xff" * 13, "ключ".encode()]
    recs = [Rec(k, b"v%d" % i) for i, k in enumerate(keys)]
    parts = ak_produce(bs, topic, recs)
    assert parts == [partition_for(k, 7) for k in keys]
    got = ak_consume(bs, topic, counts(recs, parts))
    check_consumed(recs, parts, got, num_partitions=7, check_timestamps=False)


def test_offsets_for_times_and_seek(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-times")
    assert ak_create(bs, topic) == 0
    base = int(time.time() * 1000) - 7_200_000
    recs = time_records("ak", base, NP)
    sent = produce_time_rounds(ak_produce, bs, topic, recs, NP, "lz4")

    from aiokafka import AIOKafkaConsumer

    async def lookups():
        c = AIOKafkaConsumer(bootstrap_servers=bs, group_id=None, request_timeout_ms=15000)
        await c.start()
        try:
            out = {}
            for p in range(NP):
                tp = TopicPartition(topic, p)
                for q in time_queries(base, p):
                    out[(p, q)] = (await c.offsets_for_times({tp: q}))[tp]
            tps = [TopicPartition(topic, p) for p in range(NP)]
            return out, await c.beginning_offsets(tps), await c.end_offsets(tps)
        finally:
            await c.stop()

    res, begin, end = asyncio.run(lookups())
    for (p, q), r in res.items():
        want = first_at_or_after(sent[p], q)
        if want is None:
            assert r is None, (p, q - base, r)
        else:
            assert r is not None and r.offset == want and r.timestamp == sent[p][want].timestamp, (p, q - base, r, want)
    assert {tp.partition: o for tp, o in begin.items()} == {p: 0 for p in range(NP)}
    assert {tp.partition: o for tp, o in end.items()} == {p: len(sent[p]) for p in range(NP)}

    # Seek by the time lookup, then read from there.
    p = 1
    start = first_at_or_after(sent[p], base + p + 550)
    got = ak_consume(bs, topic, {p: len(sent[p]) - start}, start={p: start})
    assert [g.offset for g in got[p]] == list(range(start, len(sent[p])))
    assert [g.timestamp for g in got[p]] == [r.timestamp for r in sent[p][start:]]


def test_send_batch_api(shared_broker):
    """aiokafka's create_batch/send_batch: one hand-built batch to an explicit partition."""
    bs = shared_broker.bootstrap
    topic = uniq("ak-batch")
    assert ak_create(bs, topic, 2) == 0

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bs, compression_type="gzip")
        await p.start()
        try:
            batch = p.create_batch()
            for i in range(30):
                assert batch.append(key=b"k%d" % i, value=b"batched %d" % i, timestamp=None) is not None
            batch.close()
            fut = await p.send_batch(batch, topic, partition=1)
            return await fut
        finally:
            await p.stop()

    md = asyncio.run(run())
    assert md.partition == 1 and md.offset == 0
    got = ak_consume(bs, topic, {1: 30})
    assert [g.value for g in got[1]] == [b"batched %d" % i for i in range(30)]
    assert [b["count"] for b in stored_batches(shared_broker.data_dir, topic, 1)] == [30]


def test_small_fetch_limits_and_read_committed(shared_broker):
    bs = shared_broker.bootstrap
    topic = uniq("ak-smallfetch")
    assert ak_create(bs, topic, 1) == 0
    recs = [Rec(b"k%d" % i, bytes([i]) * 5000, (), None, 0) for i in range(20)]
    ak_produce(bs, topic, recs[:10])
    ak_produce(bs, topic, recs[10:], codec="snappy")
    got = ak_consume(bs, topic, {0: 20}, max_partition_fetch_bytes=100, fetch_max_bytes=100)
    check_consumed(recs, [0] * 20, got, check_timestamps=False)
    got = ak_consume(bs, topic, {0: 20}, isolation_level="read_committed")
    check_consumed(recs, [0] * 20, got, check_timestamps=False)
