"""The transaction coordinator as a pure state machine: an injected clock and producer-id allocator,
transitions applied as the runtime would apply them once written."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from odradek.coordinator.transactions import (
    MAX_EPOCH,
    TransactionCoordinator,
    TxnConfig,
    TxnState,
)
from odradek.coordinator.txn_records import decode_key, decode_value
from odradek.protocol.errors import ErrorCode as E


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env():
    clock = Clock()
    pids = itertools.count(1000)
    tc = TransactionCoordinator(TxnConfig(num_partitions=4, max_timeout_ms=60000, id_expiration_ms=3600_000),
                                lambda: next(pids), clock)
    for p in range(4):
        tc.load_partition(p, 7)
        tc.loaded_partition(p)
    return tc, clock


def ok(tc, res):
    """Apply a result's transition as if written; return the result."""
    assert res.error == E.none, res.error
    if res.transition is not None:
        tc.apply(res.transition)
    return res


def init(tc, tid="t", timeout=10000, pid=-1, epoch=-1):
    return ok(tc, tc.init_producer_id(tid, timeout, pid, epoch))


def begin(tc, tid, pid, epoch, parts=(("a", 0),)):
    return ok(tc, tc.add_partitions(tid, pid, epoch, parts))


def finish(tc, tid):
    t = tc.complete(tid)
    assert t is not None
    tc.apply(t)


def test_init_bumps_the_epoch_and_checks_the_timeout(env):
    tc, _ = env
    r = init(tc)
    assert (r.producer_id, r.producer_epoch) == (1000, 0)
    r = init(tc)
    assert (r.producer_id, r.producer_epoch) == (1000, 1)
    assert tc.init_producer_id("t", 0).error == E.invalid_transaction_timeout
    assert tc.init_producer_id("t", 60001).error == E.invalid_transaction_timeout
    assert tc.init_producer_id("", 1000).error == E.invalid_request
    assert tc.init_producer_id("t", 1000, 1000, -1).error == E.invalid_request
    m = tc.txns["t"]
    assert m.state == TxnState.EMPTY and m.timeout_ms == 10000


def test_a_transaction_commits(env):
    tc, clock = env
    r = init(tc)
    res = begin(tc, "t", r.producer_id, 0, [("a", 0), ("b", 1)])
    assert res.transition.state == TxnState.ONGOING
    # adding what is in already writes nothing
    assert tc.add_partitions("t", r.producer_id, 0, [("a", 0)]).transition is None
    assert tc.verify("t", r.producer_id, 0, [("a", 0), ("c", 0)]) == {("a", 0): E.none, ("c", 0): E.invalid_txn_state}
    clock.t += 1
    res = ok(tc, tc.end_txn("t", r.producer_id, 0, True))
    assert res.transition.state == TxnState.PREPARE_COMMIT
    assert tc.markers_to_write("t") == (r.producer_id, 0, True, frozenset({("a", 0), ("b", 1)}))
    assert tc.end_txn("t", r.producer_id, 0, True).error == E.concurrent_transactions  # prepared: retry
    assert tc.add_partitions("t", r.producer_id, 0, [("a", 0)]).error == E.concurrent_transactions
    assert tc.init_producer_id("t", 1000).error == E.concurrent_transactions
    finish(tc, "t")
    m = tc.txns["t"]
    assert m.state == TxnState.COMPLETE_COMMIT and m.partitions == frozenset()
    assert ok(tc, tc.end_txn("t", r.producer_id, 0, True)).transition is None  # retried EndTxn: NONE
    assert tc.end_txn("t", r.producer_id, 0, False).error == E.invalid_txn_state
    # the next transaction starts from CompleteCommit with the same epoch (no bump per transaction)
    assert begin(tc, "t", r.producer_id, 0).transition.start_ms == int(clock.t * 1000)


def test_end_txn_errors(env):
    tc, _ = env
    r = init(tc)
    assert tc.end_txn("t", r.producer_id, 0, True).error == E.invalid_txn_state  # Empty
    assert tc.end_txn("t", 999, 0, True).error == E.invalid_producer_id_mapping
    assert tc.end_txn("nope", 999, 0, True).error == E.invalid_producer_id_mapping
    begin(tc, "t", r.producer_id, 0)
    assert tc.end_txn("t", r.producer_id, 1, True).error == E.producer_fenced
    pending = tc.end_txn("t", r.producer_id, 0, False)
    assert tc.end_txn("t", r.producer_id, 0, False).error == E.concurrent_transactions  # being written
    tc.abandon(pending.transition)  # the write failed: nothing changed
    assert tc.txns["t"].state == TxnState.ONGOING
    assert tc.add_partitions("t", 1, 0, [("a", 0)]).partition_errors == {("a", 0): E.invalid_producer_id_mapping}


def test_a_second_producer_fences_the_first(env):
    tc, _ = env
    r = init(tc)
    begin(tc, "t", r.producer_id, 0)
    res = tc.init_producer_id("t", 10000)
    assert res.error == E.concurrent_transactions and res.transition.fence
    assert res.transition.state == TxnState.PREPARE_ABORT and res.transition.producer_epoch == 1
    tc.apply(res.transition)
    assert tc.markers_to_write("t") == (r.producer_id, 1, False, frozenset({("a", 0)}))
    assert tc.init_producer_id("t", 10000).error == E.concurrent_transactions  # aborting
    finish(tc, "t")
    r2 = init(tc)
    assert (r2.producer_id, r2.producer_epoch) == (r.producer_id, 2)
    # the zombie is fenced everywhere
    assert tc.add_partitions("t", r.producer_id, 0, [("a", 0)]).error == E.producer_fenced
    assert tc.end_txn("t", r.producer_id, 0, True).error == E.producer_fenced
    assert tc.verify("t", r.producer_id, 0, [("a", 0)]) == {("a", 0): E.producer_fenced}


def test_kip360_epoch_bump_by_the_producer(env):
    tc, _ = env
    r = init(tc)
    r2 = init(tc, pid=r.producer_id, epoch=0)
    assert r2.producer_epoch == 1
    # a retry with the old epoch gets the current one, no second bump
    r3 = init(tc, pid=r.producer_id, epoch=0)
    assert r3.producer_epoch == 1
    assert tc.init_producer_id("t", 10000, r.producer_id, 5).error == E.producer_fenced
    assert tc.init_producer_id("t", 10000, 4242, 1).error == E.producer_fenced


def test_epoch_exhaustion_rotates_the_producer_id(env):
    tc, _ = env
    r = init(tc)
    tc.txns["t"].producer_epoch = MAX_EPOCH - 1
    r2 = init(tc)
    assert r2.producer_id != r.producer_id and r2.producer_epoch == 0


def test_timeouts_abort_and_ids_expire(env):
    tc, clock = env
    r = init(tc, timeout=5000)
    begin(tc, "t", r.producer_id, 0)
    clock.t += 4
    assert tc.timed_out() == []
    clock.t += 2
    (t,) = tc.timed_out()
    assert t.fence and t.state == TxnState.PREPARE_ABORT and t.producer_epoch == 1
    tc.apply(t)
    finish(tc, "t")
    assert tc.txns["t"].state == TxnState.COMPLETE_ABORT
    assert tc.end_txn("t", r.producer_id, 0, True).error == E.producer_fenced  # the late producer
    assert tc.expired() == []
    clock.t += 3601
    (t,) = tc.expired()
    assert t.tombstone and t.record()[2] is None
    tc.apply(t)
    assert "t" not in tc.txns
    assert tc.describe("t")["error_code"] == E.transactional_id_not_found


def test_not_coordinator_for_partitions_not_loaded(env):
    tc, _ = env
    tc.unload_partition(tc.partition_for("t"))
    assert tc.init_producer_id("t", 1000).error == E.not_coordinator
    assert tc.end_txn("t", 1, 0, True).error == E.not_coordinator


def test_describe_and_list(env):
    tc, clock = env
    a = init(tc, "alpha")
    init(tc, "beta")
    begin(tc, "alpha", a.producer_id, 0, [("x", 0), ("x", 1), ("y", 0)])
    d = tc.describe("alpha")
    assert d["transaction_state"] == "Ongoing" and d["topics"] == [{"topic": "x", "partitions": [0, 1]}, {"topic": "y", "partitions": [0]}]
    assert tc.describe("beta")["transaction_start_time_ms"] == -1
    states, unknown = tc.list(["Ongoing", "Bogus"], [])
    assert [s["transactional_id"] for s in states] == ["alpha"] and unknown == ["Bogus"]
    assert [s["transactional_id"] for s in tc.list([], [], pattern="^b")[0]] == ["beta"]
    clock.t += 10
    assert [s["transactional_id"] for s in tc.list([], [], duration_ms=5000)[0]] == ["alpha"]
    assert tc.list([], [], duration_ms=50000)[0] == []
    assert [s["transactional_id"] for s in tc.list([], [a.producer_id])[0]] == ["alpha"]


def test_records_replay_to_the_same_state(env):
    tc, clock = env
    written = []

    def step(res):
        if res.transition is not None:
            written.append(res.transition.record())
            tc.apply(res.transition)

    r = tc.init_producer_id("t", 9000)
    step(r)
    step(tc.add_partitions("t", r.producer_id, 0, [("a", 0), ("b", 2)]))
    step(tc.end_txn("t", r.producer_id, 0, False))
    other = tc.init_producer_id("u", 9000)
    step(other)
    step(tc.add_partitions("u", other.producer_id, 0, [("c", 0)]))
    p, key, value = written[-1]
    assert decode_key(key) == "u" and decode_value(value).partitions == [("c", [0])]
    fresh = TransactionCoordinator(tc.config, lambda: 0, clock)
    for p in range(4):
        fresh.load_partition(p, 8)
    for _p, k, v in written:
        fresh.replay(k, v)
    for p in range(4):
        fresh.loaded_partition(p)
    for tid in ("t", "u"):
        a, b = tc.txns[tid], fresh.txns[tid]
        assert (a.producer_id, a.producer_epoch, a.state, a.partitions, a.timeout_ms, a.start_ms) == \
               (b.producer_id, b.producer_epoch, b.state, b.partitions, b.timeout_ms, b.start_ms)
    assert fresh.prepared() == ["t"]  # a new coordinator finishes the decided abort
    assert fresh.coordinator_epoch("t") == 8


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["init", "add", "commit", "abort", "complete", "timeout", "fail"]),
                          st.integers(0, 1)), max_size=40))
def test_random_requests_keep_the_invariants(ops):
    clock = Clock()
    pids = itertools.count(1)
    tc = TransactionCoordinator(TxnConfig(num_partitions=1), lambda: next(pids), clock)
    tc.load_partition(0, 0)
    tc.loaded_partition(0)
    known: dict[str, tuple[int, int]] = {}
    for op, who in ops:
        tid = f"id{who}"
        pid, epoch = known.get(tid, (-1, -1))
        clock.t += 1
        if op == "init":
            res = tc.init_producer_id(tid, 3000)
        elif op == "add":
            res = tc.add_partitions(tid, pid, epoch, [("a", who)])
        elif op in ("commit", "abort"):
            res = tc.end_txn(tid, pid, epoch, op == "commit")
        elif op == "complete":
            t = tc.complete(tid)
            res = None
            if t is not None:
                tc.apply(t)
        elif op == "timeout":
            clock.t += 5
            for t in tc.timed_out():
                tc.apply(t)
            res = None
        else:  # a write that fails
            res = tc.init_producer_id(tid, 3000)
            if res.transition is not None:
                tc.abandon(res.transition)
            res = None
        if res is not None and res.transition is not None:
            tc.apply(res.transition)
            if op == "init" and res.error == E.none:
                known[tid] = (res.producer_id, res.producer_epoch)
        for m in tc.txns.values():
            assert m.pending is None  # every transition was applied or abandoned
            assert m.state != TxnState.PREPARE_EPOCH_FENCE
            assert (m.state == TxnState.EMPTY) <= (m.partitions == frozenset())
            assert m.state not in (TxnState.COMPLETE_ABORT, TxnState.COMPLETE_COMMIT) or not m.partitions
            assert 0 <= m.producer_epoch < MAX_EPOCH
