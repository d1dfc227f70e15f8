"""Fail closed: which of Kafka's broker settings Odradek enforces, refuses, or accepts and ignores.

- **Enforced**: the keys of :data:`odradek.config.BROKER` (those marked ``enforced=False`` are only
  accepted, see below).
- **Refused**: a setting that asks for protection Odradek does not give (TLS or SASL listeners and
  their ``ssl.*`` / ``sasl.*`` settings, an authorizer, super users, ZooKeeper TLS or ACLs, ...).
  The broker will not start with one, and a dynamic config change that would turn one on is answered
  INVALID_CONFIG. As security lands, keys move from here to "enforced", never to "ignored".
- **Ignored, with a warning**: every other setting Kafka knows (quotas, tiered storage, KRaft, ...):
  accepted so that a Kafka ``server.properties`` loads, listed in one warning at start-up.
- **Unknown**: keys Kafka does not know either get Kafka's own warning.

The same rules answer dynamic broker configs (IncrementalAlterConfigs / AlterConfigs).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .config import BROKER, TOPIC, ConfigError
from .kafka_config_names import KAFKA_BROKER_CONFIG_NAMES

SECURE_PROTOCOLS = ("SSL", "SASL_PLAINTEXT", "SASL_SSL")
PROTOCOLS = ("PLAINTEXT", *SECURE_PROTOCOLS)
NOT_YET = "Odradek does not support TLS, SASL or authorization yet: it serves PLAINTEXT without authentication only"

# Keys refused whatever their value (they only exist to configure protection).
REFUSED_KEYS = {
    "authorizer.class.name": "an authorizer (ACLs)",
    "super.users": "super users (ACLs)",
    "allow.everyone.if.no.acl.found": "an ACL setting",
    "principal.builder.class": "authenticated principals",
    "connections.max.reauth.ms": "SASL re-authentication",
    "security.providers": "TLS/SASL security providers",
    "delegation.token.secret.key": "delegation tokens (they need SASL)",
    "delegation.token.master.key": "delegation tokens (they need SASL)",
    "zookeeper.set.acl": "ZooKeeper ACLs",
    "zookeeper.ssl.client.enable": "TLS to ZooKeeper",
    "zookeeper.clientCnxnSocket": "TLS to ZooKeeper (a Netty client socket)",
}
# Refused when set to something else than the value that turns them off.
OFF_VALUES = {
    "authorizer.class.name": ("",),
    "super.users": ("",),
    "security.inter.broker.protocol": ("PLAINTEXT",),
    "zookeeper.set.acl": ("false",),
    "zookeeper.ssl.client.enable": ("false",),
    "allow.everyone.if.no.acl.found": (),
}
_SENSITIVE = re.compile(r"password|secret|jaas\.config|keystore\.key|\.key$|credentials|private", re.I)
_LISTENER_PREFIX = re.compile(r"^listener\.name\.([^.]+)\.(.+)$")


def shown(key: str, value: Any) -> str:
    """``key=value`` for a message, with the value of a sensitive key hidden."""
    if _SENSITIVE.search(key):
        return f"{key}=[hidden]"
    return f"{key}={value}"


def _listener_names(value: str) -> list[tuple[str, str]]:
    out = []
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        m = re.match(r"^([A-Za-z0-9_]+)://", item)
        if not m:
            raise ConfigError(f"Invalid listener {item!r}: expected NAME://HOST:PORT")
        out.append((m.group(1).upper(), item))
    return out


def protocol_map(values: Mapping[str, Any]) -> dict[str, str]:
    """listener.security.protocol.map as a dict; Kafka's default maps each protocol name to itself."""
    raw = values.get("listener.security.protocol.map")
    if raw is None or str(raw).strip() == "":
        return {p: p for p in PROTOCOLS}
    out = {}
    for item in str(raw).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, proto = item.partition(":")
        if not sep or not name.strip() or proto.strip().upper() not in PROTOCOLS:
            raise ConfigError(
                f"Invalid value {raw} for configuration listener.security.protocol.map: "
                f"expected LISTENER_NAME:PROTOCOL pairs, PROTOCOL one of {', '.join(PROTOCOLS)}"
            )
        out[name.strip().upper()] = proto.strip().upper()
    return out


def refusal(key: str, value: Any) -> str | None:
    """Why a single setting is refused, or None. (Listeners are checked by :func:`check_listeners`.)"""
    m = _LISTENER_PREFIX.match(key)
    base = m.group(2) if m else key
    sval = "" if value is None else str(value).strip()
    if base.startswith(("ssl.", "sasl.")) or ".sasl." in base or base.startswith("zookeeper.ssl."):
        what = "TLS" if "ssl." in base and "sasl." not in base else "SASL"
        if base.startswith("zookeeper.ssl."):
            what = "TLS to ZooKeeper"
        return f"{shown(key, sval)}: {what} is not supported; {NOT_YET}"
    if base == "security.inter.broker.protocol":
        if sval.upper() not in OFF_VALUES[base]:
            return f"{key}={sval}: only PLAINTEXT is supported between brokers; {NOT_YET}"
        return None
    if base in REFUSED_KEYS:
        off = OFF_VALUES.get(base)
        if off is not None and sval.lower() in off:
            return None
        return f"{shown(key, sval)}: {REFUSED_KEYS[base]} is not supported; {NOT_YET}"
    return None


def check_listeners(values: Mapping[str, Any]) -> None:
    """Refuse listeners Odradek cannot serve: TLS/SASL ones, several, unmapped names."""
    pmap = protocol_map(values)
    raw_map = values.get("listener.security.protocol.map")
    if raw_map:
        for name, proto in pmap.items():
            if proto in SECURE_PROTOCOLS:
                raise ConfigError(
                    f"listener.security.protocol.map={raw_map}: it maps {name} to {proto}; {NOT_YET}"
                )
    for key in ("listeners", "advertised.listeners"):
        raw = values.get(key)
        if raw is None or str(raw).strip() == "":
            continue
        entries = _listener_names(raw)
        for name, item in entries:
            proto = pmap.get(name)
            if proto is None:
                raise ConfigError(
                    f"{key}={raw}: no security protocol defined for listener {name} "
                    "(add it to listener.security.protocol.map)"
                )
            if proto in SECURE_PROTOCOLS:
                raise ConfigError(f"{key}={raw}: listener {name} uses security protocol {proto}; {NOT_YET}")
        if len(entries) > 1:
            raise ConfigError(
                f"{key}={raw}: Odradek serves one listener per broker for now; name only one"
            )
    ibl = values.get("inter.broker.listener.name")
    if ibl:
        names = [n for n, _ in _listener_names(values.get("listeners") or "PLAINTEXT://:9092")]
        if str(ibl).strip().upper() not in names:
            raise ConfigError(
                f"inter.broker.listener.name={ibl}: it must name a listener in listeners ({', '.join(names)})"
            )


def classify(values: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Check a broker's static settings. Raises ConfigError for a refused one; returns the keys
    that are Kafka settings Odradek does not implement, and the keys Kafka does not know."""
    check_listeners(values)
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
        if (k not in BROKER or not BROKER[k].enforced) and not refusal(k, "x")
    )
    return [
        "## Kafka settings: enforced, refused, ignored",
        "",
        f"Apache Kafka 3.9 and 4.4 know {len(KAFKA_BROKER_CONFIG_NAMES)} broker settings between them "
        "(`src/odradek/kafka_config_names.py`, checked against the real jars by the test suite).",
        "",
        "**Enforced**: the broker keys in the table above, except those marked *not enforced*.",
        "",
        "**Refused** (the broker does not start; a dynamic change is answered INVALID_CONFIG), because they",
        "ask for protection Odradek does not give yet. Odradek has **no authentication, encryption or",
        "authorization**: run it only where every client that can reach its port is trusted.",
        "",
        "- a listener (in `listeners` or `advertised.listeners`) whose security protocol is SSL,",
        "  SASL_PLAINTEXT or SASL_SSL, and any SSL or SASL entry in `listener.security.protocol.map`;",
        "- every `ssl.*` and `sasl.*` setting, their `listener.name.<listener>.` forms and the per-mechanism",
        "  `listener.name.<listener>.<mechanism>.sasl.jaas.config`;",
        "- `security.inter.broker.protocol` other than PLAINTEXT;",
        "- `zookeeper.ssl.*`;",
        "- " + ", ".join(f"`{k}`" for k in refused) + " (an empty value, or `false`, is accepted where it",
        "  turns the feature off).",
        "",
        "Also refused: more than one listener (Odradek serves one per broker for now), a listener name",
        "without a security protocol, an `inter.broker.listener.name` that names no listener, and more than",
        "one directory in `log.dirs`. Secrets are never printed: the value of a sensitive key shows as",
        "`[hidden]`.",
        "",
        "**Accepted and ignored, with one warning at start-up naming them**: every other Kafka broker",
        "setting, and the `listener.name.<listener>.` forms of non-security settings. A topic config",
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
