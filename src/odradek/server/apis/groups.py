"""Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.

The coordinator state machine decides; these handlers park the responses that must wait (joins
and syncs), and make what the coordinator queued durable in ``__consumer_offsets`` before answering.
"""

from __future__ import annotations

import asyncio

from ...coordinator.group import GroupState
from ...protocol.errors import ErrorCode
from ...security import acl
from ..router import Deferred, register
from . import authorized

FIND_COORDINATOR, OFFSET_COMMIT, OFFSET_FETCH = 10, 8, 9
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 15, 16, 42, 47
GROUP_KEY, TXN_KEY = 0, 1


def _ms(v) -> int:
    return int(v.total_seconds() * 1000) if hasattr(v, "total_seconds") else int(v)


def _host(conn) -> str:
    return "/" + conn.peer.rsplit(":", 1)[0]


def _future():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def respond(resp: dict, fut=fut) -> None:
        if not fut.done():
            fut.set_result(resp)

    return fut, respond


@register(FIND_COORDINATOR, 0, 6)
async def find_coordinator(conn, header, request):
    broker = conn.broker
    if header.api_version >= 4:
        keys = list(request.coordinator_keys)
    else:
        keys = [request.key]
    key_type = getattr(request, "key_type", GROUP_KEY)
    out = []
    for key in keys:
        entry = {"key": key, "node_id": -1, "host": "", "port": -1, "error_code": 0, "error_message": None}
        if key_type == TXN_KEY:
            if key and not conn.authorize(acl.DESCRIBE, acl.TRANSACTIONAL_ID, key):
                entry.update(error_code=ErrorCode.transactional_id_authorization_failed,
                             error_message="not authorized to describe the transactional id")
                out.append(entry)
                continue
            node = broker.txns.runtime.coordinator_node(key, conn.listener.name) if key else None
            if not key:
                entry.update(error_code=ErrorCode.invalid_request, error_message="empty transactional id")
            elif node is None:
                entry.update(error_code=ErrorCode.coordinator_not_available, error_message="coordinator not available")
            else:
                entry.update(node_id=node[0], host=node[1], port=node[2])
        elif key_type != GROUP_KEY:
            entry.update(error_code=ErrorCode.invalid_request, error_message=f"unknown coordinator key type {key_type}")
        elif not conn.authorize(acl.DESCRIBE, acl.GROUP, key):
            entry.update(error_code=ErrorCode.group_authorization_failed, error_message="not authorized to describe the group")
        else:
            node = broker.group_runtime.coordinator_node(key, conn.listener.name)
            if node is None:
                entry.update(error_code=ErrorCode.coordinator_not_available, error_message="coordinator not available")
            else:
                entry.update(node_id=node[0], host=node[1], port=node[2])
        out.append(entry)
    if header.api_version >= 4:
        return {"throttle_time": 0, "coordinators": out}
    e = out[0]
    return {"throttle_time": 0, "error_code": e["error_code"], "error_message": e["error_message"],
            "node_id": e["node_id"], "host": e["host"], "port": e["port"]}


def _not_coordinator(broker, group_id: str) -> ErrorCode | None:
    return broker.check_coordinator(group_id)


def _group_error(conn, group_id: str, op: int = 3) -> ErrorCode | None:
    """GROUP_AUTHORIZATION_FAILED unless the principal may ``op`` (READ) the group, then whether
    this broker coordinates it."""
    if not conn.authorize(op, acl.GROUP, group_id):
        return ErrorCode.group_authorization_failed
    return conn.broker.check_coordinator(group_id)


@register(JOIN_GROUP, 0, 7)
async def join_group(conn, header, request):
    broker = conn.broker
    err = _group_error(conn, request.group_id)
    if err is not None:
        return {"error_code": err, "generation_id": -1, "member_id": request.member_id, "leader": "", "members": []}
    fut, respond = _future()
    broker.coordinator.join(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        client_id=conn.client_id or "",
        client_host=_host(conn),
        session_timeout_ms=_ms(request.session_timeout),
        rebalance_timeout_ms=_ms(getattr(request, "rebalance_timeout", request.session_timeout)),
        protocol_type=request.protocol_type,
        protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
        version=header.api_version,
        respond=respond,
    )
    return Deferred(_join_done(broker, fut))


async def _join_done(broker, fut) -> dict:
    await broker.persist_coordinator_records()
    broker.coordinator_changed()
    return dict(await fut, throttle_time=0)


@register(SYNC_GROUP, 0, 5)
async def sync_group(conn, header, request):
    broker = conn.broker
    err = _group_error(conn, request.group_id)
    if err is not None:
        return {"error_code": err, "assignment": b""}
    fut, respond = _future()
    broker.coordinator.sync(
        group_id=request.group_id,
        member_id=request.member_id,
        instance_id=getattr(request, "group_instance_id", None),
        generation=request.generation_id,
        assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
        protocol_type=getattr(request, "protocol_type", None),
        protocol_name=getattr(request, "protocol_name", None),
        respond=respond,
    )
    return Deferred(_sync_done(broker, fut))


async def _sync_done(broker, fut) -> dict:
    # Every member, leader or not, answers only once the group's new state is written (the
    # persist lock makes a member whose queue is empty wait for a write already under way).
    resp = await fut
    error = await broker.persist_coordinator_records()
    if error is not None and resp.get("error_code") == ErrorCode.none:
        resp = {"error_code": error, "assignment": b""}
    broker.coordinator_changed()
    return dict(resp, throttle_time=0)


@register(HEARTBEAT, 0, 4)
async def heartbeat(conn, header, request):
    broker = conn.broker
    err = _group_error(conn, request.group_id)
    if err is None:
        err = broker.coordinator.heartbeat(group_id=request.group_id, member_id=request.member_id,
                                           instance_id=getattr(request, "group_instance_id", None),
                                           generation=request.generation_id)
        await broker.persist_coordinator_records()
    return {"throttle_time": 0, "error_code": err}


@register(LEAVE_GROUP, 0, 5)
async def leave_group(conn, header, request):
    broker = conn.broker
    err = _group_error(conn, request.group_id)
    if header.api_version < 3:
        if err is None:
            err = broker.coordinator.leave(group_id=request.group_id, member_id=request.member_id, instance_id=None)
            await broker.persist_coordinator_records()
            broker.coordinator_changed()
        return {"throttle_time": 0, "error_code": err}
    if err is None and not request.group_id:
        err = ErrorCode.invalid_group_id
    if err is not None:
        return {"throttle_time": 0, "error_code": err, "members": []}
    members = []
    for m in request.members:
        code = broker.coordinator.leave(group_id=request.group_id, member_id=m.member_id, instance_id=m.group_instance_id)
        members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id, "error_code": code})
    await broker.persist_coordinator_records()
    broker.coordinator_changed()
    return {"throttle_time": 0, "error_code": 0, "members": members}


@register(OFFSET_COMMIT, 2, 9)
async def offset_commit(conn, header, request):
    broker = conn.broker
    group_id = request.group_id
    generation = request.generation_id_or_member_epoch
    err = _group_error(conn, group_id) or broker.coordinator.validate_commit(
        group_id, generation, request.member_id, getattr(request, "group_instance_id", None), header.api_version
    )
    topics_out = []
    entries = []
    known = broker.store.topics()
    for t in request.topics:
        parts = []
        meta = known.get(t.name)
        topic_denied = not conn.authorize(acl.READ, acl.TOPIC, t.name)
        for p in t.partitions:
            code = err
            if code is None and topic_denied:
                code = ErrorCode.topic_authorization_failed
            if code is None and (meta is None or p.partition_index not in meta.partitions):
                code = ErrorCode.unknown_topic_or_partition
            if code is None:
                entries.append((t.name, p.partition_index, p.committed_offset,
                                getattr(p, "committed_leader_epoch", -1), p.committed_metadata))
            parts.append({"partition_index": p.partition_index, "error_code": code if code is not None else 0})
        topics_out.append({"name": t.name, "partitions": parts})
    if entries:
        errors = broker.coordinator.commit(group_id, entries)
        write_error = await broker.persist_coordinator_records()
        for t in topics_out:
            for p in t["partitions"]:
                code = errors.get((t["name"], p["partition_index"]))
                if code is not None:
                    p["error_code"] = write_error if (write_error is not None and code == ErrorCode.none) else code
    return {"throttle_time": 0, "topics": topics_out}


def _fetch_group(conn, group_id: str, topics, require_stable: bool = False) -> tuple[list[dict], ErrorCode]:
    broker = conn.broker
    err = _group_error(conn, group_id, acl.DESCRIBE)
    if err is not None:
        return [], err
    if topics is None:
        found = broker.coordinator.fetch(group_id, None)
        by_topic: dict[str, list] = {}
        for (topic, p), c in sorted(found.items()):
            if conn.authorize(acl.DESCRIBE, acl.TOPIC, topic):  # "all topics": the others are left out
                by_topic.setdefault(topic, []).append((p, c))
    else:
        by_topic = {}
        for t in topics:
            found = broker.coordinator.fetch(group_id, [(t.name, p) for p in t.partition_indexes])
            by_topic[t.name] = [(p, found[(t.name, p)]) for p in t.partition_indexes]
    out = []
    for topic, parts in by_topic.items():
        if not conn.authorize(acl.DESCRIBE, acl.TOPIC, topic):
            out.append({"name": topic, "partitions": [
                {"partition_index": p, "committed_offset": -1, "committed_leader_epoch": -1, "metadata": "",
                 "error_code": ErrorCode.topic_authorization_failed} for p, _c in parts]})
            continue
        out.append({
            "name": topic,
            "partitions": [
                _unstable(p) if require_stable and broker.coordinator.has_pending_txn(group_id, (topic, p)) else
                {"partition_index": p, "committed_offset": c.offset if c else -1,
                 "committed_leader_epoch": c.leader_epoch if c else -1,
                 "metadata": c.metadata if c else "", "error_code": 0}
                for p, c in parts
            ],
        })
    return out, ErrorCode.none


def _unstable(p: int) -> dict:
    """require_stable (v7+) and offsets of this partition wait for a transaction's marker."""
    return {"partition_index": p, "committed_offset": -1, "committed_leader_epoch": -1, "metadata": "",
            "error_code": ErrorCode.unstable_offset_commit}


@register(OFFSET_FETCH, 1, 9)
async def offset_fetch(conn, header, request):
    stable = getattr(request, "require_stable", False)
    if header.api_version >= 8:
        groups = []
        for g in request.groups:
            topics, err = _fetch_group(conn, g.group_id, g.topics, stable)
            groups.append({"group_id": g.group_id, "topics": topics, "error_code": err})
        return {"throttle_time": 0, "groups": groups}
    topics, err = _fetch_group(conn, request.group_id, request.topics, stable)
    return {"throttle_time": 0, "topics": topics, "error_code": err}


@register(LIST_GROUPS, 0, 5)
async def list_groups(conn, header, request):
    broker = conn.broker
    states = {s.lower() for s in (getattr(request, "states_filter", None) or ())}
    types = {t.lower() for t in (getattr(request, "types_filter", None) or ())}
    out = []
    # DESCRIBE on the cluster lists every group; otherwise the groups the principal may describe
    everything = conn.authorize(acl.DESCRIBE, acl.CLUSTER, acl.CLUSTER_NAME)
    for g in broker.coordinator.list_groups():
        if not everything and not conn.authorize(acl.DESCRIBE, acl.GROUP, g.group_id):
            continue
        if states and g.state.value.lower() not in states:
            continue
        if types and "classic" not in types:
            continue
        out.append({"group_id": g.group_id, "protocol_type": g.protocol_type or "", "group_state": g.state.value,
                    "group_type": "classic"})
    return {"throttle_time": 0, "error_code": 0, "groups": out}


@register(DESCRIBE_GROUPS, 0, 6)
async def describe_groups(conn, header, request):
    broker = conn.broker
    out = []
    ops_of = authorized.ops_of(conn, getattr(request, "include_authorized_operations", False), acl.GROUP)
    for group_id in request.groups:
        ops = ops_of(group_id)
        err = _group_error(conn, group_id, acl.DESCRIBE)
        g = broker.coordinator.group(group_id) if err is None else None
        if g is None:
            message = None
            if err is None and header.api_version >= 6:
                # v6 (KIP-1043): an unknown group is an error, no longer an empty Dead group
                err, message = ErrorCode.group_id_not_found, f"Group {group_id} not found."
            out.append({"error_code": err or 0, "error_message": message, "group_id": group_id,
                        "group_state": GroupState.DEAD.value, "protocol_type": "", "protocol_data": "", "members": [],
                        "authorized_operations": ops})
            continue
        stable = g.is_(GroupState.STABLE)
        members = [
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
             "client_host": m.client_host,
             "member_metadata": m.metadata(g.protocol or "") if stable else b"",
             "member_assignment": m.assignment if stable else b""}
            for m in g.members.values()
        ]
        out.append({"error_code": 0, "group_id": group_id, "group_state": g.state.value,
                    "protocol_type": g.protocol_type or "", "protocol_data": (g.protocol or "") if stable else "",
                    "members": members, "authorized_operations": ops})
    return {"throttle_time": 0, "groups": out}


@register(DELETE_GROUPS, 0, 2)
async def delete_groups(conn, header, request):
    broker = conn.broker
    results = []
    for group_id in dict.fromkeys(request.groups_names):  # one answer per group, as Kafka's
        err = _group_error(conn, group_id, acl.DELETE) or broker.coordinator.delete_group(group_id)
        results.append({"group_id": group_id, "error_code": err})
    await broker.persist_coordinator_records()
    broker.coordinator_changed()
    return {"throttle_time": 0, "results": results}


@register(OFFSET_DELETE, 0, 0)
async def offset_delete(conn, header, request):
    broker = conn.broker
    err = _group_error(conn, request.group_id, acl.DELETE)
    if err is not None:
        return {"error_code": err, "throttle_time": 0, "topics": []}
    denied = {t.name for t in request.topics if not conn.authorize(acl.READ, acl.TOPIC, t.name)}
    tps = [(t.name, p.partition_index) for t in request.topics for p in t.partitions if t.name not in denied]
    top, per = broker.coordinator.delete_offsets(request.group_id, tps)
    write_error = await broker.persist_coordinator_records()
    if top in (ErrorCode.group_id_not_found, ErrorCode.invalid_group_id):
        return {"error_code": top, "throttle_time": 0, "topics": []}
    topics = []
    for t in request.topics:
        topics.append({"name": t.name, "partitions": [
            {"partition_index": p.partition_index,
             "error_code": ErrorCode.topic_authorization_failed if t.name in denied else per.get((t.name, p.partition_index), top)}
            for p in t.partitions]})
    return {"error_code": top if write_error is None else write_error, "throttle_time": 0, "topics": topics}
