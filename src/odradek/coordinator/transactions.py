"""The transaction coordinator (KIP-98, KIP-360, KIP-447, KIP-890 part 1): a pure state machine.

It holds the metadata of every transactional id whose ``__transaction_state`` partition this
broker leads, and decides each request: an error, or a :class:`Transition` — the new metadata and
the record that makes it durable. The coordinator runtime writes the record and calls
:meth:`TransactionCoordinator.apply` once it is committed (or :meth:`abandon` when the write
failed); only then is the request answered. While a transition is being written, other requests
for that id get CONCURRENT_TRANSACTIONS. Time comes from the injected clock; producer ids from an
injected allocator. It knows nothing of logs, sockets or other brokers.

States, with Kafka's ids (also the ``status`` byte of the records)::

    Empty(0) -> Ongoing(1) -> PrepareCommit(2) -> CompleteCommit(4) -> Ongoing / Empty / Dead
                          \\-> PrepareAbort(3)  -> CompleteAbort(5)  -> Ongoing / Empty / Dead
    Ongoing -> PrepareEpochFence(7, in memory only) -> PrepareAbort with epoch + 1

A transaction in a Prepare state has its outcome decided: the runtime writes the markers to every
partition of the transaction and then asks for the Complete transition (:meth:`complete`).
Errors are the canonical ones (PRODUCER_FENCED, TRANSACTION_ABORTABLE); the API layer maps them
down for request versions that do not know them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Callable, Iterable

from ..protocol.errors import ErrorCode
from .coordinator import partition_for
from .txn_records import TxnLogValue, decode_key, decode_value, encode_key, encode_value

MAX_EPOCH = 32767  # Short.MAX_VALUE


def epoch_exhausted(epoch: int) -> bool:
    return epoch >= MAX_EPOCH - 1


class TxnState(IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7


STATE_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
STATE_BY_NAME = {v: k for k, v in STATE_NAMES.items()}
_IDLE = (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
_PREPARE = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)


@dataclass
class TxnConfig:
    num_partitions: int = 50
    max_timeout_ms: int = 900000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604800000  # transactional.id.expiration.ms


@dataclass
class TxnMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[tuple[str, int]] = frozenset()
    start_ms: int = -1
    last_update_ms: int = -1
    last_producer_epoch: int = -1  # the epoch before the last bump (not persisted, as in Kafka)
    pending: "Transition | None" = None  # a transition being written


@dataclass
class Transition:
    """New metadata for one transactional id, to be written as one record, then applied."""

    transactional_id: str
    partition: int  # of __transaction_state
    state: TxnState
    producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    partitions: frozenset[tuple[str, int]]
    start_ms: int
    last_update_ms: int
    fence: bool = False  # aborting an ongoing transaction whose producer was fenced or timed out

    @property
    def tombstone(self) -> bool:
        return self.state == TxnState.DEAD

    def record(self) -> tuple[int, bytes, bytes | None]:
        key = encode_key(self.transactional_id)
        if self.tombstone:
            return self.partition, key, None
        by_topic: dict[str, list[int]] = {}
        for t, p in sorted(self.partitions):
            by_topic.setdefault(t, []).append(p)
        value = TxnLogValue(
            self.producer_id,
            self.producer_epoch,
            self.timeout_ms,
            int(self.state),
            None if self.state == TxnState.EMPTY else sorted(by_topic.items()),
            self.last_update_ms,
            self.start_ms,
        )
        return self.partition, key, encode_value(value)


@dataclass
class Result:
    error: ErrorCode = ErrorCode.none
    transition: Transition | None = None
    producer_id: int = -1
    producer_epoch: int = -1
    partition_errors: dict[tuple[str, int], ErrorCode] = field(default_factory=dict)


class TransactionCoordinator:
    def __init__(
        self,
        config: TxnConfig,
        allocate_producer_id: Callable[[], int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.allocate_producer_id = allocate_producer_id
        self.clock = clock
        self.txns: dict[str, TxnMetadata] = {}
        self.loaded: set[int] = set()  # partitions of __transaction_state this broker coordinates
        self.epochs: dict[int, int] = {}  # coordinator epoch (leader epoch) per partition

    # --- helpers ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.config.num_partitions)

    def coordinator_epoch(self, transactional_id: str) -> int:
        return self.epochs.get(self.partition_for(transactional_id), 0)

    def owns(self, transactional_id: str) -> ErrorCode | None:
        """None when this coordinator has the id's partition loaded, else the error to answer."""
        if self.partition_for(transactional_id) not in self.loaded:
            return ErrorCode.not_coordinator
        return None

    def _transition(self, m: TxnMetadata, state: TxnState, **changes) -> Transition:
        now = self._now_ms()
        t = Transition(
            m.transactional_id,
            self.partition_for(m.transactional_id),
            state,
            changes.get("producer_id", m.producer_id),
            changes.get("producer_epoch", m.producer_epoch),
            changes.get("last_producer_epoch", m.last_producer_epoch),
            changes.get("timeout_ms", m.timeout_ms),
            changes.get("partitions", m.partitions),
            changes.get("start_ms", m.start_ms),
            now,
            changes.get("fence", False),
        )
        m.pending = t
        return t

    # --- the runtime's side ---------------------------------------------------------------------

    def apply(self, t: Transition) -> None:
        """The transition's record is committed: it becomes the metadata."""
        m = self.txns.get(t.transactional_id)
        if t.tombstone:
            if m is not None and m.pending is t:
                del self.txns[t.transactional_id]
            return
        if m is None:
            m = self.txns[t.transactional_id] = TxnMetadata(t.transactional_id, t.producer_id, t.producer_epoch,
                                                            t.timeout_ms, t.state)
        m.producer_id, m.producer_epoch, m.last_producer_epoch = t.producer_id, t.producer_epoch, t.last_producer_epoch
        m.timeout_ms, m.state, m.partitions = t.timeout_ms, t.state, t.partitions
        m.start_ms, m.last_update_ms = t.start_ms, t.last_update_ms
        if m.pending is t:
            m.pending = None

    def abandon(self, t: Transition) -> None:
        """Writing the transition failed: nothing changes (a new id made for it is dropped)."""
        m = self.txns.get(t.transactional_id)
        if m is not None and m.pending is t:
            m.pending = None
            if m.state == TxnState.DEAD:  # created for this init, never written
                del self.txns[t.transactional_id]

    # --- InitProducerId -------------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int = -1,
                         producer_epoch: int = -1) -> Result:
        if transactional_id == "":
            return Result(ErrorCode.invalid_request)
        err = self.owns(transactional_id)
        if err is not None:
            return Result(err)
        if timeout_ms <= 0 or timeout_ms > self.config.max_timeout_ms:
            return Result(ErrorCode.invalid_transaction_timeout)
        if (producer_id < 0) != (producer_epoch < 0):
            return Result(ErrorCode.invalid_request)
        m = self.txns.get(transactional_id)
        if m is None:
            # a new id: metadata with epoch -1 (never written as such), then the bump to epoch 0
            m = TxnMetadata(transactional_id, self.allocate_producer_id(), -1, timeout_ms, TxnState.DEAD)
            self.txns[transactional_id] = m
            t = self._transition(m, TxnState.EMPTY, producer_epoch=0, last_producer_epoch=-1,
                                 timeout_ms=timeout_ms, partitions=frozenset(), start_ms=-1)
            return Result(ErrorCode.none, t, t.producer_id, t.producer_epoch)
        if m.pending is not None:
            return Result(ErrorCode.concurrent_transactions)
        if producer_id >= 0:
            # KIP-360: the producer asks to bump the epoch it has
            valid = m.producer_epoch < 0 or producer_id == m.producer_id
            if not valid:
                return Result(ErrorCode.producer_fenced)
        if m.state in _PREPARE:
            return Result(ErrorCode.concurrent_transactions)
        if m.state == TxnState.ONGOING:
            # a previous instance died inside a transaction: fence it (epoch + 1) and abort it; the
            # caller retries and gets the epoch after that
            t = self._fence(m)
            return Result(ErrorCode.concurrent_transactions, t)
        # Empty, CompleteCommit, CompleteAbort
        if producer_id >= 0 and m.producer_epoch >= 0 and producer_epoch != m.producer_epoch:
            if producer_epoch != m.last_producer_epoch:
                return Result(ErrorCode.producer_fenced)
            # the producer's epoch was bumped already (a retry, or the abort it asked for fenced
            # its old epoch): it gets the current epoch, not another bump
            t = self._transition(m, TxnState.EMPTY, timeout_ms=timeout_ms, partitions=frozenset(), start_ms=-1)
            return Result(ErrorCode.none, t, t.producer_id, t.producer_epoch)
        if epoch_exhausted(m.producer_epoch):
            t = self._transition(m, TxnState.EMPTY, producer_id=self.allocate_producer_id(), producer_epoch=0,
                                 last_producer_epoch=-1, timeout_ms=timeout_ms, partitions=frozenset(), start_ms=-1)
        else:
            t = self._transition(m, TxnState.EMPTY, producer_epoch=m.producer_epoch + 1,
                                 last_producer_epoch=m.producer_epoch, timeout_ms=timeout_ms,
                                 partitions=frozenset(), start_ms=-1)
        return Result(ErrorCode.none, t, t.producer_id, t.producer_epoch)

    def _fence(self, m: TxnMetadata) -> Transition:
        """Abort ``m``'s ongoing transaction with the epoch bumped, so its producer is fenced."""
        if epoch_exhausted(m.producer_epoch):
            epoch = m.producer_epoch  # cannot bump further; the abort still goes out (Kafka does the same)
        else:
            epoch = m.producer_epoch + 1
        return self._transition(m, TxnState.PREPARE_ABORT, producer_epoch=epoch,
                                last_producer_epoch=m.producer_epoch, fence=True)

    # --- a transaction's partitions -------------------------------------------------------------

    def _check_producer(self, m: TxnMetadata | None, producer_id: int, producer_epoch: int) -> ErrorCode | None:
        if m is None or m.producer_id != producer_id or m.state == TxnState.DEAD:
            return ErrorCode.invalid_producer_id_mapping
        if m.producer_epoch != producer_epoch:
            return ErrorCode.producer_fenced
        return None

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[tuple[str, int]]) -> Result:
        """AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition)."""
        wanted = frozenset(partitions)
        err = self.owns(transactional_id)
        if err is None:
            m = self.txns.get(transactional_id)
            err = self._check_producer(m, producer_id, producer_epoch)
            if err is None and m.pending is not None:
                err = ErrorCode.concurrent_transactions
            if err is None and m.state in _PREPARE:
                err = ErrorCode.concurrent_transactions
        if err is not None:
            return Result(err, partition_errors={tp: err for tp in wanted})
        if m.state == TxnState.ONGOING and wanted <= m.partitions:
            return Result(ErrorCode.none, partition_errors={tp: ErrorCode.none for tp in wanted})
        start = m.start_ms if m.state == TxnState.ONGOING else self._now_ms()
        t = self._transition(m, TxnState.ONGOING, partitions=m.partitions | wanted, start_ms=start)
        return Result(ErrorCode.none, t, partition_errors={tp: ErrorCode.none for tp in wanted})

    def verify(self, transactional_id: str, producer_id: int, producer_epoch: int,
               partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        """KIP-890 part 1: are these partitions in the id's ongoing transaction (nothing written)?"""
        wanted = list(partitions)
        err = self.owns(transactional_id)
        m = self.txns.get(transactional_id)
        if err is None:
            err = self._check_producer(m, producer_id, producer_epoch)
        if err is not None:
            return {tp: err for tp in wanted}
        ongoing = m.state == TxnState.ONGOING
        return {tp: ErrorCode.none if ongoing and tp in m.partitions else ErrorCode.invalid_txn_state for tp in wanted}

    # --- EndTxn ---------------------------------------------------------------------------------

    def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool) -> Result:
        err = self.owns(transactional_id)
        if err is not None:
            return Result(err)
        m = self.txns.get(transactional_id)
        if m is None or m.producer_id != producer_id or m.state == TxnState.DEAD:
            return Result(ErrorCode.invalid_producer_id_mapping)
        if m.producer_epoch != producer_epoch:
            return Result(ErrorCode.producer_fenced)
        if m.pending is not None:
            return Result(ErrorCode.concurrent_transactions)
        if m.state == TxnState.ONGOING:
            t = self._transition(m, TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT)
            return Result(ErrorCode.none, t)
        if (m.state, commit) in ((TxnState.COMPLETE_COMMIT, True), (TxnState.COMPLETE_ABORT, False)):
            return Result(ErrorCode.none)  # a retry of an EndTxn that is done (Flink commits this way)
        if (m.state, commit) in ((TxnState.PREPARE_COMMIT, True), (TxnState.PREPARE_ABORT, False)):
            return Result(ErrorCode.concurrent_transactions)
        return Result(ErrorCode.invalid_txn_state)

    def complete(self, transactional_id: str) -> Transition | None:
        """The markers of a decided transaction are written: CompleteCommit / CompleteAbort."""
        m = self.txns.get(transactional_id)
        if m is None or m.state not in _PREPARE or m.pending is not None:
            return None
        state = TxnState.COMPLETE_COMMIT if m.state == TxnState.PREPARE_COMMIT else TxnState.COMPLETE_ABORT
        return self._transition(m, state, partitions=frozenset())

    def markers_to_write(self, transactional_id: str) -> tuple[int, int, bool, frozenset[tuple[str, int]]] | None:
        """(producer id, epoch, commit, partitions) of a decided transaction, or None."""
        m = self.txns.get(transactional_id)
        if m is None or m.state not in _PREPARE:
            return None
        return m.producer_id, m.producer_epoch, m.state == TxnState.PREPARE_COMMIT, m.partitions

    def prepared(self, partition: int | None = None) -> list[str]:
        """Ids whose transaction is decided but not complete (after a load: finish them)."""
        return [tid for tid, m in self.txns.items()
                if m.state in _PREPARE and m.pending is None
                and (partition is None or self.partition_for(tid) == partition)]

    # --- timers ---------------------------------------------------------------------------------

    def timed_out(self) -> list[Transition]:
        """Fence-and-abort transitions for ongoing transactions past their timeout."""
        now = self._now_ms()
        out = []
        for m in self.txns.values():
            if m.state == TxnState.ONGOING and m.pending is None and m.start_ms >= 0 and m.start_ms + m.timeout_ms < now:
                out.append(self._fence(m))
        return out

    def expired(self) -> list[Transition]:
        """Tombstones for ids idle longer than transactional.id.expiration.ms."""
        now = self._now_ms()
        out = []
        for m in self.txns.values():
            if m.state in _IDLE and m.pending is None and m.last_update_ms <= now - self.config.id_expiration_ms:
                out.append(self._transition(m, TxnState.DEAD))
        return out

    # --- describing -----------------------------------------------------------------------------

    def describe(self, transactional_id: str) -> dict:
        err = self.owns(transactional_id)
        m = self.txns.get(transactional_id)
        if err is None and (m is None or m.state == TxnState.DEAD):
            err = ErrorCode.transactional_id_not_found
        if err is not None:
            return {"error_code": err, "transactional_id": transactional_id, "transaction_state": "",
                    "transaction_timeout_ms": 0, "transaction_start_time_ms": -1, "producer_id": -1,
                    "producer_epoch": -1, "topics": []}
        by_topic: dict[str, list[int]] = {}
        for t, p in sorted(m.partitions):
            by_topic.setdefault(t, []).append(p)
        return {
            "error_code": 0,
            "transactional_id": transactional_id,
            "transaction_state": STATE_NAMES[m.state],
            "transaction_timeout_ms": m.timeout_ms,
            "transaction_start_time_ms": m.start_ms if m.state not in _IDLE else -1,
            "producer_id": m.producer_id,
            "producer_epoch": m.producer_epoch,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
        }

    def list(self, states: list[str], producer_ids: list[int], duration_ms: int = -1,
             pattern: str | None = None) -> tuple[list[dict], list[str]]:
        """ListTransactions: matching ids, and the state filters that name no state."""
        unknown = [s for s in states if s not in STATE_BY_NAME]
        wanted = {STATE_BY_NAME[s] for s in states if s in STATE_BY_NAME}
        regex = re.compile(pattern) if pattern else None
        now = self._now_ms()
        out = []
        for tid, m in sorted(self.txns.items()):
            if m.state == TxnState.DEAD:
                continue
            if states and m.state not in wanted:
                continue
            if producer_ids and m.producer_id not in producer_ids:
                continue
            if duration_ms >= 0 and (m.state != TxnState.ONGOING or m.start_ms < 0 or now - m.start_ms < duration_ms):
                continue
            if regex is not None and not regex.search(tid):
                continue
            out.append({"transactional_id": tid, "producer_id": m.producer_id,
                        "transaction_state": STATE_NAMES[m.state]})
        return out, unknown

    # --- loading --------------------------------------------------------------------------------

    def load_partition(self, partition: int, coordinator_epoch: int) -> None:
        self.unload_partition(partition)
        self.epochs[partition] = coordinator_epoch

    def loaded_partition(self, partition: int) -> None:
        """The partition is replayed: this coordinator answers for its ids from now on."""
        self.loaded.add(partition)

    def unload_partition(self, partition: int) -> None:
        self.loaded.discard(partition)
        for tid in [t for t in self.txns if self.partition_for(t) == partition]:
            del self.txns[tid]

    def replay(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            tid = decode_key(key)
        except (ValueError, UnicodeDecodeError, IndexError):
            return
        if value is None:
            self.txns.pop(tid, None)
            return
        v = decode_value(value)
        m = self.txns.get(tid)
        state = TxnState(v.status)
        parts = frozenset((t, p) for t, ps in (v.partitions or []) for p in ps)
        if m is None:
            self.txns[tid] = TxnMetadata(tid, v.producer_id, v.producer_epoch, v.timeout_ms, state, parts,
                                         v.start_ms, v.last_update_ms)
        else:
            if v.producer_epoch != m.producer_epoch:
                m.last_producer_epoch = m.producer_epoch
            m.producer_id, m.producer_epoch, m.timeout_ms = v.producer_id, v.producer_epoch, v.timeout_ms
            m.state, m.partitions, m.start_ms, m.last_update_ms = state, parts, v.start_ms, v.last_update_ms
            m.pending = None


def copy_metadata(m: TxnMetadata) -> TxnMetadata:
    return replace(m)
