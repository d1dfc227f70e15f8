"""Produce: validate each partition's batches by header and CRC, append, answer per acks.

No Python loop over records: the records field of each partition stays one buffer from frame to
file. acks=0 sends no response; acks=1 answers after the leader's append; acks=all waits until
the high watermark passes the appended batches (at once on a single node, where the ISR is this
broker alone).
"""

from __future__ import annotations

import logging

from ...protocol import produce as codec
from ...protocol import records
from ...protocol.errors import ErrorCode, KafkaError
from ...security import acl
from ..router import Deferred, Response, register
from ..waiting import wait_until

log = logging.getLogger("odradek.produce")
PRODUCE = 0
ZSTD = 4
# Errors Kafka answers with a log start offset of -1: found before the partition's log is asked.
# Every other append error carries the partition's log start offset.
_NO_LOG_START = {ErrorCode.unknown_topic_or_partition, ErrorCode.not_leader_or_follower, ErrorCode.message_too_large,
                 ErrorCode.corrupt_message, ErrorCode.kafka_storage_error, ErrorCode.unknown_topic_id}


def _is_transactional(recs) -> bool:
    """Whether the first batch is transactional or a control batch (attributes bits 4 and 5)."""
    return recs is not None and len(recs) >= records.HEADER_SIZE and bool(recs[22] & 0x30)


def _check_request_records(recs, version: int) -> None:
    """Kafka's checks of a partition's records before anything is appended: from Produce v3 on
    exactly one record batch of magic 2 (zstd from v7). INVALID_RECORD otherwise."""
    if version < 3:
        return  # old message formats: scan() answers UNSUPPORTED_FOR_MESSAGE_FORMAT
    n = 0 if recs is None else len(recs)
    if n < records.HEADER_SIZE or records.LOG_OVERHEAD + records.read_header(recs).batch_length > n:
        raise KafkaError(ErrorCode.invalid_record,
                         f"Produce requests with version {version} must have at least one record batch per partition")
    h = records.read_header(recs)
    if h.magic != 2:
        raise KafkaError(ErrorCode.invalid_record, f"Produce requests with version {version} are only allowed to "
                                                   "contain record batches with magic version 2")
    if version < 7 and h.compression == ZSTD:
        raise KafkaError(ErrorCode.unsupported_compression_type,
                         f"Produce requests with version {version} are not allowed to use ZStandard compression")
    if h.size != n:
        raise KafkaError(ErrorCode.invalid_record, f"Produce requests with version {version} are only allowed to "
                                                   "contain exactly one record batch per partition")


def _check_counts(batches, name: str) -> None:
    """Kafka's batch checks before its records: a sane offset range matching the record count."""
    for h in batches:
        if h.last_offset_delta < 0:
            raise KafkaError(ErrorCode.invalid_record, f"Batch has an invalid offset range: [{h.base_offset}, "
                                                       f"{h.last_offset}] in topic partition {name}.")
        if h.record_count <= 0:
            raise KafkaError(ErrorCode.invalid_record,
                             f"Invalid reported count for record batch: {h.record_count} in topic partition {name}.")
        if h.record_count != h.last_offset_delta + 1:
            raise KafkaError(ErrorCode.invalid_record, f"Inconsistent batch offset range [{h.base_offset}, "
                                                       f"{h.last_offset}] and count of records {h.record_count} in "
                                                       f"topic partition {name}.")


@register(PRODUCE, 0, 10, decode=codec.decode_request)
async def handle(conn, header, request: codec.ProduceRequest):
    broker = conn.broker
    stats = broker.metrics  # None when metrics are off
    acks = request.acks
    results: list[tuple[str, list[codec.PartitionResult]]] = []
    waits = []
    # ACLs: a transactional request needs WRITE on its transactional id (else every partition is
    # TRANSACTIONAL_ID_AUTHORIZATION_FAILED), each partition WRITE on its topic
    txn_denied = request.transactional_id is not None and not conn.authorize(
        acl.WRITE, acl.TRANSACTIONAL_ID, request.transactional_id)
    # Transactional batches without a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka.
    txn_records_without_id = request.transactional_id is None and any(
        _is_transactional(p.records) for t in request.topics for p in t.partitions)
    for topic in request.topics:
        out = []
        results.append((topic.name, out))
        meta = broker.store.topics().get(topic.name)
        cfg = broker.topic_config(topic.name) if meta is not None else None
        topic_denied = not conn.authorize(acl.WRITE, acl.TOPIC, topic.name)
        for p in topic.partitions:
            if txn_denied:
                out.append(codec.PartitionResult(p.index, ErrorCode.transactional_id_authorization_failed))
                continue
            if topic_denied:
                out.append(codec.PartitionResult(p.index, ErrorCode.topic_authorization_failed))
                continue
            if acks not in (-1, 0, 1):
                out.append(codec.PartitionResult(p.index, ErrorCode.invalid_required_acks))
                continue
            if txn_records_without_id:
                out.append(codec.PartitionResult(p.index, ErrorCode.transactional_id_authorization_failed))
                continue
            try:
                _check_request_records(p.records, header.api_version)
            except KafkaError as e:
                out.append(codec.PartitionResult(p.index, e.code, error_message=e.message or None))
                continue
            if meta is None or p.index not in meta.partitions:
                out.append(codec.PartitionResult(p.index, ErrorCode.unknown_topic_or_partition))
                continue
            part = None
            try:
                part = broker.partition(topic.name, p.index)
                if p.records is None or len(p.records) == 0:
                    raise KafkaError(ErrorCode.corrupt_message, "no record batches in request")
                # The records are a view into this request's own frame (received in place), so
                # offsets and leader epochs are written into it without a copy.
                buf = p.records if not p.records.readonly else bytearray(p.records)
                batches = records.scan(buf, verify_crc=True, max_batch_size=cfg["max.message.bytes"])
                if any(b.is_control for b in batches):
                    raise KafkaError(ErrorCode.invalid_record, "control batches are written by transaction coordinators only")
                if any(b.is_transactional for b in batches):
                    await _check_transactional(broker, request.transactional_id, batches, topic.name, p.index)
                elif request.transactional_id is not None:
                    raise KafkaError(ErrorCode.invalid_record, "a transactional produce request must carry transactional batches")
                _check_counts(batches, f"{topic.name}-{p.index}")
                res = part.append(buf, batches, acks=acks, min_insync=cfg["min.insync.replicas"])
                if stats is not None:
                    stats.produced(topic.name, len(buf), res.last_offset - res.base_offset + 1)
                out.append(codec.PartitionResult(p.index, 0, res.base_offset, res.log_append_time, res.log_start_offset))
                if acks == -1 and part.high_watermark <= res.last_offset:
                    waits.append((len(results) - 1, len(out) - 1, part, res.last_offset, cfg["min.insync.replicas"]))
            except KafkaError as e:
                if stats is not None:
                    stats.produce_failed(topic.name, e.code, len(p.records) if p.records is not None else 0)
                if e.code in (ErrorCode.corrupt_message, ErrorCode.message_too_large):
                    log.info("produce to %s-%d from %s refused: %s", topic.name, p.index, conn.peer, e)
                start = -1 if part is None or e.code in _NO_LOG_START else part.log_start_offset
                out.append(codec.PartitionResult(p.index, e.code, log_start_offset=start, error_message=e.message or None,
                                                 record_errors=e.record_errors))
            except OSError as e:
                if stats is not None:
                    stats.produce_failed(topic.name, ErrorCode.kafka_storage_error, 0)
                log.error("storage error on %s-%d: %s", topic.name, p.index, e)
                out.append(codec.PartitionResult(p.index, ErrorCode.kafka_storage_error, error_message=str(e)))
    if stats is not None and not waits:
        stats.produce_errors(results)
    if acks == 0:
        failed = [(t, r) for t, rs in results for r in rs if r.error]
        if failed:
            # No response can carry the error: close the connection, as Kafka does, so the
            # producer notices and refreshes its metadata.
            t, r = failed[0]
            raise KafkaError(r.error, f"acks=0 produce to {t}-{r.index} failed ({ErrorCode(r.error).name.upper()})")
        return None
    if waits:
        return Deferred(_respond_when_committed(header.api_version, results, waits, request.timeout_ms / 1000, stats))
    return Response.of(codec.encode_response(header.api_version, results))


async def _check_transactional(broker, transactional_id, batches, topic: str, index: int) -> None:
    """Transactional batches: all of one producer, with a transactional id, in a transaction the
    coordinator knows includes this partition (KIP-890 part 1)."""
    pid, epoch = batches[0].producer_id, batches[0].producer_epoch
    if transactional_id is None or pid < 0:
        raise KafkaError(ErrorCode.invalid_record, "transactional batches need a transactional id and a producer id")
    if any(b.producer_id != pid or b.producer_epoch != epoch or not b.is_transactional for b in batches):
        raise KafkaError(ErrorCode.invalid_record, "the batches of one partition come from one transactional producer")
    from .txn import verify_produce

    code = await verify_produce(broker, transactional_id, pid, epoch, topic, index)
    if code in (ErrorCode.producer_fenced, ErrorCode.invalid_producer_epoch):
        raise KafkaError(code, f"producer {pid} epoch {epoch} of {transactional_id!r} is fenced by a newer epoch")
    if code == ErrorCode.invalid_txn_state:
        raise KafkaError(code, f"{topic}-{index} is not in the ongoing transaction of {transactional_id!r}")
    if code != ErrorCode.none:
        raise KafkaError(code)


async def _respond_when_committed(version, results, waits, timeout: float, stats=None) -> Response:
    await _wait_committed(results, waits, timeout)
    if stats is not None:
        stats.produce_errors(results)
    return Response.of(codec.encode_response(version, results))


async def _wait_committed(results, waits, timeout: float) -> None:
    """Delayed produce: wait until each partition's HW passes its last offset. If the ISR shrinks
    below min.insync.replicas meanwhile the answer is NOT_ENOUGH_REPLICAS_AFTER_APPEND (the
    records are in the leader's log but may not survive), and REQUEST_TIMED_OUT after the timeout."""

    def settled(part, last, min_isr) -> bool:
        return part.high_watermark > last or len(part.isr) < min_isr or not part.is_leader

    await wait_until([w[2] for w in waits], lambda: all(settled(*w[2:]) for w in waits), timeout)
    for t, p, part, last, min_isr in waits:
        # Committed counts only with enough replicas in the ISR: a shrink to the leader alone moves
        # the HW past the batch at once, yet only the leader holds it (Kafka answers the same).
        if part.high_watermark > last and len(part.isr) >= min_isr:
            continue
        old = results[t][1][p]
        if not part.is_leader:
            results[t][1][p] = old._replace(error=ErrorCode.not_leader_or_follower, error_message="leadership moved")
        elif len(part.isr) < min_isr:
            results[t][1][p] = old._replace(
                error=ErrorCode.not_enough_replicas_after_append,
                error_message=f"{len(part.isr)} in-sync replicas after the append, min.insync.replicas is {min_isr}",
            )
        else:
            results[t][1][p] = old._replace(error=ErrorCode.request_timed_out, error_message="acks=all timed out")
