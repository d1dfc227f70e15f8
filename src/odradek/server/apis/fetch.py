"""Fetch: read file regions up to the high watermark and send them with sendfile; long-poll.

read_committed fetches (isolation level 1) read up to the last stable offset instead and get the
aborted transactions they overlap, from the segments' ``.txnindex``; with no transaction in a
partition the LSO is the high watermark and the list is empty at the cost of a flag check.

A fetch that finds fewer than ``min_bytes`` waits until an append to one of its partitions wakes
it (never polling) or ``max_wait`` passes. Clients that open an incremental fetch session
(KIP-227) send and receive only what changed; see :mod:`odradek.server.fetch_sessions`.
"""

from __future__ import annotations

import asyncio

from ...protocol import fetch as codec
from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ..fetch_sessions import FINAL_EPOCH, INITIAL_EPOCH, SessionError
from ..router import Deferred, Response, register
from ..waiting import wait_until

FETCH = 1


def _ms(v) -> int:
    return int(v.total_seconds() * 1000) if hasattr(v, "total_seconds") else int(v)


@register(FETCH, 4, 16)
async def handle(conn, header, request):
    broker = conn.broker
    version = header.api_version
    max_wait = _ms(request.max_wait) / 1000
    min_bytes = request.min_bytes
    max_bytes = getattr(request, "max_bytes", 0x7FFFFFFF)
    replica_id = _replica_id(request, version)
    committed = getattr(request, "isolation_level", 0) == 1 and replica_id < 0
    try:
        wanted, finish = _session(broker, version, request)
        if broker.metrics is not None:  # counts what is read into the answer, whenever it is answered
            finish = broker.metrics.counting(finish, replica_id >= 0)
    except SessionError as e:
        chunks, size = codec.encode_response(version, [], error=e.code)
        return Response(chunks, size)
    topics, total, parts, errors = _read(conn, version, wanted, max_bytes, replica_id, True, committed)
    if total >= min_bytes or errors or max_wait <= 0 or not parts:
        chunks, size = codec.encode_response(version, *finish(topics))
        return Response(chunks, size)
    deadline = asyncio.get_running_loop().time() + max_wait
    ends = _positions(parts, replica_id)  # as read: a change from here on wakes the wait
    return Deferred(_long_poll(conn, version, wanted, finish, max_bytes, min_bytes, deadline, replica_id, parts, ends,
                               committed))


def _session(broker, version, request):
    """What to read for this request, and how to shape the response (KIP-227 fetch sessions).

    Returns the topics to read (request topics, or a session's) and a function that turns what
    was read into the response's topics, error and session id.
    """
    session_id = getattr(request, "session_id", 0) if version >= 7 else 0
    epoch = getattr(request, "session_epoch", FINAL_EPOCH) if version >= 7 else FINAL_EPOCH
    cache = broker.fetch_sessions
    by_id = version >= 13
    if epoch == FINAL_EPOCH or epoch == INITIAL_EPOCH:
        if session_id:
            cache.remove(session_id)
        session = cache.create(request.topics, by_id) if epoch == INITIAL_EPOCH else None
        if session is None:
            return request.topics, lambda topics: (topics, 0, 0)
        return session.as_request_topics(), lambda topics: (session.filter_response(topics, False), 0, session.id)
    session = cache.lookup(session_id, epoch)
    session.update(request.topics, request.forgotten_topics_data, by_id)
    return session.as_request_topics(), lambda topics: (session.filter_response(topics, True), 0, session.id)


def _positions(parts, replica_id: int) -> list:
    # Consumers see the high watermark move (which is what moves the LSO too); followers see the
    # log end move.
    if replica_id >= 0:
        return [(part, part.log_end_offset) for part in parts]
    return [(part, part.high_watermark) for part in parts]


async def _long_poll(conn, version, wanted, finish, max_bytes, min_bytes, deadline, replica_id, parts, ends,
                     committed: bool = False) -> Response:
    """Wait until enough data arrives (woken by appends, never by polling) or the deadline."""
    loop = asyncio.get_running_loop()
    follower = replica_id >= 0
    while True:
        def moved(ends=ends) -> bool:
            # new data, or a partition this broker stopped leading (deleted, moved): answer now
            return any(not part.is_leader or (part.log_end_offset if follower else part.high_watermark) != e
                       for part, e in ends)

        await wait_until(parts, moved, deadline - loop.time())
        topics, total, parts, errors = _read(conn, version, wanted, max_bytes, replica_id, False, committed)
        if total >= min_bytes or errors or loop.time() >= deadline or not parts:
            break
        ends = _positions(parts, replica_id)
    chunks, size = codec.encode_response(version, *finish(topics))
    return Response(chunks, size)


def _replica_id(request, version) -> int:
    if version >= 15:
        state = getattr(request, "replica_state", None)
        return state.replica_id if state is not None else -1
    return getattr(request, "replica_id", -1)


def _read(conn, version, wanted, max_bytes, replica_id: int = -1, record: bool = True, committed: bool = False):
    broker = conn.broker
    topics_out = []
    total = 0
    parts_seen = []
    errors = False
    for t in wanted:
        if version >= 13:
            meta = broker.topic_by_id(t.topic_id)
            name = meta.name if meta else ""
            tid = t.topic_id
            missing = ErrorCode.unknown_topic_id
        else:
            name = t.topic
            meta = broker.store.topics().get(name)
            tid = meta.uuid if meta else None
            missing = ErrorCode.unknown_topic_or_partition
        out = []
        # ACLs: consumers need READ on the topic; followers CLUSTER_ACTION on the cluster
        if replica_id >= 0:
            denied = not conn.authorize(acl.CLUSTER_ACTION, acl.CLUSTER, acl.CLUSTER_NAME)
        else:
            denied = (meta is not None or version < 13) and not conn.authorize(acl.READ, acl.TOPIC, name)
        for p in t.partitions:
            idx = p.partition
            if denied:
                out.append(codec.FetchPartitionData(idx, ErrorCode.topic_authorization_failed))
                errors = True
                continue
            part = broker.partitions.get((name, idx)) if meta else None
            if part is None:
                out.append(codec.FetchPartitionData(idx, missing))
                errors = True
                continue
            if not part.is_leader:
                out.append(codec.FetchPartitionData(idx, ErrorCode.not_leader_or_follower))
                errors = True
                continue
            epoch = getattr(p, "current_leader_epoch", -1)
            if epoch >= 0 and epoch != part.leader_epoch:
                code = ErrorCode.fenced_leader_epoch if epoch < part.leader_epoch else ErrorCode.unknown_leader_epoch
                out.append(codec.FetchPartitionData(idx, code))
                errors = True
                continue
            parts_seen.append(part)
            hw = part.high_watermark
            lso = part.log.last_stable_offset
            if replica_id >= 0:
                # A follower: its fetch offset is its log end; it reads up to our log end.
                if record and broker.cluster is not None:
                    part.record_follower_fetch(replica_id, p.fetch_offset)
                    if replica_id not in part.isr:
                        broker.cluster.maybe_expand_isr(part, replica_id)
                    hw = part.high_watermark
                if p.fetch_offset == part.log_end_offset and p.fetch_offset >= part.log_start_offset:
                    # caught up (most partitions of an idle cluster): nothing to read
                    out.append(codec.FetchPartitionData(idx, 0, hw, lso, part.log_start_offset))
                    continue
                try:
                    if p.fetch_offset < part.log_start_offset or p.fetch_offset > part.log_end_offset:
                        raise KafkaError(ErrorCode.offset_out_of_range)
                    limit = min(p.partition_max_bytes, max(max_bytes - total, 0))
                    res = part.log.read(p.fetch_offset, limit, upper_bound=None, min_one=(total == 0))
                except KafkaError as e:
                    out.append(codec.FetchPartitionData(idx, e.code, hw, lso, part.log_start_offset))
                    errors = True
                    continue
                total += res.size
                out.append(codec.FetchPartitionData(idx, 0, hw, lso, part.log_start_offset, res.regions, res.size))
                continue
            visible = lso if committed else hw
            aborted = None
            try:
                if p.fetch_offset >= visible:
                    if p.fetch_offset > part.log_end_offset:
                        raise KafkaError(ErrorCode.offset_out_of_range)
                    regions, size = (), 0
                else:
                    limit = min(p.partition_max_bytes, max(max_bytes - total, 0))
                    res = part.log.read(p.fetch_offset, limit, upper_bound=visible, min_one=(total == 0))
                    regions, size = res.regions, res.size
                if committed:
                    aborted = [(a.producer_id, a.first_offset)
                               for a in part.log.aborted_transactions(p.fetch_offset, visible)] if size else []
            except KafkaError as e:
                # A consumer's error answer carries no offsets (-1), as Kafka's; a follower's above
                # keeps them (an Odradek follower restarts from the leader's log start).
                out.append(codec.FetchPartitionData(idx, e.code))
                errors = True
                continue
            total += size
            out.append(codec.FetchPartitionData(idx, 0, hw, lso, part.log_start_offset, regions, size, aborted))
        topics_out.append(codec.FetchTopicData(name, tid, out))
    return topics_out, total, parts_seen, errors
