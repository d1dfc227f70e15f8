"""The asyncio admin client: topics, partitions, configs, groups, offsets, records, cluster.

::

    async with Admin("127.0.0.1:9092") as admin:
        await admin.create_topics([NewTopic("orders", partitions=3, config={"retention.ms": "86400000"})])
        print(await admin.describe_topics(["orders"]))
        await admin.alter_configs("topic", "orders", set={"retention.ms": "3600000"})

Methods that act on several items (``create_topics``, ``delete_topics``, ``create_partitions``,
``delete_groups``) return ``{name: None | KafkaError}``, and with ``raise_errors=True`` (the
default) raise the first error after every item was attempted.
"""

from __future__ import annotations

import asyncio
import collections
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocol.errors import ErrorCode, KafkaError
from ..security import scram
from . import cluster as apis
from .cluster import Cluster
from .acls import AclBinding, AclFilter, ScramCredentialInfo
from .consumer import commit_offsets, fetch_committed, list_offsets
from .group_protocol import decode_assignment, decode_subscription
from .security import from_client_kwargs
from .types import EARLIEST, LATEST, BrokerInfo, OffsetAndMetadata, TopicInfo, TopicPartition

__all__ = [
    "Admin",
    "NewTopic",
    "ConfigEntry",
    "GroupListing",
    "GroupDescription",
    "MemberDescription",
    "ClusterDescription",
    "PartitionOffsets",
    "TransactionListing",
    "TransactionDescription",
    "ProducerState",
    "LogDirDescription",
    "ReplicaLogInfo",
    "RESOURCE_TYPES",
]

#: DescribeConfigs / AlterConfigs resource types.
RESOURCE_TYPES = {"topic": 2, "broker": 4, "broker_logger": 8, "group": 32}
CONFIG_SOURCES = {
    -1: "unknown", 0: "unknown", 1: "dynamic_topic_config", 2: "dynamic_broker_config",
    3: "dynamic_default_broker_config", 4: "static_broker_config", 5: "default_config",
    6: "dynamic_broker_logger_config", 7: "client_metrics_config", 8: "group_config",
}


@dataclass
class NewTopic:
    name: str
    partitions: int = -1  # -1: the broker's num.partitions
    replication_factor: int = -1  # -1: the broker's default.replication.factor
    config: dict[str, str] = field(default_factory=dict)
    replica_assignment: dict[int, list[int]] | None = None


@dataclass(frozen=True)
class ConfigEntry:
    name: str
    value: str | None
    source: str = "unknown"
    read_only: bool = False
    sensitive: bool = False
    default: bool = False


@dataclass(frozen=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: str = ""


@dataclass
class MemberDescription:
    member_id: str
    client_id: str
    client_host: str
    group_instance_id: str | None
    assignment: list[TopicPartition]
    subscription: list[str]


@dataclass
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberDescription]
    coordinator: int = -1
    error: str | None = None


@dataclass
class ClusterDescription:
    cluster_id: str | None
    controller_id: int
    brokers: list[BrokerInfo]


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition of a group: log end offset (LEO / high watermark), committed offset, lag."""

    topic: str
    partition: int
    log_end_offset: int
    committed: int | None
    log_start_offset: int = 0

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(0, self.log_end_offset - self.committed)


@dataclass(frozen=True)
class TransactionListing:
    """One transactional id as its coordinator lists it (ListTransactions)."""

    transactional_id: str
    producer_id: int
    state: str  # Kafka's state names: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, ...
    coordinator: int


@dataclass
class TransactionDescription:
    """A transactional id's state at its coordinator (DescribeTransactions)."""

    transactional_id: str
    coordinator: int
    state: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    start_time_ms: int  # -1 when no transaction is open
    partitions: list[TopicPartition]


@dataclass(frozen=True)
class ProducerState:
    """An idempotent or transactional producer a partition leader knows (DescribeProducers)."""

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp: int
    coordinator_epoch: int  # -1 before the first marker
    current_txn_start_offset: int  # -1 when no transaction is open on the partition


@dataclass(frozen=True)
class ReplicaLogInfo:
    """One replica in a log dir: its size in bytes, and how far its log end is past the high
    watermark (``offset_lag``)."""

    size: int
    offset_lag: int
    is_future: bool = False


@dataclass
class LogDirDescription:
    """One log dir of one broker (DescribeLogDirs). ``total_bytes`` and ``usable_bytes`` are -1
    where the broker does not say (before DescribeLogDirs v4)."""

    path: str
    error: str | None
    replicas: dict[TopicPartition, ReplicaLogInfo]
    total_bytes: int = -1
    usable_bytes: int = -1


def _err(code: ErrorCode, message: str | None, what: str) -> KafkaError | None:
    if code == ErrorCode.none:
        return None
    return KafkaError(code, message or what)


def _check(results: dict[str, KafkaError | None], raise_errors: bool) -> dict[str, KafkaError | None]:
    if raise_errors:
        for e in results.values():
            if e is not None:
                raise e
    return results


class Admin:
    """An asyncio admin client. ``await start()`` (or ``async with``), call methods, ``await close()``."""

    def __init__(self, bootstrap_servers: str | Iterable[str] = "127.0.0.1:9092", *, client_id: str = "odradek-admin",
                 request_timeout_ms: int = 30000, retry_backoff_ms: int = 100, **security: Any) -> None:
        self.cluster = Cluster(bootstrap_servers, client_id=client_id, request_timeout_ms=request_timeout_ms, retry_backoff_ms=retry_backoff_ms,
                               security=from_client_kwargs(security))
        self.timeout_ms = request_timeout_ms
        self.retry_backoff = retry_backoff_ms / 1000

    async def start(self) -> "Admin":
        await self.cluster.refresh([])
        return self

    async def __aenter__(self) -> "Admin":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.cluster.close()

    async def _controller(self) -> Any:
        if self.cluster.controller_id < 0 or self.cluster.controller_id not in self.cluster.brokers:
            await self.cluster.refresh([])
        cid = self.cluster.controller_id
        return cid if cid in self.cluster.brokers else None

    # ------------------------------------------------------------------ cluster

    async def describe_cluster(self) -> ClusterDescription:
        """Cluster id, controller and brokers (DescribeCluster when offered, else Metadata)."""
        node = await self.cluster.any_node()
        if self.cluster.api_version(node, apis.DESCRIBE_CLUSTER) is not None:
            resp = await self.cluster.send(node, apis.DESCRIBE_CLUSTER, {"include_cluster_authorized_operations": False, "endpoint_type": 1})
            if resp.error_code == ErrorCode.none:
                brokers = sorted((BrokerInfo(b.broker_id, b.host, b.port, b.rack) for b in resp.brokers), key=lambda b: b.node_id)
                return ClusterDescription(resp.cluster_id, resp.controller_id, brokers)
        await self.cluster.refresh([])
        return ClusterDescription(self.cluster.cluster_id, self.cluster.controller_id, sorted(self.cluster.brokers.values(), key=lambda b: b.node_id))

    # ------------------------------------------------------------------ topics

    async def list_topics(self, *, internal: bool = False) -> list[str]:
        await self.cluster.refresh(None)
        return sorted(t.name for t in self.cluster.topics.values() if internal or not t.internal)

    async def describe_topics(self, topics: Iterable[str] | None = None) -> dict[str, TopicInfo]:
        """Partitions with leader, replicas, ISR; None: every topic. Missing topics raise
        UNKNOWN_TOPIC_OR_PARTITION."""
        names = None if topics is None else list(topics)
        resp = await self.cluster.refresh(names)
        out: dict[str, TopicInfo] = {}
        for t in resp.topics:
            if t.error_code not in (ErrorCode.none, ErrorCode.leader_not_available):
                raise KafkaError(t.error_code, f"topic {t.name!r}")
            out[t.name] = self.cluster.topics[t.name]
        return dict(sorted(out.items()))

    async def create_topics(self, topics: Sequence[NewTopic | str], *, validate_only: bool = False, raise_errors: bool = True) -> dict[str, KafkaError | None]:
        new = [NewTopic(t) if isinstance(t, str) else t for t in topics]
        req = {
            "topics": [
                {
                    "name": t.name,
                    "num_partitions": t.partitions if not t.replica_assignment else -1,
                    "replication_factor": t.replication_factor if not t.replica_assignment else -1,
                    "assignments": [{"partition_index": p, "broker_ids": b} for p, b in sorted((t.replica_assignment or {}).items())],
                    "configs": [{"name": k, "value": str(v)} for k, v in t.config.items()],
                }
                for t in new
            ],
            "timeout": self.timeout_ms,
            "validate_only": validate_only,
        }
        resp = await self.cluster.send(await self._controller(), apis.CREATE_TOPICS, req)
        results = {t.name: _err(t.error_code, getattr(t, "error_message", None), f"create topic {t.name!r}") for t in resp.topics}
        if not validate_only:
            created = [n for n, e in results.items() if e is None]
            if created:
                await self._wait_topics(created, present=True)
        return _check(results, raise_errors)

    async def _wait_topics(self, names: list[str], *, present: bool, timeout: float = 10.0) -> None:
        """Metadata catches up with a create or delete (immediate on one node, not on a cluster)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.cluster.refresh(names)
            if present:
                ok = all(n in self.cluster.topics and all(p.leader >= 0 for p in self.cluster.topics[n].partitions.values()) and self.cluster.topics[n].partitions for n in names)
            else:
                ok = all(n not in self.cluster.topics for n in names)
            if ok or asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(self.retry_backoff)

    async def delete_topics(self, topics: Iterable[str], *, raise_errors: bool = True) -> dict[str, KafkaError | None]:
        names = list(topics)
        resp = await self.cluster.send(await self._controller(), apis.DELETE_TOPICS, {"topic_names": names, "topics": [{"name": n} for n in names], "timeout": self.timeout_ms})
        results = {r.name: _err(r.error_code, getattr(r, "error_message", None), f"delete topic {r.name!r}") for r in resp.responses}
        gone = [n for n, e in results.items() if e is None]
        if gone:
            await self._wait_topics(gone, present=False)
        return _check(results, raise_errors)

    async def create_partitions(self, new_counts: Mapping[str, int], *, validate_only: bool = False, raise_errors: bool = True) -> dict[str, KafkaError | None]:
        """Grow each topic to the given total partition count."""
        resp = await self.cluster.send(await self._controller(), apis.CREATE_PARTITIONS, {
            "topics": [{"name": t, "count": n, "assignments": None} for t, n in new_counts.items()],
            "timeout": self.timeout_ms, "validate_only": validate_only,
        })
        results = {r.name: _err(r.error_code, getattr(r, "error_message", None), f"create partitions {r.name!r}") for r in resp.results}
        if not validate_only:
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                await self.cluster.refresh(list(new_counts))
                if all(self.cluster.partition_count(t) >= n for t, n in new_counts.items() if results.get(t) is None):
                    break
                await asyncio.sleep(self.retry_backoff)
        return _check(results, raise_errors)

    # ------------------------------------------------------------------ configs

    async def describe_configs(self, resource_type: str, name: str, keys: Iterable[str] | None = None) -> dict[str, ConfigEntry]:
        """Configs of a topic (``"topic"``) or broker (``"broker"``, name = broker id)."""
        rtype = RESOURCE_TYPES[resource_type]
        node = int(name) if resource_type == "broker" and name.isdigit() and int(name) in self.cluster.brokers else None
        resp = await self.cluster.send(node, apis.DESCRIBE_CONFIGS, {
            # every key, filtered here: Tansu 0.6 drops the connection when keys are named
            "resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": None}],
            "include_synonyms": False, "include_documentation": False,
        })
        wanted = None if keys is None else set(keys)
        out: dict[str, ConfigEntry] = {}
        for r in resp.results:
            if r.error_code != ErrorCode.none:
                raise KafkaError(r.error_code, getattr(r, "error_message", None) or f"describe configs of {resource_type} {name!r}")
            for c in r.configs:
                if wanted is not None and c.name not in wanted:
                    continue
                src = getattr(c, "config_source", -1)
                default = src == 5 if src not in (-1,) else bool(getattr(c, "is_default", False))
                out[c.name] = ConfigEntry(c.name, c.value, CONFIG_SOURCES.get(src, str(src)), c.read_only, c.is_sensitive, default)
        return dict(sorted(out.items()))

    async def alter_configs(self, resource_type: str, name: str, *, set: Mapping[str, str] | None = None, delete: Iterable[str] = (), validate_only: bool = False) -> None:
        """Set and delete (revert to default) config keys: IncrementalAlterConfigs, or AlterConfigs
        (read, merge, write back) against brokers without it."""
        rtype = RESOURCE_TYPES[resource_type]
        set = dict(set or {})
        delete = list(delete)
        node = int(name) if resource_type == "broker" and name.isdigit() and int(name) in self.cluster.brokers else None
        if node is None:
            node = await self.cluster.any_node()
        if self.cluster.api_version(node, apis.INCREMENTAL_ALTER_CONFIGS) is not None:
            configs = [{"name": k, "config_operation": 0, "value": str(v)} for k, v in set.items()]
            configs += [{"name": k, "config_operation": 1, "value": None} for k in delete]
            resp = await self.cluster.send(node, apis.INCREMENTAL_ALTER_CONFIGS, {
                "resources": [{"resource_type": rtype, "resource_name": name, "configs": configs}], "validate_only": validate_only,
            })
        else:
            current = await self.describe_configs(resource_type, name)
            merged = {k: c.value for k, c in current.items() if c.source in ("dynamic_topic_config", "dynamic_broker_config") and k not in delete}
            merged.update(set)
            resp = await self.cluster.send(node, apis.ALTER_CONFIGS, {
                "resources": [{"resource_type": rtype, "resource_name": name, "configs": [{"name": k, "value": v} for k, v in merged.items()]}],
                "validate_only": validate_only,
            })
        for r in resp.responses:
            if r.error_code != ErrorCode.none:
                raise KafkaError(r.error_code, getattr(r, "error_message", None) or f"alter configs of {resource_type} {name!r}")

    # ------------------------------------------------------------------ offsets and records

    async def list_offsets(self, wanted: Mapping[TopicPartition, int | str]) -> dict[TopicPartition, tuple[int, int]]:
        """{tp: "earliest" | "latest" | timestamp ms} to {tp: (offset, timestamp)}."""
        spec = {TopicPartition(*tp): (EARLIEST if v == "earliest" else LATEST if v == "latest" else int(v)) for tp, v in wanted.items()}
        return await list_offsets(self.cluster, spec, retry_backoff=self.retry_backoff)

    async def topic_offsets(self, topic: str) -> dict[int, tuple[int, int]]:
        """{partition: (log start offset, log end offset)} of ``topic``."""
        await self.cluster.refresh([topic])
        info = self.cluster.topics.get(topic)
        if info is None:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"topic {topic!r}")
        tps = [TopicPartition(topic, p) for p in info.partitions]
        start = await list_offsets(self.cluster, {tp: EARLIEST for tp in tps})
        end = await list_offsets(self.cluster, {tp: LATEST for tp in tps})
        return {tp.partition: (start[tp][0], end[tp][0]) for tp in tps}

    async def delete_records(self, before: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Delete records below the given offsets (-1: the high watermark); return new low watermarks."""
        await self.cluster.refresh({tp.topic for tp in before})
        by_node: dict[int, dict[TopicPartition, int]] = collections.defaultdict(dict)
        for tp, off in before.items():
            tp = TopicPartition(*tp)
            leader = self.cluster.leader(tp.topic, tp.partition)
            if leader < 0:
                raise KafkaError(ErrorCode.unknown_topic_or_partition, str(tp))
            by_node[leader][tp] = off
        out: dict[TopicPartition, int] = {}
        for node, tps in by_node.items():
            topics: dict[str, list[dict]] = collections.defaultdict(list)
            for tp, off in tps.items():
                topics[tp.topic].append({"partition_index": tp.partition, "offset": off})
            resp = await self.cluster.send(node, apis.DELETE_RECORDS, {"topics": [{"name": t, "partitions": ps} for t, ps in topics.items()], "timeout": self.timeout_ms})
            for t in resp.topics:
                for p in t.partitions:
                    tp = TopicPartition(t.name, p.partition_index)
                    if p.error_code != ErrorCode.none:
                        raise KafkaError(p.error_code, f"delete records {tp}")
                    out[tp] = p.low_watermark
        return out

    # ------------------------------------------------------------------ replicas

    async def log_end_offsets(self, topic: str) -> dict[int, int]:
        """{partition: log end offset on its leader} (DescribeLogDirs: high watermark + offset lag).

        Empty for brokers that do not offer DescribeLogDirs."""
        await self.cluster.refresh([topic])
        info = self.cluster.topics.get(topic)
        if info is None:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, f"topic {topic!r}")
        hw = {p: end for p, (_start, end) in (await self.topic_offsets(topic)).items()}
        leaders: dict[int, list[int]] = collections.defaultdict(list)
        for p, pi in info.partitions.items():
            if pi.leader >= 0:
                leaders[pi.leader].append(p)
        out: dict[int, int] = {}
        for node, parts in leaders.items():
            if self.cluster.api_version(node, apis.DESCRIBE_LOG_DIRS) is None:
                try:
                    await self.cluster.connection(node)
                except KafkaError:
                    continue
                if self.cluster.api_version(node, apis.DESCRIBE_LOG_DIRS) is None:
                    continue
            resp = await self.cluster.send(node, apis.DESCRIBE_LOG_DIRS, {"topics": [{"topic": topic, "partitions": parts}]})
            for r in resp.results:
                for t in r.topics:
                    for p in t.partitions:
                        if p.partition_index in hw:
                            out[p.partition_index] = hw[p.partition_index] + p.offset_lag
        return out

    async def describe_log_dirs(self, brokers: Iterable[int] | None = None, topics: Iterable[str] | None = None) -> dict[int, list[LogDirDescription] | KafkaError]:
        """The log dirs of each broker (default: all) with the size of every replica they hold of
        ``topics`` (default: all topics). A broker that does not offer DescribeLogDirs, or cannot
        be reached, maps to the error instead."""
        if brokers is None or not self.cluster.brokers:
            await self.cluster.refresh([])
        nodes = sorted(self.cluster.brokers) if brokers is None else list(brokers)
        if topics is None:
            wanted = None
        else:
            names = list(topics)
            await self.cluster.refresh(names)
            wanted = [{"topic": t, "partitions": sorted(self.cluster.topics[t].partitions)} for t in names if t in self.cluster.topics]

        async def one(node: int) -> list[LogDirDescription] | KafkaError:
            try:
                await self.cluster.connection(node)
                if self.cluster.api_version(node, apis.DESCRIBE_LOG_DIRS) is None:
                    return KafkaError(ErrorCode.unsupported_version, f"broker {node} does not offer DescribeLogDirs")
                resp = await self.cluster.send(node, apis.DESCRIBE_LOG_DIRS, {"topics": wanted})
            except KafkaError as e:
                return e
            if getattr(resp, "error_code", ErrorCode.none) != ErrorCode.none:
                return KafkaError(resp.error_code, f"describe log dirs of broker {node}")
            out = []
            for r in resp.results:
                replicas = {
                    TopicPartition(t.name, p.partition_index): ReplicaLogInfo(p.partition_size, p.offset_lag, p.is_future_key)
                    for t in r.topics for p in t.partitions
                }
                out.append(LogDirDescription(
                    r.log_dir, None if r.error_code == ErrorCode.none else r.error_code.name.upper(), replicas,
                    getattr(r, "total_bytes", -1), getattr(r, "usable_bytes", -1),
                ))
            return out

        results = await asyncio.gather(*(one(n) for n in nodes))
        return dict(zip(nodes, results))

    async def elect_leaders(self, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, KafkaError | None]:
        """Preferred leader election for ``partitions`` (None: all). ELECTION_NOT_NEEDED counts as done."""
        tps = None if partitions is None else [TopicPartition(*tp) for tp in partitions]
        by_topic: dict[str, list[int]] = collections.defaultdict(list)
        for tp in tps or []:
            by_topic[tp.topic].append(tp.partition)
        node = await self._controller()
        resp = await self.cluster.send(node, apis.ELECT_LEADERS, {
            "election_type": 0, "timeout": self.timeout_ms,
            "topic_partitions": None if tps is None else [{"topic": t, "partitions": ps} for t, ps in by_topic.items()],
        })
        out: dict[TopicPartition, KafkaError | None] = {}
        for r in resp.replica_election_results:
            for p in r.partition_result:
                code = p.error_code
                ok = code in (ErrorCode.none, ErrorCode.election_not_needed)
                out[TopicPartition(r.topic, p.partition_id)] = None if ok else KafkaError(code, p.error_message or "")
        return out

    async def reassign_partitions(self, targets: Mapping[TopicPartition, Sequence[int] | None]) -> dict[TopicPartition, KafkaError | None]:
        """Move partitions to new replica lists (None cancels a reassignment in progress)."""
        by_topic: dict[str, list[dict]] = collections.defaultdict(list)
        for tp, replicas in targets.items():
            tp = TopicPartition(*tp)
            by_topic[tp.topic].append({"partition_index": tp.partition, "replicas": None if replicas is None else list(replicas)})
        node = await self._controller()
        resp = await self.cluster.send(node, apis.ALTER_PARTITION_REASSIGNMENTS, {
            "timeout": self.timeout_ms, "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]})
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, resp.error_message or "reassign partitions")
        out: dict[TopicPartition, KafkaError | None] = {}
        for t in resp.responses:
            for p in t.partitions:
                out[TopicPartition(t.name, p.partition_index)] = None if p.error_code == ErrorCode.none else KafkaError(p.error_code, p.error_message or "")
        return out

    async def list_reassignments(self) -> dict[TopicPartition, tuple[list[int], list[int], list[int]]]:
        """Reassignments in progress: {tp: (current replicas, adding, removing)}."""
        node = await self._controller()
        resp = await self.cluster.send(node, apis.LIST_PARTITION_REASSIGNMENTS, {"timeout": self.timeout_ms, "topics": None})
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, resp.error_message or "list reassignments")
        return {
            TopicPartition(t.name, p.partition_index): (list(p.replicas), list(p.adding_replicas), list(p.removing_replicas))
            for t in resp.topics for p in t.partitions
        }

    # ------------------------------------------------------------------ groups

    async def list_groups(self) -> list[GroupListing]:
        """Groups of every broker (ListGroups is per coordinator)."""
        await self.cluster.refresh([])
        out: dict[str, GroupListing] = {}
        for node in sorted(self.cluster.brokers):
            resp = await self.cluster.send(node, apis.LIST_GROUPS, {"states_filter": [], "types_filter": []})
            if resp.error_code != ErrorCode.none:
                raise KafkaError(resp.error_code, f"list groups on broker {node}")
            for g in resp.groups:
                out[g.group_id] = GroupListing(g.group_id, g.protocol_type, getattr(g, "group_state", "") or "")
        return sorted(out.values(), key=lambda g: g.group_id)

    async def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        out: dict[str, GroupDescription] = {}
        for gid in group_ids:
            node = await self.cluster.coordinator(gid)
            resp = await self.cluster.send(node, apis.DESCRIBE_GROUPS, {"groups": [gid], "include_authorized_operations": False})
            for g in resp.groups:
                members = []
                for m in g.members:
                    sub: list[str] = []
                    tps: list[TopicPartition] = []
                    if g.protocol_type == "consumer":
                        try:
                            sub = decode_subscription(m.member_metadata).topics if m.member_metadata else []
                            tps = decode_assignment(m.member_assignment).partitions if m.member_assignment else []
                        except KafkaError:
                            pass
                    members.append(MemberDescription(m.member_id, m.client_id, m.client_host, getattr(m, "group_instance_id", None), sorted(tps), sorted(sub)))
                out[g.group_id] = GroupDescription(
                    g.group_id, g.group_state, g.protocol_type, g.protocol_data, members, node,
                    None if g.error_code == ErrorCode.none else g.error_code.name.upper(),
                )
        return out

    async def delete_groups(self, group_ids: Iterable[str], *, raise_errors: bool = True) -> dict[str, KafkaError | None]:
        results: dict[str, KafkaError | None] = {}
        for gid in group_ids:
            node = await self.cluster.coordinator(gid)
            resp = await self.cluster.send(node, apis.DELETE_GROUPS, {"groups_names": [gid]})
            for r in resp.results:
                results[r.group_id] = _err(r.error_code, None, f"delete group {r.group_id!r}")
        return _check(results, raise_errors)

    async def list_group_offsets(self, group_id: str, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, OffsetAndMetadata]:
        """The group's committed offsets (every partition it committed, or just ``partitions``)."""
        res = await fetch_committed(self.cluster, group_id, None if partitions is None else [TopicPartition(*tp) for tp in partitions])
        return {tp: om for tp, om in sorted(res.items()) if om is not None}

    async def group_lag(self, group_id: str, topics: Iterable[str] | None = None) -> list[PartitionOffsets]:
        """Per partition of the group's topics: log end offset, committed offset, lag."""
        committed = await self.list_group_offsets(group_id)
        names = set(topics) if topics is not None else {tp.topic for tp in committed}
        desc = (await self.describe_groups([group_id])).get(group_id)
        if desc is not None and topics is None:
            for m in desc.members:
                names.update(tp.topic for tp in m.assignment)
        tps: list[TopicPartition] = []
        if names:
            await self.cluster.refresh(names)
        for t in sorted(names):
            info = self.cluster.topics.get(t)
            if info is None:
                continue
            tps += [TopicPartition(t, p) for p in info.partitions]
        if not tps:
            return []
        end = await list_offsets(self.cluster, {tp: LATEST for tp in tps})
        start = await list_offsets(self.cluster, {tp: EARLIEST for tp in tps})
        return [
            PartitionOffsets(tp.topic, tp.partition, end[tp][0], committed[tp].offset if tp in committed else None, start[tp][0])
            for tp in tps
        ]

    async def alter_group_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit offsets for a group with no active members (as kafka-consumer-groups --reset-offsets)."""
        await commit_offsets(self.cluster, group_id, {TopicPartition(*tp): OffsetAndMetadata(o) for tp, o in offsets.items()})

    async def delete_group_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> None:
        node = await self.cluster.coordinator(group_id)
        topics: dict[str, list[dict]] = collections.defaultdict(list)
        for tp in partitions:
            topics[tp[0]].append({"partition_index": tp[1]})
        resp = await self.cluster.send(node, apis.OFFSET_DELETE, {"group_id": group_id, "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]})
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, f"delete offsets of {group_id!r}")
        for t in resp.topics:
            for p in t.partitions:
                if p.error_code != ErrorCode.none:
                    raise KafkaError(p.error_code, f"delete offset {t.name}-{p.partition_index} of {group_id!r}")

    # ------------------------------------------------------------------ transactions

    async def list_transactions(
        self, *, states: Iterable[str] = (), producer_ids: Iterable[int] = (), min_duration_ms: int = -1, pattern: str | None = None,
    ) -> list[TransactionListing]:
        """Transactional ids of every broker (ListTransactions goes to each coordinator), filtered
        by state names, producer ids, transactions open longer than ``min_duration_ms``
        (ListTransactions v1+) and a regular expression on the id (v2+)."""
        await self.cluster.refresh([])
        out: list[TransactionListing] = []
        for node in sorted(self.cluster.brokers):
            if min_duration_ms >= 0 or pattern is not None:
                await self.cluster.connection(node)
                v = self.cluster.api_version(node, apis.LIST_TRANSACTIONS)
                need = 2 if pattern is not None else 1
                if v is None or v < need:
                    raise KafkaError(ErrorCode.unsupported_version, f"broker {node} cannot filter transactions by {'pattern' if pattern is not None else 'duration'} (ListTransactions v{need})")
            resp = await self.cluster.send(node, apis.LIST_TRANSACTIONS, {
                "state_filters": list(states), "producer_id_filters": list(producer_ids),
                "duration_filter": min_duration_ms, "transactional_id_pattern": pattern,
            })
            if resp.error_code != ErrorCode.none:
                raise KafkaError(resp.error_code, getattr(resp, "error_message", None) or f"list transactions on broker {node}")
            if resp.unknown_state_filters:
                raise KafkaError(ErrorCode.invalid_request, f"unknown transaction states: {', '.join(resp.unknown_state_filters)}")
            out += [TransactionListing(t.transactional_id, t.producer_id, t.transaction_state, node) for t in resp.transaction_states]
        return sorted(out, key=lambda t: t.transactional_id)

    async def describe_transactions(self, transactional_ids: Iterable[str]) -> dict[str, TransactionDescription]:
        """The state of each transactional id at its coordinator; an unknown id raises
        TRANSACTIONAL_ID_NOT_FOUND."""
        out: dict[str, TransactionDescription] = {}
        for tid in transactional_ids:
            deadline = asyncio.get_running_loop().time() + self.cluster.request_timeout
            while True:
                node = await self.cluster.coordinator(tid, key_type=1)
                resp = await self.cluster.send(node, apis.DESCRIBE_TRANSACTIONS, {"transactional_ids": [tid]})
                (st,) = resp.transaction_states
                code = st.error_code
                if code in (ErrorCode.not_coordinator, ErrorCode.coordinator_not_available, ErrorCode.coordinator_load_in_progress) \
                        and asyncio.get_running_loop().time() < deadline:
                    self.cluster.forget_coordinator(tid, key_type=1)
                    await asyncio.sleep(self.retry_backoff)
                    continue
                break
            if code != ErrorCode.none:
                raise KafkaError(code, f"transactional id {tid!r}")
            start = st.transaction_start_time
            start_ms = int(start.timestamp() * 1000) if hasattr(start, "timestamp") else int(start)
            timeout = st.transaction_timeout
            timeout_ms = int(timeout.total_seconds() * 1000) if hasattr(timeout, "total_seconds") else int(timeout)
            out[tid] = TransactionDescription(
                tid, node, st.transaction_state, st.producer_id, st.producer_epoch, timeout_ms, start_ms if start_ms >= 0 else -1,
                sorted(TopicPartition(t.topic, p) for t in st.topics for p in t.partitions),
            )
        return out

    async def describe_producers(self, partitions: Iterable[TopicPartition], *, broker_id: int | None = None) -> dict[TopicPartition, list[ProducerState]]:
        """The active producers of each partition, from its leader (or from ``broker_id``'s replica)."""
        tps = [TopicPartition(*tp) for tp in partitions]
        await self.cluster.refresh({tp.topic for tp in tps})
        by_node: dict[int, list[TopicPartition]] = collections.defaultdict(list)
        for tp in tps:
            node = broker_id if broker_id is not None else self.cluster.leader(tp.topic, tp.partition)
            if node is None or node < 0:
                raise KafkaError(ErrorCode.unknown_topic_or_partition, str(tp))
            by_node[node].append(tp)
        out: dict[TopicPartition, list[ProducerState]] = {}
        for node, items in by_node.items():
            topics: dict[str, list[int]] = collections.defaultdict(list)
            for tp in items:
                topics[tp.topic].append(tp.partition)
            resp = await self.cluster.send(node, apis.DESCRIBE_PRODUCERS, {"topics": [{"name": t, "partition_indexes": ps} for t, ps in topics.items()]})
            for t in resp.topics:
                for p in t.partitions:
                    tp = TopicPartition(t.name, p.partition_index)
                    if p.error_code != ErrorCode.none:
                        raise KafkaError(p.error_code, p.error_message or f"describe producers of {tp}")
                    out[tp] = [ProducerState(a.producer_id, a.producer_epoch, a.last_sequence, a.last_timestamp, a.coordinator_epoch,
                                             a.current_txn_start_offset) for a in p.active_producers]
        return out

    async def abort_transaction(self, partition: TopicPartition, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> None:
        """Write an ABORT marker for ``producer_id`` to ``partition`` (WriteTxnMarkers to its leader),
        as Kafka's admin client does to end a hanging transaction. The marker ends whatever
        transaction the producer has open there; it must carry the producer's current epoch."""
        tp = TopicPartition(*partition)
        await self.cluster.refresh([tp.topic])
        leader = self.cluster.leader(tp.topic, tp.partition)
        if leader < 0:
            raise KafkaError(ErrorCode.unknown_topic_or_partition, str(tp))
        resp = await self.cluster.send(leader, apis.WRITE_TXN_MARKERS, {"markers": [{
            "producer_id": producer_id, "producer_epoch": producer_epoch, "transaction_result": False,
            "topics": [{"name": tp.topic, "partition_indexes": [tp.partition]}], "coordinator_epoch": max(0, coordinator_epoch),
        }]})
        for m in resp.markers:
            for t in m.topics:
                for p in t.partitions:
                    if p.error_code != ErrorCode.none:
                        raise KafkaError(p.error_code, f"abort of producer {producer_id} on {t.name}-{p.partition_index}")

    # ------------------------------------------------------------------ ACLs

    async def create_acls(self, acls: Sequence[AclBinding], *, raise_errors: bool = True) -> list[KafkaError | None]:
        """Add ACL bindings (CreateAcls); one result per binding, in order."""
        acls = list(acls)
        if not acls:
            return []
        resp = await self.cluster.send(None, apis.CREATE_ACLS, {"creations": [b.to_request() for b in acls]})
        out = [_err(r.error_code, r.error_message, f"create ACL {b}") for r, b in zip(resp.results, acls)]
        if raise_errors:
            for e in out:
                if e is not None:
                    raise e
        return out

    async def describe_acls(self, acl_filter: AclFilter | None = None) -> list[AclBinding]:
        """The ACL bindings the filter selects (DescribeAcls); every binding without a filter."""
        f = acl_filter or AclFilter()
        resp = await self.cluster.send(None, apis.DESCRIBE_ACLS, f.to_request())
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, resp.error_message or "describe ACLs")
        return [AclBinding.from_codes(r.resource_type, r.resource_name, getattr(r, "pattern_type", 3), a.principal, a.host,
                                      a.operation, a.permission_type)
                for r in resp.resources for a in r.acls]

    async def delete_acls(self, filters: Sequence[AclFilter]) -> list[list[AclBinding]]:
        """Delete the bindings each filter selects (DeleteAcls); per filter, the bindings deleted."""
        filters = list(filters)
        if not filters:
            return []
        resp = await self.cluster.send(None, apis.DELETE_ACLS, {"filters": [f.to_request() for f in filters]})
        out = []
        for r in resp.filter_results:
            if r.error_code != ErrorCode.none:
                raise KafkaError(r.error_code, r.error_message or "delete ACLs")
            deleted = []
            for m in r.matching_acls:
                if m.error_code != ErrorCode.none:
                    raise KafkaError(m.error_code, m.error_message or "delete ACLs")
                deleted.append(AclBinding.from_codes(m.resource_type, m.resource_name, getattr(m, "pattern_type", 3),
                                                     m.principal, m.host, m.operation, m.permission_type))
            out.append(deleted)
        return out

    # ------------------------------------------------------------------ SCRAM users

    async def describe_user_scram_credentials(self, users: Iterable[str] | None = None) -> dict[str, list[ScramCredentialInfo]]:
        """The SCRAM mechanisms and iteration counts of ``users`` (None: every user that has one).
        A named user without credentials raises RESOURCE_NOT_FOUND."""
        names = None if users is None else list(users)
        resp = await self.cluster.send(None, apis.DESCRIBE_USER_SCRAM_CREDENTIALS,
                                       {"users": None if names is None else [{"name": n} for n in names]})
        if resp.error_code != ErrorCode.none:
            raise KafkaError(resp.error_code, resp.error_message or "describe SCRAM credentials")
        out: dict[str, list[ScramCredentialInfo]] = {}
        for r in resp.results:
            if r.error_code != ErrorCode.none:
                raise KafkaError(r.error_code, r.error_message or f"user {r.user!r}")
            out[r.user] = [ScramCredentialInfo(scram.MECHANISM_CODES.get(c.mechanism, str(c.mechanism)), c.iterations)
                           for c in r.credential_infos]
        return out

    async def alter_user_scram_credentials(
        self, upsertions: Iterable[tuple[str, str, str] | tuple[str, str, str, int]] = (),
        deletions: Iterable[tuple[str, str]] = (), *, raise_errors: bool = True,
    ) -> dict[str, KafkaError | None]:
        """Set ``(user, mechanism, password[, iterations])`` credentials and delete ``(user,
        mechanism)`` ones (AlterUserScramCredentials, KIP-554). As Kafka's admin client does, the
        password never leaves this process: a random salt is drawn and only the salted password
        (PBKDF2 with ``iterations``, 4096 by default) is sent. Goes to the controller."""
        codes = {v: k for k, v in scram.MECHANISM_CODES.items()}
        ups, dels, users = [], [], []
        for item in upsertions:
            user, mech, password, *rest = item
            iterations = rest[0] if rest else scram.MIN_ITERATIONS
            mech = str(mech).upper()
            if mech not in codes:
                raise ValueError(f"unknown SCRAM mechanism {mech}: use SCRAM-SHA-256 or SCRAM-SHA-512")
            salt = os.urandom(32)
            salted = scram.salted_password(mech, password, salt, iterations) if iterations > 0 else b""
            ups.append({"name": user, "mechanism": codes[mech], "iterations": iterations, "salt": salt, "salted_password": salted})
            users.append(user)
        for user, mech in deletions:
            mech = str(mech).upper()
            if mech not in codes:
                raise ValueError(f"unknown SCRAM mechanism {mech}: use SCRAM-SHA-256 or SCRAM-SHA-512")
            dels.append({"name": user, "mechanism": codes[mech]})
            users.append(user)
        if not users:
            return {}
        deadline = asyncio.get_running_loop().time() + self.cluster.request_timeout
        while True:
            node = await self._controller()
            resp = await self.cluster.send(node, apis.ALTER_USER_SCRAM_CREDENTIALS, {"deletions": dels, "upsertions": ups})
            if any(r.error_code == ErrorCode.not_controller for r in resp.results) and asyncio.get_running_loop().time() < deadline:
                await self.cluster.refresh([])  # the controller moved: ask the new one
                await asyncio.sleep(self.retry_backoff)
                continue
            break
        out = {r.user: _err(r.error_code, r.error_message, f"SCRAM credential of {r.user!r}") for r in resp.results}
        return _check(out, raise_errors)
