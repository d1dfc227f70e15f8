"""The asyncio producer: partitioning, batching with linger, compression, acks, idempotence.

::

    async with Producer("127.0.0.1:9092", acks="all", compression="zstd") as p:
        fut = await p.send("orders", b"value", key=b"customer-7")  # queued; a future
        meta = await fut                                           # delivered
        await p.send_and_wait("orders", b"another")
        await p.flush()

How it works. ``send`` picks the partition (explicit; else murmur2 of the key exactly as Java's
default partitioner; else the topic's *sticky* partition, which moves on each time a batch of it
closes, or round-robin with ``partitioner="round_robin"``) and appends the record to that
partition's open batch. A background sender drains a batch when it is full (``batch_size``
bytes), when it has waited ``linger_ms``, or on ``flush``/``close``; it groups drained batches by
leader into one Produce request per broker, several requests in flight per connection, at most
``max_in_flight`` batches per partition. Idempotence (on by default, as in Kafka 3+) asks the
broker for a producer id (InitProducerId) and numbers each partition's batches, so a retried
batch is never written twice and never reordered; it needs ``acks="all"``. Retriable errors
(leader moved, not enough replicas, connection lost...) are retried until ``delivery_timeout_ms``.

Transactions: with a ``transactional_id`` the producer writes atomically to several partitions
(and commits a consumer group's offsets with them); see :mod:`odradek.client.transactions`::

    p = Producer("127.0.0.1:9092", transactional_id="orders-enricher-1")
    await p.init_transactions()          # fences an older producer with the same id
    await p.begin_transaction()
    await p.send("orders-enriched", b"...")
    await p.send_offsets_to_transaction({TopicPartition("orders", 0): 42}, consumer.group_metadata())
    await p.commit_transaction()         # or abort_transaction()
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from crc32c import crc32c

from ..protocol import record_codec
from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import _HEADER, COMPRESSION_MASK, HEADER_SIZE, LOG_OVERHEAD, TRANSACTIONAL_MASK
from .cluster import INIT_PRODUCER_ID, PRODUCE, Cluster
from .security import from_client_kwargs
from .errors import BrokerUnreachable, RequestTimedOut, is_retriable
from .murmur2 import partition_for_key
from .transactions import ProducerFenced, TransactionManager, TransactionState
from .types import ConsumerGroupMetadata, Header, OffsetAndMetadata, RecordMetadata, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["Producer", "CODECS", "DeliveryCallback"]

# transaction states in which batches not yet sent are failed instead of sent
_TXN_DROP_STATES = (TransactionState.ABORTING, TransactionState.ABORTABLE_ERROR, TransactionState.FATAL_ERROR)

CODECS: dict[str, int] = {
    "none": record_codec.NONE,
    "gzip": record_codec.GZIP,
    "snappy": record_codec.SNAPPY,
    "lz4": record_codec.LZ4,
    "zstd": record_codec.ZSTD,
}

DeliveryCallback = Callable[[KafkaError | None, RecordMetadata | None], Any]

_RECORD_OVERHEAD = 22  # varints and attributes of one record, roughly
_BATCH_OVERHEAD = 61

_encode_varint = record_codec.encode_varint
_UVARINTS = [_encode_varint(i) for i in range(1 << 14)]  # zigzag varints of 0..16383, 1-3 bytes


def _varint(n: int) -> bytes:
    return _UVARINTS[n] if 0 <= n < 16384 else _encode_varint(n)


def _encode_record(body: bytearray, offset_delta: int, ts_delta: int, key: bytes | None, value: bytes | None, headers: Sequence[Header]) -> None:
    """Append one record (magic 2 layout, see :mod:`odradek.protocol.record_codec`) to ``body``."""
    rec = bytearray(b"\x00")  # attributes
    rec += _varint(ts_delta)
    rec += _varint(offset_delta)
    if key is None:
        rec += b"\x01"
    else:
        rec += _varint(len(key))
        rec += key
    if value is None:
        rec += b"\x01"
    else:
        rec += _varint(len(value))
        rec += value
    if headers:
        rec += _varint(len(headers))
        for hk, hv in headers:
            kb = hk.encode("utf-8", "surrogateescape")
            rec += _varint(len(kb))
            rec += kb
            if hv is None:
                rec += b"\x01"
            else:
                rec += _varint(len(hv))
                rec += hv
    else:
        rec += b"\x00"
    body += _varint(len(rec))
    body += rec


def _acks(value: Any) -> int:
    if value in ("all", -1, "-1"):
        return -1
    if value in (0, "0"):
        return 0
    if value in (1, "1"):
        return 1
    raise ValueError(f"acks must be 0, 1 or 'all', not {value!r}")


def _as_bytes(v: Any) -> bytes | None:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"keys and values are bytes, str or None, not {type(v).__name__}")


class _Batch:
    """One partition's batch: records are encoded as they are appended; sealing compresses them
    and writes the header (with the producer id and sequence when idempotent)."""

    __slots__ = (
        "tp", "body", "meta", "futures", "callbacks", "size", "created", "base_sequence", "attempts",
        "done", "deadline", "retry_at", "payload", "base_ts", "max_ts",
    )

    def __init__(self, tp: TopicPartition, now: float, deadline: float) -> None:
        self.tp = tp
        self.body = bytearray()
        self.meta: list[tuple[int, int, int]] = []  # (timestamp, key size, value size) per record
        self.futures: list[asyncio.Future] = []
        self.callbacks: list[DeliveryCallback | None] = []
        self.size = _BATCH_OVERHEAD
        self.created = now
        self.base_sequence = -1
        self.attempts = 0
        self.done = False
        self.deadline = deadline
        self.retry_at = 0.0
        self.payload: bytes | None = None
        self.base_ts = -1
        self.max_ts = -1

    @property
    def count(self) -> int:
        return len(self.meta)

    def add(self, key: bytes | None, value: bytes | None, headers: Sequence[Header], ts: int) -> None:
        if not self.meta:
            self.base_ts = self.max_ts = ts
        elif ts > self.max_ts:
            self.max_ts = ts
        _encode_record(self.body, len(self.meta), ts - self.base_ts, key, value, headers)
        self.meta.append((ts, -1 if key is None else len(key), -1 if value is None else len(value)))


class Producer:
    """An asyncio Kafka producer. Create it, ``await start()`` (or ``async with``), ``send``, ``close``.

    Configuration (Kafka's names with underscores):

    - ``bootstrap_servers``: ``"host:port[,host:port]"``.
    - ``acks``: ``0`` (no answer awaited), ``1`` (the leader wrote it), ``"all"`` (every in-sync
      replica has it; the default).
    - ``linger_ms`` (5): how long a batch waits for more records; ``batch_size`` (16384) bytes
      close a batch.
    - ``compression``: ``none``, ``gzip``, ``snappy``, ``lz4`` or ``zstd``.
    - ``enable_idempotence`` (True): producer id and sequence numbers; forces ``acks="all"``
      unless ``acks`` is given explicitly, in which case idempotence is turned off for acks 0/1.
    - ``partitioner``: ``"sticky"`` (default) or ``"round_robin"`` for records without a key;
      keyed records always use murmur2. A callable ``(topic, key, num_partitions) -> int`` replaces
      both.
    - ``max_in_flight`` (5) batches per partition, ``buffer_memory`` (32 MiB) bytes queued before
      ``send`` waits, ``delivery_timeout_ms`` (120000), ``request_timeout_ms`` (30000),
      ``retry_backoff_ms`` (100), ``max_block_ms`` (60000: waiting for a topic's metadata, and
      for the transaction coordinator).
    - ``transactional_id`` (None): makes the producer transactional (it needs idempotence);
      ``transaction_timeout_ms`` (60000): how long the coordinator lets a transaction stay open
      before it aborts it.
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "127.0.0.1:9092",
        *,
        client_id: str = "odradek-producer",
        acks: int | str | None = None,
        linger_ms: float = 5,
        batch_size: int = 16384,
        compression: str | None = "none",
        enable_idempotence: bool = True,
        partitioner: str | Callable[[str, bytes | None, int], int] = "sticky",
        max_in_flight: int = 5,
        buffer_memory: int = 32 * 1024 * 1024,
        delivery_timeout_ms: int = 120000,
        request_timeout_ms: int = 30000,
        retry_backoff_ms: int = 100,
        max_block_ms: int = 60000,
        allow_auto_create_topics: bool = True,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = 60000,
        **security: Any,
    ) -> None:
        if transactional_id is not None:
            if not enable_idempotence:
                raise ValueError("a transactional producer needs enable_idempotence=True")
            if acks is not None and _acks(acks) != -1:
                raise ValueError("a transactional producer needs acks='all'")
        if acks is None:
            acks = "all"
        elif _acks(acks) != -1:
            enable_idempotence = False
        self.acks = _acks(acks)
        if enable_idempotence and self.acks != -1:
            raise ValueError("idempotence needs acks='all'")
        codec = (compression or "none").lower()
        if codec not in CODECS:
            raise ValueError(f"compression must be one of {', '.join(CODECS)}, not {compression!r}")
        self.compression = CODECS[codec]
        self.compression_name = codec
        self.linger = max(0.0, linger_ms / 1000)
        self.batch_size = max(1, int(batch_size))
        self.idempotent = bool(enable_idempotence)
        if isinstance(partitioner, str) and partitioner not in ("sticky", "round_robin"):
            raise ValueError("partitioner must be 'sticky', 'round_robin' or a callable")
        self.partitioner = partitioner
        self.max_in_flight = max(1, int(max_in_flight))
        self.buffer_memory = int(buffer_memory)
        self.delivery_timeout = delivery_timeout_ms / 1000
        self.request_timeout = request_timeout_ms / 1000
        self.retry_backoff = retry_backoff_ms / 1000
        self.max_block = max_block_ms / 1000
        self.allow_auto_create = allow_auto_create_topics
        self.cluster = Cluster(bootstrap_servers, client_id=client_id, request_timeout_ms=request_timeout_ms, retry_backoff_ms=retry_backoff_ms,
                               security=from_client_kwargs(security))

        self.producer_id = -1
        self.producer_epoch = -1
        self._sequences: dict[TopicPartition, int] = collections.defaultdict(int)
        self._queues: dict[TopicPartition, collections.deque[_Batch]] = {}
        self._in_flight: dict[TopicPartition, int] = collections.defaultdict(int)
        self._incomplete: set[_Batch] = set()
        self._buffered = 0
        self._space = asyncio.Event()
        self._wake = asyncio.Event()
        self._flushing = 0
        # Idempotence: a batch that failed for good leaves a gap in its partition's sequence. The
        # sender then stops, lets what is in flight come back, takes a new producer id and
        # renumbers every batch still queued (KIP-360's epoch bump, done with a fresh id).
        self._need_reset = False
        self._reset_task: asyncio.Task | None = None
        self._sticky: dict[str, int] = {}
        self._rr: dict[str, int] = collections.defaultdict(int)
        self._sender: asyncio.Task | None = None
        self._requests: set[asyncio.Task] = set()
        self._started = False
        self._closing = False
        self._closed = False
        self._start_lock = asyncio.Lock()
        self.transactional_id = transactional_id
        self._txn: TransactionManager | None = (
            TransactionManager(self, transactional_id, transaction_timeout_ms) if transactional_id is not None else None
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> "Producer":
        """Connect, and get a producer id when idempotent. Called by the first ``send`` if needed."""
        async with self._start_lock:
            if self._started:
                return self
            await self.cluster.refresh([])
            if self.idempotent and self._txn is None:  # a transactional one waits for init_transactions()
                await self._init_producer_id()
            self._sender = asyncio.create_task(self._run_sender(), name="odradek-producer-sender")
            self._started = True
        return self

    async def _init_producer_id(self) -> None:
        deadline = time.monotonic() + self.max_block
        while True:
            try:
                resp = await self.cluster.send(None, INIT_PRODUCER_ID, {"transactional_id": None, "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1})
                if resp.error_code == ErrorCode.none:
                    self.producer_id, self.producer_epoch = resp.producer_id, resp.producer_epoch
                    return
                err: KafkaError = KafkaError(resp.error_code, "InitProducerId")
            except KafkaError as e:
                err = e
            if not is_retriable(err) or time.monotonic() > deadline:
                raise err
            await asyncio.sleep(self.retry_backoff)

    def _set_producer_id(self, producer_id: int, epoch: int) -> None:
        """A new producer id or epoch: every partition's sequence starts again at 0."""
        self.producer_id, self.producer_epoch = producer_id, epoch
        self._sequences.clear()

    # ------------------------------------------------------------------ transactions

    def _transactions(self) -> TransactionManager:
        if self._txn is None:
            raise KafkaError(ErrorCode.invalid_txn_state, "this producer has no transactional_id")
        return self._txn

    @property
    def transaction_state(self) -> TransactionState | None:
        """The transactional state (None for a producer without ``transactional_id``)."""
        return None if self._txn is None else self._txn.state

    async def init_transactions(self) -> None:
        """Get the producer id and epoch of ``transactional_id`` from its coordinator, once, before
        the first transaction. This fences any older producer with the same id: its open
        transaction is aborted and its further requests fail with PRODUCER_FENCED."""
        txn = self._transactions()
        if not self._started:
            await self.start()
        await txn.init_transactions()

    async def begin_transaction(self) -> None:
        """Start a transaction: every record sent until commit or abort belongs to it."""
        self._transactions().begin_transaction()

    async def send_offsets_to_transaction(
        self,
        offsets: dict[TopicPartition, int | OffsetAndMetadata],
        group_metadata: ConsumerGroupMetadata | str,
    ) -> None:
        """Commit a consumer group's offsets (the *next* offset to read, per partition) as part of
        the transaction: they become visible to the group only if the transaction commits.
        ``group_metadata`` is ``consumer.group_metadata()`` (a zombie member is then refused), or
        a bare group id."""
        await self._transactions().send_offsets(offsets, group_metadata)

    async def commit_transaction(self) -> None:
        """Deliver every record of the transaction, then commit it. When a record could not be
        delivered this raises :class:`~odradek.client.transactions.TransactionAbortable`: call
        :meth:`abort_transaction`, then begin again."""
        await self._transactions().commit()

    async def abort_transaction(self) -> None:
        """Abort the transaction: records not yet sent are dropped (their futures fail); what was
        written is marked aborted, so read_committed consumers never see it."""
        await self._transactions().abort()

    async def __aenter__(self) -> "Producer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then disconnect."""
        if self._closed:
            return
        self._closing = True
        try:
            if self._started:
                async with asyncio.timeout(timeout):
                    if self._txn is not None:
                        await self._txn.close()
                    await self.flush()
        except TimeoutError:
            pass
        finally:
            self._closed = True
            self._wake.set()
            if self._sender is not None:
                self._sender.cancel()
                try:
                    await self._sender
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            for t in list(self._requests):
                t.cancel()
            for b in list(self._incomplete):
                self._fail(b, KafkaError(ErrorCode.network_exception, "producer closed"))
            await self.cluster.close()

    # ------------------------------------------------------------------ sending

    async def send(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
        headers: Iterable[Header] | dict[str, bytes | str | None] | None = None,
        timestamp: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record; return the future of its :class:`RecordMetadata`.

        Waits (at most ``max_block_ms``) only for the topic's metadata or for buffer space.
        ``on_delivery(error, metadata)`` is called once, on the event loop, when the record is
        acknowledged or has failed. ``timestamp`` is in ms since the epoch (default: now).
        """
        if self._closing:
            raise KafkaError(ErrorCode.network_exception, "producer is closed")
        txn = self._txn
        if txn is not None:
            txn.check_can_send()
        if not self._started:
            await self.start()
        k = key if key is None or type(key) is bytes else _as_bytes(key)
        v = value if value is None or type(value) is bytes else _as_bytes(value)
        hs: tuple[Header, ...]
        size = _RECORD_OVERHEAD + (len(k) if k else 0) + (len(v) if v else 0)
        if not headers:
            hs = ()
        else:
            items = headers.items() if isinstance(headers, dict) else headers
            hs = tuple((hk, _as_bytes(hv)) for hk, hv in items)
            for hk, hv in hs:
                size += len(hk) + (len(hv) if hv else 0) + 2
        info = self.cluster.topics.get(topic)
        n = len(info.partitions) if info is not None else 0
        if n == 0:
            info = await self.cluster.wait_for_topic(topic, timeout=self.max_block, allow_auto_create=self.allow_auto_create)
            n = len(info.partitions)
        if partition is None:
            partition = self._partition(topic, k, n)
        elif not 0 <= partition < n:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"{topic} has no partition {partition}")
        while self._buffered + size > self.buffer_memory and self._buffered > 0:
            self._space.clear()
            try:
                async with asyncio.timeout(self.max_block):
                    await self._space.wait()
            except TimeoutError:
                raise RequestTimedOut(f"no buffer space for {self.max_block}s") from None
        ts = timestamp if timestamp is not None else time.time_ns() // 1_000_000
        fut = asyncio.get_running_loop().create_future()
        tp = TopicPartition(topic, partition)
        if txn is not None:
            txn.check_can_send()  # again: the transaction may have ended while this waited
            txn.add_partition(tp)
        self._append(tp, (k, v, hs, ts), size, fut, on_delivery)
        return fut

    async def send_and_wait(self, topic: str, value: bytes | str | None = None, key: bytes | str | None = None, **kw: Any) -> RecordMetadata:
        """``send`` and await the delivery; raise the KafkaError if it failed."""
        fut = await self.send(topic, value, key, **kw)
        self._wake.set()
        return await fut

    def _partition(self, topic: str, key: bytes | None, n: int) -> int:
        if callable(self.partitioner):
            return self.partitioner(topic, key, n)
        if key is not None:
            return partition_for_key(key, n)
        if self.partitioner == "round_robin":
            p = self._rr[topic] % n
            self._rr[topic] = p + 1
            return p
        sticky = self._sticky.get(topic)
        if sticky is None or sticky >= n:
            sticky = self._next_sticky(topic, n)
        return sticky

    def _next_sticky(self, topic: str, n: int, previous: int | None = None) -> int:
        # Java's BuiltInPartitioner picks at random among available partitions; a plain rotation
        # spreads just as evenly and is deterministic.
        start = self._rr[topic]
        self._rr[topic] = start + 1
        p = start % n
        if previous is not None and n > 1 and p == previous:
            p = (p + 1) % n
            self._rr[topic] += 1
        self._sticky[topic] = p
        return p

    def _append(self, tp: TopicPartition, rec: tuple, size: int, fut: asyncio.Future, cb: DeliveryCallback | None) -> None:
        q = self._queues.get(tp)
        if q is None:
            q = self._queues[tp] = collections.deque()
        now = time.monotonic()
        batch = q[-1] if q else None
        if batch is None or batch.payload is not None or batch.size + size > self.batch_size and batch.meta:
            if batch is not None and batch.payload is None:
                self._batch_closed(tp)
            batch = _Batch(tp, now, now + self.delivery_timeout)
            q.append(batch)
            self._incomplete.add(batch)
            if len(q) == 1:
                self._wake.set()
        batch.add(*rec)
        batch.futures.append(fut)
        batch.callbacks.append(cb)
        batch.size += size
        self._buffered += size
        if batch.size >= self.batch_size:
            self._batch_closed(tp)
            self._wake.set()

    def _batch_closed(self, tp: TopicPartition) -> None:
        if self.partitioner == "sticky" and self._sticky.get(tp.topic) == tp.partition:
            n = self.cluster.partition_count(tp.topic)
            if n:
                self._next_sticky(tp.topic, n, tp.partition)

    async def flush(self, timeout: float | None = None) -> None:
        """Send everything queued now and wait until each record is acknowledged or failed."""
        if not self._incomplete:
            return
        self._flushing += 1
        self._wake.set()
        try:
            waiters = [asyncio.ensure_future(self._batch_waiter(b)) for b in list(self._incomplete)]
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waiters)
        finally:
            self._flushing -= 1

    async def _batch_waiter(self, b: _Batch) -> None:
        if b.futures:
            await asyncio.wait(b.futures)

    def pending(self) -> int:
        """Records queued or in flight, not yet acknowledged."""
        return sum(b.count for b in self._incomplete)

    # ------------------------------------------------------------------ the sender

    async def _run_sender(self) -> None:
        while not self._closed:
            now = time.monotonic()
            ready, next_at = self._drain(now)
            if ready:
                by_node: dict[int, list[_Batch]] = collections.defaultdict(list)
                for b in ready:
                    by_node[self.cluster.leader(b.tp.topic, b.tp.partition)].append(b)
                for node, batches in by_node.items():
                    t = asyncio.create_task(self._produce(node, batches))
                    self._requests.add(t)
                    t.add_done_callback(self._requests.discard)
                continue
            self._wake.clear()
            timeout = None if next_at is None else max(0.0, next_at - now)
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _drain(self, now: float) -> tuple[list[_Batch], float | None]:
        if self._need_reset:
            if not any(self._in_flight.values()) and (self._reset_task is None or self._reset_task.done()):
                self._reset_task = asyncio.create_task(self._reset_sequences())
            return [], None  # the reset (or the last in-flight response) wakes the sender
        ready: list[_Batch] = []
        next_at: float | None = None
        flushing = self._flushing > 0 or self._closing
        need_metadata = False
        txn = self._txn
        txn_dropping = txn is not None and txn.state in _TXN_DROP_STATES
        for tp, q in self._queues.items():
            if not q:
                continue
            if txn is not None:
                if txn_dropping:
                    # an aborted or failed transaction: what was not sent never will be
                    for b in [b for b in q if b.payload is None or (b.retry_at and not b.done)]:
                        q.remove(b)
                        self._txn_batch_failed(b, self._txn_drop_error())
                    continue
                if not txn.ready(tp):
                    continue  # AddPartitionsToTxn first; its task wakes the sender
            if self._in_flight[tp] >= self.max_in_flight:
                continue
            # the first batch of the queue not yet sent
            b = None
            for cand in q:
                if cand.payload is None or cand.retry_at:
                    b = cand
                    break
            if b is None:
                continue
            if now > b.deadline:
                q.remove(b)
                err = RequestTimedOut(f"{b.count} records for {tp} expired after {self.delivery_timeout}s")
                if txn is not None:
                    self._txn_batch_failed(b, err)
                    continue
                if self.idempotent and b.base_sequence >= 0:
                    self._need_reset = True
                self._fail(b, err)
                continue
            if b.retry_at and b.retry_at > now:
                next_at = b.retry_at if next_at is None else min(next_at, b.retry_at)
                continue
            full = b.size >= self.batch_size or b is not q[-1]
            due = b.created + self.linger
            if not (full or flushing or b.retry_at or now >= due):
                next_at = due if next_at is None else min(next_at, due)
                continue
            if self.cluster.leader(tp.topic, tp.partition) < 0:
                need_metadata = True
                b.retry_at = now + self.retry_backoff
                continue
            if b.payload is None:
                if b is q[-1]:
                    self._batch_closed(tp)
                self._seal(b)
            b.retry_at = 0.0
            b.attempts += 1
            self._in_flight[tp] += 1
            ready.append(b)
        if need_metadata:
            self._refresh_soon()
            if next_at is None:
                next_at = now + self.retry_backoff
        return ready, next_at

    async def _reset_sequences(self) -> None:
        try:
            await self._init_producer_id()
        except KafkaError as e:
            log.warning("cannot get a new producer id: %s; retrying", e)
            await asyncio.sleep(self.retry_backoff)
            self._wake.set()
            return
        self._sequences.clear()
        for tp, q in self._queues.items():
            for b in q:
                if b.payload is not None and not b.done:
                    self._renumber(b)
        log.info("new producer id %d after a failed batch: queued batches renumbered", self.producer_id)
        self._need_reset = False
        self._wake.set()

    def _renumber(self, b: _Batch) -> None:
        """Give a sealed batch the current producer id and its partition's next sequence."""
        assert b.payload is not None
        seq = self._sequences[b.tp]
        self._sequences[b.tp] = (seq + b.count) & 0x7FFFFFFF
        b.base_sequence = seq
        out = bytearray(b.payload)
        struct.pack_into(">qhi", out, 43, self.producer_id, self.producer_epoch, seq)
        struct.pack_into(">I", out, 17, crc32c(memoryview(out)[21:]))
        b.payload = bytes(out)

    def _seal(self, b: _Batch) -> None:
        pid, epoch, seq = -1, -1, -1
        count = b.count
        if self.idempotent:
            pid, epoch = self.producer_id, self.producer_epoch
            seq = self._sequences[b.tp]
            self._sequences[b.tp] = (seq + count) & 0x7FFFFFFF
        b.base_sequence = seq
        data = record_codec._compress(self.compression, bytes(b.body)) if self.compression else b.body
        size = HEADER_SIZE + len(data)
        out = bytearray(size)
        attributes = self.compression & COMPRESSION_MASK
        if self._txn is not None:
            attributes |= TRANSACTIONAL_MASK
        _HEADER.pack_into(
            out, 0, 0, size - LOG_OVERHEAD, -1, 2, 0, attributes, count - 1,
            b.base_ts, b.max_ts, pid, epoch, seq, count,
        )
        out[HEADER_SIZE:] = data
        struct.pack_into(">I", out, 17, crc32c(memoryview(out)[21:]))
        b.payload = bytes(out)
        b.body = bytearray()

    _refresh_task: asyncio.Task | None = None

    def _refresh_soon(self) -> None:
        if self._refresh_task is None or self._refresh_task.done():
            topics = {tp.topic for tp in self._queues}

            async def go() -> None:
                try:
                    await self.cluster.refresh(topics)
                except KafkaError as e:
                    log.debug("metadata refresh failed: %s", e)
                self._wake.set()

            self._refresh_task = asyncio.create_task(go())

    async def _produce(self, node: int, batches: list[_Batch]) -> None:
        topics: dict[str, list[dict]] = collections.defaultdict(list)
        for b in batches:
            topics[b.tp.topic].append({"index": b.tp.partition, "records": b.payload})
        request = {
            "transactional_id": self.transactional_id,
            "acks": self.acks,
            "timeout": int(self.request_timeout * 1000),
            "topic_data": [{"name": t, "partition_data": ps} for t, ps in topics.items()],
        }
        try:
            if self.acks == 0:
                await self.cluster.send(node, PRODUCE, request, expect_response=False)
                for b in batches:
                    self._in_flight[b.tp] -= 1
                    self._complete(b, -1, -1)
                return
            resp = await self.cluster.send(node, PRODUCE, request, timeout=self.request_timeout + 5)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - connection lost, timeout, ...
            err = e if isinstance(e, KafkaError) else BrokerUnreachable(str(e))
            for b in batches:
                self._in_flight[b.tp] -= 1
                self._retry_or_fail(b, err)
            self._refresh_soon()
            self._wake.set()
            return
        results: dict[TopicPartition, Any] = {}
        for t in resp.responses:
            for p in t.partition_responses:
                results[TopicPartition(t.name, p.index)] = p
        refresh = False
        for b in batches:
            self._in_flight[b.tp] -= 1
            p = results.get(b.tp)
            if p is None:
                self._retry_or_fail(b, KafkaError(ErrorCode.unknown_server_error, f"no answer for {b.tp}"))
                continue
            code = p.error_code
            if code == ErrorCode.none:
                lat = getattr(p, "log_append_time", None)
                ts = -1
                if lat is not None:
                    ts = int(lat.timestamp() * 1000)
                    if ts < 0:
                        ts = -1
                self._complete(b, p.base_offset, ts)
            elif code == ErrorCode.duplicate_sequence_number:
                self._complete(b, -1, -1)
            else:
                msg = getattr(p, "error_message", None) or f"produce to {b.tp}"
                err = KafkaError(code, msg)
                if code in (ErrorCode.not_leader_or_follower, ErrorCode.unknown_topic_or_partition, ErrorCode.leader_not_available):
                    refresh = True
                if self._txn is not None and not is_retriable(code):
                    # in a transaction a batch that cannot be written fails the transaction;
                    # INVALID_PRODUCER_EPOCH means a newer producer took the transactional id over
                    q = self._queues.get(b.tp)
                    if q is not None and b in q:
                        q.remove(b)
                    self._txn_batch_failed(b, err)
                elif self.idempotent and code in (ErrorCode.out_of_order_sequence_number, ErrorCode.unknown_producer_id, ErrorCode.invalid_producer_epoch):
                    # a gap left by a failed batch, or the broker forgot us: renumber and resend
                    if not self._earlier_pending(b):
                        self._need_reset = True
                    self._retry(b)
                else:
                    self._retry_or_fail(b, err)
        if refresh:
            self._refresh_soon()
        self._wake.set()

    def _earlier_pending(self, b: _Batch) -> bool:
        q = self._queues.get(b.tp)
        if not q:
            return False
        for other in q:
            if other is b:
                return False
            if other.base_sequence >= 0 and not other.done:
                return True
        return False

    def _retry(self, b: _Batch) -> None:
        b.retry_at = time.monotonic() + self.retry_backoff

    def _retry_or_fail(self, b: _Batch, err: KafkaError) -> None:
        if is_retriable(err) and time.monotonic() + self.retry_backoff < b.deadline:
            log.debug("retrying %d records for %s after %s", b.count, b.tp, err)
            self._retry(b)
        else:
            q = self._queues.get(b.tp)
            if q is not None and b in q:
                q.remove(b)
            if self._txn is not None:
                self._txn_batch_failed(b, err)
                return
            if self.idempotent and b.base_sequence >= 0:
                self._need_reset = True  # its sequence numbers are now a gap
            self._fail(b, err)

    def _txn_drop_error(self) -> KafkaError:
        txn = self._txn
        assert txn is not None
        if txn.error is not None:
            return txn.error
        return KafkaError(ErrorCode.invalid_txn_state, f"the transaction of {self.transactional_id!r} was aborted before this record was sent")

    def _txn_batch_failed(self, b: _Batch, err: KafkaError) -> None:
        """A batch of a transaction failed for good: the transaction cannot commit (or, fenced,
        the producer cannot go on)."""
        txn = self._txn
        assert txn is not None
        if b.base_sequence >= 0 and b.payload is not None:
            txn.need_bump = True  # its sequence numbers are now a gap
        if err.code in (ErrorCode.invalid_producer_epoch, ErrorCode.producer_fenced) and not isinstance(err, ProducerFenced):
            err = txn.fail_from(err.code, err.message or f"produce to {b.tp}")
        elif txn.state not in (TransactionState.ABORTING, TransactionState.FATAL_ERROR):
            txn.fail_from(err.code, err.message or f"produce to {b.tp}")
        self._fail(b, err)
        for fut in b.futures:
            if fut.done() and not fut.cancelled():
                fut.exception()  # commit_transaction (or the abort asked for) reports it

    def _complete(self, b: _Batch, base_offset: int, log_append_ts: int) -> None:
        q = self._queues.get(b.tp)
        if q is not None and b in q:
            q.remove(b)
        b.done = True
        self._incomplete.discard(b)
        self._release(b)
        topic, partition = b.tp
        md_new = RecordMetadata
        for i, ((ts, ks, vs), fut, cb) in enumerate(zip(b.meta, b.futures, b.callbacks)):
            md = md_new(topic, partition, base_offset + i if base_offset >= 0 else -1, log_append_ts if log_append_ts >= 0 else ts, ks, vs)
            if not fut.done():
                fut.set_result(md)
            if cb is not None:
                self._callback(cb, None, md)

    def _fail(self, b: _Batch, err: KafkaError) -> None:
        b.done = True
        self._incomplete.discard(b)
        self._release(b)
        for fut, cb in zip(b.futures, b.callbacks):
            if not fut.done():
                fut.set_exception(err)
                if cb is not None:
                    fut.exception()  # the callback reports it
            if cb is not None:
                self._callback(cb, err, None)

    def _release(self, b: _Batch) -> None:
        self._buffered -= b.size - _BATCH_OVERHEAD
        self._space.set()

    @staticmethod
    def _callback(cb: DeliveryCallback, err: KafkaError | None, md: RecordMetadata | None) -> None:
        try:
            r = cb(err, md)
            if r is not None and asyncio.iscoroutine(r):
                asyncio.ensure_future(r)
        except Exception:  # noqa: BLE001
            log.exception("delivery callback failed")
