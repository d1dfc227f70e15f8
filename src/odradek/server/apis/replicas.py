"""Replica operations: ElectLeaders (preferred and unclean), AlterPartitionReassignments,
ListPartitionReassignments, DescribeLogDirs, AlterReplicaLogDirs."""

from __future__ import annotations

import os
import shutil

from ...metadata.controller import elect_preferred_many, elect_unclean
from ...protocol.errors import ErrorCode
from ...security import acl
from ..router import register

ALTER_REPLICA_LOG_DIRS, DESCRIBE_LOG_DIRS, ELECT_LEADERS, ALTER_REASSIGNMENTS, LIST_REASSIGNMENTS = 34, 35, 43, 45, 46
PREFERRED, UNCLEAN = 0, 1


@register(ELECT_LEADERS, 0, 2)
async def elect_leaders(conn, header, request):
    broker = conn.broker
    if not conn.authorize(acl.ALTER, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed, "replica_election_results": []}
    etype = getattr(request, "election_type", PREFERRED)
    topics = broker.store.topics()
    every = request.topic_partitions is None
    if every:
        wanted = [(t, p) for t, meta in topics.items() for p in meta.partitions]
    else:
        wanted = [(tp.topic, p) for tp in request.topic_partitions for p in tp.partitions]
    results: dict[str, list] = {}
    answers: list[list] = []  # [topic, partition, code, message]
    preferred: list[tuple[int, str, object]] = []  # (answer index, topic, state) elected together
    for topic, p in wanted:
        meta = topics.get(topic)
        st = meta.partitions.get(p) if meta else None
        answers.append([topic, p, ErrorCode.none, None])
        if meta is None:
            answers[-1][2:] = ErrorCode.unknown_topic_or_partition, f"No such topic as {topic}"
        elif st is None:
            answers[-1][2:] = ErrorCode.unknown_topic_or_partition, f"No such partition as {topic}-{p}"
        elif etype not in (PREFERRED, UNCLEAN):
            answers[-1][2:] = ErrorCode.invalid_request, f"Unknown election type {etype}"
        elif broker.cluster is None:
            answers[-1][2] = ErrorCode.election_not_needed  # a single broker leads everything
        elif etype == PREFERRED:
            preferred.append((len(answers) - 1, topic, st))
        else:
            answers[-1][2] = elect_unclean(broker.store, topic, st, 0) or ErrorCode.none
    if preferred:
        codes = elect_preferred_many(broker.store, [(t, st) for _i, t, st in preferred], 0)
        for (i, _t, _st), code in zip(preferred, codes):
            answers[i][2] = code or ErrorCode.none
    for topic, p, code, msg in answers:
        entry = results.setdefault(topic, [])
        # Kafka leaves out, when asked for every partition, those that have the leader they should
        if not (every and code == ErrorCode.election_not_needed):
            entry.append({"partition_id": p, "error_code": code, "error_message": msg})
    if broker.cluster is not None:
        broker.cluster.reconcile()
    return {"throttle_time": 0, "error_code": 0, "replica_election_results": [
        {"topic": t, "partition_result": r} for t, r in results.items()]}


@register(ALTER_REASSIGNMENTS, 0, 0)
async def alter_partition_reassignments(conn, header, request):
    broker = conn.broker
    if not conn.authorize(acl.ALTER, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed,
                "error_message": "not authorized to reassign partitions", "responses": []}
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
    if not conn.authorize(acl.DESCRIBE, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed, "error_message": "not authorized", "topics": []}
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
        if st is not None and (st.adding or st.removing):
            adding, removing = st.adding, st.removing  # under way: what the controller recorded
        else:  # not started yet
            adding = [r for r in target if r not in current]
            removing = [r for r in current if r not in target]
        out.setdefault(topic, []).append({
            "partition_index": p, "replicas": current, "adding_replicas": adding, "removing_replicas": removing,
        })
    return {"throttle_time": 0, "error_code": 0, "error_message": None,
            "topics": [{"name": t, "partitions": ps} for t, ps in out.items()]}


@register(DESCRIBE_LOG_DIRS, 1, 4)
async def describe_log_dirs(conn, header, request):
    """Partition sizes on this broker. ``offset_lag`` is the log end offset minus the high watermark,
    so a leader's log end offset is its high watermark plus this lag."""
    if not conn.authorize(acl.DESCRIBE, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed, "results": []}
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
    if not conn.authorize(acl.ALTER, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "results": [{"topic_name": t.name, "partitions": [{"partition_index": i, "error_code": ErrorCode.cluster_authorization_failed} for i in t.partitions]} for d in request.dirs for t in d.topics]}
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
