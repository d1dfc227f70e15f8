"""Kafka's murmur2 partitioner, as the Java client computes it (``Utils.murmur2``).

``partition_for(key, n)`` is what Java's default partitioner (and librdkafka's ``murmur2_random``,
kafka-python's and aiokafka's ``DefaultPartitioner``, KafkaJS's ``DefaultPartitioner``) picks for
a keyed record: ``toPositive(murmur2(key)) % n`` with ``toPositive(x) = x & 0x7fffffff``.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def _to_int32(x: int) -> int:
    x &= _MASK
    return x - (1 << 32) if x & 0x80000000 else x


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: a signed 32-bit hash of ``data``."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24  # Java's >>> on a 32-bit int
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length & ~3
    rem = length % 4
    # Java's switch falls through: case 3 then 2 then 1.
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return _to_int32(h)


def to_positive(x: int) -> int:
    return x & 0x7FFFFFFF


def partition_for(key: bytes, num_partitions: int) -> int:
    """The partition Java's default partitioner picks for a non-null ``key``."""
    return to_positive(murmur2(key)) % num_partitions
