"""Consumer groups with each client on its own: confluent-kafka (ck), kafka-python (kp), aiokafka
(ak) and KafkaJS (kjs), every consumer a separate process over real sockets (issue 3).

- three consumers on a six-partition topic get two partitions each; a fourth joins and the group
  rebalances (every partition owned exactly once, four members), then all leave: Empty;
- a consumer process SIGKILLed is evicted after its session timeout (not before) and its
  partitions move to the survivors, which then read them;
- commits survive a broker restart: consume part and commit, stop, restart the broker, and a new
  group incarnation reads exactly the rest (nothing skipped, nothing read twice).

The broker's view comes from DescribeGroups (through confluent-kafka's AdminClient), the members'
own view from their rebalance callbacks; both must agree.
"""

from __future__ import annotations

import time

import pytest

from test_groups_support import (
    SESSION_MS,
    Members,
    check_exactly,
    ck_admin,
    committed,
    create_topic,
    describe,
    kafkajs_available,
    produce,
    uniq,
    wait_for_value,
    wait_members,
    wait_stable,
)

pytestmark = pytest.mark.interop

CLIENTS = [
    "ck",
    "kp",
    "ak",
    pytest.param("kjs", marks=pytest.mark.skipif(not kafkajs_available(), reason="node or kafkajs node_modules missing")),
]
NP = 6


@pytest.fixture
def members(tmp_path):
    ms = Members(tmp_path / "members")
    yield ms
    ms.kill_all()


@pytest.mark.parametrize("client", CLIENTS)
def test_three_members_then_a_fourth(shared_broker, members, client):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq(f"g3-{client}"), uniq(f"grp-{client}")
    create_topic(bs, topic, NP)
    first = [members.start(client, bs, group, [topic]) for _ in range(3)]
    view = wait_stable(admin, group, first, topic, NP, sizes=[2, 2, 2])
    assert len({m.member_id for m in view.members}) == 3
    assert view.assignor, "the group chose no assignor"

    fourth = members.start(client, bs, group, [topic])
    view = wait_stable(admin, group, first + [fourth], topic, NP, sizes=[1, 1, 2, 2])
    assert len({m.member_id for m in view.members}) == 4
    assert fourth.assignment(), "the fourth member got no partition"

    for m in first + [fourth]:
        m.close()
    v = wait_for_value(lambda: (lambda v: v if v.state == "EMPTY" else None)(describe(admin, group)), 20)
    assert v.members == ()


@pytest.mark.parametrize("client", CLIENTS)
def test_sigkilled_member_is_evicted_after_session_timeout(shared_broker, members, client):
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq(f"gk-{client}"), uniq(f"grpk-{client}")
    create_topic(bs, topic, NP)
    ms = [members.start(client, bs, group, [topic]) for _ in range(3)]
    view = wait_stable(admin, group, ms, topic, NP, sizes=[2, 2, 2])
    victim, survivors = ms[0], ms[1:]
    lost = victim.assignment()
    assert len(lost) == 2

    killed_at = time.monotonic()
    victim.kill()
    # Still a member for (about) a session: the broker must not drop it on the closed connection.
    early = describe(admin, group)
    assert len(early.members) == 3, f"evicted at once, before its session timed out: {early}"
    view = wait_stable(admin, group, survivors, topic, NP, timeout=SESSION_MS / 1000 + 20, sizes=[3, 3])
    evicted_after = time.monotonic() - killed_at
    # Heartbeats every 0.5 s: the last one came at most that long before the kill.
    assert evicted_after >= SESSION_MS / 1000 - 1.5, f"evicted after {evicted_after:.1f}s, before session.timeout.ms"
    now_owned = set().union(*(m.assignment() for m in survivors))
    assert lost <= now_owned

    # The survivors really consume the partitions that moved.
    values = produce(bs, topic, 2, NP)
    wait_members(lambda: len({(p, o) for m in survivors for p, o, _ in m.msgs()}) == 2 * NP, survivors, 30, "survivors reading")
    got = [x for m in survivors for x in m.msgs()]
    check_exactly(got, {p: range(2) for p in range(NP)}, values)
    for m in survivors:
        assert not m.commit_errors(), m.report()
        m.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_commits_survive_restart_and_group_resumes_exactly(broker, members, client):
    bs = broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq(f"gr-{client}"), uniq(f"grpr-{client}")
    create_topic(bs, topic, NP)
    per, limit = 20, 12

    # Phase 1: two members, stable before any record exists; each processes offsets < 12 and
    # commits each record synchronously.
    first = [members.start(client, bs, group, [topic], limit=limit) for _ in range(2)]
    wait_stable(admin, group, first, topic, NP, sizes=[3, 3])
    values = produce(bs, topic, per, NP)
    wait_members(lambda: sum(len(m.evs("commit")) for m in first) >= limit * NP, first, 40, "phase 1 commits")
    got1 = [x for m in first for x in m.msgs()]
    check_exactly(got1, {p: range(limit) for p in range(NP)}, values)
    for m in first:
        assert not m.commit_errors(), m.report()
    assert committed(admin, group, topic, NP) == {p: limit for p in range(NP)}
    for m in first:
        m.close()
    wait_for_value(lambda: describe(admin, group).state == "EMPTY", 20)

    broker.restart()
    admin = ck_admin(bs)
    assert wait_for_value(lambda: committed(admin, group, topic, NP), 20) == {p: limit for p in range(NP)}
    view = describe(admin, group)
    assert view.state == "EMPTY" and view.members == (), view

    # Phase 2: new members hold records back until the group is stable, then read the rest.
    second = [members.start(client, bs, group, [topic], hold=True) for _ in range(2)]
    wait_stable(admin, group, second, topic, NP, sizes=[3, 3])
    for m in second:
        m.go()
    want = (per - limit) * NP
    wait_members(lambda: sum(len(m.evs("commit")) for m in second) >= want, second, 40, "phase 2 commits")
    for m in second:
        m.close()
    got2 = [x for m in second for x in m.msgs()]
    check_exactly(got2, {p: range(limit, per) for p in range(NP)}, values)
    for m in second:
        assert not m.commit_errors(), m.report()
    assert committed(admin, group, topic, NP) == {p: per for p in range(NP)}


@pytest.mark.parametrize("client", CLIENTS)
def test_live_group_carries_on_across_a_broker_crash(broker, members, client):
    """The broker is SIGKILLed and restarted under a Stable group: the group is rebuilt from
    __consumer_offsets (same members, same generation: no rebalance needed), the members carry on,
    and records produced afterwards are read exactly once from the committed offsets."""
    bs = broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq(f"gc-{client}"), uniq(f"grpc-{client}")
    create_topic(bs, topic, NP)
    ms = [members.start(client, bs, group, [topic]) for _ in range(2)]
    before = wait_stable(admin, group, ms, topic, NP, sizes=[3, 3])
    values = produce(bs, topic, 3, NP, tag="a")
    wait_members(lambda: sum(len(m.evs("commit")) for m in ms) >= 3 * NP, ms, 30, "reading before the crash")
    assert committed(admin, group, topic, NP) == {p: 3 for p in range(NP)}

    broker.kill()
    broker.start()
    # librdkafka's admin client can stay stuck in its re-bootstrap after all brokers were down:
    # use a fresh one.
    admin = ck_admin(bs)
    after = wait_stable(admin, group, ms, topic, NP, sizes=[3, 3])
    if client == "kjs" and any("Restarting the consumer" in m.stderr_path.read_text(errors="replace") for m in ms):
        # KafkaJS restarts a consumer whose fetchers find no broker (KafkaJSNoBrokerAvailableError
        # while the broker is down), and a restarted consumer joins as a new member. Whether that
        # happens depends on where it was when the broker died: its choice, not the broker's.
        assert sorted(len(m.tps) for m in after.members) == [3, 3]
    else:
        assert sorted(m.member_id for m in after.members) == sorted(m.member_id for m in before.members), (before, after)
        assert {m.member_id: m.tps for m in after.members} == {m.member_id: m.tps for m in before.members}

    more = produce(bs, topic, {p: 3 for p in range(NP)}, NP, tag="b")
    wait_members(lambda: sum(len(m.evs("commit")) for m in ms) >= 6 * NP, ms, 30, "reading after the crash")
    for m in ms:
        m.close()
    allv = {p: values[p] + more[p] for p in range(NP)}
    # produce() numbers values from 0 per call: check offsets, and values against both batches
    got = [x for m in ms for x in m.msgs()]
    check_exactly(got, {p: range(6) for p in range(NP)}, allv)
    for m in ms:
        assert not m.commit_errors(), m.report()
    assert committed(admin, group, topic, NP) == {p: 6 for p in range(NP)}
