"""Record batches (magic 2) at the batch level: scan, validate, rewrite header fields in place.

The produce hot path never looks inside a batch: it reads the 61-byte header of each batch,
checks the CRC-32C (which covers bytes 21..end), and writes the base offset (bytes 0-7) and the
partition leader epoch (bytes 12-15), both outside the CRC. Decoding individual records lives in
:mod:`odradek.protocol.record_codec` and is only for the places whose semantics need it.

Batch header layout (big-endian)::

    0  baseOffset int64          8  batchLength int32      12 partitionLeaderEpoch int32
    16 magic int8                17 crc uint32             21 attributes int16
    23 lastOffsetDelta int32     27 baseTimestamp int64    35 maxTimestamp int64
    43 producerId int64          51 producerEpoch int16    53 baseSequence int32
    57 recordCount int32         61 records...
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from crc32c import crc32c

from .errors import ErrorCode, KafkaError

HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: bytes before the part batchLength counts
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

_HEADER = struct.Struct(">qiibIhiqqqhii")
_OFFSET = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_INT16 = struct.Struct(">h")
_UINT32 = struct.Struct(">I")


class BatchHeader(NamedTuple):
    """The header of one batch, and where it sits in the buffer it was read from."""

    position: int
    size: int  # whole batch: LOG_OVERHEAD + batch_length
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def read_header(buf, position: int = 0) -> BatchHeader:
    """Read the header of the batch at ``position``; the caller checks the buffer holds it."""
    fields = _HEADER.unpack_from(buf, position)
    return BatchHeader(position, LOG_OVERHEAD + fields[1], *fields)


def scan(buf, *, verify_crc: bool = True, max_batch_size: int | None = None) -> list[BatchHeader]:
    """Split ``buf`` into whole batches and validate each one's header (and CRC).

    Raises KafkaError(CORRUPT_MESSAGE) on a truncated or malformed batch or a CRC mismatch,
    KafkaError(UNSUPPORTED_FOR_MESSAGE_FORMAT) on magic other than 2, and
    KafkaError(MESSAGE_TOO_LARGE) when a batch is larger than ``max_batch_size``.
    """
    mv = memoryview(buf)
    end = len(mv)
    pos = 0
    out: list[BatchHeader] = []
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise KafkaError(ErrorCode.corrupt_message, f"truncated batch header at byte {pos}")
        h = read_header(mv, pos)
        check_header(h, end - pos)
        if max_batch_size is not None and h.size > max_batch_size:
            raise KafkaError(
                ErrorCode.message_too_large,
                f"batch of {h.size} bytes is larger than the limit of {max_batch_size}",
            )
        if verify_crc and crc32c(mv[pos + 21 : pos + h.size]) != h.crc:
            raise KafkaError(ErrorCode.corrupt_message, f"CRC-32C mismatch in batch at byte {pos}")
        out.append(h)
        pos += h.size
    return out


def check_header(h: BatchHeader, available: int) -> None:
    """Structural checks on one header; ``available`` is the byte count from its start."""
    if h.magic != 2:
        if h.magic in (0, 1):
            raise KafkaError(
                ErrorCode.unsupported_for_message_format,
                f"message format v{h.magic} is not supported; only record batches (magic 2)",
            )
        raise KafkaError(ErrorCode.corrupt_message, f"invalid magic byte {h.magic}")
    if h.batch_length < MIN_BATCH_LENGTH:
        raise KafkaError(ErrorCode.corrupt_message, f"batch length {h.batch_length} is too small")
    if h.size > available:
        raise KafkaError(
            ErrorCode.corrupt_message,
            f"batch of {h.size} bytes is truncated to {available}",
        )
    if h.record_count < 0 or h.last_offset_delta < 0:
        raise KafkaError(ErrorCode.corrupt_message, "negative record count or offset delta")


def set_base_offset(buf, position: int, base_offset: int) -> None:
    """Write the base offset of the batch at ``position`` (outside the CRC)."""
    _OFFSET.pack_into(buf, position, base_offset)


def set_leader_epoch(buf, position: int, epoch: int) -> None:
    """Write the partition leader epoch of the batch at ``position`` (outside the CRC)."""
    _INT32.pack_into(buf, position + 12, epoch)


def set_log_append_time(buf, h: BatchHeader, timestamp_ms: int) -> None:
    """Mark the batch as LogAppendTime with ``timestamp_ms`` as max timestamp; rewrites the CRC.

    This is the one header change inside the CRC-covered bytes, made only for topics with
    ``message.timestamp.type=LogAppendTime``.
    """
    pos = h.position
    _INT16.pack_into(buf, pos + 21, h.attributes | TIMESTAMP_TYPE_MASK)
    _INT64.pack_into(buf, pos + 35, timestamp_ms)
    mv = memoryview(buf)
    _UINT32.pack_into(buf, pos + 17, crc32c(mv[pos + 21 : pos + h.size]))


def batch_crc(buf, h: BatchHeader) -> int:
    mv = memoryview(buf)
    return crc32c(mv[h.position + 21 : h.position + h.size])
