"""The producer's batches and the consumer's record parsing, with every codec, without a broker."""

from __future__ import annotations

import pytest

from odradek.client import Consumer, Producer
from odradek.client.cluster import bootstrap_from_env, parse_bootstrap
from odradek.client.errors import BrokerUnreachable, ErrorCode, KafkaError, is_retriable
from odradek.client.producer import CODECS, _Batch
from odradek.client.types import TopicPartition as TP
from odradek.protocol import record_codec
from odradek.protocol.records import read_header


def sealed(codec: str, records: list[tuple], idempotent: bool = True) -> bytes:
    p = Producer("127.0.0.1:1", compression=codec, enable_idempotence=idempotent)
    p.producer_id, p.producer_epoch = 42, 3
    b = _Batch(TP("t", 0), 0.0, 1e9)
    for r in records:
        b.add(*r)
    p._seal(b)
    assert b.payload is not None
    return b.payload


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_batch_round_trip_every_codec(codec: str) -> None:
    # timestamps go backwards too (negative deltas), values reach the 3-byte varint lengths
    recs = [(f"k{i}".encode() if i % 3 else None, (b"value %d " % i) * (20 if i != 7 else 3000), (("h", b"x"), ("n", None)) if i % 2 else (), 1_700_000_000_000 + (i * 37) % 11 - 5) for i in range(50)]
    payload = sealed(codec, recs)
    h, out = record_codec.decode_batch(payload)
    assert h.compression == CODECS[codec]
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.record_count) == (42, 3, 0, 50)
    assert [(r.key, r.value, r.headers, r.timestamp) for r in out] == [(k, v, tuple(hs), ts) for k, v, hs, ts in recs]
    if codec != "none":
        assert len(payload) < len(sealed("none", recs))


def test_sequences_advance_per_partition_and_not_without_idempotence() -> None:
    p = Producer("127.0.0.1:1")
    p.producer_id, p.producer_epoch = 1, 0
    seqs = []
    for n in (3, 5, 2):
        b = _Batch(TP("t", 0), 0.0, 1e9)
        for _ in range(n):
            b.add(None, b"v", (), 0)
        p._seal(b)
        seqs.append(read_header(b.payload).base_sequence)
    other = _Batch(TP("t", 1), 0.0, 1e9)
    other.add(None, b"v", (), 0)
    p._seal(other)
    assert seqs == [0, 3, 8] and read_header(other.payload).base_sequence == 0
    h = read_header(sealed("none", [(None, b"v", (), 0)], idempotent=False))
    assert (h.producer_id, h.base_sequence) == (-1, -1)


def test_consumer_parse_skips_old_offsets_control_batches_and_partial_tail() -> None:
    c = Consumer("127.0.0.1:1")
    tp = TP("t", 0)
    b1 = record_codec.build_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], base_offset=10, compression=record_codec.LZ4)
    ctl = record_codec.build_batch([(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00")], base_offset=13, is_control=True, is_transactional=True)
    b2 = record_codec.build_batch([(None, b"4")], base_offset=14)
    data = b1 + ctl + b2 + b2[:30]  # a partial batch at the end, as a size-limited fetch returns
    recs, nxt = c._parse(tp, data, 11)
    assert [(r.offset, r.value) for r in recs] == [(11, b"2"), (12, b"3"), (14, b"4")]
    assert nxt == 15
    recs, nxt = c._parse(tp, b1 + ctl, 13)
    assert recs == [] and nxt == 14  # the position moves past a control batch


def test_consumer_parse_rejects_corrupt_batch() -> None:
    c = Consumer("127.0.0.1:1")
    bad = bytearray(record_codec.build_batch([(b"k", b"v")]))
    bad[-1] ^= 0xFF
    with pytest.raises(KafkaError) as e:
        c._parse(TP("t", 0), bytes(bad), 0)
    assert e.value.name == "CORRUPT_MESSAGE"


def test_drain_moves_positions_as_records_are_returned() -> None:
    c = Consumer("127.0.0.1:1")
    tp = TP("t", 0)
    c.assign([tp])
    from odradek.client.consumer import _Fetched

    data = record_codec.build_batch([(None, b"%d" % i) for i in range(10)], base_offset=0)
    data += record_codec.build_batch([(b"\x00\x00\x00\x00", b"\x00" * 6)], base_offset=10, is_control=True, is_transactional=True)
    c._buffer.append(_Fetched(tp, data, 0))
    assert [r.offset for r in c._drain(4)] == [0, 1, 2, 3]
    assert c._positions[tp] == 4
    assert [r.offset for r in c._drain(100)] == [4, 5, 6, 7, 8, 9]
    assert c._positions[tp] == 11 and not c._buffer  # past the trailing control batch


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        Producer(compression="brotli")
    with pytest.raises(ValueError):
        Producer(acks=2)
    with pytest.raises(ValueError):
        Producer(partitioner="hash")
    assert Producer(acks=1).idempotent is False  # explicit acks 0/1 turn idempotence off
    assert Producer().acks == -1 and Producer().idempotent
    with pytest.raises(ValueError):
        Consumer(auto_offset_reset="middle")
    with pytest.raises(KafkaError):
        Consumer().subscribe(["t"])  # no group_id


def test_sticky_and_round_robin_partitioners() -> None:
    p = Producer("127.0.0.1:1", partitioner="round_robin")
    assert [p._partition("t", None, 3) for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    s = Producer("127.0.0.1:1")
    first = {s._partition("t", None, 4) for _ in range(10)}
    assert len(first) == 1  # sticky until the batch closes
    s._batch_closed(TP("t", first.pop()))
    assert s.cluster.partition_count("t") == 0  # no metadata: stays; with metadata it moves on
    assert s._partition("t", b"foobar", 7) == (-790332482 & 0x7FFFFFFF) % 7


def test_bootstrap_parsing_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_bootstrap("a:1, b:2,PLAINTEXT://c:3,d") == [("a", 1), ("b", 2), ("c", 3), ("d", 9092)]
    assert parse_bootstrap(["[::1]:9093"]) == [("::1", 9093)]
    with pytest.raises(ValueError):
        parse_bootstrap("")
    monkeypatch.delenv("ODRADEK_BOOTSTRAP_SERVER", raising=False)
    assert bootstrap_from_env() == "127.0.0.1:9092"
    monkeypatch.setenv("ODRADEK_BOOTSTRAP_SERVER", "h:5")
    assert bootstrap_from_env() == "h:5" and bootstrap_from_env("x:1") == "x:1"


def test_errors_carry_kafka_names() -> None:
    e = KafkaError(ErrorCode.topic_already_exists, "orders")
    assert e.name == "TOPIC_ALREADY_EXISTS" and "TOPIC_ALREADY_EXISTS" in str(e)
    assert is_retriable(KafkaError(ErrorCode.not_leader_or_follower)) and not is_retriable(e)
    u = BrokerUnreachable("down")
    assert isinstance(u, ConnectionError) and u.name == "NETWORK_EXCEPTION" and is_retriable(u)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_consumer_decoder_agrees_with_record_codec(codec: str) -> None:
    import random

    from odradek.client.consumer import _decode_records

    rnd = random.Random(codec)
    for trial in range(20):
        recs = []
        for i in range(rnd.randint(1, 40)):
            key = None if rnd.random() < 0.2 else rnd.randbytes(rnd.choice([0, 3, 70, 300]))
            value = None if rnd.random() < 0.1 else rnd.randbytes(rnd.choice([0, 1, 63, 64, 200, 20000]))
            headers = tuple((f"h{j}é", None if rnd.random() < 0.3 else rnd.randbytes(rnd.randint(0, 90))) for j in range(rnd.choice([0, 0, 1, 3])))
            recs.append(record_codec.Record(0, 1_700_000_000_000 + rnd.randint(-5000, 5000), key, value, headers))
        deltas = sorted(rnd.sample(range(0, 500), len(recs)))
        batch = record_codec.build_batch(recs, compression=CODECS[codec], base_offset=1000 * trial, offset_deltas=deltas,
                                         log_append_time=trial % 5 == 4)
        want = record_codec.decode_batch(batch)[1]
        h = read_header(batch)
        lo = 1000 * trial + deltas[len(deltas) // 2]
        got = _decode_records(TP("t", 3), memoryview(batch), h, lo)
        assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in got] == [
            (r.offset, r.timestamp, r.key, r.value, r.headers) for r in want if r.offset >= lo
        ]
        assert all(r.timestamp_type == (1 if trial % 5 == 4 else 0) and r.partition == 3 for r in got)


def test_consumer_decoder_rejects_truncated_records() -> None:
    from odradek.client.consumer import _decode_records

    batch = bytearray(record_codec.build_batch([(b"key", b"value" * 10)]))
    batch[61] = 0x7E  # record length far beyond the batch
    with pytest.raises(KafkaError) as e:
        _decode_records(TP("t", 0), memoryview(bytes(batch)), read_header(batch), 0)
    assert e.value.name == "CORRUPT_MESSAGE"
