"""The asyncio consumer: groups (or manual assignment), fetching, positions, commits, seeks.

::

    consumer = Consumer("127.0.0.1:9092", group_id="billing", auto_offset_reset="earliest")
    await consumer.start()
    consumer.subscribe(["orders"], listener=MyListener())
    while True:
        for record in await consumer.poll(timeout=1.0):
            handle(record)
        await consumer.commit()            # or leave enable_auto_commit on
    await consumer.close()

With ``group_id`` and :meth:`Consumer.subscribe`, the consumer joins the group through its
coordinator (FindCoordinator, JoinGroup with the MEMBER_ID_REQUIRED round trip, SyncGroup; the
member chosen as leader runs the assignor), heartbeats in the background and rejoins when the
coordinator says a rebalance is in progress. Assignors: ``range``, ``roundrobin`` and
``cooperative-sticky`` (incremental: only partitions that move are revoked). With
:meth:`Consumer.assign` there is no group membership; a ``group_id`` is still used for commits.

Positions start at the committed offset, else at ``auto_offset_reset`` (``latest``, ``earliest``
or ``none``, which raises ``OFFSET_OUT_OF_RANGE``). ``poll`` returns records and moves each
partition's position past what it returned; the next fetch is started in the background as soon
as the buffer runs dry.

With ``isolation_level="read_committed"`` the consumer reads only up to each partition's last
stable offset and drops the records of aborted transactions (the fetch response lists them);
transaction markers are never returned. Committed offsets are then read with ``require_stable``,
so a position never starts from offsets a transaction has not committed yet.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crc32c import crc32c

from ..protocol import record_codec
from ..protocol.control import parse_marker
from ..protocol.errors import ErrorCode, KafkaError
from ..protocol.records import HEADER_SIZE, check_header, read_header
from . import cluster as apis
from .assignors import Assignor, assignor as make_assignor
from .cluster import Cluster
from .security import from_client_kwargs
from .errors import BrokerUnreachable, is_retriable
from .group_protocol import Assignment, Subscription, decode_assignment, decode_subscription, encode_assignment, encode_subscription
from .types import EARLIEST, LATEST, ConsumerGroupMetadata, ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["Consumer", "ConsumerRebalanceListener", "CommitFailed"]


class CommitFailed(KafkaError):
    """A commit the group refused (the member was not in the current generation)."""


class ConsumerRebalanceListener:
    """Override what you need; methods may be plain functions or coroutines.

    ``on_partitions_revoked`` runs before partitions are taken away (commit here),
    ``on_partitions_assigned`` after new ones are given (with their positions set), and
    ``on_partitions_lost`` when membership was lost and the partitions already belong to
    someone else (by default it calls ``on_partitions_revoked``).
    """

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> Any:
        pass

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> Any:
        pass

    def on_partitions_lost(self, lost: set[TopicPartition]) -> Any:
        return self.on_partitions_revoked(lost)


_decode_varint = record_codec.decode_varint


def _corrupt(tp: TopicPartition, what: str) -> KafkaError:
    return KafkaError(ErrorCode.corrupt_message, f"{tp}: {what}")


def _decode_records(tp: TopicPartition, mv: memoryview, h: Any, min_offset: int) -> list[ConsumerRecord]:
    """The records of one batch at or after ``min_offset``, as ConsumerRecords.

    The same layout :mod:`odradek.protocol.record_codec` decodes, with one-byte varints (nearly
    all of them) read inline: this loop is the consumer's hot path.
    """
    data = record_codec._decompress(h.compression, mv[h.position + HEADER_SIZE : h.position + h.size])
    topic, partition = tp
    base_offset = h.base_offset
    base_ts = h.base_timestamp
    append_time = h.max_timestamp if h.is_log_append_time else None
    tstype = 0 if append_time is None else 1
    epoch = h.partition_leader_epoch
    out: list[ConsumerRecord] = []
    append = out.append
    n = len(data)
    pos = 0
    try:
        for _ in range(h.record_count):
            b = data[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                length, pos = _decode_varint(data, pos)
            end = pos + length
            if length < 0 or end > n:
                raise _corrupt(tp, f"a record of {length} bytes overruns its batch")
            pos += 1  # attributes
            b = data[pos]
            if b < 0x80:
                ts_delta = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                ts_delta, pos = _decode_varint(data, pos)
            b = data[pos]
            if b < 0x80:
                off_delta = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                off_delta, pos = _decode_varint(data, pos)
            b = data[pos]
            if b < 0x80:
                klen = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                klen, pos = _decode_varint(data, pos)
            if klen < 0:
                key = None
            else:
                key = data[pos : pos + klen]
                pos += klen
            b = data[pos]
            if b < 0x80:
                vlen = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                vlen, pos = _decode_varint(data, pos)
            if vlen < 0:
                value = None
            else:
                value = data[pos : pos + vlen]
                pos += vlen
            b = data[pos]
            if b == 0:
                headers: tuple = ()
                pos += 1
            else:
                count, pos = _decode_varint(data, pos)
                hs = []
                for _h in range(count):
                    hklen, pos = _decode_varint(data, pos)
                    hk = data[pos : pos + hklen].decode("utf-8", "surrogateescape")
                    pos += hklen
                    hvlen, pos = _decode_varint(data, pos)
                    if hvlen < 0:
                        hv = None
                    else:
                        hv = data[pos : pos + hvlen]
                        pos += hvlen
                    hs.append((hk, hv))
                headers = tuple(hs)
            if pos != end:
                raise _corrupt(tp, f"a record declares {length} bytes but holds {length + pos - end}")
            offset = base_offset + off_delta
            if offset >= min_offset:
                append(ConsumerRecord(topic, partition, offset, base_ts + ts_delta if append_time is None else append_time, tstype, key, value, headers, epoch))
    except IndexError:
        raise _corrupt(tp, "truncated record") from None
    if pos != n:
        raise _corrupt(tp, f"{n - pos} bytes after the {h.record_count} declared records")
    return out


class _Fetched:
    """One partition's part of a fetch response, decoded a batch at a time as ``poll`` drains it.

    ``aborted`` (read_committed): the response's aborted transactions as a heap of (first offset,
    producer id); ``aborted_pids`` the producers whose aborted transaction the batches read so far
    are inside (Kafka's consumer algorithm: an entry joins when a batch of any producer reaches its
    first offset, the producer's ABORT marker ends it)."""

    __slots__ = ("tp", "data", "pos", "min_offset", "records", "index", "next_offset", "aborted", "aborted_pids")

    def __init__(self, tp: TopicPartition, data: bytes | memoryview, fetch_offset: int, aborted: Any = None) -> None:
        self.tp = tp
        self.data = memoryview(data)
        self.pos = 0
        self.min_offset = fetch_offset
        self.records: list[ConsumerRecord] = []
        self.index = 0
        self.next_offset = fetch_offset
        self.aborted: list[tuple[int, int]] | None = None
        self.aborted_pids: set[int] = set()
        if aborted:
            self.aborted = [(a.first_offset, a.producer_id) for a in aborted]
            heapq.heapify(self.aborted)

    def skip_aborted(self, h: Any, mv: memoryview) -> bool:
        """Whether the batch ``h`` (read_committed) belongs to an aborted transaction; keeps the
        set of aborted producers up to date as batches go by."""
        heap = self.aborted
        if heap is None or h.producer_id < 0:
            return False
        last = h.last_offset
        while heap and heap[0][0] <= last:
            self.aborted_pids.add(heapq.heappop(heap)[1])
        if h.is_control:
            if h.producer_id in self.aborted_pids:
                marker = parse_marker(h, mv[h.position : h.position + h.size])
                if marker is not None and not marker.commit:
                    self.aborted_pids.discard(h.producer_id)
            return True
        return h.is_transactional and h.producer_id in self.aborted_pids


_GROUP_RETRY = (
    ErrorCode.coordinator_load_in_progress,
    ErrorCode.coordinator_not_available,
    ErrorCode.not_coordinator,
)


class Consumer:
    """An asyncio Kafka consumer.

    Configuration (Kafka's names with underscores): ``bootstrap_servers``, ``group_id``
    (None: no group), ``group_instance_id`` (static membership), ``auto_offset_reset``
    (``latest``), ``enable_auto_commit`` (True, every ``auto_commit_interval_ms`` = 5000 and on
    close/revoke), ``partition_assignment_strategy`` (``["range", "cooperative-sticky"]``, Java's
    default; names or :class:`~odradek.client.assignors.Assignor` objects), ``session_timeout_ms``
    (45000), ``heartbeat_interval_ms`` (3000), ``max_poll_interval_ms`` (300000: the rebalance
    timeout), ``fetch_min_bytes`` (1), ``fetch_max_wait_ms`` (500), ``fetch_max_bytes`` (50 MiB),
    ``max_partition_fetch_bytes`` (1 MiB), ``max_poll_records`` (500), ``isolation_level``
    (``read_uncommitted``), ``check_crcs`` (True), ``metadata_max_age_ms`` (300000).
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "127.0.0.1:9092",
        *,
        group_id: str | None = None,
        group_instance_id: str | None = None,
        client_id: str = "odradek-consumer",
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        partition_assignment_strategy: Sequence[str | Assignor] = ("range", "cooperative-sticky"),
        session_timeout_ms: int = 45000,
        heartbeat_interval_ms: int = 3000,
        max_poll_interval_ms: int = 300000,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
        fetch_max_bytes: int = 50 * 1024 * 1024,
        max_partition_fetch_bytes: int = 1024 * 1024,
        max_poll_records: int = 500,
        isolation_level: str = "read_uncommitted",
        check_crcs: bool = True,
        request_timeout_ms: int = 30000,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300000,
        **security: Any,
    ) -> None:
        if auto_offset_reset not in ("earliest", "latest", "none"):
            raise ValueError("auto_offset_reset must be earliest, latest or none")
        if isolation_level not in ("read_uncommitted", "read_committed"):
            raise ValueError("isolation_level must be read_uncommitted or read_committed")
        self.group_id = group_id
        self.group_instance_id = group_instance_id
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = enable_auto_commit and group_id is not None
        self.auto_commit_interval = auto_commit_interval_ms / 1000
        self.assignors: list[Assignor] = [make_assignor(a) for a in partition_assignment_strategy]
        if not self.assignors:
            raise ValueError("at least one assignor is needed")
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval = heartbeat_interval_ms / 1000
        self.rebalance_timeout_ms = max_poll_interval_ms
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_max_bytes = fetch_max_bytes
        self.max_partition_fetch_bytes = max_partition_fetch_bytes
        self.max_poll_records = max_poll_records
        self.isolation = 0 if isolation_level == "read_uncommitted" else 1
        self.check_crcs = check_crcs
        self.retry_backoff = retry_backoff_ms / 1000
        self.request_timeout = request_timeout_ms / 1000
        self.metadata_max_age = metadata_max_age_ms / 1000
        self.cluster = Cluster(
            bootstrap_servers, client_id=client_id, request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms, metadata_max_age_ms=metadata_max_age_ms,
            security=from_client_kwargs(security),
        )
        self.client_id = client_id

        self._subscription: set[str] | None = None
        self._listener: ConsumerRebalanceListener | None = None
        self._assignment: set[TopicPartition] = set()
        self._user_assigned = False
        self._positions: dict[TopicPartition, int | None] = {}
        self._highwater: dict[TopicPartition, int] = {}
        self._last_stable: dict[TopicPartition, int] = {}
        self._log_start: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._buffer: collections.deque[_Fetched] = collections.deque()
        self._fetch_task: asyncio.Task | None = None
        self._fetch_wake = asyncio.Event()
        self._iter_buf: collections.deque[ConsumerRecord] = collections.deque()

        self.member_id = ""
        self.generation_id = -1
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self._joined = asyncio.Event()
        self._rejoin = asyncio.Event()
        self._group_task: asyncio.Task | None = None
        self._group_error: BaseException | None = None
        self._joined_partition_counts: dict[str, int] = {}
        self._next_autocommit = 0.0
        self._commit_tasks: set[asyncio.Task] = set()
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> "Consumer":
        if not self._started:
            await self.cluster.refresh([])
            self._started = True
            self._next_autocommit = time.monotonic() + self.auto_commit_interval
            if self._subscription is not None:
                self._start_group()
        return self

    async def __aenter__(self) -> "Consumer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, *, autocommit: bool = True) -> None:
        """Commit (with auto commit on), leave the group, disconnect."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._fetch_task is not None:
                self._fetch_task.cancel()
            if self._group_task is not None:
                self._group_task.cancel()
                try:
                    await self._group_task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            if self._commit_tasks:
                await asyncio.gather(*self._commit_tasks, return_exceptions=True)
            if self._subscription is not None and self._joined.is_set() and self._assignment:
                await self._call_listener("on_partitions_revoked", set(self._assignment))
            if autocommit and self.enable_auto_commit and self._assignment:
                try:
                    await self.commit()
                except KafkaError as e:
                    log.warning("commit on close failed: %s", e)
            if self._subscription is not None and self.member_id and self.group_instance_id is None:
                try:
                    await self._leave_group()
                except KafkaError as e:
                    log.debug("LeaveGroup failed: %s", e)
        finally:
            await self.cluster.close()

    # ------------------------------------------------------------------ subscription and assignment

    def subscribe(self, topics: Iterable[str], listener: ConsumerRebalanceListener | None = None) -> None:
        """Join the group (``group_id`` needed) and consume the partitions it assigns of ``topics``."""
        if self.group_id is None:
            raise KafkaError(ErrorCode.invalid_group_id, "subscribe needs a group_id; use assign() without one")
        if self._user_assigned:
            raise ValueError("subscribe and assign are exclusive: unsubscribe first")
        topics = set(topics)
        if not topics:
            raise ValueError("subscribe to at least one topic (or unsubscribe)")
        changed = self._subscription is not None and topics != self._subscription
        self._subscription = topics
        self._listener = listener
        if changed:
            self._rejoin.set()
        if self._started:
            self._start_group()

    def assign(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> None:
        """Consume exactly these partitions, outside any group membership."""
        if self._subscription is not None:
            raise ValueError("subscribe and assign are exclusive: unsubscribe first")
        new = {TopicPartition(*tp) for tp in partitions}
        for tp in set(self._assignment) - new:
            self._drop(tp)
        for tp in new - self._assignment:
            self._positions.setdefault(tp, None)
        self._assignment = new
        self._user_assigned = True

    def unsubscribe(self) -> None:
        """Stop consuming: leave manual assignment or the group (the group task leaves on close)."""
        for tp in list(self._assignment):
            self._drop(tp)
        self._assignment = set()
        self._user_assigned = False
        if self._group_task is not None:
            self._group_task.cancel()
            self._group_task = None
            if self.member_id:
                asyncio.ensure_future(self._leave_group())
        self._subscription = None
        self._joined.clear()

    def subscription(self) -> set[str]:
        return set(self._subscription or ())

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer holds now."""
        return set(self._assignment)

    def _drop(self, tp: TopicPartition) -> None:
        self._positions.pop(tp, None)
        self._paused.discard(tp)
        self._buffer = collections.deque(f for f in self._buffer if f.tp != tp)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused.update(TopicPartition(*tp) for tp in partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused.difference_update(TopicPartition(*tp) for tp in partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    # ------------------------------------------------------------------ positions

    def seek(self, partition: TopicPartition | tuple[str, int], offset: int) -> None:
        """The next ``poll`` reads ``partition`` from ``offset``."""
        tp = TopicPartition(*partition)
        if tp not in self._assignment:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"{tp} is not assigned to this consumer")
        if offset < 0:
            raise ValueError("offsets are >= 0; use seek_to_beginning / seek_to_end")
        self._buffer = collections.deque(f for f in self._buffer if f.tp != tp)
        self._positions[tp] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Seek to the log start offset of ``partitions`` (default: all assigned)."""
        await self._seek_to(partitions, EARLIEST)

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Seek to the log end offset (high watermark) of ``partitions`` (default: all assigned)."""
        await self._seek_to(partitions, LATEST)

    async def _seek_to(self, partitions: Sequence[TopicPartition], ts: int) -> None:
        tps = [TopicPartition(*tp) for tp in partitions] or list(self._assignment)
        offsets = await self._list_offsets({tp: ts for tp in tps})
        for tp, (off, _ts) in offsets.items():
            if tp in self._assignment:
                self.seek(tp, off)

    async def position(self, partition: TopicPartition | tuple[str, int]) -> int:
        """The offset of the next record ``poll`` will return for ``partition``."""
        tp = TopicPartition(*partition)
        if tp not in self._assignment:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"{tp} is not assigned to this consumer")
        if self._positions.get(tp) is None:
            await self._init_positions([tp])
        pos = self._positions[tp]
        assert pos is not None
        return pos

    def highwater(self, partition: TopicPartition | tuple[str, int]) -> int | None:
        """The high watermark the last fetch of ``partition`` reported (None before one)."""
        return self._highwater.get(TopicPartition(*partition))

    def lag(self, partition: TopicPartition | tuple[str, int]) -> int | None:
        """High watermark (the last stable offset with read_committed, as Java's client counts it)
        minus position, from the last fetch (None while unknown)."""
        tp = TopicPartition(*partition)
        hw = (self._last_stable if self.isolation else self._highwater).get(tp)
        pos = self._positions.get(tp)
        if hw is None or pos is None:
            return None
        return max(0, hw - pos)

    async def committed(self, partitions: Iterable[TopicPartition | tuple[str, int]]) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offsets of ``partitions`` (None where nothing is committed)."""
        return await self._fetch_committed([TopicPartition(*tp) for tp in partitions])

    async def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: off for tp, (off, _) in (await self._list_offsets({TopicPartition(*tp): EARLIEST for tp in partitions})).items()}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: off for tp, (off, _) in (await self._list_offsets({TopicPartition(*tp): LATEST for tp in partitions})).items()}

    async def offsets_for_times(self, timestamps: Mapping[TopicPartition, int]) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given one (ms), per partition; None if none."""
        res = await self._list_offsets({TopicPartition(*tp): ts for tp, ts in timestamps.items()})
        return {tp: (None if off < 0 else OffsetAndTimestamp(off, ts)) for tp, (off, ts) in res.items()}

    async def partitions_for(self, topic: str) -> set[int]:
        await self.cluster.refresh([topic])
        info = self.cluster.topics.get(topic)
        return set(info.partitions) if info else set()

    async def topics(self) -> set[str]:
        await self.cluster.refresh(None)
        return set(self.cluster.topics)

    # ------------------------------------------------------------------ polling

    async def poll(self, timeout: float = 1.0, max_records: int | None = None) -> list[ConsumerRecord]:
        """Return up to ``max_records`` (default ``max_poll_records``) records, waiting at most
        ``timeout`` seconds for some; an empty list when none came."""
        if self._closed:
            raise KafkaError(ErrorCode.network_exception, "consumer is closed")
        await self.start()
        deadline = time.monotonic() + max(0.0, timeout)
        limit = max_records or self.max_poll_records
        self._maybe_autocommit()
        while True:
            if self._group_error is not None:
                err, self._group_error = self._group_error, None
                raise err
            if self._subscription is not None and not self._joined.is_set():
                if not await self._wait_event(self._joined, deadline):
                    return []
            missing = [tp for tp in self._assignment if self._positions.get(tp) is None]
            if missing:
                await self._init_positions(missing)
            out = self._drain(limit)
            if out:
                if not self._buffer:
                    self._start_fetch()
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            task = self._start_fetch()
            if task is None:
                # nothing fetchable (no assignment, all paused): wait for a change or the deadline
                self._fetch_wake.clear()
                await self._wait_event(self._fetch_wake, min(deadline, time.monotonic() + 0.1))
                continue
            waiters: set[asyncio.Future] = {task}
            if self._subscription is not None:
                waiters.add(asyncio.ensure_future(self._rejoin.wait()))
            done, pending = await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for p in pending:
                if p is not task:
                    p.cancel()
            if task in done and task.exception() is not None:
                exc = task.exception()
                if isinstance(exc, KafkaError) and not is_retriable(exc):
                    raise exc
                log.debug("fetch failed: %s", exc)
                await self._wait_event(self._fetch_wake, min(deadline, time.monotonic() + self.retry_backoff))

    def __aiter__(self) -> "Consumer":
        return self

    async def __anext__(self) -> ConsumerRecord:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if not self._iter_buf:
                self._iter_buf.extend(await self.poll(1.0))
                continue
            return self._iter_buf.popleft()

    @staticmethod
    async def _wait_event(ev: asyncio.Event, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if ev.is_set():
            return True
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):
                await ev.wait()
            return True
        except TimeoutError:
            return False

    def _drain(self, limit: int) -> list[ConsumerRecord]:
        out: list[ConsumerRecord] = []
        while self._buffer and len(out) < limit:
            f = self._buffer[0]
            if f.tp not in self._assignment or f.tp in self._paused:
                self._buffer.popleft()
                continue
            if f.index >= len(f.records) and not self._decode_next(f):
                self._buffer.popleft()
                self._positions[f.tp] = f.next_offset
                continue
            take = f.records[f.index : f.index + (limit - len(out))]
            out += take
            f.index += len(take)
            self._positions[f.tp] = f.next_offset if f.index >= len(f.records) else take[-1].offset + 1
        return out

    def _decode_next(self, f: _Fetched) -> bool:
        """Decode the next batch of ``f`` holding records at or after its fetch offset; False at the
        end (a partial batch at the end of a size-limited response counts as the end)."""
        mv = f.data
        end = len(mv)
        topic, partition = f.tp
        while end - f.pos >= HEADER_SIZE:
            pos = f.pos
            h = read_header(mv, pos)
            if pos + h.size > end:
                break
            f.pos = pos + h.size
            if h.next_offset <= f.min_offset:
                continue
            if h.next_offset > f.next_offset:
                f.next_offset = h.next_offset
            if f.aborted is not None and f.skip_aborted(h, mv):
                continue
            if h.is_control:
                continue
            check_header(h, end - pos)
            if self.check_crcs and crc32c(mv[pos + 21 : pos + h.size]) != h.crc:
                raise KafkaError(ErrorCode.corrupt_message, f"CRC-32C mismatch in a batch of {f.tp} at offset {h.base_offset}")
            f.records = _decode_records(f.tp, mv, h, f.min_offset)
            f.index = 0
            if f.records:
                return True
        f.records = []
        f.index = 0
        return False

    def _start_fetch(self) -> asyncio.Task | None:
        if self._fetch_task is not None and not self._fetch_task.done():
            return self._fetch_task
        buffered = {f.tp for f in self._buffer}
        wanted = {
            tp: pos
            for tp in self._assignment
            if tp not in self._paused and tp not in buffered and (pos := self._positions.get(tp)) is not None
        }
        if not wanted:
            return None
        self._fetch_task = asyncio.create_task(self._fetch_round(wanted))
        return self._fetch_task

    async def _fetch_round(self, wanted: dict[TopicPartition, int]) -> None:
        by_node: dict[int, dict[TopicPartition, int]] = collections.defaultdict(dict)
        unknown = []
        for tp, pos in wanted.items():
            leader = self.cluster.leader(tp.topic, tp.partition)
            if leader < 0:
                unknown.append(tp)
            else:
                by_node[leader][tp] = pos
        if unknown:
            await self.cluster.refresh({tp.topic for tp in wanted})
            if not by_node:
                await asyncio.sleep(self.retry_backoff)
                return
        results = await asyncio.gather(*(self._fetch_node(n, tps) for n, tps in by_node.items()), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r
        self._fetch_wake.set()

    async def _fetch_node(self, node: int, tps: dict[TopicPartition, int]) -> None:
        topics: dict[str, list[dict]] = collections.defaultdict(list)
        for tp, pos in tps.items():
            topics[tp.topic].append({
                "partition": tp.partition, "current_leader_epoch": -1, "fetch_offset": pos,
                "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": self.max_partition_fetch_bytes,
            })
        request = {
            "cluster_id": None, "replica_id": -1, "max_wait": self.fetch_max_wait_ms, "min_bytes": self.fetch_min_bytes,
            "max_bytes": self.fetch_max_bytes, "isolation_level": self.isolation, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()], "forgotten_topics_data": [], "rack_id": "",
        }
        try:
            resp = await self.cluster.send(node, apis.FETCH, request, timeout=self.fetch_max_wait_ms / 1000 + self.request_timeout)
        except BrokerUnreachable:
            await self.cluster.refresh({tp.topic for tp in tps})
            raise
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, "fetch")
        refresh = False
        reset: list[TopicPartition] = []
        for t in resp.responses:
            for p in t.partitions:
                tp = TopicPartition(t.topic, p.partition_index)
                fetch_offset = tps.get(tp)
                if fetch_offset is None or self._positions.get(tp) != fetch_offset or tp not in self._assignment:
                    continue  # sought or revoked meanwhile
                code = p.error_code
                if code == ErrorCode.none:
                    self._highwater[tp] = p.high_watermark
                    if p.last_stable_offset >= 0:
                        self._last_stable[tp] = p.last_stable_offset
                    self._log_start[tp] = p.log_start_offset
                    if p.records:
                        aborted = p.aborted_transactions if self.isolation else None
                        self._buffer.append(_Fetched(tp, p.records, fetch_offset, aborted))
                elif code == ErrorCode.offset_out_of_range:
                    reset.append(tp)
                elif code in (ErrorCode.not_leader_or_follower, ErrorCode.unknown_topic_or_partition, ErrorCode.leader_not_available, ErrorCode.fenced_leader_epoch, ErrorCode.unknown_leader_epoch, ErrorCode.kafka_storage_error):
                    refresh = True
                else:
                    raise KafkaError(code, f"fetch {tp}")
        if refresh:
            await self.cluster.refresh({tp.topic for tp in tps})
        if reset:
            if self.auto_offset_reset == "none":
                raise KafkaError(ErrorCode.offset_out_of_range, f"no valid position for {sorted(reset)} and auto_offset_reset=none")
            for tp in reset:
                self._positions[tp] = None
            await self._init_positions(reset, use_committed=False)

    def _parse(self, tp: TopicPartition, data: bytes, fetch_offset: int, aborted: Any = None) -> tuple[list[ConsumerRecord], int]:
        """Every record of ``data`` at or after ``fetch_offset``, and the offset after the last
        whole batch (what ``poll`` does lazily, at once); ``aborted`` as a fetch response's
        aborted transactions (objects with ``producer_id`` and ``first_offset``)."""
        f = _Fetched(tp, data, fetch_offset, aborted if self.isolation else None)
        out: list[ConsumerRecord] = []
        while self._decode_next(f):
            out += f.records
        return out, f.next_offset

    # ------------------------------------------------------------------ offsets

    async def _list_offsets(self, wanted: Mapping[TopicPartition, int]) -> dict[TopicPartition, tuple[int, int]]:
        """{tp: timestamp or EARLIEST/LATEST} -> {tp: (offset, timestamp)} from each leader."""
        return await list_offsets(self.cluster, wanted, isolation=self.isolation, retry_backoff=self.retry_backoff)

    async def _fetch_committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata | None]:
        if self.group_id is None:
            return {tp: None for tp in tps}
        return await fetch_committed(self.cluster, self.group_id, tps, retry_backoff=self.retry_backoff, require_stable=bool(self.isolation))

    async def _init_positions(self, tps: list[TopicPartition], *, use_committed: bool = True) -> None:
        tps = [tp for tp in tps if self._positions.get(tp) is None]
        if not tps:
            return
        if use_committed and self.group_id is not None:
            committed = await self._fetch_committed(tps)
            for tp, om in committed.items():
                if om is not None and om.offset >= 0:
                    self._positions[tp] = om.offset
        rest = [tp for tp in tps if self._positions.get(tp) is None]
        if not rest:
            return
        if self.auto_offset_reset == "none":
            raise KafkaError(ErrorCode.offset_out_of_range, f"no committed offset for {sorted(rest)} and auto_offset_reset=none")
        ts = EARLIEST if self.auto_offset_reset == "earliest" else LATEST
        offsets = await self._list_offsets({tp: ts for tp in rest})
        for tp, (off, _) in offsets.items():
            if tp in self._assignment or tp in rest:
                self._positions[tp] = off

    def group_metadata(self) -> ConsumerGroupMetadata:
        """This member's place in its group, for ``Producer.send_offsets_to_transaction``."""
        if self.group_id is None:
            raise KafkaError(ErrorCode.invalid_group_id, "group_metadata needs a group_id")
        return ConsumerGroupMetadata(self.group_id, self.generation_id, self.member_id, self.group_instance_id)

    def _current_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: OffsetAndMetadata(pos) for tp in self._assignment if (pos := self._positions.get(tp)) is not None}

    async def commit(self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata] | None = None) -> None:
        """Commit ``offsets`` (default: the current position of every assigned partition) and wait.

        The offset committed is the *next* record to read, as Kafka's convention is. Raises
        :class:`CommitFailed` when the group has rebalanced meanwhile.
        """
        if self.group_id is None:
            raise KafkaError(ErrorCode.invalid_group_id, "commit needs a group_id")
        if offsets is None:
            offs = self._current_offsets()
        else:
            offs = {TopicPartition(*tp): (o if isinstance(o, OffsetAndMetadata) else OffsetAndMetadata(o)) for tp, o in offsets.items()}
        if not offs:
            return
        generation, member = (self.generation_id, self.member_id) if self._subscription is not None else (-1, "")
        try:
            await commit_offsets(self.cluster, self.group_id, offs, generation=generation, member_id=member, group_instance_id=self.group_instance_id, retry_backoff=self.retry_backoff)
        except KafkaError as e:
            if e.code in (ErrorCode.rebalance_in_progress, ErrorCode.illegal_generation, ErrorCode.unknown_member_id, ErrorCode.fenced_instance_id):
                if e.code != ErrorCode.rebalance_in_progress:
                    self.member_id, self.generation_id = ("" if e.code == ErrorCode.unknown_member_id else self.member_id), -1
                self._rejoin.set()
                raise CommitFailed(e.code, f"commit refused: the group rebalanced ({e.message})") from None
            raise

    def commit_async(self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata] | None = None, callback: Any = None) -> asyncio.Task:
        """Commit in the background; ``callback(error_or_None, offsets)`` when done. Returns the task."""
        offs = dict(offsets) if offsets is not None else self._current_offsets()

        async def go() -> None:
            err: BaseException | None = None
            try:
                await self.commit(offs)
            except KafkaError as e:
                err = e
                if callback is None:
                    log.warning("async commit failed: %s", e)
            if callback is not None:
                r = callback(err, offs)
                if asyncio.iscoroutine(r):
                    await r

        t = asyncio.create_task(go())
        self._commit_tasks.add(t)
        t.add_done_callback(self._commit_tasks.discard)
        return t

    def _maybe_autocommit(self) -> None:
        if not self.enable_auto_commit or not self._assignment:
            return
        now = time.monotonic()
        if now >= self._next_autocommit:
            self._next_autocommit = now + self.auto_commit_interval
            if self._subscription is None or self._joined.is_set():
                self.commit_async()

    # ------------------------------------------------------------------ group membership

    def _start_group(self) -> None:
        if self._group_task is None or self._group_task.done():
            self._rejoin.set()
            self._group_task = asyncio.create_task(self._group_loop(), name="odradek-consumer-group")

    async def _call_listener(self, method: str, tps: set[TopicPartition]) -> None:
        if self._listener is None:
            return
        try:
            r = getattr(self._listener, method)(set(tps))
            if asyncio.iscoroutine(r):
                await r
        except Exception:  # noqa: BLE001
            log.exception("rebalance listener %s failed", method)

    def _chosen(self) -> Assignor:
        for a in self.assignors:
            if a.name == self.protocol_name:
                return a
        return self.assignors[0]

    async def _group_loop(self) -> None:
        assert self.group_id is not None
        next_metadata = time.monotonic() + self.metadata_max_age
        while not self._closed:
            try:
                if self._rejoin.is_set():
                    await self._join_and_sync()
                    next_metadata = time.monotonic() + self.metadata_max_age
                    continue
                try:
                    async with asyncio.timeout(self.heartbeat_interval):
                        await self._rejoin.wait()
                    continue
                except TimeoutError:
                    pass
                if time.monotonic() >= next_metadata or any(t not in self._joined_partition_counts for t in self._subscription or ()):
                    next_metadata = time.monotonic() + min(self.metadata_max_age, 5.0 if self._missing_topics() else self.metadata_max_age)
                    await self.cluster.refresh(self._subscription or ())
                    counts = {t: self.cluster.partition_count(t) for t in self._subscription or () if self.cluster.partition_count(t)}
                    if counts != self._joined_partition_counts:
                        log.info("subscribed topics changed (%s): rejoining", counts)
                        self._rejoin.set()
                        continue
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except KafkaError as e:
                if is_retriable(e):
                    log.debug("group %s: %s; retrying", self.group_id, e)
                    self.cluster.forget_coordinator(self.group_id)
                    if not self._joined.is_set():
                        self._rejoin.set()  # the join did not finish: try it again
                    await asyncio.sleep(self.retry_backoff)
                else:
                    log.warning("group %s: %s", self.group_id, e)
                    self._group_error = e
                    await asyncio.sleep(max(self.retry_backoff, 1.0))
            except Exception as e:  # noqa: BLE001
                log.exception("group %s: unexpected error", self.group_id)
                self._group_error = e
                await asyncio.sleep(1.0)

    def _missing_topics(self) -> bool:
        return any(self.cluster.partition_count(t) == 0 for t in self._subscription or ())

    async def _heartbeat(self) -> None:
        assert self.group_id is not None
        node = await self.cluster.coordinator(self.group_id)
        resp = await self.cluster.send(node, apis.HEARTBEAT, {
            "group_id": self.group_id, "generation_id": self.generation_id, "member_id": self.member_id,
            "group_instance_id": self.group_instance_id,
        })
        code = resp.error_code
        if code == ErrorCode.none:
            return
        if code == ErrorCode.rebalance_in_progress:
            log.info("group %s is rebalancing: rejoining", self.group_id)
            self._rejoin.set()
        elif code in (ErrorCode.unknown_member_id, ErrorCode.illegal_generation, ErrorCode.fenced_instance_id):
            log.info("group %s: %s; rejoining as a new member", self.group_id, code.name.upper())
            await self._lose_partitions()
            if code == ErrorCode.unknown_member_id:
                self.member_id = ""
            self.generation_id = -1
            self._rejoin.set()
        elif code in _GROUP_RETRY:
            self.cluster.forget_coordinator(self.group_id)
        else:
            raise KafkaError(code, "heartbeat")

    async def _lose_partitions(self) -> None:
        if self._assignment:
            lost = set(self._assignment)
            await self._call_listener("on_partitions_lost", lost)
            for tp in lost:
                self._drop(tp)
            self._assignment = set()

    async def _join_and_sync(self) -> None:
        assert self.group_id is not None and self._subscription is not None
        self._rejoin.clear()
        self._joined.clear()
        cooperative = self._chosen().rebalance_protocol == "cooperative" and self.protocol_name is not None
        if not cooperative and self._assignment:
            revoked = set(self._assignment)
            await self._call_listener("on_partitions_revoked", revoked)
            if self.enable_auto_commit:
                try:
                    await self.commit()
                except KafkaError as e:
                    log.info("commit before rejoining failed: %s", e)
            for tp in revoked:
                self._drop(tp)
            self._assignment = set()
        await self.cluster.refresh(self._subscription)
        self._joined_partition_counts = {t: self.cluster.partition_count(t) for t in self._subscription if self.cluster.partition_count(t)}
        owned = sorted(self._assignment)
        protocols = [
            {"name": a.name, "metadata": encode_subscription(Subscription(sorted(self._subscription), None, owned, self.generation_id))}
            for a in self.assignors
        ]
        while True:
            node = await self.cluster.coordinator(self.group_id)
            resp = await self.cluster.send(node, apis.JOIN_GROUP, {
                "group_id": self.group_id, "session_timeout": self.session_timeout_ms, "rebalance_timeout": self.rebalance_timeout_ms,
                "member_id": self.member_id, "group_instance_id": self.group_instance_id, "protocol_type": "consumer",
                "protocols": protocols, "reason": None,
            }, timeout=self.rebalance_timeout_ms / 1000 + 5)
            code = resp.error_code
            if code == ErrorCode.member_id_required:
                self.member_id = resp.member_id  # KIP-394: join again with the id the coordinator gave
                continue
            if code == ErrorCode.unknown_member_id:
                self.member_id = ""
                continue
            if code in _GROUP_RETRY:
                self.cluster.forget_coordinator(self.group_id)
                await asyncio.sleep(self.retry_backoff)
                continue
            if code == ErrorCode.rebalance_in_progress:
                await asyncio.sleep(self.retry_backoff)
                continue
            if code != ErrorCode.none:
                raise KafkaError(code, f"JoinGroup {self.group_id}")
            self.member_id = resp.member_id
            self.generation_id = resp.generation_id
            self.protocol_name = resp.protocol_name
            self.leader_id = resp.leader
            assignments: list[dict] = []
            if resp.leader == resp.member_id:
                assignments = await self._lead(resp.members)
            sync = await self.cluster.send(node, apis.SYNC_GROUP, {
                "group_id": self.group_id, "generation_id": self.generation_id, "member_id": self.member_id,
                "group_instance_id": self.group_instance_id, "protocol_type": "consumer", "protocol_name": self.protocol_name,
                "assignments": assignments,
            }, timeout=self.rebalance_timeout_ms / 1000 + 5)
            code = sync.error_code
            if code == ErrorCode.rebalance_in_progress:
                continue
            if code in (ErrorCode.unknown_member_id, ErrorCode.illegal_generation):
                if code == ErrorCode.unknown_member_id:
                    self.member_id = ""
                continue
            if code in _GROUP_RETRY:
                self.cluster.forget_coordinator(self.group_id)
                await asyncio.sleep(self.retry_backoff)
                continue
            if code != ErrorCode.none:
                raise KafkaError(code, f"SyncGroup {self.group_id}")
            break
        assignment = decode_assignment(sync.assignment)
        new = set(assignment.partitions)
        old = set(self._assignment)
        if self._chosen().rebalance_protocol == "cooperative":
            revoked = old - new
            added = new - old
            if revoked:
                await self._call_listener("on_partitions_revoked", revoked)
                if self.enable_auto_commit:
                    try:
                        await self.commit({tp: o for tp, o in self._current_offsets().items() if tp in revoked})
                    except KafkaError as e:
                        log.info("commit of revoked partitions failed: %s", e)
                for tp in revoked:
                    self._drop(tp)
                self._rejoin.set()  # KIP-429: rejoin so the revoked partitions can move
        else:
            added = new
        self._assignment = new
        for tp in added:
            self._positions[tp] = None
        try:
            await self._init_positions(sorted(added))
        finally:
            self._joined.set()
        log.info("group %s generation %d: assigned %s", self.group_id, self.generation_id, sorted(new))
        await self._call_listener("on_partitions_assigned", added)
        self._fetch_wake.set()

    async def _lead(self, members: Sequence[Any]) -> list[dict]:
        subs = {m.member_id: decode_subscription(m.metadata) for m in members}
        topics = {t for s in subs.values() for t in s.topics}
        await self.cluster.refresh(topics)
        counts = {t: self.cluster.partition_count(t) for t in topics}
        result = self._chosen().assign(counts, subs)
        log.info("group %s: leader assigned with %s: %s", self.group_id, self.protocol_name, {m: len(v) for m, v in result.items()})
        return [{"member_id": m, "assignment": encode_assignment(Assignment(tps))} for m, tps in result.items()]

    async def _leave_group(self) -> None:
        assert self.group_id is not None
        node = await self.cluster.coordinator(self.group_id)
        member, instance = self.member_id, self.group_instance_id
        await self.cluster.send(node, apis.LEAVE_GROUP, lambda v: {
            "group_id": self.group_id, "member_id": member,
            "members": [{"member_id": member, "group_instance_id": instance, "reason": "the consumer is closing"}],
        })
        self.member_id = ""
        self.generation_id = -1


# ---------------------------------------------------------------------- shared offset helpers


async def list_offsets(cluster: Cluster, wanted: Mapping[TopicPartition, int], *, isolation: int = 0, retry_backoff: float = 0.1) -> dict[TopicPartition, tuple[int, int]]:
    """ListOffsets from each partition's leader: {tp: timestamp | EARLIEST | LATEST | MAX_TIMESTAMP}
    to {tp: (offset, timestamp)}; offset -1 when no record is that late."""
    out: dict[TopicPartition, tuple[int, int]] = {}
    todo = dict(wanted)
    deadline = time.monotonic() + cluster.request_timeout
    while todo:
        topics = {tp.topic for tp in todo}
        if any(cluster.leader(tp.topic, tp.partition) < 0 for tp in todo):
            await cluster.refresh(topics)
        by_node: dict[int, dict[TopicPartition, int]] = collections.defaultdict(dict)
        for tp, ts in todo.items():
            leader = cluster.leader(tp.topic, tp.partition)
            if leader < 0:
                if tp.topic in cluster.topics and tp.partition not in cluster.topics[tp.topic].partitions or tp.topic not in cluster.topics:
                    raise KafkaError(ErrorCode.unknown_topic_or_partition, f"{tp}")
                continue
            by_node[leader][tp] = ts
        retry: dict[TopicPartition, int] = {}
        for node, tps in by_node.items():
            topics_req: dict[str, list[dict]] = collections.defaultdict(list)
            for tp, ts in tps.items():
                topics_req[tp.topic].append({"partition_index": tp.partition, "current_leader_epoch": -1, "timestamp": ts})
            resp = await cluster.send(node, apis.LIST_OFFSETS, {
                "replica_id": -1, "isolation_level": isolation,
                "topics": [{"name": t, "partitions": ps} for t, ps in topics_req.items()],
            })
            for t in resp.topics:
                for p in t.partitions:
                    tp = TopicPartition(t.name, p.partition_index)
                    if p.error_code == ErrorCode.none:
                        out[tp] = (p.offset, p.timestamp)
                    elif is_retriable(p.error_code) and time.monotonic() < deadline:
                        retry[tp] = tps[tp]
                    else:
                        raise KafkaError(p.error_code, f"ListOffsets {tp}")
        todo = retry if retry else {tp: ts for tp, ts in todo.items() if tp not in out}
        if todo:
            if time.monotonic() >= deadline:
                raise KafkaError(ErrorCode.leader_not_available, f"no leader for {sorted(todo)}")
            await asyncio.sleep(retry_backoff)
            await cluster.refresh({tp.topic for tp in todo})
    return out


async def fetch_committed(
    cluster: Cluster, group_id: str, tps: Sequence[TopicPartition] | None, *, retry_backoff: float = 0.1, require_stable: bool = False,
) -> dict[TopicPartition, OffsetAndMetadata | None]:
    """OffsetFetch: the group's committed offsets of ``tps`` (None: every partition it has).

    With ``require_stable`` (read_committed consumers) a partition whose offset a transaction has
    staged but not yet committed is asked again (UNSTABLE_OFFSET_COMMIT) until the transaction
    ends or the request timeout passes."""
    deadline = time.monotonic() + cluster.request_timeout
    while True:
        node = await cluster.coordinator(group_id)
        topics: dict[str, list[int]] = collections.defaultdict(list)
        for tp in tps or ():
            topics[tp.topic].append(tp.partition)
        try:
            resp = await cluster.send(node, apis.OFFSET_FETCH, {
                "group_id": group_id,
                "topics": None if tps is None else [{"name": t, "partition_indexes": ps} for t, ps in topics.items()],
                "require_stable": require_stable,
            })
        except KafkaError as e:
            if tps is not None or e.code != ErrorCode.corrupt_message:
                raise
            # Some brokers (Tansu 0.6) answer "every partition" (topics null) with a malformed
            # response: ask for every partition of every topic instead.
            await cluster.refresh(None)
            every = [TopicPartition(t.name, p) for t in cluster.topics.values() for p in t.partitions]
            found = await fetch_committed(cluster, group_id, every, retry_backoff=retry_backoff) if every else {}
            return {tp: om for tp, om in found.items() if om is not None}
        code = getattr(resp, "error_code", ErrorCode.none)
        if code in _GROUP_RETRY and time.monotonic() < deadline:
            cluster.forget_coordinator(group_id)
            await asyncio.sleep(retry_backoff)
            continue
        if code != ErrorCode.none:
            raise KafkaError(code, f"OffsetFetch {group_id}")
        out: dict[TopicPartition, OffsetAndMetadata | None] = {tp: None for tp in tps or ()}
        unstable = [p for t in resp.topics for p in t.partitions if p.error_code == ErrorCode.unstable_offset_commit]
        if unstable and time.monotonic() < deadline:
            await asyncio.sleep(retry_backoff)
            continue
        for t in resp.topics:
            for p in t.partitions:
                tp = TopicPartition(t.name, p.partition_index)
                if p.error_code not in (ErrorCode.none, ErrorCode.unknown_topic_or_partition):
                    raise KafkaError(p.error_code, f"OffsetFetch {group_id} {tp}")
                out[tp] = OffsetAndMetadata(p.committed_offset, p.metadata or "", getattr(p, "committed_leader_epoch", -1)) if p.committed_offset >= 0 else None
        return out


async def commit_offsets(
    cluster: Cluster, group_id: str, offsets: Mapping[TopicPartition, OffsetAndMetadata], *, generation: int = -1,
    member_id: str = "", group_instance_id: str | None = None, retry_backoff: float = 0.1,
) -> None:
    """OffsetCommit; raises the first partition's error."""
    topics: dict[str, list[dict]] = collections.defaultdict(list)
    for tp, om in offsets.items():
        topics[tp.topic].append({"partition_index": tp.partition, "committed_offset": om.offset, "committed_leader_epoch": om.leader_epoch, "committed_metadata": om.metadata or "", "commit_timestamp": -1})
    request = {
        "group_id": group_id, "generation_id_or_member_epoch": generation, "member_id": member_id,
        "group_instance_id": group_instance_id, "retention_time": -1,
        "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
    }
    deadline = time.monotonic() + cluster.request_timeout
    while True:
        node = await cluster.coordinator(group_id)
        resp = await cluster.send(node, apis.OFFSET_COMMIT, lambda v: dict(request, generation_id=generation))
        errors = [(TopicPartition(t.name, p.partition_index), p.error_code) for t in resp.topics for p in t.partitions if p.error_code != ErrorCode.none]
        if not errors:
            return
        tp, code = errors[0]
        if code in _GROUP_RETRY and time.monotonic() < deadline:
            cluster.forget_coordinator(group_id)
            await asyncio.sleep(retry_backoff)
            continue
        raise KafkaError(code, f"OffsetCommit {group_id} {tp}")
