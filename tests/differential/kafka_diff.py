"""The machinery of the differential test: one broker under test (a :class:`Target`), responses made
comparable (:func:`plain`), and the comparison against Apache Kafka's answers with the known
differences that docs/compatibility.md lists (:func:`known_differences`, :func:`differences`).

A case's result is plain JSON data. Two results are compared leaf by leaf through nested dicts
(lists are compared whole); each differing leaf has a path ``case/key/key...``. A difference is
allowed only when a pattern of the "Known differences from Apache Kafka" table in
docs/compatibility.md matches its path (``fnmatch``: ``*`` matches anything, ``/`` included).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import fnmatch
import re
import socket
import struct
import uuid
from pathlib import Path

from wire import WireClient

ROOT = Path(__file__).resolve().parents[2]
COMPATIBILITY = ROOT / "docs" / "compatibility.md"
SECTION = "## Known differences from Apache Kafka"
CLOSED = "connection closed"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ZERO_UUID = uuid.UUID(int=0)


@dataclasses.dataclass
class Target:
    """One broker the script runs against: ``name`` is "kafka" or "odradek"."""

    name: str
    port: int

    def wire(self) -> WireClient:
        return WireClient(self.port, timeout=20)

    def call(self, api_key: int, version: int, data: dict, *, messages: bool = False, keep: tuple[str, ...] = ()):
        """One request on a fresh connection; the response made plain, or CLOSED when the broker
        closed the connection instead of answering."""
        c = self.wire()
        try:
            resp = c.request(api_key, version, data)
        except (ConnectionError, socket.timeout, struct.error, OSError):
            return CLOSED
        finally:
            c.close()
        return plain(resp, self, messages=messages, keep=keep)

    def raw(self, frame: bytes) -> bytes | str:
        """Send one raw frame; the response frame, or CLOSED."""
        c = self.wire()
        try:
            c.send_frame(frame)
            return c.recv_frame()
        except (ConnectionError, socket.timeout, struct.error, OSError):
            return CLOSED
        finally:
            c.close()


_DROP = {"throttle_time", "throttle_time_ms"}


def plain(obj, target: Target | None = None, *, messages: bool = False, keep: tuple[str, ...] = ()):
    """A kio response (or part of one) as plain data: error codes by name, ids and ports that
    differ between any two brokers replaced by placeholders, throttle times dropped, and error
    messages dropped unless ``messages`` (they are compared only where users read them)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            name = f.name
            if name in _DROP and name not in keep:
                continue
            if not messages and name.endswith("error_message") and name not in keep:
                continue
            value = getattr(obj, name)
            if name in ("port",) and target is not None and value == target.port:
                value = "<port>"
            elif name == "cluster_id" and value:
                value = "<cluster id>"
            elif name == "documentation" and value is not None:
                value = "<text>"  # its words are Odradek's own; whether it is there is compared
            out[name] = plain(value, target, messages=messages, keep=keep)
        return out
    if isinstance(obj, (list, tuple)):
        return [plain(x, target, messages=messages, keep=keep) for x in obj]
    if isinstance(obj, enum.Enum):
        return obj.name.upper()
    if isinstance(obj, datetime.timedelta):
        return int(obj.total_seconds() * 1000)
    if isinstance(obj, datetime.datetime):
        return int((obj - _EPOCH).total_seconds() * 1000)
    if isinstance(obj, uuid.UUID):
        return "<zero uuid>" if obj == _ZERO_UUID else "<uuid>"
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    return obj


def sort_list(items: list, *keys: str) -> list:
    return sorted(items, key=lambda d: tuple(str(d.get(k)) for k in keys))


# --- known differences ---------------------------------------------------------------------------


def known_differences(path: Path = COMPATIBILITY) -> dict[str, str]:
    """Pattern -> the reason, from the table of the "Known differences" section."""
    text = path.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end >= 0 else len(text)]
    out: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|--") or line.startswith("| case"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for pattern in re.findall(r"`([^`]+)`", cells[0]):
            out[pattern] = cells[-1]
    return out


ABSENT = "<absent>"


def leaf_differences(a, b, path: str) -> list[tuple[str, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += leaf_differences(a.get(k, ABSENT), b.get(k, ABSENT), f"{path}/{k}")
        return out
    return [] if a == b else [(path, a, b)]


def differences(kafka: dict, odradek: dict) -> list[tuple[str, object, object]]:
    """Every differing leaf of every case the two runs share (a case one side lacks differs too)."""
    out = []
    for case in sorted(set(kafka) | set(odradek)):
        out += leaf_differences(kafka.get(case, ABSENT), odradek.get(case, ABSENT), case)
    return out


def explain(diffs, known: dict[str, str]) -> tuple[list, list, set[str]]:
    """(documented, undocumented, patterns used) for a list of differences."""
    documented, undocumented, used = [], [], set()
    for d in diffs:
        hits = [p for p in known if fnmatch.fnmatchcase(d[0], p)]
        if hits:
            documented.append(d)
            used.update(hits)
        else:
            undocumented.append(d)
    return documented, undocumented, used


def show(diffs, limit: int = 400) -> str:
    def short(v):
        s = repr(v)
        return s if len(s) <= limit else s[:limit] + "..."

    return "\n".join(f"  {p}\n      Apache Kafka: {short(a)}\n      Odradek:      {short(b)}" for p, a, b in diffs)
