"""Kafka's murmur2 partitioner, bit for bit as the Java client computes it (``Utils.murmur2``).

A keyed record goes to ``toPositive(murmur2(key)) % numPartitions`` with
``toPositive(x) = x & 0x7fffffff``: Java's default partitioner, librdkafka's ``murmur2_random``,
kafka-python's, aiokafka's and KafkaJS's default partitioners all agree, so keys land where
they would on Kafka.
"""

from __future__ import annotations

__all__ = ["murmur2", "to_positive", "partition_for_key"]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Kafka's ``Utils.murmur2``: the signed 32-bit hash of ``data``."""
    data = bytes(data)
    length = len(data)
    h = (_SEED ^ length) & _MASK
    m = _M
    end4 = length & ~3
    for i in range(0, end4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & _MASK
        k ^= k >> 24  # Java's >>> on a 32-bit int
        k = (k * m) & _MASK
        h = ((h * m) & _MASK) ^ k
    rem = length & 3
    # Java's switch falls through: case 3, then 2, then 1.
    if rem == 3:
        h ^= data[end4 + 2] << 16
    if rem >= 2:
        h ^= data[end4 + 1] << 8
    if rem >= 1:
        h ^= data[end4]
        h = (h * m) & _MASK
    h ^= h >> 13
    h = (h * m) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(x: int) -> int:
    """Java's ``Utils.toPositive``: clear the sign bit (not ``abs``)."""
    return x & 0x7FFFFFFF


def partition_for_key(key: bytes | bytearray | memoryview, num_partitions: int) -> int:
    """The partition Java's default partitioner picks for a non-null ``key``."""
    if num_partitions <= 0:
        raise ValueError("a topic has at least one partition")
    return to_positive(murmur2(key)) % num_partitions
