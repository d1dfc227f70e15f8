"""Listeners as Kafka configures them: ``listeners``, ``advertised.listeners``,
``listener.security.protocol.map``, ``inter.broker.listener.name`` / ``security.inter.broker.protocol``,
and the per-listener ``listener.name.<listener>.`` (and ``<mechanism>.``) prefixes of settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MAP = {p: p for p in PROTOCOLS}


class ListenerError(ValueError):
    pass


@dataclass(frozen=True)
class Listener:
    name: str  # upper case, as Kafka normalises it
    protocol: str
    host: str  # "" = all interfaces
    port: int
    advertised_host: str
    advertised_port: int

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def endpoint(self) -> str:
        return f"{self.name}://{self.advertised_host}:{self.advertised_port}"


def _entries(key: str, raw: str) -> list[tuple[str, str, int]]:
    out = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.match(r"^([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)$", item)
        if not m:
            raise ListenerError(f"{key}={raw}: {item!r} is not NAME://HOST:PORT")
        out.append((m.group(1).upper(), m.group(2).strip("[]"), int(m.group(3))))
    return out


def protocol_map(raw: str | None) -> dict[str, str]:
    if raw is None or not str(raw).strip():
        return dict(DEFAULT_MAP)
    out = {}
    for item in str(raw).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, proto = item.partition(":")
        proto = proto.strip().upper()
        if not sep or not name.strip() or proto not in PROTOCOLS:
            raise ListenerError(f"listener.security.protocol.map={raw}: expected NAME:PROTOCOL pairs, "
                                f"PROTOCOL one of {', '.join(PROTOCOLS)}")
        out[name.strip().upper()] = proto
    return out


def parse(get: Callable[[str], Any]) -> list[Listener]:
    """The broker's listeners, in the order ``listeners`` names them."""
    raw = get("listeners") or "PLAINTEXT://127.0.0.1:9092"
    entries = _entries("listeners", str(raw))
    if not entries:
        raise ListenerError("listeners is empty")
    pmap = protocol_map(get("listener.security.protocol.map"))
    names = [e[0] for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ListenerError(f"listeners={raw}: each listener name must appear once ({', '.join(sorted(dupes))})")
    ports = [e[2] for e in entries if e[2] != 0]
    if len(ports) != len(set(ports)):
        raise ListenerError(f"listeners={raw}: each listener needs its own port")
    adv_raw = get("advertised.listeners")
    advertised = {n: (h, p) for n, h, p in _entries("advertised.listeners", str(adv_raw))} if adv_raw else {}
    unknown = set(advertised) - set(names)
    if unknown:
        raise ListenerError(f"advertised.listeners names {', '.join(sorted(unknown))}, which listeners does not")
    out = []
    for name, host, port in entries:
        proto = pmap.get(name)
        if proto is None:
            raise ListenerError(f"listeners={raw}: no security protocol defined for listener {name} "
                                "(add it to listener.security.protocol.map)")
        ah, ap = advertised.get(name, (host or "127.0.0.1", port))
        if ah in ("0.0.0.0", "::"):
            raise ListenerError(f"advertised.listeners: {name} cannot advertise the wildcard address {ah}")
        out.append(Listener(name, proto, host, port, ah, ap))
    return out


def inter_broker(get: Callable[[str], Any], listeners: list[Listener]) -> Listener:
    """The listener brokers use among themselves: ``inter.broker.listener.name``, else the listener
    whose protocol is ``security.inter.broker.protocol`` (PLAINTEXT by default)."""
    name = get("inter.broker.listener.name")
    proto = get("security.inter.broker.protocol")
    if name and proto and str(proto).strip():
        explicit_proto = str(proto).strip().upper()
        if explicit_proto != "PLAINTEXT":
            raise ListenerError("set inter.broker.listener.name or security.inter.broker.protocol, not both")
    if name:
        for lst in listeners:
            if lst.name == str(name).strip().upper():
                return lst
        raise ListenerError(f"inter.broker.listener.name={name}: no such listener in listeners")
    proto = str(proto or "PLAINTEXT").strip().upper()
    for lst in listeners:
        if lst.name == proto:
            return lst
    if len(listeners) == 1 and proto == "PLAINTEXT" and listeners[0].protocol == "PLAINTEXT":
        return listeners[0]
    matching = [lst for lst in listeners if lst.protocol == proto]
    if len(matching) == 1:
        return matching[0]
    raise ListenerError(f"security.inter.broker.protocol={proto}: no listener named {proto} "
                        "(name the inter-broker listener with inter.broker.listener.name)")


def setting(values: Mapping[str, Any], listener: str, key: str, mechanism: str | None = None,
            fallback: bool = True) -> Any:
    """A setting for one listener (and SASL mechanism): ``listener.name.<l>.<mech>.<key>``, then
    ``listener.name.<l>.<key>``, then ``<key>`` itself (unless ``fallback`` is False)."""
    prefix = f"listener.name.{listener.lower()}."
    if mechanism:
        v = values.get(f"{prefix}{mechanism.lower()}.{key}")
        if v is not None:
            return v
    v = values.get(prefix + key)
    if v is not None:
        return v
    return values.get(key) if fallback else None
