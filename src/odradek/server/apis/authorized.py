"""The ``authorized_operations`` bit fields of Metadata, DescribeCluster, DescribeGroups and
DescribeTopicPartitions.

With an authorizer, a client that asks is told the operations its principal may do on the
resource (implied ones included); without one, as Kafka does, every operation Kafka supports on
that kind of resource: one bit per ACL operation code. A client that does not ask gets INT32_MIN,
which some clients require (kafka-python fails on anything else; see PROTOCOL-NOTES).
"""

from __future__ import annotations

INT32_MIN = -2147483648

# Kafka's AclOperation codes
READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12


def _bits(*ops: int) -> int:
    return sum(1 << op for op in set(ops))


TOPIC = _bits(READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS)
GROUP = _bits(READ, DESCRIBE, DELETE)
CLUSTER = _bits(CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE)


def operations(requested: bool, resource_bits: int) -> int:
    """What goes in an ``authorized_operations`` field."""
    return resource_bits if requested else INT32_MIN


def ops_of(conn, requested: bool, rtype: int):
    """A function name -> the authorized_operations field for resources of type ``rtype``."""
    from ...security import acl

    if not requested:
        return lambda _name: INT32_MIN
    az = conn.broker.security.authorizer
    if az is None:
        bits = {acl.TOPIC: TOPIC, acl.GROUP: GROUP, acl.CLUSTER: CLUSTER}[rtype]
        return lambda _name: bits
    conn.broker.security.refresh_acls()
    return lambda name: az.operations(conn.principal, conn.client_host, rtype, name)
