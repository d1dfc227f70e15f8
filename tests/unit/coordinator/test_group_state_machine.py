"""The classic group protocol with an injected clock: every state transition and fencing error."""

from __future__ import annotations

import struct

import pytest

from odradek.coordinator import records as R
from odradek.coordinator.coordinator import CoordinatorConfig, GroupCoordinator, java_string_hash, partition_for
from odradek.coordinator.group import GroupState
from odradek.protocol.errors import ErrorCode


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def subscription(*topics: str) -> bytes:
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


class Box:
    """Collects a parked response."""

    def __init__(self) -> None:
        self.value: dict | None = None

    def __call__(self, resp: dict) -> None:
        assert self.value is None, "answered twice"
        self.value = resp

    @property
    def code(self) -> ErrorCode:
        assert self.value is not None, "not answered"
        return self.value["error_code"]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def coord(clock):
    return GroupCoordinator(CoordinatorConfig(initial_rebalance_delay_ms=0), clock)


def join(coord, member_id="", group="g", instance=None, protocols=None, version=5, session_ms=10000, rebalance_ms=30000):
    box = Box()
    coord.join(group_id=group, member_id=member_id, group_instance_id=instance, client_id="c", client_host="/h",
               session_timeout_ms=session_ms, rebalance_timeout_ms=rebalance_ms, protocol_type="consumer",
               protocols=protocols or [("range", subscription("t"))], version=version, respond=box)
    return box


def full_join(coord, **kw) -> Box:
    """Join with the MEMBER_ID_REQUIRED round trip."""
    first = join(coord, **kw)
    assert first.code == ErrorCode.member_id_required
    return join(coord, member_id=first.value["member_id"], **kw)


def sync(coord, member_id, generation, assignments=None, group="g", instance=None) -> Box:
    box = Box()
    coord.sync(group_id=group, member_id=member_id, instance_id=instance, generation=generation,
               assignments=assignments or {}, protocol_type=None, protocol_name=None, respond=box)
    return box


def stable_group_of(coord, n: int) -> list[str]:
    boxes = [join(coord) for _ in range(n)]
    ids = [b.value["member_id"] for b in boxes]
    joins = [join(coord, member_id=i) for i in ids[:-1]]
    assert all(j.value is None for j in joins)  # parked until everyone is in
    joins.append(join(coord, member_id=ids[-1]))
    gen = joins[0].value["generation_id"]
    leader = joins[0].value["leader"]
    syncs = [sync(coord, i, gen) for i in ids if i != leader]
    sync(coord, leader, gen, {i: i.encode() for i in ids})
    assert all(s.code == ErrorCode.none for s in syncs)
    assert coord.group("g").state == GroupState.STABLE
    return ids


def test_member_id_required_then_join_completes_and_sync_stabilises(coord):
    first = join(coord)
    assert first.code == ErrorCode.member_id_required and first.value["member_id"]
    assert coord.group("g").state == GroupState.EMPTY
    second = join(coord, member_id=first.value["member_id"])
    resp = second.value
    assert resp["error_code"] == ErrorCode.none and resp["generation_id"] == 1
    assert resp["leader"] == resp["member_id"] and len(resp["members"]) == 1
    assert coord.group("g").state == GroupState.COMPLETING_REBALANCE
    s = sync(coord, resp["member_id"], 1, {resp["member_id"]: b"A"})
    assert s.code == ErrorCode.none and s.value["assignment"] == b"A"
    assert coord.group("g").state == GroupState.STABLE


def test_old_versions_join_without_member_id_round_trip(coord):
    box = join(coord, version=3)
    assert box.code == ErrorCode.none and box.value["generation_id"] == 1


def test_three_members_one_leader_and_members_list_only_for_leader(coord):
    ids = stable_group_of(coord, 3)
    g = coord.group("g")
    assert g.leader in ids and len(g.members) == 3
    assert all(g.members[i].assignment == i.encode() for i in ids)


def test_new_member_triggers_rebalance_and_heartbeats_say_so(coord):
    ids = stable_group_of(coord, 2)
    gen = coord.group("g").generation
    newcomer = join(coord)
    parked = join(coord, member_id=newcomer.value["member_id"])
    assert parked.value is None
    assert coord.group("g").state == GroupState.PREPARING_REBALANCE
    assert coord.heartbeat(group_id="g", member_id=ids[0], instance_id=None, generation=gen) == ErrorCode.rebalance_in_progress
    a = join(coord, member_id=ids[0])
    assert a.value is None
    b = join(coord, member_id=ids[1])
    assert b.code == ErrorCode.none and parked.code == ErrorCode.none
    assert b.value["generation_id"] == gen + 1
    assert coord.group("g").state == GroupState.COMPLETING_REBALANCE


def test_fencing_errors(coord):
    ids = stable_group_of(coord, 2)
    gen = coord.group("g").generation
    assert coord.heartbeat(group_id="g", member_id="nobody", instance_id=None, generation=gen) == ErrorCode.unknown_member_id
    assert coord.heartbeat(group_id="g", member_id=ids[0], instance_id=None, generation=gen - 1) == ErrorCode.illegal_generation
    assert coord.heartbeat(group_id="g", member_id=ids[0], instance_id=None, generation=gen) == ErrorCode.none
    assert sync(coord, "nobody", gen).code == ErrorCode.unknown_member_id
    assert sync(coord, ids[0], gen + 5).code == ErrorCode.illegal_generation
    assert join(coord, member_id="nobody").code == ErrorCode.unknown_member_id
    assert coord.validate_commit("g", gen - 1, ids[0], None) == ErrorCode.illegal_generation
    assert coord.validate_commit("g", gen, "nobody", None) == ErrorCode.unknown_member_id
    assert coord.validate_commit("g", gen, ids[0], None) is None
    assert coord.heartbeat(group_id="other", member_id="x", instance_id=None, generation=1) == ErrorCode.unknown_member_id


def test_inconsistent_protocols_and_bad_session_timeout(coord):
    stable_group_of(coord, 1)
    box = join(coord, protocols=[("roundrobin", subscription("t"))])
    assert box.code == ErrorCode.inconsistent_group_protocol
    assert join(coord, group="h", session_ms=10).code == ErrorCode.invalid_session_timeout
    assert join(coord, group="").code == ErrorCode.invalid_group_id


def test_protocol_selection_by_votes(coord):
    a = full_join(coord, protocols=[("range", b""), ("roundrobin", b"")])
    assert a.value["protocol_name"] == "range"
    # second member prefers roundrobin: both support both, the votes tie, first member's order wins
    b = join(coord, protocols=[("roundrobin", b""), ("range", b"")])
    b2 = join(coord, member_id=b.value["member_id"], protocols=[("roundrobin", b""), ("range", b"")])
    a2 = join(coord, member_id=a.value["member_id"], protocols=[("range", b""), ("roundrobin", b"")])
    assert a2.value["protocol_name"] == b2.value["protocol_name"] == "range"


def test_session_timeout_evicts_member_and_rebalances(coord, clock):
    ids = stable_group_of(coord, 2)
    gen = coord.group("g").generation
    clock.advance(6)
    assert coord.heartbeat(group_id="g", member_id=ids[0], instance_id=None, generation=gen) == ErrorCode.none
    clock.advance(5)  # ids[1] silent for 11 s > 10 s session
    coord.poll()
    g = coord.group("g")
    assert ids[1] not in g.members
    assert g.state == GroupState.PREPARING_REBALANCE
    again = join(coord, member_id=ids[0])
    assert again.code == ErrorCode.none and again.value["generation_id"] == gen + 1
    assert len(again.value["members"]) == 1


def test_rebalance_timeout_drops_members_that_do_not_rejoin(coord, clock):
    ids = stable_group_of(coord, 2)
    parked = join(coord, member_id=ids[0], protocols=[("range", subscription("t", "u"))])
    assert parked.value is None
    # ids[1] keeps heartbeating but never rejoins
    for _ in range(7):
        clock.advance(5)
        coord.heartbeat(group_id="g", member_id=ids[1], instance_id=None, generation=coord.group("g").generation)
        coord.poll()
    assert parked.code == ErrorCode.none
    assert list(coord.group("g").members) == [ids[0]]


def test_leave_group_rebalances_and_last_leave_empties(coord):
    ids = stable_group_of(coord, 2)
    assert coord.leave(group_id="g", member_id=ids[1], instance_id=None) == ErrorCode.none
    assert coord.group("g").state == GroupState.PREPARING_REBALANCE
    j = join(coord, member_id=ids[0])
    assert j.code == ErrorCode.none
    assert coord.leave(group_id="g", member_id=ids[0], instance_id=None) == ErrorCode.none
    assert coord.group("g").state == GroupState.EMPTY
    assert coord.leave(group_id="g", member_id="nobody", instance_id=None) == ErrorCode.unknown_member_id


def test_sync_during_preparing_rebalance_and_followers_wait_for_leader(coord):
    a = full_join(coord)
    mid = a.value["member_id"]
    b = join(coord)
    b2 = join(coord, member_id=b.value["member_id"])
    assert coord.group("g").state == GroupState.PREPARING_REBALANCE
    assert sync(coord, mid, 1).code == ErrorCode.rebalance_in_progress
    a2 = join(coord, member_id=mid)
    gen = a2.value["generation_id"]
    leader = a2.value["leader"]
    follower = b2.value["member_id"] if leader == mid else mid
    waiting = sync(coord, follower, gen)
    assert waiting.value is None
    sync(coord, leader, gen, {follower: b"F", leader: b"L"})
    assert waiting.value["assignment"] == b"F"


def test_static_member_rejoin_keeps_assignment_without_rebalance(coord):
    a = join(coord, instance="i-1")
    assert a.code == ErrorCode.none  # static members skip MEMBER_ID_REQUIRED
    gen = a.value["generation_id"]
    old_id = a.value["member_id"]
    sync(coord, old_id, gen, {old_id: b"P"}, instance="i-1")
    assert coord.group("g").state == GroupState.STABLE
    again = join(coord, instance="i-1")  # restarted process, no member id
    assert again.code == ErrorCode.none and again.value["generation_id"] == gen
    new_id = again.value["member_id"]
    assert new_id != old_id and coord.group("g").state == GroupState.STABLE
    # the old incarnation is fenced
    assert coord.heartbeat(group_id="g", member_id=old_id, instance_id="i-1", generation=gen) == ErrorCode.fenced_instance_id
    assert sync(coord, new_id, gen, instance="i-1").value["assignment"] == b"P"


def test_initial_rebalance_delay_waits_for_more_members(clock):
    coord = GroupCoordinator(CoordinatorConfig(initial_rebalance_delay_ms=3000), clock)
    a = join(coord, version=3)
    assert a.value is None
    clock.advance(1)
    b = join(coord, version=3)
    coord.poll()
    assert a.value is None and b.value is None
    clock.advance(3.1)
    coord.poll()
    assert a.code == ErrorCode.none and b.code == ErrorCode.none
    assert a.value["generation_id"] == 1 and len(coord.group("g").members) == 2


def test_leader_that_never_syncs_causes_a_new_rebalance(coord, clock):
    a = full_join(coord, rebalance_ms=10000)
    assert coord.group("g").state == GroupState.COMPLETING_REBALANCE
    clock.advance(11)
    coord.poll()
    assert a.value["member_id"] not in coord.group("g").members


def test_simple_commit_and_offsets_round_trip_through_records(coord, clock):
    assert coord.validate_commit("solo", -1, "", None) is None
    errs = coord.commit("solo", [("t", 0, 42, 3, "meta"), ("t", 1, 7, -1, None)])
    assert set(errs.values()) == {ErrorCode.none}
    records = coord.drain()
    assert len(records) == 2 and all(p == coord.partition_for("solo") for p, _, _ in records)
    coord.apply(records)
    got = coord.fetch("solo", [("t", 0), ("t", 1), ("t", 2)])
    assert got[("t", 0)].offset == 42 and got[("t", 0)].metadata == "meta" and got[("t", 0)].leader_epoch == 3
    assert got[("t", 2)] is None
    # a fresh coordinator rebuilt from the records knows the same
    other = GroupCoordinator(CoordinatorConfig(), clock)
    for _p, k, v in records:
        other.replay(k, v)
    assert other.fetch("solo", None)[("t", 1)].offset == 7
    assert other.group("solo").state == GroupState.EMPTY


def test_metadata_too_large(coord):
    errs = coord.commit("g2", [("t", 0, 1, -1, "x" * 5000)])
    assert errs[("t", 0)] == ErrorCode.offset_metadata_too_large


def test_group_metadata_record_replays_into_a_stable_group(coord, clock):
    ids = stable_group_of(coord, 2)
    recs = coord.drain()
    group_recs = [(k, v) for _p, k, v in recs if isinstance(R.decode_key(k), R.GroupKey)]
    assert group_recs
    other = GroupCoordinator(CoordinatorConfig(), clock)
    for k, v in group_recs:
        other.replay(k, v)
    g = other.group("g")
    assert g.state == GroupState.STABLE and set(g.members) == set(ids)
    assert g.generation == coord.group("g").generation


def test_delete_group_and_offsets(coord):
    ids = stable_group_of(coord, 1)
    assert coord.delete_group("g") == ErrorCode.non_empty_group
    assert coord.delete_group("nope") == ErrorCode.group_id_not_found
    coord.leave(group_id="g", member_id=ids[0], instance_id=None)
    coord.apply(coord.drain())
    coord.commit("g", [("t", 0, 5, -1, "")])
    coord.apply(coord.drain())
    assert coord.delete_group("g") == ErrorCode.none
    tombstones = coord.drain()
    assert tombstones and all(v is None for _p, _k, v in tombstones)
    assert coord.group("g") is None and coord.fetch("g", None) == {}


def test_offset_delete_refuses_subscribed_topics(coord):
    stable_group_of(coord, 1)
    coord.commit("g", [("t", 0, 5, -1, ""), ("u", 0, 6, -1, "")])
    coord.apply(coord.drain())
    top, per = coord.delete_offsets("g", [("t", 0), ("u", 0)])
    assert top == ErrorCode.none
    assert per[("t", 0)] == ErrorCode.group_subscribed_to_topic and per[("u", 0)] == ErrorCode.none
    coord.apply(coord.drain())
    assert ("u", 0) not in coord.fetch("g", None)


def test_offsets_of_empty_groups_expire(clock):
    coord = GroupCoordinator(CoordinatorConfig(offsets_retention_ms=60000), clock)
    coord.commit("old", [("t", 0, 1, -1, "")])
    coord.apply(coord.drain())
    clock.advance(30)
    assert coord.expire_offsets() == 0
    clock.advance(31)
    assert coord.expire_offsets() == 1
    assert coord.fetch("old", None) == {}
    assert any(v is None for _p, _k, v in coord.drain())


def test_java_hash_and_partition_choice_match_kafka():
    # "hello".hashCode() in Java is 99162322
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert partition_for("hello", 50) == 99162322 % 50
    assert 0 <= partition_for("ÿ-ünicode-группа", 50) < 50
