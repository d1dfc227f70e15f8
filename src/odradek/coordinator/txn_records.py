"""Keys and values of the records in ``__transaction_state``, in Kafka's own format.

Key: version int16 (0), transactional id (string). Value, version 0 (non-flexible): producer id
int64, producer epoch int16, transaction timeout int32, status int8 (the state's id), partitions
(nullable array of topic string + int32 array; null when Empty), last update timestamp int64,
start timestamp int64. A null value (tombstone) is an expired transactional id.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_H = struct.Struct(">h")
_I = struct.Struct(">i")
_VALUE_HEAD = struct.Struct(">hqhib")  # version, producer id, epoch, timeout, status
_TIMES = struct.Struct(">qq")

TXN_TOPIC = "__transaction_state"


@dataclass
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    status: int
    partitions: list[tuple[str, list[int]]] | None
    last_update_ms: int
    start_ms: int


def _str(s: str) -> bytes:
    b = s.encode()
    return _H.pack(len(b)) + b


def encode_key(transactional_id: str) -> bytes:
    return _H.pack(0) + _str(transactional_id)


def decode_key(data: bytes) -> str:
    version, n = struct.unpack_from(">hh", data, 0)
    if version != 0:
        raise ValueError(f"unknown __transaction_state key version {version}")
    return data[4 : 4 + n].decode()


def encode_value(v: TxnLogValue) -> bytes:
    out = bytearray(_VALUE_HEAD.pack(0, v.producer_id, v.producer_epoch, v.timeout_ms, v.status))
    if v.partitions is None:
        out += _I.pack(-1)
    else:
        out += _I.pack(len(v.partitions))
        for topic, parts in v.partitions:
            out += _str(topic) + _I.pack(len(parts)) + b"".join(_I.pack(p) for p in parts)
    out += _TIMES.pack(v.last_update_ms, v.start_ms)
    return bytes(out)


def decode_value(data: bytes) -> TxnLogValue:
    version, pid, epoch, timeout, status = _VALUE_HEAD.unpack_from(data, 0)
    if version != 0:
        raise ValueError(f"__transaction_state value version {version} is not read by Odradek")
    pos = _VALUE_HEAD.size
    (n,) = _I.unpack_from(data, pos)
    pos += 4
    partitions: list[tuple[str, list[int]]] | None = None
    if n >= 0:
        partitions = []
        for _ in range(n):
            (ln,) = _H.unpack_from(data, pos)
            pos += 2
            topic = data[pos : pos + ln].decode()
            pos += ln
            (k,) = _I.unpack_from(data, pos)
            pos += 4
            parts = list(struct.unpack_from(f">{k}i", data, pos))
            pos += 4 * k
            partitions.append((topic, parts))
    last_update, start = _TIMES.unpack_from(data, pos)
    return TxnLogValue(pid, epoch, timeout, status, partitions, last_update, start)
