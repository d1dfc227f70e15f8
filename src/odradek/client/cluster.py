"""The cluster as a client sees it: bootstrap, metadata, one connection per broker, coordinators.

Shared by :class:`~odradek.client.Producer`, :class:`~odradek.client.Consumer` and
:class:`~odradek.client.Admin`. Requests are plain dicts of kio field names; :meth:`Cluster.send`
negotiates the version (the highest both sides speak, within :data:`API_RANGES`, the versions this
client knows how to fill) and returns the decoded kio response.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..protocol.errors import ErrorCode, KafkaError
from .connection import BrokerConnection, ConnectionClosed
from .errors import AuthenticationFailed, BrokerUnreachable, RequestTimedOut, TlsHandshakeFailed
from .types import BrokerInfo, PartitionInfo, TopicInfo

if TYPE_CHECKING:
    from .security import SecurityConfig

log = logging.getLogger(__name__)

__all__ = ["Cluster", "API_RANGES", "parse_bootstrap", "DEFAULT_BOOTSTRAP", "bootstrap_from_env"]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, API_VERSIONS = 15, 16, 18
CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS, INIT_PRODUCER_ID = 19, 20, 21, 22
DESCRIBE_CONFIGS, ALTER_CONFIGS, CREATE_PARTITIONS = 32, 33, 37
DELETE_GROUPS, INCREMENTAL_ALTER_CONFIGS, OFFSET_DELETE, DESCRIBE_CLUSTER = 42, 44, 47, 60
DESCRIBE_LOG_DIRS, ELECT_LEADERS, ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS = 35, 43, 45, 46
ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN, WRITE_TXN_MARKERS, TXN_OFFSET_COMMIT = 24, 25, 26, 27, 28
DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 61, 65, 66
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS = 50, 51

#: The versions this client fills, per api key. Shapes change above these maxima (topic ids in
#: Fetch v13, batched groups in OffsetFetch v8 and FindCoordinator v4), so the client stays below.
API_RANGES: dict[int, tuple[int, int]] = {
    PRODUCE: (3, 9),
    FETCH: (4, 12),
    LIST_OFFSETS: (1, 7),
    METADATA: (1, 12),
    OFFSET_COMMIT: (2, 8),
    OFFSET_FETCH: (1, 7),
    FIND_COORDINATOR: (0, 3),
    JOIN_GROUP: (0, 7),
    HEARTBEAT: (0, 4),
    LEAVE_GROUP: (0, 4),
    SYNC_GROUP: (0, 5),
    DESCRIBE_GROUPS: (0, 5),
    LIST_GROUPS: (0, 4),
    CREATE_TOPICS: (2, 7),
    DELETE_TOPICS: (1, 5),
    DELETE_RECORDS: (0, 2),
    INIT_PRODUCER_ID: (0, 4),
    DESCRIBE_CONFIGS: (1, 4),
    ALTER_CONFIGS: (0, 2),
    CREATE_PARTITIONS: (0, 3),
    DELETE_GROUPS: (0, 2),
    INCREMENTAL_ALTER_CONFIGS: (0, 1),
    OFFSET_DELETE: (0, 0),
    DESCRIBE_CLUSTER: (0, 1),
    DESCRIBE_LOG_DIRS: (1, 4),
    ELECT_LEADERS: (1, 2),
    ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    LIST_PARTITION_REASSIGNMENTS: (0, 0),
    # transactions: AddPartitionsToTxn v4+ is broker-to-broker; WriteTxnMarkers v1 is what Kafka's
    # admin client sends for an operator's abort
    ADD_PARTITIONS_TO_TXN: (0, 3),
    ADD_OFFSETS_TO_TXN: (0, 4),
    END_TXN: (0, 4),
    WRITE_TXN_MARKERS: (1, 1),
    TXN_OFFSET_COMMIT: (0, 4),
    DESCRIBE_PRODUCERS: (0, 0),
    DESCRIBE_TRANSACTIONS: (0, 0),
    LIST_TRANSACTIONS: (0, 2),
    # ACLs: v1 adds pattern types (Kafka 4 clients start there), v3 the USER resource type
    DESCRIBE_ACLS: (1, 3),
    CREATE_ACLS: (1, 3),
    DELETE_ACLS: (1, 3),
    DESCRIBE_USER_SCRAM_CREDENTIALS: (0, 0),
    ALTER_USER_SCRAM_CREDENTIALS: (0, 0),
}

Request = dict | Callable[[int], dict]


def parse_bootstrap(servers: str | Iterable[str]) -> list[tuple[str, int]]:
    """``"h1:9092,h2:9093"`` or ``["h1:9092", ...]`` to ``[(host, port), ...]`` (port 9092 if none)."""
    items = servers.split(",") if isinstance(servers, str) else list(servers)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        for prefix in ("PLAINTEXT://", "plaintext://", "tcp://"):
            if item.startswith(prefix):
                item = item[len(prefix) :]
        if item.startswith("["):  # [::1]:9092
            host, _, rest = item[1:].partition("]")
            port = int(rest.lstrip(":") or 9092)
        elif item.count(":") == 1:
            host, p = item.split(":")
            port = int(p)
        else:
            host, port = item, 9092
        out.append((host, port))
    if not out:
        raise ValueError("no bootstrap server given")
    return out


def bootstrap_from_env(value: str | None = None) -> str:
    """``value``, else $ODRADEK_BOOTSTRAP_SERVER, else 127.0.0.1:9092."""
    return value or os.environ.get("ODRADEK_BOOTSTRAP_SERVER") or DEFAULT_BOOTSTRAP


class Cluster:
    """Metadata and connections for one client instance."""

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = DEFAULT_BOOTSTRAP,
        *,
        client_id: str = "odradek-client",
        request_timeout_ms: int = 30000,
        metadata_max_age_ms: int = 300000,
        retry_backoff_ms: int = 100,
        security: "SecurityConfig | None" = None,
    ) -> None:
        self.bootstrap = parse_bootstrap(bootstrap_servers)
        #: TLS and SASL for every connection (:mod:`odradek.client.security`); PLAINTEXT when None
        self.security = security
        self.client_id = client_id
        self.request_timeout = request_timeout_ms / 1000
        self.metadata_max_age = metadata_max_age_ms / 1000
        self.retry_backoff = retry_backoff_ms / 1000
        self.brokers: dict[int, BrokerInfo] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.cluster_id: str | None = None
        self.controller_id: int = -1
        self._conns: dict[Any, BrokerConnection] = {}
        self._connecting: dict[Any, asyncio.Future] = {}
        self._metadata_at = 0.0
        self._metadata_lock: asyncio.Lock | None = None
        self._coordinators: dict[Any, int] = {}
        self._extra_nodes: dict[int, BrokerInfo] = {}
        self.closed = False

    # ---------------------------------------------------------------- connections

    def _address(self, node: Any) -> tuple[str, int]:
        if isinstance(node, tuple):
            return node
        info = self.brokers.get(node) or self._extra_nodes.get(node)
        if info is None:
            raise KafkaError(ErrorCode.broker_not_available, f"unknown broker id {node}")
        return info.host, info.port

    async def connection(self, node: Any) -> BrokerConnection:
        """The connection to broker ``node`` (an id, or a (host, port) tuple), opened if needed."""
        conn = self._conns.get(node)
        if conn is not None and not conn.closed:
            return conn
        pending = self._connecting.get(node)
        if pending is not None:
            return await asyncio.shield(pending)
        fut = asyncio.get_running_loop().create_future()
        self._connecting[node] = fut
        try:
            host, port = self._address(node)
            sec = self.security
            try:
                conn = await BrokerConnection(host, port, client_id=self.client_id, timeout=self.request_timeout,
                                              ssl=sec.ssl() if sec else None,
                                              sasl=sec.credentials() if sec else None).connect()
            except ssl.SSLCertVerificationError as e:
                raise TlsHandshakeFailed(f"TLS with {host}:{port} failed: {e.verify_message or e}") from None
            except ssl.SSLError as e:
                raise TlsHandshakeFailed(f"TLS with {host}:{port} failed: {e.reason or e}") from None
            except (OSError, asyncio.TimeoutError, ConnectionClosed) as e:
                raise BrokerUnreachable(f"cannot connect to {host}:{port}: {e or type(e).__name__}") from None
            self._conns[node] = conn
            fut.set_result(conn)
            return conn
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved
            raise
        finally:
            del self._connecting[node]

    def drop(self, node: Any) -> None:
        conn = self._conns.pop(node, None)
        if conn is not None:
            asyncio.ensure_future(conn.close())

    async def any_node(self) -> Any:
        """A broker to ask cluster-wide questions: a known broker, else a bootstrap address."""
        candidates: list[Any] = [n for n, c in self._conns.items() if not c.closed and isinstance(n, int)]
        if candidates:
            return candidates[0]
        nodes: list[Any] = list(self.brokers)
        random.shuffle(nodes)
        nodes += self.bootstrap
        last: Exception | None = None
        for node in nodes:
            try:
                await self.connection(node)
                return node
            except AuthenticationFailed:
                raise  # credentials or certificates refused: trying another broker would not help
            except (BrokerUnreachable, KafkaError) as e:
                last = e
        addrs = ",".join(f"{h}:{p}" for h, p in self.bootstrap)
        raise BrokerUnreachable(f"no broker reachable (bootstrap {addrs}): {last}")

    async def send(
        self, node: Any, api_key: int, request: Request, *, timeout: float | None = None, expect_response: bool = True
    ) -> Any:
        """Send ``request`` to ``node`` (None: any broker) at the best common version.

        ``request`` is a dict, or a function of the version giving the dict. Connection failures
        raise :class:`BrokerUnreachable` and drop the connection, so the next call reconnects.
        """
        if node is None:
            node = await self.any_node()
        conn = await self.connection(node)
        version = conn.version_for(api_key, API_RANGES[api_key])
        data = request(version) if callable(request) else request
        try:
            return await conn.request(api_key, version, data, timeout=timeout, expect_response=expect_response)
        except (ConnectionClosed, ConnectionError, OSError) as e:
            self.drop(node)
            raise BrokerUnreachable(f"lost connection to broker {node}: {e}") from None

    async def send_versioned(self, node: Any, api_key: int, request: Request, *, timeout: float | None = None) -> tuple[Any, int]:
        """Like :meth:`send`, and also return the version used."""
        if node is None:
            node = await self.any_node()
        conn = await self.connection(node)
        version = conn.version_for(api_key, API_RANGES[api_key])
        data = request(version) if callable(request) else request
        try:
            return await conn.request(api_key, version, data, timeout=timeout), version
        except (ConnectionClosed, ConnectionError, OSError) as e:
            self.drop(node)
            raise BrokerUnreachable(f"lost connection to broker {node}: {e}") from None

    def api_version(self, node: Any, api_key: int) -> int | None:
        conn = self._conns.get(node)
        if conn is None or conn.closed:
            return None
        try:
            return conn.version_for(api_key, API_RANGES[api_key])
        except KafkaError:
            return None

    # ---------------------------------------------------------------- metadata

    async def refresh(self, topics: Iterable[str] | None = None, *, allow_auto_create: bool = False) -> Any:
        """Fetch metadata for ``topics`` (None: every topic) and update the cache; return the response."""
        if self._metadata_lock is None:
            self._metadata_lock = asyncio.Lock()
        names = None if topics is None else sorted(set(topics))
        last: Exception | None = None
        deadline = time.monotonic() + self.request_timeout
        while True:
            try:
                resp = await self.send(
                    None,
                    METADATA,
                    lambda v: {
                        "topics": None if names is None else [{"name": n} for n in names],
                        "allow_auto_topic_creation": allow_auto_create,
                    },
                )
                break
            except BrokerUnreachable as e:
                last = e
                if time.monotonic() > deadline:
                    raise
                # every known broker failed: forget connections and try the bootstrap list again
                for node in list(self._conns):
                    self.drop(node)
                await asyncio.sleep(self.retry_backoff)
        del last
        self.brokers = {b.node_id: BrokerInfo(b.node_id, b.host, b.port, b.rack) for b in resp.brokers}
        self.cluster_id = getattr(resp, "cluster_id", None)
        self.controller_id = getattr(resp, "controller_id", -1)
        for t in resp.topics:
            if t.name is None:
                continue
            parts = {
                p.partition_index: PartitionInfo(
                    p.partition_index,
                    p.leader_id,
                    tuple(p.replica_nodes),
                    tuple(p.isr_nodes),
                    tuple(getattr(p, "offline_replicas", ()) or ()),
                    getattr(p, "leader_epoch", -1),
                    None if p.error_code == ErrorCode.none else p.error_code.name.upper(),
                )
                for p in t.partitions
            }
            tid = getattr(t, "topic_id", None)
            info = TopicInfo(
                t.name,
                dict(sorted(parts.items())),
                bool(getattr(t, "is_internal", False)),
                str(tid) if tid is not None and tid.int else None,
                None if t.error_code == ErrorCode.none else t.error_code.name.upper(),
            )
            if info.error is not None and info.error != "LEADER_NOT_AVAILABLE":
                self.topics.pop(t.name, None)
            else:
                self.topics[t.name] = info
        if names is None:
            seen = {t.name for t in resp.topics}
            for gone in set(self.topics) - seen:
                del self.topics[gone]
        self._metadata_at = time.monotonic()
        return resp

    def metadata_stale(self) -> bool:
        return time.monotonic() - self._metadata_at > self.metadata_max_age

    async def wait_for_topic(self, topic: str, *, timeout: float, allow_auto_create: bool = False) -> TopicInfo:
        """Metadata of ``topic`` with every partition led; raise UNKNOWN_TOPIC_OR_PARTITION after ``timeout``."""
        deadline = time.monotonic() + timeout
        delay = self.retry_backoff
        while True:
            await self.refresh([topic], allow_auto_create=allow_auto_create)
            info = self.topics.get(topic)
            if info is not None and info.partitions and all(p.leader >= 0 for p in info.partitions.values()):
                return info
            if time.monotonic() + delay > deadline:
                raise KafkaError(ErrorCode.unknown_topic_or_partition, f"topic {topic!r} not available")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def leader(self, topic: str, partition: int) -> int:
        info = self.topics.get(topic)
        if info is None:
            return -1
        p = info.partitions.get(partition)
        return -1 if p is None else p.leader

    def partition_count(self, topic: str) -> int:
        info = self.topics.get(topic)
        return 0 if info is None else len(info.partitions)

    # ---------------------------------------------------------------- coordinators

    async def coordinator(self, group_id: str, *, refresh: bool = False, key_type: int = 0) -> int:
        """The node id of the coordinator of a group (``key_type`` 0) or of a transactional id
        (``key_type`` 1), from FindCoordinator, cached until ``refresh`` or :meth:`forget_coordinator`."""
        cache_key = _coordinator_key(group_id, key_type)
        if not refresh and cache_key in self._coordinators:
            return self._coordinators[cache_key]
        deadline = time.monotonic() + self.request_timeout
        while True:
            resp = await self.send(None, FIND_COORDINATOR, {"key": group_id, "key_type": key_type})
            if resp.error_code == ErrorCode.none:
                break
            if resp.error_code not in (ErrorCode.coordinator_not_available, ErrorCode.coordinator_load_in_progress, ErrorCode.not_coordinator) or time.monotonic() > deadline:
                raise KafkaError(resp.error_code, getattr(resp, "error_message", None) or f"FindCoordinator({group_id})")
            await asyncio.sleep(self.retry_backoff)
        node = resp.node_id
        if node not in self.brokers:
            self._extra_nodes[node] = BrokerInfo(node, resp.host, resp.port)
        self._coordinators[cache_key] = node
        return node

    def forget_coordinator(self, group_id: str, *, key_type: int = 0) -> None:
        self._coordinators.pop(_coordinator_key(group_id, key_type), None)

    async def close(self) -> None:
        self.closed = True
        conns = list(self._conns.values())
        self._conns.clear()
        for c in conns:
            try:
                await c.close()
            except Exception:  # noqa: BLE001
                pass


def _coordinator_key(key: str, key_type: int) -> Any:
    return key if key_type == 0 else (key_type, key)


def timed_out(deadline: float) -> bool:
    return time.monotonic() >= deadline


__all__ += ["RequestTimedOut"]
