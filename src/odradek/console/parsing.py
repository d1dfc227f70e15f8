"""Reading what people type into forms and URLs, with a clear message for anything wrong.

Every parser raises :class:`InputError`, whose message is shown on the page as is (escaped).
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, read_properties, validate_topic_name

__all__ = [
    "InputError", "parse_topic_name", "parse_group_id", "parse_int", "parse_offset", "parse_timestamp",
    "parse_headers", "parse_configs", "parse_cursor", "format_cursor", "ClientSettings", "load_client_settings",
    "parse_listen",
]

LONG_MAX = 2**63 - 1


class InputError(ValueError):
    """Bad input from a form or URL; the message says what is wrong and what is allowed."""


def parse_topic_name(text: str | None) -> str:
    name = (text or "").strip()
    reason = validate_topic_name(name)
    if reason is not None:
        raise InputError(f"{reason}.")
    return name


def parse_group_id(text: str | None) -> str:
    gid = text or ""
    if not gid:
        raise InputError("The group id is empty.")
    if len(gid) > 32767:
        raise InputError("The group id is too long.")
    return gid


def parse_int(text: str | None, what: str, *, minimum: int | None = None, maximum: int | None = None, default: int | None = None) -> int:
    raw = (text or "").strip()
    if not raw:
        if default is not None:
            return default
        raise InputError(f"{what} is missing.")
    if not re.fullmatch(r"[+-]?\d{1,19}", raw):
        raise InputError(f"{what} must be a whole number, not {raw!r}.")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise InputError(f"{what} must be at least {minimum}, not {value}.")
    if maximum is not None and value > maximum:
        raise InputError(f"{what} must be at most {maximum}, not {value}.")
    return value


def parse_offset(text: str | None, what: str = "The offset") -> int:
    return parse_int(text, what, minimum=0, maximum=LONG_MAX)


_RELATIVE = re.compile(r"^-(\d{1,9})\s*(ms|s|m|h|d)$")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_timestamp(text: str | None, *, now_ms: int | None = None) -> int:
    """Milliseconds since the epoch from: ms digits, ``-10m`` / ``-2h`` / ``-1d`` (ago), or an ISO 8601
    date-time (``2026-11-25T10:00``; without a zone it is UTC)."""
    raw = (text or "").strip()
    if not raw:
        raise InputError("The timestamp is missing.")
    if re.fullmatch(r"\d{1,16}", raw):
        return int(raw)
    m = _RELATIVE.match(raw)
    if m:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0, now - int(m.group(1)) * _UNITS_MS[m.group(2)])
    try:
        dt = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise InputError(
            f"Cannot read the timestamp {raw!r}: use milliseconds since the epoch, a time ago such as -10m, -2h or -1d, "
            "or a date and time such as 2026-11-25T10:00 (UTC unless a zone is given)."
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    ms = int(dt.timestamp() * 1000)
    if ms < 0:
        raise InputError(f"The timestamp {raw!r} is before 1970.")
    return ms


def parse_headers(text: str | None) -> list[tuple[str, bytes]]:
    """One header a line, ``name: value`` (the value may be empty; names may repeat)."""
    out: list[tuple[str, bytes]] = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"Header line {n} must be 'name: value', not {line!r}.")
        out.append((name, value.strip().encode()))
    return out


def parse_configs(text: str | None) -> dict[str, str]:
    """One ``key=value`` a line."""
    out: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"Config line {n} must be 'key=value', not {line!r}.")
        out[key] = value.strip()
    return out


def parse_cursor(text: str | None) -> dict[int, int]:
    """``0:15,1:20`` (partition:offset, comma-separated) to ``{0: 15, 1: 20}``."""
    out: dict[int, int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        p, sep, o = item.partition(":")
        if not sep:
            raise InputError(f"A position must be partition:offset, not {item!r}.")
        out[parse_int(p, "A partition", minimum=0, maximum=2**31 - 1)] = parse_offset(o)
    if not out:
        raise InputError("The positions to continue from are missing.")
    return out


def format_cursor(positions: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (127.0.0.1)."""
    raw = text.strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise InputError(f"--listen takes HOST:PORT, not {text!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep:
            raise InputError(f"--listen takes HOST:PORT, not {text!r}")
    port = parse_int(port_text, "The port", minimum=0, maximum=65535)
    return host or "127.0.0.1", port


@dataclass
class ClientSettings:
    """The Kafka client settings the console uses (from ``--command-config``)."""

    bootstrap: str | None = None
    client_id: str = "odradek-console"
    request_timeout_ms: int = 15000
    metadata_max_age_ms: int = 300000
    retry_backoff_ms: int = 100
    # security.protocol, ssl.* and sasl.* as given (the client's security_config); empty: PLAINTEXT
    security: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def client_kwargs(self) -> dict:
        """What every client the console makes is given besides its own settings."""
        return {"security_config": dict(self.security)} if self.security else {}


#: Keys of a client.properties file that the console's client honours.
_HONOURED = {"bootstrap.servers", "client.id", "request.timeout.ms", "metadata.max.age.ms", "retry.backoff.ms", "security.protocol"}
_SECURITY_PREFIXES = ("ssl.", "sasl.")


def load_client_settings(path: str | Path | None) -> ClientSettings:
    """Read a Kafka ``client.properties`` file (as ``kafka-topics.sh --command-config`` takes).

    ``security.protocol``, ``ssl.*`` and ``sasl.*`` go to the client as Kafka's clients take them
    (TLS and SASL); a setting that cannot work (a missing file, an unknown mechanism) is refused
    here, never dropped. Other keys it does not use are named in :attr:`ClientSettings.warnings`."""
    from ..client.security import SecurityConfig

    settings = ClientSettings()
    if path is None:
        return settings
    try:
        props = read_properties(Path(path))
    except (OSError, ConfigError) as e:
        raise InputError(f"cannot read the client config {path}: {e}") from None
    security = {k: v for k, v in props.items() if k == "security.protocol" or k.startswith(_SECURITY_PREFIXES)}
    try:
        SecurityConfig.from_properties(security).validate()
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: {e}") from None
    settings.security = security
    if "bootstrap.servers" in props:
        settings.bootstrap = props["bootstrap.servers"].strip()
    if "client.id" in props:
        settings.client_id = props["client.id"].strip() or settings.client_id
    for key, attr in (("request.timeout.ms", "request_timeout_ms"), ("metadata.max.age.ms", "metadata_max_age_ms"), ("retry.backoff.ms", "retry_backoff_ms")):
        if key in props:
            try:
                setattr(settings, attr, parse_int(props[key], key, minimum=1, maximum=2**31 - 1))
            except InputError as e:
                raise InputError(f"{path}: {e}") from None
    settings.warnings = [f"{path}: {key} is not used by the console's client; ignored" for key in sorted(props)
                         if key not in _HONOURED and key not in security]
    proto = security.get("security.protocol", "PLAINTEXT").strip().upper()
    settings.warnings += [f"{path}: {key} is not used with security.protocol={proto}; ignored" for key in sorted(security)
                          if (key.startswith("ssl.") and "SSL" not in proto) or (key.startswith("sasl.") and "SASL" not in proto)]
    return settings
