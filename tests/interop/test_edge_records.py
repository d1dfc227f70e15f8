"""Edge cases of record contents, as a Kafka user meets them: headers with null values, empty
keys versus null keys (also on a compacted topic, where only a null key is refused), and records
with timestamp 0 and negative timestamps (stored and served as sent; ListOffsets by time counts
them like any other timestamp).

Every assertion is what a real Kafka broker does with the same client calls.
"""

from __future__ import annotations

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import OffsetSpec  # noqa: E402

from interop_clients import (  # noqa: E402
    Rec,
    ak_consume,
    ak_produce,
    ck_admin,
    ck_config,
    ck_consume,
    ck_create_topic,
    ck_produce,
    kcat_consume,
    kp_consume,
    kp_produce,
    uniq,
)

pytestmark = pytest.mark.interop

READERS = {"confluent": ck_consume, "kafka-python": kp_consume, "aiokafka": ak_consume, "kcat": kcat_consume}


def _summary(got):
    return [(g.offset, g.key, g.value, g.headers) for g in got[0]]


@pytest.fixture(scope="module")
def null_things_topic(shared_broker):
    """Null and empty keys, values and header values, uncompressed and zstd (librdkafka) and
    gzip (aiokafka)."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-nulls")
    ck_create_topic(bs, topic, 1)
    recs = [
        Rec(None, b"null key", (("h", None),), None, 0),
        Rec(b"", b"empty key", (("h", b""),), None, 0),
        Rec(b"k", None, (("a", None), ("a", b""), ("a", b"x")), None, 0),
        Rec(b"", b"", (("", None),), None, 0),
        Rec(None, None, (), None, 0),
    ]
    want = []
    for codec in ("none", "zstd"):
        ck_produce(bs, topic, recs, codec=codec)
        want += recs
    ak_recs = [Rec(b"", b"ak empty key", (("n", None),), None, 0), Rec(None, b"ak null key", (("n", b""),), None, 0)]
    ak_produce(bs, topic, ak_recs, codec="gzip")
    want += ak_recs
    return topic, want


@pytest.mark.parametrize("reader", list(READERS))
def test_null_header_values_and_empty_vs_null_keys(shared_broker, null_things_topic, reader):
    """A null header value stays null (not b""), an empty key stays empty (not null), for every
    reader, whatever the codec."""
    topic, want = null_things_topic
    got = READERS[reader](shared_broker.bootstrap, topic, {0: len(want)}, timeout=20)
    assert _summary(got) == [(i, r.key, r.value, r.headers) for i, r in enumerate(want)]


def test_compacted_topic_takes_empty_key_refuses_null_key(shared_broker):
    """On cleanup.policy=compact an empty key is a key (Kafka checks ``hasKey``): taken. Only a
    null key is refused (INVALID_RECORD)."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-compact-empty")
    ck_create_topic(bs, topic, 1, configs={"cleanup.policy": "compact"})
    for codec in ("none", "lz4"):
        ck_produce(bs, topic, [Rec(b"", b"empty-key value", (), None, 0), Rec(b"k", b"v", (), None, 0)], codec=codec)
    kp_produce(bs, topic, [Rec(b"", b"kp empty", (), None, 0)], codec="snappy")
    with pytest.raises(AssertionError, match="INVALID_RECORD|InvalidRecord"):
        ck_produce(bs, topic, [Rec(None, b"no key", (), None, 0)], **{"message.timeout.ms": 5000})
    got = ck_consume(bs, topic, {0: 5})
    assert [(g.key, g.value) for g in got[0]] == [
        (b"", b"empty-key value"), (b"k", b"v"), (b"", b"empty-key value"), (b"k", b"v"), (b"", b"kp empty"),
    ]


def test_timestamp_zero_and_negative(shared_broker):
    """CreateTime 0 and negative CreateTimes are stored and served as sent (librdkafka would
    stamp 0 with the current time, so kafka-python and aiokafka write them). A time lookup for 0
    names the first record at or after 0; max timestamp names the largest."""
    bs = shared_broker.bootstrap
    topic = uniq("edge-ts0")
    ck_create_topic(bs, topic, 1)
    kp_recs = [Rec(b"a", b"ts0", (), 0, 0), Rec(b"b", b"ts-5", (), -5, 0), Rec(b"c", b"ts1000", (), 1000, 0), Rec(b"d", b"ts0 again", (), 0, 0)]
    kp_produce(bs, topic, kp_recs, codec="gzip")
    ak_recs = [Rec(b"e", b"ts-7", (), -7, 0), Rec(b"f", b"ts3", (), 3, 0)]
    ak_produce(bs, topic, ak_recs)
    want = [(r.value, r.timestamp) for r in kp_recs + ak_recs]
    for name, reader in READERS.items():
        got = reader(bs, topic, {0: len(want)}, timeout=20)
        assert [(g.value, g.timestamp) for g in got[0]] == want, name

    from confluent_kafka import Consumer

    c = Consumer(ck_config(bs, **{"group.id": uniq("edge-ts0")}))
    try:
        for q, off in ((0, 0), (1, 2), (3, 2), (1000, 2), (1001, -1)):
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, q)], timeout=10)
            assert tp.error is None and tp.offset == off, (q, tp)
    finally:
        c.close()
    admin = ck_admin(bs)
    (f,) = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()}, request_timeout=10).values()
    info = f.result(timeout=15)
    assert (info.offset, info.timestamp) == (2, 1000)
