"""A broker in a ZooKeeper cluster: registration, following the partition states, replica
fetchers, ISR upkeep, the controller's duties, and controlled shutdown.

Every change in ZooKeeper leads to :meth:`ClusterManager.reconcile` on the event loop, which makes
each local partition leader or follower as its state says, and starts, moves or stops the fetchers
that copy leaders' logs here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ..client.connection import BrokerConnection
from ..coordinator.coordinator import OFFSETS_TOPIC
from ..coordinator.txn_records import TXN_TOPIC
from ..metadata.controller import Controller
from ..protocol import records
from ..protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from ..metadata.zk_store import ZooKeeperStore
    from ..replication.partition import Partition
    from .broker import Broker

log = logging.getLogger("odradek.cluster")

FETCH_VERSION = 12
INITIAL_SESSION_EPOCH, FINAL_SESSION_EPOCH = 0, -1
ERROR_BACKOFF_S = 0.1  # a partition the leader answered with an error is asked again after this
INTERNAL_TOPICS = (OFFSETS_TOPIC, TXN_TOPIC)
EPOCH_VERSION = 3


class ReplicaFetcher:
    """Copies the partitions this broker follows from one leader, with Fetch as a replica.

    It fetches in an incremental fetch session (KIP-227), as Kafka's followers do: the first
    request names every partition, later ones only those whose fetch position changed (and the
    ones to forget), and the leader answers only for partitions with something new. A follower
    of thousands of idle partitions then sends and decodes almost nothing twice a second. A
    partition the leader answers with an error waits :data:`ERROR_BACKOFF_S` before it is
    fetched again (until metadata moves it), instead of every fetch returning at once.
    """

    def __init__(self, manager: "ClusterManager", leader_id: int) -> None:
        self.manager = manager
        self.broker = manager.broker
        self.leader_id = leader_id
        self.partitions: dict[tuple[str, int], bool] = {}  # key -> needs truncation first
        self.delayed: dict[tuple[str, int], float] = {}  # key -> not fetched before (monotonic)
        self.task: asyncio.Task | None = None
        self.conn: BrokerConnection | None = None
        self.wake = asyncio.Event()
        self.stopped = False
        self._reset_session()

    def _reset_session(self) -> None:
        self.session_id = 0
        self.session_epoch = INITIAL_SESSION_EPOCH
        self.sent: dict[tuple[str, int], tuple[int, int, int]] = {}  # what the session holds per partition

    def add(self, key: tuple[str, int]) -> None:
        self.partitions[key] = True
        self.delayed.pop(key, None)
        self.wake.set()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def remove(self, key: tuple[str, int]) -> None:
        self.partitions.pop(key, None)
        self.delayed.pop(key, None)

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
        if self.conn is not None:
            await self.conn.close()  # fails what is in flight: the loop sees ``stopped`` at once
        if self.task is not None:
            done, _ = await asyncio.wait({self.task}, timeout=5.0)
            if not done:
                log.warning("replica fetcher from broker %d did not stop in 5 s", self.leader_id)

    async def _connect(self) -> BrokerConnection:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        client = self.broker.security.client_settings
        info = self.manager.store.live_brokers(client["listener"]).get(self.leader_id)
        if info is None:
            raise ConnectionError(f"leader {self.leader_id} is not registered")
        self.conn = await BrokerConnection(info[0], info[1], client_id=f"odradek-replica-{self.broker.broker_id}",
                                           timeout=30, ssl=client["ssl"], sasl=client["sasl"]).connect(negotiate=False)
        return self.conn

    async def _run(self) -> None:
        backoff = 0.05
        while not self.stopped:
            if not self.partitions:
                self.wake.clear()
                await self.wake.wait()
                continue
            try:
                conn = await self._connect()
                await self._truncate(conn)
                await self._fetch(conn)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (ConnectionError, OSError, asyncio.TimeoutError, KafkaError) as e:
                log.debug("fetcher from %d: %s", self.leader_id, e)
                self._reset_session()
                if self.conn is not None:
                    await self.conn.close()
                    self.conn = None
                await asyncio.sleep(backoff)  # retry backoff, not a wait for state
                backoff = min(backoff * 2, 1.0)
            except Exception:
                log.exception("replica fetcher from broker %d failed", self.leader_id)
                self._reset_session()
                await asyncio.sleep(1.0)

    async def _truncate(self, conn: BrokerConnection) -> None:
        """OffsetForLeaderEpoch for partitions that just started following: cut divergent tails."""
        todo = [k for k, need in self.partitions.items() if need]
        if not todo:
            return
        by_topic: dict[str, list] = {}
        for t, p in todo:
            part = self.broker.partitions.get((t, p))
            if part is None:
                self.partitions.pop((t, p), None)
                continue
            by_topic.setdefault(t, []).append({"partition": p, "current_leader_epoch": part.leader_epoch,
                                               "leader_epoch": part.epochs.latest_epoch})
        if not by_topic:
            return
        resp = await conn.request(23, EPOCH_VERSION, {"replica_id": self.broker.broker_id, "topics": [
            {"topic": t, "partitions": ps} for t, ps in by_topic.items()]})
        for t in resp.topics:
            for p in t.partitions:
                key = (t.topic, p.partition)
                part = self.broker.partitions.get(key)
                if part is None or key not in self.partitions:
                    continue
                if p.error_code != ErrorCode.none:
                    continue  # retried on the next round
                if p.end_offset >= 0 and p.leader_epoch >= 0:
                    part.truncate_to(min(p.end_offset, part.log_end_offset))
                else:
                    part.truncate_to(part.high_watermark)
                self.partitions[key] = False

    async def _fetch(self, conn: BrokerConnection) -> None:
        now = time.monotonic()
        if self.delayed:
            for key in [k for k, until in self.delayed.items() if until <= now]:
                del self.delayed[key]
        ready = [k for k, need in self.partitions.items() if not need and k not in self.delayed]
        if not ready:
            self._forget_all()
            await asyncio.sleep(0.05)
            return
        full = self.session_epoch in (INITIAL_SESSION_EPOCH, FINAL_SESSION_EPOCH)
        by_topic: dict[str, list] = {}
        sending: dict[tuple[str, int], tuple[int, int, int]] = {}
        ready_set = set()
        for key in ready:
            part = self.broker.partitions.get(key)
            if part is None:
                self.partitions.pop(key, None)
                continue
            ready_set.add(key)
            position = (part.log_end_offset, part.leader_epoch, part.log_start_offset)
            if full or self.sent.get(key) != position:
                sending[key] = position
                by_topic.setdefault(key[0], []).append({
                    "partition": key[1], "current_leader_epoch": position[1], "fetch_offset": position[0],
                    "last_fetched_epoch": -1, "log_start_offset": position[2], "partition_max_bytes": 1 << 20,
                })
        forgotten: dict[str, list[int]] = {}
        if not full:
            for key in self.sent:
                if key not in ready_set:
                    forgotten.setdefault(key[0], []).append(key[1])
        resp = await conn.request(1, FETCH_VERSION, {
            "replica_id": self.broker.broker_id, "max_wait": 500, "min_bytes": 1, "max_bytes": 10 << 20,
            "isolation_level": 0, "session_id": self.session_id, "session_epoch": self.session_epoch,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
            "forgotten_topics_data": [{"topic": t, "partitions": ps} for t, ps in forgotten.items()],
        })
        if resp.error_code in (ErrorCode.fetch_session_id_not_found, ErrorCode.invalid_fetch_session_epoch):
            self._reset_session()  # the leader dropped our session: start a new one
            return
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code)
        # the session now holds what was sent
        if full:
            self.sent = {}
        for t, ps in forgotten.items():
            for p in ps:
                self.sent.pop((t, p), None)
        self.sent.update(sending)
        if resp.session_id:
            self.session_id = resp.session_id
            self.session_epoch = 1 if full else (self.session_epoch + 1 if self.session_epoch < 0x7FFFFFFF else 1)
        else:
            # the leader keeps no session for us (cache off or full): full fetches, no session
            self.session_id, self.session_epoch = 0, FINAL_SESSION_EPOCH
        for t in resp.responses:
            for p in t.partitions:
                key = (t.topic, p.partition_index)
                part = self.broker.partitions.get(key)
                if part is None or key not in self.partitions or part.is_leader:
                    continue
                err = p.error_code
                if err == ErrorCode.none:
                    buf = p.records
                    if buf:
                        # stored as received: offsets and epochs are the leader's, nothing is patched
                        try:
                            batches = records.scan(buf, verify_crc=True)
                        except KafkaError as e:
                            log.error("corrupt data from leader %d for %s-%d: %s", self.leader_id, *key, e)
                            continue
                        if batches and batches[0].base_offset != part.log_end_offset:
                            self.partitions[key] = True  # out of step: truncate again
                            continue
                        part.append_replicated(buf, batches, p.high_watermark)
                        self.manager.replication_bytes_in += len(buf)
                    else:
                        part.update_follower_hw(p.high_watermark)
                elif err == ErrorCode.offset_out_of_range:
                    if part.log_end_offset < p.log_start_offset:
                        part.log.truncate_fully_and_start_at(p.log_start_offset)
                        part.epochs.clear()
                    else:
                        self.partitions[key] = True
                elif err in (ErrorCode.not_leader_or_follower, ErrorCode.fenced_leader_epoch,
                             ErrorCode.unknown_leader_epoch, ErrorCode.unknown_topic_or_partition):
                    # metadata will move us (or the leader will learn its new epoch): ask again
                    # shortly, not in a tight loop
                    self.delayed[key] = time.monotonic() + ERROR_BACKOFF_S
                else:
                    log.warning("fetch of %s-%d from %d: %s", *key, self.leader_id, ErrorCode(err).name)
                    self.delayed[key] = time.monotonic() + ERROR_BACKOFF_S

    def _forget_all(self) -> None:
        """Nothing to fetch: the session (if any) is left to expire; the next fetch starts anew."""
        if self.sent:
            self._reset_session()


class ClusterManager:
    def __init__(self, broker: "Broker", store: "ZooKeeperStore") -> None:
        self.broker = broker
        self.store = store
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self.following: dict[tuple[str, int], int] = {}
        cfg = broker.config
        self.controller = Controller(store, broker.broker_id,
                                     lambda t: bool(broker.topic_config(t).get("unclean.leader.election.enable")))
        self.lag_max_ms = cfg.get("replica.lag.time.max.ms")
        self.tasks: list[asyncio.Task] = []
        # totals read by the metrics (kafka_server_replicamanager_isr*, replicationbytesin)
        self.isr_shrinks = self.isr_expands = self.failed_isr_updates = 0
        self.replication_bytes_in = 0
        self._expand: dict[tuple[str, int], set[int]] = {}  # partition -> followers that may join its ISR
        self._expand_scheduled = False
        self.shutting_down = False
        self._reconcile_scheduled = False

    async def start(self) -> None:
        self.store.subscribe(self.schedule_reconcile)
        self.store.register_broker(
            self.broker.advertised_host, self.broker.advertised_port,
            endpoints=[(lst.name, lst.protocol, lst.advertised_host, lst.advertised_port) for lst in self.broker.listeners],
        )
        self.store.refresh()
        self.reconcile()
        self.tasks.append(asyncio.create_task(self._isr_loop()))
        self.tasks.append(asyncio.create_task(self._preferred_leader_loop()))

    def schedule_reconcile(self) -> None:
        if not self._reconcile_scheduled:
            self._reconcile_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_reconcile)

    def _run_reconcile(self) -> None:
        self._reconcile_scheduled = False
        try:
            self.reconcile()
        except Exception:
            log.exception("reconciling with ZooKeeper failed")

    def reconcile(self) -> None:
        """Make local partitions match ZooKeeper. Only what changed since the last reconcile is
        looked at (the store says which topics and partitions), unless the store asks for a full
        pass (first read, new ZooKeeper session)."""
        broker = self.broker
        started = time.monotonic()
        changes = self.store.take_changes()
        if not self.shutting_down and self.controller.elect():
            self.controller.on_change(changes)
        changes.merge(self.store.take_changes())  # the controller's own writes
        topics = self.store.topics()
        if changes.full:
            keys = {(name, p) for name, meta in topics.items() for p in meta.partitions}
            keys |= set(broker.partitions)
        else:  # and the local partitions of a changed topic (a deleted one is no longer listed)
            keys = changes.partition_keys(topics) | {k for k in broker.partitions if k[0] in changes.topics}
        became_leader: list[tuple[str, int]] = []
        lost_leader: list[tuple[str, int]] = []
        gone: list[tuple[str, int]] = []
        for key in keys:
            name, p = key
            meta = topics.get(name)
            st = meta.partitions.get(p) if meta is not None else None
            if st is None or broker.broker_id not in st.replicas:
                if key in broker.partitions:
                    gone.append(key)
                continue
            self._reconcile_partition(meta, st, became_leader, lost_leader)
        for name in {k[0] for k in gone if k[0] not in topics}:
            broker.forget_topic_offsets(name)
        for key in gone:
            # deleted, or no longer assigned here (reassigned away): the copy goes
            self._unfollow(key)
            broker.drop_partition(key, delete_log=True)
        for t, p in lost_leader:
            broker.coordinator_partition_changed(t, p, leader=False)
        for t, p in became_leader:
            broker.coordinator_partition_changed(t, p, leader=True)
        if changes.full or changes.configs:
            broker.apply_dynamic_configs()
        elif changes.topics:
            broker.apply_dynamic_configs(changes.topics)
        broker.metadata_changed()
        took = time.monotonic() - started
        if len(keys) >= 100 or took >= 0.5:
            log.info("reconciled %d partition(s) with ZooKeeper in %.2f s (%d gone from here)", len(keys), took, len(gone))

    def _reconcile_partition(self, meta, st, became_leader: list, lost_leader: list) -> None:
        broker = self.broker
        me = broker.broker_id
        name = meta.name
        key = (name, st.partition)
        part = broker.partitions.get(key)
        if part is None:
            part = broker._open_partition(meta, st)
            was_leader = False
        else:
            was_leader = part.is_leader
        part.zk_version = st.version
        if st.leader == me:
            if not was_leader or part.leader_epoch != st.leader_epoch or part.isr != st.isr:
                part.become_leader(st.leader_epoch, st.isr, st.replicas)
            self._unfollow(key)
            if not was_leader and name in INTERNAL_TOPICS:
                became_leader.append(key)
        else:
            if was_leader or part.leader != st.leader or part.leader_epoch != st.leader_epoch:
                part.become_follower(st.leader, st.leader_epoch, st.isr, st.replicas)
                self._unfollow(key)
                if was_leader and name in INTERNAL_TOPICS:
                    lost_leader.append(key)
            else:
                part.isr = list(st.isr)
            if st.leader >= 0 and st.leader != me and self.following.get(key) != st.leader:
                self._follow(key, st.leader)
            elif st.leader < 0:
                self._unfollow(key)

    def _follow(self, key: tuple[str, int], leader: int) -> None:
        self._unfollow(key)
        if self.shutting_down:
            return  # a stopping broker copies nothing more: leaders would take it back into the ISR
        f = self.fetchers.get(leader)
        if f is None:
            f = self.fetchers[leader] = ReplicaFetcher(self, leader)
        f.add(key)
        self.following[key] = leader

    def _unfollow(self, key: tuple[str, int]) -> None:
        leader = self.following.pop(key, None)
        if leader is not None and leader in self.fetchers:
            self.fetchers[leader].remove(key)

    # --- ISR upkeep (as leader) -----------------------------------------------------------------

    async def _isr_loop(self) -> None:
        interval = max(min(self.lag_max_ms / 2000, 1.0), 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                changes = []
                for part in list(self.broker.partitions.values()):
                    if not part.is_leader:
                        continue
                    shrink = part.isr_to_shrink(self.lag_max_ms)
                    if shrink:
                        changes.append((part, [r for r in part.isr if r not in shrink]))
                if changes:
                    self.change_isrs(changes)
            except Exception:
                log.exception("ISR upkeep failed")

    def maybe_expand_isr(self, part: "Partition", replica_id: int) -> None:
        """``replica_id`` fetched and may have caught up: the expansions found while serving
        fetches are written together, once the fetches in hand are served (a follower catching up
        on a thousand partitions costs one batch of writes, not a thousand round trips). Only the
        follower that fetched, and only a live broker, joins (Kafka's rule): a broker that died
        caught up must not be put back by another follower's fetch."""
        if part.isr_to_expand({replica_id}):
            self._expand.setdefault(part.key, set()).add(replica_id)
            if not self._expand_scheduled:
                self._expand_scheduled = True
                asyncio.get_running_loop().call_soon(self._expand_now)

    def _expand_now(self) -> None:
        self._expand_scheduled = False
        pending, self._expand = self._expand, {}
        live = set(self.store.live_brokers())
        topics = self.store.topics()
        changes = []
        for key, fetched in pending.items():
            part = self.broker.partitions.get(key)
            meta = topics.get(key[0])
            st = meta.partitions.get(key[1]) if meta is not None else None
            # A replica a reassignment is removing does not join again: the controller may have
            # written the ISR without it while this leader still has the old replica list.
            eligible = fetched & live - set(st.removing if st is not None else ())
            add = part.isr_to_expand(eligible) if part is not None and eligible else None
            if add:
                changes.append((part, part.isr + [r for r in add if r not in part.isr]))
        if changes:
            try:
                self.change_isrs(changes)
            except Exception:
                log.exception("ISR expansion failed")

    def change_isr(self, part: "Partition", new_isr: list[int]) -> None:
        self.change_isrs([(part, new_isr)])

    def change_isrs(self, changes: list[tuple["Partition", list[int]]]) -> None:
        """Write ISR changes as leader, all at once (pipelined compare-and-sets); a partition
        whose race is lost is decided again by the next reconcile."""
        me = self.broker.broker_id
        topics = self.store.topics()
        batch = []
        for part, new_isr in changes:
            meta = topics.get(part.topic)
            st = meta.partitions.get(part.index) if meta else None
            if st is None or st.leader != me or st.leader_epoch != part.leader_epoch:
                continue
            batch.append((part, st.isr, replace(st, isr=new_isr)))
        if not batch:
            return
        results = self.store.update_partition_states([(part.topic, new) for part, _old, new in batch])
        changed = 0
        for (part, old, new), ok in zip(batch, results):
            if ok:
                log.info("%s-%d: ISR %s -> %s", part.topic, part.index, old, new.isr)
                if len(new.isr) < len(old):
                    self.isr_shrinks += 1
                else:
                    self.isr_expands += 1
                part.zk_version = new.version
                part.set_isr(new.isr)
                changed += 1
            else:
                self.failed_isr_updates += 1
        if changed:
            self.broker.metadata_changed()

    # --- preferred leaders ----------------------------------------------------------------------

    async def _preferred_leader_loop(self) -> None:
        cfg = self.broker.config
        interval = cfg.get("leader.imbalance.check.interval.seconds")
        while True:
            await asyncio.sleep(interval)
            if self.controller.active and cfg.get("auto.leader.rebalance.enable") and not self.shutting_down:
                try:
                    self.controller.preferred_election()
                except Exception:
                    log.exception("preferred leader election failed")

    # --- shutdown -------------------------------------------------------------------------------

    async def controlled_shutdown(self, timeout: float = 10.0) -> None:
        """Move leadership off this broker and leave the ISRs before stopping."""
        self.shutting_down = True
        # Stop copying first. A follower that keeps fetching is caught up, and its leaders would put
        # it straight back into the ISRs it is leaving.
        await self._stop_fetchers()
        me = self.broker.broker_id
        live = set(self.store.live_brokers()) - {me}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = []
            for name, meta in list(self.store.topics().items()):
                for st in list(meta.partitions.values()):
                    if me not in st.isr and st.leader != me:
                        continue
                    others = [r for r in st.replicas if r in st.isr and r in live and r != me]
                    if st.leader == me:
                        if not others:
                            continue  # nobody to hand it to: it goes offline with us
                        new = replace(st, leader=others[0], leader_epoch=st.leader_epoch + 1, isr=[r for r in st.isr if r != me])
                    else:
                        new = replace(st, isr=[r for r in st.isr if r != me], leader_epoch=st.leader_epoch + 1)
                    batch.append((name, new))
            # every leadership and ISR change of this broker written at once (pipelined)
            pending = len(batch) - sum(self.store.update_partition_states(batch)) if batch else 0
            if pending == 0:
                break
            await asyncio.sleep(0.1)  # lost compare-and-set races: re-read and retry
        else:
            log.warning("controlled shutdown: %d partition(s) still list this broker after %.1f s", pending, timeout)
        if self.controller.active:
            self.store.resign_controller()
        self.reconcile()

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self._stop_fetchers()

    async def _stop_fetchers(self) -> None:
        for f in list(self.fetchers.values()):
            await f.stop()
        self.fetchers.clear()
        self.following.clear()

