"""Metadata: brokers, topics with ids, partitions with leader, replicas and ISR; auto-create.
DescribeTopicPartitions: the same for topics, paged, without auto-creation.

Metadata responses are encoded by hand (:mod:`odradek.protocol.metadata`) and cached per request
shape until the metadata changes.
"""

from __future__ import annotations

from ...config import validate_topic_name
from ...protocol.metadata import encode_metadata_response
from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ..router import Response, register
from . import authorized

METADATA, DESCRIBE_TOPIC_PARTITIONS = 3, 75
# Kafka's max.request.partition.size.limit: the most partitions one DescribeTopicPartitions answer holds.
MAX_PARTITIONS_PER_RESPONSE = 2000


@register(METADATA, 0, 13)
async def handle(conn, header, request):
    broker = conn.broker
    version = header.api_version
    topics = broker.store.topics()
    req_topics = request.topics
    if req_topics is not None and version == 0 and len(req_topics) == 0:
        req_topics = None  # v0: an empty list means all topics
    allow_create = getattr(request, "allow_auto_topic_creation", True)
    names: list[str] | None
    by_id_unknown: list = []
    if req_topics is None:
        names = None
    elif any(_has_id(t) for t in req_topics):
        # As Kafka: once a request names topics by id, the ids decide (the Java client sends
        # name "" beside each id); names are ignored and nothing is auto-created.
        names, allow_create = [], False
        for t in req_topics:
            if not _has_id(t):
                continue
            meta = broker.topic_by_id(t.topic_id)
            if meta is None:
                by_id_unknown.append(t.topic_id)
            else:
                names.append(meta.name)
    else:
        names = []
        for t in req_topics:
            name = getattr(t, "name", None)
            if name is None:
                by_id_unknown.append(getattr(t, "topic_id", None))
                continue
            names.append(name)
    # ACLs (KafkaApis.handleTopicMetadataRequest): an all-topics request leaves out the topics the
    # principal may not describe; a named one answers them TOPIC_AUTHORIZATION_FAILED, existing or
    # not; auto-creation needs CREATE on the cluster or the topic
    az = broker.security.authorizer
    denied: set[str] = set()
    if az is not None:
        broker.security.refresh_acls()
        if names is None:
            names = [t for t in sorted(topics) if conn.authorize(acl.DESCRIBE, acl.TOPIC, t)]
        else:
            denied = {n for n in names if not conn.authorize(acl.DESCRIBE, acl.TOPIC, n)}
            if allow_create:
                may_create = conn.authorize(acl.CREATE, acl.CLUSTER, acl.CLUSTER_NAME)
                denied |= {n for n in names if n not in topics and not may_create
                           and not conn.authorize(acl.CREATE, acl.TOPIC, n)}
    if allow_create and names:
        for name in names:
            if name not in topics and name not in denied:
                broker.maybe_auto_create(name)
    want_topic_ops = getattr(request, "include_topic_authorized_operations", False)
    want_cluster_ops = getattr(request, "include_cluster_authorized_operations", False)
    listener = conn.listener.name
    who = (conn.principal, conn.client_host, broker.security._acl_version) if az is not None else None
    key = (version, None if names is None else tuple(names), tuple(by_id_unknown), broker.store.version, want_topic_ops,
           want_cluster_ops, listener, who)
    cached = broker.metadata_cache.get(key)
    if cached is None:
        body = _build(broker, names, by_id_unknown, authorized.ops_of(conn, want_topic_ops, acl.TOPIC),
                      authorized.ops_of(conn, want_cluster_ops, acl.CLUSTER)(acl.CLUSTER_NAME), listener, denied)
        cached = encode_metadata_response(version, body)
        if len(broker.metadata_cache) > 1000:
            broker.metadata_cache.clear()
        broker.metadata_cache[key] = cached
    return Response.of(cached)


def _has_id(t) -> bool:
    tid = getattr(t, "topic_id", None)
    return tid is not None and tid.int != 0


def _partition_entries(broker, name, meta, live, first: int = 0, limit: int | None = None) -> list[dict]:
    """Metadata / DescribeTopicPartitions entries of ``meta``'s partitions from ``first`` on."""
    out = []
    for p in sorted(meta.partitions.values(), key=lambda s: s.partition):
        if p.partition < first:
            continue
        if limit is not None and len(out) >= limit:
            break
        part = broker.partitions.get((name, p.partition))
        local = part is not None and part.is_leader and part.leader == p.leader
        out.append(
            {
                "error_code": ErrorCode.leader_not_available if p.leader < 0 else 0,
                "partition_index": p.partition,
                "leader_id": p.leader,
                "leader_epoch": part.leader_epoch if local else p.leader_epoch,
                "replica_nodes": p.replicas,
                "isr_nodes": part.isr if local else p.isr,
                "offline_replicas": [r for r in p.replicas if r not in live],
            }
        )
    return out


@register(DESCRIBE_TOPIC_PARTITIONS, 0, 0)
async def describe_topic_partitions(conn, header, request):
    """Topics and their partitions, paged by a cursor (KIP-966); never creates a topic.

    Topics are answered in name order, all of them when the request names none. At most
    ``response_partition_limit`` partitions (capped at 2000, Kafka's default) are answered; when a
    topic is cut, ``next_cursor`` says where to go on. Odradek has no eligible leader replicas
    (ELR), so those lists are empty, as on a Kafka cluster with ELR off.
    """
    broker = conn.broker
    topics = broker.store.topics()
    live = {b[0] for b in broker.live_brokers()}
    names = sorted({t.name for t in request.topics}) if request.topics else sorted(topics)
    if not request.topics:
        names = [n for n in names if conn.authorize(acl.DESCRIBE, acl.TOPIC, n)]
    cursor = request.cursor
    if cursor is not None:
        if request.topics and cursor.topic_name not in names:
            raise KafkaError(ErrorCode.invalid_request, "the first topic is not in the request topic list")
        names = [n for n in names if n >= cursor.topic_name]
    limit = max(1, min(request.response_partition_limit, MAX_PARTITIONS_PER_RESPONSE))
    out, next_cursor = [], None
    for name in names:
        meta = topics.get(name)
        if not conn.authorize(acl.DESCRIBE, acl.TOPIC, name):
            out.append({"error_code": ErrorCode.topic_authorization_failed, "name": name, "topic_id": None, "partitions": []})
            continue
        if meta is None:
            err = ErrorCode.invalid_topic_exception if validate_topic_name(name) else ErrorCode.unknown_topic_or_partition
            out.append({"error_code": err, "name": name, "topic_id": None, "partitions": []})
            continue
        if limit <= 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        parts = _partition_entries(broker, name, meta, live, first, limit)
        for e in parts:
            e["eligible_leader_replicas"] = []
            e["last_known_elr"] = []
        limit -= len(parts)
        out.append({
            "error_code": 0, "name": name, "topic_id": meta.uuid, "is_internal": name.startswith("__"),
            "partitions": parts, "topic_authorized_operations": authorized.ops_of(conn, True, acl.TOPIC)(name),
        })
        if parts and parts[-1]["partition_index"] < max(meta.partitions):
            next_cursor = {"topic_name": name, "partition_index": parts[-1]["partition_index"] + 1}
            break
    return {"throttle_time": 0, "topics": out, "next_cursor": next_cursor}


def _build(broker, names, by_id_unknown, topic_ops, cluster_ops: int, listener: str | None = None,
           denied: set[str] | frozenset = frozenset()) -> dict:
    topics = broker.store.topics()
    brokers = broker.live_brokers(listener)
    live = {b[0] for b in brokers}
    out_topics = []
    for name in sorted(topics) if names is None else names:
        meta = topics.get(name)
        if name in denied:
            out_topics.append({"error_code": ErrorCode.topic_authorization_failed, "name": name, "partitions": [],
                               "topic_authorized_operations": authorized.INT32_MIN})
            continue
        if meta is None:
            err = ErrorCode.invalid_topic_exception if validate_topic_name(name) else ErrorCode.unknown_topic_or_partition
            out_topics.append({"error_code": err, "name": name, "partitions": [], "topic_authorized_operations": topic_ops(name)})
            continue
        parts = _partition_entries(broker, name, meta, live)
        out_topics.append(
            {
                "error_code": 0,
                "name": name,
                "topic_id": meta.uuid,
                "is_internal": name.startswith("__"),
                "partitions": parts,
                "topic_authorized_operations": topic_ops(name),
            }
        )
    for tid in by_id_unknown:
        out_topics.append({"error_code": ErrorCode.unknown_topic_id, "name": None, "topic_id": tid, "partitions": []})
    return {
        "throttle_time": 0,
        "brokers": [{"node_id": b, "host": h, "port": p, "rack": r} for b, h, p, r in brokers],
        "cluster_id": broker.store.cluster_id,
        "controller_id": broker.controller_id(),
        "topics": out_topics,
        "cluster_authorized_operations": cluster_ops,
    }
