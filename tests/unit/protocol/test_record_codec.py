"""Record-level decoding and building of magic-2 batches (odradek.protocol.record_codec)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odradek.protocol import records
from odradek.protocol.errors import ErrorCode, KafkaError
from odradek.protocol.record_codec import (
    GZIP,
    LZ4,
    NONE,
    SNAPPY,
    XERIAL_MAGIC,
    ZSTD,
    Record,
    build_batch,
    decode_batch,
    decode_batches,
    decode_varint,
    encode_varint,
)

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "client-batches"
FIXTURE_FILES = sorted(FIXTURES.glob("*.bin"))
CODECS = [NONE, GZIP, SNAPPY, LZ4, ZSTD]


def rewrap(batch: bytes, payload: bytes) -> bytes:
    """``batch`` with its records field replaced by ``payload``: new length, valid CRC."""
    out = bytearray(batch[: records.HEADER_SIZE] + payload)
    struct.pack_into(">i", out, 8, len(out) - records.LOG_OVERHEAD)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def assert_corrupt(buf: bytes, **kwargs) -> None:
    with pytest.raises(KafkaError) as exc:
        decode_batch(buf, **kwargs)
    assert exc.value.code == ErrorCode.corrupt_message


# --------------------------------------------------------------------------------------------
# real client batches


def test_fixtures_present() -> None:
    assert len(FIXTURE_FILES) >= 20
    codecs = {records.read_header(p.read_bytes()).compression for p in FIXTURE_FILES}
    assert codecs == set(CODECS)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_client_batch_decodes(path: Path) -> None:
    buf = path.read_bytes()
    (scanned,) = records.scan(buf)  # CRC-32C verifies
    h, recs = decode_batch(buf)
    assert h == scanned
    assert len(recs) == h.record_count == 50
    # The kcat fixtures were produced with records numbered 1..50 rather than the 0..49 the
    # README describes; every other client's are 0..49.
    first = 1 if path.stem.startswith("kcat-") else 0
    for i, r in enumerate(recs):
        n = first + i
        assert r.offset == h.base_offset + i
        assert r.key == b"k%d" % n
        assert r.value == (b"hello kafka %d " % n) * 20
        assert r.headers == ()
        assert h.base_timestamp <= r.timestamp <= h.max_timestamp
    assert max(r.timestamp for r in recs) == h.max_timestamp
    assert decode_batches(buf) == recs


def test_snappy_framings_both_seen() -> None:
    def payload(name: str) -> bytes:
        return (FIXTURES / f"{name}.bin").read_bytes()[records.HEADER_SIZE :]

    assert payload("kp-snappy").startswith(XERIAL_MAGIC)
    assert payload("ak-snappy").startswith(XERIAL_MAGIC)
    assert not payload("ck-snappy").startswith(XERIAL_MAGIC)  # raw snappy block


def test_librdkafka_zstd_frame_has_no_content_size() -> None:
    batch = (FIXTURES / "ck-zstd.bin").read_bytes()
    frame = batch[records.HEADER_SIZE :]
    assert frame[:4] == b"\x28\xb5\x2f\xfd"
    descriptor = frame[4]
    assert descriptor >> 6 == 0 and not descriptor & 0x20  # no Frame_Content_Size field
    assert len(decode_batch(batch)[1]) == 50


@pytest.mark.parametrize("name", ["ck-default", "kp-default", "ak-default", "kjs-default"])
def test_build_reproduces_uncompressed_client_batch(name: str) -> None:
    buf = (FIXTURES / f"{name}.bin").read_bytes()
    h, recs = decode_batch(buf)
    rebuilt = build_batch(
        recs,
        base_offset=h.base_offset,
        base_timestamp=h.base_timestamp,
        producer_id=h.producer_id,
        producer_epoch=h.producer_epoch,
        base_sequence=h.base_sequence,
        partition_leader_epoch=h.partition_leader_epoch,
    )
    assert rebuilt == buf


# --------------------------------------------------------------------------------------------
# varints

VARINT_VECTORS = [
    (0, b"\x00"),
    (-1, b"\x01"),
    (1, b"\x02"),
    (63, b"\x7e"),
    (-64, b"\x7f"),
    (64, b"\x80\x01"),
    (-65, b"\x81\x01"),
    (300, b"\xd8\x04"),
    (2**31 - 1, b"\xfe\xff\xff\xff\x0f"),
    (-(2**31), b"\xff\xff\xff\xff\x0f"),
    (2**63 - 1, b"\xfe" + b"\xff" * 8 + b"\x01"),
    (-(2**63), b"\xff" * 9 + b"\x01"),
]


@pytest.mark.parametrize(("value", "encoded"), VARINT_VECTORS)
def test_varint_vectors(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(b"\xaa" + encoded + b"\xbb", 1) == (value, 1 + len(encoded))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_varint_out_of_range(value: int) -> None:
    with pytest.raises(ValueError):
        encode_varint(value)


@pytest.mark.parametrize("buf", [b"", b"\x80", b"\xff\xff", b"\xff" * 10 + b"\x01"])
def test_varint_truncated_or_overlong(buf: bytes) -> None:
    with pytest.raises(KafkaError) as exc:
        decode_varint(buf)
    assert exc.value.code == ErrorCode.corrupt_message


# --------------------------------------------------------------------------------------------
# round trips

payloads = st.none() | st.just(b"") | st.binary(max_size=200)
headers = st.lists(st.tuples(st.text(max_size=12), payloads), max_size=3).map(tuple)
record_inputs = st.lists(st.tuples(payloads, payloads, headers), max_size=25)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=record_inputs,
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=2**62),
    base_timestamp=st.integers(min_value=0, max_value=2**45),
)
def test_round_trip(items, codec: int, base_offset: int, base_timestamp: int) -> None:
    buf = build_batch(
        items, compression=codec, base_offset=base_offset, base_timestamp=base_timestamp
    )
    (h,) = records.scan(buf)
    assert h.compression == codec
    assert h.record_count == len(items)
    assert h.last_offset_delta == max(len(items) - 1, 0)
    assert h.base_timestamp == h.max_timestamp == base_timestamp
    got_header, got = decode_batch(buf)
    assert got_header == h
    assert got == [
        Record(base_offset + i, base_timestamp, k, v, hs) for i, (k, v, hs) in enumerate(items)
    ]


@st.composite
def batches_with_layout(draw):
    items = draw(record_inputs.filter(bool))
    n = len(items)
    gaps = draw(st.lists(st.integers(min_value=1, max_value=1000), min_size=n, max_size=n))
    deltas = [sum(gaps[: i + 1]) - gaps[0] for i in range(n)]
    stamps = draw(
        st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=n, max_size=n)
    )
    return items, deltas, stamps


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(layout=batches_with_layout(), codec=st.sampled_from(CODECS))
def test_round_trip_offsets_timestamps_and_producer_fields(layout, codec: int) -> None:
    items, deltas, stamps = layout
    buf = build_batch(
        items,
        compression=codec,
        base_offset=1000,
        timestamps=stamps,
        offset_deltas=deltas,
        producer_id=42,
        producer_epoch=3,
        base_sequence=7,
        partition_leader_epoch=9,
        is_transactional=True,
    )
    (h,) = records.scan(buf)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (42, 3, 7)
    assert h.partition_leader_epoch == 9 and h.is_transactional and not h.is_control
    assert h.last_offset_delta == deltas[-1]
    assert h.base_timestamp == stamps[0] and h.max_timestamp == max(stamps)
    _, got = decode_batch(buf)
    assert [r.offset for r in got] == [1000 + d for d in deltas]
    assert [r.timestamp for r in got] == stamps
    assert [(r.key, r.value, r.headers) for r in got] == list(items)
    # Records carry their timestamps into a rebuilt batch.
    again = build_batch(got, compression=codec, base_offset=1000, offset_deltas=deltas)
    assert decode_batch(again)[1] == got


def test_log_append_time_gives_every_record_max_timestamp() -> None:
    buf = build_batch([(b"a", b"1"), (b"b", b"2")], timestamps=[5, 9], log_append_time=True)
    h, got = decode_batch(buf)
    assert h.is_log_append_time
    assert [r.timestamp for r in got] == [9, 9]


def test_default_timestamp_is_now() -> None:
    import time

    before = time.time_ns() // 1_000_000
    h, got = decode_batch(build_batch([(b"k", b"v")]))
    after = time.time_ns() // 1_000_000
    assert before <= h.base_timestamp == got[0].timestamp <= after


def test_non_utf8_header_key_survives() -> None:
    # A header key that is not UTF-8 (other clients may send one) decodes and re-encodes as is.
    good = build_batch([(b"k", b"v", (("ab", b"x"),))], base_timestamp=0)
    bad = good.replace(b"\x04ab\x02x", b"\x04\xff\xfe\x02x")
    bad = rewrap(bad, bad[records.HEADER_SIZE :])
    _, (r,) = decode_batch(bad)
    assert build_batch([r])[records.HEADER_SIZE :] == bad[records.HEADER_SIZE :]


def test_lz4_frames_use_independent_blocks() -> None:
    # Kafka's Java LZ4 reader rejects frames whose blocks are linked.
    payload = build_batch([(None, b"x" * 300_000)], compression=LZ4)[records.HEADER_SIZE :]
    assert payload[:4] == b"\x04\x22\x4d\x18"
    assert payload[4] & 0x20


def test_decode_batches_skips_control_and_reads_positions() -> None:
    a = build_batch([(b"a", b"1"), (b"b", b"2")], base_offset=0, compression=GZIP)
    marker = build_batch([(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")], base_offset=2,
                         is_control=True, is_transactional=True)
    c = build_batch([(b"c", b"3")], base_offset=3, compression=ZSTD)
    buf = a + marker + c
    assert [(r.offset, r.key) for r in decode_batches(buf)] == [(0, b"a"), (1, b"b"), (3, b"c")]
    h, got = decode_batch(buf, len(a))
    assert h.is_control and got[0].offset == 2
    h, got = decode_batch(buf, len(a) + len(marker))
    assert got[0].key == b"c"


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        build_batch([(b"a", b"1"), (b"b", b"2")], offset_deltas=[1, 1])
    with pytest.raises(ValueError):
        build_batch([(b"a", b"1")], offset_deltas=[0, 1])
    with pytest.raises(ValueError):
        build_batch([(b"a", b"1")], timestamps=[])
    with pytest.raises(ValueError):
        build_batch([(b"a", b"1")], compression=5)


# --------------------------------------------------------------------------------------------
# corrupt input


@pytest.mark.parametrize("codec", [GZIP, SNAPPY, LZ4, ZSTD])
def test_garbage_compressed_payload(codec: int) -> None:
    batch = build_batch([(b"k", b"v" * 1000)] * 5, compression=codec)
    assert_corrupt(rewrap(batch, b"\x00garbage, not a compressed stream\xff" * 3))
    assert_corrupt(rewrap(batch, b""))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("keep", [0.0, 0.25, 0.5, 0.9])
def test_truncated_payload(codec: int, keep: float) -> None:
    batch = build_batch([(b"k%d" % i, b"value %d" % i * 50) for i in range(20)], compression=codec)
    payload = batch[records.HEADER_SIZE :]
    assert_corrupt(rewrap(batch, payload[: int(len(payload) * keep)]))


@pytest.mark.parametrize("path", [p for p in FIXTURE_FILES if "snappy" in p.stem], ids=lambda p: p.stem)
def test_truncated_client_snappy(path: Path) -> None:
    batch = path.read_bytes()
    payload = batch[records.HEADER_SIZE :]
    for cut in (1, 5, len(payload) // 2):
        assert_corrupt(rewrap(batch, payload[:-cut]))


def test_xerial_chunk_overrun() -> None:
    batch = (FIXTURES / "kp-snappy.bin").read_bytes()
    payload = bytearray(batch[records.HEADER_SIZE :])
    struct.pack_into(">i", payload, 16, 1 << 30)
    assert_corrupt(rewrap(batch, bytes(payload)))
    assert_corrupt(rewrap(batch, XERIAL_MAGIC + b"\x00\x00"))


def test_unknown_codec() -> None:
    batch = bytearray(build_batch([(b"k", b"v")]))
    struct.pack_into(">h", batch, 21, 5)
    assert_corrupt(rewrap(bytes(batch), bytes(batch[records.HEADER_SIZE :])))


def test_record_count_mismatch() -> None:
    batch = bytearray(build_batch([(b"k", b"v")] * 3))
    for count in (2, 4):
        struct.pack_into(">i", batch, 57, count)
        assert_corrupt(rewrap(bytes(batch), bytes(batch[records.HEADER_SIZE :])))


def test_trailing_bytes_inside_a_record() -> None:
    batch = build_batch([(b"k", b"v")], base_timestamp=0)
    payload = batch[records.HEADER_SIZE :]
    length, pos = decode_varint(payload)
    longer = encode_varint(length + 2) + payload[pos:] + b"\x00\x00"
    assert_corrupt(rewrap(batch, longer))


def test_crc_and_truncated_batch() -> None:
    batch = bytearray(build_batch([(b"k", b"v")] * 3, compression=GZIP))
    assert_corrupt(bytes(batch[:40]))
    assert_corrupt(bytes(batch[:-1]))
    batch[-1] ^= 0xFF
    assert_corrupt(bytes(batch))  # CRC mismatch
    with pytest.raises(KafkaError) as exc:
        decode_batch(bytes(batch), verify_crc=False)  # damaged gzip trailer
    assert exc.value.code == ErrorCode.corrupt_message
    with pytest.raises(KafkaError):
        decode_batches(bytes(batch))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    codec=st.sampled_from(CODECS),
    flips=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
        min_size=1,
        max_size=4,
    ),
    cut=st.integers(min_value=0, max_value=40),
)
def test_mutated_payload_only_raises_kafka_error(codec: int, flips, cut: int) -> None:
    batch = build_batch(
        [(b"key-%d" % i, b"some value %d" % i * 8, (("h", b"x"),)) for i in range(10)],
        compression=codec,
    )
    payload = bytearray(batch[records.HEADER_SIZE :])
    for where, xor in flips:
        payload[where % len(payload)] ^= xor
    mutated = rewrap(batch, bytes(payload[: len(payload) - cut]))
    try:
        decode_batch(mutated)
    except KafkaError as e:
        assert e.code == ErrorCode.corrupt_message
