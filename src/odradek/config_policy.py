"""Fail closed: which of Kafka's broker settings Odradek enforces, refuses, or accepts and ignores.

- **Enforced**: the keys of :data:`odradek.config.BROKER` (those marked ``enforced=False`` are only
  accepted, see below) and the security settings in :data:`SECURITY_KEYS` (listeners, TLS, SASL,
  the authorizer), in their ``listener.name.<listener>.`` (and ``<mechanism>.``) forms too. A bad
  value of one stops the broker at start-up with a message naming it (see
  :mod:`odradek.server.security`).
- **Refused**: a setting that asks for protection Odradek does not give (Kerberos, TLS to
  ZooKeeper and ZooKeeper ACLs, delegation tokens, custom principal builders or security
  providers). The broker will not start with one, and a dynamic config change that would turn one
  on, or change any security setting at run time, is answered INVALID_CONFIG.
- **Ignored, with a warning**: every other setting Kafka knows (quotas, tiered storage, KRaft, ...):
  accepted so that a Kafka ``server.properties`` loads, listed in one warning at start-up.
- **Unknown**: keys Kafka does not know either get Kafka's own warning.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .config import BROKER, TOPIC, ConfigError
from .kafka_config_names import KAFKA_BROKER_CONFIG_NAMES

UNSUPPORTED = "Odradek does not support it"

# Keys refused whatever their value (they only exist to configure protection Odradek lacks).
REFUSED_KEYS = {
    "principal.builder.class": "a custom principal builder",
    "security.providers": "custom security providers",
    "ssl.engine.factory.class": "a custom TLS engine",
    "delegation.token.secret.key": "delegation tokens",
    "delegation.token.master.key": "delegation tokens",
    "zookeeper.set.acl": "ZooKeeper ACLs",
    "zookeeper.ssl.client.enable": "TLS to ZooKeeper",
    "zookeeper.clientCnxnSocket": "TLS to ZooKeeper (a Netty client socket)",
}
# Refused when set to something else than the value that turns them off.
OFF_VALUES = {
    "zookeeper.set.acl": ("false",),
    "zookeeper.ssl.client.enable": ("false",),
}
# Security settings Odradek enforces (read by odradek.server.security at start-up).
SECURITY_KEYS = frozenset({
    "listeners", "advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name",
    "security.inter.broker.protocol", "sasl.mechanism.inter.broker.protocol",
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password", "ssl.keystore.key",
    "ssl.keystore.certificate.chain", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password",
    "ssl.truststore.certificates", "ssl.client.auth", "ssl.enabled.protocols", "ssl.cipher.suites",
    "ssl.endpoint.identification.algorithm", "ssl.principal.mapping.rules",
    "sasl.enabled.mechanisms", "sasl.jaas.config", "sasl.server.max.receive.size",
    "sasl.server.callback.handler.class", "sasl.oauthbearer.jwks.endpoint.url", "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer", "sasl.oauthbearer.sub.claim.name", "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.clock.skew.seconds", "connections.max.reauth.ms", "connection.failed.authentication.delay.ms",
    "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
    # per-listener connection limits (the unprefixed ones are broker keys)
    "max.connections", "max.connection.creation.rate",
})
_SENSITIVE = re.compile(r"password|secret|jaas\.config|keystore\.key|\.key$|credentials|private", re.I)
_LISTENER_PREFIX = re.compile(r"^listener\.name\.([^.]+)\.(.+)$")
_MECHANISM_PREFIX = re.compile(r"^(plain|scram-sha-256|scram-sha-512|oauthbearer|gssapi)\.(.+)$")


def shown(key: str, value: Any) -> str:
    """``key=value`` for a message, with the value of a sensitive key hidden."""
    if _SENSITIVE.search(key):
        return f"{key}=[hidden]"
    return f"{key}={value}"


def base_key(key: str) -> str:
    """``listener.name.<l>.[<mechanism>.]<key>`` -> ``<key>``."""
    m = _LISTENER_PREFIX.match(key)
    if not m:
        return key
    rest = m.group(2)
    mm = _MECHANISM_PREFIX.match(rest)
    return mm.group(2) if mm else rest


def is_security_key(key: str) -> bool:
    return base_key(key) in SECURITY_KEYS


def refusal(key: str, value: Any) -> str | None:
    """Why a single setting is refused, or None."""
    base = base_key(key)
    sval = "" if value is None else str(value).strip()
    if base.startswith("zookeeper.ssl."):
        return f"{shown(key, sval)}: TLS to ZooKeeper is not supported; {UNSUPPORTED}"
    if base.startswith("sasl.kerberos.") or (base == "sasl.mechanism.inter.broker.protocol" and sval.upper() == "GSSAPI"
                                              and key != base):
        return f"{shown(key, sval)}: Kerberos (GSSAPI) is not supported; {UNSUPPORTED}"
    if base in REFUSED_KEYS:
        off = OFF_VALUES.get(base)
        if off is not None and sval.lower() in off:
            return None
        return f"{shown(key, sval)}: {REFUSED_KEYS[base]} is not supported; {UNSUPPORTED}"
    return None


def dynamic_refusal(key: str, value: Any) -> str | None:
    """A dynamic broker config change that is refused: a refused key, or any security setting
    (Odradek reads them at start-up only; Kafka's dynamic keystore updates are not supported)."""
    why = refusal(key, value)
    if why:
        return why
    if key not in BROKER and (is_security_key(key) or base_key(key).startswith(("ssl.", "sasl."))):
        return f"{shown(key, value)}: security settings cannot be changed at run time (restart the broker with them)"
    return None


def classify(values: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Check a broker's static settings. Raises ConfigError for a refused one; returns the keys
    that are Kafka settings Odradek does not implement, and the keys Kafka does not know."""
    for key, value in values.items():
        why = refusal(key, value)
        if why:
            raise ConfigError(why)
    dirs = values.get("log.dirs")
    if dirs and len([d for d in str(dirs).split(",") if d.strip()]) > 1:
        raise ConfigError(f"log.dirs={dirs}: Odradek stores a broker's data in one directory; name only one")
    ignored, unknown = [], []
    for key in sorted(values):
        d = BROKER.get(key)
        if d is not None:
            if not d.enforced:
                ignored.append(key)
        elif is_security_key(key):
            continue
        elif key in KAFKA_BROKER_CONFIG_NAMES or _LISTENER_PREFIX.match(key):
            ignored.append(key)
        else:
            unknown.append(key)
    return ignored, unknown


def startup_warnings(values: Mapping[str, Any]) -> list[str]:
    """The warnings to log at start-up (after :func:`classify` found nothing refused)."""
    ignored, unknown = classify(values)
    out = []
    if ignored:
        out.append(
            "These Kafka settings are accepted but not implemented by Odradek, so they have no effect: "
            + ", ".join(ignored)
        )
    # Kafka's own wording (AbstractConfig.logUnused).
    out += [f"The configuration '{k}' was supplied but isn't a known config." for k in unknown]
    return out


def unenforced_topic_keys(configs: Mapping[str, Any]) -> list[str]:
    """Topic configs in ``configs`` that Odradek accepts for compatibility but does not act on."""
    return sorted(k for k in configs if k in TOPIC and not TOPIC[k].enforced)


def markdown_policy() -> list[str]:
    """The "enforced, refused, ignored" section of docs/configuration.md."""
    refused = sorted(REFUSED_KEYS)
    ignored = sorted(
        k for k in KAFKA_BROKER_CONFIG_NAMES
        if (k not in BROKER or not BROKER[k].enforced) and not refusal(k, "x") and k not in SECURITY_KEYS
    )
    return [
        "## Kafka settings: enforced, refused, ignored",
        "",
        f"Apache Kafka 3.9 and 4.4 know {len(KAFKA_BROKER_CONFIG_NAMES)} broker settings between them "
        "(`src/odradek/kafka_config_names.py`, checked against the real jars by the test suite).",
        "",
        "**Enforced**: the broker keys in the table above, except those marked *not enforced*, and the",
        "security settings ([security.md](security.md)), also in their `listener.name.<listener>.` and",
        "`listener.name.<listener>.<mechanism>.` forms: "
        + ", ".join(f"`{k}`" for k in sorted(SECURITY_KEYS)) + ". A bad value of one stops the broker at start-up",
        "with a message naming it.",
        "",
        "**Refused** (the broker does not start; a dynamic change is answered INVALID_CONFIG), because they",
        "ask for protection Odradek does not give: `zookeeper.ssl.*`, `sasl.kerberos.*` (GSSAPI), "
        + ", ".join(f"`{k}`" for k in refused) + " (`false` is accepted where it turns the feature off).",
        "Security settings are read at start-up only: a dynamic change of one is refused too.",
        "",
        "Also refused: more than one directory in `log.dirs`. Secrets are never printed: the value of a",
        "sensitive key shows as `[hidden]`.",
        "",
        "**Accepted and ignored, with one warning at start-up naming them**: every other Kafka broker",
        "setting, and the `listener.name.<listener>.` forms of settings not listed above. A topic config",
        "marked *not enforced* above is logged when a topic is created or altered with it.",
        "",
        "**Unknown**: a key Kafka does not know gets Kafka's warning, "
        "`The configuration 'KEY' was supplied but isn't a known config.`",
        "",
        "<details><summary>The Kafka settings accepted and ignored</summary>",
        "",
        ", ".join(f"`{k}`" for k in ignored),
        "",
        "</details>",
    ]
