"""murmur2 and the keyed partition choice, against values computed by Kafka's Java client."""

from __future__ import annotations

import pytest

from odradek.client.murmur2 import murmur2, partition_for_key, to_positive

# org.apache.kafka.common.utils.UtilsTest#testMurmur2
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("key,expected", sorted(JAVA_MURMUR2.items()))
def test_murmur2_matches_java(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_every_tail_length_and_empty_key() -> None:
    # lengths 0..7 exercise the fall-through switch on the 1-3 trailing bytes
    values = [murmur2(b"abcdefg"[:n]) for n in range(8)]
    assert len(set(values)) == 8
    assert all(-(1 << 31) <= v < (1 << 31) for v in values)
    assert murmur2(b"") == 275646681  # seed 0x9747b28c mixed with no data


def test_to_positive_clears_the_sign_bit_not_abs() -> None:
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(1 << 31)) == 0
    assert to_positive(5) == 5


def test_partition_for_key() -> None:
    # toPositive(murmur2("foobar")) % n as Java's BuiltInPartitioner.partitionForKey computes it
    h = to_positive(-790332482)
    for n in (1, 2, 3, 7, 12, 100):
        assert partition_for_key(b"foobar", n) == h % n
    assert partition_for_key(bytearray(b"foobar"), 7) == partition_for_key(memoryview(b"foobar"), 7)
    with pytest.raises(ValueError):
        partition_for_key(b"x", 0)
