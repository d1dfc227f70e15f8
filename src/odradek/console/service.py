"""What the console asks of a cluster, through Odradek's client only (admin, consumer, producer).

One :class:`Admin` serves every page; a :class:`Producer` is made on the first produce; each
message scan has its own :class:`Consumer` (no group, nothing committed). A background task
samples every group's lag into a bounded in-memory history for the charts.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..client import Admin, Consumer, KafkaError, NewTopic, Producer, TopicPartition
from ..client.admin import ConfigEntry, GroupDescription, LogDirDescription, PartitionOffsets
from ..client.types import ConsumerRecord, RecordMetadata, TopicInfo
from ..protocol.errors import ErrorCode
from .decode import search_text
from .parsing import ClientSettings, InputError

log = logging.getLogger("odradek.console")

__all__ = ["ClusterService", "NotFound", "ScanSpec", "LagSample", "ResetRow"]


class NotFound(Exception):
    """A topic, partition or group that does not exist."""


# ============================================================================ overview


@dataclass
class BrokerRow:
    node_id: int
    address: str
    rack: str | None
    controller: bool
    leaders: int = 0
    replicas: int = 0
    disk_total: int = -1
    disk_usable: int = -1
    log_bytes: int = 0
    error: str | None = None


@dataclass
class Overview:
    cluster_id: str | None
    controller_id: int
    brokers: list[BrokerRow]
    topics: int
    internal_topics: int
    partitions: int
    offline: list[tuple[str, int]]
    under_replicated: list[tuple[str, int]]

    @property
    def silent(self) -> list[int]:
        """Brokers in the metadata that did not answer (DescribeLogDirs could not reach them)."""
        return [b.node_id for b in self.brokers if b.error in ("NETWORK_EXCEPTION", "REQUEST_TIMED_OUT")]

    @property
    def healthy(self) -> bool:
        return not self.offline and not self.under_replicated and not self.silent and self.controller_id >= 0 and bool(self.brokers)


@dataclass
class TopicRow:
    name: str
    internal: bool
    partitions: int
    replication: int
    under_replicated: int
    offline: int
    size: int | None


@dataclass
class PartitionRow:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]
    log_start: int | None
    high_watermark: int | None
    log_end: int | None
    size: int | None
    error: str | None

    @property
    def records(self) -> int | None:
        if self.log_start is None or self.high_watermark is None:
            return None
        return max(0, self.high_watermark - self.log_start)


@dataclass
class TopicDetail:
    info: TopicInfo
    partitions: list[PartitionRow]
    configs: dict[str, ConfigEntry]
    config_error: str | None = None

    @property
    def replication(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)


# ============================================================================ groups


@dataclass(frozen=True)
class LagSample:
    at_ms: int
    total: int | None
    partitions: dict[TopicPartition, int | None]
    state: str
    members: int


@dataclass
class GroupRow:
    group_id: str
    state: str
    protocol_type: str
    members: int | None = None
    lag: int | None = None


@dataclass
class GroupDetail:
    description: GroupDescription
    offsets: list[PartitionOffsets]
    history: list[LagSample]

    @property
    def total_lag(self) -> int | None:
        lags = [o.lag for o in self.offsets if o.lag is not None]
        return sum(lags) if lags else None


@dataclass
class ResetRow:
    tp: TopicPartition
    current: int | None
    log_start: int
    log_end: int
    new: int | None
    note: str = ""


RESET_STRATEGIES = ("earliest", "latest", "offset", "timestamp", "shift")
#: Lag samples that keep each partition's figure (the per-partition charts); older ones keep the total only.
PARTITION_SAMPLES = 60
INACTIVE_STATES = ("Empty", "Dead")


# ============================================================================ scans


@dataclass
class ScanSpec:
    topic: str
    partitions: list[int] | None  # None: all
    mode: str  # newest | earliest | offset | timestamp | cursor
    limit: int = 50
    offset: int | None = None
    timestamp: int | None = None
    cursor: dict[int, int] = field(default_factory=dict)
    filter: str | None = None
    max_records: int = 200_000
    max_seconds: float = 15.0


SCAN_MODES = ("newest", "earliest", "offset", "timestamp", "cursor")


def record_matches(r: ConsumerRecord, needle: str, *, values: bool) -> bool:
    """``needle`` (case-folded) in the key, the value (when shown), or a header's name or value."""
    if needle in search_text(r.key):
        return True
    if values and needle in search_text(r.value):
        return True
    for name, value in r.headers:
        if needle in name.casefold() or needle in search_text(value):
            return True
    return False


class ClusterService:
    def __init__(
        self, bootstrap: str, settings: ClientSettings, *, hide_values: bool = False,
        lag_interval: float = 10.0, lag_keep: int = 360, lag_max_groups: int = 200,
    ) -> None:
        self.bootstrap = bootstrap
        self.settings = settings
        self.hide_values = hide_values
        self.admin = Admin(
            bootstrap, client_id=settings.client_id, request_timeout_ms=settings.request_timeout_ms,
            retry_backoff_ms=settings.retry_backoff_ms, **settings.client_kwargs(),
        )
        self._producer: Producer | None = None
        self._producer_lock = asyncio.Lock()
        self.lag_interval = lag_interval
        self.lag_max_groups = lag_max_groups
        self.history: dict[str, collections.deque[LagSample]] = {}
        self._lag_keep = lag_keep
        self._sampler: asyncio.Task | None = None
        self.last_error: str | None = None

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    async def start(self) -> None:
        if self.lag_interval > 0:
            self._sampler = asyncio.create_task(self._sample_forever())

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            try:
                await self._sampler
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.close(), 5)
            except (Exception, asyncio.TimeoutError):  # noqa: BLE001
                pass
        await self.admin.close()

    async def reachable(self) -> None:
        """Raise BrokerUnreachable at once when no broker answers (a page then says so rather than
        waiting out the request timeout)."""
        await self.admin.cluster.any_node()

    # ------------------------------------------------------------------ cluster

    async def overview(self) -> Overview:
        desc = await self.admin.describe_cluster()
        topics = await self.admin.describe_topics(None)
        dirs = await self.admin.describe_log_dirs([b.node_id for b in desc.brokers])
        return build_overview(desc, topics, dirs)

    # ------------------------------------------------------------------ topics

    async def topic_list(self, *, internal: bool) -> list[TopicRow]:
        topics = await self.admin.describe_topics(None)
        sizes = _leader_sizes(topics, await self.admin.describe_log_dirs())
        out = []
        for t in topics.values():
            if t.internal and not internal:
                continue
            parts = list(t.partitions.values())
            known = [sizes.get(TopicPartition(t.name, p.partition)) for p in parts]
            out.append(TopicRow(
                t.name, t.internal, len(parts), max((len(p.replicas) for p in parts), default=0),
                sum(1 for p in parts if p.leader >= 0 and len(p.isr) < len(p.replicas)),
                sum(1 for p in parts if p.leader < 0),
                None if any(k is None for k in known) else sum(k for k in known if k is not None),
            ))
        return out

    async def topic_info(self, name: str) -> TopicInfo:
        try:
            return (await self.admin.describe_topics([name]))[name]
        except KafkaError as e:
            if e.code in (ErrorCode.unknown_topic_or_partition, ErrorCode.invalid_topic_exception):
                raise NotFound(f"Topic '{name}' does not exist.") from None
            raise

    async def topic_detail(self, name: str) -> TopicDetail:
        info = await self.topic_info(name)
        led = [TopicPartition(name, p) for p, pi in info.partitions.items() if pi.leader >= 0]
        starts: dict[TopicPartition, tuple[int, int]] = {}
        ends: dict[TopicPartition, tuple[int, int]] = {}
        if led:
            starts = await self.admin.list_offsets({tp: "earliest" for tp in led})
            ends = await self.admin.list_offsets({tp: "latest" for tp in led})
        dirs = await self.admin.describe_log_dirs(sorted({pi.leader for pi in info.partitions.values() if pi.leader >= 0}), [name])
        leader_info: dict[int, Any] = {}
        for node, result in dirs.items():
            if isinstance(result, KafkaError):
                continue
            for d in result:
                for tp, r in d.replicas.items():
                    pi = info.partitions.get(tp.partition)
                    if tp.topic == name and pi is not None and pi.leader == node and not r.is_future:
                        leader_info[tp.partition] = r
        rows = []
        for p, pi in info.partitions.items():
            tp = TopicPartition(name, p)
            hw = ends[tp][0] if tp in ends else None
            li = leader_info.get(p)
            rows.append(PartitionRow(
                p, pi.leader, pi.replicas, pi.isr, pi.offline_replicas,
                starts[tp][0] if tp in starts else None, hw,
                None if li is None or hw is None else hw + li.offset_lag,
                None if li is None else li.size, pi.error,
            ))
        configs: dict[str, ConfigEntry] = {}
        config_error = None
        try:
            configs = await self.admin.describe_configs("topic", name)
        except KafkaError as e:
            config_error = f"{e.name}: {e.message}" if e.message else e.name
        return TopicDetail(info, rows, configs, config_error)

    async def create_topic(self, name: str, partitions: int, replication: int, configs: dict[str, str]) -> None:
        await self.admin.create_topics([NewTopic(name, partitions, replication, configs)])

    async def delete_topic(self, name: str) -> None:
        await self.admin.delete_topics([name])

    async def alter_topic_config(self, name: str, *, set: dict[str, str] | None = None, delete: Iterable[str] = ()) -> None:
        await self.admin.alter_configs("topic", name, set=set or {}, delete=list(delete))

    # ------------------------------------------------------------------ produce

    async def producer(self) -> Producer:
        async with self._producer_lock:
            if self._producer is None:
                timeout = self.settings.request_timeout_ms
                self._producer = Producer(
                    self.bootstrap, client_id=self.settings.client_id, acks="all", linger_ms=0,
                    request_timeout_ms=timeout, delivery_timeout_ms=max(2 * timeout, 30000), max_block_ms=timeout,
                    retry_backoff_ms=self.settings.retry_backoff_ms, allow_auto_create_topics=False,
                    **self.settings.client_kwargs(),
                )
                await self._producer.start()
            return self._producer

    async def produce(self, topic: str, *, partition: int | None, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> RecordMetadata:
        info = await self.topic_info(topic)
        if partition is not None and partition not in info.partitions:
            raise InputError(f"Topic '{topic}' has partitions 0 to {len(info.partitions) - 1}; there is no partition {partition}.")
        producer = await self.producer()
        fut = await producer.send(topic, value, key, partition=partition, headers=headers)
        return await fut

    # ------------------------------------------------------------------ groups

    async def group_list(self) -> list[GroupRow]:
        rows = []
        for g in await self.admin.list_groups():
            row = GroupRow(g.group_id, g.state or "", g.protocol_type or "")
            hist = self.history.get(g.group_id)
            if hist:
                last = hist[-1]
                row.members = last.members
                row.lag = last.total
                row.state = row.state or last.state
            rows.append(row)
        return rows

    async def group_detail(self, group_id: str) -> GroupDetail:
        desc = (await self.admin.describe_groups([group_id])).get(group_id)
        if desc is not None and desc.error is not None:
            if desc.error == "GROUP_ID_NOT_FOUND":
                raise NotFound(f"Group '{group_id}' does not exist.")
            raise KafkaError(ErrorCode[desc.error.lower()], f"describe group {group_id!r}")
        if desc is None or (desc.state == "Dead" and not desc.members and not await self.admin.list_group_offsets(group_id)):
            raise NotFound(f"Group '{group_id}' does not exist.")
        offsets = await self.admin.group_lag(group_id)
        self._remember(group_id, offsets, desc)
        return GroupDetail(desc, offsets, list(self.history.get(group_id, ())))

    def _remember(self, group_id: str, offsets: list[PartitionOffsets], desc: GroupDescription | None) -> None:
        lags = {TopicPartition(o.topic, o.partition): o.lag for o in offsets}
        known = [v for v in lags.values() if v is not None]
        sample = LagSample(int(time.time() * 1000), sum(known) if known else None, lags, desc.state if desc else "", len(desc.members) if desc else 0)
        hist = self.history.get(group_id)
        if hist is None:
            hist = self.history[group_id] = collections.deque(maxlen=self._lag_keep)
        hist.append(sample)
        # per-partition figures only for the last PARTITION_SAMPLES samples (the small charts):
        # the total is kept for all of them, so a group of many partitions costs little memory
        if len(hist) > PARTITION_SAMPLES and hist[-PARTITION_SAMPLES - 1].partitions:
            hist[-PARTITION_SAMPLES - 1] = dataclasses.replace(hist[-PARTITION_SAMPLES - 1], partitions={})

    async def sample_lag_once(self) -> None:
        groups = (await self.admin.list_groups())[: self.lag_max_groups]
        names = {g.group_id for g in groups}
        for gone in set(self.history) - names:
            del self.history[gone]
        for g in groups:
            try:
                desc = (await self.admin.describe_groups([g.group_id])).get(g.group_id)
                offsets = await self.admin.group_lag(g.group_id)
            except KafkaError as e:
                log.debug("lag of group %s not sampled: %s", g.group_id, e)
                continue
            self._remember(g.group_id, offsets, desc)

    async def _sample_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.sample_lag_once()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the sampler keeps going when the cluster is away
                self.last_error = str(e)
                log.debug("lag sampling failed: %s", e)
            await asyncio.sleep(max(0.05, self.lag_interval - (time.monotonic() - started)))

    async def plan_reset(self, group_id: str, topic: str | None, partition: int | None, strategy: str, value: str | None) -> list[ResetRow]:
        """What each partition's committed offset would become (kafka-consumer-groups
        --reset-offsets --dry-run): new offsets are kept within [log start, log end]."""
        from .parsing import parse_int, parse_offset, parse_timestamp

        if strategy not in RESET_STRATEGIES:
            raise InputError(f"Unknown reset strategy {strategy!r}: use one of {', '.join(RESET_STRATEGIES)}.")
        offsets = await self.admin.group_lag(group_id, None if topic is None else [topic])
        if topic is not None:
            info = await self.topic_info(topic)
            if partition is not None and partition not in info.partitions:
                raise InputError(f"Topic '{topic}' has no partition {partition}.")
        rows = [o for o in offsets if (topic is None or o.topic == topic) and (partition is None or o.partition == partition)]
        if not rows:
            raise InputError(f"Group '{group_id}' has no committed offsets or assigned partitions to reset" + (f" in topic '{topic}'." if topic else "."))
        target: dict[TopicPartition, int | None] = {}
        if strategy == "timestamp":
            ts = parse_timestamp(value)
            found = await self.admin.list_offsets({TopicPartition(o.topic, o.partition): ts for o in rows})
            target = {tp: (off if off >= 0 else None) for tp, (off, _t) in found.items()}
        amount = parse_offset(value, "The offset") if strategy == "offset" else parse_int(value, "The shift", minimum=-(2**62), maximum=2**62) if strategy == "shift" else 0
        out = []
        for o in rows:
            tp = TopicPartition(o.topic, o.partition)
            note = ""
            if strategy == "earliest":
                new: int | None = o.log_start_offset
            elif strategy == "latest":
                new = o.log_end_offset
            elif strategy == "offset":
                new = amount
            elif strategy == "timestamp":
                new = target.get(tp)
                if new is None:
                    new = o.log_end_offset
                    note = "no record that late: log end"
            else:
                if o.committed is None:
                    new = None
                    note = "cannot shift: no current committed offset (left as it is)"
                else:
                    new = o.committed + amount
            if new is not None:
                if new < o.log_start_offset:
                    note = note or f"{new} is before the log start: log start"
                    new = o.log_start_offset
                elif new > o.log_end_offset:
                    note = note or f"{new} is past the log end: log end"
                    new = o.log_end_offset
            out.append(ResetRow(tp, o.committed, o.log_start_offset, o.log_end_offset, new, note))
        return out

    async def apply_reset(self, group_id: str, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` for the group, which must have no active members (as Kafka's tool
        requires)."""
        desc = (await self.admin.describe_groups([group_id])).get(group_id)
        state = desc.state if desc else "Dead"
        if state not in INACTIVE_STATES:
            members = len(desc.members) if desc else 0
            raise InputError(
                f"Offsets can only be reset while group '{group_id}' is inactive, but its state is {state} "
                f"with {members} member{'s' if members != 1 else ''}: stop its consumers first."
            )
        await self.admin.alter_group_offsets(group_id, offsets)

    # ------------------------------------------------------------------ message scans

    async def fetch_record(self, topic: str, partition: int, offset: int) -> tuple[ConsumerRecord | None, str | None]:
        """The record at ``offset``, or None and why (compacted away, before the log start, past
        the end)."""
        s = self.settings
        consumer = Consumer(
            self.bootstrap, client_id=s.client_id + "-browser", enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=100, request_timeout_ms=s.request_timeout_ms, retry_backoff_ms=s.retry_backoff_ms,
            **s.client_kwargs(),
        )
        try:
            await consumer.start()
            parts = await consumer.partitions_for(topic)
            if not parts:
                raise NotFound(f"Topic '{topic}' does not exist.")
            if partition not in parts:
                raise NotFound(f"Topic '{topic}' has partitions 0 to {len(parts) - 1}; there is no partition {partition}.")
            tp = TopicPartition(topic, partition)
            start = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            if offset < start:
                return None, f"Offset {offset} is before the log start of partition {partition} ({start}): it was deleted."
            if offset >= end:
                return None, f"Offset {offset} is past the end of partition {partition} (the next offset is {end})."
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + s.request_timeout_ms / 1000
            while time.monotonic() < deadline:
                for r in await consumer.poll(0.5, max_records=1):
                    if r.offset == offset:
                        return r, None
                    return None, f"There is no record at offset {offset} (compacted or a transaction marker); the next one is at {r.offset}."
                if await consumer.position(tp) > offset:
                    break
            return None, f"There is no record at offset {offset} of partition {partition}."
        finally:
            await consumer.close(autocommit=False)

    async def scan(self, spec: ScanSpec, stop: asyncio.Event) -> AsyncIterator[dict]:
        """Records of ``spec`` as events: ``{"type": "record", "record": r}``, ``{"type": "progress",
        ...}``, and one final ``{"type": "done", "reason": end|limit|budget|time|cancelled, ...}``.

        Bounded: the end offsets are taken when the scan starts (it never waits for new records
        or on an empty partition), and it stops after ``max_records`` records looked at or
        ``max_seconds``, or when ``stop`` is set (the browser went away)."""
        scan = _Scan(self, spec, stop)
        async for ev in scan.run():
            yield ev


def build_overview(desc: Any, topics: dict[str, TopicInfo], dirs: dict[int, list[LogDirDescription] | KafkaError]) -> Overview:
    """The cluster page's figures from DescribeCluster, Metadata and DescribeLogDirs answers.

    A partition is offline when it has no leader or its leader is not a live broker, and
    under-replicated when its ISR is smaller than its replica set."""
    rows = {b.node_id: BrokerRow(b.node_id, b.address, b.rack, b.node_id == desc.controller_id) for b in desc.brokers}
    offline: list[tuple[str, int]] = []
    urp: list[tuple[str, int]] = []
    partitions = 0
    for t in topics.values():
        for p in t.partitions.values():
            partitions += 1
            if p.leader < 0 or p.leader not in rows:
                offline.append((t.name, p.partition))
            elif len(p.isr) < len(p.replicas):
                urp.append((t.name, p.partition))
            if p.leader in rows:
                rows[p.leader].leaders += 1
            for r in p.replicas:
                if r in rows:
                    rows[r].replicas += 1
    for node, result in dirs.items():
        row = rows.get(node)
        if row is None:
            continue
        if isinstance(result, KafkaError):
            row.error = result.name if result.code != ErrorCode.unsupported_version else None
            continue
        totals = [d.total_bytes for d in result if d.total_bytes >= 0]
        usable = [d.usable_bytes for d in result if d.usable_bytes >= 0]
        row.disk_total = sum(totals) if totals else -1
        row.disk_usable = sum(usable) if usable else -1
        row.log_bytes = sum(r.size for d in result for r in d.replicas.values())
    internal = sum(1 for t in topics.values() if t.internal)
    return Overview(desc.cluster_id, desc.controller_id, sorted(rows.values(), key=lambda b: b.node_id), len(topics) - internal, internal, partitions, offline, urp)


def _leader_sizes(topics: dict[str, TopicInfo], dirs: dict[int, list[LogDirDescription] | KafkaError]) -> dict[TopicPartition, int]:
    out: dict[TopicPartition, int] = {}
    for node, result in dirs.items():
        if isinstance(result, KafkaError):
            continue
        for d in result:
            for tp, r in d.replicas.items():
                t = topics.get(tp.topic)
                pi = t.partitions.get(tp.partition) if t else None
                if pi is not None and pi.leader == node and not r.is_future:
                    out[tp] = r.size
    return out


class _Scan:
    POLL = 0.3

    def __init__(self, service: ClusterService, spec: ScanSpec, stop: asyncio.Event) -> None:
        self.service = service
        self.spec = spec
        self.stop = stop
        self.needle = spec.filter.casefold() if spec.filter else None
        self.scanned = 0
        self.matched = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.reason: str | None = None
        self.positions: dict[int, int] = {}
        self.note: str | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _budget_left(self) -> bool:
        if self.stop.is_set():
            self.reason = "cancelled"
        elif self.scanned >= self.spec.max_records:
            self.reason = "budget"
        elif self.elapsed() >= self.spec.max_seconds:
            self.reason = "time"
        return self.reason is None

    def _progress(self) -> dict:
        return {"type": "progress", "scanned": self.scanned, "matched": self.matched, "bytes": self.bytes, "elapsed": round(self.elapsed(), 2)}

    def _done(self, cursor: dict[int, int] | None) -> dict:
        return {
            "type": "done", "reason": self.reason or "end", "scanned": self.scanned, "matched": self.matched,
            "bytes": self.bytes, "elapsed": round(self.elapsed(), 2), "cursor": cursor, "note": self.note,
        }

    def _match(self, r: ConsumerRecord) -> bool:
        self.scanned += 1
        self.bytes += (len(r.key) if r.key else 0) + (len(r.value) if r.value else 0)
        return self.needle is None or record_matches(r, self.needle, values=not self.service.hide_values)

    async def run(self) -> AsyncIterator[dict]:
        s = self.service.settings
        consumer = Consumer(
            self.service.bootstrap, client_id=s.client_id + "-browser", enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=100, request_timeout_ms=s.request_timeout_ms, retry_backoff_ms=s.retry_backoff_ms,
            max_poll_records=500, max_partition_fetch_bytes=1024 * 1024, **s.client_kwargs(),
        )
        try:
            await consumer.start()
            parts = await consumer.partitions_for(self.spec.topic)
            if not parts:
                raise NotFound(f"Topic '{self.spec.topic}' does not exist.")
            wanted = sorted(parts) if self.spec.partitions is None else self.spec.partitions
            for p in wanted:
                if p not in parts:
                    raise InputError(f"Topic '{self.spec.topic}' has partitions 0 to {len(parts) - 1}; there is no partition {p}.")
            tps = [TopicPartition(self.spec.topic, p) for p in wanted]
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            if self.spec.mode == "newest":
                async for ev in self._newest(consumer, tps, starts, ends):
                    yield ev
            else:
                async for ev in self._forward(consumer, tps, starts, ends):
                    yield ev
        finally:
            await consumer.close(autocommit=False)

    async def _start_positions(self, consumer: Consumer, tps: list[TopicPartition], starts: dict, ends: dict) -> dict[TopicPartition, int]:
        spec = self.spec
        if spec.mode == "earliest":
            return {tp: starts[tp] for tp in tps}
        if spec.mode == "offset":
            assert spec.offset is not None
            out = {}
            for tp in tps:
                out[tp] = min(max(spec.offset, starts[tp]), ends[tp])
            if len(tps) == 1:
                tp = tps[0]
                if spec.offset < starts[tp]:
                    self.note = f"Offset {spec.offset} is before the log start of partition {tp.partition} ({starts[tp]}): reading from there."
                elif spec.offset > ends[tp]:
                    self.note = f"Offset {spec.offset} is past the end of partition {tp.partition} ({ends[tp]}): nothing to read."
            return out
        if spec.mode == "timestamp":
            assert spec.timestamp is not None
            found = await consumer.offsets_for_times({tp: spec.timestamp for tp in tps})
            return {tp: (ends[tp] if o is None else max(o.offset, starts[tp])) for tp, o in found.items()}
        if spec.mode == "cursor":
            return {tp: min(max(spec.cursor.get(tp.partition, ends[tp]), starts[tp]), ends[tp]) for tp in tps}
        raise InputError(f"Unknown mode {spec.mode!r}.")

    async def _forward(self, consumer: Consumer, tps: list[TopicPartition], starts: dict, ends: dict) -> AsyncIterator[dict]:
        pos = await self._start_positions(consumer, tps, starts, ends)
        active = {tp for tp in tps if pos[tp] < ends[tp]}
        if active:
            consumer.assign(active)
            for tp in active:
                consumer.seek(tp, pos[tp])
        last_progress = time.monotonic()
        while active and self._budget_left():
            records = await consumer.poll(self.POLL, max_records=500)
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                if tp not in active or r.offset >= ends[tp]:
                    continue
                pos[tp] = r.offset + 1
                if self._match(r):
                    self.matched += 1
                    yield {"type": "record", "record": r}
                    if self.matched >= self.spec.limit:
                        self.reason = "limit"
                        break
            if self.reason is not None:
                break
            for tp in list(active):
                # past control batches and records it returned (all of them were looked at)
                pos[tp] = max(pos[tp], min(await consumer.position(tp), ends[tp]))
                if pos[tp] >= ends[tp]:
                    active.discard(tp)
                    consumer.pause(tp)
            if time.monotonic() - last_progress > 0.5:
                last_progress = time.monotonic()
                yield self._progress()
        yield self._done({tp.partition: p for tp, p in pos.items()})

    async def _newest(self, consumer: Consumer, tps: list[TopicPartition], starts: dict, ends: dict) -> AsyncIterator[dict]:
        """The newest ``limit`` matching records: each partition is read backwards in growing
        windows until it has ``limit`` matches or reaches its log start; the newest ``limit`` of
        all partitions' matches (by timestamp) are kept as they come, so memory stays bounded."""
        limit = self.spec.limit
        kept: list[tuple[int, int, int, ConsumerRecord]] = []  # a min-heap: the oldest kept match on top
        count = {tp: 0 for tp in tps}
        lo = {tp: ends[tp] for tp in tps}
        window = {tp: limit if self.needle is None else max(limit, 500) for tp in tps}
        last_progress = time.monotonic()
        while self._budget_left():
            todo = [tp for tp in tps if count[tp] < limit and lo[tp] > starts[tp]]
            if not todo:
                break
            hi = {tp: lo[tp] for tp in todo}
            for tp in todo:
                lo[tp] = max(starts[tp], hi[tp] - window[tp])
                window[tp] *= 2
            consumer.assign(todo)
            for tp in todo:
                consumer.resume(tp)
                consumer.seek(tp, lo[tp])
            active = set(todo)
            while active and self._budget_left():
                records = await consumer.poll(self.POLL, max_records=500)
                for r in records:
                    tp = TopicPartition(r.topic, r.partition)
                    if tp in active and r.offset < hi[tp] and self._match(r):
                        count[tp] += 1
                        self.matched += 1
                        item = (r.timestamp, r.partition, r.offset, r)
                        if len(kept) < limit:
                            heapq.heappush(kept, item)
                        elif item[:3] > kept[0][:3]:
                            heapq.heapreplace(kept, item)
                for tp in list(active):
                    if await consumer.position(tp) >= hi[tp]:
                        active.discard(tp)
                        consumer.pause(tp)
                if time.monotonic() - last_progress > 0.5:
                    last_progress = time.monotonic()
                    yield self._progress()
        newest = sorted(kept, key=lambda item: item[:3], reverse=True)
        self.matched = len(newest)
        for item in newest:
            yield {"type": "record", "record": item[3]}
        yield self._done(None)
