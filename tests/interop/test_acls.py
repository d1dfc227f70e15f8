"""ACLs enforced per API, driven by real clients (confluent-kafka / librdkafka, kafka-python) over
SASL/PLAIN: one broker with ``authorizer.class.name`` set, ``super.users=User:admin`` and
``allow.everyone.if.no.acl.found=false`` (Kafka's default), users ``admin``, ``alice`` and ``bob``.

What is checked is what Kafka's authorizer does: a principal with no ACL is refused (and cannot see
the topic in Metadata), a literal or prefixed ALLOW opens exactly what it names, DENY beats ALLOW,
WRITE/READ imply DESCRIBE, a group needs READ, a transactional id WRITE, an idempotent producer
WRITE on some topic (KIP-679), and ACLs created or deleted through the Admin API take effect on
the next request.
"""

from __future__ import annotations

import uuid

import pytest

from odradek.protocol.errors import ErrorCode

from helpers import BrokerProcess, free_port, wait_for
from sasl_users import USERS, plain_jaas, sasl_plain_conf

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaError, KafkaException  # noqa: E402
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

JAAS = plain_jaas(login="admin")  # the broker logs in as admin on its SASL inter-broker listener


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    port = free_port()
    plain = free_port()
    while plain == port:
        plain = free_port()
    b = BrokerProcess(tmp_path_factory.mktemp("acl") / "data", port=port, overrides={
        # clients log in on SASL_PLAINTEXT; PLAINTEXT is User:ANONYMOUS, with no ACLs at all
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},PLAINTEXT://127.0.0.1:{plain}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
        "offsets.topic.num.partitions": "2",
        "transaction.state.log.num.partitions": "2",
        "num.partitions": "1",
    }).start()
    b.plain_port = plain
    yield b
    b.kill()


def conf(b: BrokerProcess, user: str, **extra) -> dict:
    return sasl_plain_conf(b.bootstrap, user, **extra)


def admin(b: BrokerProcess, user: str = "admin") -> AdminClient:
    return AdminClient(conf(b, user))


def make_topic(b: BrokerProcess, name: str) -> None:
    a = admin(b)  # the client must outlive its futures
    for f in a.create_topics([NewTopic(name, 1, 1)]).values():
        f.result(30)


def allow(b: BrokerProcess, *bindings: tuple) -> None:
    """(principal, resource type, name, pattern, operation[, permission]) -> ACLs, as the admin."""
    acls = [AclBinding(rt, name, pat, principal, "*", op, perm[0] if perm else AclPermissionType.ALLOW)
            for principal, rt, name, pat, op, *perm in bindings]
    a = admin(b)
    for f in a.create_acls(acls).values():
        assert f.result(30) is None


def produce_error(b: BrokerProcess, user: str, topic: str, **extra):
    """The error of one record produced by ``user`` (None when it was written)."""
    settings = {"message.timeout.ms": 15000, **extra}
    if not settings.get("enable.idempotence"):
        settings["retries"] = 0  # an authorization error must come back, not be retried
    p = ck.Producer(conf(b, user, **settings))
    errors = []
    p.produce(topic, b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 1
    return errors[0]


def topics_seen(b: BrokerProcess, user: str) -> set[str]:
    return set(admin(b, user).list_topics(timeout=20).topics)


def test_without_acls_a_user_is_refused_and_sees_nothing(secured):
    make_topic(secured, "acl-closed")
    err = produce_error(secured, "alice", "acl-closed")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert "acl-closed" in topics_seen(secured, "admin")
    assert "acl-closed" not in topics_seen(secured, "alice")
    # creating a topic needs CREATE on the cluster or the topic
    a = admin(secured, "alice")
    fut = a.create_topics([NewTopic("acl-by-alice", 1, 1)])["acl-by-alice"]
    with pytest.raises(KafkaException) as e:
        fut.result(30)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_prefixed_write_opens_only_the_prefix(secured):
    make_topic(secured, "orders-eu")
    make_topic(secured, "payments-eu")
    allow(secured, ("User:alice", ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, AclOperation.WRITE))
    assert produce_error(secured, "alice", "orders-eu") is None
    err = produce_error(secured, "alice", "payments-eu")
    assert err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # WRITE implies DESCRIBE: the topic is visible now, the other is not
    seen = topics_seen(secured, "alice")
    assert "orders-eu" in seen and "payments-eu" not in seen
    # the operations alice may do on it, as DescribeTopics reports them
    a = admin(secured, "alice")
    desc = a.describe_topics(
        ck.TopicCollection(["orders-eu"]), include_authorized_operations=True)["orders-eu"].result(30)
    assert set(desc.authorized_operations) == {AclOperation.WRITE, AclOperation.DESCRIBE}


def test_consumer_needs_read_on_topic_and_group(secured):
    topic = "acl-read"
    make_topic(secured, topic)
    assert produce_error(secured, "admin", topic) is None
    allow(secured,
          ("User:bob", ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.READ),
          ("User:bob", ResourceType.GROUP, "bob-", ResourcePatternType.PREFIXED, AclOperation.READ))
    ok = ck.Consumer(conf(secured, "bob", **{"group.id": "bob-g1", "auto.offset.reset": "earliest"}))
    ok.subscribe([topic])
    got = []

    def poll_one():
        m = ok.poll(1.0)
        if m is not None and not m.error():
            got.append(m.value())
        return bool(got)

    wait_for(poll_one, 60, what="bob reads the record")
    ok.commit(asynchronous=False)
    ok.close()
    # another group: GROUP_AUTHORIZATION_FAILED
    other = ck.Consumer(conf(secured, "bob", **{"group.id": "team-x", "auto.offset.reset": "earliest"}))
    other.subscribe([topic])
    errs = []

    def refused():
        m = other.poll(1.0)
        if m is not None and m.error():
            errs.append(m.error().code())
        return KafkaError.GROUP_AUTHORIZATION_FAILED in errs

    wait_for(refused, 60, what="the group is refused")
    other.close()


def test_deny_beats_allow(secured):
    make_topic(secured, "acl-open")
    make_topic(secured, "acl-secret")
    allow(secured,
          ("User:bob", ResourceType.TOPIC, "acl-", ResourcePatternType.PREFIXED, AclOperation.ALL),
          ("User:bob", ResourceType.TOPIC, "acl-secret", ResourcePatternType.LITERAL, AclOperation.WRITE,
           AclPermissionType.DENY))
    assert produce_error(secured, "bob", "acl-open") is None
    assert produce_error(secured, "bob", "acl-secret").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_transactional_id_needs_write(secured):
    topic = "acl-txn"
    make_topic(secured, topic)
    allow(secured, ("User:alice", ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.WRITE))
    p = ck.Producer(conf(secured, "alice", **{"transactional.id": "alice-tx"}))
    with pytest.raises(KafkaException) as e:
        p.init_transactions(30)
    assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    allow(secured, ("User:alice", ResourceType.TRANSACTIONAL_ID, "alice-", ResourcePatternType.PREFIXED,
                    AclOperation.WRITE))
    p = ck.Producer(conf(secured, "alice", **{"transactional.id": "alice-tx"}))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, b"in-txn")
    p.commit_transaction(30)
    # an idempotent producer only needs WRITE on some topic (KIP-679)
    assert produce_error(secured, "alice", topic, **{"enable.idempotence": True}) is None


def test_deleted_acls_stop_working(secured):
    topic = f"revoke-{uuid.uuid4().hex[:6]}"  # outside bob's acl- prefix
    make_topic(secured, topic)
    binding = ("User:bob", ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.WRITE)
    allow(secured, binding)
    assert produce_error(secured, "bob", topic) is None
    flt = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*",
                           AclOperation.ANY, AclPermissionType.ANY)
    a = admin(secured)
    listed = a.describe_acls(flt).result(30)
    assert [(a.name, a.operation) for a in listed] == [(topic, AclOperation.WRITE)]
    deleted = a.delete_acls([flt])[flt].result(30)
    assert len(deleted) == 1
    assert produce_error(secured, "bob", topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # only a super user (or ALTER on the cluster) may change ACLs
    bob = admin(secured, "bob")
    mine = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*", AclOperation.WRITE,
                      AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as e:
        bob.create_acls([mine])[mine].result(30)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # (librdkafka drops DescribeAcls' top-level error; kafka-python shows it)
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient
    from kafka.admin import ResourcePatternFilter
    from kafka.admin import ResourceType as KpType
    from kafka.errors import ClusterAuthorizationFailedError

    kp = KafkaAdminClient(bootstrap_servers=secured.bootstrap, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="PLAIN", sasl_plain_username="bob", sasl_plain_password=USERS["bob"])
    try:
        with pytest.raises(ClusterAuthorizationFailedError):
            kp.describe_acls(ACLFilter(principal="User:bob", host="*", operation=ACLOperation.ANY,
                                       permission_type=ACLPermissionType.ANY,
                                       resource_pattern=ResourcePatternFilter(KpType.TOPIC, topic,
                                                                              ACLResourcePatternType.LITERAL)))
    finally:
        kp.close()


def test_configs_records_offsets_and_groups(secured):
    """The admin families: DescribeConfigs needs DESCRIBE_CONFIGS (READ does not imply it),
    DeleteRecords DELETE, ListOffsets DESCRIBE; groups are listed only where the principal may
    DESCRIBE them, and deleting one needs DELETE."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import ConfigResource, OffsetSpec

    topic = "fam-t"
    make_topic(secured, topic)
    assert produce_error(secured, "admin", topic) is None
    a = admin(secured)
    for g in ("fam-g", "other-g"):
        req = ConsumerGroupTopicPartitions(g, [TopicPartition(topic, 0, 1)])
        a.alter_consumer_group_offsets([req])[g].result(30)
    allow(secured,
          ("User:bob", ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.READ),
          ("User:bob", ResourceType.GROUP, "fam-g", ResourcePatternType.LITERAL, AclOperation.READ))
    bob = admin(secured, "bob")
    # READ implies DESCRIBE: ListOffsets works; for alice (no ACL) Metadata hides the topic, so
    # librdkafka finds no leader to ask
    tp = TopicPartition(topic, 0)
    assert bob.list_offsets({tp: OffsetSpec.latest()})[tp].result(30).offset == 1
    alice = admin(secured, "alice")
    with pytest.raises(KafkaException) as e:
        alice.list_offsets({tp: OffsetSpec.latest()})[tp].result(30)
    assert e.value.args[0].code() == KafkaError._NOENT, e.value
    # DescribeConfigs needs DESCRIBE_CONFIGS
    res = ConfigResource("topic", topic)
    with pytest.raises(KafkaException) as e:
        bob.describe_configs([res])[res].result(30)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # CreatePartitions needs ALTER (READ does not imply it); with it the topic grows
    from confluent_kafka.admin import NewPartitions

    with pytest.raises(KafkaException) as e:
        bob.create_partitions([NewPartitions(topic, 2)])[topic].result(30)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    allow(secured, ("User:bob", ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, AclOperation.ALTER))
    assert bob.create_partitions([NewPartitions(topic, 2)])[topic].result(30) is None
    # DeleteRecords needs DELETE
    with pytest.raises(KafkaException) as e:
        bob.delete_records([TopicPartition(topic, 0, 1)])[TopicPartition(topic, 0, 1)].result(30)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # ListGroups shows bob only the group he may describe; the admin sees both
    listed = {g.group_id for g in bob.list_consumer_groups().result(30).valid}
    assert "fam-g" in listed and "other-g" not in listed
    everything = {g.group_id for g in a.list_consumer_groups().result(30).valid}
    assert {"fam-g", "other-g"} <= everything
    # OffsetFetch: his group's offsets, not another's
    mine = bob.list_consumer_group_offsets([ConsumerGroupTopicPartitions("fam-g", [tp])])["fam-g"].result(30)
    assert [p.offset for p in mine.topic_partitions] == [1]
    with pytest.raises(KafkaException) as e:
        bob.list_consumer_group_offsets([ConsumerGroupTopicPartitions("other-g", [tp])])["other-g"].result(30)
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    # DeleteGroups needs DELETE on the group
    with pytest.raises(KafkaException) as e:
        bob.delete_consumer_groups(["fam-g"])["fam-g"].result(30)
    assert e.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    allow(secured, ("User:bob", ResourceType.GROUP, "fam-g", ResourcePatternType.LITERAL, AclOperation.DELETE))
    assert bob.delete_consumer_groups(["fam-g"])["fam-g"].result(30) is None


def test_anonymous_wire_requests_are_refused(secured):
    """Raw requests from a principal with no ACLs (User:ANONYMOUS on the PLAINTEXT listener) on a
    topic that exists: each API answers its authorization error, as Kafka does."""
    from odradek.protocol.record_codec import build_batch
    from wire import WireClient

    topic = "anon-t"
    make_topic(secured, topic)
    c = WireClient(secured.plain_port)
    try:
        md = c.request(3, 12, {"topics": [{"name": topic, "topic_id": None}], "allow_auto_topic_creation": True,
                               "include_topic_authorized_operations": True})
        assert md.topics[0].error_code == ErrorCode.topic_authorization_failed  # named: told, not created
        lo = c.request(2, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
        assert lo.topics[0].partitions[0].error_code == ErrorCode.topic_authorization_failed
        dr = c.request(21, 2, {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": 0}]}],
                               "timeout_ms": 5000})
        assert dr.topics[0].partitions[0].error_code == ErrorCode.topic_authorization_failed
        dp = c.request(61, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
        assert dp.topics[0].partitions[0].error_code == ErrorCode.topic_authorization_failed
        # an idempotent producer needs WRITE on some topic (KIP-679) or IDEMPOTENT_WRITE
        ip = c.request(22, 4, {"transactional_id": None, "transaction_timeout_ms": 60000, "producer_id": -1,
                               "producer_epoch": -1})
        assert ip.error_code == ErrorCode.cluster_authorization_failed
        batch = build_batch([(b"k", b"v")])
        pr = c.produce(topic, batch)
        assert pr.responses[0].partition_responses[0].error_code == ErrorCode.topic_authorization_failed
        fc = c.request(10, 4, {"key_type": 0, "coordinator_keys": ["anon-g"]})
        assert fc.coordinators[0].error_code == ErrorCode.group_authorization_failed
        acls = c.request(29, 2, {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                                 "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1})
        assert acls.error_code == ErrorCode.cluster_authorization_failed
    finally:
        c.close()
