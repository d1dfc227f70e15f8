"""A three-broker cluster on ZooKeeper with no plaintext anywhere: brokers talk to each other over a
SASL_SSL listener (SCRAM-SHA-512, as the user ``broker`` from
``listener.name.internal.scram-sha-512.sasl.jaas.config``), clients use another SASL_SSL listener.

The broker's own user cannot be created through a broker that needs it to start, so it is written
to ZooKeeper first, offline (``odradek user create --zookeeper``, like kafka-storage --add-scram).
Then: replication and a leader change over the secured inter-broker listener, and SCRAM users
changed through one broker take effect on every broker (ZooKeeper /config/users and its change
notifications), in Kafka's znode format."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from security_env import odradek_cli
from tls_certs import CA

from helpers import BrokerProcess, free_port, port_open, wait_for
from odradek.client import Admin, AuthenticationFailed, Consumer, NewTopic, Producer

BROKER_PW, ADMIN_PW = "broker-secret", "admin-secret"


@pytest.fixture
def secure_cluster(tmp_path, zookeeper):
    ca = CA(tmp_path / "certs")
    cert = ca.issue("broker", {"CN": "localhost", "O": "Odradek"}, server=True)
    for user, pw in (("broker", BROKER_PW), ("admin", ADMIN_PW)):
        out = odradek_cli("user", "create", user, "--password", pw, "--zookeeper", zookeeper.connect)
        assert out.returncode == 0, out.stdout + out.stderr
    brokers = []
    for i in range(3):
        internal, client = free_port(), free_port()
        ov = {
            "listeners": f"INTERNAL://127.0.0.1:{internal},CLIENT://127.0.0.1:{client}",
            "listener.security.protocol.map": "INTERNAL:SASL_SSL,CLIENT:SASL_SSL",
            "inter.broker.listener.name": "INTERNAL",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.internal.scram-sha-512.sasl.jaas.config":
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{BROKER_PW}";',
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(cert.combined),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.pem),
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:broker;User:admin",
            "zookeeper.connect": zookeeper.connect,
            "zookeeper.session.timeout.ms": "4000",
            "replica.lag.time.max.ms": "3000",
            "offsets.topic.num.partitions": "3",
            "offsets.topic.replication.factor": "3",
            "controlled.shutdown.timeout.ms": "5000",
        }
        b = BrokerProcess(tmp_path / f"broker-{i}", port=internal, overrides=ov, broker_id=i)
        b.client_port = client
        brokers.append(b.start())
    for b in brokers:
        wait_for(lambda b=b: port_open(b.client_port), 20, what=f"broker {b.broker_id}'s client listener")
    yield ca, brokers
    for b in brokers:
        b.kill()


def sec(ca, user="admin", password=ADMIN_PW) -> dict:
    return dict(security_protocol="SASL_SSL", ssl_cafile=str(ca.pem), sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=user, sasl_plain_password=password)


def boot(b) -> str:
    return f"127.0.0.1:{b.client_port}"


def login(ca, b, user, password) -> bool:
    async def go():
        async with Admin(boot(b), request_timeout_ms=5000, **sec(ca, user, password)) as a:
            return len(a.cluster.brokers)

    try:
        return asyncio.run(go()) > 0
    except AuthenticationFailed:
        return False


def test_sasl_ssl_inter_broker_replication_and_users_across_brokers(secure_cluster, zookeeper):
    ca, brokers = secure_cluster
    topic = f"secure-{uuid.uuid4().hex[:6]}"
    everyone = ",".join(boot(b) for b in brokers)

    async def admin_do(fn, bootstrap=everyone):
        async with Admin(bootstrap, **sec(ca)) as a:
            return await fn(a)

    def describe():
        return asyncio.run(admin_do(lambda a: a.describe_topics([topic])))[topic]

    # every broker sees the others (they registered their SASL_SSL endpoints)
    wait_for(lambda: len(asyncio.run(admin_do(lambda a: a.describe_cluster())).brokers) == 3, 30, what="three brokers")
    asyncio.run(admin_do(lambda a: a.create_topics([NewTopic(topic, 3, 3, {"min.insync.replicas": "2"})])))
    wait_for(lambda: all(len(p.isr) == 3 and p.leader >= 0 for p in describe().partitions.values()), 30,
             what="every partition led, with all three replicas in sync")

    async def produce(start, n):
        async with Producer(everyone, acks="all", **sec(ca)) as p:
            for i in range(start, start + n):
                await p.send(topic, b"v%d" % i, key=b"k%d" % i)
            await p.flush()

    asyncio.run(produce(0, 60))
    # followers fetched over the SASL_SSL inter-broker listener: every replica holds everything
    wait_for(lambda: all(len(p.isr) == 3 for p in describe().partitions.values()), 20, what="ISR full after produce")

    # a leader goes away: leadership moves, acks=all still works with two in-sync replicas
    leader_id = describe().partitions[0].leader
    gone = brokers[leader_id]
    gone.stop()
    wait_for(lambda: all(p.leader not in (-1, leader_id) for p in describe().partitions.values()), 30,
             what="leadership moved off the stopped broker")
    asyncio.run(produce(60, 40))
    gone.start()
    wait_for(lambda: port_open(gone.client_port), 20, what="restarted broker's client listener")
    wait_for(lambda: all(len(p.isr) == 3 for p in describe().partitions.values()), 40,
             what="the restarted broker caught up over SASL_SSL and rejoined every ISR")

    async def consume():
        c = Consumer(everyone, group_id=f"g-{topic}", auto_offset_reset="earliest", enable_auto_commit=False, **sec(ca))
        await c.start()
        try:
            c.subscribe([topic])
            got = []
            deadline = time.monotonic() + 60
            while len(got) < 100 and time.monotonic() < deadline:
                got += await c.poll(0.5)
            await c.commit()
            return sorted(r.value for r in got)
        finally:
            await c.close()

    assert asyncio.run(consume()) == sorted(b"v%d" % i for i in range(100))

    # a user created through broker 1 logs in on every broker within seconds
    user = f"zoe-{uuid.uuid4().hex[:4]}"
    res = asyncio.run(admin_do(lambda a: a.alter_user_scram_credentials([(user, "SCRAM-SHA-512", "zoe-1", 8192)]), boot(brokers[1])))
    assert res == {user: None}
    for b in brokers:
        wait_for(lambda b=b: login(ca, b, user, "zoe-1"), 10, what=f"{user} logging in on broker {b.broker_id}")
    # Kafka's layout in ZooKeeper: the credential znode and its change notification
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=zookeeper.connect)
    zk.start(timeout=15)
    try:
        doc = json.loads(zk.get(f"/config/users/{user}")[0])
        assert doc["version"] == 1 and set(doc["config"]) == {"SCRAM-SHA-512"}
        fields = dict(kv.split("=", 1) for kv in doc["config"]["SCRAM-SHA-512"].split(","))
        assert set(fields) == {"salt", "stored_key", "server_key", "iterations"} and fields["iterations"] == "8192"
        notes = [json.loads(zk.get(f"/config/changes/{c}")[0]) for c in zk.get_children("/config/changes")]
        assert {"version": 2, "entity_path": f"users/{user}"} in notes
        assert {"version": 2, "entity_path": "users/broker"} in notes  # the offline bootstrap wrote one too
    finally:
        zk.stop()
        zk.close()

    # a new password through broker 2: the old one is refused everywhere, the new one accepted
    asyncio.run(admin_do(lambda a: a.alter_user_scram_credentials([(user, "SCRAM-SHA-512", "zoe-2")]), boot(brokers[2])))
    for b in brokers:
        wait_for(lambda b=b: not login(ca, b, user, "zoe-1") and login(ca, b, user, "zoe-2"), 10,
                 what=f"the new password only, on broker {b.broker_id}")
    # deleted through broker 0: nobody logs in as the user any more
    asyncio.run(admin_do(lambda a: a.alter_user_scram_credentials(deletions=[(user, "SCRAM-SHA-512")]), boot(brokers[0])))
    for b in brokers:
        wait_for(lambda b=b: not login(ca, b, user, "zoe-2"), 10, what=f"{user} refused on broker {b.broker_id}")
