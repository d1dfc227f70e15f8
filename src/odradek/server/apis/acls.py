"""CreateAcls, DescribeAcls, DeleteAcls (v1-3): ACLs in the metadata store (the embedded store, or
Kafka's /kafka-acl layout in ZooKeeper with its change notifications, so every broker of a cluster
applies a change within moments). Without an authorizer Kafka answers SECURITY_DISABLED."""

from __future__ import annotations

from ...protocol.errors import ErrorCode
from ...security import acl as A
from ..router import register

DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _filter(f, prefix: str = "") -> A.AclFilter:
    return A.AclFilter(
        resource_type=getattr(f, prefix + "resource_type_filter"),
        resource_name=getattr(f, prefix + "resource_name_filter"),
        pattern_type=getattr(f, "pattern_type_filter", A.P_LITERAL),
        principal=getattr(f, "principal_filter"),
        host=getattr(f, "host_filter"),
        operation=f.operation,
        permission=f.permission_type,
    )


@register(DESCRIBE_ACLS, 1, 3)
async def describe_acls(conn, header, request):
    broker = conn.broker
    az = broker.security.authorizer
    if az is None:
        return {"throttle_time": 0, "error_code": ErrorCode.security_disabled, "error_message": NO_AUTHORIZER, "resources": []}
    if not conn.authorize(A.DESCRIBE, A.CLUSTER, A.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed,
                "error_message": "not authorized to describe ACLs", "resources": []}
    f = _filter(request)
    why = f.invalid()
    if why:
        return {"throttle_time": 0, "error_code": ErrorCode.invalid_request, "error_message": why, "resources": []}
    broker.security.refresh_acls()
    by_resource: dict[tuple[int, str, int], list[dict]] = {}
    for b in az.describe(f):
        by_resource.setdefault((b.resource_type, b.resource_name, b.pattern_type), []).append(
            {"principal": b.principal, "host": b.host, "operation": b.operation, "permission_type": b.permission})
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "resources": [
        {"resource_type": t, "resource_name": n, "pattern_type": p, "acls": acls} for (t, n, p), acls in by_resource.items()]}


@register(CREATE_ACLS, 1, 3)
async def create_acls(conn, header, request):
    broker = conn.broker
    if broker.security.authorizer is None:
        return {"throttle_time": 0, "results": [{"error_code": ErrorCode.security_disabled, "error_message": NO_AUTHORIZER}
                                                for _ in request.creations]}
    if not conn.authorize(A.ALTER, A.CLUSTER, A.CLUSTER_NAME):
        return {"throttle_time": 0, "results": [{"error_code": ErrorCode.cluster_authorization_failed,
                                                 "error_message": "not authorized to create ACLs"} for _ in request.creations]}
    results, add = [], []
    for c in request.creations:
        binding = A.AclBinding(c.resource_type, c.resource_name, c.resource_pattern_type, c.principal, c.host,
                               c.operation, c.permission_type)
        why = binding.invalid()
        if why:
            results.append({"error_code": ErrorCode.invalid_request, "error_message": why})
            continue
        add.append(binding.to_json())
        results.append({"error_code": 0, "error_message": None})
    if add:
        broker.store.change_acls(add, [])
        broker.security.refresh_acls()
    return {"throttle_time": 0, "results": results}


@register(DELETE_ACLS, 1, 3)
async def delete_acls(conn, header, request):
    broker = conn.broker
    az = broker.security.authorizer
    if az is None:
        return {"throttle_time": 0, "filter_results": [
            {"error_code": ErrorCode.security_disabled, "error_message": NO_AUTHORIZER, "matching_acls": []}
            for _ in request.filters]}
    if not conn.authorize(A.ALTER, A.CLUSTER, A.CLUSTER_NAME):
        return {"throttle_time": 0, "filter_results": [
            {"error_code": ErrorCode.cluster_authorization_failed, "error_message": "not authorized to delete ACLs",
             "matching_acls": []} for _ in request.filters]}
    broker.security.refresh_acls()
    results, remove = [], []
    for f in request.filters:
        flt = _filter(f)
        why = flt.invalid()
        if why:
            results.append({"error_code": ErrorCode.invalid_request, "error_message": why, "matching_acls": []})
            continue
        matched = az.describe(flt)
        remove += [b.to_json() for b in matched]
        results.append({"error_code": 0, "error_message": None, "matching_acls": [
            {"error_code": 0, "error_message": None, "resource_type": b.resource_type, "resource_name": b.resource_name,
             "pattern_type": b.pattern_type, "principal": b.principal, "host": b.host, "operation": b.operation,
             "permission_type": b.permission} for b in matched]})
    if remove:
        broker.store.change_acls([], remove)
        broker.security.refresh_acls()
    return {"throttle_time": 0, "filter_results": results}
