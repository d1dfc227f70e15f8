"""The aborted-transaction index of one segment: ``<base offset>.txnindex``, in Kafka's format.

One 34-byte big-endian entry per transaction aborted by a marker in this segment: ``version int16
(0), producer id int64, first offset int64, last offset int64 (the ABORT marker), last stable offset
int64`` (the LSO when it was aborted). read_committed fetches collect the entries that overlap what
they read, so consumers can drop the aborted records. The file exists only once a transaction was
aborted in the segment; entries are kept in memory too (they are few). Imports nothing from asyncio
or the network.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import NamedTuple

__all__ = ["AbortedTxn", "TxnIndex", "TXN_INDEX_SUFFIX"]

TXN_INDEX_SUFFIX = ".txnindex"
_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class TxnIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[AbortedTxn] = []
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        usable = len(data) - len(data) % ENTRY_SIZE  # a torn last entry is dropped
        last = -1
        for pos in range(0, usable, ENTRY_SIZE):
            version, pid, first, end, lso = _ENTRY.unpack_from(data, pos)
            if version != 0 or end <= last or first > end:
                break  # garbage from here on: the log's recovery rebuilds what is needed
            self.entries.append(AbortedTxn(pid, first, end, lso))
            last = end

    def all(self) -> list[AbortedTxn]:
        self._load()
        return self.entries

    def append(self, txn: AbortedTxn) -> None:
        self._load()
        if self.entries and txn.last_offset <= self.entries[-1].last_offset:
            raise ValueError(f"aborted transaction at {txn.last_offset} is not after {self.entries[-1].last_offset}")
        with open(self.path, "ab") as f:
            f.write(_ENTRY.pack(0, *txn))
        self.entries.append(txn)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or after ``offset``."""
        self._load()
        keep = [e for e in self.entries if e.last_offset < offset]
        if len(keep) != len(self.entries) or (self.path.exists() and self.path.stat().st_size != len(keep) * ENTRY_SIZE):
            self.entries = keep
            self.rewrite()

    def rewrite(self) -> None:
        """Write the file from the entries in memory (removed when there are none)."""
        if not self.entries:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(_ENTRY.pack(0, *e) for e in self.entries))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def flush(self) -> None:
        if self.entries and self.path.exists():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def collect(self, fetch_offset: int, upper_bound: int, out: list[AbortedTxn]) -> bool:
        """Add the entries overlapping [fetch_offset, upper_bound) to ``out``; True when the search
        can stop (an entry's LSO reaches the upper bound: no later entry can overlap)."""
        for e in self.all():
            if e.last_offset >= fetch_offset and e.first_offset < upper_bound:
                out.append(e)
            if e.last_stable_offset >= upper_bound:
                return True
        return False

    def rename(self, path: Path) -> None:
        self._load()
        if self.path.exists():
            os.rename(self.path, path)
        self.path = path

    def delete(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
