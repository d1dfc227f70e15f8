"""The sparse indexes of one segment: offset index (``.index``) and time index (``.timeindex``).

Owns the two index files in Kafka's format (big-endian):

* ``.index``: 8-byte entries ``(relative offset int32, position int32)``; the relative offset is
  that of the *last* offset of the batch starting at ``position`` (as Kafka writes it), one entry
  per ``index.interval.bytes`` of log appended.
* ``.timeindex``: 12-byte entries ``(timestamp int64, relative offset int32)``, appended only when
  the segment's max timestamp grows; the offset is the last offset of the batch that holds it.

Entries are kept in memory (``array``) for binary search and appended to plain files (no
preallocation, nothing to trim). No file descriptor is held between operations: each write, read
or fsync opens the file and closes it again (index writes come at most once per batch, every
``index.interval.bytes``), so a broker with thousands of partitions holds one descriptor per
segment (its ``.log``), as Kafka does with its memory-mapped indexes. An index opened ``lazy`` reads its file only when first used
(so opening many old segments costs a few small reads each), then runs ``check_on_load`` if one
was set. A segment's owner checks entries with ``problem()`` and rebuilds the index from the
``.log`` when it answers with a reason. Imports nothing from asyncio or the network.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import islice
from operator import le, lt
from pathlib import Path

__all__ = ["OffsetIndex", "TimeIndex"]

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_SWAP = sys.byteorder == "little"


def _increasing(values: array, strict: bool = True) -> bool:
    return all(map(lt if strict else le, values, islice(values, 1, None)))


class _IndexFile:
    entry_size = 0
    _entry: struct.Struct
    _arrays: tuple[str, ...] = ()  # attributes that exist once the file is loaded

    def __init__(self, path: Path, base_offset: int, max_bytes: int, *, lazy: bool = False) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_bytes // self.entry_size)
        self.missing = not path.exists()
        if self.missing:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        self._deferred = False
        self.torn = False  # file length was not a multiple of the entry size
        self.check_on_load: Callable[[], None] | None = None
        if not lazy:
            self._load()

    def __getattr__(self, name: str):
        # Only called for missing attributes: the entry arrays of a lazy index not loaded yet.
        if name in type(self)._arrays:
            self._load()
            check = self.__dict__.get("check_on_load")
            if check is not None:
                self.check_on_load = None
                check()
            return object.__getattribute__(self, name)
        raise AttributeError(name)

    @property
    def loaded(self) -> bool:
        return self._arrays[0] in self.__dict__

    def _load(self) -> None:
        raise NotImplementedError

    def _open(self, flags: int = os.O_RDWR) -> int:
        return os.open(self.path, flags | os.O_CREAT, 0o644)

    def _read_all(self) -> bytes:
        fd = self._open(os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0) if size else b""
        finally:
            os.close(fd)
        whole = len(data) - len(data) % self.entry_size
        self.torn = whole != len(data)
        return data[:whole]

    def file_torn(self) -> bool:
        """Whether the file's length is not a whole number of entries (without loading it)."""
        try:
            return os.stat(self.path).st_size % self.entry_size != 0
        except FileNotFoundError:
            return False

    def _last_file_entry(self) -> tuple[int, int] | None:
        fd = self._open(os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            size -= size % self.entry_size
            if size == 0:
                return None
            data = os.pread(fd, self.entry_size, size - self.entry_size)
        finally:
            os.close(fd)
        if len(data) < self.entry_size:
            return None
        return self._entry.unpack(data)

    def _write(self, data: bytes, position: int) -> None:
        view = memoryview(data)
        fd = self._open()
        try:
            while view:
                written = os.pwrite(fd, view, position)
                view = view[written:]
                position += written
        finally:
            os.close(fd)

    def _truncate_file(self, entries: int) -> None:
        fd = self._open()
        try:
            os.ftruncate(fd, entries * self.entry_size)
        finally:
            os.close(fd)

    def begin_rebuild(self) -> None:
        """Drop every entry; appends are kept in memory until :meth:`end_rebuild`."""
        self.check_on_load = None
        self._reset_arrays()
        self._deferred = True

    def end_rebuild(self) -> None:
        """Write the rebuilt entries as the whole file (unless it holds them already: a log
        recovered at start-up usually rebuilds what its index says, and rewriting thousands of
        files for nothing is what made start-up slow)."""
        self._deferred = False
        data = self._encode_all()
        fd = self._open()
        try:
            size = os.fstat(fd).st_size
            rewrite = size != len(data) or (data and os.pread(fd, size, 0) != data)
            if rewrite:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        if rewrite and data:
            self._write(data, 0)
        self.missing = False
        self.torn = False

    def flush(self) -> None:
        fd = self._open(os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing to release: no descriptor is held between operations."""

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def rename(self, path: Path) -> None:
        self.path = path

    # subclasses
    def _reset_arrays(self) -> None:
        raise NotImplementedError

    def _encode_all(self) -> bytes:
        raise NotImplementedError


class OffsetIndex(_IndexFile):
    """Sparse map from offsets to file positions of one segment."""

    entry_size = 8
    _entry = _OFFSET_ENTRY
    _arrays = ("_rel", "_pos")
    _rel: array
    _pos: array

    def _load(self) -> None:
        raw = array("i")
        raw.frombytes(self._read_all())
        if _SWAP:
            raw.byteswap()
        self._rel = raw[0::2]
        self._pos = raw[1::2]

    def _reset_arrays(self) -> None:
        self._rel = array("i")
        self._pos = array("i")

    def last_file_entry(self) -> tuple[int, int] | None:
        """(absolute offset, position) of the last entry in the file, without loading it."""
        entry = self._last_file_entry()
        return None if entry is None else (self.base_offset + entry[0], entry[1])

    def __len__(self) -> int:
        return len(self._rel)

    @property
    def full(self) -> bool:
        return len(self._rel) >= self.max_entries

    def last_entry(self) -> tuple[int, int] | None:
        """(absolute offset, position) of the last entry."""
        if not self._rel:
            return None
        return self.base_offset + self._rel[-1], self._pos[-1]

    def entries(self) -> list[tuple[int, int]]:
        """All entries as (absolute offset, position); for tests and tools."""
        return [(self.base_offset + r, p) for r, p in zip(self._rel, self._pos)]

    def problem(self, log_size: int) -> str | None:
        """Why the loaded entries cannot be trusted for a log file of ``log_size`` bytes, or None."""
        if self.missing:
            return "missing"
        if self.torn:
            return "length is not a multiple of 8"
        if not self._rel:
            return None
        if self._rel[0] < 0 or self._pos[0] < 0:
            return "negative entry"
        if self._pos[-1] >= log_size:
            return "entry past the end of the log"
        if not (_increasing(self._rel) and _increasing(self._pos)):
            return "entries not increasing"
        return None

    def append(self, offset: int, position: int) -> None:
        """Add (absolute ``offset``, ``position``); callers keep both increasing."""
        rel = offset - self.base_offset
        if not self._deferred:
            self._write(_OFFSET_ENTRY.pack(rel, position), len(self._rel) * 8)
        self._rel.append(rel)
        self._pos.append(position)

    def lookup(self, offset: int) -> int:
        """Position of the last entry whose offset is <= ``offset`` (0 when there is none)."""
        i = bisect_right(self._rel, offset - self.base_offset) - 1
        return self._pos[i] if i >= 0 else 0

    def lookup_position(self, position: int) -> int:
        """The largest indexed position <= ``position`` (0 when there is none)."""
        i = bisect_right(self._pos, position) - 1
        return self._pos[i] if i >= 0 else 0

    def truncate_to_position(self, position: int) -> None:
        """Remove the entries at or after ``position``."""
        i = bisect_left(self._pos, position)
        if i < len(self._pos):
            del self._rel[i:]
            del self._pos[i:]
            if not self._deferred:
                self._truncate_file(i)

    def _encode_all(self) -> bytes:
        n = len(self._rel)
        raw = array("i", bytes(8 * n))
        raw[0::2] = self._rel
        raw[1::2] = self._pos
        if _SWAP:
            raw.byteswap()
        return raw.tobytes()


class TimeIndex(_IndexFile):
    """Sparse map from (growing) max timestamps to offsets of one segment."""

    entry_size = 12
    _entry = _TIME_ENTRY
    _arrays = ("_ts", "_rel")
    _ts: array
    _rel: array

    def _load(self) -> None:
        entries = list(_TIME_ENTRY.iter_unpack(self._read_all()))
        self._ts = array("q", [t for t, _ in entries])
        self._rel = array("i", [r for _, r in entries])

    def _reset_arrays(self) -> None:
        self._ts = array("q")
        self._rel = array("i")

    def last_file_entry(self) -> tuple[int, int] | None:
        """(timestamp, absolute offset) of the last entry in the file, without loading it."""
        entry = self._last_file_entry()
        return None if entry is None else (entry[0], self.base_offset + entry[1])

    def __len__(self) -> int:
        return len(self._ts)

    @property
    def full(self) -> bool:
        return len(self._ts) >= self.max_entries

    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, absolute offset) of the last entry."""
        if not self._ts:
            return None
        return self._ts[-1], self.base_offset + self._rel[-1]

    def entries(self) -> list[tuple[int, int]]:
        """All entries as (timestamp, absolute offset); for tests and tools."""
        return [(t, self.base_offset + r) for t, r in zip(self._ts, self._rel)]

    def problem(self, next_offset: int | None = None) -> str | None:
        """Why the loaded entries cannot be trusted, or None.

        ``next_offset`` (the offset after the segment's last batch) bounds the entries' offsets
        when it is known.
        """
        if self.missing:
            return "missing"
        if self.torn:
            return "length is not a multiple of 12"
        if not self._ts:
            return None
        if self._rel[0] < 0:
            return "negative offset"
        if next_offset is not None and self.base_offset + self._rel[-1] >= next_offset:
            return "entry past the end of the log"
        if not (_increasing(self._ts) and _increasing(self._rel, strict=False)):
            return "entries not increasing"
        return None

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Add (``timestamp``, absolute ``offset``) if the timestamp is larger than the last one."""
        if self._ts and timestamp <= self._ts[-1]:
            return
        if timestamp < 0 or (not skip_full_check and self.full):
            return
        rel = offset - self.base_offset
        if not self._deferred:
            self._write(_TIME_ENTRY.pack(timestamp, rel), len(self._ts) * 12)
        self._ts.append(timestamp)
        self._rel.append(rel)

    def lookup(self, timestamp: int) -> int | None:
        """Absolute offset of the last entry whose timestamp is <= ``timestamp`` (None if none)."""
        i = bisect_right(self._ts, timestamp) - 1
        return self.base_offset + self._rel[i] if i >= 0 else None

    def truncate_to_offset(self, offset: int) -> None:
        """Remove the entries whose offset is >= ``offset``."""
        i = bisect_left(self._rel, offset - self.base_offset)
        if i < len(self._rel):
            del self._ts[i:]
            del self._rel[i:]
            if not self._deferred:
                self._truncate_file(i)

    def _encode_all(self) -> bytes:
        return b"".join(_TIME_ENTRY.pack(t, r) for t, r in zip(self._ts, self._rel))
