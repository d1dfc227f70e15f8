"""The interop suite's murmur2 matches Kafka's ``Utils.murmur2`` and Java's default partitioner
(vectors from Kafka's UtilsTest and kafka-python's Java-compatibility test)."""

from __future__ import annotations

import os

import pytest

from murmur2 import murmur2, partition_for


@pytest.mark.parametrize(
    "data,want",
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_kafka_utils_vectors(data, want):
    assert murmur2(data) == want


@pytest.mark.parametrize("key,want", [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)])
def test_java_partitioner_vectors(key, want):
    assert partition_for(key, 1000) == want


def test_matches_kafka_python():
    kp = pytest.importorskip("kafka.partitioner.default")
    rnd = __import__("random").Random(7)
    for n in range(300):
        data = bytes(rnd.randrange(256) for _ in range(n % 37)) if n % 5 else os.urandom(n % 23)
        assert partition_for(data, 97) == (kp.murmur2(data) & 0x7FFFFFFF) % 97
