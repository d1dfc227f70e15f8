"""Fetch: read file regions up to the high watermark and send them with sendfile; long-poll.

A fetch that finds fewer than ``min_bytes`` waits until an append to one of its partitions wakes
it (never polling) or ``max_wait`` passes. Fetch sessions are not kept: the response carries
session id 0, which tells clients to send full fetch requests.
"""

from __future__ import annotations

import asyncio

from ...protocol import fetch as codec
from ...protocol.errors import ErrorCode, KafkaError
from ..router import Response, register
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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    while True:
        topics, total, parts, errors = _read(broker, version, request, max_bytes)
        if total >= min_bytes or errors or loop.time() >= deadline or not parts:
            break
        # Long-poll: woken by the next append to one of these partitions, never by polling.
        ends = [(part, part.high_watermark) for part in parts]
        await wait_until(parts, lambda: any(part.high_watermark != hw for part, hw in ends), deadline - loop.time())
    chunks, size = codec.encode_response(version, topics)
    return Response(chunks, size)


def _read(broker, version, request, max_bytes):
    topics_out = []
    total = 0
    parts_seen = []
    errors = False
    for t in request.topics:
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
        for p in t.partitions:
            idx = p.partition
            part = broker.partitions.get((name, idx)) if meta else None
            if part is None:
                out.append(codec.FetchPartitionData(idx, missing))
                errors = True
                continue
            if not part.is_leader:
                out.append(codec.FetchPartitionData(idx, ErrorCode.not_leader_or_follower))
                errors = True
                continue
            parts_seen.append(part)
            hw = part.high_watermark
            try:
                if p.fetch_offset > hw:
                    if p.fetch_offset > part.log_end_offset:
                        raise KafkaError(ErrorCode.offset_out_of_range)
                    regions, size = (), 0
                else:
                    limit = min(p.partition_max_bytes, max(max_bytes - total, 0))
                    res = part.log.read(p.fetch_offset, limit, upper_bound=hw, min_one=(total == 0))
                    regions, size = res.regions, res.size
            except KafkaError as e:
                out.append(codec.FetchPartitionData(idx, e.code, hw, hw, part.log_start_offset))
                errors = True
                continue
            total += size
            out.append(codec.FetchPartitionData(idx, 0, hw, hw, part.log_start_offset, regions, size))
        topics_out.append(codec.FetchTopicData(name, tid, out))
    return topics_out, total, parts_seen, errors
