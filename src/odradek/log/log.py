"""The log of one partition: a directory of segments, its offsets, appends, reads and recovery.

Owns ``<topic>-<partition>/``: the segments (see :mod:`.segment`), the producer state and its
snapshots (see :mod:`.producer_state`), the log start offset, log end offset (LEO), high
watermark and recovery point. Appends and reads work on batch headers only: the record bytes are
written as they came and read back as file regions for ``sendfile``. Imports nothing from asyncio
or the network.

Threads: the owner (the broker's event loop) serialises its own calls -- appends, reads,
flushes, retention, truncation. Besides it, the cleaner (:mod:`.cleaner`) works on the log from
worker threads: it reads sealed segments and swaps cleaned ones in. Every change to the segment
list (roll, retention, truncation, swap) is made under ``Log._lock`` by publishing a new
immutable tuple, so readers take the current tuple without locking, and a reader holding file
regions (or segment objects) of a segment that was swapped out or deleted keeps reading it: the
``.log`` file object closes only when garbage collected.

Transactions: transactional batches open a producer's transaction in this partition, a
coordinator's marker (:meth:`Log.append_marker`, or a replicated control batch) ends it; an
aborted one gets an entry in the ``.txnindex`` of the segment holding its marker. The last stable
offset (LSO) is the first offset of a transaction not yet decided and replicated, or the high
watermark; read_committed reads stop there and collect the aborted transactions they overlap
(:meth:`Log.aborted_transactions`). Without transactions both cost a dict lookup.

Storage errors: an ``OSError`` in any operation marks the log offline (one clear log line on
``odradek.log``) and raises ``KafkaError(KAFKA_STORAGE_ERROR)``; every later call raises the same,
until the broker restarts. Other partitions are not affected.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import shutil
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import (
    HEADER_SIZE,
    BatchHeader,
    set_base_offset,
    set_leader_epoch,
    set_log_append_time,
)
from .checkpoint import fsync_dir
from .config import INT64_MAX, LogConfig
from .producer_state import SNAPSHOT_SUFFIX, CompletedTxn, ProducerStateManager
from .segment import FileRegion, LogSegment, segment_name
from .txn_index import AbortedTxn

if TYPE_CHECKING:
    from .cleaner import CleanResult, Throttler

__all__ = ["Log", "AppendResult", "ReadResult", "CLEANED_SUFFIX", "DELETED_SUFFIX", "SWAP_SUFFIX"]

logger = logging.getLogger(__name__)

_LOG_SUFFIX = ".log"
_INDEX_SUFFIXES = (".index", ".timeindex", ".txnindex")
CLEANED_SUFFIX = ".cleaned"  # a segment the cleaner is writing
SWAP_SUFFIX = ".swap"  # a cleaned segment committed to replace [base, end): <base>.<end>.log.swap
DELETED_SUFFIX = ".deleted"  # a replaced segment's file, removed after the swap
_SWAP_RE = re.compile(r"(\d{20})\.(\d{20})\.log\.swap")
_SEGMENT_FILE_RE = re.compile(r"(\d{20})\.(log|index|timeindex|txnindex)")


class AppendResult(NamedTuple):
    base_offset: int
    last_offset: int
    log_append_time: int  # -1 for CreateTime
    log_start_offset: int
    duplicate: bool = False


class ReadResult(NamedTuple):
    regions: list[FileRegion]
    size: int

    def read_bytes(self) -> bytes:
        """Copy the regions into Python: for tests and tools, never for the fetch path."""
        return b"".join(r.read() for r in self.regions)


def swap_name(base_offset: int, end_offset: int) -> str:
    """Name of the committed cleaned ``.log`` that replaces the segments in [base, end)."""
    return f"{base_offset:020d}.{end_offset:020d}{_LOG_SUFFIX}{SWAP_SUFFIX}"


def recover_swaps(directory: Path, names: list[str] | None = None) -> list[str]:
    """Finish or roll back a cleaner swap interrupted by a crash; returns what was done.

    A ``<base>.<end>.log.swap`` file is a cleaned segment that was committed (its data fsynced
    before the rename that created it): the old segment files with bases in [base, end) are
    removed and the swap file takes the name ``<base>.log`` (its indexes are rebuilt on load).
    Leftover ``.cleaned`` files (a clean that had not committed) and ``.deleted`` files (old
    segments already replaced) are removed.
    """
    done: list[str] = []
    names = sorted(os.listdir(directory) if names is None else names)
    if not any(n.endswith((SWAP_SUFFIX, CLEANED_SUFFIX, DELETED_SUFFIX)) for n in names):
        return done
    for name in names:
        m = _SWAP_RE.fullmatch(name)
        if m is None:
            continue
        base, end = int(m[1]), int(m[2])
        for other in names:
            f = _SEGMENT_FILE_RE.fullmatch(other)
            if f is not None and base <= int(f[1]) < end:
                try:
                    os.unlink(directory / other)
                except FileNotFoundError:
                    pass
        os.rename(directory / name, directory / segment_name(base, _LOG_SUFFIX))
        done.append(f"completed the swap of the cleaned segment [{base}, {end})")
    for name in names:
        if name.endswith((CLEANED_SUFFIX, DELETED_SUFFIX)):
            try:
                os.unlink(directory / name)
            except FileNotFoundError:
                pass
            if name.endswith(CLEANED_SUFFIX) and name.endswith(_LOG_SUFFIX + CLEANED_SUFFIX):
                done.append(f"dropped the unfinished cleaned segment {name}")
    if done:
        fsync_dir(directory)
    return done


def _storage(method):
    """Offline check and OSError -> KAFKA_STORAGE_ERROR (log offline) around a Log method."""
    op = method.__name__

    @functools.wraps(method)
    def wrapper(self: Log, *args, **kwargs):
        if self._offline is not None:
            raise self._storage_error()
        try:
            return method(self, *args, **kwargs)
        except OSError as e:
            raise self._go_offline(op, e) from e

    return wrapper


def _offset_error(offset: int, start: int, end: int) -> KafkaError:
    return KafkaError(
        ErrorCode.offset_out_of_range, f"offset {offset} is outside the log range [{start}, {end}]"
    )


def record_errors_message(errors: list[tuple[int, str | None]]) -> str:
    """Kafka's top-level message for a batch refused because of some of its records (KIP-467)."""
    shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in errors[:3])
    return (f"One or more records have been rejected due to {len(errors)} record errors in total, and only "
            f"showing the first three errors at most: [{shown}]")


def _check_keys(buf: bytearray, batches: list[BatchHeader], name: str) -> None:
    """Compacted topics: refuse records without key (the produce path's one look at records).

    Walks the records just far enough to read each key length (a null key is the single byte
    0x01, zigzag -1) rather than decoding them: about 0.5 us a record instead of 4.5 us. Every
    keyless record is named in the error's ``record_errors`` by its index in the batch, as Kafka
    does (KIP-467), so a producer can tell which records were bad.
    """
    from ..protocol.record_codec import _decompress, decode_varint  # records are looked at only here

    keyless: list[tuple[int, str | None]] = []
    why = f"Compacted topic cannot accept message without key in topic partition {name}"
    for h in batches:
        if h.is_control or h.record_count == 0:
            continue
        start = h.position + HEADER_SIZE
        data = _decompress(h.compression, memoryview(buf)[start : h.position + h.size])
        pos = 0
        try:
            for index in range(h.record_count):
                b = data[pos]
                if b < 0x80:
                    length = (b >> 1) ^ -(b & 1)
                    pos += 1
                else:
                    length, pos = decode_varint(data, pos)
                end = pos + length
                if length <= 0 or end > len(data):
                    raise IndexError
                p = pos + 1  # attributes, then timestampDelta and offsetDelta varints
                while data[p] & 0x80:
                    p += 1
                p += 1
                while data[p] & 0x80:
                    p += 1
                p += 1
                if data[p] == 1:
                    keyless.append((index, why))
                pos = end
        except IndexError:
            raise KafkaError(
                ErrorCode.corrupt_message, f"malformed records in the batch at byte {h.position}"
            ) from None
        if pos != len(data):
            raise KafkaError(ErrorCode.corrupt_message, f"trailing bytes in the batch at byte {h.position}")
    if keyless:
        raise KafkaError(ErrorCode.invalid_record, record_errors_message(keyless), keyless)


def _java_long(v: int) -> int:
    return (v + (1 << 63)) % (1 << 64) - (1 << 63)


def _check_timestamps(buf: bytearray, batches: list[BatchHeader], now_ms: int, before: int, after: int) -> None:
    """CreateTime records must lie within [now - before, now + after] (Kafka's
    ``message.timestamp.before.max.ms`` / ``after.max.ms``). The batch header's max timestamp
    settles the usual case; records are decoded only when a batch may hold an offender."""
    from ..protocol.record_codec import decode_batch  # records are looked at only here

    low, high = _java_long(now_ms - before), _java_long(now_ms + after)
    bad: list[tuple[int, str | None]] = []
    for h in batches:
        if h.is_control or h.record_count == 0:
            continue
        if before == INT64_MAX and (after == INT64_MAX or h.max_timestamp <= high):
            continue
        _, recs = decode_batch(buf, h.position, verify_crc=False)
        for index, r in enumerate(recs):
            if (before != INT64_MAX and r.timestamp < low) or (after != INT64_MAX and r.timestamp > high):
                bad.append((index, f"Timestamp {r.timestamp} of message with offset {r.offset} is out of range. "
                                   f"The timestamp should be within [{low}, {high}]"))
    if bad:
        raise KafkaError(ErrorCode.invalid_timestamp, "One or more records have been rejected due to invalid timestamp", bad)


class Log:
    """The storage of one partition. Create with :meth:`Log.open`."""

    def __init__(self, directory: Path, config: LogConfig, clock: Callable[[], float]) -> None:
        self._dir = directory
        self._config = config
        self._clock = clock
        # The segments and their base offsets, oldest first: replaced as a whole (never changed
        # in place) under _lock, so that a reader can take it without locking.
        self._view: tuple[tuple[LogSegment, ...], tuple[int, ...]] = ((), ())
        self._producers = ProducerStateManager(directory)
        self._log_start = 0
        self._leo = 0
        self._hw = 0
        self._recovery_point = 0
        self._last_flush_ms = 0
        self._closed = False
        self._offline: str | None = None
        # Guards segment-list changes, producer state and offsets against the cleaner threads.
        self._lock = threading.RLock()
        # Runs a roll's fsync elsewhere (the manager's flusher thread); None: inline.
        self.background: Callable[[Callable[[], None]], None] | None = None
        # Bumped by every change that could invalidate a clean in progress (truncation,
        # retention, DeleteRecords): the cleaner commits only if it has not moved.
        self._generation = 0
        self._first_dirty = 0  # the cleaner's checkpoint: offsets below it are compacted
        self._clean_mutex = threading.Lock()  # held by the one clean running on this log
        self._stop_cleaning = False  # closing, deleting or renaming: running cleans abort
        self._horizon_cache: tuple[int, int | None] | None = None  # (first dirty, earliest horizon)
        self._has_aborted = False  # some segment may hold aborted-transaction entries
        # A new log's directory entries (its own and its files') are fsynced by its first flush,
        # not at creation (as Kafka does since KAFKA-3968): creating thousands of partitions then
        # costs no fsync at all, and an empty log that vanished with a power cut is simply made anew.
        self._dir_unsynced = False
        # Called (from any thread) when the first dirty offset changes, to checkpoint it.
        self.on_first_dirty_changed: Callable[[Log], None] | None = None

    def __repr__(self) -> str:
        return (
            f"Log({self._dir.name}, start={self._log_start}, hw={self._hw}, leo={self._leo}, "
            f"segments={len(self._segments)})"
        )

    # ------------------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        dir: Path,  # noqa: A002 - the name the API uses
        config: LogConfig,
        *,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        high_watermark: int = 0,
        clock: Callable[[], float] = time.time,
        clean_shutdown: bool = False,
        first_dirty_offset: int = 0,
    ) -> Log:
        """Open (or create) the log in ``dir``, recovering what needs it.

        Every batch of the segment holding ``recovery_point`` and of the later segments is
        checked (length, magic, CRC, offsets increasing) and the log is cut at the first bad
        byte; their indexes are rebuilt. Earlier segments are trusted, but their indexes are
        checked and rebuilt (segment re-checked) when missing or inconsistent. With
        ``clean_shutdown`` only the tail of the last segment (after its last offset index
        entry) is checked, falling back to the whole segment if anything looks wrong.
        A cleaner swap interrupted by a crash is completed or rolled back first (see
        :func:`recover_swaps`). ``first_dirty_offset`` is the cleaner's checkpoint.
        Raises OSError when the directory cannot be read or written.
        """
        directory = Path(dir)
        directory.mkdir(parents=True, exist_ok=True)
        log = cls(directory, config, clock)
        log._load(recovery_point, log_start_offset, high_watermark, clean_shutdown)
        log._first_dirty = min(max(first_dirty_offset, log._log_start), log._leo)
        return log

    @classmethod
    def offline_placeholder(
        cls,
        dir: Path,  # noqa: A002
        config: LogConfig,
        reason: str,
        *,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        high_watermark: int = 0,
        first_dirty_offset: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> Log:
        """A log that could not be opened: every operation raises KAFKA_STORAGE_ERROR, its
        offsets are the checkpointed ones (so checkpoints keep them), nothing on disk is touched."""
        log = cls(Path(dir), config, clock)
        log._offline = reason
        log._leo = max(recovery_point, log_start_offset, high_watermark, first_dirty_offset)
        log._recovery_point = recovery_point
        log._log_start = log_start_offset
        log._hw = high_watermark
        log._first_dirty = first_dirty_offset
        return log

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _load(self, recovery_point: int, log_start: int, high_watermark: int, clean: bool) -> None:
        directory = self._dir
        swapped = False
        listing = os.listdir(directory)  # listed once: thousands of logs are opened at start-up
        done = recover_swaps(directory, listing)
        for message in done:
            logger.warning("%s: %s", directory, message)
            swapped = swapped or message.startswith("completed")
        if done:
            listing = os.listdir(directory)
        bases: list[int] = []
        names = set()
        for name in listing:
            if name.endswith(".tmp"):
                os.unlink(directory / name)
                continue
            names.add(name)
            if name.endswith(_LOG_SUFFIX):
                stem = name[: -len(_LOG_SUFFIX)]
                if len(stem) == 20 and stem.isdigit():
                    bases.append(int(stem))
        for name in list(names):  # index files without their .log
            for suffix in _INDEX_SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] + _LOG_SUFFIX not in names:
                    (directory / name).unlink()
                    names.discard(name)
        self._listing = names  # what _load_producer_state needs to know of the snapshots
        bases.sort()
        index_bytes = self._config.segment_index_bytes
        interval = self._config.index_interval_bytes
        segments = [LogSegment(directory, b, index_bytes, interval, lazy=True) for b in bases]
        if not segments:
            segments = [LogSegment(directory, max(log_start, 0), index_bytes, interval)]
            self._dir_unsynced = True

        if clean:
            first_recovered = len(segments) - 1
        else:
            first_recovered = max(0, bisect_right(bases, recovery_point) - 1)
        recovered: list[LogSegment] = []
        i = 0
        while i < len(segments):
            seg = segments[i]
            error = None
            if i < first_recovered:
                problem = seg.check_indexes(segments[i + 1].base_offset)
                if problem is None:
                    i += 1
                    continue
                logger.warning("%s: rebuilding the indexes of %s: %s", directory, seg, problem)
                error = seg.recover(interval)
            elif clean and i == len(segments) - 1:
                start = seg.tail_start()
                if start is not None:
                    error = seg.recover(interval, from_position=start)
                if start is None or error is not None:
                    error = seg.recover(interval)
                # its data was fsynced by the clean shutdown: a rebuilt index is rebuilt again
                # should it be lost
            else:
                error = seg.recover(interval)
                recovered.append(seg)
            later = segments[i + 1 :]
            if later and error is None and later[0].base_offset < seg.next_offset:
                error = f"next segment starts at {later[0].base_offset}, before {seg.next_offset}"
            if error is not None:
                logger.warning(
                    "%s: log truncated at byte %d of %s (%s)", directory, seg.size, seg.log_path.name, error
                )
                if later:
                    logger.warning("%s: deleting %d later segments", directory, len(later))
                for s in later:
                    s.close()
                    s.delete()
                del segments[i + 1 :]
            i += 1
        for seg in recovered:
            # After a crash: fsynced by the next flush (roll, flush.messages / flush.ms, close),
            # not here; the recovery point stays where it was until then, so a crash before that
            # recovers them again.
            if seg.size:
                seg.dirty = True

        self._set_segments(segments)
        active = segments[-1]
        now = self._now_ms()
        active.rolling_ms = self._rolling_time(active, now)
        self._leo = active.next_offset
        self._log_start = min(max(log_start, segments[0].base_offset), self._leo)
        self._hw = min(max(high_watermark, self._log_start), self._leo)
        # Kafka's rule: after a clean shutdown everything was flushed; otherwise what was known
        # flushed before stays the recovery point until the recovered segments are flushed.
        self._recovery_point = self._leo if clean else min(max(recovery_point, 0), self._leo)
        self._last_flush_ms = now
        self._has_aborted = any(n.endswith(".txnindex") for n in names)
        # After a cleaner swap finished by recovery, the swapped segment's aborted-transaction
        # entries may be gone: replay the whole log to rebuild them.
        self._load_producer_state(full=swapped and self._has_aborted)
        self._producers.prune_unreplicated(self._hw)

    @staticmethod
    def _rolling_time(seg: LogSegment, now: int) -> int | None:
        """When a reloaded segment counts as started for segment.ms: its first batch's max
        timestamp (not after now), or now when it has none."""
        if seg.size == 0:
            return None
        h = seg.read_header(0)
        if h is None or h.max_timestamp < 0:
            return now
        return min(h.max_timestamp, now)

    def _load_producer_state(self, full: bool = False) -> None:
        """Newest snapshot at or below the LEO (none with ``full``), then the headers of the
        batches after it. Markers found there end their transactions again, and the aborted ones'
        ``.txnindex`` entries are written anew (those at or after the replay's start are dropped
        first), so the index always matches the log."""
        producers = self._producers
        listing, self._listing = getattr(self, "_listing", None), None
        start = None if full else producers.load_snapshot(self._leo, listing)
        if start is None:
            producers.clear()
            start = self._segments[0].base_offset
        for seg in self._segments:
            if seg.next_offset > start:
                seg.txn_index.truncate_to(start)
        for seg in self._segments:
            if seg.next_offset <= start or seg.size == 0:
                continue
            position = seg.index.lookup(start) if seg.base_offset <= start else 0
            for h in seg.headers(position):
                if h.base_offset < start or h.producer_id < 0:
                    continue
                if h.is_control:
                    self._replay_marker(seg, h)
                else:
                    producers.update(h, h.base_offset, h.max_timestamp)

    def _replay_marker(self, seg: LogSegment, h: BatchHeader) -> None:
        """A control batch read back from ``seg``: end its transaction (and index an abort)."""
        from ..protocol.control import parse_marker  # records are decoded only for markers

        try:
            marker = parse_marker(h, os.pread(seg.fd, h.size, h.position))
        except KafkaError as e:
            logger.warning("%s: %s", self._dir.name, e)
            return
        if marker is not None:
            self._end_txn(seg, h, h.base_offset, marker.commit, marker.coordinator_epoch)

    def _end_txn(self, seg: LogSegment, h: BatchHeader, offset: int, commit: bool, coordinator_epoch: int) -> CompletedTxn | None:
        """The marker at ``offset`` (in ``seg``) ends the transaction of ``h.producer_id``."""
        producers = self._producers
        done = producers.complete_txn(h, offset, commit, coordinator_epoch, h.max_timestamp)
        if done is not None and done.aborted:
            others = [f for pid, f in producers.ongoing.items() if pid != done.producer_id]
            lso = min(others) if others else offset + 1
            seg.txn_index.append(AbortedTxn(done.producer_id, done.first_offset, offset, lso))
            self._has_aborted = True
        return done

    # ------------------------------------------------------------------------------ properties

    @property
    def dir(self) -> Path:
        return self._dir

    @property
    def config(self) -> LogConfig:
        return self._config

    @config.setter
    def config(self, config: LogConfig) -> None:
        """New settings apply to later appends (index sizes to segments created later)."""
        self._config = config

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._leo

    @property
    def high_watermark(self) -> int:
        return self._hw

    @high_watermark.setter
    def high_watermark(self, offset: int) -> None:
        self._hw = min(max(offset, self._log_start), self._leo)
        if self._producers.unreplicated:
            self._producers.prune_unreplicated(self._hw)

    @property
    def last_stable_offset(self) -> int:
        """The LSO: the first offset of an undecided (or not yet replicated) transaction, or the
        high watermark when there is none."""
        producers = self._producers
        if not producers.ongoing and not producers.unreplicated:
            return self._hw
        first = producers.first_unstable_offset()
        return self._hw if first is None else min(first, self._hw)

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [fetch_offset, upper_bound), for read_committed
        fetches (Kafka's collectAbortedTxns): from the segment holding ``fetch_offset`` on, until
        an entry's LSO reaches the upper bound."""
        out: list[AbortedTxn] = []
        if not self._has_aborted:
            return out
        segments, bases = self._view
        i = max(0, bisect_right(bases, fetch_offset) - 1)
        for seg in segments[i:]:
            if seg.base_offset >= upper_bound:
                break
            if seg.txn_index.collect(fetch_offset, upper_bound, out):
                break
        return out

    def open_transaction_first_offset(self, producer_id: int) -> int:
        """The first offset of ``producer_id``'s open transaction here, -1 when none."""
        return self._producers.ongoing.get(producer_id, -1)

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def first_dirty_offset(self) -> int:
        """The cleaner's checkpoint: below it the log is compacted (0 when never cleaned)."""
        return self._first_dirty

    def expire_producers(self, now_ms: int, expiration_ms: int) -> int:
        """Forget idle producers (see ProducerStateManager.expire)."""
        with self._lock:
            return self._producers.expire(now_ms, expiration_ms)

    def active_producers(self) -> list:
        """The idempotent producers this partition knows (ProducerEntry: id, epoch, last batches)."""
        return list(self._producers.producers.values())

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segments(self) -> list[LogSegment]:
        """The segments, oldest first (read-only use: tests and tools)."""
        return list(self._segments)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def offline(self) -> bool:
        """Whether a storage error took the log offline (every call raises KAFKA_STORAGE_ERROR)."""
        return self._offline is not None

    @property
    def offline_reason(self) -> str | None:
        return self._offline

    @property
    def _segments(self) -> tuple[LogSegment, ...]:
        return self._view[0]

    @property
    def _bases(self) -> tuple[int, ...]:
        return self._view[1]

    def _set_segments(self, segments) -> None:
        """Publish a new segment list (callers hold ``_lock`` once the log is open)."""
        segs = tuple(segments)
        self._view = (segs, tuple(s.base_offset for s in segs))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"log {self._dir} is closed")

    def _storage_error(self) -> KafkaError:
        return KafkaError(
            ErrorCode.kafka_storage_error, f"log of {self._dir.name} is offline: {self._offline}"
        )

    def _go_offline(self, op: str, e: OSError) -> KafkaError:
        """Mark the log offline after a storage error in ``op``; returns the error to raise."""
        if self._offline is None:
            code = errno.errorcode.get(e.errno or 0, str(e.errno))
            self._offline = f"{op} failed: {code}: {e.strerror or e}"
            logging.getLogger("odradek.log").error(
                "storage error on partition %s (%s), in %s: %s -- the partition is offline "
                "(KAFKA_STORAGE_ERROR) until the broker restarts; other partitions are unaffected",
                self._dir.name,
                self._dir,
                op,
                e,
            )
        return self._storage_error()

    # ------------------------------------------------------------------------------ append

    @_storage
    def append(
        self,
        buf: bytearray,
        batches: list[BatchHeader],
        *,
        leader_epoch: int,
        now_ms: int | None = None,
        from_coordinator: bool = False,
    ) -> AppendResult:
        """Append the validated, contiguous ``batches`` of ``buf`` as one write.

        Offsets from the LEO and the leader epoch are written into ``buf`` in place (and the
        LogAppendTime when configured). Idempotent batches are checked against the producer
        state first; a duplicate appends nothing and answers with the original offsets.
        Raises KafkaError (MESSAGE_TOO_LARGE, INVALID_PRODUCER_EPOCH,
        OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_RECORD) with nothing written. On a compacted
        topic the records are decoded and a record without key is refused with INVALID_RECORD.
        A storage error raises KAFKA_STORAGE_ERROR and takes the log offline.
        """
        self._check_open()
        if not batches:
            return AppendResult(-1, -1, -1, self._log_start)
        config = self._config
        if now_ms is None:
            now_ms = self._now_ms()
        max_size = config.max_message_bytes
        idempotent = False
        total = 0
        for h in batches:
            if h.size > max_size:
                raise KafkaError(
                    ErrorCode.message_too_large,
                    f"batch of {h.size} bytes is larger than max.message.bytes={max_size}",
                )
            if h.is_control:
                raise KafkaError(ErrorCode.invalid_record, "control batches are written by transaction coordinators only")
            if h.producer_id >= 0:
                idempotent = True
            total += h.size
        # a coordinator's transactional offset commits carry the producer but no sequence: they are
        # tracked (their transaction opens here) but not checked
        check = idempotent and not from_coordinator
        first = batches[0]
        begin = first.position
        end = batches[-1].position + batches[-1].size
        if end - begin != total:
            raise ValueError("batches must be contiguous in the buffer")
        append_time = now_ms if config.message_timestamp_type == "LogAppendTime" else None
        if config.compact:
            _check_keys(buf, batches, self._dir.name)
        if append_time is None and (config.message_timestamp_after_max_ms < INT64_MAX
                                    or config.message_timestamp_before_max_ms < INT64_MAX):
            _check_timestamps(buf, batches, now_ms, config.message_timestamp_before_max_ms,
                              config.message_timestamp_after_max_ms)
        with self._lock:
            return self._append_locked(buf, batches, leader_epoch, now_ms, append_time, idempotent, total, check)

    def _append_locked(
        self,
        buf: bytearray,
        batches: list[BatchHeader],
        leader_epoch: int,
        now_ms: int,
        append_time: int | None,
        idempotent: bool,
        total: int,
        check: bool = True,
    ) -> AppendResult:
        config = self._config
        begin = batches[0].position
        end = batches[-1].position + batches[-1].size
        if idempotent and check:
            duplicate = self._producers.check(batches)
            if duplicate is not None:
                return AppendResult(
                    duplicate.base_offset,
                    duplicate.last_offset,
                    -1 if append_time is None else duplicate.timestamp,
                    self._log_start,
                    True,
                )

        base = self._leo
        off = base
        for h in batches:
            set_base_offset(buf, h.position, off)
            set_leader_epoch(buf, h.position, leader_epoch)
            if append_time is not None:
                set_log_append_time(buf, h, append_time)
            off += h.last_offset_delta + 1

        seg = self._segment_for(total, off - 1, now_ms)
        seg.append(memoryview(buf)[begin:end], batches, base, config.index_interval_bytes, append_time)
        if seg.rolling_ms is None:
            seg.rolling_ms = now_ms
        self._leo = off

        if idempotent:
            update = self._producers.update
            o = base
            for h in batches:
                if h.producer_id >= 0:
                    update(h, o, h.max_timestamp if append_time is None else append_time)
                o += h.last_offset_delta + 1

        if off - self._recovery_point >= config.flush_messages or (
            now_ms - self._last_flush_ms >= config.flush_ms
        ):
            self.flush(now_ms=now_ms)
        return AppendResult(base, off - 1, -1 if append_time is None else append_time, self._log_start)

    @_storage
    def append_marker(
        self,
        producer_id: int,
        producer_epoch: int,
        commit: bool,
        coordinator_epoch: int,
        *,
        leader_epoch: int,
        now_ms: int | None = None,
    ) -> tuple[AppendResult, CompletedTxn | None]:
        """Append a transaction coordinator's COMMIT or ABORT marker for ``producer_id``.

        Raises KafkaError with nothing written: INVALID_PRODUCER_EPOCH when the marker's epoch is
        older than the producer's, TRANSACTION_COORDINATOR_FENCED when the coordinator epoch is
        older than the last one seen. Returns the append and the transaction it ended (None
        when none was open here: the marker is written anyway)."""
        from ..protocol.control import marker_batch
        from ..protocol.records import scan

        self._check_open()
        now_ms = self._now_ms() if now_ms is None else now_ms
        buf = marker_batch(producer_id, producer_epoch, commit, coordinator_epoch, now_ms)
        (h,) = scan(buf, verify_crc=False)
        with self._lock:
            self._producers.check_marker(producer_id, producer_epoch, coordinator_epoch)
            base = self._leo
            set_base_offset(buf, 0, base)
            set_leader_epoch(buf, 0, leader_epoch)
            seg = self._segment_for(h.size, base, now_ms)
            seg.append(memoryview(buf), [h], base, self._config.index_interval_bytes, None)
            if seg.rolling_ms is None:
                seg.rolling_ms = now_ms
            self._leo = base + 1
            done = self._end_txn(seg, h._replace(base_offset=base), base, commit, coordinator_epoch)
            if base + 1 - self._recovery_point >= self._config.flush_messages:
                self.flush(now_ms=now_ms)
        return AppendResult(base, base, -1, self._log_start), done

    @_storage
    def append_as_follower(self, buf: bytearray, batches: list[BatchHeader], *, now_ms: int | None = None) -> AppendResult:
        """Append batches fetched from the leader, keeping their offsets and leader epochs.

        The first batch must start at the LEO (the follower truncated first if its log diverged),
        or after it when the leader's log is compacted there (the offsets between were cleaned
        away). Producer state is updated (not checked) so a follower that becomes leader keeps
        deduplicating.
        """
        self._check_open()
        if not batches:
            return AppendResult(-1, -1, -1, self._log_start)
        if batches[0].base_offset < self._leo:
            raise KafkaError(
                ErrorCode.offset_out_of_range,
                f"replicated batch starts at {batches[0].base_offset}, log end is {self._leo}",
            )
        now_ms = self._now_ms() if now_ms is None else now_ms
        with self._lock:
            return self._append_as_follower_locked(buf, batches, now_ms)

    def _append_as_follower_locked(self, buf: bytearray, batches: list[BatchHeader], now_ms: int) -> AppendResult:
        begin = batches[0].position
        end = batches[-1].position + batches[-1].size
        base = self._leo
        last = batches[-1].last_offset
        seg = self._segment_for(end - begin, last, now_ms)
        rel = batches if begin == 0 else [h._replace(position=h.position - begin) for h in batches]
        seg.append_batches(memoryview(buf)[begin:end], rel, self._config.index_interval_bytes)
        if seg.rolling_ms is None:
            seg.rolling_ms = now_ms
        self._leo = last + 1
        for h in batches:
            if h.producer_id < 0:
                continue
            if h.is_control:
                self._follower_marker(seg, buf, h, begin)
            else:
                self._producers.update(h, h.base_offset, h.max_timestamp)
        if self._leo - self._recovery_point >= self._config.flush_messages or (
            now_ms - self._last_flush_ms >= self._config.flush_ms
        ):
            self.flush(now_ms=now_ms)
        return AppendResult(base, last, -1, self._log_start)

    def _follower_marker(self, seg: LogSegment, buf, h: BatchHeader, begin: int) -> None:
        from ..protocol.control import parse_marker

        try:
            marker = parse_marker(h, memoryview(buf)[h.position : h.position + h.size])
        except KafkaError as e:
            logger.warning("%s: replicated %s", self._dir.name, e)
            return
        if marker is not None:
            self._end_txn(seg, h, h.base_offset, marker.commit, marker.coordinator_epoch)

    def _segment_for(self, size: int, last_offset: int, now_ms: int) -> LogSegment:
        """The active segment, rolled first if this append should go to a new one."""
        seg = self._segments[-1]
        config = self._config
        if seg.size and (
            seg.size + size > config.segment_bytes
            or (seg.rolling_ms is not None and now_ms - seg.rolling_ms >= config.segment_ms)
            or seg.index_full()
            or not seg.fits_offset(last_offset)
            or (
                # a compacted log rolls once its oldest record reaches max.compaction.lag.ms, so
                # that the cleaner (which never touches the active segment) can clean it in time
                config.max_compaction_lag_ms < INT64_MAX
                and seg.rolling_ms is not None
                and config.compact
                and now_ms - seg.rolling_ms >= config.max_compaction_lag_ms
            )
        ):
            seg = self._roll(now_ms)
        return seg

    @_storage
    def roll(self) -> LogSegment:
        """Start a new active segment at the LEO (no-op when the active one is empty); the old
        one is fsynced and the recovery point moves to the LEO."""
        self._check_open()
        with self._lock:
            return self._roll(self._now_ms())

    def _new_segment(self, base_offset: int) -> LogSegment:
        config = self._config
        return LogSegment(self._dir, base_offset, config.segment_index_bytes, config.index_interval_bytes)

    def _roll(self, now_ms: int) -> LogSegment:
        old = self._segments[-1]
        if old.size == 0:
            return old
        old.seal()
        new = self._new_segment(self._leo)
        self._set_segments(self._segments + (new,))
        target = self._leo
        if self.background is None:
            old.flush()
            self._sync_dirs(force=True)
            self._recovery_point = target
        else:
            # fsync of the finished segment (up to a whole segment of dirty pages) off the
            # caller's thread; the recovery point moves once it is done.
            self.background(lambda: self._flush_rolled(old, target))
        self._last_flush_ms = now_ms
        self._producers.take_snapshot(self._leo)
        return new

    # ------------------------------------------------------------------------------ flush

    def _flush_rolled(self, seg: LogSegment, target: int) -> None:
        """Background part of a roll: fsync the sealed segment and the directory."""
        if self._closed or self._offline is not None:
            return
        try:
            seg.flush()
            self._sync_dirs(force=True)
        except OSError as e:
            logger.error("fsync of rolled segment %s failed: %s", seg.log_path, e)
            return
        with self._lock:
            self._recovery_point = max(self._recovery_point, target)


    @_storage
    def flush(self, *, now_ms: int | None = None) -> None:
        """fsync what was appended since the last flush; the recovery point becomes the LEO."""
        self._check_open()
        leo = self._leo
        dirty = [seg for seg in self._segments if seg.dirty]
        if dirty:
            self._sync_dirs()
        for seg in dirty:
            seg.flush()
        self._recovery_point = max(self._recovery_point, leo)
        self._last_flush_ms = self._now_ms() if now_ms is None else now_ms

    def _sync_dirs(self, force: bool = False) -> None:
        """fsync the log's directory (``force``, or when it is new and never synced), and the log
        dir holding it when it is new."""
        if self._dir_unsynced:
            fsync_dir(self._dir)
            fsync_dir(self._dir.parent)
            self._dir_unsynced = False
        elif force:
            fsync_dir(self._dir)

    def maybe_flush(self, now_ms: int | None = None) -> bool:
        """Flush if ``flush.ms`` passed since the last flush and there is something to flush
        (for a periodic flusher); returns whether it flushed."""
        if self._closed or self._offline is not None:
            return False
        now_ms = self._now_ms() if now_ms is None else now_ms
        if self._leo > self._recovery_point and now_ms - self._last_flush_ms >= self._config.flush_ms:
            self.flush(now_ms=now_ms)
            return True
        return False

    # ------------------------------------------------------------------------------ read

    @_storage
    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        upper_bound: int | None = None,
        min_one: bool = True,
    ) -> ReadResult:
        """File regions holding whole batches from the one containing ``offset``.

        Stops before the first batch not wholly below ``upper_bound`` (exclusive, e.g. the
        high watermark) and after at most ``max_bytes``, except that with ``min_one`` the first
        batch is returned even when larger. ``offset`` == LEO gives an empty result; below the
        log start offset or above the LEO raises KafkaError(OFFSET_OUT_OF_RANGE).
        """
        self._check_open()
        leo = self._leo
        if offset < self._log_start or offset > leo:
            raise _offset_error(offset, self._log_start, leo)
        limit = leo if upper_bound is None else min(upper_bound, leo)
        regions: list[FileRegion] = []
        if offset >= limit:
            return ReadResult(regions, 0)
        segments, bases = self._view
        i = max(0, bisect_right(bases, offset) - 1)
        total = 0
        first: BatchHeader | None = None
        while i < len(segments):
            seg = segments[i]
            i += 1
            if first is None:
                h = seg.find_batch(offset)
                if h is None:
                    continue
                if h.base_offset + h.last_offset_delta >= limit:
                    break
                first = h
                start = h.position
            else:
                start = 0
            end = seg.size
            stop = False
            if limit < seg.next_offset:
                b = seg.find_batch(limit)
                if b is not None:
                    end = b.position
                stop = True
            budget = max_bytes - total
            if end - start > budget:
                cut = seg.boundary_before(start + budget, start) if budget > 0 else start
                if cut == start and not regions and min_one:
                    cut = start + first.size
                end = cut
                stop = True
            if end > start:
                regions.append(FileRegion(seg.file, start, end - start))
                total += end - start
            if stop:
                break
        return ReadResult(regions, total)

    # ------------------------------------------------------------------------------ timestamps

    @_storage
    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) for ListOffsets by time: the first batch whose max timestamp is
        >= ``timestamp``, as its base offset (or the log start offset if that is later) and its
        max timestamp; None when no batch is that late. Batch granularity: the records before
        the first one at or after ``timestamp`` in that batch come along."""
        self._check_open()
        start = self._log_start
        for seg in self._segments:
            if seg.next_offset <= start or seg.max_timestamp < timestamp:
                continue
            h = seg.find_timestamp(timestamp, start)
            if h is not None:
                return max(h.base_offset, start), h.max_timestamp
        return None

    @_storage
    def max_timestamp(self) -> tuple[int, int]:
        """(timestamp, offset) of the record with the largest timestamp (ListOffsets -3): the
        first record holding it, found by decoding that one batch; (-1, -1) when empty."""
        self._check_open()
        best: LogSegment | None = None
        for seg in self._segments:
            if seg.max_timestamp >= 0 and (best is None or seg.max_timestamp > best.max_timestamp):
                best = seg
        if best is None:
            return -1, -1
        ts, offset = best.max_timestamp, best.offset_of_max_timestamp
        h = best.find_batch(offset)
        if h is None:
            return ts, offset
        if h.is_log_append_time:
            return ts, h.base_offset
        from ..protocol.record_codec import decode_batch  # records are decoded only here

        try:
            _, records = decode_batch(os.pread(best.fd, h.size, h.position), verify_crc=False)
        except KafkaError:
            return ts, offset
        for r in records:
            if r.timestamp == ts:
                return ts, r.offset
        return ts, offset

    # ------------------------------------------------------------------------------ changes

    @_storage
    def delete_records_before(self, offset: int) -> int:
        """Move the log start offset up to ``offset`` (at most the LEO) and delete the segments
        wholly below it (never the active one). Returns the new log start offset."""
        self._check_open()
        if offset > self._leo or offset < 0:
            raise _offset_error(offset, self._log_start, self._leo)
        if offset <= self._log_start:
            return self._log_start
        with self._lock:
            self._log_start = offset
            self._hw = max(self._hw, offset)
            segments = self._segments
            n = 0
            while n + 1 < len(segments) and segments[n + 1].base_offset <= offset:
                n += 1
            gone = segments[:n]
            if gone:
                self._set_segments(segments[n:])
                self._generation += 1
        for seg in gone:
            seg.close()
            seg.delete()
        return offset

    # ------------------------------------------------------------------------------ retention

    @_storage
    def apply_retention(self, now_ms: int | None = None) -> int:
        """Delete the oldest segments that retention allows to go; returns how many went.

        Only when the cleanup policy contains ``delete``. A segment goes when its largest
        timestamp (its file's modification time if it has none) is more than ``retention.ms``
        before ``now_ms`` (-1: never), or while the log without it is still at least
        ``retention.bytes`` big (-1: no limit). Whole segments only, oldest first, never one
        holding offsets at or above the high watermark. As in Kafka, the active segment goes too
        once everything in it has expired and is below the high watermark: a new empty one is
        rolled at the log end first, so old records do not outlive retention until the next roll.
        The log start offset moves to the first remaining segment. Files of deleted segments are
        unlinked at once; readers holding their regions keep reading (the open file stays).
        """
        self._check_open()
        config = self._config
        if not config.delete or (config.retention_ms < 0 and config.retention_bytes < 0):
            return 0
        if now_ms is None:
            now_ms = self._now_ms()
        with self._lock:
            segments = self._segments
            hw = self._hw
            last = len(segments) - 1

            def deletable(i: int) -> bool:
                # all its offsets below the high watermark (the active one: not empty, LEO <= HW)
                if i < last:
                    return segments[i + 1].base_offset <= hw
                return segments[i].size > 0 and self._leo <= hw

            by_time = 0
            if config.retention_ms >= 0:
                while by_time <= last and deletable(by_time):
                    seg = segments[by_time]
                    ts = seg.max_timestamp if seg.max_timestamp >= 0 else seg.last_modified_ms()
                    if now_ms - ts <= config.retention_ms:
                        break
                    by_time += 1
            by_size = 0
            if config.retention_bytes >= 0:
                excess = sum(s.size for s in segments) - config.retention_bytes
                while by_size <= last and deletable(by_size):
                    size = segments[by_size].size
                    if excess - size < 0:
                        break
                    excess -= size
                    by_size += 1
            n = max(by_time, by_size)
            if n == 0:
                return 0
            if n > last:
                self._roll(now_ms)  # the active segment goes: an empty one takes over at the LEO
                segments = self._segments
            gone = segments[:n]
            self._set_segments(segments[n:])
            self._generation += 1
            self._log_start = max(self._log_start, segments[n].base_offset)
            self._hw = max(self._hw, self._log_start)
            self._recovery_point = max(self._recovery_point, self._log_start)
            start = self._log_start
        logger.info(
            "%s: retention deleted %d segment(s) [%d, %d) (%s); log start offset is now %d",
            self._dir.name,
            n,
            gone[0].base_offset,
            start,
            "retention.ms" if by_time >= by_size else "retention.bytes",
            start,
        )
        for seg in gone:
            seg.close()
            seg.delete()
        return n

    @_storage
    def truncate_to(self, offset: int) -> None:
        """Remove everything at and after ``offset`` (a follower's truncation).

        Whole batches only: when ``offset`` falls inside a batch, that batch goes too and the
        LEO becomes its base offset. Below the first segment, the log is emptied and restarts at
        ``offset``. High watermark, recovery point and log start follow the new LEO down.
        """
        self._check_open()
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        if offset >= self._leo:
            return
        with self._lock:
            self._generation += 1
            if offset < self._segments[0].base_offset:
                self._truncate_fully_locked(offset)
            else:
                i = bisect_right(self._bases, offset) - 1
                for seg in self._segments[i + 1 :]:
                    seg.close()
                    seg.delete()
                self._set_segments(self._segments[: i + 1])
                seg = self._segments[i]
                seg.truncate_to(offset, self._config.index_interval_bytes)
                seg.rolling_ms = self._rolling_time(seg, self._now_ms())
                self._leo = seg.next_offset
                self._log_start = min(self._log_start, self._leo)
                self._hw = min(self._hw, self._leo)
                self._recovery_point = min(self._recovery_point, self._leo)
                self._producers.delete_snapshots_above(self._leo)
                self._load_producer_state()
        self._lower_first_dirty(self._leo)

    @_storage
    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart the empty log at ``offset``."""
        self._check_open()
        with self._lock:
            self._generation += 1
            self._truncate_fully_locked(offset)
        self._lower_first_dirty(offset)

    def _truncate_fully_locked(self, offset: int) -> None:
        for seg in self._segments:
            seg.close()
            seg.delete()
        seg = self._new_segment(offset)
        self._set_segments([seg])
        fsync_dir(self._dir)
        self._leo = self._log_start = self._hw = self._recovery_point = offset
        self._producers.clear()
        self._producers.delete_snapshots_above(-1)

    def _lower_first_dirty(self, offset: int) -> None:
        """After a truncation: what was compacted above ``offset`` is gone, so is its checkpoint
        (written at once: new records there must not pass for compacted after a crash)."""
        if self._first_dirty > offset:
            self._first_dirty = offset
            self._horizon_cache = None
            hook = self.on_first_dirty_changed
            if hook is not None:
                hook(self)

    # ------------------------------------------------------------------------------ compaction

    def clean_once(
        self,
        now_ms: int | None = None,
        *,
        force: bool = False,
        throttler: Throttler | None = None,
        abort: Callable[[], bool] | None = None,
        map_limit_bytes: int | None = None,
    ) -> CleanResult:
        """Compact this log once, in the calling thread (see :func:`.cleaner.clean_log`).

        Without ``force`` it cleans only when the cleaner would pick it (dirty ratio above
        ``min.cleanable.dirty.ratio``, a dirty record older than ``max.compaction.lag.ms``, or
        tombstones whose delete horizon passed). Safe to run while the owner appends and reads.
        """
        from .cleaner import clean_log

        kwargs = {} if map_limit_bytes is None else {"map_limit_bytes": map_limit_bytes}
        return clean_log(
            self,
            self._now_ms() if now_ms is None else now_ms,
            force=force,
            throttler=throttler,
            abort=abort,
            **kwargs,
        )

    def _commit_clean(
        self, old: list[LogSegment], new: LogSegment, end_offset: int, generation: int
    ) -> list[Path] | None:
        """Swap the cleaned segment ``new`` (files ``*.cleaned``, fsynced) in for ``old``, the
        segments covering [new.base_offset, end_offset). Returns the renamed-away files to
        unlink once the directory is fsynced, or None (nothing changed) when the log moved
        on meanwhile (truncation, retention, closing) so that the clean no longer applies.

        The renames: ``<b>.log.cleaned`` -> ``<b>.<end>.log.swap`` (the commit: from here a
        crash completes the swap), each old file -> ``*.deleted``, the swap -> ``<b>.log``, the
        cleaned indexes -> their names. A crash at any point leaves either the old segments or
        the committed swap, which :func:`recover_swaps` finishes.
        """
        directory = self._dir
        base = new.base_offset
        with self._lock:
            segments = list(self._segments)
            if self._stop_cleaning or self._offline is not None or self._generation != generation:
                return None
            try:
                i = next(j for j, s in enumerate(segments) if s is old[0])
            except StopIteration:
                return None
            if len(segments[i:]) <= len(old) or any(a is not b for a, b in zip(segments[i:], old)):
                return None
            try:
                swap = directory / swap_name(base, end_offset)
                os.rename(new.log_path, swap)
                gone: list[Path] = []
                for seg in old:
                    for path in seg.file_paths():
                        target = path.with_name(path.name + DELETED_SUFFIX)
                        try:
                            os.rename(path, target)
                        except FileNotFoundError:
                            continue
                        gone.append(target)
                final = directory / segment_name(base, _LOG_SUFFIX)
                os.rename(swap, final)
                new.log_path = final
                for index, suffix in ((new.index, ".index"), (new.time_index, ".timeindex")):
                    path = directory / segment_name(base, suffix)
                    os.rename(index.path, path)
                    index.rename(path)
                new.txn_index.rename(directory / segment_name(base, ".txnindex"))
            except OSError as e:
                raise self._go_offline("clean (segment swap)", e) from e
            segments[i : i + len(old)] = [new]
            self._set_segments(segments)
        return gone

    def _set_first_dirty(self, offset: int, generation: int, horizon: int | None) -> bool:
        """After a clean whose swaps are durable: offsets below ``offset`` are compacted."""
        with self._lock:
            if self._generation != generation or self._stop_cleaning:
                return False
            self._first_dirty = max(self._first_dirty, offset)
            self._horizon_cache = (self._first_dirty, horizon)
        hook = self.on_first_dirty_changed
        if hook is not None:
            hook(self)
        return True

    def _stop_cleaner_for_good(self) -> None:
        """Abort a clean in progress and wait for it to end; no clean starts afterwards."""
        self._stop_cleaning = True
        with self._clean_mutex:
            pass

    # ------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop any clean, seal the active segment, fsync, snapshot the producer state, close
        index files. Regions handed out earlier stay readable.

        Never raises for a storage error: the log goes offline (logged) and what could not be
        flushed is recovered on the next start."""
        if self._closed:
            return
        self._stop_cleaner_for_good()
        with self._lock:
            if self._offline is None:
                try:
                    self._segments[-1].seal()
                    self.flush()
                    if not self._snapshot_current():
                        self._producers.take_snapshot(self._leo)
                except OSError as e:
                    self._go_offline("close", e)
                except KafkaError:
                    pass  # flush found the log offline: already logged
            for seg in self._segments:
                try:
                    seg.close()
                except OSError:
                    pass
            self._set_segments(())
            self._closed = True

    def _snapshot_current(self) -> bool:
        """Whether a producer snapshot would add nothing: the log is empty, or the newest
        snapshot is at the log end already (Kafka takes one on close only when there is new
        state). Then closing an idle log writes nothing."""
        first = self._segments[0]
        if self._leo == first.base_offset and first.size == 0 and not self._producers.producers:
            return True
        offsets = self._producers.snapshot_offsets()
        return bool(offsets) and offsets[-1] == self._leo

    def delete(self) -> None:
        """Remove the log's files and directory (regions handed out earlier stay readable)."""
        self._stop_cleaner_for_good()
        with self._lock:
            for seg in self._segments:
                try:
                    seg.close()
                    seg.delete()
                except OSError:
                    pass
            self._set_segments(())
            self._closed = True
        shutil.rmtree(self._dir, ignore_errors=True)

    def rename_dir(self, directory: Path) -> None:
        """Rename the log's directory (e.g. before deletion) and follow it; stops cleaning."""
        directory = Path(directory)
        self._stop_cleaner_for_good()
        os.rename(self._dir, directory)
        fsync_dir(directory.parent)
        self._dir = directory
        self._producers.directory = directory
        for seg in self._segments:
            seg.rename_dir(directory)

    def snapshot_files(self) -> list[Path]:
        """The producer-state snapshot files present (for tests and tools)."""
        return sorted(self._dir.glob("*" + SNAPSHOT_SUFFIX))
