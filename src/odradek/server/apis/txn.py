"""Transaction APIs: InitProducerId (transactional), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit, WriteTxnMarkers, DescribeTransactions, ListTransactions.

The transaction coordinator decides; these handlers write its transitions (answering only once
they are committed) and map its errors down to what each request version knows (PRODUCER_FENCED
and TRANSACTION_ABORTABLE are newer than some of the clients that send these requests).
"""

from __future__ import annotations

import asyncio
import datetime

from ...coordinator.coordinator import OFFSETS_TOPIC
from ...protocol.errors import ErrorCode
from ...security import acl
from ..router import register

INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN = 22, 24, 25, 26
WRITE_TXN_MARKERS, TXN_OFFSET_COMMIT, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 27, 28, 65, 66

# The first version of each request that knows PRODUCER_FENCED (90) and TRANSACTION_ABORTABLE (120);
# below them Kafka answers INVALID_PRODUCER_EPOCH (47) and INVALID_TXN_STATE (48).
_FENCED_FROM = {INIT_PRODUCER_ID: 4, ADD_PARTITIONS_TO_TXN: 2, ADD_OFFSETS_TO_TXN: 2, END_TXN: 2, TXN_OFFSET_COMMIT: 99}
_ABORTABLE_FROM = {INIT_PRODUCER_ID: 5, ADD_PARTITIONS_TO_TXN: 5, ADD_OFFSETS_TO_TXN: 4, END_TXN: 4, TXN_OFFSET_COMMIT: 4}


def gate(code: ErrorCode | int, api_key: int, version: int) -> ErrorCode:
    """``code`` as request ``api_key`` at ``version`` may carry it."""
    code = ErrorCode(code)
    if code == ErrorCode.producer_fenced and version < _FENCED_FROM.get(api_key, 0):
        return ErrorCode.invalid_producer_epoch
    if code == ErrorCode.transaction_abortable and version < _ABORTABLE_FROM.get(api_key, 0):
        return ErrorCode.invalid_txn_state
    if code == ErrorCode.coordinator_load_in_progress and api_key == TXN_OFFSET_COMMIT and version < 2:
        return ErrorCode.coordinator_not_available
    return code


def _ms(v) -> int:
    return int(v.total_seconds() * 1000) if isinstance(v, datetime.timedelta) else int(v)


async def init_transactional_producer(broker, request, version: int) -> dict:
    """InitProducerId with a transactional id (the idempotent case stays in apis/cluster.py)."""
    svc = broker.txns
    tid = request.transactional_id
    err = svc.runtime.check(tid) if tid else None
    if err is not None:
        return {"throttle_time": 0, "error_code": err, "producer_id": -1, "producer_epoch": -1}
    res = svc.coordinator.init_producer_id(tid, _ms(request.transaction_timeout),
                                           getattr(request, "producer_id", -1), getattr(request, "producer_epoch", -1))
    code = res.error
    if res.transition is not None:
        write_err = await svc.write(res.transition)
        if write_err is not None:
            code = write_err
    if code != ErrorCode.none:
        return {"throttle_time": 0, "error_code": gate(code, INIT_PRODUCER_ID, version), "producer_id": -1,
                "producer_epoch": -1}
    return {"throttle_time": 0, "error_code": 0, "producer_id": res.producer_id, "producer_epoch": res.producer_epoch}


@register(ADD_PARTITIONS_TO_TXN, 0, 5)
async def add_partitions_to_txn(conn, header, request):
    version = header.api_version
    if version <= 3:
        wanted = [(t.name, p) for t in request.v3_and_below_topics for p in t.partitions]
        results = await _add_partitions(conn, request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
                                        request.v3_and_below_producer_epoch, wanted, version, verify_only=False)
        return {"throttle_time": 0, "results_by_topic_v3_and_below": _by_topic(results)}
    # v4+: batched, sent by brokers (verification) — one result per transaction
    out = []
    for txn in request.transactions:
        wanted = [(t.name, p) for t in txn.topics for p in t.partitions]
        if not conn.authorize(acl.CLUSTER_ACTION, acl.CLUSTER, acl.CLUSTER_NAME):
            return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed, "results_by_transaction": []}
        results = await _add_partitions(conn, txn.transactional_id, txn.producer_id, txn.producer_epoch, wanted,
                                        version, verify_only=txn.verify_only)
        out.append({"transactional_id": txn.transactional_id, "topic_results": _by_topic(results)})
    return {"throttle_time": 0, "error_code": 0, "results_by_transaction": out}


def _by_topic(results: dict[tuple[str, int], ErrorCode]) -> list[dict]:
    by_topic: dict[str, list[dict]] = {}
    for (t, p), code in results.items():
        by_topic.setdefault(t, []).append({"partition_index": p, "partition_error_code": code})
    return [{"name": t, "results_by_partition": ps} for t, ps in by_topic.items()]


async def _add_partitions(conn, tid: str, pid: int, epoch: int, wanted: list[tuple[str, int]], version: int,
                          *, verify_only: bool) -> dict[tuple[str, int], ErrorCode]:
    broker = conn.broker
    svc = broker.txns
    if not verify_only:
        if not conn.authorize(acl.WRITE, acl.TRANSACTIONAL_ID, tid):
            return {tp: ErrorCode.transactional_id_authorization_failed for tp in wanted}
        denied = {tp for tp in wanted if not conn.authorize(acl.WRITE, acl.TOPIC, tp[0])}
        if denied:
            return {tp: ErrorCode.topic_authorization_failed if tp in denied else ErrorCode.operation_not_attempted
                    for tp in wanted}
    err = svc.runtime.check(tid)
    if err is not None:
        return {tp: gate(err, ADD_PARTITIONS_TO_TXN, version) for tp in wanted}
    if verify_only:
        return {tp: gate(c, ADD_PARTITIONS_TO_TXN, version)
                for tp, c in svc.coordinator.verify(tid, pid, epoch, wanted).items()}
    # unknown partitions fail the request (the others are "not attempted"), as in Kafka
    topics = broker.store.topics()
    bad = {tp for tp in wanted if tp[0] not in topics or tp[1] not in topics[tp[0]].partitions}
    if bad:
        return {tp: ErrorCode.unknown_topic_or_partition if tp in bad else ErrorCode.operation_not_attempted
                for tp in wanted}
    res = svc.coordinator.add_partitions(tid, pid, epoch, wanted)
    code = res.error
    if res.transition is not None:
        write_err = await svc.write(res.transition)
        if write_err is not None:
            code = write_err
    return {tp: gate(code, ADD_PARTITIONS_TO_TXN, version) for tp in wanted}


@register(ADD_OFFSETS_TO_TXN, 0, 4)
async def add_offsets_to_txn(conn, header, request):
    broker = conn.broker
    svc = broker.txns
    version = header.api_version
    err = svc.runtime.check(request.transactional_id)
    if not conn.authorize(acl.WRITE, acl.TRANSACTIONAL_ID, request.transactional_id):
        err = ErrorCode.transactional_id_authorization_failed
    elif not conn.authorize(acl.READ, acl.GROUP, request.group_id):
        err = ErrorCode.group_authorization_failed
    if err is None:
        if broker.group_runtime.ensure_topic() is None:
            err = ErrorCode.coordinator_not_available
        else:
            tp = (OFFSETS_TOPIC, broker.coordinator.partition_for(request.group_id))
            res = svc.coordinator.add_partitions(request.transactional_id, request.producer_id, request.producer_epoch, [tp])
            err = res.error if res.error != ErrorCode.none else None
            if res.transition is not None:
                err = await svc.write(res.transition)
    return {"throttle_time": 0, "error_code": gate(err or ErrorCode.none, ADD_OFFSETS_TO_TXN, version)}


@register(END_TXN, 0, 4)
async def end_txn(conn, header, request):
    svc = conn.broker.txns
    version = header.api_version
    tid = request.transactional_id
    err = svc.runtime.check(tid)
    if not conn.authorize(acl.WRITE, acl.TRANSACTIONAL_ID, tid):
        err = ErrorCode.transactional_id_authorization_failed
    if err is None:
        res = svc.coordinator.end_txn(tid, request.producer_id, request.producer_epoch, request.committed)
        err = res.error if res.error != ErrorCode.none else None
        if res.transition is not None:
            err = await svc.write(res.transition)
            if err is None:
                # The outcome is durable; answer once the markers are written too (bounded), so the
                # producer's next transaction does not meet CONCURRENT_TRANSACTIONS (KafkaJS does
                # not retry it everywhere)
                task = svc.finishing.get(tid)
                if task is not None:
                    await asyncio.wait({task}, timeout=5.0)
    return {"throttle_time": 0, "error_code": gate(err or ErrorCode.none, END_TXN, version)}


@register(TXN_OFFSET_COMMIT, 0, 4)
async def txn_offset_commit(conn, header, request):
    broker = conn.broker
    version = header.api_version
    group_id = request.group_id
    wanted = [(t.name, p.partition_index, p.committed_offset, getattr(p, "committed_leader_epoch", -1),
               p.committed_metadata) for t in request.topics for p in t.partitions]

    def answer(errors: dict[tuple[str, int], ErrorCode]) -> dict:
        by_topic: dict[str, list[dict]] = {}
        for t, p, *_ in wanted:
            by_topic.setdefault(t, []).append({"partition_index": p, "error_code": gate(errors[(t, p)], TXN_OFFSET_COMMIT, version)})
        return {"throttle_time": 0, "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}

    def all_(code) -> dict:
        return answer({(t, p): code for t, p, *_ in wanted})

    if not conn.authorize(acl.WRITE, acl.TRANSACTIONAL_ID, request.transactional_id):
        return all_(ErrorCode.transactional_id_authorization_failed)
    if not conn.authorize(acl.READ, acl.GROUP, group_id):
        return all_(ErrorCode.group_authorization_failed)
    err = broker.group_runtime.check(group_id)
    if err is not None:
        return all_(err)
    # KIP-890: the group's offsets partition must be in the producer's ongoing transaction
    if broker.config.get("transaction.partition.verification.enable"):
        tp = (OFFSETS_TOPIC, broker.coordinator.partition_for(group_id))
        verified = (await broker.txns.verify(request.transactional_id, request.producer_id, request.producer_epoch,
                                             [tp]))[tp]
        if verified != ErrorCode.none:
            return all_(_verification_error(verified, version, TXN_OFFSET_COMMIT))
    err = broker.coordinator.validate_txn_commit(group_id, getattr(request, "generation_id", -1),
                                                 getattr(request, "member_id", ""),
                                                 getattr(request, "group_instance_id", None))
    if err is not None:
        return all_(err)
    topics = broker.store.topics()
    denied = {(t, p) for t, p, *_ in wanted if not conn.authorize(acl.READ, acl.TOPIC, t)}
    unknown = {(t, p) for t, p, *_ in wanted if (t not in topics or p not in topics[t].partitions) and (t, p) not in denied}
    entries = [w for w in wanted if (w[0], w[1]) not in unknown and (w[0], w[1]) not in denied]
    records, errors = broker.coordinator.txn_commit_records(group_id, entries)
    for tp in unknown:
        errors[tp] = ErrorCode.unknown_topic_or_partition
    for tp in denied:
        errors[tp] = ErrorCode.topic_authorization_failed
    if records:
        write_err = await broker.group_runtime.write(records, producer_id=request.producer_id,
                                                     producer_epoch=request.producer_epoch, transactional=True)
        if write_err is not None:
            return all_(write_err)
        broker.coordinator.apply_txn(request.producer_id, records)
    return answer(errors)


def _verification_error(code: ErrorCode, version: int, api_key: int) -> ErrorCode:
    """A failed KIP-890 verification, as a produce or offset commit reports it."""
    if code in (ErrorCode.producer_fenced, ErrorCode.invalid_producer_epoch):
        return ErrorCode.invalid_producer_epoch
    if code in (ErrorCode.not_coordinator, ErrorCode.coordinator_not_available, ErrorCode.coordinator_load_in_progress,
                ErrorCode.concurrent_transactions):
        return ErrorCode.coordinator_not_available if api_key == TXN_OFFSET_COMMIT else ErrorCode.not_enough_replicas
    return gate(ErrorCode.transaction_abortable, api_key, version) if api_key == TXN_OFFSET_COMMIT else ErrorCode.invalid_txn_state


async def verify_produce(broker, transactional_id: str, pid: int, epoch: int, topic: str, index: int) -> ErrorCode:
    """KIP-890 part 1 for a transactional Produce to one partition: NONE, or the produce error."""
    part = broker.partitions.get((topic, index))
    if part is not None and part.log.open_transaction_first_offset(pid) >= 0:
        return ErrorCode.none  # the transaction is open here already
    if not broker.config.get("transaction.partition.verification.enable"):
        return ErrorCode.none
    code = (await broker.txns.verify(transactional_id, pid, epoch, [(topic, index)]))[(topic, index)]
    return ErrorCode.none if code == ErrorCode.none else _verification_error(code, 0, 0)


@register(WRITE_TXN_MARKERS, 1, 2)
async def write_txn_markers(conn, header, request):
    """Markers from a transaction coordinator (or an operator's abort, kafka-transactions)."""
    svc = conn.broker.txns
    markers = [(m.producer_id, m.producer_epoch, m.transaction_result, m.coordinator_epoch,
                [(t.name, p) for t in m.topics for p in t.partition_indexes]) for m in request.markers]
    # brokers have CLUSTER_ACTION; an operator aborting a hanging transaction needs ALTER
    if not conn.authorize(acl.CLUSTER_ACTION, acl.CLUSTER, acl.CLUSTER_NAME) and \
            not conn.authorize(acl.ALTER, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"markers": [{"producer_id": pid, "topics": [
            {"name": t, "partitions": [{"partition_index": p, "error_code": ErrorCode.cluster_authorization_failed}]}
            for t, p in tps]} for pid, _e, _c, _ce, tps in markers]}
    results = await svc.write_markers(markers)
    out = []
    for (pid, *_rest), codes in zip(markers, results):
        by_topic: dict[str, list[dict]] = {}
        for (t, p), code in codes.items():
            by_topic.setdefault(t, []).append({"partition_index": p, "error_code": code})
        out.append({"producer_id": pid, "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]})
    return {"markers": out}


@register(DESCRIBE_TRANSACTIONS, 0, 0)
async def describe_transactions(conn, header, request):
    svc = conn.broker.txns
    states = []
    for tid in request.transactional_ids:
        err = svc.runtime.check(tid)
        if not conn.authorize(acl.DESCRIBE, acl.TRANSACTIONAL_ID, tid):
            err = ErrorCode.transactional_id_authorization_failed
        d = svc.coordinator.describe(tid)
        if err is not None:
            d["error_code"] = err
        d["transaction_timeout"] = d.pop("transaction_timeout_ms")
        d["transaction_start_time"] = d.pop("transaction_start_time_ms")
        states.append(d)
    return {"throttle_time": 0, "transaction_states": states}


@register(LIST_TRANSACTIONS, 0, 2)
async def list_transactions(conn, header, request):
    import re

    svc = conn.broker.txns
    pattern = getattr(request, "transactional_id_pattern", None)
    if pattern:
        try:
            re.compile(pattern)
        except re.error as e:
            return {"throttle_time": 0, "error_code": ErrorCode.invalid_request, "unknown_state_filters": [],
                    "transaction_states": [], "error_message": str(e)}
    states, unknown = svc.coordinator.list(list(request.state_filters), list(request.producer_id_filters),
                                           getattr(request, "duration_filter", -1), pattern)
    states = [st for st in states if conn.authorize(acl.DESCRIBE, acl.TRANSACTIONAL_ID, st["transactional_id"])]
    return {"throttle_time": 0, "error_code": 0, "unknown_state_filters": unknown, "transaction_states": states}
