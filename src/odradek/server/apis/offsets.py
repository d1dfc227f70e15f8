"""ListOffsets (earliest, latest, by timestamp, max timestamp) and DeleteRecords."""

from __future__ import annotations

import os

from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ...protocol.record_codec import decode_batch
from ..router import register

LIST_OFFSETS = 2
DELETE_RECORDS = 21

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5, -6


def offset_for_time(part, ts: int, limit: int | None = None) -> tuple[int, int, int] | None:
    """(offset, timestamp, leader epoch of its batch) of the first record at or after ``ts`` below
    ``limit`` (the HW, or the LSO for read_committed), or None.

    The time index finds the batch; that one batch is decoded to find the exact record, as Kafka
    answers with a record's offset, not a batch's.
    """
    found = part.log.offset_for_timestamp(ts)
    if found is None:
        return None
    offset, _ = found
    hw = part.high_watermark if limit is None else limit
    while offset < hw:
        res = part.log.read(offset, 1, upper_bound=hw, min_one=True)
        if not res.regions:
            return None
        region = res.regions[0]
        data = os.pread(region.file.fileno(), region.size, region.position)
        pos = 0
        while pos < len(data):
            header, recs = decode_batch(data, pos)
            for r in recs:
                if r.offset >= offset and r.timestamp >= ts and r.offset < hw:
                    return r.offset, r.timestamp, header.partition_leader_epoch
            pos += header.size
            offset = header.next_offset
    return None


# The oldest ListOffsets version that may ask for each special timestamp (Kafka's rule: an older
# request asking for it is answered UNSUPPORTED_VERSION, as is a timestamp no version knows).
SPECIAL_SINCE = {LATEST: 0, EARLIEST: 0, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9,
                 EARLIEST_PENDING_UPLOAD: 11}


@register(LIST_OFFSETS, 1, 11)
async def list_offsets(conn, header, request):
    broker = conn.broker
    version = header.api_version
    topics = []
    # read_committed (isolation level 1, v2+) sees up to the last stable offset, as its fetches do
    committed = version >= 2 and getattr(request, "isolation_level", 0) == 1
    asked: dict[tuple[str, int], int] = {}
    for t in request.topics:
        for p in t.partitions:
            asked[(t.name, p.partition_index)] = asked.get((t.name, p.partition_index), 0) + 1
    for t in request.topics:
        parts = []
        denied = not conn.authorize(acl.DESCRIBE, acl.TOPIC, t.name)
        for p in t.partitions:
            entry = {"partition_index": p.partition_index, "timestamp": -1, "offset": -1, "leader_epoch": -1}
            n = asked.get((t.name, p.partition_index))
            if n is None:
                continue  # a partition named twice is answered once
            if n > 1:
                del asked[(t.name, p.partition_index)]
                parts.append({**entry, "error_code": ErrorCode.invalid_request})
                continue
            try:
                if denied:
                    raise KafkaError(ErrorCode.topic_authorization_failed)
                part = broker.partition(t.name, p.partition_index)
                part.check_leader()
                current = getattr(p, "current_leader_epoch", -1)
                if current >= 0 and current != part.leader_epoch:
                    raise KafkaError(ErrorCode.fenced_leader_epoch if current < part.leader_epoch
                                     else ErrorCode.unknown_leader_epoch)
                ts = p.timestamp
                if ts < 0 and version < SPECIAL_SINCE.get(ts, 1 << 15):
                    raise KafkaError(ErrorCode.unsupported_version, f"timestamp {ts} needs a newer ListOffsets version")
                visible = part.log.last_stable_offset if committed else part.high_watermark
                batch_epoch = -1
                if ts == LATEST:
                    entry["offset"] = visible
                elif ts in (EARLIEST, EARLIEST_LOCAL):
                    entry["offset"] = part.log_start_offset
                elif ts in (LATEST_TIERED, EARLIEST_PENDING_UPLOAD):
                    pass  # no tiered storage: nothing was uploaded (-1, as Kafka without it)
                elif ts == MAX_TIMESTAMP:
                    mts, moff = part.log.max_timestamp()
                    if moff >= 0 and moff < visible:
                        entry["timestamp"], entry["offset"] = mts, moff
                else:
                    found = offset_for_time(part, ts, visible)
                    if found is not None:
                        entry["offset"], entry["timestamp"], batch_epoch = found
                if entry["offset"] >= 0:
                    # as Kafka: an offset comes with an epoch (a record found by time, its batch's)
                    entry["leader_epoch"] = batch_epoch if batch_epoch >= 0 else part.leader_epoch
                if version == 0:
                    entry["old_style_offsets"] = [entry["offset"]]
            except KafkaError as e:
                entry["error_code"] = e.code
            parts.append(entry)
        topics.append({"name": t.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}


@register(DELETE_RECORDS, 0, 2)
async def delete_records(conn, header, request):
    broker = conn.broker
    topics = []
    for t in request.topics:
        parts = []
        denied = not conn.authorize(acl.DELETE, acl.TOPIC, t.name)
        for p in t.partitions:
            entry = {"partition_index": p.partition_index, "low_watermark": -1, "error_code": 0}
            try:
                if denied:
                    raise KafkaError(ErrorCode.topic_authorization_failed)
                part = broker.partition(t.name, p.partition_index)
                part.check_leader()
                offset = part.high_watermark if p.offset == -1 else p.offset
                if offset < 0 or offset > part.high_watermark:
                    raise KafkaError(ErrorCode.offset_out_of_range)
                entry["low_watermark"] = part.log.delete_records_before(offset)
            except KafkaError as e:
                entry["error_code"] = e.code
            parts.append(entry)
        topics.append({"name": t.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}


OFFSET_FOR_LEADER_EPOCH = 23


@register(OFFSET_FOR_LEADER_EPOCH, 2, 4)
async def offset_for_leader_epoch(conn, header, request):
    """The end offset of a leader epoch here: followers truncate to it, consumers validate with it."""
    broker = conn.broker
    topics = []
    # followers need CLUSTER_ACTION; otherwise (consumers validating positions) DESCRIBE on the topic
    cluster_action = conn.authorize(acl.CLUSTER_ACTION, acl.CLUSTER, acl.CLUSTER_NAME)
    for t in request.topics:
        parts = []
        denied = not cluster_action and not conn.authorize(acl.DESCRIBE, acl.TOPIC, t.topic)
        for p in t.partitions:
            entry = {"partition": p.partition, "error_code": 0, "leader_epoch": -1, "end_offset": -1}
            try:
                if denied:
                    raise KafkaError(ErrorCode.topic_authorization_failed)
                part = broker.partition(t.topic, p.partition)
                part.check_leader()
                current = p.current_leader_epoch
                if current >= 0 and current != part.leader_epoch:
                    raise KafkaError(ErrorCode.fenced_leader_epoch if current < part.leader_epoch else ErrorCode.unknown_leader_epoch)
                epoch, end = part.end_offset_for_epoch(p.leader_epoch)
                entry["leader_epoch"], entry["end_offset"] = epoch, end
            except KafkaError as e:
                entry["error_code"] = e.code
            parts.append(entry)
        topics.append({"topic": t.topic, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
