"""Transactions on a broker: the transaction coordinator's runtime, markers, verification, timers.

:class:`TransactionService` owns the :class:`TransactionCoordinator` state machine and its
``__transaction_state`` runtime, and does what the state machine asks of the world:

- writes each transition and applies it once committed (:meth:`TransactionService.write`);
- finishes decided transactions: writes the COMMIT/ABORT markers to every partition of the
  transaction (locally, or with WriteTxnMarkers to the partitions' leaders), then the Complete
  state (:meth:`TransactionService.finish`), retrying until done or until it stops coordinating
  the id (a new coordinator finishes it from the log);
- answers KIP-890 verification for transactional produce (:meth:`verify`), locally or by asking the
  coordinating broker with AddPartitionsToTxn v4 ``verify_only``;
- writes markers it is sent (:meth:`write_markers`): WriteTxnMarkers from a coordinator or an
  operator's abort; a marker on a ``__consumer_offsets`` partition makes the group coordinator
  commit or drop that producer's pending offsets;
- aborts timed-out transactions (``transaction.abort.timed.out.transaction.cleanup.interval.ms``),
  expires idle ids (``transactional.id.expiration.ms``) and idle producers of every partition
  (``producer.id.expiration.ms``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..client.connection import BrokerConnection
from ..coordinator.coordinator import OFFSETS_TOPIC
from ..coordinator.transactions import TransactionCoordinator, Transition, TxnConfig
from ..coordinator.txn_records import TXN_TOPIC
from ..faults import crash_point
from ..protocol.errors import ErrorCode, KafkaError
from .runtime import CoordinatorRuntime
from .waiting import wait_until

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger("odradek.transactions")

MARKER_TIMEOUT_S = 5.0
FINISH_WAIT_S = 5.0  # how long EndTxn waits for the markers before answering anyway
# Marker errors after which the partition is done with (Kafka's TransactionMarkerRequestCompletionHandler)
_MARKER_DONE = (ErrorCode.none, ErrorCode.unsupported_for_message_format, ErrorCode.unsupported_version)
_MARKER_STOP = (ErrorCode.invalid_producer_epoch, ErrorCode.transaction_coordinator_fenced)


class TransactionService:
    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        cfg = broker.config
        self.coordinator = tc = TransactionCoordinator(
            TxnConfig(
                num_partitions=cfg.get("transaction.state.log.num.partitions"),
                max_timeout_ms=cfg.get("transaction.max.timeout.ms"),
                id_expiration_ms=cfg.get("transactional.id.expiration.ms"),
            ),
            allocate_producer_id=lambda: broker.store.allocate_producer_id(),
        )

        def topic_configs() -> dict[str, str]:
            return {"cleanup.policy": "compact", "compression.type": "uncompressed",
                    "segment.bytes": str(cfg.get("transaction.state.log.segment.bytes")),
                    "unclean.leader.election.enable": "false"}

        self.runtime = CoordinatorRuntime(
            broker, TXN_TOPIC,
            num_partitions=lambda: cfg.get("transaction.state.log.num.partitions"),
            replication_factor=lambda: cfg.get("transaction.state.log.replication.factor"),
            topic_configs=topic_configs(),
            partition_for=tc.partition_for,
            on_load=tc.load_partition,
            on_record=lambda _p, key, value, _pid, _txn: tc.replay(key, value),
            on_loaded=self._loaded,
            on_unload=tc.unload_partition,
            min_insync=self._min_insync,
        )
        self.finishing: dict[str, asyncio.Task] = {}
        self._conns: dict[int, BrokerConnection] = {}

    def _min_insync(self) -> int:
        """transaction.state.log.min.isr, capped at the topic's replication factor (one node works)."""
        meta = self.broker.store.topics().get(TXN_TOPIC)
        rf = len(next(iter(meta.partitions.values())).replicas) if meta and meta.partitions else 1
        return max(1, min(self.broker.config.get("transaction.state.log.min.isr"), rf))

    def start(self) -> list[asyncio.Task]:
        return [asyncio.create_task(self._timers())]

    # --- the coordinator's writes -----------------------------------------------------------------

    async def write(self, t: Transition) -> ErrorCode | None:
        """Write ``t`` and apply it once committed (abandon it when the write failed)."""
        err = await self.runtime.write([t.record()])
        if err is None:
            self.coordinator.apply(t)
            if t.fence or t.state.name.startswith("PREPARE"):
                crash_point("txn-prepared")
                self.finish(t.transactional_id)
        else:
            self.coordinator.abandon(t)
        return err

    def _loaded(self, partition: int) -> None:
        tc = self.coordinator
        tc.loaded_partition(partition)
        for tid in tc.prepared(partition):  # decided before the last coordinator stopped
            self.finish(tid)

    def finish(self, transactional_id: str) -> asyncio.Task:
        """Write the markers of a decided transaction, then its Complete state (one task per id)."""
        task = self.finishing.get(transactional_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._finish(transactional_id))
            self.finishing[transactional_id] = task
            task.add_done_callback(lambda _t, tid=transactional_id: self._finished(tid, _t))
        return task

    def _finished(self, transactional_id: str, task: asyncio.Task) -> None:
        if self.finishing.get(transactional_id) is task:
            del self.finishing[transactional_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("finishing transaction %s failed: %r", transactional_id, task.exception())

    async def _finish(self, transactional_id: str) -> None:
        tc = self.coordinator
        backoff = 0.05
        while True:
            info = tc.markers_to_write(transactional_id)
            if info is None or tc.owns(transactional_id) is not None:
                return
            pid, epoch, commit, partitions = info
            coordinator_epoch = tc.coordinator_epoch(transactional_id)

            def still_mine() -> bool:
                return (tc.owns(transactional_id) is None and tc.coordinator_epoch(transactional_id) == coordinator_epoch
                        and tc.markers_to_write(transactional_id) == info)

            if not await self.send_markers(pid, epoch, commit, coordinator_epoch, partitions, still_mine):
                return
            t = tc.complete(transactional_id)
            if t is None:
                return
            err = await self.runtime.write([t.record()])
            if err is None:
                tc.apply(t)
                return
            tc.abandon(t)
            log.warning("writing the end of transaction %s failed (%s); retrying", transactional_id, err.name)
            await asyncio.sleep(backoff)  # retry backoff, not a wait for state
            backoff = min(backoff * 2, 2.0)

    # --- markers --------------------------------------------------------------------------------

    async def send_markers(self, pid: int, epoch: int, commit: bool, coordinator_epoch: int,
                           partitions, still_mine) -> bool:
        """Write the marker to every partition (their leaders, here or elsewhere) until each is
        done; False when the coordinator should stop (no longer its transaction, or fenced)."""
        broker = self.broker
        remaining = set(partitions)
        backoff = 0.02
        while remaining:
            if not still_mine():
                return False
            topics = broker.store.topics()
            by_leader: dict[int, list[tuple[str, int]]] = {}
            for tp in list(remaining):
                meta = topics.get(tp[0])
                st = meta.partitions.get(tp[1]) if meta is not None else None
                if st is None:
                    remaining.discard(tp)  # deleted: nothing to mark
                    continue
                if st.leader >= 0:
                    by_leader.setdefault(st.leader, []).append(tp)
            for leader, tps in by_leader.items():
                if leader == broker.broker_id:
                    results = await self.write_markers([(pid, epoch, commit, coordinator_epoch, tps)])
                    codes = results[0]
                else:
                    codes = await self._remote_markers(leader, pid, epoch, commit, coordinator_epoch, tps)
                for tp, code in codes.items():
                    if code in _MARKER_DONE:
                        remaining.discard(tp)
                    elif code in _MARKER_STOP:
                        log.warning("marker for producer %d on %s-%d refused: %s; the coordinator stops",
                                    pid, tp[0], tp[1], ErrorCode(code).name)
                        return False
            if remaining:
                await asyncio.sleep(backoff)  # retry backoff while leaders move, not a wait for state
                backoff = min(backoff * 2, 1.0)
        return True

    async def _remote_markers(self, leader: int, pid: int, epoch: int, commit: bool, coordinator_epoch: int,
                              tps: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        by_topic: dict[str, list[int]] = {}
        for t, p in tps:
            by_topic.setdefault(t, []).append(p)
        req = {"markers": [{"producer_id": pid, "producer_epoch": epoch, "transaction_result": commit,
                            "topics": [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()],
                            "coordinator_epoch": coordinator_epoch}]}
        try:
            resp = await self._request(leader, 27, 1, req)
        except (ConnectionError, OSError, asyncio.TimeoutError, KafkaError) as e:
            log.debug("WriteTxnMarkers to broker %d: %s", leader, e)
            return {tp: ErrorCode.not_leader_or_follower for tp in tps}
        out = {}
        for m in resp.markers:
            for t in m.topics:
                for p in t.partitions:
                    out[(t.name, p.partition_index)] = ErrorCode(p.error_code)
        return out

    async def _request(self, broker_id: int, api_key: int, version: int, data: dict):
        conn = self._conns.get(broker_id)
        if conn is None or conn.closed:
            client = self.broker.security.client_settings
            live = self.broker.store.live_brokers(client["listener"])
            info = live.get(broker_id) if live else None
            if info is None:
                raise ConnectionError(f"broker {broker_id} is not registered")
            conn = await BrokerConnection(info[0], info[1], client_id=f"odradek-txn-{self.broker.broker_id}",
                                          timeout=30, ssl=client["ssl"], sasl=client["sasl"]).connect(negotiate=False)
            self._conns[broker_id] = conn
        try:
            return await conn.request(api_key, version, data)
        except BaseException:
            self._conns.pop(broker_id, None)
            await conn.close()
            raise

    async def write_markers(self, markers) -> list[dict[tuple[str, int], ErrorCode]]:
        """Append markers to partitions led here and wait until each is committed. ``markers`` is a
        list of (producer id, epoch, commit, coordinator epoch, [(topic, partition)]); the result
        has one dict of partition -> error per marker."""
        broker = self.broker
        out = []
        for pid, epoch, commit, coordinator_epoch, tps in markers:
            codes: dict[tuple[str, int], ErrorCode] = {}
            waits = []
            for tp in tps:
                part = broker.partitions.get(tp)
                if part is None:
                    meta = broker.store.topics().get(tp[0])
                    known = meta is not None and tp[1] in meta.partitions
                    codes[tp] = ErrorCode.not_leader_or_follower if known else ErrorCode.unknown_topic_or_partition
                    continue
                try:
                    min_isr = broker.topic_config(tp[0])["min.insync.replicas"]
                    res, _done = part.append_marker(pid, epoch, commit, coordinator_epoch, min_insync=min_isr)
                except KafkaError as e:
                    codes[tp] = e.code
                    continue
                except OSError:
                    codes[tp] = ErrorCode.kafka_storage_error
                    continue
                waits.append((tp, part, res.last_offset))
                crash_point("txn-marker-written")
            for tp, part, last in waits:
                ok = await wait_until([part], lambda part=part, last=last: part.high_watermark > last or not part.is_leader,
                                      MARKER_TIMEOUT_S)
                if not ok:
                    codes[tp] = ErrorCode.request_timed_out
                elif not part.is_leader:
                    codes[tp] = ErrorCode.not_leader_or_follower
                else:
                    codes[tp] = ErrorCode.none
                    if tp[0] == OFFSETS_TOPIC and tp[1] in broker.group_runtime.loaded:
                        broker.coordinator.complete_txn(tp[1], pid, commit)
            out.append(codes)
        return out

    # --- KIP-890 verification -------------------------------------------------------------------

    async def verify(self, transactional_id: str, pid: int, epoch: int,
                     tps: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        """Whether the partitions are in ``transactional_id``'s ongoing transaction, asked of the
        coordinator (this broker or another)."""
        tc = self.coordinator
        if self.runtime.check(transactional_id) is None:
            return tc.verify(transactional_id, pid, epoch, tps)
        node = self.runtime.coordinator_node(transactional_id)
        if node is None:
            return {tp: ErrorCode.coordinator_not_available for tp in tps}
        if node[0] == self.broker.broker_id:
            err = self.runtime.check(transactional_id)
            return {tp: err or ErrorCode.not_coordinator for tp in tps}
        by_topic: dict[str, list[int]] = {}
        for t, p in tps:
            by_topic.setdefault(t, []).append(p)
        req = {"transactions": [{"transactional_id": transactional_id, "producer_id": pid, "producer_epoch": epoch,
                                 "verify_only": True,
                                 "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}]}
        try:
            resp = await self._request(node[0], 24, 4, req)
        except (ConnectionError, OSError, asyncio.TimeoutError, KafkaError) as e:
            log.debug("verification with broker %d: %s", node[0], e)
            return {tp: ErrorCode.coordinator_not_available for tp in tps}
        out = {tp: ErrorCode(resp.error_code) if resp.error_code else ErrorCode.invalid_txn_state for tp in tps}
        for r in resp.results_by_transaction:
            for t in r.topic_results:
                for p in t.results_by_partition:
                    out[(t.name, p.partition_index)] = ErrorCode(p.partition_error_code)
        return out

    # --- timers ---------------------------------------------------------------------------------

    async def _timers(self) -> None:
        cfg = self.broker.config
        abort_every = cfg.get("transaction.abort.timed.out.transaction.cleanup.interval.ms") / 1000
        expire_every = cfg.get("transaction.remove.expired.transaction.cleanup.interval.ms") / 1000
        producers_every = cfg.get("producer.id.expiration.check.interval.ms") / 1000
        last_expire = last_producers = time.monotonic()
        while True:
            await asyncio.sleep(min(abort_every, expire_every, producers_every))
            try:
                for t in self.coordinator.timed_out():
                    log.info("transaction %s timed out after %d ms: aborting it", t.transactional_id, t.timeout_ms)
                    await self.write(t)
                now = time.monotonic()
                if now - last_expire >= expire_every:
                    last_expire = now
                    for t in self.coordinator.expired():
                        await self.write(t)
                if now - last_producers >= producers_every:
                    last_producers = now
                    self.expire_producers()
            except Exception:
                log.exception("transaction timers failed")

    def expire_producers(self) -> int:
        """Forget producers idle longer than producer.id.expiration.ms (never one with an open
        transaction) in every partition here."""
        expiration = self.broker.config.get("producer.id.expiration.ms")
        now_ms = int(time.time() * 1000)
        n = 0
        for part in list(self.broker.partitions.values()):
            try:
                n += part.log.expire_producers(now_ms, expiration)
            except KafkaError:
                pass
        return n

    async def close(self) -> None:
        for task in list(self.finishing.values()):
            task.cancel()
        for conn in list(self._conns.values()):
            await conn.close()
        self._conns.clear()
