"""DescribeCluster and InitProducerId (idempotent producers here; transactional ones in apis/txn.py)."""

from __future__ import annotations

from ...protocol.errors import ErrorCode
from ...security import acl
from ..router import register
from . import authorized

INIT_PRODUCER_ID, DESCRIBE_CLUSTER = 22, 60


@register(DESCRIBE_CLUSTER, 0, 1)
async def describe_cluster(conn, header, request):
    broker = conn.broker
    return {
        "throttle_time": 0,
        "error_code": 0,
        "endpoint_type": 1,
        "cluster_id": broker.store.cluster_id,
        "controller_id": broker.controller_id(),
        "brokers": [{"broker_id": b, "host": h, "port": p, "rack": r} for b, h, p, r in broker.live_brokers(conn.listener.name)],
        "cluster_authorized_operations": authorized.ops_of(
            conn, getattr(request, "include_cluster_authorized_operations", False), acl.CLUSTER)(acl.CLUSTER_NAME),
    }


@register(INIT_PRODUCER_ID, 0, 5)
async def init_producer_id(conn, header, request):
    broker = conn.broker
    if request.transactional_id is not None:
        from .txn import init_transactional_producer

        if not conn.authorize(acl.WRITE, acl.TRANSACTIONAL_ID, request.transactional_id):
            return {"throttle_time": 0, "error_code": ErrorCode.transactional_id_authorization_failed,
                    "producer_id": -1, "producer_epoch": -1}
        return await init_transactional_producer(broker, request, header.api_version)
    # an idempotent producer needs IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (KIP-679)
    az = broker.security.authorizer
    if az is not None and not conn.authorize(acl.IDEMPOTENT_WRITE, acl.CLUSTER, acl.CLUSTER_NAME) and \
            not az.authorize_by_resource_type(conn.principal, conn.client_host, acl.WRITE, acl.TOPIC):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed, "producer_id": -1,
                "producer_epoch": -1}
    old_pid = getattr(request, "producer_id", -1)
    old_epoch = getattr(request, "producer_epoch", -1)
    if old_pid >= 0 and 0 <= old_epoch < 32766:
        # KIP-360: an idempotent producer bumps its epoch instead of taking a new id.
        return {"throttle_time": 0, "error_code": 0, "producer_id": old_pid, "producer_epoch": old_epoch + 1}
    pid = broker.store.allocate_producer_id()
    return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": 0}
