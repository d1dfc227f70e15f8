"""The coordinator runtime: persistence, replay and "answer after commit" for the coordinators.

Both coordinators (groups in ``__consumer_offsets``, transactions in ``__transaction_state``) are
state machines that know nothing of logs or sockets. One :class:`CoordinatorRuntime` per internal
topic does the rest, as Kafka's CoordinatorRuntime does:

- creates the internal topic on first use (its partition count, replication factor capped at the
  live brokers, compacted);
- tells which broker coordinates a key (the leader of the key's partition);
- appends the records a coordinator returns to the partition it leads, as one batch, and waits
  until the high watermark passes them (committed) before the caller answers; writes to one topic
  go one at a time, so records are written in the order they were decided;
- replays a partition into its coordinator when this broker becomes its leader (``on_record`` per
  record, ``on_marker`` per transaction marker, with the batch's producer), and forgets it when
  leadership goes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Callable, Iterable

from ..protocol import records as records_mod
from ..protocol.errors import ErrorCode, KafkaError
from .waiting import wait_until

if TYPE_CHECKING:
    from ..metadata.store import TopicMeta
    from ..replication.partition import Partition
    from .broker import Broker

log = logging.getLogger("odradek.runtime")

COMMIT_TIMEOUT_S = 5.0
# Errors of an internal append, as a coordinator's clients should see them (Kafka's mapping).
_APPEND_ERRORS = {
    ErrorCode.unknown_topic_or_partition: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas: ErrorCode.coordinator_not_available,
    ErrorCode.not_enough_replicas_after_append: ErrorCode.coordinator_not_available,
    ErrorCode.request_timed_out: ErrorCode.coordinator_not_available,
    ErrorCode.not_leader_or_follower: ErrorCode.not_coordinator,
    ErrorCode.kafka_storage_error: ErrorCode.not_coordinator,
}

Record = tuple[int, bytes, "bytes | None"]  # (partition, key, value)


class CoordinatorRuntime:
    def __init__(
        self,
        broker: "Broker",
        topic: str,
        *,
        num_partitions: Callable[[], int],
        replication_factor: Callable[[], int],
        topic_configs: dict[str, str],
        partition_for: Callable[[str], int],
        on_load: Callable[[int, int], None],
        on_record: Callable[[int, bytes | None, bytes | None, int, bool], None],
        on_loaded: Callable[[int], None],
        on_unload: Callable[[int], None],
        on_marker: Callable[[int, int, bool], None] | None = None,
        min_insync: Callable[[], int] | None = None,
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.topic_configs = topic_configs
        self.partition_for = partition_for
        self.on_load = on_load  # (partition, coordinator epoch): a load starts
        self.on_record = on_record  # (partition, key, value, producer id, transactional)
        self.on_loaded = on_loaded  # (partition): replayed, serve it
        self.on_unload = on_unload  # (partition): leadership gone
        self.on_marker = on_marker  # (partition, producer id, commit)
        self.min_insync = min_insync or (lambda: 1)
        self.lock = asyncio.Lock()
        self.loaded: set[int] = set()

    # --- the topic and who coordinates ----------------------------------------------------------

    def ensure_topic(self) -> "TopicMeta | None":
        broker = self.broker
        meta = broker.store.topics().get(self.topic)
        if meta is not None:
            return meta
        rf = min(self.replication_factor(), len(broker.live_brokers()))
        try:
            return broker.create_topic(self.topic, self.num_partitions(), rf, dict(self.topic_configs), internal=True)
        except KafkaError as e:
            if e.code != ErrorCode.topic_already_exists:
                log.error("cannot create %s: %s", self.topic, e)
            return broker.store.topics().get(self.topic)

    def coordinator_node(self, key: str, listener: str | None = None) -> tuple[int, str, int] | None:
        """(broker id, host, port) of the broker coordinating ``key`` (its endpoint for ``listener``),
        or None (not available)."""
        meta = self.ensure_topic()
        if meta is None:
            return None
        st = meta.partitions.get(self.partition_for(key))
        if st is None or st.leader < 0:
            return None
        for b, h, p, _r in self.broker.live_brokers(listener):
            if b == st.leader:
                return b, h, p
        return None

    def check(self, key: str) -> ErrorCode | None:
        """None when this broker coordinates ``key`` (and has loaded it), else the error."""
        if self.broker.store.topics().get(self.topic) is None:
            self.ensure_topic()
        p = self.partition_for(key)
        part = self.broker.partitions.get((self.topic, p))
        if part is None or not part.is_leader:
            return ErrorCode.not_coordinator
        if p not in self.loaded:
            # led here but not replayed yet (a partition of a topic just created, or one whose
            # leadership came before this broker noticed): replay it now
            self.load(p)
            if p not in self.loaded:
                return ErrorCode.coordinator_load_in_progress
        return None

    def partition(self, p: int) -> "Partition | None":
        part = self.broker.partitions.get((self.topic, p))
        return part if part is not None and part.is_leader else None

    # --- writes ---------------------------------------------------------------------------------

    async def write(self, records: Iterable[Record], *, producer_id: int = -1, producer_epoch: int = -1,
                    transactional: bool = False) -> ErrorCode | None:
        """Append ``records`` (one batch per partition) and wait until committed; None or the error.
        Writes to this topic go one at a time."""
        async with self.lock:
            return await self._write(list(records), producer_id, producer_epoch, transactional)

    async def _write(self, records: list[Record], producer_id: int, producer_epoch: int,
                     transactional: bool) -> ErrorCode | None:
        from ..protocol.record_codec import build_batch

        if not records:
            return None
        by_part: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for p, k, v in records:
            by_part.setdefault(p, []).append((k, v))
        error: ErrorCode | None = None
        waits = []
        for p, recs in by_part.items():
            part = self.partition(p)
            if part is None:
                error = ErrorCode.not_coordinator
                continue
            buf = bytearray(build_batch(recs, producer_id=producer_id, producer_epoch=producer_epoch,
                                        base_sequence=-1, is_transactional=transactional))
            try:
                res = part.append(buf, records_mod.scan(buf), acks=-1, min_insync=self.min_insync(),
                                  from_coordinator=True)
            except KafkaError as e:
                error = _APPEND_ERRORS.get(e.code, ErrorCode.unknown_server_error)
                continue
            except OSError as e:
                log.error("writing to %s-%d failed: %s", self.topic, p, e)
                error = ErrorCode.not_coordinator
                continue
            waits.append((part, res.last_offset))
        for part, last in waits:
            if not await wait_until([part], lambda part=part, last=last: part.high_watermark > last or not part.is_leader,
                                    COMMIT_TIMEOUT_S):
                error = ErrorCode.coordinator_not_available
            elif not part.is_leader:
                error = ErrorCode.not_coordinator
        return error

    # --- loading --------------------------------------------------------------------------------

    def load_all(self) -> None:
        meta = self.broker.store.topics().get(self.topic)
        if meta is None:
            return
        for p in sorted(meta.partitions):
            self.load(p)

    def load(self, p: int) -> None:
        """Become coordinator for partition ``p``: replay its whole log into the coordinator."""
        from ..protocol.control import parse_marker
        from ..protocol.record_codec import decode_batch

        part = self.partition(p)
        if part is None:
            return
        self.unload(p)
        self.on_load(p, part.leader_epoch)
        count = 0
        offset = part.log_start_offset
        end = part.log_end_offset  # the new leader's whole log: it never truncates it
        while offset < end:
            res = part.log.read(offset, 1 << 20, upper_bound=end, min_one=True)
            if not res.regions:
                break
            data = b"".join(os.pread(r.file.fileno(), r.size, r.position) for r in res.regions)
            pos = 0
            while pos < len(data):
                h = records_mod.read_header(data, pos)
                batch = memoryview(data)[pos : pos + h.size]
                if h.is_control:
                    marker = parse_marker(h, batch)
                    if marker is not None and self.on_marker is not None:
                        self.on_marker(p, h.producer_id, marker.commit)
                else:
                    _, recs = decode_batch(data, pos, verify_crc=False)
                    for r in recs:
                        self.on_record(p, r.key, r.value, h.producer_id, h.is_transactional)
                        count += 1
                pos += h.size
                offset = h.next_offset
        self.loaded.add(p)
        self.on_loaded(p)
        if count:
            log.info("loaded %d records from %s-%d", count, self.topic, p)

    def unload(self, p: int) -> None:
        self.loaded.discard(p)
        self.on_unload(p)
