"""The broker process: configuration, metadata, partitions on this broker, the listener, shutdown.

Owns the objects every API handler works on and the topic lifecycle (create, delete, add
partitions, change configs) as it touches both the metadata store and the logs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from dataclasses import replace
from typing import Any

from ..coordinator.coordinator import OFFSETS_TOPIC, CoordinatorConfig, GroupCoordinator
from ..coordinator.txn_records import TXN_TOPIC
from ..config import BrokerConfig, ConfigError, parse_topic_configs, to_log_config, validate_topic_name
from ..config_policy import dynamic_refusal, startup_warnings, unenforced_topic_keys
from ..log.config import LogConfig
from ..log.manager import LogManager
from ..metadata.store import EmbeddedStore, MetadataStore, PartitionState, TopicMeta
from ..protocol.errors import ErrorCode, KafkaError
from ..replication.partition import Partition
from . import apis  # noqa: F401  (registers the API handlers)
from .connection import Connection, FrameProtocol, TlsProtocol
from .fetch_sessions import FetchSessionCache
from .runtime import CoordinatorRuntime
from .limits import ConnectionLimits
from .security import SecurityManager
from .transactions import TransactionService

log = logging.getLogger("odradek.broker")

# Each partition is a directory with open files: like Kafka's controller, refuse to make more than
# this many in one request (POLICY_VIOLATION).
MAX_PARTITIONS_PER_REQUEST = 10000
CHECKPOINT_INTERVAL_S = 60.0  # Kafka's log.flush.offset.checkpoint.interval.ms
OFFSETS_RETENTION_CHECK_S = 600.0  # offsets.retention.check.interval.ms


class Broker:
    def __init__(self, config: BrokerConfig, store: MetadataStore | None = None) -> None:
        # Fail closed: a setting asking for protection Odradek does not give stops the start.
        for warning in startup_warnings(config.values):
            log.warning("%s", warning)
        self.config = config
        self.broker_id = config.broker_id
        # listeners with their TLS contexts and SASL mechanisms, the authorizer: a ConfigError when a
        # setting is wrong, before anything is written to disk
        self.security = SecurityManager(self)
        self.data_dir = config.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._topic_config_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._topic_ids: dict[str, str] = {}  # topic id -> name (see topic_by_id)
        self._topic_ids_version = -1
        self.zookeeper = config.get("zookeeper.connect")
        self.cluster = None  # ClusterManager when running on ZooKeeper
        if store is not None:
            self.store = store
        elif not self.zookeeper:
            self.store = EmbeddedStore(self.data_dir, config.get("cluster.id"))
        self._apply_dynamic_broker_configs() if hasattr(self, "store") else None
        self.logs = LogManager([self.data_dir], self._log_config({}))
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.listeners = list(self.security.listeners)
        # Prometheus metrics (metrics.listener); None when off, which every hook checks first
        from ..metrics import BrokerMetrics, parse_listener_url

        metrics_at = parse_listener_url(config.get("metrics.listener"))
        self.metrics: BrokerMetrics | None = BrokerMetrics(self, metrics_at) if metrics_at is not None else None
        self.limits = ConnectionLimits(self)
        first = self.listeners[0]
        self.listener_name, self.host, self.port = first.name, first.host, first.port
        self.advertised_host, self.advertised_port = first.advertised_host, first.advertised_port
        self.servers: list[asyncio.base_events.Server] = []
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[Connection] = set()
        self._stopping: asyncio.Event | None = None
        self._coordinator_wake: asyncio.Event | None = None
        self._persist_lock = asyncio.Lock()
        self.metadata_cache: dict[Any, bytes] = {}
        self.fetch_sessions = FetchSessionCache(self.config.get("max.incremental.fetch.session.cache.slots"))
        self.started_at = time.time()
        self.coordinator = GroupCoordinator(
            CoordinatorConfig(
                num_partitions=config.get("offsets.topic.num.partitions"),
                initial_rebalance_delay_ms=config.get("group.initial.rebalance.delay.ms"),
                min_session_timeout_ms=config.get("group.min.session.timeout.ms"),
                max_session_timeout_ms=config.get("group.max.session.timeout.ms"),
                offsets_retention_ms=config.get("offsets.retention.minutes") * 60000,
            )
        )
        c = self.coordinator
        self.group_runtime = CoordinatorRuntime(
            self, OFFSETS_TOPIC,
            num_partitions=lambda: config.get("offsets.topic.num.partitions"),
            replication_factor=lambda: config.get("offsets.topic.replication.factor"),
            topic_configs={"cleanup.policy": "compact", "segment.bytes": "104857600", "compression.type": "producer"},
            partition_for=c.partition_for,
            on_load=lambda p, _epoch: c.unload_partition(p),
            on_record=self._group_replay,
            on_loaded=lambda p: None,
            on_unload=c.unload_partition,
            on_marker=c.complete_txn,
        )
        self.txns = TransactionService(self)

    # --- configuration ------------------------------------------------------------------------

    def _apply_dynamic_broker_configs(self) -> None:
        self._topic_config_cache.clear()
        from ..config import BROKER

        scopes = self.store.broker_configs()
        self.config.dynamic = {}
        for scope in ("", str(self.broker_id)):
            for k, v in scopes.get(scope, {}).items():
                why = dynamic_refusal(k, v)
                if why:  # written to the store by something else than Odradek: fail closed
                    raise ConfigError(f"dynamic broker config in the metadata store: {why}")
                d = BROKER.get(k)
                if d is not None:
                    self.config.dynamic[k] = d.parse(v)

    def set_broker_configs(self, scope: str, configs: dict[str, str]) -> None:
        self.store.set_broker_configs(scope, configs)
        self.apply_dynamic_configs()
        self.metadata_changed()

    def apply_dynamic_configs(self, topics: set[str] | None = None) -> None:
        """Take broker and topic config changes (possibly made by another broker) into the logs:
        every partition's when ``topics`` is None (broker configs changed), else those topics'."""
        if topics is None:
            self._apply_dynamic_broker_configs()
        cfgs: dict[str, LogConfig] = {}
        for (t, _p), part in self.partitions.items():
            if topics is not None and t not in topics:
                continue
            cfg = cfgs.get(t)
            if cfg is None:
                cfg = cfgs[t] = self.log_config_for(t)
            if part.log.config != cfg:
                part.log.config = cfg

    def topic_config(self, topic: str) -> dict[str, Any]:
        """Effective config of ``topic`` (cached until metadata or configs change: it is read on
        every produce request)."""
        key = (topic, self.store.version)
        cached = self._topic_config_cache.get(key)
        if cached is None:
            meta = self.store.topics().get(topic)
            overrides = parse_topic_configs(meta.configs) if meta else {}
            cached = self.config.topic_config(overrides)
            if len(self._topic_config_cache) > 10000:
                self._topic_config_cache.clear()
            self._topic_config_cache[key] = cached
        return cached

    def _log_config(self, overrides: dict[str, Any]) -> LogConfig:
        return to_log_config(self.config.topic_config(overrides))

    def log_config_for(self, topic: str) -> LogConfig:
        return to_log_config(self.topic_config(topic))

    # --- lifecycle ----------------------------------------------------------------------------

    def load(self) -> None:
        """Open every partition the metadata names; drop logs of topics that no longer exist."""
        loaded = self.logs.load_all(self.log_config_for)
        topics = self.store.topics()
        for (topic, p), lg in list(loaded.items()):
            meta = topics.get(topic)
            if meta is None or p not in meta.partitions or self.broker_id not in meta.partitions[p].replicas:
                log.info("deleting log of %s-%d: it is no longer assigned here", topic, p)
                self.logs.delete(topic, p)
        for meta in topics.values():
            for st in meta.partitions.values():
                if self.broker_id in st.replicas:
                    self._open_partition(meta, st)

    def _open_partition(self, meta: TopicMeta, st: PartitionState) -> Partition:
        key = (meta.name, st.partition)
        lg = self.logs.get(*key) or self.logs.create(meta.name, st.partition, self.log_config_for(meta.name))
        part = Partition(
            meta.name,
            st.partition,
            lg,
            broker_id=self.broker_id,
            replicas=st.replicas,
            isr=st.isr or st.replicas,
            leader=st.leader,
            leader_epoch=st.leader_epoch,
        )
        self.partitions[key] = part
        return part

    def drop_partition(self, key: tuple[str, int], delete_log: bool) -> None:
        part = self.partitions.pop(key, None)
        if part is not None:
            part.leader = -1
            part.notify()
        if delete_log:
            self.logs.delete(*key)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self.metrics is not None:  # first: a metrics port in use stops the start before anything is registered
            await self.metrics.start()
            log.info("metrics on http://%s:%d/metrics", self.metrics.host or "0.0.0.0", self.metrics.port)
        if self.zookeeper:
            from ..metadata.zk_store import ZooKeeperStore

            self.store = await loop.run_in_executor(None, lambda: ZooKeeperStore(
                self.zookeeper, self.broker_id,
                session_timeout_ms=self.config.get("zookeeper.session.timeout.ms"),
                schedule=lambda fn: loop.call_soon_threadsafe(fn),
            ))
            self.store.refresh()
            self._apply_dynamic_broker_configs()
        self.load()
        adv_set = {lst.name for lst in self.security.listeners} if self.config.get("advertised.listeners") else set()
        bound = []
        for lst in self.listeners:
            sec = self.security.listener_for(lst.name)
            if sec.ssl_context is None:
                factory = lambda lst=lst: FrameProtocol(self, lst)  # noqa: E731
            else:  # asyncio's TLS layer, with a small receive buffer while idle (TlsProtocol)
                factory = lambda lst=lst, ctx=sec.ssl_context: TlsProtocol(loop, FrameProtocol(self, lst), ctx)  # noqa: E731
            server = await loop.create_server(factory, lst.host or None, lst.port, reuse_address=True)
            self.servers.append(server)
            if lst.port == 0:  # a port chosen by the system: advertise it (unless told otherwise)
                port = server.sockets[0].getsockname()[1]
                lst = replace(lst, port=port, advertised_port=lst.advertised_port if lst.name in adv_set else port)
            bound.append(lst)
        self.listeners = bound
        self.server = self.servers[0]
        first = self.listeners[0]
        self.port, self.advertised_port = first.port, first.advertised_port
        if self.zookeeper:
            from .cluster import ClusterManager

            self.cluster = ClusterManager(self, self.store)
            await self.cluster.start()
        self.load_coordinator_state()
        if self.config.get("log.cleaner.enable"):
            rate = self.config.get("log.cleaner.io.max.bytes.per.second")
            self.logs.start_cleaner(
                self.config.get("log.cleaner.threads"),
                None if rate >= 1e300 else rate,
                backoff_ms=self.config.get("log.cleaner.backoff.ms"),
            )
        self._tasks = [
            asyncio.create_task(self._housekeeping_loop()),
            asyncio.create_task(self._coordinator_loop()),
            *self.txns.start(),
        ]
        log.info(
            "Odradek broker %d listening on %s (data in %s, cluster %s)",
            self.broker_id, ", ".join(f"{lst.name}://{lst.host}:{lst.port} ({lst.protocol})" for lst in self.listeners),
            self.data_dir, self.store.cluster_id,
        )

    def connection_made(self, conn: Connection) -> None:
        """A client connected: serve its requests until it goes (unless a connection limit says no)."""
        why = self.limits.admit(conn)
        if why is not None:
            self.limits.refuse(conn, why)
            return
        self.connections.add(conn)
        if self.metrics is not None:
            self.metrics.connection_opened(conn.listener.name)
        task = asyncio.get_running_loop().create_task(conn.serve())
        conn.task = task  # held here: the event loop keeps only weak references to tasks

        def gone(_t, conn=conn) -> None:
            self.connections.discard(conn)
            self.limits.release(conn)
            if self.metrics is not None:
                self.metrics.connection_closed(conn.listener.name)

        task.add_done_callback(gone)

    async def _housekeeping_loop(self) -> None:
        """Time-based flushes (``flush.ms``) every second, retention every
        ``log.retention.check.interval.ms``, checkpoints every minute."""
        last_checkpoint = last_retention = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, self.config.get("log.retention.check.interval.ms") / 1000))
            try:
                self.limits.close_idle(self.connections)
                self.logs.maybe_flush_all()
                now = time.monotonic()
                if now - last_retention >= self.config.get("log.retention.check.interval.ms") / 1000:
                    last_retention = now
                    if self.logs.apply_retention():
                        for part in self.partitions.values():
                            part.notify()
                if now - last_checkpoint >= CHECKPOINT_INTERVAL_S:
                    last_checkpoint = now
                    self.logs.checkpoint()
            except OSError:
                log.exception("flushing, retention or writing checkpoints failed")

    async def serve_forever(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        print(f"odradek: broker {self.broker_id} ready on {self.advertised_host}:{self.advertised_port}", flush=True)
        await self._stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        log.info("shutting down")
        started = time.monotonic()

        def done(step: str) -> None:
            log.info("shutdown: %s done at %.2f s", step, time.monotonic() - started)

        if self.cluster is not None and self.config.get("controlled.shutdown.enable"):
            try:
                await self.cluster.controlled_shutdown(self.config.get("controlled.shutdown.timeout.ms") / 1000)
            except Exception:
                log.exception("controlled shutdown failed")
            done("controlled shutdown")
        for t in getattr(self, "_tasks", []):
            t.cancel()
        await self.txns.close()
        if self.cluster is not None:
            await self.cluster.stop()
            done("replica fetchers")
        if self.metrics is not None:
            await self.metrics.stop()
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        await asyncio.get_running_loop().run_in_executor(None, self.logs.stop_cleaner)
        done("log cleaner")
        self.logs.shutdown()
        done("logs flushed")
        self.store.close()
        log.info("stopped cleanly in %.2f s", time.monotonic() - started)

    # --- coordinators ---------------------------------------------------------------------------

    def load_coordinator_state(self) -> None:
        """Replay the internal topics this broker leads into their coordinators."""
        self.group_runtime.load_all()
        self.txns.runtime.load_all()

    def coordinator_partition_changed(self, topic: str, p: int, leader: bool) -> None:
        """Leadership of an internal topic's partition came here (load it) or went (forget it)."""
        runtime = self.group_runtime if topic == OFFSETS_TOPIC else self.txns.runtime if topic == TXN_TOPIC else None
        if runtime is None:
            return
        if leader:
            runtime.load(p)
        else:
            runtime.unload(p)

    def _group_replay(self, p: int, key, value, producer_id: int, transactional: bool) -> None:
        self.coordinator.replay(key, value, producer_id=producer_id, transactional=transactional)

    def ensure_offsets_topic(self) -> TopicMeta | None:
        return self.group_runtime.ensure_topic()

    async def coordinator_for(self, group_id: str) -> tuple[int, str, int] | None:
        return self.group_runtime.coordinator_node(group_id)

    def check_coordinator(self, group_id: str) -> ErrorCode | None:
        """None when this broker coordinates ``group_id``, else the error to answer with."""
        err = self.group_runtime.check(group_id)
        return ErrorCode.not_coordinator if err == ErrorCode.coordinator_load_in_progress else err

    async def persist_coordinator_records(self) -> ErrorCode | None:
        """Append what the group coordinator queued to ``__consumer_offsets`` and wait until
        committed. One write at a time, so a caller with nothing queued still waits for the write
        under way."""
        runtime = self.group_runtime
        async with runtime.lock:
            pending = self.coordinator.drain()
            if not pending:
                return None
            error = await runtime._write(pending, -1, -1, False)
            if error is None:
                self.coordinator.apply(pending)
            return error

    def coordinator_changed(self) -> None:
        if self._coordinator_wake is not None:
            self._coordinator_wake.set()

    async def _coordinator_loop(self) -> None:
        """Session timeouts, rebalance deadlines, and offset expiry."""
        self._coordinator_wake = asyncio.Event()
        last_expiry = time.monotonic()
        while True:
            deadline = self.coordinator.next_deadline()
            timeout = 1.0 if deadline is None else min(max(deadline - time.time(), 0.0) + 0.001, 1.0)
            try:
                async with asyncio.timeout(timeout):
                    await self._coordinator_wake.wait()
            except TimeoutError:
                pass
            self._coordinator_wake.clear()
            try:
                self.coordinator.poll()
                if time.monotonic() - last_expiry >= OFFSETS_RETENTION_CHECK_S:
                    last_expiry = time.monotonic()
                    self.coordinator.expire_offsets()
                await self.persist_coordinator_records()
            except Exception:
                log.exception("group coordinator housekeeping failed")

    # --- metadata -----------------------------------------------------------------------------

    def metadata_changed(self) -> None:
        self.metadata_cache.clear()
        self._topic_config_cache.clear()

    def live_brokers(self, listener: str | None = None) -> list[tuple[int, str, int, str | None]]:
        """(id, host, port, rack) of each live broker, at its endpoint for ``listener`` (the
        listener a client came in on; the first listener when None). A broker without that
        listener is left out."""
        brokers = self.store.live_brokers(listener) if listener is not None else self.store.live_brokers()
        if brokers is None:
            lst = next((x for x in self.listeners if x.name == listener), self.listeners[0])
            return [(self.broker_id, lst.advertised_host, lst.advertised_port, None)]
        return [(b, h, p, r) for b, (h, p, r) in sorted(brokers.items())]

    def controller_id(self) -> int:
        cid = self.store.controller_id()
        return self.broker_id if cid is None else cid

    # --- topic lifecycle ----------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        configs: dict[str, str | None],
        assignments: dict[int, list[int]] | None = None,
        validate_only: bool = False,
        internal: bool = False,
    ) -> TopicMeta:
        """Create a topic or raise KafkaError with Kafka's code for what is wrong."""
        meta = self._new_topic(name, num_partitions, replication_factor, configs, assignments, internal)
        if validate_only:
            return meta
        try:
            self.store.create_topic(meta)
        except KeyError:
            raise KafkaError(ErrorCode.topic_already_exists, f"Topic '{name}' already exists.") from None
        self._after_store_change(meta)
        log.info("created topic %s with %d partitions", name, len(meta.partitions))
        return meta

    async def create_topics(self, specs: list[dict], validate_only: bool = False) -> list[TopicMeta | KafkaError]:
        """Create many topics at once (one CreateTopics request): each is validated, the valid
        ones are written to the metadata store together (pipelined), and this broker takes them
        in with one reconcile. ``specs`` hold create_topic's arguments by name; the answer per
        topic is its TopicMeta or the KafkaError saying why not."""
        out: list[TopicMeta | KafkaError] = []
        folded = {other.replace(".", "_"): other for other in self.store.topics()}
        for spec in specs:
            try:
                meta = self._new_topic(spec["name"], spec["num_partitions"], spec["replication_factor"],
                                       spec["configs"], spec.get("assignments"), False, folded)
            except KafkaError as e:
                out.append(e)
                continue
            if not validate_only:  # a later topic of the request collides with it, as in Kafka
                folded.setdefault(meta.name.replace(".", "_"), meta.name)
            out.append(meta)
        metas = [m for m in out if isinstance(m, TopicMeta)]
        if validate_only or not metas:
            return out
        errors = dict(zip((m.name for m in metas), await self.store.create_topics(metas)))
        created = [m for m in metas if errors[m.name] is None]
        if created:
            self._after_store_change(*created)
        for i, m in enumerate(out):
            if not isinstance(m, TopicMeta):
                continue
            err = errors[m.name]
            if isinstance(err, KeyError):
                out[i] = KafkaError(ErrorCode.topic_already_exists, f"Topic '{m.name}' already exists.")
            elif err is not None:
                log.error("creating topic %s failed: %r", m.name, err)
                out[i] = KafkaError(ErrorCode.unknown_server_error, f"creating topic {m.name} failed: {err}")
        if created:
            log.info("created %d topic(s) with %d partitions: %s", len(created),
                     sum(len(m.partitions) for m in created), ", ".join(m.name for m in created[:10])
                     + (", ..." if len(created) > 10 else ""))
        return out

    def _new_topic(self, name: str, num_partitions: int, replication_factor: int, configs: dict[str, str | None],
                   assignments: dict[int, list[int]] | None, internal: bool,
                   folded: dict[str, str] | None = None) -> TopicMeta:
        """Validate a new topic and choose its replicas; raises KafkaError with Kafka's code.
        ``folded``: existing names with '.' as '_' (made here when not given)."""
        reason = validate_topic_name(name)
        if reason:
            raise KafkaError(ErrorCode.invalid_topic_exception, reason)
        if name in self.store.topics():
            raise KafkaError(ErrorCode.topic_already_exists, f"Topic '{name}' already exists.")
        if name in (OFFSETS_TOPIC, TXN_TOPIC) and not internal:
            raise KafkaError(ErrorCode.invalid_request, f"{name} is an internal topic created by the broker")
        if "." in name or "_" in name:
            if folded is None:
                folded = {other.replace(".", "_"): other for other in self.store.topics()}
            other = folded.get(name.replace(".", "_"))
            if other is not None and other != name:
                raise KafkaError(
                    ErrorCode.invalid_topic_exception,
                    f"Topic '{name}' collides with existing topic: {other}",  # '.' and '_' are one in metric names
                )
        brokers = [b[0] for b in self.live_brokers()]
        if assignments:
            num_partitions = len(assignments)
            if sorted(assignments) != list(range(num_partitions)):
                raise KafkaError(ErrorCode.invalid_replica_assignment, "partitions must be numbered from 0 without gaps")
            for reps in assignments.values():
                _check_replicas(reps, brokers)
        else:
            if num_partitions == -1:
                num_partitions = self.config.get("num.partitions")
            if replication_factor == -1:
                replication_factor = self.config.get("default.replication.factor")
            if num_partitions <= 0:
                raise KafkaError(ErrorCode.invalid_partitions, "Number of partitions was set to an invalid non-positive value.")
            if num_partitions > MAX_PARTITIONS_PER_REQUEST:
                raise KafkaError(ErrorCode.policy_violation, "Excessively large number of partitions per request.")
            if replication_factor <= 0:
                raise KafkaError(ErrorCode.invalid_replication_factor,
                                 "Replication factor must be larger than 0, or -1 to use the default value.")
            if replication_factor > len(brokers):
                raise KafkaError(
                    ErrorCode.invalid_replication_factor,
                    f"Unable to replicate the partition {replication_factor} time(s): The target replication factor "
                    f"of {replication_factor} cannot be reached because only {len(brokers)} broker(s) are registered "
                    "or some brokers have all their log directories cordoned.",  # Kafka's words
                )
            assignments = assign_replicas(brokers, num_partitions, replication_factor)
        clean: dict[str, str] = {}
        for k, v in configs.items():
            if v is None:
                raise KafkaError(ErrorCode.invalid_config, f"Null value not supported for topic config {k}")
            clean[k] = v
        try:
            parse_topic_configs(clean)
        except ConfigError as e:
            raise KafkaError(ErrorCode.invalid_config, str(e)) from None
        self._warn_unenforced(name, clean)
        return TopicMeta(
            name,
            str(uuid.uuid4()),
            {p: PartitionState(p, reps, reps[0], 0, list(reps)) for p, reps in assignments.items()},
            clean,
        )

    def _after_store_change(self, *metas: TopicMeta) -> None:
        if self.cluster is not None:
            self.cluster.reconcile()
        else:
            for meta in metas:
                for st in meta.partitions.values():
                    if (meta.name, st.partition) not in self.partitions:
                        self._open_partition(meta, st)
        self.metadata_changed()

    def delete_topic(self, name: str) -> None:
        if not self.config.get("delete.topic.enable"):
            raise KafkaError(ErrorCode.topic_deletion_disabled, "delete.topic.enable is false")
        meta = self.store.topics().get(name)
        if meta is None:
            raise KafkaError(ErrorCode.unknown_topic_or_partition)  # Kafka gives no message
        self.store.delete_topic(name)
        if self.cluster is not None:
            self.cluster.reconcile()
        else:
            for p in meta.partitions:
                self.drop_partition((name, p), delete_log=True)
        self.forget_topic_offsets(name)
        self.metadata_changed()

    def delete_topics(self, names: list[str]) -> dict[str, KafkaError | None]:
        """Delete many topics at once (one DeleteTopics request): the metadata store removes them
        together and this broker reconciles once. Per topic None or the KafkaError."""
        out: dict[str, KafkaError | None] = {}
        if not self.config.get("delete.topic.enable"):
            return {n: KafkaError(ErrorCode.topic_deletion_disabled, "delete.topic.enable is false") for n in names}
        metas = {}
        for name in names:
            meta = self.store.topics().get(name)
            if meta is None:
                out[name] = KafkaError(ErrorCode.unknown_topic_or_partition)  # Kafka gives no message
            else:
                metas[name] = meta
        if not metas:
            return out
        for name, err in zip(metas, self.store.delete_topics(list(metas))):
            if err is not None:
                log.error("deleting topic %s failed: %r", name, err)
                out[name] = KafkaError(ErrorCode.unknown_server_error, f"deleting topic {name} failed: {err}")
            else:
                out[name] = None
        deleted = [n for n in metas if out[n] is None]
        if self.cluster is not None:
            self.cluster.reconcile()
        else:
            for name in deleted:
                for p in metas[name].partitions:
                    self.drop_partition((name, p), delete_log=True)
        for name in deleted:
            self.forget_topic_offsets(name)
        self.metadata_changed()
        return out

    def forget_topic_offsets(self, name: str) -> None:
        """Committed offsets of a deleted topic go too (tombstones written in the background)."""
        if self.coordinator.forget_topic(name):
            asyncio.get_running_loop().create_task(self.persist_coordinator_records())
        log.info("deleted topic %s", name)

    def add_partitions(self, name: str, total: int, assignments: list[list[int]] | None, validate_only: bool) -> None:
        err = self.add_partitions_many([(name, total, assignments)], validate_only)[0]
        if err is not None:
            raise err

    def add_partitions_many(self, items: list[tuple[str, int, list[list[int]] | None]],
                            validate_only: bool = False) -> list[KafkaError | None]:
        """CreatePartitions for many topics at once: each is validated, the valid ones are
        written to the metadata store together and taken in with one reconcile. Per topic None
        or the KafkaError."""
        out: list[KafkaError | None] = []
        todo: list[tuple[int, str, list[PartitionState]]] = []
        for name, total, assignments in items:
            try:
                todo.append((len(out), name, self._new_partitions(name, total, assignments)))
                out.append(None)
            except KafkaError as e:
                out.append(e)
        if validate_only or not todo:
            return out
        errors = self.store.add_partitions_many([(name, new) for _i, name, new in todo])
        for (i, name, _new), err in zip(todo, errors):
            if err is not None:
                log.error("adding partitions to %s failed: %r", name, err)
                out[i] = KafkaError(ErrorCode.unknown_server_error, f"adding partitions to {name} failed: {err}")
        done = [self.store.topics()[name] for (i, name, _n) in todo if out[i] is None and name in self.store.topics()]
        if done:
            self._after_store_change(*done)
        return out

    def _new_partitions(self, name: str, total: int, assignments: list[list[int]] | None) -> list[PartitionState]:
        meta = self.store.topics().get(name)
        if meta is None:
            raise KafkaError(ErrorCode.unknown_topic_or_partition)  # Kafka gives no message
        current = len(meta.partitions)
        if total - current > MAX_PARTITIONS_PER_REQUEST:
            raise KafkaError(ErrorCode.policy_violation, "Excessively large number of additional partitions per request.")
        if total == current:
            raise KafkaError(ErrorCode.invalid_partitions, f"Topic already has {current} partition(s).")
        if total < current:
            raise KafkaError(
                ErrorCode.invalid_partitions,
                f"The topic {name} currently has {current} partition(s); {total} would not be an increase.",
            )
        brokers = [b[0] for b in self.live_brokers()]
        rf = len(next(iter(meta.partitions.values())).replicas)
        if assignments:
            if len(assignments) != total - current:
                raise KafkaError(ErrorCode.invalid_replica_assignment,
                                 f"Attempted to add {total - current} additional partition(s), but only "
                                 f"{len(assignments)} assignment(s) were specified.")
            new_reps = [list(a) for a in assignments]
            for reps in new_reps:
                _check_replicas(reps, brokers)
                if len(reps) != rf:
                    raise KafkaError(ErrorCode.invalid_replica_assignment,
                                     f"Inconsistent replication factor between partitions: {len(reps)} != {rf}")
        else:
            allp = assign_replicas(brokers, total, min(rf, len(brokers)))
            new_reps = [allp[p] for p in range(current, total)]
        return [PartitionState(current + i, reps, reps[0], 0, list(reps)) for i, reps in enumerate(new_reps)]

    def _warn_unenforced(self, topic: str, configs: dict[str, Any]) -> None:
        keys = unenforced_topic_keys(configs)
        if keys:
            log.warning("topic %s: %s accepted for compatibility but not implemented by Odradek (no effect)",
                        topic, ", ".join(keys))

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        self._warn_unenforced(name, configs)
        self.store.set_topic_configs(name, configs)
        cfg = self.log_config_for(name)
        for (t, _p), part in self.partitions.items():
            if t == name:
                part.log.config = cfg
        self.metadata_changed()

    def partition(self, topic: str, index: int) -> Partition:
        part = self.partitions.get((topic, index))
        if part is None:
            meta = self.store.topics().get(topic)
            if meta is not None and index in meta.partitions:
                raise KafkaError(ErrorCode.not_leader_or_follower, f"{topic}-{index} is not on broker {self.broker_id}")
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"{topic}-{index} does not exist")
        return part

    def topic_by_id(self, topic_id) -> TopicMeta | None:
        """The topic with this id (Fetch v13+ names topics by id on every request): looked up in
        an index made again only when the metadata changed, not by a scan of every topic."""
        version = self.store.version
        if self._topic_ids_version != version:
            self._topic_ids = {meta.topic_id: meta.name for meta in self.store.topics().values()}
            self._topic_ids_version = version
        name = self._topic_ids.get(str(topic_id))
        return self.store.topics().get(name) if name is not None else None

    def maybe_auto_create(self, name: str) -> TopicMeta | None:
        if not self.config.get("auto.create.topics.enable") or validate_topic_name(name):
            return None
        try:
            return self.create_topic(name, -1, -1, {})
        except KafkaError:
            return self.store.topics().get(name)


def _check_replicas(replicas: list[int], brokers: list[int]) -> None:
    """A manual assignment names distinct live brokers (INVALID_REPLICA_ASSIGNMENT, Kafka's words)."""
    if not replicas:
        raise KafkaError(ErrorCode.invalid_replica_assignment, "The manual partition assignment includes an empty replica list.")
    for r in replicas:
        if r not in brokers:
            raise KafkaError(ErrorCode.invalid_replica_assignment,
                             f"The manual partition assignment includes broker {r}, but no such broker is registered.")
    if len(set(replicas)) != len(replicas):
        raise KafkaError(ErrorCode.invalid_replica_assignment,
                         f"The manual partition assignment includes the partition {replicas} with duplicate replicas.")


def assign_replicas(brokers: list[int], partitions: int, rf: int, start: int | None = None, shift: int | None = None) -> dict[int, list[int]]:
    """Kafka's rack-unaware assignment: a random start and shift spread leaders and followers."""
    import random

    brokers = sorted(brokers)
    n = len(brokers)
    start = random.randrange(n) if start is None else start
    shift = random.randrange(n) if shift is None else shift
    out: dict[int, list[int]] = {}
    for p in range(partitions):
        if p > 0 and p % n == 0:
            shift += 1
        first = (start + p) % n
        reps = [brokers[first]]
        for j in range(rf - 1):
            reps.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        out[p] = reps
    return out

