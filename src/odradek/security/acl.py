"""ACLs and the authorizer, with Kafka's semantics (AclAuthorizer / StandardAuthorizer).

An ACL (:class:`AclBinding`) lets or forbids a principal (``User:alice``, ``User:*``) from a host
(an IP or ``*``) an operation on a resource pattern (a type, a name, LITERAL or PREFIXED; the
literal name ``*`` is every resource of the type). A request is allowed when the principal is a
super user; else, when no ACL at all matches the resource, when ``allow.everyone.if.no.acl.found``;
else when no matching DENY exists and a matching ALLOW does (ALLOW of READ, WRITE, DELETE or ALTER
implies DESCRIBE; ALLOW of ALTER_CONFIGS implies DESCRIBE_CONFIGS; DENY implies nothing).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# resource types
UNKNOWN, ANY, TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, USER = 0, 1, 2, 3, 4, 5, 6, 7
RESOURCE_NAMES = {TOPIC: "Topic", GROUP: "Group", CLUSTER: "Cluster", TRANSACTIONAL_ID: "TransactionalId",
                  DELEGATION_TOKEN: "DelegationToken", USER: "User"}
RESOURCE_BY_NAME = {v.lower(): k for k, v in RESOURCE_NAMES.items()}
CLUSTER_NAME = "kafka-cluster"
# pattern types
P_UNKNOWN, P_ANY, P_MATCH, P_LITERAL, P_PREFIXED = 0, 1, 2, 3, 4
PATTERN_NAMES = {P_LITERAL: "LITERAL", P_PREFIXED: "PREFIXED"}
# operations
(OP_UNKNOWN, OP_ANY, ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
 ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS) = range(15)
OP_NAMES = {ALL: "All", READ: "Read", WRITE: "Write", CREATE: "Create", DELETE: "Delete", ALTER: "Alter",
            DESCRIBE: "Describe", CLUSTER_ACTION: "ClusterAction", DESCRIBE_CONFIGS: "DescribeConfigs",
            ALTER_CONFIGS: "AlterConfigs", IDEMPOTENT_WRITE: "IdempotentWrite", CREATE_TOKENS: "CreateTokens",
            DESCRIBE_TOKENS: "DescribeTokens"}
OP_BY_NAME = {v.lower(): k for k, v in OP_NAMES.items()}
# permissions
PERM_UNKNOWN, PERM_ANY, DENY, ALLOW = 0, 1, 2, 3
PERM_NAMES = {DENY: "Deny", ALLOW: "Allow"}
PERM_BY_NAME = {v.lower(): k for k, v in PERM_NAMES.items()}

SUPPORTED_OPS = {
    TOPIC: (READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS),
    GROUP: (READ, DESCRIBE, DELETE),
    CLUSTER: (CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE),
    TRANSACTIONAL_ID: (DESCRIBE, WRITE),
    DELEGATION_TOKEN: (DESCRIBE,),
    USER: (CREATE_TOKENS, DESCRIBE_TOKENS),
}
_IMPLIED_BY = {DESCRIBE: (READ, WRITE, DELETE, ALTER), DESCRIBE_CONFIGS: (ALTER_CONFIGS,)}


def normalize_host(host: str) -> str:
    """An IP as Java prints it would compare equal to ours: normalise both to Python's form."""
    if host == "*":
        return host
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host


@dataclass(frozen=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int

    def invalid(self) -> str | None:
        """Why this cannot be stored (Kafka answers INVALID_REQUEST), or None."""
        if self.resource_type not in RESOURCE_NAMES:
            return "resource type must be one of Topic, Group, Cluster, TransactionalId, DelegationToken, User"
        if self.pattern_type not in PATTERN_NAMES:
            return "ACLs are stored with pattern type LITERAL or PREFIXED"
        if not self.resource_name:
            return "the resource name must not be empty"
        if self.resource_type == CLUSTER and self.resource_name != CLUSTER_NAME:
            return f"the cluster resource is named {CLUSTER_NAME}"
        if self.operation not in OP_NAMES:
            return "invalid operation"
        if self.permission not in PERM_NAMES:
            return "invalid permission type"
        if ":" not in self.principal:
            return f"principal {self.principal!r} is not Type:name"
        return None

    def to_json(self) -> dict:
        return {"resource_type": self.resource_type, "resource_name": self.resource_name,
                "pattern_type": self.pattern_type, "principal": self.principal, "host": self.host,
                "operation": self.operation, "permission": self.permission}

    @classmethod
    def from_json(cls, d: dict) -> "AclBinding":
        return cls(d["resource_type"], d["resource_name"], d["pattern_type"], d["principal"], d["host"],
                   d["operation"], d["permission"])


@dataclass(frozen=True)
class AclFilter:
    """What DescribeAcls / DeleteAcls select: None or ANY fields match everything; pattern type
    MATCH selects the ACLs that would apply to a name (literal, wildcard and prefixes)."""

    resource_type: int = ANY
    resource_name: str | None = None
    pattern_type: int = P_ANY
    principal: str | None = None
    host: str | None = None
    operation: int = OP_ANY
    permission: int = PERM_ANY

    def matches(self, b: AclBinding) -> bool:
        if self.resource_type not in (ANY, b.resource_type):
            return False
        if self.pattern_type == P_MATCH:
            if self.resource_name is not None:
                name = self.resource_name
                if b.pattern_type == P_LITERAL and b.resource_name not in (name, "*"):
                    return False
                if b.pattern_type == P_PREFIXED and not name.startswith(b.resource_name):
                    return False
        else:
            if self.pattern_type not in (P_ANY, b.pattern_type):
                return False
            if self.resource_name is not None and self.resource_name != b.resource_name:
                return False
        if self.principal is not None and self.principal != b.principal:
            return False
        if self.host is not None and normalize_host(self.host) != normalize_host(b.host):
            return False
        if self.operation not in (OP_ANY, b.operation):
            return False
        if self.permission not in (PERM_ANY, b.permission):
            return False
        return True

    def invalid(self) -> str | None:
        if self.resource_type == UNKNOWN or self.pattern_type == P_UNKNOWN:
            return "unknown resource or pattern type in the filter"
        if self.operation == OP_UNKNOWN or self.permission == PERM_UNKNOWN:
            return "unknown operation or permission in the filter"
        return None


DECISIONS_KEPT = 10_000  # remembered authorize() answers; past this the memory starts over


class Authorizer:
    def __init__(self, super_users: set[str] | None = None, allow_if_no_acl: bool = False) -> None:
        self.super_users = set(super_users or ())
        self.allow_if_no_acl = allow_if_no_acl
        self._acls: set[AclBinding] = set()
        self._literal: dict[tuple[int, str], list[AclBinding]] = {}
        self._prefixed: dict[int, list[AclBinding]] = {}
        # authorize() answers by (principal, host, operation, resource type, name): they depend on
        # nothing else but the ACLs, so set_acls() forgets them. Every Produce and Fetch asks, per topic;
        # working one out scans the prefixed ACLs of the type and parses the client's address.
        self._decisions: dict[tuple[str, str, int, int, str], bool] = {}

    # --- the set of ACLs ---------------------------------------------------------------------------

    def set_acls(self, acls: set[AclBinding]) -> None:
        self._acls = set(acls)
        literal: dict[tuple[int, str], list[AclBinding]] = {}
        prefixed: dict[int, list[AclBinding]] = {}
        for b in self._acls:
            if b.pattern_type == P_LITERAL:
                literal.setdefault((b.resource_type, b.resource_name), []).append(b)
            else:
                prefixed.setdefault(b.resource_type, []).append(b)
        self._literal, self._prefixed = literal, prefixed
        self._decisions = {}

    def acls(self) -> set[AclBinding]:
        return set(self._acls)

    def describe(self, f: AclFilter) -> list[AclBinding]:
        return sorted((b for b in self._acls if f.matches(b)), key=_sort_key)

    # --- decisions ---------------------------------------------------------------------------------

    def _applicable(self, rtype: int, name: str) -> list[AclBinding]:
        out = list(self._literal.get((rtype, name), ()))
        if name != "*":
            out += self._literal.get((rtype, "*"), ())
        for b in self._prefixed.get(rtype, ()):
            if name.startswith(b.resource_name):
                out.append(b)
        return out

    def authorize(self, principal: str, host: str, op: int, rtype: int, name: str) -> bool:
        key = (principal, host, op, rtype, name)
        known = self._decisions.get(key)
        if known is not None:
            return known
        allowed = self._decide(principal, host, op, rtype, name)
        if len(self._decisions) >= DECISIONS_KEPT:
            self._decisions = {}
        self._decisions[key] = allowed
        return allowed

    def _decide(self, principal: str, host: str, op: int, rtype: int, name: str) -> bool:
        if principal in self.super_users:
            return True
        acls = self._applicable(rtype, name)
        if not acls:
            return self.allow_if_no_acl
        host = normalize_host(host)

        def match(b: AclBinding) -> bool:
            return (b.principal in (principal, "User:*")) and (b.host in ("*", host) or normalize_host(b.host) == host)

        mine = [b for b in acls if match(b)]
        if any(b.permission == DENY and b.operation in (op, ALL) for b in mine):
            return False
        allowed_ops = (op, ALL, *_IMPLIED_BY.get(op, ()))
        return any(b.permission == ALLOW and b.operation in allowed_ops for b in mine)

    def authorize_by_resource_type(self, principal: str, host: str, op: int, rtype: int) -> bool:
        """KIP-679: is ``op`` allowed on *some* resource of the type (idempotent InitProducerId
        with WRITE on any topic)."""
        if principal in self.super_users:
            return True
        host = normalize_host(host)

        def match(b: AclBinding) -> bool:
            return (b.principal in (principal, "User:*")) and b.host in ("*", host) and b.operation in (op, ALL)

        typed = [b for b in self._acls if b.resource_type == rtype and match(b)]
        if any(b.permission == DENY and b.pattern_type == P_LITERAL and b.resource_name == "*" for b in typed):
            return False
        if self.allow_if_no_acl:
            return True
        denied_literal = {b.resource_name for b in typed if b.permission == DENY and b.pattern_type == P_LITERAL}
        denied_prefix = [b.resource_name for b in typed if b.permission == DENY and b.pattern_type == P_PREFIXED]
        for b in typed:
            if b.permission != ALLOW:
                continue
            if b.pattern_type == P_LITERAL and b.resource_name in denied_literal:
                continue
            if any(b.resource_name.startswith(p) for p in denied_prefix):
                continue
            return True
        return False

    def operations(self, principal: str, host: str, rtype: int, name: str) -> int:
        """The authorized_operations bit field of a resource."""
        bits = 0
        for op in SUPPORTED_OPS.get(rtype, ()):
            if self.authorize(principal, host, op, rtype, name):
                bits |= 1 << op
        return bits


def _sort_key(b: AclBinding):
    return (b.resource_type, b.resource_name, b.pattern_type, b.principal, b.host, b.operation, b.permission)


def parse_super_users(text: str | None) -> set[str]:
    """``super.users`` is ``User:a;User:b`` (semicolons: DNs hold commas)."""
    return {u.strip() for u in (text or "").split(";") if u.strip()}
