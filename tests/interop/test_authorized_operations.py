"""authorized_operations in Metadata, DescribeCluster and DescribeGroups.

Asked for, the answer is what Kafka answers without an authorizer: every operation it supports on
that kind of resource. Not asked for, it is INT32_MIN (kafka-python fails on anything else).
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation

from test_groups_support import ck_admin, create_topic, uniq
from wire import WireClient

pytestmark = pytest.mark.interop
INT32_MIN = -2147483648

TOPIC_OPS = {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE, AclOperation.DELETE,
             AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
GROUP_OPS = {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}
CLUSTER_OPS = {AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
               AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE}


def test_confluent_admin_sees_every_supported_operation_when_it_asks(shared_broker):
    topic, group = uniq("authz"), uniq("authz-g")
    create_topic(shared_broker.bootstrap, topic, 2)
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        c.close()
    admin = ck_admin(shared_broker.bootstrap)

    desc = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)[topic].result(20)
    assert set(desc.authorized_operations) == TOPIC_OPS
    plain = admin.describe_topics(TopicCollection([topic]))[topic].result(20)
    assert not plain.authorized_operations

    cluster = admin.describe_cluster(include_authorized_operations=True).result(20)
    assert set(cluster.authorized_operations) == CLUSTER_OPS

    g = admin.describe_consumer_groups([group], include_authorized_operations=True)[group].result(20)
    assert set(g.authorized_operations) == GROUP_OPS
    assert not admin.describe_consumer_groups([group])[group].result(20).authorized_operations


def test_not_asked_means_int32_min_on_the_wire(shared_broker):
    topic = uniq("authz-w")
    create_topic(shared_broker.bootstrap, topic, 1)
    w = WireClient(shared_broker.port)
    try:
        md = w.request(3, 9, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                              "include_cluster_authorized_operations": False,
                              "include_topic_authorized_operations": False})
        assert md.topics[0].topic_authorized_operations == INT32_MIN
        assert md.cluster_authorized_operations == INT32_MIN
        md = w.request(3, 9, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                              "include_cluster_authorized_operations": True,
                              "include_topic_authorized_operations": True})
        assert md.topics[0].topic_authorized_operations == sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
        assert md.cluster_authorized_operations == sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
        groups = w.request(15, 5, {"groups": ["nobody-" + topic], "include_authorized_operations": False})
        assert groups.groups[0].authorized_operations == INT32_MIN
        cluster = w.request(60, 0, {"include_cluster_authorized_operations": False})
        assert cluster.cluster_authorized_operations == INT32_MIN
    finally:
        w.close()
