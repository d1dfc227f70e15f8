"""Idempotent-producer state of one partition, and its snapshot files.

Owns, per producer id, the current epoch and the metadata of its last five batches (sequence
range, offsets, timestamp), the checks Kafka makes before appending a producer's batch
(duplicate, fencing by epoch, sequence order), and ``<offset>.snapshot`` files that let the state
survive a restart: the state as of ``offset`` (the log end offset when written). The snapshot is
odradek's own small binary format (version 101, CRC-32C checked; version 100, without the
transaction fields, is still read), not Kafka's. Imports nothing from asyncio or the network.

Transactions: a producer's first transactional batch in this partition opens its transaction
here (``current_txn_first_offset``); the coordinator's marker closes it (:meth:`complete_txn`).
Open transactions, and finished ones whose marker the high watermark has not passed yet, hold the
*first unstable offset* down: the last stable offset (LSO) is the lower of it and the high
watermark, so read_committed consumers never see past an undecided transaction.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import BatchHeader
from .checkpoint import atomic_write

__all__ = ["BatchMetadata", "CompletedTxn", "ProducerEntry", "ProducerStateManager", "in_sequence"]

MAX_BATCHES = 5
INT32_MAX = (1 << 31) - 1
SNAPSHOT_VERSION = 101
SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOTS_KEPT = 2

_FILE_HEADER = struct.Struct(">hIi")  # version, crc of what follows, producer count
_PRODUCER_V100 = struct.Struct(">qhb")  # producer id, epoch, batch count
_PRODUCER = struct.Struct(">qhbqi")  # ... + current txn first offset, coordinator epoch
_BATCH = struct.Struct(">iiqqq")  # first seq, last seq, base offset, last offset, timestamp


class BatchMetadata(NamedTuple):
    first_seq: int
    last_seq: int
    base_offset: int
    last_offset: int
    timestamp: int


class CompletedTxn(NamedTuple):
    producer_id: int
    first_offset: int  # the transaction's first batch in this partition
    last_offset: int  # its marker
    aborted: bool


@dataclass
class ProducerEntry:
    producer_id: int
    epoch: int
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=MAX_BATCHES))
    current_txn_first_offset: int = -1  # the open transaction's first offset here, -1: none
    coordinator_epoch: int = -1  # of the last marker written for this producer
    last_timestamp: int = -1  # of its last batch or marker

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    def find_duplicate(self, h: BatchHeader) -> BatchMetadata | None:
        if h.producer_epoch != self.epoch:
            return None
        first, last = h.base_sequence, h.last_sequence
        for b in self.batches:
            if b.first_seq == first and b.last_seq == last:
                return b
        return None


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Whether ``next_seq`` follows ``last_seq`` (sequences wrap from int32 max to 0)."""
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


class ProducerStateManager:
    """Producer entries of one partition plus its snapshot files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.producers: dict[int, ProducerEntry] = {}
        # pid -> first offset of its open transaction (the entries' current_txn_first_offset)
        self.ongoing: dict[int, int] = {}
        # (first offset, marker offset) of finished transactions whose marker is not yet below
        # the high watermark: they still hold the LSO back (Kafka's "unreplicated" transactions)
        self.unreplicated: list[tuple[int, int]] = []

    # ------------------------------------------------------------------------------ transactions

    def first_unstable_offset(self) -> int | None:
        """The first offset of a transaction not yet decided and replicated, or None."""
        if not self.ongoing and not self.unreplicated:
            return None
        firsts = list(self.ongoing.values())
        firsts += [first for first, _ in self.unreplicated]
        return min(firsts)

    def prune_unreplicated(self, high_watermark: int) -> None:
        """Finished transactions whose marker is below the high watermark no longer hold the LSO."""
        if self.unreplicated:
            self.unreplicated = [t for t in self.unreplicated if t[1] >= high_watermark]

    def check_marker(self, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> None:
        """Kafka's checks before a coordinator's marker is appended (nothing is written on error)."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return
        if producer_epoch < entry.epoch:
            raise KafkaError(
                ErrorCode.invalid_producer_epoch,
                f"marker epoch {producer_epoch} of producer {producer_id} is older than its epoch {entry.epoch}",
            )
        if coordinator_epoch < entry.coordinator_epoch:
            raise KafkaError(
                ErrorCode.transaction_coordinator_fenced,
                f"marker from coordinator epoch {coordinator_epoch}, producer {producer_id} last saw {entry.coordinator_epoch}",
            )

    def complete_txn(self, h: BatchHeader, marker_offset: int, commit: bool, coordinator_epoch: int,
                     timestamp: int) -> CompletedTxn | None:
        """A marker at ``marker_offset`` ends ``h.producer_id``'s transaction here. Returns the
        finished transaction, or None when none was open (a partition added but never written, or
        a retried marker): the marker is stored all the same."""
        pid = h.producer_id
        entry = self.producers.get(pid)
        if entry is None:
            entry = ProducerEntry(pid, h.producer_epoch)
            self.producers[pid] = entry
        elif h.producer_epoch != entry.epoch:
            entry.epoch = h.producer_epoch  # a fenced transaction: the marker carries the bumped epoch
            entry.batches.clear()
        entry.coordinator_epoch = coordinator_epoch
        entry.last_timestamp = timestamp
        first = entry.current_txn_first_offset
        entry.current_txn_first_offset = -1
        self.ongoing.pop(pid, None)
        if first < 0:
            return None
        self.unreplicated.append((first, marker_offset))
        return CompletedTxn(pid, first, marker_offset, not commit)

    # ------------------------------------------------------------------------------ checks

    def check(self, batches: Iterable[BatchHeader]) -> BatchMetadata | None:
        """Check every idempotent batch of one append before anything is written.

        Returns the metadata of the original batch when one is a duplicate of one of its
        producer's last five batches (then nothing is to be appended). Raises KafkaError
        INVALID_PRODUCER_EPOCH (epoch older than known), OUT_OF_ORDER_SEQUENCE_NUMBER (gap, or a
        first sequence other than 0 for a new epoch) or INVALID_RECORD (an idempotent batch
        without sequence). Later batches of the same producer in the append are checked against
        the earlier ones. A producer this log does not know may start at any sequence, as in
        Kafka: its state may have gone with retention or DeleteRecords.
        """
        pending: dict[int, tuple[int, int]] | None = None
        for h in batches:
            pid = h.producer_id
            if pid < 0:
                continue
            seq = h.base_sequence
            if seq < 0:
                raise KafkaError(
                    ErrorCode.invalid_record, f"producer {pid} sent a batch without sequence number"
                )
            entry = self.producers.get(pid)
            if entry is not None:
                duplicate = entry.find_duplicate(h)
                if duplicate is not None:
                    return duplicate
            if pending is None:
                pending = {}
            state = pending.get(pid)
            if state is None and entry is not None:
                state = (entry.epoch, entry.last_seq)
            epoch = h.producer_epoch
            if state is None:
                pass  # any first sequence
            elif epoch < state[0]:
                raise KafkaError(
                    ErrorCode.invalid_producer_epoch,
                    f"producer {pid} epoch {epoch} is older than the current epoch {state[0]}",
                )
            elif epoch > state[0]:
                if seq != 0:
                    raise KafkaError(
                        ErrorCode.out_of_order_sequence_number,
                        f"producer {pid} new epoch {epoch}: first sequence is {seq}, expected 0",
                    )
            elif not in_sequence(state[1], seq):
                raise KafkaError(
                    ErrorCode.out_of_order_sequence_number,
                    f"producer {pid} epoch {epoch}: sequence {seq}, expected {(state[1] + 1) & INT32_MAX}",
                )
            if entry is not None and entry.current_txn_first_offset >= 0 and not h.is_transactional:
                raise KafkaError(
                    ErrorCode.invalid_txn_state,
                    f"producer {pid} has a transaction open here and sent a non-transactional batch",
                )
            pending[pid] = (epoch, h.last_sequence)
        return None

    def update(self, h: BatchHeader, base_offset: int, timestamp: int) -> None:
        """Record an appended batch (``base_offset`` as assigned) of an idempotent producer."""
        if h.producer_id < 0 or h.is_control:
            return
        if h.base_sequence < 0:
            if h.is_transactional:  # a coordinator's write for the producer's transaction
                self._open_txn(h, base_offset, timestamp)
            return
        entry = self.producers.get(h.producer_id)
        if entry is None:
            entry = ProducerEntry(h.producer_id, h.producer_epoch)
            self.producers[h.producer_id] = entry
        elif entry.epoch != h.producer_epoch:
            entry.epoch = h.producer_epoch
            entry.batches.clear()
        entry.batches.append(
            BatchMetadata(
                h.base_sequence,
                h.last_sequence,
                base_offset,
                base_offset + h.last_offset_delta,
                timestamp,
            )
        )
        entry.last_timestamp = timestamp
        if h.is_transactional and entry.current_txn_first_offset < 0:
            entry.current_txn_first_offset = base_offset
            self.ongoing[h.producer_id] = base_offset

    def _open_txn(self, h: BatchHeader, base_offset: int, timestamp: int) -> None:
        entry = self.producers.get(h.producer_id)
        if entry is None:
            entry = self.producers[h.producer_id] = ProducerEntry(h.producer_id, h.producer_epoch)
        elif entry.epoch != h.producer_epoch:
            entry.epoch = h.producer_epoch
            entry.batches.clear()
        entry.last_timestamp = timestamp
        if entry.current_txn_first_offset < 0:
            entry.current_txn_first_offset = base_offset
            self.ongoing[h.producer_id] = base_offset

    def expire(self, now_ms: int, expiration_ms: int) -> int:
        """Forget producers whose last write is older than ``expiration_ms`` and that have no
        transaction open (Kafka's producer.id.expiration.ms); returns how many went."""
        old = [pid for pid, e in self.producers.items()
               if e.current_txn_first_offset < 0 and 0 <= e.last_timestamp < now_ms - expiration_ms]
        for pid in old:
            del self.producers[pid]
        return len(old)

    def clear(self) -> None:
        self.producers.clear()
        self.ongoing.clear()
        self.unreplicated.clear()

    # ------------------------------------------------------------------------------ snapshots

    def snapshot_offsets(self, names=None) -> list[int]:
        """Offsets of the snapshot files present, ascending (``names``: the directory's listing,
        when the caller has it)."""
        out = []
        for name in os.listdir(self.directory) if names is None else names:
            if name.endswith(SNAPSHOT_SUFFIX):
                stem = name[: -len(SNAPSHOT_SUFFIX)]
                if stem.isdigit():
                    out.append(int(stem))
        return sorted(out)

    def take_snapshot(self, offset: int) -> Path:
        """Write the state as of ``offset`` atomically, then keep only the newest snapshots."""
        body = bytearray()
        for entry in self.producers.values():
            body += _PRODUCER.pack(entry.producer_id, entry.epoch, len(entry.batches),
                                   entry.current_txn_first_offset, entry.coordinator_epoch)
            for b in entry.batches:
                body += _BATCH.pack(*b)
        data = _FILE_HEADER.pack(SNAPSHOT_VERSION, crc32c(body), len(self.producers)) + body
        path = snapshot_path(self.directory, offset)
        atomic_write(path, data)
        for old in self.snapshot_offsets()[:-SNAPSHOTS_KEPT]:
            self._unlink(old)
        return path

    def load_snapshot(self, max_offset: int, names=None) -> int | None:
        """Load the newest readable snapshot at or below ``max_offset``; delete those above it
        and unreadable ones. Returns the snapshot's offset, or None (state cleared). ``names``:
        the directory's listing, when the caller has it."""
        self.clear()
        for offset in reversed(self.snapshot_offsets(names)):
            if offset > max_offset:
                self._unlink(offset)
                continue
            try:
                self.producers = _parse(snapshot_path(self.directory, offset).read_bytes())
                self.ongoing = {pid: e.current_txn_first_offset for pid, e in self.producers.items()
                                if e.current_txn_first_offset >= 0}
                return offset
            except (ValueError, struct.error, OSError):
                self._unlink(offset)
        self.producers = {}
        return None

    def delete_snapshots_above(self, offset: int) -> None:
        for o in self.snapshot_offsets():
            if o > offset:
                self._unlink(o)

    def _unlink(self, offset: int) -> None:
        try:
            os.unlink(snapshot_path(self.directory, offset))
        except FileNotFoundError:
            pass


def _parse(data: bytes) -> dict[int, ProducerEntry]:
    version, crc, count = _FILE_HEADER.unpack_from(data, 0)
    if version not in (100, SNAPSHOT_VERSION):
        raise ValueError(f"snapshot version {version}")
    layout = _PRODUCER if version == SNAPSHOT_VERSION else _PRODUCER_V100
    body = memoryview(data)[_FILE_HEADER.size :]
    if crc32c(body) != crc:
        raise ValueError("snapshot CRC mismatch")
    producers: dict[int, ProducerEntry] = {}
    pos = 0
    for _ in range(count):
        fields = layout.unpack_from(body, pos)
        pos += layout.size
        pid, epoch, n = fields[:3]
        entry = ProducerEntry(pid, epoch)
        if len(fields) > 3:
            entry.current_txn_first_offset, entry.coordinator_epoch = fields[3], fields[4]
        for _ in range(n):
            entry.batches.append(BatchMetadata(*_BATCH.unpack_from(body, pos)))
            pos += _BATCH.size
        if entry.batches:
            entry.last_timestamp = entry.batches[-1].timestamp
        producers[pid] = entry
    if pos != len(body):
        raise ValueError("trailing bytes in snapshot")
    return producers
