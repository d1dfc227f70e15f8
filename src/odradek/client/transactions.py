"""Transactions of the producer (KIP-98), the client side: the coordinator conversation and state.

A transactional producer (``Producer(transactional_id=...)``) talks to its *transaction
coordinator* (FindCoordinator with key type 1) and moves through these states::

    UNINITIALIZED --init_transactions--> READY --begin_transaction--> IN_TRANSACTION
    IN_TRANSACTION --commit_transaction--> COMMITTING --> READY
    IN_TRANSACTION --abort_transaction--> ABORTING --> READY
    IN_TRANSACTION --a batch or an offset commit failed--> ABORTABLE_ERROR --abort_transaction--> READY
    any --fenced, or an error the producer cannot recover from--> FATAL_ERROR (close the producer)

What goes on the wire (the classic flow, as Kafka clients use it when ``transaction.version`` is
not finalized): InitProducerId with the transactional id gives the producer id and epoch (and
fences an older instance with the same id); AddPartitionsToTxn registers each partition before
its first batch is sent; batches carry the transactional attribute; AddOffsetsToTxn and then
TxnOffsetCommit (to the group coordinator, with the consumer's generation and member id) put
consumed offsets into the transaction; EndTxn commits or aborts it.

Retriable answers (CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE, lost connections) are retried until ``max_block_ms``. Fencing
(PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH from older request versions and from Produce) raises
:class:`ProducerFenced` and leaves the producer unusable, as every Kafka client does.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..protocol.errors import ErrorCode, KafkaError
from . import cluster as apis
from .errors import is_retriable
from .types import ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition

if TYPE_CHECKING:
    from .producer import Producer

log = logging.getLogger(__name__)

__all__ = ["TransactionState", "ProducerFenced", "TransactionAbortable", "TransactionStateError", "TransactionManager"]


class TransactionState(enum.Enum):
    UNINITIALIZED = "UNINITIALIZED"
    INITIALIZING = "INITIALIZING"
    READY = "READY"
    IN_TRANSACTION = "IN_TRANSACTION"
    COMMITTING = "COMMITTING"
    ABORTING = "ABORTING"
    ABORTABLE_ERROR = "ABORTABLE_ERROR"
    FATAL_ERROR = "FATAL_ERROR"


class ProducerFenced(KafkaError):
    """Another producer with the same transactional id took over (or the coordinator aborted this
    one's transaction after its timeout): this producer can do nothing more; close it."""


class TransactionAbortable(KafkaError):
    """The current transaction cannot commit (a batch or the offset commit failed): call
    ``abort_transaction()``, then the producer can begin a new one. ``code`` is the cause."""


class TransactionStateError(KafkaError):
    """A transactional method called in a state that does not allow it (``INVALID_TXN_STATE``)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.invalid_txn_state, message)


_FENCED = (ErrorCode.producer_fenced, ErrorCode.invalid_producer_epoch)
# Answers after which the same request is sent again (to a coordinator found again for the first two)
_REFIND = (ErrorCode.not_coordinator, ErrorCode.coordinator_not_available)
_RETRY = (ErrorCode.coordinator_load_in_progress, ErrorCode.concurrent_transactions)
# Failures of one transaction that the next one does not inherit (the epoch is bumped on abort
# when they broke the partition's sequence numbers)
_ABORTABLE = (
    ErrorCode.transaction_abortable, ErrorCode.topic_authorization_failed, ErrorCode.group_authorization_failed,
    ErrorCode.unknown_producer_id, ErrorCode.invalid_producer_id_mapping,
)
_NEEDS_BUMP = (ErrorCode.unknown_producer_id, ErrorCode.invalid_producer_id_mapping, ErrorCode.out_of_order_sequence_number)
_GROUP_FAILED = (ErrorCode.illegal_generation, ErrorCode.unknown_member_id, ErrorCode.fenced_instance_id, ErrorCode.rebalance_in_progress)


class TransactionManager:
    """The transactional state of one :class:`~odradek.client.Producer` (created by it)."""

    def __init__(self, producer: "Producer", transactional_id: str, timeout_ms: int) -> None:
        if not transactional_id:
            raise ValueError("transactional_id must be a non-empty string")
        self.producer = producer
        self.cluster = producer.cluster
        self.transactional_id = transactional_id
        self.timeout_ms = int(timeout_ms)
        self.state = TransactionState.UNINITIALIZED
        self.error: KafkaError | None = None  # the abortable or fatal error, in those states
        self.partitions: set[TopicPartition] = set()  # in the transaction at the coordinator
        self.pending: set[TopicPartition] = set()  # to be added before their first batch
        self.offsets_added = False  # AddOffsetsToTxn succeeded in this transaction
        self.need_bump = False  # a sequence gap: bump the epoch when the transaction is aborted
        self._offsets_group: str | None = None  # the group AddOffsetsToTxn added
        self._add_task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ state

    @property
    def in_transaction(self) -> bool:
        return self.state in (TransactionState.IN_TRANSACTION, TransactionState.COMMITTING, TransactionState.ABORTING)

    @property
    def started(self) -> bool:
        """Something was added at the coordinator: EndTxn is needed to finish the transaction."""
        return bool(self.partitions) or self.offsets_added

    def _fatal(self, err: KafkaError) -> KafkaError:
        if self.state != TransactionState.FATAL_ERROR:
            log.error("transactional producer %r: %s: the producer cannot continue", self.transactional_id, err)
        self.state = TransactionState.FATAL_ERROR
        self.error = err
        self.producer._wake.set()
        return err

    def _abortable(self, err: KafkaError) -> KafkaError:
        if self.state == TransactionState.FATAL_ERROR:
            return self.error or err
        if self.state != TransactionState.ABORTABLE_ERROR:
            log.warning("transactional producer %r: %s: the transaction must be aborted", self.transactional_id, err)
            self.state = TransactionState.ABORTABLE_ERROR
            self.error = err if isinstance(err, TransactionAbortable) else TransactionAbortable(err.code, err.message)
        self.producer._wake.set()
        return self.error  # type: ignore[return-value]

    def fail_from(self, code: ErrorCode, message: str) -> KafkaError:
        """Classify an error answer: fencing is fatal, anything else breaks only this transaction."""
        if code in _FENCED:
            return self._fatal(ProducerFenced(code, f"{message}: fenced by a newer producer with transactional id {self.transactional_id!r}"))
        if code in _NEEDS_BUMP:
            self.need_bump = True
        return self._abortable(KafkaError(code, message))

    def check_usable(self) -> None:
        if self.state == TransactionState.FATAL_ERROR:
            assert self.error is not None
            raise self.error

    def check_can_send(self) -> None:
        self.check_usable()
        if self.state == TransactionState.ABORTABLE_ERROR:
            assert self.error is not None
            raise self.error
        if self.state == TransactionState.UNINITIALIZED:
            raise TransactionStateError("call init_transactions() before sending with a transactional producer")
        if self.state != TransactionState.IN_TRANSACTION:
            raise TransactionStateError(f"send needs an open transaction (begin_transaction()); the producer is {self.state.value}")

    # ------------------------------------------------------------------ requests to the coordinators

    def _deadline(self) -> float:
        return time.monotonic() + self.producer.max_block

    async def _txn_request(self, api_key: int, request: Any, what: str, *, first_backoff: float | None = None) -> Any:
        """Send ``request`` to the transaction coordinator until it gives an answer that is not
        retriable (or ``max_block_ms`` passes); return the response."""
        deadline = self._deadline()
        backoff = first_backoff if first_backoff is not None else self.producer.retry_backoff
        while True:
            code: ErrorCode
            try:
                node = await self.cluster.coordinator(self.transactional_id, key_type=1)
                resp = await self.cluster.send(node, api_key, request)
                code = _top_error(resp)
            except KafkaError as e:
                # a lost connection, a coordinator that left the cluster, a request timeout...
                if not is_retriable(e):
                    raise
                code, resp = e.code, None
                log.debug("%s: %s", what, e)
            if code in _REFIND or resp is None:
                self.cluster.forget_coordinator(self.transactional_id, key_type=1)
            elif code not in _RETRY:
                return resp
            if time.monotonic() + backoff > deadline:
                raise KafkaError(code, f"{what}: still {code.name.upper()} after {self.producer.max_block:.0f}s")
            await asyncio.sleep(backoff)
            backoff = min(max(backoff * 2, 0.02), self.producer.retry_backoff)

    # ------------------------------------------------------------------ init

    async def init_transactions(self) -> None:
        async with self._lock:
            self.check_usable()
            if self.state not in (TransactionState.UNINITIALIZED, TransactionState.INITIALIZING):
                raise TransactionStateError(f"init_transactions() was called already (the producer is {self.state.value})")
            self.state = TransactionState.INITIALIZING
            await self._init_producer_id(bump=False)
            self.state = TransactionState.READY

    async def _init_producer_id(self, *, bump: bool) -> None:
        p = self.producer
        request = {
            "transactional_id": self.transactional_id, "transaction_timeout": self.timeout_ms,
            "producer_id": p.producer_id if bump else -1, "producer_epoch": p.producer_epoch if bump else -1,
        }
        resp = await self._txn_request(apis.INIT_PRODUCER_ID, request, "InitProducerId")
        code = resp.error_code
        if code != ErrorCode.none:
            if code in _FENCED:
                raise self._fatal(ProducerFenced(code, f"InitProducerId: transactional id {self.transactional_id!r} belongs to a newer producer"))
            raise self._fatal(KafkaError(code, f"InitProducerId for transactional id {self.transactional_id!r}"))
        p._set_producer_id(resp.producer_id, resp.producer_epoch)
        self.need_bump = False
        log.info("transactional producer %r: producer id %d, epoch %d", self.transactional_id, resp.producer_id, resp.producer_epoch)

    # ------------------------------------------------------------------ begin

    def begin_transaction(self) -> None:
        self.check_usable()
        if self.state == TransactionState.ABORTABLE_ERROR:
            raise TransactionStateError("the current transaction failed: abort_transaction() first")
        if self.state != TransactionState.READY:
            raise TransactionStateError(f"begin_transaction() needs a READY producer; it is {self.state.value}"
                                        + (" (call init_transactions() first)" if self.state == TransactionState.UNINITIALIZED else ""))
        self.state = TransactionState.IN_TRANSACTION
        self.partitions.clear()
        self.pending.clear()
        self.offsets_added = False
        self.error = None

    # ------------------------------------------------------------------ partitions

    def ready(self, tp: TopicPartition) -> bool:
        """Whether batches of ``tp`` may be sent now (it is in the transaction at the coordinator)."""
        return tp in self.partitions

    def add_partition(self, tp: TopicPartition) -> None:
        """Called for each record sent: register ``tp`` with the coordinator before its first batch."""
        if tp in self.partitions or tp in self.pending:
            return
        self.pending.add(tp)
        if self._add_task is None or self._add_task.done():
            self._add_task = asyncio.get_running_loop().create_task(self._add_partitions())

    async def _add_partitions(self) -> None:
        p = self.producer
        first = not self.partitions
        backoff = 0.02 if first else p.retry_backoff  # Kafka's clients retry the first add quickly
        deadline = self._deadline()
        while self.pending and self.state in (TransactionState.IN_TRANSACTION, TransactionState.COMMITTING):
            batch = sorted(self.pending)
            by_topic: dict[str, list[int]] = collections.defaultdict(list)
            for tp in batch:
                by_topic[tp.topic].append(tp.partition)
            request = {
                "v3_and_below_transactional_id": self.transactional_id,
                "v3_and_below_producer_id": p.producer_id,
                "v3_and_below_producer_epoch": p.producer_epoch,
                "v3_and_below_topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()],
            }
            try:
                resp = await self._txn_request(apis.ADD_PARTITIONS_TO_TXN, request, "AddPartitionsToTxn", first_backoff=backoff)
            except KafkaError as e:
                self.fail_from(e.code, f"AddPartitionsToTxn: {e.message}")
                return
            retry = False
            failed: KafkaError | None = None
            for t in resp.results_by_topic_v3_and_below:
                for r in t.results_by_partition:
                    tp = TopicPartition(t.name, r.partition_index)
                    code = r.partition_error_code
                    if code == ErrorCode.none:
                        self.partitions.add(tp)
                        self.pending.discard(tp)
                    elif code in _RETRY + _REFIND + (ErrorCode.unknown_topic_or_partition, ErrorCode.operation_not_attempted):
                        retry = True
                        if code in _REFIND:
                            self.cluster.forget_coordinator(self.transactional_id, key_type=1)
                    elif failed is None or failed.code == ErrorCode.operation_not_attempted:
                        failed = KafkaError(code, f"AddPartitionsToTxn {tp}")
            p._wake.set()
            if failed is not None:
                if failed.code in (ErrorCode.invalid_txn_state, ErrorCode.transactional_id_authorization_failed, ErrorCode.cluster_authorization_failed):
                    self._fatal(failed)
                else:
                    self.fail_from(failed.code, failed.message)
                return
            if retry:
                if time.monotonic() + backoff > deadline:
                    self._abortable(KafkaError(ErrorCode.request_timed_out, f"AddPartitionsToTxn {sorted(self.pending)} did not succeed in {p.max_block:.0f}s"))
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, p.retry_backoff)

    # ------------------------------------------------------------------ offsets

    async def send_offsets(self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata], group: ConsumerGroupMetadata | str) -> None:
        self.check_can_send()
        meta = group if isinstance(group, ConsumerGroupMetadata) else ConsumerGroupMetadata(str(group))
        offs = {TopicPartition(*tp): (o if isinstance(o, OffsetAndMetadata) else OffsetAndMetadata(int(o))) for tp, o in offsets.items()}
        p = self.producer
        if not self.offsets_added or self._offsets_group != meta.group_id:
            resp = await self._txn_request(apis.ADD_OFFSETS_TO_TXN, {
                "transactional_id": self.transactional_id, "producer_id": p.producer_id,
                "producer_epoch": p.producer_epoch, "group_id": meta.group_id,
            }, "AddOffsetsToTxn")
            code = resp.error_code
            if code != ErrorCode.none:
                if code in (ErrorCode.invalid_txn_state, ErrorCode.transactional_id_authorization_failed):
                    raise self._fatal(KafkaError(code, f"AddOffsetsToTxn for group {meta.group_id!r}"))
                raise self.fail_from(code, f"AddOffsetsToTxn for group {meta.group_id!r}")
            self.offsets_added = True
            self._offsets_group = meta.group_id
        if not offs:
            return
        await self._txn_offset_commit(offs, meta)

    async def _txn_offset_commit(self, offs: dict[TopicPartition, OffsetAndMetadata], meta: ConsumerGroupMetadata) -> None:
        p = self.producer
        deadline = self._deadline()
        backoff = p.retry_backoff
        todo = dict(offs)
        while todo:
            by_topic: dict[str, list[dict]] = collections.defaultdict(list)
            for tp, om in todo.items():
                by_topic[tp.topic].append({"partition_index": tp.partition, "committed_offset": om.offset,
                                           "committed_leader_epoch": om.leader_epoch, "committed_metadata": om.metadata or ""})
            request = {
                "transactional_id": self.transactional_id, "group_id": meta.group_id,
                "producer_id": p.producer_id, "producer_epoch": p.producer_epoch,
                "generation_id": meta.generation_id, "member_id": meta.member_id, "group_instance_id": meta.group_instance_id,
                "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()],
            }
            code = ErrorCode.none
            try:
                node = await self.cluster.coordinator(meta.group_id)
                resp = await self.cluster.send(node, apis.TXN_OFFSET_COMMIT, request)
            except KafkaError as e:
                if not is_retriable(e):
                    raise
                resp, code = None, e.code
                log.debug("TxnOffsetCommit: %s", e)
            retry = code != ErrorCode.none
            if resp is not None:
                for t in resp.topics:
                    for r in t.partitions:
                        tp = TopicPartition(t.name, r.partition_index)
                        c = r.error_code
                        if c == ErrorCode.none:
                            todo.pop(tp, None)
                        elif c in _REFIND + _RETRY + (ErrorCode.unknown_topic_or_partition, ErrorCode.request_timed_out, ErrorCode.network_exception):
                            retry, code = True, c
                        elif c in _GROUP_FAILED:
                            raise self._abortable(KafkaError(c, f"TxnOffsetCommit for group {meta.group_id!r}: the group rebalanced"))
                        elif c == ErrorCode.invalid_txn_state or c == ErrorCode.transactional_id_authorization_failed:
                            raise self._fatal(KafkaError(c, f"TxnOffsetCommit for group {meta.group_id!r}"))
                        else:
                            raise self.fail_from(c, f"TxnOffsetCommit {tp} for group {meta.group_id!r}")
            if code in _REFIND or resp is None:
                self.cluster.forget_coordinator(meta.group_id)
            if todo and retry:
                if time.monotonic() + backoff > deadline:
                    raise self._abortable(KafkaError(code, f"TxnOffsetCommit for group {meta.group_id!r} did not succeed in {p.max_block:.0f}s"))
                await asyncio.sleep(backoff)

    # ------------------------------------------------------------------ end

    async def commit(self) -> None:
        async with self._lock:
            self.check_usable()
            if self.state == TransactionState.ABORTABLE_ERROR:
                assert self.error is not None
                raise self.error
            if self.state != TransactionState.IN_TRANSACTION:
                raise TransactionStateError(f"commit_transaction() needs an open transaction; the producer is {self.state.value}")
            self.state = TransactionState.COMMITTING
            await self._settle_batches()
            if self.state != TransactionState.COMMITTING:  # a batch failed, or fenced
                assert self.error is not None
                raise self.error
            await self._end(True)

    async def abort(self) -> None:
        async with self._lock:
            self.check_usable()
            if self.state not in (TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR):
                raise TransactionStateError(f"abort_transaction() needs an open or failed transaction; the producer is {self.state.value}")
            self.state = TransactionState.ABORTING
            await self._settle_batches()
            self.check_usable()
            try:
                await self._end(False)
            except KafkaError as e:
                # a coordinator that no longer knows this producer id: the epoch bump below fences
                # and aborts whatever is left of the transaction
                if self.state == TransactionState.FATAL_ERROR or not (self.need_bump and e.code in _NEEDS_BUMP):
                    raise
            if self.need_bump:
                await self._init_producer_id(bump=True)
            self._reset()

    async def _settle_batches(self) -> None:
        """Wait for the pending partition registrations and every queued or in-flight batch."""
        if self._add_task is not None and not self._add_task.done():
            await asyncio.wait({self._add_task})
        await self.producer.flush()

    async def _end(self, commit: bool) -> None:
        p = self.producer
        if self.started:
            resp = await self._txn_request(apis.END_TXN, {
                "transactional_id": self.transactional_id, "producer_id": p.producer_id,
                "producer_epoch": p.producer_epoch, "committed": commit,
            }, "EndTxn")
            code = resp.error_code
            if code != ErrorCode.none:
                what = f"EndTxn({'commit' if commit else 'abort'})"
                if code == ErrorCode.transaction_abortable and commit:
                    raise self._abortable(KafkaError(code, what))
                if code in _NEEDS_BUMP:
                    raise self.fail_from(code, what)
                if code in _FENCED:
                    raise self.fail_from(code, what)
                raise self._fatal(KafkaError(code, what))
        self._reset()

    def _reset(self) -> None:
        self.partitions.clear()
        self.pending.clear()
        self.offsets_added = False
        self._offsets_group = None
        self.error = None
        self.state = TransactionState.READY

    async def close(self) -> None:
        """Abort an open transaction (as the Java client does on close), best effort."""
        if self.state in (TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR):
            try:
                await self.abort()
            except KafkaError as e:
                log.info("transactional producer %r: abort on close failed: %s", self.transactional_id, e)


def _top_error(resp: Any) -> ErrorCode:
    """The request-level error of a coordinator answer (AddPartitionsToTxn v0-3 has only
    per-partition codes: a coordinator-level error is copied to each, so the first one is taken
    when all agree)."""
    code = getattr(resp, "error_code", None)
    if code is not None:
        return ErrorCode(code)
    topics = getattr(resp, "results_by_topic_v3_and_below", None)
    if topics:
        codes = {r.partition_error_code for t in topics for r in t.results_by_partition}
        if len(codes) == 1:
            (only,) = codes
            if only in _REFIND + _RETRY:
                return ErrorCode(only)
    return ErrorCode.none
