"""Range, round-robin and cooperative-sticky assignors, and the consumer protocol encodings."""

from __future__ import annotations

import itertools
import random

import pytest

from odradek.client.assignors import CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, assignor
from odradek.client.group_protocol import (
    Assignment,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from odradek.client.types import TopicPartition as TP
from odradek.protocol.errors import KafkaError


def subs(members: dict[str, list[str]], owned: dict[str, list[TP]] | None = None, gen: int = 1) -> dict[str, Subscription]:
    owned = owned or {}
    return {m: Subscription(ts, None, owned.get(m, []), gen) for m, ts in members.items()}


def check_complete(result: dict[str, list[TP]], counts: dict[str, int], members: dict[str, list[str]]) -> None:
    seen = [tp for tps in result.values() for tp in tps]
    assert len(seen) == len(set(seen)), "a partition was given twice"
    wanted = {TP(t, p) for ts in members.values() for t in ts for p in range(counts.get(t, 0))}
    assert set(seen) == wanted
    for m, tps in result.items():
        assert all(tp.topic in members[m] for tp in tps)


def test_range_matches_java_example() -> None:
    # Java RangeAssignor javadoc: C0, C1 subscribed to t0, t1 with 3 partitions each
    r = RangeAssignor().assign({"t0": 3, "t1": 3}, subs({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}))
    assert r == {"C0": [TP("t0", 0), TP("t0", 1), TP("t1", 0), TP("t1", 1)], "C1": [TP("t0", 2), TP("t1", 2)]}


def test_roundrobin_matches_java_example() -> None:
    r = RoundRobinAssignor().assign({"t0": 3, "t1": 3}, subs({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}))
    assert r == {"C0": [TP("t0", 0), TP("t0", 2), TP("t1", 1)], "C1": [TP("t0", 1), TP("t1", 0), TP("t1", 2)]}


def test_roundrobin_unequal_subscriptions_java_example() -> None:
    # Java javadoc: C0 -> t0; C1 -> t0, t1; C2 -> t0, t1, t2 with 1, 2, 3 partitions
    r = RoundRobinAssignor().assign({"t0": 1, "t1": 2, "t2": 3}, subs({"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]}))
    assert r == {"C0": [TP("t0", 0)], "C1": [TP("t1", 0)], "C2": [TP("t1", 1), TP("t2", 0), TP("t2", 1), TP("t2", 2)]}


@pytest.mark.parametrize("cls", [RangeAssignor, RoundRobinAssignor, CooperativeStickyAssignor])
def test_complete_and_exclusive_random(cls: type) -> None:
    rnd = random.Random(7)
    for _ in range(200):
        topics = [f"t{i}" for i in range(rnd.randint(1, 4))]
        counts = {t: rnd.randint(0, 9) for t in topics}
        members = {f"m{i}": rnd.sample(topics, rnd.randint(1, len(topics))) for i in range(rnd.randint(1, 5))}
        check_complete(cls().assign(counts, subs(members)), counts, members)


def test_cooperative_sticky_balances_and_keeps_owned() -> None:
    a = CooperativeStickyAssignor()
    first = a.assign({"t": 6}, subs({"a": ["t"]}))
    assert first == {"a": [TP("t", p) for p in range(6)]}
    # b joins: a keeps 3 of its own, the other 3 are withheld (revoked first, handed over next round)
    second = a.assign({"t": 6}, subs({"a": ["t"], "b": ["t"]}, owned={"a": first["a"]}))
    assert len(second["a"]) == 3 and set(second["a"]) <= set(first["a"])
    assert second["b"] == []
    # next round: a owns 3, b nothing: b gets the 3 free partitions, nobody moves
    third = a.assign({"t": 6}, subs({"a": ["t"], "b": ["t"]}, owned={"a": second["a"]}, gen=2))
    assert third["a"] == second["a"]
    assert sorted(third["a"] + third["b"]) == [TP("t", p) for p in range(6)]
    assert len(third["b"]) == 3


def test_cooperative_sticky_member_leaves() -> None:
    a = CooperativeStickyAssignor()
    owned = {"a": [TP("t", 0), TP("t", 1)], "b": [TP("t", 2), TP("t", 3)], "c": [TP("t", 4), TP("t", 5)]}
    r = a.assign({"t": 6}, subs({"a": ["t"], "b": ["t"]}, owned={"a": owned["a"], "b": owned["b"]}))
    # a and b keep everything they had and split c's partitions (nobody owns them now)
    assert set(owned["a"]) <= set(r["a"]) and set(owned["b"]) <= set(r["b"])
    assert sorted(r["a"] + r["b"]) == [TP("t", p) for p in range(6)]
    assert abs(len(r["a"]) - len(r["b"])) <= 1


def test_cooperative_sticky_never_gives_a_partition_still_owned_elsewhere() -> None:
    rnd = random.Random(3)
    a = CooperativeStickyAssignor()
    members = ["m0", "m1", "m2", "m3"]
    owned: dict[str, list[TP]] = {}
    active = ["m0"]
    for step in range(30):
        if rnd.random() < 0.5 and len(active) < len(members):
            active.append(next(m for m in members if m not in active))
        elif len(active) > 1 and rnd.random() < 0.3:
            active.remove(rnd.choice(active))
        r = a.assign({"t": 7}, subs({m: ["t"] for m in active}, owned={m: owned.get(m, []) for m in active}, gen=step))
        for m in active:
            for tp in r[m]:
                holders = [o for o in active if o != m and tp in owned.get(o, [])]
                assert not holders, f"{tp} given to {m} while {holders} still own it"
        owned = {m: r[m] for m in active}


def test_assignor_by_name() -> None:
    assert assignor("range").name == "range"
    assert assignor("roundrobin").name == "roundrobin"
    assert assignor("cooperative-sticky").rebalance_protocol == "cooperative"
    with pytest.raises(ValueError):
        assignor("sticky-ish")


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_subscription_round_trip(version: int) -> None:
    s = Subscription(["b", "a"], b"\x01\x02", [TP("a", 1), TP("a", 0), TP("b", 3)], 7, "rack-1", version)
    d = decode_subscription(encode_subscription(s))
    assert d.topics == ["a", "b"] and d.user_data == b"\x01\x02" and d.version == version
    if version >= 1:
        assert sorted(d.owned_partitions) == sorted(s.owned_partitions)
    if version >= 2:
        assert d.generation_id == 7
    if version >= 3:
        assert d.rack_id == "rack-1"


def test_subscription_as_java_writes_it() -> None:
    # ConsumerProtocolSubscription v0 for topics ["foo"], no user data (as Kafka 0.10-2.x wrote it)
    raw = b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x03foo" + b"\xff\xff\xff\xff"
    assert decode_subscription(raw).topics == ["foo"]
    assert encode_subscription(Subscription(["foo"], version=0)) == raw


def test_assignment_round_trip_and_empty() -> None:
    a = Assignment([TP("x", 2), TP("x", 0), TP("y", 1)], None, 1)
    d = decode_assignment(encode_assignment(a))
    assert sorted(d.partitions) == sorted(a.partitions) and d.user_data is None
    assert decode_assignment(b"").partitions == []
    with pytest.raises(KafkaError):
        decode_assignment(b"\x00\x00\x00\x00\x00\x09")


def test_all_members_always_present_in_result() -> None:
    for cls in (RangeAssignor, RoundRobinAssignor, CooperativeStickyAssignor):
        r = cls().assign({"t": 1}, subs({m: ["t"] for m in ("x", "y", "z")}))
        assert set(r) == {"x", "y", "z"}
        assert sum(len(v) for v in r.values()) == 1
    assert list(itertools.chain()) == []
