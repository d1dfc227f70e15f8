"""The consumer protocol's embedded messages: subscriptions and assignments inside JoinGroup/SyncGroup.

JoinGroup carries each member's ``ConsumerProtocolSubscription`` (``protocol_type`` "consumer")
and SyncGroup the leader's ``ConsumerProtocolAssignment`` per member; both are opaque bytes to the
broker. Layouts (big-endian, classic non-flexible encoding, as every Kafka client writes them)::

    Subscription v0: version int16, topics [string], user_data nullable bytes
                 v1: + owned_partitions [topic string, partitions [int32]]
                 v2: + generation_id int32
                 v3: + rack_id nullable string
    Assignment  v0+: version int16, assigned_partitions [topic string, partitions [int32]],
                     user_data nullable bytes

Decoders read any version and ignore what follows the fields they know (newer versions only add
fields at the end).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..protocol.errors import ErrorCode, KafkaError
from .types import TopicPartition

__all__ = ["Subscription", "Assignment", "encode_subscription", "decode_subscription", "encode_assignment", "decode_assignment"]

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


@dataclass
class Subscription:
    topics: list[str]
    user_data: bytes | None = None
    owned_partitions: list[TopicPartition] = field(default_factory=list)
    generation_id: int = -1
    rack_id: str | None = None
    version: int = 3


@dataclass
class Assignment:
    partitions: list[TopicPartition]
    user_data: bytes | None = None
    version: int = 3


def _w_str(out: bytearray, s: str | None) -> None:
    if s is None:
        out += _I16.pack(-1)
        return
    b = s.encode()
    out += _I16.pack(len(b))
    out += b


def _w_bytes(out: bytearray, b: bytes | None) -> None:
    if b is None:
        out += _I32.pack(-1)
        return
    out += _I32.pack(len(b))
    out += b


def _w_tps(out: bytearray, tps: Iterable[TopicPartition]) -> None:
    by_topic: dict[str, list[int]] = {}
    for t, p in tps:
        by_topic.setdefault(t, []).append(p)
    out += _I32.pack(len(by_topic))
    for t in sorted(by_topic):
        _w_str(out, t)
        ps = sorted(by_topic[t])
        out += _I32.pack(len(ps))
        for p in ps:
            out += _I32.pack(p)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def i16(self) -> int:
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return v

    def i32(self) -> int:
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return v

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        s = bytes(self.data[self.pos : self.pos + n]).decode()
        if self.pos + n > len(self.data):
            raise ValueError("truncated string")
        self.pos += n
        return s

    def bytes_(self) -> bytes | None:
        n = self.i32()
        if n < 0:
            return None
        if self.pos + n > len(self.data):
            raise ValueError("truncated bytes")
        b = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return b

    def tps(self) -> list[TopicPartition]:
        out = []
        for _ in range(self.i32()):
            t = self.string() or ""
            for _ in range(self.i32()):
                out.append(TopicPartition(t, self.i32()))
        return out


def encode_subscription(sub: Subscription) -> bytes:
    v = sub.version
    out = bytearray(_I16.pack(v))
    topics = sorted(set(sub.topics))
    out += _I32.pack(len(topics))
    for t in topics:
        _w_str(out, t)
    _w_bytes(out, sub.user_data)
    if v >= 1:
        _w_tps(out, sub.owned_partitions)
    if v >= 2:
        out += _I32.pack(sub.generation_id)
    if v >= 3:
        _w_str(out, sub.rack_id)
    return bytes(out)


def decode_subscription(data: bytes) -> Subscription:
    try:
        r = _Reader(data)
        v = r.i16()
        topics = [r.string() or "" for _ in range(r.i32())]
        user_data = r.bytes_()
        sub = Subscription(topics, user_data, version=v)
        if v >= 1 and r.more():
            sub.owned_partitions = r.tps()
        if v >= 2 and r.more():
            sub.generation_id = r.i32()
        if v >= 3 and r.more():
            sub.rack_id = r.string()
        return sub
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise KafkaError(ErrorCode.inconsistent_group_protocol, f"undecodable consumer subscription: {e}") from None


def encode_assignment(a: Assignment) -> bytes:
    out = bytearray(_I16.pack(a.version))
    _w_tps(out, a.partitions)
    _w_bytes(out, a.user_data)
    return bytes(out)


def decode_assignment(data: bytes) -> Assignment:
    if not data:
        return Assignment([])
    try:
        r = _Reader(data)
        v = r.i16()
        tps = r.tps()
        user_data = r.bytes_() if r.more() else None
        return Assignment(tps, user_data, v)
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise KafkaError(ErrorCode.inconsistent_group_protocol, f"undecodable consumer assignment: {e}") from None
