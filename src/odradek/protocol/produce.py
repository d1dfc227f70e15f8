"""Produce requests and responses, coded by hand (the hot path).

The decoder walks the request with memoryviews: the records of each partition stay a view into
the frame, never copied here. Versions 0-10 (flexible from 9). Versions 0-2 can only carry the old
message formats, which the broker refuses per partition with UNSUPPORTED_FOR_MESSAGE_FORMAT.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import ErrorCode, KafkaError
from .messages import read_uvarint, skip_tagged_fields, write_uvarint

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_PART_RESP = struct.Struct(">ihqqq")  # index, error, base_offset, log_append_time, log_start_offset


class ProducePartition(NamedTuple):
    index: int
    records: memoryview | None


class ProduceTopic(NamedTuple):
    name: str
    partitions: list[ProducePartition]


class ProduceRequest(NamedTuple):
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[ProduceTopic]


class _Reader:
    __slots__ = ("buf", "pos", "flexible")

    def __init__(self, buf: memoryview, pos: int, flexible: bool) -> None:
        self.buf = buf
        self.pos = pos
        self.flexible = flexible

    def need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise KafkaError(ErrorCode.invalid_request, "truncated Produce request")

    def i16(self) -> int:
        self.need(2)
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return v

    def i32(self) -> int:
        self.need(4)
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def compact_length(self) -> int:
        """Length of a compact array/string/bytes (flexible versions); -1 for null."""
        n, self.pos = read_uvarint(self.buf, self.pos)
        return n - 1

    def string(self) -> str | None:
        n = self.compact_length() if self.flexible else self.i16()
        if n < 0:
            return None
        self.need(n)
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def array_len(self) -> int:
        n = self.compact_length() if self.flexible else self.i32()
        if n > len(self.buf):
            raise KafkaError(ErrorCode.invalid_request, "array length beyond the frame")
        return n

    def bytes_(self) -> memoryview | None:
        n = self.compact_length() if self.flexible else self.i32()
        if n < 0:
            return None
        self.need(n)
        v = self.buf[self.pos : self.pos + n]
        self.pos += n
        return v

    def tags(self) -> None:
        if self.flexible:
            self.pos = skip_tagged_fields(self.buf, self.pos)


def decode_request(frame, offset: int, version: int) -> ProduceRequest:
    r = _Reader(memoryview(frame), offset, version >= 9)
    txn = r.string() if version >= 3 else None
    acks = r.i16()
    timeout = r.i32()
    topics = []
    for _ in range(max(r.array_len(), 0)):
        name = r.string()
        if name is None:
            raise KafkaError(ErrorCode.invalid_request, "null topic name")
        parts = []
        for _ in range(max(r.array_len(), 0)):
            idx = r.i32()
            recs = r.bytes_()
            r.tags()
            parts.append(ProducePartition(idx, recs))
        r.tags()
        topics.append(ProduceTopic(name, parts))
    r.tags()
    return ProduceRequest(txn, acks, timeout, topics)


def _str(s: str, flexible: bool) -> bytes:
    b = s.encode()
    return (write_uvarint(len(b) + 1) if flexible else _I16.pack(len(b))) + b


def _nullable_str(s: str | None, flexible: bool) -> bytes:
    if s is None:
        return b"\x00" if flexible else b"\xff\xff"
    return _str(s, flexible)


class PartitionResult(NamedTuple):
    index: int
    error: int
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    error_message: str | None = None
    record_errors: tuple[tuple[int, str | None], ...] | list = ()  # (batch index, message), KIP-467


def encode_response(version: int, topics: list[tuple[str, list[PartitionResult]]], throttle_ms: int = 0) -> bytes:
    """Produce response body for ``version`` (0-10)."""
    flexible = version >= 9
    out = bytearray()
    arr = (lambda n: write_uvarint(n + 1)) if flexible else _I32.pack
    out += arr(len(topics))
    for name, parts in topics:
        out += _str(name, flexible)
        out += arr(len(parts))
        for p in parts:
            if version >= 5:
                out += _PART_RESP.pack(p.index, p.error, p.base_offset, p.log_append_time, p.log_start_offset)
            elif version >= 2:
                out += _PART_RESP.pack(p.index, p.error, p.base_offset, p.log_append_time, 0)[:-8]
            else:
                out += _PART_RESP.pack(p.index, p.error, p.base_offset, 0, 0)[:-16]
            if version >= 8:
                out += arr(len(p.record_errors))
                for index, message in p.record_errors:
                    out += _I32.pack(index)
                    out += _nullable_str(message, flexible)
                    if flexible:
                        out += b"\x00"
                out += _nullable_str(p.error_message, flexible)
            if flexible:
                out += b"\x00"
        if flexible:
            out += b"\x00"
    if version >= 1:
        out += _I32.pack(throttle_ms)
    if flexible:
        out += b"\x00"
    return bytes(out)
