"""ACLs and SCRAM credentials as the admin client sees them.

An :class:`AclBinding` lets or forbids a principal (``User:alice``; ``User:*`` is everyone) from a
host (an IP, or ``*``) an operation on a resource pattern: a resource type and name, LITERAL (the
name exactly; ``*`` is every resource of the type) or PREFIXED (every name starting with it). An
:class:`AclFilter` selects bindings for describe and delete: a field left None matches anything,
and pattern type MATCH selects every binding that applies to a name (literal, wildcard, prefixes).

Names are Kafka's enum names in any case and with ``_`` or ``-`` (``"TRANSACTIONAL_ID"``,
``"transactional-id"``, ``"IdempotentWrite"``); Kafka's numeric codes work too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..security import acl as A

__all__ = ["AclBinding", "AclFilter", "ScramCredentialInfo", "RESOURCE_TYPES", "OPERATIONS", "PATTERN_TYPES", "PERMISSIONS"]

RESOURCE_TYPES = {"ANY": A.ANY, "TOPIC": A.TOPIC, "GROUP": A.GROUP, "CLUSTER": A.CLUSTER,
                  "TRANSACTIONAL_ID": A.TRANSACTIONAL_ID, "DELEGATION_TOKEN": A.DELEGATION_TOKEN, "USER": A.USER}
OPERATIONS = {"ANY": A.OP_ANY, "ALL": A.ALL, "READ": A.READ, "WRITE": A.WRITE, "CREATE": A.CREATE, "DELETE": A.DELETE,
              "ALTER": A.ALTER, "DESCRIBE": A.DESCRIBE, "CLUSTER_ACTION": A.CLUSTER_ACTION,
              "DESCRIBE_CONFIGS": A.DESCRIBE_CONFIGS, "ALTER_CONFIGS": A.ALTER_CONFIGS,
              "IDEMPOTENT_WRITE": A.IDEMPOTENT_WRITE, "CREATE_TOKENS": A.CREATE_TOKENS,
              "DESCRIBE_TOKENS": A.DESCRIBE_TOKENS}
PATTERN_TYPES = {"ANY": A.P_ANY, "MATCH": A.P_MATCH, "LITERAL": A.P_LITERAL, "PREFIXED": A.P_PREFIXED}
PERMISSIONS = {"ANY": A.PERM_ANY, "DENY": A.DENY, "ALLOW": A.ALLOW}


def _key(text: str) -> str:
    """``ClusterAction`` / ``cluster-action`` / ``CLUSTER_ACTION`` -> ``CLUSTER_ACTION``."""
    out = ""
    for i, ch in enumerate(text.strip()):
        if ch in "-_ ":
            out += "_"
        elif ch.isupper() and i and text[i - 1].islower():
            out += "_" + ch
        else:
            out += ch.upper()
    return out


def code(kind: dict[str, int], value: str | int, what: str) -> int:
    if isinstance(value, int):
        if value not in kind.values():
            raise ValueError(f"unknown {what} code {value}")
        return value
    k = _key(str(value))
    if k not in kind:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(n.lower() for n in kind)}")
    return kind[k]


def name(kind: dict[str, int], value: int) -> str:
    for n, c in kind.items():
        if c == value:
            return n
    return "UNKNOWN"


# the fields of a binding or filter that name a code, with the table and what an error calls them
_NAMED_FIELDS = (("resource_type", RESOURCE_TYPES, "resource type"), ("operation", OPERATIONS, "operation"),
                 ("permission", PERMISSIONS, "permission"), ("pattern_type", PATTERN_TYPES, "pattern type"))


def _normalise_names(obj) -> None:
    """Replace each named field of a frozen binding or filter by its canonical name (refusing an
    unknown one), so equal ones compare equal whatever case was used."""
    for field, kind, what in _NAMED_FIELDS:
        object.__setattr__(obj, field, name(kind, code(kind, getattr(obj, field), what)))


@dataclass(frozen=True)
class AclBinding:
    resource_type: str
    resource_name: str
    principal: str
    operation: str
    permission: str = "ALLOW"
    host: str = "*"
    pattern_type: str = "LITERAL"

    def __post_init__(self) -> None:
        _normalise_names(self)

    def to_request(self) -> dict:
        return {"resource_type": RESOURCE_TYPES[self.resource_type], "resource_name": self.resource_name,
                "resource_pattern_type": PATTERN_TYPES[self.pattern_type], "principal": self.principal,
                "host": self.host, "operation": OPERATIONS[self.operation], "permission_type": PERMISSIONS[self.permission]}

    @classmethod
    def from_codes(cls, rtype: int, rname: str, pattern: int, principal: str, host: str, op: int, perm: int) -> "AclBinding":
        return cls(name(RESOURCE_TYPES, rtype), rname, principal, name(OPERATIONS, op), name(PERMISSIONS, perm), host,
                   name(PATTERN_TYPES, pattern))

    def __str__(self) -> str:
        return (f"{self.permission} {self.principal} from {self.host} {self.operation} on "
                f"{self.resource_type} {self.resource_name!r} ({self.pattern_type})")


@dataclass(frozen=True)
class AclFilter:
    resource_type: str = "ANY"
    resource_name: str | None = None
    pattern_type: str = "ANY"
    principal: str | None = None
    host: str | None = None
    operation: str = "ANY"
    permission: str = "ANY"

    def __post_init__(self) -> None:
        _normalise_names(self)

    def to_request(self) -> dict:
        return {"resource_type_filter": RESOURCE_TYPES[self.resource_type], "resource_name_filter": self.resource_name,
                "pattern_type_filter": PATTERN_TYPES[self.pattern_type], "principal_filter": self.principal,
                "host_filter": self.host, "operation": OPERATIONS[self.operation],
                "permission_type": PERMISSIONS[self.permission]}

    @classmethod
    def of(cls, b: AclBinding) -> "AclFilter":
        """The filter that selects exactly ``b``."""
        return cls(b.resource_type, b.resource_name, b.pattern_type, b.principal, b.host, b.operation, b.permission)


@dataclass(frozen=True)
class ScramCredentialInfo:
    mechanism: str  # SCRAM-SHA-256 or SCRAM-SHA-512
    iterations: int
