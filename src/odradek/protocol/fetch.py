"""Fetch responses, encoded by hand (the hot path).

The encoder returns a list of chunks: small ``bytes`` built here and, for each partition's records,
the storage's file regions passed through untouched, so the server can hand them to ``sendfile``.
Versions 4-16 (flexible from 12, topic ids from 13).
"""

from __future__ import annotations

import struct
import uuid
from typing import Any, NamedTuple, Sequence

from .messages import write_uvarint

_I32 = struct.Struct(">i")
_TOP = struct.Struct(">ihi")  # throttle, error, session id
_PART = struct.Struct(">ihqqq")  # index, error, hw, lso, log start
_ABORTED = struct.Struct(">qq")  # producer id, first offset


class FetchPartitionData(NamedTuple):
    index: int
    error: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    regions: Sequence[Any] = ()  # objects with a .size, sent as they are
    size: int = 0  # total of the regions' sizes
    # read_committed: (producer id, first offset) of the aborted transactions in range; None (sent
    # as null) for read_uncommitted, as Kafka does: some clients drop records when given a list
    aborted: Sequence[tuple[int, int]] | None = None


class FetchTopicData(NamedTuple):
    name: str
    topic_id: uuid.UUID | None
    partitions: list[FetchPartitionData]


def encode_response(
    version: int, topics: list[FetchTopicData], error: int = 0, session_id: int = 0, throttle_ms: int = 0
) -> tuple[list[Any], int]:
    """Body chunks and their total size."""
    flexible = version >= 12
    chunks: list[Any] = []
    size = 0
    out = bytearray()
    arr = (lambda n: write_uvarint(n + 1)) if flexible else _I32.pack
    if version >= 7:
        out += _TOP.pack(throttle_ms, error, session_id)
    else:
        out += _I32.pack(throttle_ms)
    out += arr(len(topics))
    for t in topics:
        if version >= 13:
            out += (t.topic_id or uuid.UUID(int=0)).bytes
        else:
            name = t.name.encode()
            out += (write_uvarint(len(name) + 1) if flexible else struct.pack(">h", len(name))) + name
        out += arr(len(t.partitions))
        for p in t.partitions:
            hdr = _PART.pack(p.index, p.error, p.high_watermark, p.last_stable_offset, p.log_start_offset)
            out += hdr if version >= 5 else hdr[:-8]
            aborted = p.aborted
            if aborted is None:
                out += b"\x00" if flexible else b"\xff\xff\xff\xff"  # aborted_transactions: null
            else:
                out += arr(len(aborted))
                for pid, first in aborted:
                    out += _ABORTED.pack(pid, first)
                    if flexible:
                        out += b"\x00"
            if version >= 11:
                out += b"\xff\xff\xff\xff"  # preferred_read_replica -1
            out += write_uvarint(p.size + 1) if flexible else _I32.pack(p.size)
            if p.size:
                chunks.append(bytes(out))
                size += len(out)
                out = bytearray()
                chunks.extend(p.regions)
                size += p.size
            if flexible:
                out += b"\x00"
        if flexible:
            out += b"\x00"
    if flexible:
        out += b"\x00"
    chunks.append(bytes(out))
    size += len(out)
    return chunks, size
