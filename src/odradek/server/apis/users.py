"""SCRAM users and client quotas: DescribeUserScramCredentials, AlterUserScramCredentials (KIP-554),
and DescribeClientQuotas (Odradek enforces no quotas: it answers that none are set, which is what
``kafka-configs --describe --entity-type users`` reads beside the SCRAM credentials).

Credentials live in the metadata store (the embedded store on one node; ``/config/users`` in
ZooKeeper, with Kafka's change notification, so every broker of a cluster sees a change).
"""

from __future__ import annotations

from ...protocol.errors import ErrorCode
from ...security import acl, scram
from ..router import register

DESCRIBE_CLIENT_QUOTAS, DESCRIBE_SCRAM, ALTER_SCRAM = 48, 50, 51


@register(DESCRIBE_CLIENT_QUOTAS, 0, 1)
async def describe_client_quotas(conn, header, request):
    if not conn.authorize(acl.DESCRIBE_CONFIGS, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed,
                "error_message": "not authorized to describe quotas", "entries": None}
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "entries": []}


@register(DESCRIBE_SCRAM, 0, 0)
async def describe_user_scram_credentials(conn, header, request):
    store = conn.broker.store
    if not conn.authorize(acl.DESCRIBE, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.cluster_authorization_failed,
                "error_message": "not authorized to describe SCRAM credentials", "results": []}
    creds = store.scram_credentials()
    codes = {v: k for k, v in scram.MECHANISM_CODES.items()}
    names = sorted(creds) if not request.users else [u.name for u in request.users]
    results = []
    seen: set[str] = set()
    for name in names:
        entry = {"user": name, "error_code": 0, "error_message": None, "credential_infos": []}
        if name in seen:
            entry.update(error_code=ErrorCode.duplicate_resource, error_message=f"user {name!r} was asked for twice")
        elif not name or name not in creds:
            entry.update(error_code=ErrorCode.resource_not_found, error_message=f"attempt to describe a user credential that does not exist: {name}")
        else:
            for mech, text in sorted(creds[name].items()):
                if mech in codes:
                    entry["credential_infos"].append({"mechanism": codes[mech],
                                                      "iterations": scram.ScramCredential.from_kafka(text).iterations})
        seen.add(name)
        results.append(entry)
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "results": results}


@register(ALTER_SCRAM, 0, 0)
async def alter_user_scram_credentials(conn, header, request):
    store = conn.broker.store
    everyone = [d.name for d in request.deletions] + [u.name for u in request.upsertions]
    if not conn.authorize(acl.ALTER, acl.CLUSTER, acl.CLUSTER_NAME):
        return {"throttle_time": 0, "results": [
            {"user": u, "error_code": ErrorCode.cluster_authorization_failed, "error_message": "not authorized"}
            for u in dict.fromkeys(everyone)]}
    existing = store.scram_credentials()
    errors: dict[str, tuple[ErrorCode, str]] = {}
    pairs: dict[tuple[str, str], int] = {}
    for item in [*request.deletions, *request.upsertions]:
        mech = scram.MECHANISM_CODES.get(item.mechanism)
        pairs[(item.name, str(mech))] = pairs.get((item.name, str(mech)), 0) + 1
    upserts: dict[tuple[str, str], str] = {}
    deletions: set[tuple[str, str]] = set()

    def fail(user: str, code: ErrorCode, message: str) -> None:
        errors.setdefault(user, (code, message))

    def refused(name: str, mechanism: int, mech: str | None) -> bool:
        """The checks a deletion and an upsertion share; True (and the user failed) when one fails."""
        if not name:
            fail(name, ErrorCode.unacceptable_credential, "Username must not be empty")
        elif mech is None:
            fail(name, ErrorCode.unsupported_sasl_mechanism, f"Unknown SCRAM mechanism {mechanism}")
        elif pairs[(name, mech)] > 1:
            fail(name, ErrorCode.duplicate_resource, f"A user credential cannot be altered twice in the same request: {name}")
        else:
            return False
        return True

    for d in request.deletions:
        mech = scram.MECHANISM_CODES.get(d.mechanism)
        if refused(d.name, d.mechanism, mech):
            continue
        if mech not in existing.get(d.name, {}):
            fail(d.name, ErrorCode.resource_not_found, f"Attempt to delete a user credential that does not exist: {d.name}")
        else:
            deletions.add((d.name, mech))
    for u in request.upsertions:
        mech = scram.MECHANISM_CODES.get(u.mechanism)
        if refused(u.name, u.mechanism, mech):
            continue
        if u.iterations < scram.MIN_ITERATIONS:
            fail(u.name, ErrorCode.unacceptable_credential, f"Too few iterations: {u.iterations}")
        elif u.iterations > scram.MAX_ITERATIONS:
            fail(u.name, ErrorCode.unacceptable_credential, f"Too many iterations: {u.iterations}")
        elif not u.salt or not u.salted_password:
            fail(u.name, ErrorCode.unacceptable_credential, "salt and salted password must not be empty")
        else:
            cred = scram.credential_from_salted(mech, bytes(u.salted_password), bytes(u.salt), u.iterations)
            upserts[(u.name, mech)] = cred.to_kafka()
    # a user with any error changes nothing (Kafka fails the user as a whole)
    upserts = {k: v for k, v in upserts.items() if k[0] not in errors}
    deletions = {k for k in deletions if k[0] not in errors}
    if upserts or deletions:
        store.change_scram_credentials(upserts, deletions)
    results = []
    for user in dict.fromkeys(everyone):
        code, message = errors.get(user, (ErrorCode.none, None))
        results.append({"user": user, "error_code": code, "error_message": message})
    return {"throttle_time": 0, "results": results}
