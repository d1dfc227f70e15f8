"""Log compaction: the cleaner that keeps the latest record of each key.

Owns compaction of the logs whose ``cleanup.policy`` contains ``compact``, as Kafka's log cleaner
does it, and the worker threads that run it off the event loop. Imports nothing from asyncio or
the network.

One clean of a log (:func:`clean_log`):

1. Under the log's lock, take a snapshot: segments, high watermark, LEO, the last batch of each
   idempotent producer, the log's *generation* (bumped by truncation, retention, DeleteRecords).
2. Decide what may be cleaned: the *clean section* [log start, first dirty offset) is compacted
   already; the *dirty section* goes from the first dirty offset to the end. Segments are
   cleanable from the first one up to (not including) the first *uncleanable* segment: the
   active segment, the first one holding offsets at or above the high watermark, or the first
   whose largest timestamp is newer than ``min.compaction.lag.ms``. The log is eligible when
   its dirty ratio (dirty bytes / cleanable bytes, cleanable segments only) is above
   ``min.cleanable.dirty.ratio``, or its oldest dirty record is older than
   ``max.compaction.lag.ms``, or tombstones in the clean section passed their delete horizon.
3. Build the key map: key -> offset of its latest record, over the records of the dirty section
   below the high watermark, *including* the active segment's (so a record superseded by a
   newer one still in the active segment goes too). The map is bounded
   (``map_limit_bytes``); when full, the clean stops at the last segment wholly mapped.
4. Rewrite the cleanable segments, in groups of consecutive segments that fit
   ``segment.bytes``: a record is kept when it is the latest of its key (or its key is not in
   the map: then it is in the clean section, compacted already). Records without key are
   dropped. A tombstone (null value) that is kept marks its batch with a *delete horizon*
   (Kafka's KIP-534: attribute bit 6 set and the base timestamp holding now +
   ``delete.retention.ms``; the record timestamps stay right since they are deltas from it);
   a later clean after that horizon drops the tombstone. Offsets never change (gaps are
   fine). A batch left as it was is copied byte for byte; one that lost records is rebuilt
   with the same codec, base offset, last offset delta (so its last sequence stays), producer
   id, epoch, base sequence and leader epoch: the kept records' bytes are copied and
   recompressed (re-encoded only when the batch first gets a delete horizon, which changes
   the base timestamp). Records are walked rather than decoded (key, offset, null value). A batch that lost every record goes, except the
   last batch of an idempotent producer, which stays as an empty batch (header only, as Kafka
   keeps it) so producer state rebuilt from the log still knows the producer's last sequence.
   Control batches are kept as they are.
5. Each group is written as ``<base>.log.cleaned`` (+ ``.index.cleaned``,
   ``.timeindex.cleaned``), fsynced, then swapped in under the log's lock
   (:meth:`Log._commit_clean`): rename to ``<base>.<end>.log.swap`` (the commit point), the
   old segment files to ``*.deleted``, the swap to ``<base>.log``, the indexes to their
   names. A crash anywhere leaves the old segments or a committed swap, which opening the log
   completes (:func:`.log.recover_swaps`). If the log moved on meanwhile (truncation,
   retention, closing) the clean is abandoned and the cleaned files removed.
6. Once every swap is durable (directory fsynced), the first dirty offset moves to the end of
   what was cleaned, and the owner checkpoints it (``cleaner-offset-checkpoint``).

Readers on the event loop keep whatever segments they took: swapped-out segments stay readable
through their open files until garbage collected.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from crc32c import crc32c

from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.record_codec import NONE, Record, build_batch, decode_batch, decode_varint
from ..protocol.record_codec import _compress, _decompress  # the codecs, exactly as produce uses them
from ..protocol.records import HEADER_SIZE, LOG_OVERHEAD, BatchHeader, check_header, read_header
from .checkpoint import fsync_dir
from .config import INT64_MAX
from .log import CLEANED_SUFFIX
from .segment import LogSegment

if TYPE_CHECKING:
    from .log import Log

__all__ = [
    "CleanResult",
    "CleanableInfo",
    "Cleaner",
    "Throttler",
    "clean_log",
    "cleanable_info",
    "DELETE_HORIZON_MASK",
]

logger = logging.getLogger(__name__)

DELETE_HORIZON_MASK = 0x40  # batch attribute bit 6: the base timestamp is the delete horizon
INT32_MAX = (1 << 31) - 1
READ_CHUNK = 1 << 20
WRITE_CHUNK = 1 << 20
MAP_LIMIT_BYTES = 256 << 20  # estimated memory of the key map (Python dict of bytes keys)
_MAP_ENTRY_OVERHEAD = 120  # estimated bytes per map entry besides the key itself

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_UINT32 = struct.Struct(">I")
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # the 61-byte magic-2 batch header


class CleanAborted(Exception):
    """The clean was asked to stop (log closing, cleaner stopping) or the log moved on."""


# --------------------------------------------------------------------------------------------
# results


@dataclass
class CleanResult:
    """What one :func:`clean_log` call did."""

    cleaned: bool = False  # segments were rewritten (or found clean) and the dirty offset moved
    reason: str = ""  # why nothing was cleaned, or a summary
    aborted: bool = False
    first_dirty_offset: int = -1  # before the clean
    end_offset: int = -1  # the first dirty offset after it (what was cleaned is below)
    dirty_ratio: float = 0.0
    segments_before: int = 0  # cleanable segments read
    segments_after: int = 0  # segments they became
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_kept: int = 0
    tombstones_removed: int = 0
    empty_batches_kept: int = 0
    map_entries: int = 0
    seconds: float = 0.0

    @property
    def records_removed(self) -> int:
        return self.records_read - self.records_kept


@dataclass(frozen=True)
class CleanableInfo:
    """Where a log stands for the cleaner (see the module docstring)."""

    first_dirty: int
    clean_end: int  # the first uncleanable segment's base offset: segments below are cleanable
    cleanable_segments: int
    clean_bytes: int
    dirty_bytes: int
    overdue: bool  # a dirty record is older than max.compaction.lag.ms
    tombstones_due: bool  # a delete horizon in the clean section has passed

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0

    def eligible(self, min_ratio: float) -> bool:
        if self.cleanable_segments == 0:
            return False
        if self.tombstones_due:
            return True
        if self.dirty_bytes == 0:
            return False
        return self.overdue or self.ratio > min_ratio


# --------------------------------------------------------------------------------------------
# I/O rate


class Throttler:
    """Bounds the bytes per second read and written by the cleaner threads that share it."""

    def __init__(self, bytes_per_second: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError(f"io_max_bytes_per_second={bytes_per_second!r}: must be positive")
        self.rate = bytes_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._bytes = 0.0

    def acquire(self, n: int, should_stop: Callable[[], bool] = lambda: False) -> float:
        """Account ``n`` bytes; sleep as long as needed to stay under the rate (in steps, so a
        stop request is noticed). Returns the seconds slept."""
        if self.rate is None or n <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            if now - self._start > 1.0 and self._bytes <= self.rate * (now - self._start):
                # behind the allowance: start a new window rather than bank a burst
                self._start, self._bytes = now, 0.0
            self._bytes += n
            delay = self._start + self._bytes / self.rate - now
        slept = 0.0
        while delay - slept > 0:
            if should_stop():
                raise CleanAborted("stop requested")
            step = min(0.05, delay - slept)
            time.sleep(step)
            slept += step
        return slept


# --------------------------------------------------------------------------------------------
# reading batches


def _iter_batches(
    seg: LogSegment, start: int, end: int, on_read: Callable[[int], None]
) -> Iterator[tuple[BatchHeader, memoryview]]:
    """(header with absolute position, whole batch bytes) for the batches in [start, end);
    raises KafkaError(CORRUPT_MESSAGE) on a malformed or truncated batch."""
    fd = seg.fd
    pos = start
    while pos < end:
        buf = os.pread(fd, min(READ_CHUNK, end - pos), pos)
        on_read(len(buf))
        if len(buf) < HEADER_SIZE:
            raise _corrupt(seg, pos, "truncated batch header")
        mv = memoryview(buf)
        off = 0
        while off + HEADER_SIZE <= len(buf):
            h = read_header(mv, off)
            try:
                check_header(h, end - pos - off)
            except KafkaError as e:
                raise _corrupt(seg, pos + off, e.message) from None
            if off + h.size > len(buf):
                break
            yield h._replace(position=pos + off), mv[off : off + h.size]
            off += h.size
        if off == 0:  # a batch larger than the chunk
            h = read_header(mv, 0)
            buf = os.pread(fd, h.size, pos)
            on_read(len(buf))
            if len(buf) < h.size:
                raise _corrupt(seg, pos, "truncated batch")
            yield h._replace(position=pos), memoryview(buf)
            off = h.size
        pos += off


def _corrupt(seg: LogSegment, position: int, message: str) -> KafkaError:
    return KafkaError(ErrorCode.corrupt_message, f"{seg.log_path.name} at byte {position}: {message}")


# --------------------------------------------------------------------------------------------
# eligibility


def _segment_time(seg: LogSegment) -> int:
    return seg.max_timestamp if seg.max_timestamp >= 0 else seg.last_modified_ms()


def _earliest_horizon(segments: Iterable[LogSegment], below: int) -> int | None:
    """The earliest delete horizon of the batches below offset ``below`` (header scan)."""
    best: int | None = None
    for seg in segments:
        if seg.base_offset >= below:
            break
        for h in seg.headers():
            if h.base_offset >= below:
                break
            if h.attributes & DELETE_HORIZON_MASK and (best is None or h.base_timestamp < best):
                best = h.base_timestamp
    return best


class _Snapshot(NamedTuple):
    segments: tuple[LogSegment, ...]
    sizes: list[int]
    hw: int  # the last stable offset: nothing at or above it is cleaned (undecided transactions)
    leo: int
    first_dirty: int
    generation: int
    producer_last: dict[int, int]  # producer id -> last offset of its last batch
    aborted: dict[int, list[tuple[int, int]]]  # producer id -> (first, marker offset) of its aborted txns


def _snapshot(log: Log) -> _Snapshot:
    with log._lock:
        segments = log._segments
        aborted: dict[int, list[tuple[int, int]]] = {}
        if log._has_aborted:
            for seg in segments:
                for e in seg.txn_index.all():
                    aborted.setdefault(e.producer_id, []).append((e.first_offset, e.last_offset))
        return _Snapshot(
            segments,
            [s.size for s in segments],
            log.last_stable_offset,
            log._leo,
            max(log._first_dirty, log._log_start),
            log._generation,
            {pid: e.batches[-1].last_offset for pid, e in log._producers.producers.items() if e.batches},
            aborted,
        )


def _is_aborted(h: BatchHeader, aborted: dict[int, list[tuple[int, int]]]) -> bool:
    """Whether ``h`` holds data of an aborted transaction (it goes, whatever its keys)."""
    if not aborted or not h.is_transactional or h.is_control:
        return False
    for first, last in aborted.get(h.producer_id, ()):
        if first <= h.base_offset <= last:
            return True
    return False


def cleanable_info(log: Log, now_ms: int, snap: _Snapshot | None = None) -> CleanableInfo:
    """Where ``log`` stands for the cleaner at ``now_ms`` (reads a few headers; any thread)."""
    if snap is None:
        snap = _snapshot(log)
    segments, hw, first_dirty = snap.segments, snap.hw, snap.first_dirty
    config = log._config
    cache = log._horizon_cache
    lag = config.min_compaction_lag_ms
    k = 0
    while k < len(segments) - 1:
        if segments[k + 1].base_offset > hw:
            break
        if lag > 0 and now_ms - _segment_time(segments[k]) < lag:
            break
        k += 1
    clean_end = segments[k].base_offset if segments else 0
    clean_bytes = dirty_bytes = 0
    first_dirty_seg: LogSegment | None = None
    for i in range(k):
        seg = segments[i]
        if segments[i + 1].base_offset <= first_dirty:
            clean_bytes += seg.size
        else:
            dirty_bytes += seg.size
            if first_dirty_seg is None and seg.size:
                first_dirty_seg = seg
    overdue = False
    if first_dirty_seg is not None and config.max_compaction_lag_ms < INT64_MAX:
        h = first_dirty_seg.read_header(0)
        ts = h.max_timestamp if h is not None and h.max_timestamp >= 0 else _segment_time(first_dirty_seg)
        overdue = now_ms - ts > config.max_compaction_lag_ms
    if cache is None or cache[0] != first_dirty:
        horizon = _earliest_horizon(segments[:k], first_dirty)
        log._horizon_cache = (first_dirty, horizon)
    else:
        horizon = cache[1]
    tombstones_due = horizon is not None and horizon <= now_ms and k > 0
    return CleanableInfo(first_dirty, clean_end, k, clean_bytes, dirty_bytes, overdue, tombstones_due)


# --------------------------------------------------------------------------------------------
# cleaning


class _Clean:
    """State of one clean of one log."""

    def __init__(
        self,
        log: Log,
        now_ms: int,
        generation: int,
        throttler: Throttler | None,
        abort: Callable[[], bool] | None,
        map_limit_bytes: int,
        result: CleanResult,
    ) -> None:
        self.log = log
        self.generation = generation
        self.now_ms = now_ms
        self.throttler = throttler
        self.abort = abort
        self.map_limit_bytes = map_limit_bytes
        self.result = result
        self.config = log._config
        self.horizon: int | None = None  # earliest delete horizon written or kept

    def should_stop(self) -> bool:
        log = self.log
        return (
            log._stop_cleaning
            or log._offline is not None
            or log._generation != self.generation
            or (self.abort is not None and self.abort())
        )

    def check(self) -> None:
        if self.should_stop():
            raise CleanAborted("the log changed or the clean was asked to stop")

    def on_read(self, n: int) -> None:
        self.result.bytes_read += n
        if self.throttler is not None:
            self.throttler.acquire(n, self.should_stop)

    def on_write(self, n: int) -> None:
        self.result.bytes_written += n
        if self.throttler is not None:
            self.throttler.acquire(n, self.should_stop)

    # -------------------------------------------------------------------------- the key map

    def build_map(
        self, segments: tuple[LogSegment, ...], sizes: list[int], first_dirty: int, map_end: int, clean_end: int,
        aborted: dict[int, list[tuple[int, int]]] | None = None,
    ) -> tuple[dict[bytes, int], int]:
        """Key -> latest offset over [first_dirty, map_end); returns it and the offset up to
        which the cleaning may go (``clean_end``, or less when the map filled up)."""
        key_map: dict[bytes, int] = {}
        budget = self.map_limit_bytes
        used = 0
        for i, seg in enumerate(segments):
            seg_end = segments[i + 1].base_offset if i + 1 < len(segments) else None
            if seg_end is not None and seg_end <= first_dirty:
                continue
            if seg.base_offset >= map_end:
                break
            if used >= budget and key_map and seg.base_offset > first_dirty:
                # full: clean only what is wholly mapped
                return key_map, min(clean_end, seg.base_offset)
            for h, data in _iter_batches(seg, 0, sizes[i], self.on_read):
                self.check()
                if h.base_offset >= map_end:
                    break
                if h.is_control or h.last_offset < first_dirty or (aborted and _is_aborted(h, aborted)):
                    continue
                base = h.base_offset
                for _start, _end, offset_delta, _ts, key, _null in _records(h, data):
                    offset = base + offset_delta
                    if offset >= map_end:
                        break
                    if offset < first_dirty or key is None:
                        continue
                    if key not in key_map:
                        used += len(key) + _MAP_ENTRY_OVERHEAD
                    key_map[key] = offset
        return key_map, clean_end

    # -------------------------------------------------------------------------- one batch

    def filter_batch(
        self, h: BatchHeader, data: memoryview, key_map: dict[bytes, int], producer_last: dict[int, int],
        aborted: dict[int, list[tuple[int, int]]] | None = None,
    ) -> bytes | memoryview | None:
        """The batch as it should be in the cleaned segment (the same bytes when unchanged),
        or None when it goes. Transaction markers stay; an aborted transaction's data goes."""
        result = self.result
        if h.is_control:
            return data
        if aborted and _is_aborted(h, aborted):
            result.records_read += h.record_count
            if h.producer_id >= 0 and producer_last.get(h.producer_id) == h.last_offset:
                result.empty_batches_kept += 1
                return _empty_batch(h)
            return None
        body, records = _records(h, data, with_body=True)
        result.records_read += len(records)
        has_horizon = bool(h.attributes & DELETE_HORIZON_MASK)
        horizon = h.base_timestamp if has_horizon else None
        now = self.now_ms
        base = h.base_offset
        kept: list[_Rec] = []
        tombstone_kept = False
        for rec in records:
            key = rec[4]
            if key is None:
                continue
            latest = key_map.get(key)
            if latest is not None and base + rec[2] < latest:
                continue
            if rec[5]:  # a tombstone
                if horizon is not None and now >= horizon:
                    result.tombstones_removed += 1
                    continue
                tombstone_kept = True
            kept.append(rec)
        result.records_kept += len(kept)
        if tombstone_kept:
            if horizon is None:
                horizon = now + self.config.delete_retention_ms
            if self.horizon is None or horizon < self.horizon:
                self.horizon = horizon
        if len(kept) == len(records) and has_horizon == tombstone_kept:
            return data
        if not kept:
            if h.producer_id >= 0 and producer_last.get(h.producer_id) == h.last_offset:
                result.empty_batches_kept += 1
                return _empty_batch(h)
            return None
        if tombstone_kept and not has_horizon:
            # the base timestamp becomes the delete horizon: timestamp deltas change
            offsets = {base + rec[2] for rec in kept}
            _, decoded = decode_batch(data, verify_crc=False)
            return _rebuild(h, [r for r in decoded if r.offset in offsets], horizon)
        # same base offset and base timestamp: the kept records' bytes are copied as they are
        return _rebuild_raw(h, body, kept, keep_horizon=tombstone_kept)

    # -------------------------------------------------------------------------- one group

    def clean_group(
        self,
        group: list[LogSegment],
        key_map: dict[bytes, int],
        producer_last: dict[int, int],
        aborted: dict[int, list[tuple[int, int]]] | None = None,
    ) -> LogSegment | None:
        """Write the cleaned segment of ``group`` (files ``*.cleaned``, fsynced); None when a
        single segment came out unchanged (nothing to swap)."""
        config = self.config
        interval = config.index_interval_bytes
        new = LogSegment(
            self.log.dir, group[0].base_offset, config.segment_index_bytes, interval, suffix=CLEANED_SUFFIX
        )
        changed = len(group) > 1
        out = bytearray()
        out_headers: list[BatchHeader] = []

        def drain() -> None:
            if out:
                new.append_batches(out, out_headers, interval)
                self.on_write(len(out))
                out.clear()
                out_headers.clear()

        try:
            for seg in group:
                for h, data in _iter_batches(seg, 0, seg.size, self.on_read):
                    self.check()
                    kept = self.filter_batch(h, data, key_map, producer_last, aborted)
                    if kept is None:
                        changed = True
                        continue
                    if kept is not data:
                        changed = True
                    out_headers.append(read_header(kept)._replace(position=len(out)))
                    out += kept
                    if len(out) >= WRITE_CHUNK:
                        drain()
            drain()
            if not changed:
                _discard(new)
                return None
            # the aborted transactions of the group stay indexed (their markers stay too)
            for seg in group:
                for entry in seg.txn_index.all():
                    new.txn_index.append(entry)
            new.seal()
            new.flush()
        except BaseException:
            _discard(new)
            raise
        return new


# (start, end, offset delta, timestamp delta, key, value is null) of one record in a batch body
_Rec = tuple[int, int, int, int, "bytes | None", bool]


def _records(h: BatchHeader, data: memoryview, *, with_body: bool = False):
    """The records of the batch ``data`` (CRC checked), walked just far enough for the
    cleaner: about 0.9 us a record where a full decode costs about 3-4 us."""
    if crc32c(data[21:]) != h.crc:
        raise KafkaError(ErrorCode.corrupt_message, f"CRC-32C mismatch in the batch at offset {h.base_offset}")
    body = _decompress(h.compression, data[HEADER_SIZE:])
    out: list[_Rec] = []
    pos = 0
    dv = decode_varint
    try:
        for _ in range(h.record_count):
            b = body[pos]
            if b < 0x80:
                length, p = (b >> 1) ^ -(b & 1), pos + 1
            else:
                length, p = dv(body, pos)
            end = p + length
            if length <= 0 or end > len(body):
                raise IndexError
            p += 1  # attributes
            b = body[p]
            if b < 0x80:
                ts_delta, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                ts_delta, p = dv(body, p)
            b = body[p]
            if b < 0x80:
                offset_delta, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                offset_delta, p = dv(body, p)
            b = body[p]
            if b < 0x80:
                key_length, p = (b >> 1) ^ -(b & 1), p + 1
            else:
                key_length, p = dv(body, p)
            if key_length >= 0:
                if p + key_length > end:
                    raise IndexError
                key: bytes | None = body[p : p + key_length]
                p += key_length
            else:
                key = None
            out.append((pos, end, offset_delta, ts_delta, key, body[p] == 1))
            pos = end
    except (IndexError, KafkaError):
        raise KafkaError(ErrorCode.corrupt_message, f"malformed records in the batch at offset {h.base_offset}") from None
    if pos != len(body):
        raise KafkaError(ErrorCode.corrupt_message, f"trailing bytes in the batch at offset {h.base_offset}")
    return (body, out) if with_body else out


def _rebuild_raw(h: BatchHeader, body: bytes, kept: list[_Rec], *, keep_horizon: bool) -> bytes:
    """The batch with only the ``kept`` records, their bytes copied (same base offset and base
    timestamp, so their deltas hold), recompressed with the batch's codec; the original last
    offset delta (so the last sequence stays); the max timestamp of the kept records."""
    payload = _compress(h.compression, b"".join(body[r[0] : r[1]] for r in kept))
    attributes = h.attributes if keep_horizon else h.attributes & ~DELETE_HORIZON_MASK
    if h.is_log_append_time:
        max_ts = h.max_timestamp
    else:
        max_ts = h.base_timestamp + max(r[3] for r in kept)
    buf = bytearray(HEADER_SIZE + len(payload))
    _BATCH_HEADER.pack_into(
        buf,
        0,
        h.base_offset,
        HEADER_SIZE - LOG_OVERHEAD + len(payload),
        h.partition_leader_epoch,
        2,
        0,
        attributes,
        h.last_offset_delta,
        h.base_timestamp,
        max_ts,
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        len(kept),
    )
    buf[HEADER_SIZE:] = payload
    _UINT32.pack_into(buf, 17, crc32c(memoryview(buf)[21:]))
    return bytes(buf)


def _discard(seg: LogSegment) -> None:
    seg.close()
    seg.delete()


def _finish(buf: bytearray, last_offset_delta: int, attributes: int | None = None, max_ts: int | None = None) -> bytes:
    _INT32.pack_into(buf, 23, last_offset_delta)
    if attributes is not None:
        _INT16.pack_into(buf, 21, attributes)
    if max_ts is not None:
        _INT64.pack_into(buf, 35, max_ts)
    _UINT32.pack_into(buf, 17, crc32c(memoryview(buf)[21:]))
    return bytes(buf)


def _rebuild(h: BatchHeader, kept: list[Record], horizon: int | None) -> bytes:
    """The batch with only ``kept`` records: same codec, offsets, producer fields; the original
    last offset delta (so the last sequence stays); the delete horizon when given."""
    base_ts = horizon if horizon is not None else (
        kept[0].timestamp if h.attributes & DELETE_HORIZON_MASK else h.base_timestamp
    )
    buf = bytearray(
        build_batch(
            kept,
            compression=h.compression,
            base_offset=h.base_offset,
            base_timestamp=base_ts,
            timestamps=[r.timestamp for r in kept],
            producer_id=h.producer_id,
            producer_epoch=h.producer_epoch,
            base_sequence=h.base_sequence,
            partition_leader_epoch=h.partition_leader_epoch,
            offset_deltas=[r.offset - h.base_offset for r in kept],
            is_transactional=h.is_transactional,
            log_append_time=h.is_log_append_time,
        )
    )
    attributes = _INT16.unpack_from(buf, 21)[0]
    if horizon is not None:
        attributes |= DELETE_HORIZON_MASK
    else:
        attributes &= ~DELETE_HORIZON_MASK
    return _finish(buf, h.last_offset_delta, attributes, h.max_timestamp if h.is_log_append_time else None)


def _empty_batch(h: BatchHeader) -> bytes:
    """A header-only batch standing for the idempotent producer's last batch (Kafka's
    ``writeEmptyHeader``): no records, uncompressed, same offsets, timestamps and sequence."""
    buf = bytearray(
        build_batch(
            [],
            compression=NONE,
            base_offset=h.base_offset,
            base_timestamp=h.base_timestamp,
            producer_id=h.producer_id,
            producer_epoch=h.producer_epoch,
            base_sequence=h.base_sequence,
            partition_leader_epoch=h.partition_leader_epoch,
            is_transactional=h.is_transactional,
            log_append_time=h.is_log_append_time,
        )
    )
    attributes = _INT16.unpack_from(buf, 21)[0] & ~DELETE_HORIZON_MASK
    return _finish(buf, h.last_offset_delta, attributes, h.max_timestamp)


def _groups(segments: tuple[LogSegment, ...], count: int, max_bytes: int) -> list[list[LogSegment]]:
    """Consecutive segments (of the first ``count``) whose sizes fit ``max_bytes`` together and
    whose offsets fit one segment (int32 relative offsets)."""
    groups: list[list[LogSegment]] = []
    i = 0
    while i < count:
        group = [segments[i]]
        size = segments[i].size
        i += 1
        while i < count:
            seg = segments[i]
            end = segments[i + 1].base_offset  # i < count <= len - 1: a next segment exists
            if size + seg.size > max_bytes or end - 1 - group[0].base_offset > INT32_MAX:
                break
            group.append(seg)
            size += seg.size
            i += 1
        groups.append(group)
    return groups


def clean_log(
    log: Log,
    now_ms: int,
    *,
    force: bool = False,
    throttler: Throttler | None = None,
    abort: Callable[[], bool] | None = None,
    map_limit_bytes: int = MAP_LIMIT_BYTES,
) -> CleanResult:
    """Compact ``log`` once (see the module docstring); returns what it did.

    Runs in the calling thread, beside the owner's appends and reads. Without ``force`` it
    does nothing unless the log is eligible. At most one clean per log runs at a time (a second
    call returns at once). ``abort()`` returning True stops it (nothing is lost: committed
    groups stay, the rest is dropped). A storage error in the swap takes the log offline;
    other errors (a corrupt batch, a failed write of the cleaned files) raise after the cleaned
    files are removed, leaving the log as it was.
    """
    result = CleanResult()
    started = time.monotonic()
    if not log._clean_mutex.acquire(blocking=False):
        result.reason = "a clean of this log is already running"
        return result
    try:
        if log._stop_cleaning or log.closed:
            result.reason = "the log is closed"
            return result
        if log._offline is not None:
            result.reason = "the log is offline"
            return result
        config = log._config
        if not config.compact:
            result.reason = f"cleanup.policy={config.cleanup_policy} does not compact"
            return result
        snap = _snapshot(log)
        info = cleanable_info(log, now_ms, snap)
        result.first_dirty_offset = info.first_dirty
        result.dirty_ratio = info.ratio
        if info.cleanable_segments == 0:
            result.reason = "no cleanable segment (only the active one, or all too recent)"
            return result
        if not force and not info.eligible(config.min_cleanable_dirty_ratio):
            result.reason = (
                f"dirty ratio {info.ratio:.3f} is not above min.cleanable.dirty.ratio="
                f"{config.min_cleanable_dirty_ratio}, nothing overdue, no tombstone due"
            )
            return result

        segments, generation, producer_last, aborted = snap.segments, snap.generation, snap.producer_last, snap.aborted
        job = _Clean(log, now_ms, generation, throttler, abort, map_limit_bytes, result)
        try:
            key_map, clean_end = job.build_map(
                segments, snap.sizes, info.first_dirty, min(snap.hw, snap.leo), info.clean_end, aborted
            )
            result.map_entries = len(key_map)
            count = next(i for i, s in enumerate(segments) if s.base_offset >= clean_end)
            groups = _groups(segments, count, config.segment_bytes)
            result.segments_before = count
            to_unlink = []
            for i, group in enumerate(groups):
                job.check()
                end = segments[count].base_offset if i == len(groups) - 1 else groups[i + 1][0].base_offset
                new = job.clean_group(group, key_map, producer_last, aborted)
                if new is None:
                    result.segments_after += 1
                    continue
                gone = log._commit_clean(group, new, end, generation)
                if gone is None:
                    _discard(new)
                    raise CleanAborted("the log changed during the clean")
                to_unlink += gone
                result.segments_after += 1
            fsync_dir(log.dir)
            for path in to_unlink:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        except CleanAborted as e:
            result.aborted = True
            result.reason = f"aborted: {e}"
            return result
        if not log._set_first_dirty(clean_end, generation, job.horizon):
            result.aborted = True
            result.reason = "aborted: the log changed during the clean"
            return result
        result.cleaned = True
        result.end_offset = clean_end
        result.reason = (
            f"cleaned [{segments[0].base_offset}, {clean_end}): {result.records_read} records read, "
            f"{result.records_kept} kept, {result.tombstones_removed} tombstones removed"
        )
        return result
    finally:
        result.seconds = time.monotonic() - started
        log._clean_mutex.release()


# --------------------------------------------------------------------------------------------
# the threads


@dataclass
class CleanerStats:
    cleans: int = 0
    aborted: int = 0
    errors: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_removed: int = 0
    last: CleanResult | None = None
    errors_by_log: dict[str, str] = field(default_factory=dict)


class Cleaner:
    """``threads`` worker threads that compact the filthiest eligible logs, off the event loop.

    ``logs()`` gives the current logs (called from the workers; must be thread-safe). Each
    worker picks the eligible log with the highest dirty ratio (logs overdue by
    ``max.compaction.lag.ms`` or with tombstones due first) that no other worker is cleaning,
    cleans it, and looks again; with nothing to do it waits ``backoff_ms`` (or until
    :meth:`wake`). The threads share one :class:`Throttler` (``io_max_bytes_per_second``, None
    for no limit). A log whose clean fails is left alone for ``error_backoff_ms`` (logged).
    """

    def __init__(
        self,
        logs: Callable[[], Iterable[Log]],
        *,
        threads: int = 1,
        io_max_bytes_per_second: float | None = None,
        backoff_ms: int = 15000,
        error_backoff_ms: int = 60000,
        map_limit_bytes: int = MAP_LIMIT_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if threads < 1:
            raise ValueError(f"log.cleaner.threads={threads}: must be at least 1 to start a cleaner")
        self._logs = logs
        self.threads = threads
        self.throttler = Throttler(io_max_bytes_per_second)
        self.backoff_ms = backoff_ms
        self.error_backoff_ms = error_backoff_ms
        self.map_limit_bytes = map_limit_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._busy: weakref.WeakSet[Log] = weakref.WeakSet()  # logs being cleaned
        self._failed: weakref.WeakKeyDictionary[Log, float] = weakref.WeakKeyDictionary()  # -> retry time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []
        self.stats = CleanerStats()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._workers)

    def start(self) -> None:
        if self._workers:
            return
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"odradek-log-cleaner-{i}", daemon=True)
            self._workers.append(t)
            t.start()

    def wake(self) -> None:
        """Look for work now rather than after the backoff."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Abort the cleans in progress and wait for the threads (at most ``timeout`` s)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._workers if t.is_alive()]
        if alive:
            logger.warning("cleaner threads still running after %.0f s: %s", timeout, alive)
        self._workers = []

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                did = self._clean_one()
            except Exception:  # pragma: no cover - a bug: keep the thread alive
                logger.exception("log cleaner failed")
                did = False
            if not did:
                self._wake.wait(self.backoff_ms / 1000)
                self._wake.clear()

    def _pick(self, now_ms: int) -> Log | None:
        now = self._clock()
        best = None
        best_key: tuple[bool, float] | None = None
        for log in list(self._logs()):
            if log.closed or log.offline or not log.config.compact:
                continue
            with self._lock:
                if log in self._busy or self._failed.get(log, 0) > now:
                    continue
            try:
                info = cleanable_info(log, now_ms)
            except (OSError, KafkaError) as e:
                logger.warning("cleaner: cannot look at %s: %s", log.dir.name, e)
                continue
            if not info.eligible(log.config.min_cleanable_dirty_ratio):
                continue
            key = (info.overdue or info.tombstones_due, info.ratio)
            if best_key is None or key > best_key:
                best, best_key = log, key
        if best is not None:
            with self._lock:
                if best in self._busy:
                    return None
                self._busy.add(best)
        return best

    def _clean_one(self) -> bool:
        now_ms = int(self._clock() * 1000)
        log = self._pick(now_ms)
        if log is None:
            return False
        try:
            result = clean_log(
                log, now_ms, throttler=self.throttler, abort=self._stop.is_set, map_limit_bytes=self.map_limit_bytes
            )
        except Exception as e:
            self.stats.errors += 1
            self.stats.errors_by_log[log.dir.name] = str(e)
            with self._lock:
                self._failed[log] = self._clock() + self.error_backoff_ms / 1000
            logger.error(
                "cleaner: cleaning %s failed, retrying in %d s: %s",
                log.dir.name,
                self.error_backoff_ms // 1000,
                e,
                exc_info=not isinstance(e, (OSError, KafkaError)),
            )
            return False
        finally:
            with self._lock:
                self._busy.discard(log)
        stats = self.stats
        stats.last = result
        if result.aborted:
            stats.aborted += 1
            logger.info("cleaner: %s: %s", log.dir.name, result.reason)
            return False
        if result.cleaned:
            stats.cleans += 1
            stats.bytes_read += result.bytes_read
            stats.bytes_written += result.bytes_written
            stats.records_removed += result.records_removed
            logger.info(
                "cleaner: %s: %s (%d -> %d segments, %.1f MB read, %.1f MB written, %.2f s)",
                log.dir.name,
                result.reason,
                result.segments_before,
                result.segments_after,
                result.bytes_read / 1e6,
                result.bytes_written / 1e6,
                result.seconds,
            )
            return True
        return False
