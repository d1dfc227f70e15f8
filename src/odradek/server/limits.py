"""Connections as a resource: Kafka's ``max.connections`` (broker-wide and per listener),
``max.connections.per.ip`` with ``max.connections.per.ip.overrides``,
``max.connection.creation.rate`` (per listener) and ``connections.max.idle.ms``.

A connection over a limit is closed as soon as it is accepted, with a warning (at most one a
second per reason, so a flood does not flood the log). Kafka blocks its acceptor at
``max.connections`` and delays accepts past the creation rate instead; closing at once keeps the
broker's memory flat the same way and is what a client sees as "connection closed", so it retries.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import TYPE_CHECKING

from ..security import listeners as L

if TYPE_CHECKING:
    from .broker import Broker
    from .connection import Connection

log = logging.getLogger("odradek.connection")
INT_MAX = 2**31 - 1


def _ip(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host


class ConnectionLimits:
    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        cfg = broker.config
        self.max_total = cfg.get("max.connections")
        self.per_ip = cfg.get("max.connections.per.ip")
        self.overrides: dict[str, int] = {}
        for item in str(cfg.get("max.connections.per.ip.overrides") or "").split(","):
            if item.strip():
                host, _, count = item.strip().rpartition(":")
                self.overrides[_ip(host)] = int(count)
        values = broker.security.values
        self.per_listener: dict[str, int] = {}
        self.rate: dict[str, int] = {}
        for lst in broker.security.listeners:
            v = L.setting(values, lst.name, "max.connections", fallback=False)
            self.per_listener[lst.name] = int(v) if v is not None else INT_MAX
            r = L.setting(values, lst.name, "max.connection.creation.rate")
            self.rate[lst.name] = int(r) if r is not None else INT_MAX
        self.idle_ms = cfg.get("connections.max.idle.ms")
        self.count = 0
        self.by_ip: dict[str, int] = {}
        self.by_listener: dict[str, int] = {}
        self._window: dict[str, tuple[float, int]] = {}  # listener -> (second, accepted in it)
        self._warned: dict[str, float] = {}

    def admit(self, conn: "Connection") -> str | None:
        """None when ``conn`` may stay (and it is counted), else why it is closed."""
        ip = _ip(conn.client_host)
        lst = conn.listener.name
        limit_ip = self.overrides.get(ip, self.per_ip)
        if self.by_ip.get(ip, 0) >= limit_ip:
            return f"max.connections.per.ip={limit_ip} reached for {ip}"
        if self.count >= self.max_total:
            return f"max.connections={self.max_total} reached"
        if self.by_listener.get(lst, 0) >= self.per_listener.get(lst, INT_MAX):
            return f"listener.name.{lst.lower()}.max.connections={self.per_listener[lst]} reached"
        rate = self.rate.get(lst, INT_MAX)
        if rate < INT_MAX:
            second = int(time.monotonic())
            start, n = self._window.get(lst, (second, 0))
            if start != second:
                start, n = second, 0
            if n >= rate:
                return f"max.connection.creation.rate={rate} reached on listener {lst}"
            self._window[lst] = (start, n + 1)
        self.count += 1
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        self.by_listener[lst] = self.by_listener.get(lst, 0) + 1
        conn.counted_ip = ip
        return None

    def release(self, conn: "Connection") -> None:
        ip = getattr(conn, "counted_ip", None)
        if ip is None:
            return
        conn.counted_ip = None
        self.count -= 1
        self.by_ip[ip] -= 1
        if not self.by_ip[ip]:
            del self.by_ip[ip]
        self.by_listener[conn.listener.name] -= 1

    def refuse(self, conn: "Connection", why: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(why, 0.0) >= 1.0:
            self._warned[why] = now
            log.warning("closing a new connection from %s: %s", conn.peer, why)
        conn.close()

    def close_idle(self, connections) -> int:
        """Close connections idle longer than connections.max.idle.ms (none with a request in
        progress). Returns how many."""
        if self.idle_ms is None or self.idle_ms < 0:
            return 0
        cutoff = time.monotonic() - self.idle_ms / 1000
        closed = 0
        for conn in list(connections):
            if conn.last_active < cutoff and conn.idle():
                log.info("closing %s: idle for more than connections.max.idle.ms=%d", conn.peer, self.idle_ms)
                conn.close()
                closed += 1
        return closed
