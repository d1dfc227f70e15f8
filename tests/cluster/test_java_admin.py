"""The Java Admin client (4.4.0 and 3.9.2 side by side) on a three-broker Odradek cluster on
ZooKeeper: preferred leader election after a broker came back, a partition reassignment that moves
data to other brokers, and an unclean election that brings a partition with no live in-sync replica
back (losing what only the dead leader had, as Kafka does), with the old leader truncating to the new
one's log when it returns. Every step is one Admin call of a long-lived JVM per client version."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import wait_for
from java_client import PROFILES, Driver, classes


@pytest.fixture
def drivers(cluster_factory):
    with ThreadPoolExecutor(len(PROFILES)) as pool:
        list(pool.map(classes, PROFILES))  # compiled before the cluster starts
    cluster = cluster_factory(3, auto_leader_rebalance_enable="false")
    ds = {p: Driver(p, cluster.bootstrap) for p in PROFILES}
    yield cluster, ds
    for d in ds.values():
        d.close()


def _parts(d: Driver, topic: str) -> list[dict]:
    res = d("describe", topic)
    assert isinstance(res, list), res
    return res


def _wait_parts(d: Driver, topic: str, cond, what: str, timeout: float = 40) -> list[dict]:
    last = {}

    def ok():
        last["v"] = _parts(d, topic)
        return cond(last["v"])

    try:
        wait_for(ok, timeout, interval=0.2, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen {last.get('v')}") from None
    return last["v"]


def test_java_admin_elections_and_reassignment(drivers):
    cluster, ds = drivers
    by_id = {b.broker_id: b for b in cluster.brokers}
    tag = uuid.uuid4().hex[:6]
    topics = {p: {k: f"j{p[-1]}-{k}-{tag}" for k in ("elect", "move", "unclean")} for p in PROFILES}
    for p, d in ds.items():
        t = topics[p]
        cl = d("cluster")
        assert cl["nodes"] == [0, 1, 2] and cl["controller"] in (0, 1, 2)
        assert d("create", t["elect"], "0,1,2;1,2,0;2,0,1") == "ok"
        assert d("create", t["move"], "0,1") == "ok"
        assert d("create", t["unclean"], "1,2") == "ok"
        for name in t.values():
            _wait_parts(d, name, lambda ps: all(x["leader"] == x["replicas"][0] and sorted(x["isr"]) == sorted(x["replicas"]) for x in ps),
                        f"{name} online with full ISRs")
        assert d("produce", t["elect"], "0", "10", "e") == list(range(10))
        assert d("produce", t["move"], "0", "10", "m") == list(range(10))
        assert d("produce", t["unclean"], "0", "10", "u") == list(range(10))

    # --- preferred election: broker 0 stops (leadership moves away), comes back, and is made leader
    assert by_id[0].stop() == 0
    by_id[0].start()
    for p, d in ds.items():
        t = topics[p]
        before = _wait_parts(d, t["elect"], lambda ps: all(sorted(x["isr"]) == [0, 1, 2] for x in ps), "broker 0 back in the ISRs")
        assert before[0]["leader"] != 0 and [x["leader"] for x in before[1:]] == [1, 2]
        _wait_parts(d, t["move"], lambda ps: sorted(ps[0]["isr"]) == [0, 1], "broker 0 back in the ISR")
        assert d("elect", "preferred", t["elect"], "0,1,2") == {"0": None, "1": "ElectionNotNeededException", "2": "ElectionNotNeededException"}
        assert d("elect", "preferred", t["move"], "0") == {"0": None}
        _wait_parts(d, t["elect"], lambda ps: [x["leader"] for x in ps] == [0, 1, 2], "preferred leaders")
        # unclean election of partitions that have a leader: nothing to do
        assert d("elect", "unclean", t["elect"], "0") == {"0": "ElectionNotNeededException"}
        assert d("elect", "preferred", t["elect"], "7") == {"7": "UnknownTopicOrPartitionException"}

    # --- reassignment: [0, 1] -> [1, 2], then the data is read from the new replicas
    for p, d in ds.items():
        move = topics[p]["move"]
        assert d("reassign", move, "0", "1,7") == "InvalidReplicaAssignmentException"
        assert d("reassign", move, "0", "cancel") == "NoReassignmentInProgressException"
        assert d("reassign", move, "0", "1,2") == "ok"
        listed = d("reassignments")  # in progress, or already done
        assert isinstance(listed, dict) and set(listed) <= {f"{move}-0"}, listed
        _wait_parts(d, move, lambda ps: ps[0]["replicas"] == [1, 2] and sorted(ps[0]["isr"]) == [1, 2], "the reassignment done")
        wait_for(lambda: f"{move}-0" not in d("reassignments"), 20, what="the reassignment listed no more")
        got = d("consume", move, "0")
        assert (got["start"], got["end"], got["values"]) == (0, 10, [f"m-{i}" for i in range(10)])

    # --- unclean election: replicas [1, 2]; 2 stops, 1 takes more records alone and dies; 2 comes back
    assert by_id[2].stop() == 0
    for p, d in ds.items():
        unclean = topics[p]["unclean"]
        _wait_parts(d, unclean, lambda ps: ps[0]["isr"] == [1], "broker 2 out of the ISR")
        assert d("produce", unclean, "0", "5", "lost") == list(range(10, 15))
    by_id[1].kill()
    by_id[2].start()
    for p, d in ds.items():
        unclean = topics[p]["unclean"]
        # no in-sync replica alive and unclean.leader.election.enable=false: offline
        _wait_parts(d, unclean, lambda ps: ps[0]["leader"] == -1, "the partition offline")
        assert d("elect", "preferred", unclean, "0") == {"0": "PreferredLeaderNotAvailableException"}
        assert d("elect", "unclean", unclean, "0") == {"0": None}
        after = _wait_parts(d, unclean, lambda ps: ps[0]["leader"] == 2, "broker 2 leading")
        assert after[0]["isr"] == [2]
        assert d("produce", unclean, "0", "3", "new") == [10, 11, 12]
    by_id[1].start()
    for p, d in ds.items():
        unclean = topics[p]["unclean"]
        # the old leader returns, truncates what only it had, and follows broker 2 back into the ISR
        _wait_parts(d, unclean, lambda ps: sorted(ps[0]["isr"]) == [1, 2], "broker 1 back in the ISR")
        want = [f"u-{i}" for i in range(10)] + [f"new-{i}" for i in range(3)]
        got = d("consume", unclean, "0")
        assert (got["end"], got["values"]) == (13, want)
