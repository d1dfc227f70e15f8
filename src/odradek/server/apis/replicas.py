"""Replica operations: ElectLeaders (preferred), AlterPartitionReassignments,
ListPartitionReassignments, DescribeLogDirs, AlterReplicaLogDirs."""

from __future__ import annotations

import os
import shutil

from ...metadata.controller import elect_preferred_many
from ...protocol.errors import ErrorCode
from ..router import register

ALTER_REPLICA_LOG_DIRS, DESCRIBE_LOG_DIRS, ELECT_LEADERS, ALTER_REASSIGNMENTS, LIST_REASSIGNMENTS = 34, 35, 43, 45, 46
PREFERRED, UNCLEAN = 0, 1


@register(ELECT_LEADERS, 0, 2)
async def elect_leaders(conn, header, request):
    broker = conn.broker
    etype = getattr(request, "election_type", PREFERRED)
    topics = broker.store.topics()
    if request.topic_partitions is None:
        wanted = [(t, p) for t, meta in topics.items() for p in meta.partitions]
    else:
        wanted = [(tp.topic, p) for tp in request.topic_partitions for p in tp.partitions]
    results: dict[str, list] = {}
    elections = []  # (result entry, topic, state): decided together, written at once
    for topic, p in wanted:
        meta = topics.get(topic)
        st = meta.partitions.get(p) if meta else None
        code, msg = ErrorCode.none, None
        if st is None:
            code, msg = ErrorCode.unknown_topic_or_partition, "no such partition"
        elif etype != PREFERRED:
            code, msg = ErrorCode.invalid_request, "only preferred leader election is supported"
        elif broker.cluster is None:
            code, msg = ErrorCode.election_not_needed, "a single broker leads everything"
        entry = {"partition_id": p, "error_code": code, "error_message": msg}
        if st is not None and etype == PREFERRED and broker.cluster is not None:
            elections.append((entry, topic, st))
        results.setdefault(topic, []).append(entry)
    if elections:
        errors = elect_preferred_many(broker.store, [(t, st) for _e, t, st in elections], 0)
        for (entry, _t, _st), err in zip(elections, errors):
            if err is not None:
                entry.update(error_code=err, error_message=ErrorCode(err).name.upper())
    if broker.cluster is not None:
        broker.cluster.reconcile()
    return {"throttle_time": 0, "error_code": 0, "replica_election_results": [
        {"topic": t, "partition_result": r} for t, r in results.items()]}


@register(ALTER_REASSIGNMENTS, 0, 0)
async def alter_partition_reassignments(conn, header, request):
    broker = conn.broker
    topics = broker.store.topics()
    live = {b[0] for b in broker.live_brokers()}
    changes: dict = {}
    responses = []
    for t in request.topics:
        parts = []
        meta = topics.get(t.name)
        for p in t.partitions:
            code, msg = ErrorCode.none, None
            target = list(p.replicas) if p.replicas is not None else None
            if meta is None or p.partition_index not in meta.partitions:
                code, msg = ErrorCode.unknown_topic_or_partition, "no such partition"
            elif target is not None and (not target or len(set(target)) != len(target) or any(r not in live for r in target)):
                code, msg = ErrorCode.invalid_replica_assignment, f"replicas {target} must be distinct live brokers"
            elif broker.cluster is None:
                if target not in (None, [broker.broker_id]):
                    code, msg = ErrorCode.invalid_replica_assignment, "a single broker holds every replica"
            elif target is None and (t.name, p.partition_index) not in broker.store.reassignments():
                code, msg = ErrorCode.no_reassignment_in_progress, "nothing to cancel"
            else:
                changes[(t.name, p.partition_index)] = target
            parts.append({"partition_index": p.partition_index, "error_code": code, "error_message": msg})
        responses.append({"name": t.name, "partitions": parts})
    if changes and broker.cluster is not None:
        broker.store.change_reassignments(changes)
        broker.cluster.reconcile()
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "responses": responses}


@register(LIST_REASSIGNMENTS, 0, 0)
async def list_partition_reassignments(conn, header, request):
    broker = conn.broker
    pending = broker.store.reassignments() if broker.cluster is not None else {}
    topics = broker.store.topics()
    wanted = None if request.topics is None else {(t.name, p) for t in request.topics for p in t.partition_indexes}
    out: dict[str, list] = {}
    for (topic, p), target in sorted(pending.items()):
        if wanted is not None and (topic, p) not in wanted:
            continue
        meta = topics.get(topic)
        st = meta.partitions.get(p) if meta else None
        current = st.replicas if st else []
        out.setdefault(topic, []).append({
            "partition_index": p, "replicas": current,
            "adding_replicas": [r for r in target if r not in current],
            "removing_replicas": [r for r in current if r not in target],
        })
    return {"throttle_time": 0, "error_code": 0, "error_message": None,
            "topics": [{"name": t, "partitions": ps} for t, ps in out.items()]}


@register(DESCRIBE_LOG_DIRS, 1, 4)
async def describe_log_dirs(conn, header, request):
    """Partition sizes on this broker. ``offset_lag`` is the log end offset minus the high watermark,
    so a leader's log end offset is its high watermark plus this lag."""
    broker = conn.broker
    wanted = None if request.topics is None else {(t.topic, p) for t in request.topics for p in t.partitions}
    by_topic: dict[str, list] = {}
    for (topic, p), part in sorted(broker.partitions.items()):
        if wanted is not None and (topic, p) not in wanted:
            continue
        by_topic.setdefault(topic, []).append({
            "partition_index": p, "partition_size": part.log.size_bytes,
            "offset_lag": max(part.log_end_offset - part.high_watermark, 0), "is_future_key": False,
        })
    try:
        usage = shutil.disk_usage(broker.data_dir)
        total, free = usage.total, usage.free
    except OSError:
        total = free = -1
    return {"throttle_time": 0, "error_code": 0, "results": [{
        "error_code": 0, "log_dir": os.path.abspath(broker.data_dir),
        "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()],
        "total_bytes": total, "usable_bytes": free,
    }]}


@register(ALTER_REPLICA_LOG_DIRS, 1, 2)
async def alter_replica_log_dirs(conn, header, request):
    """Move replicas between this broker's log dirs. Odradek has one log dir: asking for it is done
    at once (the replicas are there); any other path is LOG_DIR_NOT_FOUND, as Kafka answers for a
    directory that is not one of its log dirs."""
    broker = conn.broker
    own = os.path.realpath(broker.data_dir)
    results: dict[str, list] = {}
    for d in request.dirs:
        here = os.path.isabs(d.path) and os.path.realpath(d.path) == own
        for t in d.topics:
            for index in t.partitions:
                if not here:
                    code = ErrorCode.log_dir_not_found
                elif (t.name, index) in broker.partitions:
                    code = ErrorCode.none
                elif t.name in broker.store.topics() and index in broker.store.topics()[t.name].partitions:
                    code = ErrorCode.replica_not_available
                else:
                    code = ErrorCode.unknown_topic_or_partition
                results.setdefault(t.name, []).append({"partition_index": index, "error_code": code})
    return {"throttle_time": 0, "results": [{"topic_name": n, "partitions": ps} for n, ps in results.items()]}
