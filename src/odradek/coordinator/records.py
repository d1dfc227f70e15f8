"""Keys and values of the records in ``__consumer_offsets``, in Kafka's own formats.

Offset commit: key v1 (group, topic, partition), value v3 (offset, leader epoch, metadata, commit
timestamp). Group metadata: key v2 (group), value v3 (protocol type, generation, protocol, leader,
state timestamp, members). A null value is a tombstone that deletes the key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_H = struct.Struct(">h")
_I = struct.Struct(">i")
_Q = struct.Struct(">q")


@dataclass(frozen=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True)
class GroupKey:
    group: str


@dataclass
class OffsetValue:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


@dataclass
class MemberValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass
class GroupValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    state_timestamp: int
    members: list[MemberValue]


def _str(s: str | None) -> bytes:
    if s is None:
        return _H.pack(-1)
    b = s.encode()
    return _H.pack(len(b)) + b


def _bytes(b: bytes | None) -> bytes:
    if b is None:
        return _I.pack(-1)
    return _I.pack(len(b)) + bytes(b)


class _R:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def h(self) -> int:
        (v,) = _H.unpack_from(self.buf, self.pos)
        self.pos += 2
        return v

    def i(self) -> int:
        (v,) = _I.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def q(self) -> int:
        (v,) = _Q.unpack_from(self.buf, self.pos)
        self.pos += 8
        return v

    def s(self) -> str | None:
        n = self.h()
        if n < 0:
            return None
        v = self.buf[self.pos : self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return v

    def b(self) -> bytes | None:
        n = self.i()
        if n < 0:
            return None
        v = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return v


def encode_offset_key(k: OffsetKey) -> bytes:
    return _H.pack(1) + _str(k.group) + _str(k.topic) + _I.pack(k.partition)


def encode_offset_value(v: OffsetValue) -> bytes:
    return _H.pack(3) + _Q.pack(v.offset) + _I.pack(v.leader_epoch) + _str(v.metadata) + _Q.pack(v.commit_timestamp)


def encode_group_key(k: GroupKey) -> bytes:
    return _H.pack(2) + _str(k.group)


def encode_group_value(v: GroupValue) -> bytes:
    out = bytearray(_H.pack(3))
    out += _str(v.protocol_type) + _I.pack(v.generation) + _str(v.protocol) + _str(v.leader) + _Q.pack(v.state_timestamp)
    out += _I.pack(len(v.members))
    for m in v.members:
        out += _str(m.member_id) + _str(m.group_instance_id) + _str(m.client_id) + _str(m.client_host)
        out += _I.pack(m.rebalance_timeout) + _I.pack(m.session_timeout) + _bytes(m.subscription) + _bytes(m.assignment)
    return bytes(out)


def decode_key(buf: bytes) -> OffsetKey | GroupKey | None:
    """None for key versions this broker does not know (they are skipped on replay)."""
    r = _R(buf)
    version = r.h()
    if version in (0, 1):
        return OffsetKey(r.s() or "", r.s() or "", r.i())
    if version == 2:
        return GroupKey(r.s() or "")
    return None


def decode_offset_value(buf: bytes) -> OffsetValue:
    r = _R(buf)
    version = r.h()
    offset = r.q()
    epoch = r.i() if version >= 3 else -1
    metadata = r.s() or ""
    ts = r.q()
    return OffsetValue(offset, epoch, metadata, ts)


def decode_group_value(buf: bytes) -> GroupValue:
    r = _R(buf)
    version = r.h()
    ptype = r.s() or ""
    gen = r.i()
    proto = r.s()
    leader = r.s()
    ts = r.q() if version >= 2 else -1
    members = []
    for _ in range(max(r.i(), 0)):
        mid = r.s() or ""
        iid = r.s() if version >= 3 else None
        cid = r.s() or ""
        host = r.s() or ""
        rto = r.i() if version >= 1 else 0
        sto = r.i()
        sub = r.b() or b""
        asg = r.b() or b""
        members.append(MemberValue(mid, iid, cid, host, rto, sto, sub, asg))
    return GroupValue(ptype, gen, proto, leader, ts, members)
