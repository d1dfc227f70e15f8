"""Record batches (magic 2) at the record level: decompress, decode and build.

This module owns everything inside a batch's ``records`` field: the compression codecs and the
varint-encoded records. It is deliberately *not* on the produce/fetch hot path (that works on whole
batches, see :mod:`odradek.protocol.records`, whose header parsing and checks are reused here); it
serves compaction, our own client and tests.

Record layout (varint/varlong are zigzag base-128, as in protobuf)::

    length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
    keyLength varint, key, valueLength varint, value,
    headerCount varint, [headerKeyLength varint, headerKey utf-8, headerValueLength varint, value]*

A length of -1 means null. Codecs, by the attributes' low three bits: 0 none, 1 gzip, 2 snappy
(raw blocks as librdkafka sends them, or the xerial framing ``\\x82SNAPPY\\x00`` that kafka-python
and aiokafka send), 3 lz4 (frame format), 4 zstd (decompressed with a streaming decoder, because
librdkafka's frames carry no content size). Any malformed data raises
``KafkaError(ErrorCode.corrupt_message)``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cramjam
from crc32c import crc32c

from .errors import ErrorCode, KafkaError
from .records import (
    _HEADER,
    COMPRESSION_MASK,
    CONTROL_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    check_header,
    read_header,
    scan,
)

__all__ = [
    "Record",
    "Header",
    "decode_batch",
    "decode_batches",
    "build_batch",
    "encode_varint",
    "decode_varint",
    "NONE",
    "GZIP",
    "SNAPPY",
    "LZ4",
    "ZSTD",
]

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER_SIZE = 16  # magic, int32 version, int32 minimum compatible version

_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_INT32_MAX = (1 << 31) - 1

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record; ``offset`` and ``timestamp`` are absolute (deltas already applied)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def _corrupt(message: str) -> KafkaError:
    return KafkaError(ErrorCode.corrupt_message, message)


# --------------------------------------------------------------------------------------------
# varints


_SMALL_VARINTS = [bytes([(v << 1) ^ (v >> 63)]) for v in range(64)] + [
    bytes([(v << 1) ^ (v >> 63)]) for v in range(-64, 0)
]  # index v for 0..63, 64 + (v + 64) for -64..-1: see encode_varint


def encode_varint(value: int) -> bytes:
    """Zigzag base-128 encoding of a signed 64-bit integer (Kafka varint and varlong)."""
    if -64 <= value < 64:
        return _SMALL_VARINTS[value if value >= 0 else value + 128]
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{value} does not fit a varlong")
    v = (value << 1) ^ (value >> 63)
    out = bytearray()
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, position: int = 0) -> tuple[int, int]:
    """Decode the zigzag varint (up to 10 bytes) at ``position``; return (value, next position)."""
    try:
        b = buf[position]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), position + 1
        result = b & 0x7F
        shift = 7
        position += 1
        while True:
            b = buf[position]
            position += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                raise _corrupt("varint longer than 10 bytes")
    except IndexError:
        raise _corrupt("truncated varint") from None
    result &= 0xFFFF_FFFF_FFFF_FFFF
    return (result >> 1) ^ -(result & 1), position


# --------------------------------------------------------------------------------------------
# compression


def _decompress(codec: int, payload: memoryview) -> bytes:
    if codec == NONE:
        return bytes(payload)
    if codec not in (GZIP, SNAPPY, LZ4, ZSTD):
        raise _corrupt(f"unknown compression codec {codec}")
    try:
        if codec == GZIP:
            return bytes(cramjam.gzip.decompress(payload))
        if codec == SNAPPY:
            if payload[: len(XERIAL_MAGIC)] == XERIAL_MAGIC:
                return _decompress_xerial(payload)
            return bytes(cramjam.snappy.decompress_raw(payload))
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(payload))
        # cramjam's zstd decompress streams, so frames without a content size work.
        return bytes(cramjam.zstd.decompress(payload))
    except KafkaError:
        raise
    except Exception as e:  # cramjam.DecompressionError, and whatever else bad input provokes
        raise _corrupt(f"cannot decompress {_CODEC_NAMES[codec]} records: {e}") from e


def _decompress_xerial(payload: memoryview) -> bytes:
    """The xerial snappy framing: 16-byte header, then chunks of int32 length + raw snappy."""
    end = len(payload)
    if end < _XERIAL_HEADER_SIZE:
        raise _corrupt("truncated xerial snappy header")
    out = bytearray()
    pos = _XERIAL_HEADER_SIZE
    while pos < end:
        if end - pos < 4:
            raise _corrupt("truncated xerial snappy chunk length")
        (length,) = _INT32.unpack_from(payload, pos)
        pos += 4
        if length < 0 or length > end - pos:
            raise _corrupt(f"xerial snappy chunk of {length} bytes overruns the batch")
        out += cramjam.snappy.decompress_raw(payload[pos : pos + length])
        pos += length
    return bytes(out)


_CODEC_NAMES = {NONE: "uncompressed", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}


def _compress(codec: int, data: bytes) -> bytes:
    if codec == NONE:
        return data
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == SNAPPY:
        return bytes(cramjam.snappy.compress_raw(data))
    if codec == LZ4:
        # Kafka's Java LZ4 reader rejects linked blocks (cramjam's one-shot default).
        c = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
        c.compress(data)
        return bytes(c.finish())
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise ValueError(f"unknown compression codec {codec}")


# --------------------------------------------------------------------------------------------
# decoding


def decode_batch(
    buf: bytes | bytearray | memoryview, position: int = 0, *, verify_crc: bool = True
) -> tuple[BatchHeader, list[Record]]:
    """Decode the batch at ``position`` in ``buf`` into its header and its records.

    The batch must be whole; bytes after it are ignored. Control batches are decoded like any
    other (their records carry the control key and value).
    """
    mv = memoryview(buf)
    available = len(mv) - position
    if position < 0 or available < HEADER_SIZE:
        raise _corrupt(f"truncated batch header at byte {position}")
    h = read_header(mv, position)
    check_header(h, available)
    if verify_crc and crc32c(mv[position + 21 : position + h.size]) != h.crc:
        raise _corrupt(f"CRC-32C mismatch in batch at byte {position}")
    return h, _decode_records(mv, h)


def decode_batches(buf: bytes | bytearray | memoryview, *, verify_crc: bool = True) -> list[Record]:
    """Decode the records of consecutive whole batches, leaving out control batches' records."""
    mv = memoryview(buf)
    out: list[Record] = []
    for h in scan(mv, verify_crc=verify_crc):
        if not h.is_control:
            out += _decode_records(mv, h)
    return out


def _decode_records(mv: memoryview, h: BatchHeader) -> list[Record]:
    data = _decompress(h.compression, mv[h.position + HEADER_SIZE : h.position + h.size])
    end_of_data = len(data)
    base_offset = h.base_offset
    base_timestamp = h.base_timestamp
    append_time = h.max_timestamp if h.is_log_append_time else None
    out: list[Record] = []
    pos = 0
    for i in range(h.record_count):
        length, pos = decode_varint(data, pos)
        end = pos + length
        if length < 0 or end > end_of_data:
            raise _corrupt(f"record {i} of {length} bytes overruns the batch")
        pos += 1  # attributes: unused
        timestamp_delta, pos = decode_varint(data, pos)
        offset_delta, pos = decode_varint(data, pos)
        key, pos = _read_bytes(data, pos, end)
        value, pos = _read_bytes(data, pos, end)
        header_count, pos = decode_varint(data, pos)
        headers: tuple[Header, ...] = ()
        if header_count:
            if header_count < 0:
                raise _corrupt(f"negative header count in record {i}")
            hs: list[Header] = []
            for _ in range(header_count):
                key_length, pos = decode_varint(data, pos)
                if key_length < 0 or pos + key_length > end:
                    raise _corrupt(f"invalid header key length {key_length} in record {i}")
                header_key = data[pos : pos + key_length].decode("utf-8", "surrogateescape")
                header_value, pos = _read_bytes(data, pos + key_length, end)
                hs.append((header_key, header_value))
            headers = tuple(hs)
        if pos != end:
            raise _corrupt(f"record {i} declares {length} bytes but holds {length + pos - end}")
        out.append(
            Record(
                base_offset + offset_delta,
                base_timestamp + timestamp_delta if append_time is None else append_time,
                key,
                value,
                headers,
            )
        )
    if pos != end_of_data:
        raise _corrupt(f"{end_of_data - pos} bytes after the {h.record_count} declared records")
    return out


def _read_bytes(data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(data, pos)
    if length < 0:
        if length == -1:
            return None, pos
        raise _corrupt(f"invalid field length {length}")
    stop = pos + length
    if stop > end:
        raise _corrupt(f"field of {length} bytes overruns its record")
    return data[pos:stop], stop


# --------------------------------------------------------------------------------------------
# building

RecordInput = (
    tuple[bytes | None, bytes | None]
    | tuple[bytes | None, bytes | None, Sequence[Header]]
    | Record
)

_NULL = encode_varint(-1)


def build_batch(
    records: Iterable[RecordInput],
    *,
    compression: int = NONE,
    base_offset: int = 0,
    base_timestamp: int | None = None,
    timestamps: list[int] | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    offset_deltas: list[int] | None = None,
    is_transactional: bool = False,
    is_control: bool = False,
    log_append_time: bool = False,
) -> bytes:
    """Build one magic-2 batch with a correct CRC-32C, lastOffsetDelta, maxTimestamp and count.

    Each item is ``(key, value)``, ``(key, value, headers)`` or an object with ``key``, ``value``
    and ``headers`` attributes such as :class:`Record`. Offset deltas are 0, 1, 2... unless
    ``offset_deltas`` (strictly increasing, non-negative) is given. Timestamps come from
    ``timestamps`` if given, else from the item's own ``timestamp`` attribute if it has one,
    else they are the base timestamp; ``base_timestamp`` defaults to the first record's
    timestamp, or now (ms) when no record has one. With ``log_append_time`` the attribute bit is
    set and readers take maxTimestamp as every record's timestamp.
    """
    items = list(records)
    count = len(items)
    if offset_deltas is None:
        deltas: Sequence[int] = range(count)
    else:
        deltas = offset_deltas
        if len(deltas) != count:
            raise ValueError(f"{len(deltas)} offset deltas for {count} records")
        previous = -1
        for d in deltas:
            if not previous < d <= _INT32_MAX:
                raise ValueError("offset deltas must be strictly increasing non-negative int32s")
            previous = d

    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    headers_of: list[Sequence[Header]] = []
    own_timestamps: list[int | None] = []
    for item in items:
        if isinstance(item, tuple) and not hasattr(item, "value"):
            if len(item) == 2:
                k, v = item
                hs: Sequence[Header] = ()
            elif len(item) == 3:
                k, v, hs = item
            else:
                raise ValueError(f"a record tuple has 2 or 3 items, not {len(item)}")
            ts = None
        else:
            k, v = item.key, item.value
            hs = getattr(item, "headers", ())
            ts = getattr(item, "timestamp", None)
        keys.append(k)
        values.append(v)
        headers_of.append(hs)
        own_timestamps.append(ts)

    if timestamps is not None:
        if len(timestamps) != count:
            raise ValueError(f"{len(timestamps)} timestamps for {count} records")
        if base_timestamp is None:
            base_timestamp = timestamps[0] if count else _now_ms()
        stamps: list[int] = list(timestamps)
    else:
        if base_timestamp is None:
            base_timestamp = next((t for t in own_timestamps if t is not None), None)
            if base_timestamp is None:
                base_timestamp = _now_ms()
        stamps = [base_timestamp if t is None else t for t in own_timestamps]

    body = bytearray()
    for i in range(count):
        rec = bytearray(b"\x00")  # attributes
        rec += encode_varint(stamps[i] - base_timestamp)
        rec += encode_varint(deltas[i])
        _write_bytes(rec, keys[i])
        _write_bytes(rec, values[i])
        hs = headers_of[i]
        rec += encode_varint(len(hs))
        for header_key, header_value in hs:
            kb = header_key.encode("utf-8", "surrogateescape")
            rec += encode_varint(len(kb))
            rec += kb
            _write_bytes(rec, header_value)
        body += encode_varint(len(rec))
        body += rec
    payload = _compress(compression, bytes(body))

    attributes = compression & COMPRESSION_MASK
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= TRANSACTIONAL_MASK
    if is_control:
        attributes |= CONTROL_MASK
    size = HEADER_SIZE + len(payload)
    out = bytearray(size)
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        size - LOG_OVERHEAD,
        partition_leader_epoch,
        2,  # magic
        0,  # crc, written below
        attributes,
        deltas[-1] if count else 0,
        base_timestamp,
        max(stamps) if count else base_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    out[HEADER_SIZE:] = payload
    _UINT32.pack_into(out, 17, crc32c(memoryview(out)[21:]))
    return bytes(out)


def _write_bytes(out: bytearray, data: bytes | bytearray | memoryview | None) -> None:
    if data is None:
        out += _NULL
    else:
        out += encode_varint(len(data))
        out += data


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
