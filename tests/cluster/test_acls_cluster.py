"""ACLs on a three-broker ZooKeeper cluster: an ACL created through the Admin API reaches every
broker's authorizer (ZooKeeper /kafka-acl and its change notifications), and one deleted stops the
principal on every broker within seconds.

Each broker has a PLAINTEXT listener (inter-broker traffic, ``User:ANONYMOUS`` is a super user
there) and a SASL_PLAINTEXT listener where clients log in with PLAIN. The topic has one partition
led by each broker, so producing to every partition asks every broker's authorizer."""

from __future__ import annotations

import pytest

from helpers import BrokerProcess, free_port, wait_for
from sasl_users import plain_jaas, sasl_plain_conf
from wire import ask
from zk_cluster import Cluster

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaError  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

JAAS = plain_jaas()


class SecuredCluster(Cluster):
    def __init__(self, root, zk, size: int = 3) -> None:
        super().__init__(root, zk, 0)
        ports: list[int] = []
        while len(ports) < 2 * size:  # distinct, though each was only free when it was asked for
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.sasl_ports = ports[size:]
        for i in range(size):
            plain = ports[i]
            self.brokers.append(BrokerProcess(root / f"broker-{i}", port=plain, broker_id=i, overrides={
                "zookeeper.connect": zk.connect,
                "zookeeper.session.timeout.ms": "6000",
                "offsets.topic.num.partitions": "3",
                "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{self.sasl_ports[i]}",
                "inter.broker.listener.name": "PLAINTEXT",
                "sasl.enabled.mechanisms": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
                "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                "super.users": "User:ANONYMOUS;User:admin",
                "auto.leader.rebalance.enable": "false",
            }))

    def sasl_bootstrap(self, i: int | None = None) -> str:
        ports = self.sasl_ports if i is None else [self.sasl_ports[i]]
        return ",".join(f"127.0.0.1:{p}" for p in ports)


@pytest.fixture
def secured(tmp_path, zookeeper):
    c = SecuredCluster(tmp_path, zookeeper).start()
    yield c
    c.stop()


def produce_errors(bootstrap: str, topic: str, partitions: int) -> dict[int, int | None]:
    """alice writes one record to each partition: partition -> error code (None when written)."""
    p = ck.Producer(sasl_plain_conf(bootstrap, "alice", **{"message.timeout.ms": 10000, "retries": 0}))
    out: dict[int, int | None] = {}
    for part in range(partitions):
        p.produce(topic, b"v", partition=part,
                  on_delivery=lambda err, msg: out.__setitem__(msg.partition(), err.code() if err else None))
    p.flush(30)
    assert len(out) == partitions, out
    return out


def test_acl_changes_reach_every_broker(secured):
    admin = AdminClient(sasl_plain_conf(secured.sasl_bootstrap(0), "admin"))
    topic = "cl-acl"
    # one partition led by each broker
    fut = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=-1, replica_assignment=[[0, 1, 2], [1, 2, 0], [2, 0, 1]])])[topic]
    fut.result(30)
    wait_for(lambda: all(p.leader == i for i, p in sorted(admin.list_topics(topic, timeout=10).topics[topic]
                                                           .partitions.items())), 30, what="a leader on each broker")
    assert set(produce_errors(secured.sasl_bootstrap(), topic, 3).values()) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}

    # created through broker 0: every broker lets alice write within seconds
    binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    assert admin.create_acls([binding])[binding].result(30) is None
    wait_for(lambda: set(produce_errors(secured.sasl_bootstrap(), topic, 3).values()) == {None}, 20,
             what="alice may write on every broker")

    # every broker lists it (DescribeAcls on each broker's own PLAINTEXT listener)
    flt = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                           AclOperation.ANY, AclPermissionType.ANY)
    for b in secured.brokers:
        assert described(b, topic) == [("User:alice", "*", 4, 3)], b.broker_id

    # deleted through broker 2: every broker refuses alice again within seconds
    other = AdminClient(sasl_plain_conf(secured.sasl_bootstrap(2), "admin"))
    assert len(other.delete_acls([flt])[flt].result(30)) == 1
    wait_for(lambda: set(produce_errors(secured.sasl_bootstrap(), topic, 3).values())
             == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, 20, what="alice refused on every broker")
    # and a broker that restarts reads the ACLs back from ZooKeeper
    assert admin.create_acls([binding])[binding].result(30) is None
    b1 = secured.brokers[1]
    b1.stop()
    b1.start()
    wait_for(lambda: described(b1, topic) == [("User:alice", "*", 4, 3)], 20, what="the restarted broker's ACLs")


def described(b: BrokerProcess, topic: str) -> list[tuple]:
    """The topic's ACLs as broker ``b`` itself describes them: (principal, host, operation, permission)."""
    r = ask(b.port, 29, 2, {"resource_type_filter": 2, "resource_name_filter": topic, "pattern_type_filter": 3,
                            "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1})
    assert r.error_code == 0, r
    return sorted((a.principal, a.host, a.operation, a.permission_type) for res in r.resources for a in res.acls)
