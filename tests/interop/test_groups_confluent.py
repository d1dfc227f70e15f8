"""confluent-kafka (librdkafka 2.16) group features beyond the basic rebalance (issue 3):

- cooperative-sticky: a member joining moves only the partitions it gets, by incremental
  revoke/assign, and every other partition stays where it was;
- static membership (group.instance.id): a static member closing does not leave the group; one
  restarting within its session timeout gets its partitions back with no rebalance for the others
  (no revoke or assign callback anywhere else), whether it was the leader or a follower; static
  members are removed with an admin LeaveGroup (v3+, by instance id);
- fencing: a second consumer with the same group.instance.id takes the place over and the first
  one is fenced (FENCED_INSTANCE_ID surfaces as librdkafka's fatal error).
"""

from __future__ import annotations

import time

import pytest

from test_groups_support import (
    MAX_POLL_MS,
    SESSION_MS,
    Members,
    ck_admin,
    create_topic,
    describe,
    produce,
    uniq,
    wait_for_value,
    wait_members,
    wait_stable,
)

pytestmark = pytest.mark.interop
NP = 6


@pytest.fixture
def members(tmp_path):
    ms = Members(tmp_path / "members")
    yield ms
    ms.kill_all()


def _rebalance_events(m, since: int) -> list[dict]:
    return [e for e in m.evs()[since:] if e["ev"] in ("assign", "revoke", "lost")]


def test_cooperative_sticky_incremental_rebalance(shared_broker, members):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gcoop"), uniq("grp-coop")
    create_topic(bs, topic, NP)
    first = [members.start("ck", bs, group, [topic], assignor="cooperative-sticky") for _ in range(3)]
    view = wait_stable(admin, group, first, topic, NP, sizes=[2, 2, 2])
    assert view.assignor == "cooperative-sticky"
    before = {m.name: m.assignment() for m in first}
    marks = {m.name: len(m.evs()) for m in first}

    fourth = members.start("ck", bs, group, [topic], assignor="cooperative-sticky")
    view = wait_stable(admin, group, first + [fourth], topic, NP, sizes=[1, 1, 2, 2])
    assert view.assignor == "cooperative-sticky"

    moved = set()
    for m in first:
        after = m.assignment()
        assert after <= before[m.name], f"{m.name}: sticky assignor gave it new partitions {after - before[m.name]}"
        evs = _rebalance_events(m, marks[m.name])
        assert all(e.get("incremental") for e in evs), f"{m.name}: eager callbacks in a cooperative group: {evs}"
        revoked = {tuple(tp) for e in evs if e["ev"] == "revoke" for tp in e["tps"]}
        assert not [e for e in evs if e["ev"] == "lost"], f"{m.name}: partitions lost: {evs}"
        # Only what moved was revoked: the partitions it kept were never taken away.
        assert revoked == before[m.name] - after, f"{m.name}: revoked {revoked}, kept {after}, had {before[m.name]}"
        moved |= revoked
    assert moved == set(fourth.assignment()), f"moved {moved}, the new member owns {fourth.assignment()}"
    assert all(e.get("incremental") for e in _rebalance_events(fourth, 0))

    # The group still consumes everything exactly once after the incremental rebalance.
    produce(bs, topic, 2, NP)
    everyone = first + [fourth]
    wait_members(lambda: len({(p, o) for m in everyone for p, o, _ in m.msgs()}) == 2 * NP, everyone, 30, "cooperative group reading")
    for m in everyone:
        assert not m.commit_errors(), m.report()
        m.close()


@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
def test_static_member_restart_keeps_partitions_without_rebalance(shared_broker, members, assignor):
    """With cooperative-sticky, a member's subscription metadata carries the partitions it owns,
    so the restarted process (owning nothing yet) sends different metadata than its predecessor's
    last JoinGroup. Kafka only rebalances a Stable group on a static rejoin when the group's
    selected protocol would change; metadata changes alone do not."""
    from kafka.admin import KafkaAdminClient, MemberToRemove

    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gstatic"), uniq("grp-static")
    create_topic(bs, topic, NP)
    ids = [uniq(f"inst{i}") for i in range(3)]
    session = 10000  # comfortably longer than a consumer process restart

    def start(i):
        return members.start("ck", bs, group, [topic], instance_id=ids[i], session_ms=session, assignor=assignor)

    # The first static member joins alone: it is the group leader from then on.
    ms = [start(0)]
    wait_stable(admin, group, ms, topic, NP, sizes=[6])
    ms += [start(1), start(2)]
    view = wait_stable(admin, group, ms, topic, NP, sizes=[2, 2, 2])
    assert set(view.by_instance()) == set(ids), view

    for idx in (0, 1):  # the leader, then a follower
        view = describe(admin, group)
        old = view.by_instance()
        old_owned = old[ids[idx]].tps
        others = [m for i, m in enumerate(ms) if i != idx]
        marks = {m.name: len(m.evs()) for m in others}

        ms[idx].close()  # a static member does not send LeaveGroup
        still = describe(admin, group)
        assert still.state == "STABLE" and len(still.members) == 3, f"closing a static member changed the group: {still}"

        ms[idx] = start(idx)
        view = wait_stable(admin, group, ms, topic, NP, sizes=[2, 2, 2])
        new = view.by_instance()
        assert new[ids[idx]].member_id != old[ids[idx]].member_id, "the restarted static member kept its old member id"
        assert new[ids[idx]].tps == old_owned, f"restarted static member got {new[ids[idx]].tps}, had {old_owned}"
        assert ms[idx].assignment() == old_owned
        for i, m in enumerate(ms):
            if i != idx:
                assert new[ids[i]].member_id == old[ids[i]].member_id
                assert new[ids[i]].tps == old[ids[i]].tps
        for m in others:
            assert not _rebalance_events(m, marks[m.name]), f"{m.name} saw a rebalance: {_rebalance_events(m, marks[m.name])}"

    # Static members stay after closing; an admin LeaveGroup by instance id removes them.
    for m in ms:
        m.close()
    assert len(describe(admin, group).members) == 3
    kadmin = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
    try:
        res = kadmin.remove_group_members(group, [MemberToRemove(group_instance_id=i) for i in ids])
        assert all(err.errno == 0 for err in res.values()), res
        res = kadmin.remove_group_members(group, [MemberToRemove(group_instance_id=ids[0])])
        assert [err.__name__ for err in res.values()] == ["UnknownMemberIdError"], res
    finally:
        kadmin.close()
    v = describe(admin, group)
    assert v.state == "EMPTY" and v.members == (), v


def test_duplicate_static_instance_is_fenced(shared_broker, members):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gfence"), uniq("grp-fence")
    create_topic(bs, topic, NP)
    inst = uniq("dup")
    a = members.start("ck", bs, group, [topic], instance_id=inst, session_ms=10000)
    other = members.start("ck", bs, group, [topic], session_ms=10000)
    view = wait_stable(admin, group, [a, other], topic, NP, sizes=[3, 3])
    a_member = view.by_instance()[inst]

    b = members.start("ck", bs, group, [topic], instance_id=inst, session_ms=10000)
    # b takes a's place (same instance id, a new member id); a is fenced on its next heartbeat.
    wait_members(lambda: any(e.get("fatal") for e in a.evs("error")), [a, b], 20, "the replaced static member fenced")
    fatal = [e for e in a.evs("error") if e.get("fatal")]
    assert any("FENCED" in (e.get("code", "") + e.get("str", "")).upper() for e in fatal), fatal
    view = wait_stable(admin, group, [b, other], topic, NP, sizes=[3, 3])
    now = view.by_instance()[inst]
    assert now.member_id != a_member.member_id
    assert now.tps == a_member.tps
    assert not [e for e in b.evs("error") if e.get("fatal")], b.report()
    a.kill()
    for m in (b, other):
        m.close()
    # b is static: it stays until an admin removes it or its session ends.
    wait_for_value(lambda: [m.instance_id for m in describe(admin, group).members] == [inst], 20)


def test_member_killed_while_a_rebalance_waits_for_it(shared_broker, members):
    """A member dies just as another joins: the rebalance the newcomer starts cannot wait for the
    dead one's JoinGroup for the whole rebalance timeout (max.poll.interval.ms, 20 s here); its
    session (6 s) runs out first and the rebalance completes without it."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gkr"), uniq("grp-kr")
    create_topic(bs, topic, NP)
    ms = [members.start("ck", bs, group, [topic]) for _ in range(3)]
    wait_stable(admin, group, ms, topic, NP, sizes=[2, 2, 2])
    t0 = time.monotonic()
    ms[0].kill()
    newcomer = members.start("ck", bs, group, [topic])
    survivors = ms[1:] + [newcomer]
    wait_stable(admin, group, survivors, topic, NP, sizes=[2, 2, 2], timeout=SESSION_MS / 1000 + 10)
    took = time.monotonic() - t0
    assert took < MAX_POLL_MS / 1000, f"the rebalance waited {took:.1f}s: the rebalance timeout, not the session timeout"
    for m in survivors:
        m.close()


def test_static_member_gone_for_good_is_removed_after_its_session(shared_broker, members):
    """A static member that closes (no LeaveGroup) and never comes back stays a member until its
    session timeout; then the group rebalances and the others take its partitions."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gsx"), uniq("grp-sx")
    create_topic(bs, topic, NP)
    ids = [uniq("sx0"), uniq("sx1")]
    ms = [members.start("ck", bs, group, [topic], instance_id=i) for i in ids]
    wait_stable(admin, group, ms, topic, NP, sizes=[3, 3])
    t0 = time.monotonic()
    ms[0].close()
    assert len(describe(admin, group).members) == 2
    view = wait_stable(admin, group, ms[1:], topic, NP, sizes=[6], timeout=SESSION_MS / 1000 + 15)
    took = time.monotonic() - t0
    assert took >= SESSION_MS / 1000 - 1.5, f"the static member was removed after {took:.1f}s, before its session timed out"
    assert [m.instance_id for m in view.members] == [ids[1]]
    ms[1].close()
