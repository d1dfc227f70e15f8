"""Different clients in one consumer group (issue 3): the broker only picks a protocol every member
supports and passes the leader's assignment on, so a confluent-kafka and a kafka-python consumer
(and an aiokafka one) with a common assignor share the partitions, and read each record once.
"""

from __future__ import annotations

import pytest

from test_groups_support import (
    Members,
    check_exactly,
    ck_admin,
    committed,
    create_topic,
    produce,
    uniq,
    wait_members,
    wait_stable,
)

pytestmark = pytest.mark.interop
NP = 6
PER = 4


@pytest.fixture
def members(tmp_path):
    ms = Members(tmp_path / "members")
    yield ms
    ms.kill_all()


def _share(bs, members, clients: list[str], assignor: str, sizes: list[int]) -> None:
    admin = ck_admin(bs)
    topic, group = uniq(f"gmix-{assignor}"), uniq(f"grp-mix-{assignor}")
    create_topic(bs, topic, NP)
    ms = [members.start(c, bs, group, [topic], assignor=assignor) for c in clients]
    view = wait_stable(admin, group, ms, topic, NP, sizes=sizes)
    assert view.assignor == assignor
    assert sorted(m.client_id for m in view.members) == sorted(m.name for m in ms)
    values = produce(bs, topic, PER, NP)
    wait_members(lambda: sum(len(m.evs("commit")) for m in ms) >= PER * NP, ms, 30, "the mixed group reading")
    for m in ms:
        m.close()
    for m in ms:
        assert m.msgs(), f"{m.name} read nothing"
        assert not m.commit_errors(), m.report()
    check_exactly([x for m in ms for x in m.msgs()], {p: range(PER) for p in range(NP)}, values)
    assert committed(admin, group, topic, NP) == {p: PER for p in range(NP)}


@pytest.mark.parametrize("assignor", ["range", "roundrobin"])
def test_confluent_and_kafka_python_share_a_group(shared_broker, members, assignor):
    _share(shared_broker.bootstrap, members, ["ck", "kp"], assignor, [3, 3])


def test_confluent_kafka_python_and_aiokafka_share_a_group(shared_broker, members):
    _share(shared_broker.bootstrap, members, ["ck", "kp", "ak"], "roundrobin", [2, 2, 2])


def test_confluent_and_kafka_python_cooperative_sticky(shared_broker, members):
    """Both clients speak the incremental (cooperative-sticky) protocol: a third member joining
    only takes partitions over, nobody loses the ones it keeps."""
    bs = shared_broker.bootstrap
    admin = ck_admin(bs)
    topic, group = uniq("gmix-coop"), uniq("grp-mix-coop")
    create_topic(bs, topic, NP)
    ms = [members.start(c, bs, group, [topic], assignor="cooperative-sticky") for c in ("ck", "kp")]
    view = wait_stable(admin, group, ms, topic, NP, sizes=[3, 3])
    assert view.assignor == "cooperative-sticky"
    before = {m.name: m.assignment() for m in ms}
    third = members.start("ck", bs, group, [topic], assignor="cooperative-sticky")
    wait_stable(admin, group, ms + [third], topic, NP, sizes=[2, 2, 2])
    for m in ms:
        assert m.assignment() <= before[m.name], f"{m.name}: {m.assignment()} not within {before[m.name]}"
        assert not m.evs("lost"), m.report()
    values = produce(bs, topic, PER, NP)
    everyone = ms + [third]
    wait_members(lambda: sum(len(m.evs("commit")) for m in everyone) >= PER * NP, everyone, 30, "the cooperative group reading")
    for m in everyone:
        m.close()
    check_exactly([x for m in everyone for x in m.msgs()], {p: range(PER) for p in range(NP)}, values)
