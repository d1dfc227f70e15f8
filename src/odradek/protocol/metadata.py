"""Metadata responses (API key 3, versions 0-13) encoded by hand.

A Metadata answer for every topic of a cluster with thousands of partitions is the largest
control-plane message a broker writes, and clients ask for it often (every refresh interval, and
again after each leadership error). The generic kio encoder took about 0.7 s for 12,000
partitions; this one writes the same bytes (checked against kio for every version in the unit
tests) in a fraction of that. It takes the plain dicts the Metadata handler builds, the same
shape :func:`odradek.protocol.messages.encode_response` takes.

Versions: 1 added racks, controller and is_internal; 2 the cluster id; 3 the throttle time; 5
offline replicas; 7 leader epochs; 8 authorized operations (the cluster's only up to 10); 9 is
the first flexible version (compact strings and arrays, tagged fields); 10 topic ids; 12 null
topic names; 13 a top-level error code.
"""

from __future__ import annotations

import struct
import uuid

from .messages import write_uvarint

_H = struct.Struct(">h").pack
_I = struct.Struct(">i").pack
_HII = struct.Struct(">hii").pack
_HIII = struct.Struct(">hiii").pack
_ZERO_UUID = bytes(16)
_NO_TAGS = b"\x00"


class _Writer:
    """Strings and int32 arrays of one version's encoding (compact from version 9)."""

    def __init__(self, flexible: bool) -> None:
        self.flexible = flexible
        self._arrays: dict[tuple, bytes] = {}  # replica lists repeat: encode each once

    def string(self, s: str | None) -> bytes:
        if s is None:
            return b"\x00" if self.flexible else b"\xff\xff"
        b = s.encode()
        return (write_uvarint(len(b) + 1) if self.flexible else _H(len(b))) + b

    def count(self, n: int) -> bytes:
        return write_uvarint(n + 1) if self.flexible else _I(n)

    def ints(self, values) -> bytes:
        key = tuple(values)
        out = self._arrays.get(key)
        if out is None:
            out = self.count(len(key)) + struct.pack(f">{len(key)}i", *key)
            if len(self._arrays) < 4096:
                self._arrays[key] = out
        return out


def _topic_id(tid) -> bytes:
    if tid is None:
        return _ZERO_UUID
    if isinstance(tid, uuid.UUID):
        return tid.bytes
    return uuid.UUID(str(tid)).bytes


def encode_metadata_response(version: int, data: dict) -> bytes:
    """The response body for ``version`` from the handler's dict (missing fields take their
    defaults, as with kio)."""
    flexible = version >= 9
    w = _Writer(flexible)
    tags = _NO_TAGS if flexible else b""
    out: list[bytes] = []
    if version >= 3:
        out.append(_I(data.get("throttle_time", 0)))
    brokers = data.get("brokers", ())
    out.append(w.count(len(brokers)))
    for b in brokers:
        out.append(_I(b["node_id"]) + w.string(b["host"]) + _I(b["port"]))
        if version >= 1:
            out.append(w.string(b.get("rack")))
        out.append(tags)
    if version >= 2:
        out.append(w.string(data.get("cluster_id")))
    if version >= 1:
        out.append(_I(data.get("controller_id", -1)))
    topics = data.get("topics", ())
    out.append(w.count(len(topics)))
    for t in topics:
        out.append(_H(t.get("error_code", 0)) + w.string(t.get("name")))
        if version >= 10:
            out.append(_topic_id(t.get("topic_id")))
        if version >= 1:
            out.append(b"\x01" if t.get("is_internal") else b"\x00")
        parts = t.get("partitions", ())
        out.append(w.count(len(parts)))
        for p in parts:
            if version >= 7:
                out.append(_HIII(p.get("error_code", 0), p["partition_index"], p["leader_id"], p.get("leader_epoch", -1)))
            else:
                out.append(_HII(p.get("error_code", 0), p["partition_index"], p["leader_id"]))
            out.append(w.ints(p.get("replica_nodes", ())))
            out.append(w.ints(p.get("isr_nodes", ())))
            if version >= 5:
                out.append(w.ints(p.get("offline_replicas", ())))
            out.append(tags)
        if version >= 8:
            out.append(_I(t.get("topic_authorized_operations", -2147483648)))
        out.append(tags)
    if 8 <= version <= 10:
        out.append(_I(data.get("cluster_authorized_operations", -2147483648)))
    if version >= 13:
        out.append(_H(data.get("error_code", 0)))
    out.append(tags)
    return b"".join(out)
