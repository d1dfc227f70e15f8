"""The SASL/PLAIN users of the ACL tests (tests/interop/test_acls.py, tests/cluster/test_acls_cluster.py):
the broker's JAAS config that defines them, and a confluent-kafka client's settings to log in as one."""

from __future__ import annotations

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}


def plain_jaas(login: str | None = None) -> str:
    """A broker's ``PlainLoginModule`` config defining every user of :data:`USERS`; ``login``: the
    user the broker itself logs in as (when its inter-broker listener is a SASL one)."""
    own = f' username="{login}" password="{USERS[login]}"' if login else ""
    return ("org.apache.kafka.common.security.plain.PlainLoginModule required" + own + " "
            + " ".join(f'user_{u}="{p}"' for u, p in USERS.items()) + ";")


def sasl_plain_conf(bootstrap: str, user: str, **extra) -> dict:
    """confluent-kafka (librdkafka) settings to log in as ``user`` on a SASL_PLAINTEXT listener."""
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": USERS[user], **extra}
