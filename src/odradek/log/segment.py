"""One log segment: ``<base offset>.log`` with its ``.index`` and ``.timeindex``.

Owns the segment's files: appending whole batches at the end (one ``pwrite`` per append), the
sparse index entries that go with them, scanning batch headers (never records) to find a batch by
offset or timestamp, recovery (checking length, magic and CRC of every batch and cutting the file
at the first bad byte), truncation and deletion. The ``.log`` file object is shared with readers
through :class:`FileRegion` and is never closed explicitly: it closes when the last reference
goes, so a region stays readable after its segment is deleted. Imports nothing from asyncio or
the network.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from ..protocol.errors import KafkaError
from ..protocol.records import HEADER_SIZE, BatchHeader, check_header, read_header
from .index import OffsetIndex, TimeIndex
from .txn_index import TXN_INDEX_SUFFIX, TxnIndex

logger = logging.getLogger(__name__)

__all__ = ["LogSegment", "FileRegion", "SegmentFile", "BatchScanner", "segment_name"]

INT32_MAX = (1 << 31) - 1
HEADER_CHUNK = 16384  # bytes read at a time when only headers are wanted
VERIFY_CHUNK = 1 << 20  # bytes read at a time when CRCs are checked


def segment_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


class SegmentFile(io.FileIO):
    """The unbuffered ``.log`` file object; closes itself quietly when no longer referenced."""

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class FileRegion(NamedTuple):
    """``size`` bytes at ``position`` of ``file`` (an open unbuffered binary file), for sendfile."""

    file: SegmentFile
    position: int
    size: int

    def read(self) -> bytes:
        """Copy the bytes into Python: for tests and tools, never for the fetch path."""
        return os.pread(self.file.fileno(), self.size, self.position)


class BatchScanner:
    """Iterate over the batch headers in ``[start, end)`` of a file, stopping at the first bad one.

    Headers come with their absolute file position. With ``verify_crc`` every batch is read whole
    and its CRC-32C checked; otherwise only headers are read. After iteration ``end`` is the
    position after the last good batch and ``error`` says why scanning stopped early (or None).
    """

    def __init__(self, fd: int, start: int, end: int, *, verify_crc: bool = False) -> None:
        self.fd = fd
        self.start = start
        self.limit = end
        self.verify_crc = verify_crc
        self.end = start
        self.error: str | None = None

    def __iter__(self) -> Iterator[BatchHeader]:
        fd, limit, verify = self.fd, self.limit, self.verify_crc
        chunk = VERIFY_CHUNK if verify else HEADER_CHUNK
        pos = self.start
        buf = b""
        buf_start = pos
        while pos < limit:
            rel = pos - buf_start
            if rel + HEADER_SIZE > len(buf):
                buf = os.pread(fd, min(chunk, limit - pos), pos)
                buf_start, rel = pos, 0
                if len(buf) < HEADER_SIZE:
                    self.error = f"truncated batch header at byte {pos}"
                    break
            h = read_header(buf, rel)
            try:
                check_header(h, limit - pos)
            except KafkaError as e:
                self.error = f"at byte {pos}: {e.message}"
                break
            if verify:
                if rel + h.size > len(buf):
                    buf = os.pread(fd, min(max(chunk, h.size), limit - pos), pos)
                    buf_start, rel = pos, 0
                    if len(buf) < h.size:
                        self.error = f"truncated batch at byte {pos}"
                        break
                if crc32c(memoryview(buf)[rel + 21 : rel + h.size]) != h.crc:
                    self.error = f"CRC-32C mismatch in batch at byte {pos}"
                    break
            yield h._replace(position=pos)
            pos += h.size
            self.end = pos


class LogSegment:
    """A segment of a partition's log. Not thread-safe; the owning :class:`Log` serialises use."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        index_bytes: int,
        index_interval: int,
        *,
        lazy: bool = False,
        suffix: str = "",
    ) -> None:
        """Open (or create) the segment's files; ``suffix`` (e.g. ``".cleaned"``) is appended to
        every file name, for a segment being written by the cleaner (created empty)."""
        self.base_offset = base_offset
        self.index_interval = index_interval  # for rebuilds; appends are given the current one
        self.log_path = directory / (segment_name(base_offset, ".log") + suffix)
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if suffix else 0)
        fd = os.open(self.log_path, flags, 0o644)
        self.file = SegmentFile(fd, "r+b", closefd=True)
        self.fd = fd
        self.size = os.fstat(fd).st_size
        if suffix:
            for name in (".index", ".timeindex", TXN_INDEX_SUFFIX):
                try:
                    os.unlink(directory / (segment_name(base_offset, name) + suffix))
                except FileNotFoundError:
                    pass
        self.index = OffsetIndex(
            directory / (segment_name(base_offset, ".index") + suffix), base_offset, index_bytes, lazy=lazy
        )
        self.time_index = TimeIndex(
            directory / (segment_name(base_offset, ".timeindex") + suffix),
            base_offset,
            index_bytes,
            lazy=lazy,
        )
        self.txn_index = TxnIndex(directory / (segment_name(base_offset, TXN_INDEX_SUFFIX) + suffix))
        self.next_offset = base_offset  # offset after the last batch
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.bytes_since_index = 0
        self.rolling_ms: int | None = None  # clock time of the first batch, for segment.ms
        self.dirty = False

    def __repr__(self) -> str:
        return f"LogSegment(base={self.base_offset}, size={self.size}, next={self.next_offset})"

    # ------------------------------------------------------------------------------ appending

    def index_full(self) -> bool:
        return self.index.full or self.time_index.full

    def fits_offset(self, last_offset: int) -> bool:
        """Whether ``last_offset`` can be stored relative to this segment's base (int32)."""
        return last_offset - self.base_offset <= INT32_MAX

    def append(
        self,
        data: memoryview,
        headers: list[BatchHeader],
        first_offset: int,
        interval: int,
        append_time: int | None,
    ) -> None:
        """Write ``data`` (the batches of ``headers``, offsets already assigned from
        ``first_offset``) at the end of the file and index them."""
        position = self.size
        self._write(data, position)
        shift = position - headers[0].position
        off = first_offset
        track = self._track
        for h in headers:
            last = off + h.last_offset_delta
            ts = h.max_timestamp if append_time is None else append_time
            track(h.position + shift, h.size, last, ts, interval)
            off = last + 1
        self.size = position + len(data)
        self.next_offset = off
        self.dirty = True

    def append_batches(self, data: bytes | memoryview, headers: list[BatchHeader], interval: int) -> None:
        """Write batches whose offsets are already in them (``headers`` as scanned from
        ``data``, positions relative to it): the cleaner's appends, with offset gaps."""
        position = self.size
        self._write(memoryview(data), position)
        track = self._track
        for h in headers:
            track(position + h.position, h.size, h.last_offset, h.max_timestamp, interval)
        self.size = position + len(data)
        if headers:
            self.next_offset = headers[-1].next_offset
        self.dirty = True

    def _write(self, data: memoryview, position: int) -> None:
        view = data
        try:
            while view:
                written = os.pwrite(self.fd, view, position)
                view = view[written:]
                position += written
        except OSError:
            # Leave the file as it was (best effort) so the next append starts at a batch boundary.
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                pass
            raise

    def _track(self, position: int, size: int, last_offset: int, max_ts: int, interval: int) -> None:
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = last_offset
        if self.bytes_since_index > interval:
            if not self.index.full:
                self.index.append(last_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_index = 0
        self.bytes_since_index += size

    def seal(self) -> None:
        """The segment stops being active (roll or close): write the final time index entry, so
        that the last entry holds the segment's max timestamp, and trim any failed write."""
        self.time_index.maybe_append(
            self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True
        )
        if os.fstat(self.fd).st_size > self.size:
            os.ftruncate(self.fd, self.size)

    def flush(self) -> None:
        os.fsync(self.fd)
        self.index.flush()
        self.time_index.flush()
        self.txn_index.flush()
        self.dirty = False

    # ------------------------------------------------------------------------------ loading

    def recover(self, interval: int, *, verify_crc: bool = True, from_position: int = 0) -> str | None:
        """Re-read batches from ``from_position`` (0: the whole segment, indexes rebuilt; else the
        position of the last offset index entry, whose entries up to it are kept), check them,
        cut the file at the first bad byte. Returns why it was cut, or None."""
        lower = self.base_offset
        if from_position == 0:
            self.index.begin_rebuild()
            self.time_index.begin_rebuild()
            self.max_timestamp = self.offset_of_max_timestamp = -1
        else:
            last = self.index.last_entry()
            assert last is not None and last[1] == from_position
            self.index.truncate_to_position(from_position + 1)
            self.time_index.truncate_to_offset(last[0] + 1)
            entry = self.time_index.last_entry()
            self.max_timestamp, self.offset_of_max_timestamp = entry if entry else (-1, -1)
        self.bytes_since_index = 0
        self.next_offset = self.base_offset
        scanner = BatchScanner(self.fd, from_position, self.size, verify_crc=verify_crc)
        error = None
        end = from_position
        for h in scanner:
            if h.base_offset < lower or not self.fits_offset(h.last_offset):
                error = f"batch at byte {h.position} has offset {h.base_offset}, expected >= {lower}"
                break
            self._track(h.position, h.size, h.last_offset, h.max_timestamp, interval)
            lower = self.next_offset = h.next_offset
            end = h.position + h.size
        else:
            error = scanner.error
        if from_position == 0:
            self.index.end_rebuild()
            self.time_index.end_rebuild()
        if end < self.size:
            os.ftruncate(self.fd, end)
            self.size = end
            self.index.truncate_to_position(end)
        return error

    def check_indexes(self, next_offset: int) -> str | None:
        """For a segment not re-read on load: why its indexes cannot be trusted, or None.

        Cheap checks only (a few small reads, entries not loaded): whole entries, the last
        offset entry points at a batch with that last offset, the last time entry (written when
        the segment was sealed) lies inside the segment. On success the segment's max timestamp
        comes from that entry and ``next_offset`` is taken as given; the full check of the
        entries runs when they are first loaded, and rebuilds them if it fails.
        """
        index, time_index = self.index, self.time_index
        if index.missing or time_index.missing:
            return "missing"
        if index.file_torn() or time_index.file_torn():
            return "length is not a whole number of entries"
        last = index.last_file_entry()
        if last is not None:
            if not 0 <= last[1] < self.size:
                return "last offset index entry is past the end of the log"
            h = self.read_header(last[1])
            if h is None or h.last_offset != last[0]:
                return "last offset index entry does not point at its batch"
        entry = time_index.last_file_entry()
        if entry is not None:
            if not self.base_offset <= entry[1] < next_offset or entry[0] < 0:
                return "last time index entry is outside the segment"
            self.max_timestamp, self.offset_of_max_timestamp = entry
        elif self.size:
            return "no time index entry for a non-empty sealed segment"
        self.next_offset = next_offset
        index.check_on_load = self._check_loaded
        time_index.check_on_load = self._check_loaded
        return None

    def _check_loaded(self) -> None:
        self.index.check_on_load = self.time_index.check_on_load = None
        problem = self.index.problem(self.size) or self.time_index.problem(self.next_offset)
        if problem:
            logger.warning("rebuilding the indexes of %s: %s", self.log_path, problem)
            self.rebuild_indexes()

    def rebuild_indexes(self) -> None:
        """Rebuild both indexes (and the max timestamp) from the batch headers, changing
        nothing in the ``.log``; stops at the first malformed header."""
        self.index.begin_rebuild()
        self.time_index.begin_rebuild()
        self.max_timestamp = self.offset_of_max_timestamp = -1
        self.bytes_since_index = 0
        interval = self.index_interval
        for h in BatchScanner(self.fd, 0, self.size):
            self._track(h.position, h.size, h.last_offset, h.max_timestamp, interval)
        self.index.end_rebuild()
        self.time_index.end_rebuild()

    def tail_start(self) -> int | None:
        """For the last segment after a clean shutdown: the position of the last offset index
        entry, from which :meth:`recover` can re-check just the tail; None when the indexes look
        wrong (then the whole segment is recovered)."""
        if self.index.problem(self.size) or self.time_index.problem(None):
            return None
        last = self.index.last_entry()
        if last is None:
            return None
        h = self.read_header(last[1])
        if h is None or h.last_offset != last[0]:
            return None
        self.time_index.truncate_to_offset(last[0] + 1)
        entry = self.time_index.last_entry()
        if entry is not None:
            ts, offset = entry
            t = self.find_batch(offset)
            if t is None or t.last_offset != offset or t.max_timestamp != ts:
                return None
        return last[1]

    # ------------------------------------------------------------------------------ reading

    def read_header(self, position: int) -> BatchHeader | None:
        if position + HEADER_SIZE > self.size:
            return None
        data = os.pread(self.fd, HEADER_SIZE, position)
        if len(data) < HEADER_SIZE:
            return None
        return read_header(data)._replace(position=position)

    def headers(self, start: int = 0) -> BatchScanner:
        """Headers of the batches from ``start`` (a batch boundary) to the end, not verified."""
        return BatchScanner(self.fd, start, self.size)

    def find_batch(self, offset: int) -> BatchHeader | None:
        """The first batch whose last offset is >= ``offset`` (None when there is none here)."""
        for h in BatchScanner(self.fd, self.index.lookup(offset), self.size):
            if h.base_offset + h.last_offset_delta >= offset:
                return h
        return None

    def find_timestamp(self, timestamp: int, min_offset: int = 0) -> BatchHeader | None:
        """The first batch whose max timestamp is >= ``timestamp`` and whose last offset is >=
        ``min_offset``."""
        offset = self.time_index.lookup(timestamp)
        start = self.index.lookup(max(-1 if offset is None else offset, min_offset))
        for h in BatchScanner(self.fd, start, self.size):
            if h.max_timestamp >= timestamp and h.base_offset + h.last_offset_delta >= min_offset:
                return h
        return None

    def boundary_before(self, limit: int, start: int) -> int:
        """The last batch boundary <= ``limit``, scanning from ``start`` (a batch boundary)."""
        position = max(start, self.index.lookup_position(limit))
        for h in BatchScanner(self.fd, position, self.size):
            if h.position + h.size > limit:
                return h.position
            position = h.position + h.size
        return position

    # ------------------------------------------------------------------------------ changing

    def truncate_to(self, offset: int, interval: int) -> bool:
        """Remove the batch holding ``offset`` (or the first after it) and everything after.

        Returns whether anything was removed; ``next_offset`` is then the new end.
        """
        h = self.find_batch(offset)
        if h is None:
            return False
        os.ftruncate(self.fd, h.position)
        self.size = h.position
        self.recover(interval, verify_crc=False)
        self.txn_index.truncate_to(self.next_offset)
        self.dirty = True
        return True

    def file_paths(self) -> list[Path]:
        """The segment's files (``.log``, ``.index``, ``.timeindex``, ``.txnindex`` when there is one)."""
        paths = [self.log_path, self.index.path, self.time_index.path]
        if self.txn_index.path.exists():
            paths.append(self.txn_index.path)
        return paths

    def last_modified_ms(self) -> int:
        """The ``.log`` file's modification time, for segments without timestamps."""
        return int(os.fstat(self.fd).st_mtime * 1000)

    def close(self) -> None:
        """Close the index files; the ``.log`` file closes when its last region goes."""
        self.index.close()
        self.time_index.close()

    def delete(self) -> None:
        self.index.delete()
        self.time_index.delete()
        self.txn_index.delete()
        try:
            os.unlink(self.log_path)
        except FileNotFoundError:
            pass

    def rename_dir(self, directory: Path) -> None:
        self.log_path = directory / self.log_path.name
        self.index.rename(directory / self.index.path.name)
        self.time_index.rename(directory / self.time_index.path.name)
        self.txn_index.path = directory / self.txn_index.path.name
