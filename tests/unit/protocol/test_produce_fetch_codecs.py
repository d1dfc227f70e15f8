"""The hand-written Produce decoder and Fetch encoder agree with kio's generated codecs."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FIXTURES
from odradek.protocol import fetch, messages, produce
from odradek.protocol.errors import KafkaError

BATCHES = sorted(FIXTURES.glob("*.bin"))


def _kio_produce(version: int, topics) -> bytes:
    return messages.encode_request(
        0,
        version,
        {
            "transactional_id": None,
            "acks": -1,
            "timeout": 1500,
            "topic_data": [
                {"name": name, "partition_data": [{"index": i, "records": recs} for i, recs in parts]}
                for name, parts in topics
            ],
        },
    )


@pytest.mark.parametrize("version", range(3, 11))
def test_produce_decode_matches_kio(version):
    recs = [p.read_bytes() for p in BATCHES[:3]]
    topics = [("alpha", [(0, recs[0]), (2, recs[1])]), ("beta.b-c", [(1, recs[2])])]
    body = _kio_produce(version, topics)
    req = produce.decode_request(body, 0, version)
    assert req.acks == -1 and req.timeout_ms == 1500 and req.transactional_id is None
    got = [(t.name, [(p.index, bytes(p.records)) for p in t.partitions]) for t in req.topics]
    assert got == topics


@settings(max_examples=200, deadline=None)
@given(version=st.integers(3, 10), cut=st.integers(0, 10_000), data=st.binary(max_size=64))
def test_produce_decode_truncated_or_garbage_raises_kafka_error(version, cut, data):
    body = _kio_produce(version, [("t", [(0, BATCHES[0].read_bytes())])])
    for candidate in (body[: cut % (len(body) + 1)], data):
        try:
            produce.decode_request(candidate, 0, version)
        except KafkaError:
            pass


@pytest.mark.parametrize("version", range(0, 11))
def test_produce_response_decodes_with_kio(version):
    results = [("t", [produce.PartitionResult(0, 0, 42, -1, 7), produce.PartitionResult(1, 3)])]
    body = produce.encode_response(version, results)
    if version < 3:
        return  # kio has no schema before v3; the layout is the v3 one without later fields
    resp = messages.decode_response(0, version, body)
    (topic,) = resp.responses
    assert topic.name == "t"
    p0, p1 = topic.partition_responses
    assert (p0.index, p0.error_code, p0.base_offset) == (0, 0, 42)
    assert (p1.index, int(p1.error_code)) == (1, 3)
    if version >= 5:
        assert p0.log_start_offset == 7


class Region:
    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)


@pytest.mark.parametrize("version", range(4, 17))
def test_fetch_response_decodes_with_kio(version):
    data = BATCHES[0].read_bytes()
    tid = uuid.uuid4()
    topics = [
        fetch.FetchTopicData(
            "t",
            tid,
            [
                fetch.FetchPartitionData(0, 0, 100, 100, 5, [Region(data[:1000]), Region(data[1000:])], len(data)),
                fetch.FetchPartitionData(1, 1, 10, 10, 0),
            ],
        )
    ]
    chunks, size = fetch.encode_response(version, topics)
    body = b"".join(c if isinstance(c, bytes) else c.data for c in chunks)
    assert len(body) == size
    resp = messages.decode_response(1, version, body)
    (topic,) = resp.responses
    if version >= 13:
        assert topic.topic_id == tid
    else:
        assert topic.topic == "t"
    p0, p1 = topic.partitions
    assert p0.high_watermark == 100 and bytes(p0.records) == data
    assert int(p1.error_code) == 1 and not p1.records
    if version >= 5:
        assert p0.log_start_offset == 5


def test_request_header_flexible_and_not():
    frame = b"\x00\x03\x00\x0c\x00\x00\x00\x07\x00\x03abc\x00rest"
    h = messages.parse_request_header(frame, True)
    assert (h.api_key, h.api_version, h.correlation_id, h.client_id) == (3, 12, 7, "abc")
    assert frame[h.body_offset :] == b"rest"
    h = messages.parse_request_header(b"\x00\x03\x00\x01\x00\x00\x00\x07\xff\xffrest", False)
    assert h.client_id is None and h.body_offset == 10


def test_build_fills_defaults_across_versions():
    data = {"brokers": [{"node_id": 1, "host": "h", "port": 1}], "topics": [], "cluster_id": "c"}
    for v in range(0, 14):
        resp = messages.decode_response(3, v, messages.encode_response(3, v, data))
        assert resp.brokers[0].host == "h"
