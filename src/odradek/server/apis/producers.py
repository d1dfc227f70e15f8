"""DescribeProducers: the idempotent and transactional producers a partition replica knows, with the
first offset of each one's open transaction, as ``kafka-transactions describe-producers`` and
``find-hanging`` show them. Like Kafka, any replica answers (a follower keeps the same producer
state from the batches it replicates): ``find-hanging --broker-id N`` asks broker N about every
partition it holds a replica of."""

from __future__ import annotations

from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ..router import register

DESCRIBE_PRODUCERS = 61


@register(DESCRIBE_PRODUCERS, 0, 0)
async def describe_producers(conn, header, request):
    broker = conn.broker
    topics = []
    for t in request.topics:
        parts = []
        denied = not conn.authorize(acl.READ, acl.TOPIC, t.name)
        for index in t.partition_indexes:
            entry = {"partition_index": index, "error_code": 0, "error_message": None, "active_producers": []}
            try:
                if denied:
                    raise KafkaError(ErrorCode.topic_authorization_failed, "Authorization failed.")
                part = broker.partition(t.name, index)
                for p in sorted(part.log.active_producers(), key=lambda e: e.producer_id):
                    last = p.batches[-1] if p.batches else None
                    entry["active_producers"].append({
                        "producer_id": p.producer_id,
                        "producer_epoch": p.epoch,
                        "last_sequence": last.last_seq if last else -1,
                        "last_timestamp": last.timestamp if last else -1,
                        "coordinator_epoch": p.coordinator_epoch,
                        "current_txn_start_offset": p.current_txn_first_offset,
                    })
            except KafkaError as e:
                entry.update(error_code=e.code, error_message=e.message or None)
            parts.append(entry)
        topics.append({"name": t.name, "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
