"""API messages: request headers, and request/response bodies through the generated ``kio`` schemas.

Control-plane messages are many and small, so they go through kio (generated from Kafka's JSON
specs: every version, flexible versions, tagged fields). Handlers build responses as plain dicts
and lists; :func:`encode_response` fills the version's schema from them, taking each field the
version has and a default for the rest, so one handler serves every version. The hot-path messages
(Produce requests, Fetch responses) are coded by hand in :mod:`odradek.protocol.produce` and
:mod:`odradek.protocol.fetch`.
"""

from __future__ import annotations

import datetime
import io
import struct
import uuid
from dataclasses import MISSING, fields, is_dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import EntityField, EntityTupleField, classify_field, is_optional

from .errors import ErrorCode, KafkaError

_HDR = struct.Struct(">hhi")
_INT32 = struct.Struct(">i")
_INT16 = struct.Struct(">h")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the request body starts in the frame


@lru_cache(maxsize=None)
def request_schema(api_key: int, version: int) -> type:
    return load_request_schema(api_key, version)


@lru_cache(maxsize=None)
def response_schema(api_key: int, version: int) -> type:
    return load_response_schema(api_key, version)


@lru_cache(maxsize=None)
def is_flexible(api_key: int, version: int) -> bool:
    return bool(request_schema(api_key, version).__flexible__)


def read_uvarint(buf, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise KafkaError(ErrorCode.invalid_request, "truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise KafkaError(ErrorCode.invalid_request, "varint too long")


def write_uvarint(n: int) -> bytes:
    """``n`` as an unsigned varint (compact lengths and counts of flexible versions)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def skip_tagged_fields(buf, pos: int) -> int:
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise KafkaError(ErrorCode.invalid_request, "truncated tagged field")
    return pos


def parse_header_prefix(frame) -> tuple[int, int, int]:
    """api_key, api_version, correlation_id: the part every header version shares."""
    if len(frame) < 8:
        raise KafkaError(ErrorCode.invalid_request, "frame shorter than a request header")
    return _HDR.unpack_from(frame, 0)


def parse_request_header(frame, flexible: bool) -> RequestHeader:
    """Parse a request header v1 (or v2 when ``flexible``): client_id is a classic nullable string."""
    api_key, api_version, correlation_id = parse_header_prefix(frame)
    if len(frame) < 10:
        raise KafkaError(ErrorCode.invalid_request, "truncated client id")
    (n,) = _INT16.unpack_from(frame, 8)
    pos = 10
    client_id = None
    if n >= 0:
        if pos + n > len(frame):
            raise KafkaError(ErrorCode.invalid_request, "truncated client id")
        client_id = bytes(frame[pos : pos + n]).decode("utf-8", "replace")
        pos += n
    if flexible:
        pos = skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def decode_request(api_key: int, version: int, frame, offset: int) -> Any:
    """Decode a request body with kio; raises KafkaError(INVALID_REQUEST) on malformed input."""
    schema = request_schema(api_key, version)
    try:
        entity, _size = _reader(schema)(frame, offset)
    except KafkaError:
        raise
    except Exception as e:  # kio raises its own DecodeError family, and ValueError on bad values
        raise KafkaError(ErrorCode.invalid_request, f"malformed {schema.__name__} v{version}: {e}") from e
    return entity


@lru_cache(maxsize=None)
def _reader(schema: type):
    return entity_reader(schema)


@lru_cache(maxsize=None)
def _writer(schema: type):
    return entity_writer(schema)


def response_header(correlation_id: int, flexible: bool) -> bytes:
    """Response header v0 (correlation id) or v1 (plus empty tagged fields)."""
    return _INT32.pack(correlation_id) + (b"\x00" if flexible else b"")


def encode_response(api_key: int, version: int, data: dict) -> bytes:
    """Encode a response body of ``version`` from a dict of field values (missing fields take defaults)."""
    schema = response_schema(api_key, version)
    buf = io.BytesIO()
    _writer(schema)(buf, build(schema, data))
    return buf.getvalue()


def encode_request(api_key: int, version: int, data: dict) -> bytes:
    schema = request_schema(api_key, version)
    buf = io.BytesIO()
    _writer(schema)(buf, build(schema, data))
    return buf.getvalue()


def decode_response(api_key: int, version: int, body, offset: int = 0) -> Any:
    own = _RESPONSE_DECODERS.get(api_key)
    if own is not None:
        return own(version, body, offset)
    schema = response_schema(api_key, version)
    entity, _ = _reader(schema)(body, offset)
    return entity


class _Decoded:
    """A decoded response entity: attributes named as kio names the fields."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _decode_describe_transactions(version: int, body, offset: int) -> Any:
    """DescribeTransactions v0 (flexible) by hand: its TransactionStartTimeMs is -1 when no
    transaction is open, which kio's reader refuses (it reads the field as a datetime). Times are
    given as int milliseconds here."""
    buf = memoryview(body)
    pos = offset

    def i16() -> int:
        nonlocal pos
        (v,) = _INT16.unpack_from(buf, pos)
        pos += 2
        return v

    def i32() -> int:
        nonlocal pos
        (v,) = _INT32.unpack_from(buf, pos)
        pos += 4
        return v

    def i64() -> int:
        nonlocal pos
        (v,) = struct.unpack_from(">q", buf, pos)
        pos += 8
        return v

    def count() -> int:
        nonlocal pos
        n, pos = read_uvarint(buf, pos)
        return n - 1

    def string() -> str | None:
        nonlocal pos
        n = count()
        if n < 0:
            return None
        v = bytes(buf[pos : pos + n]).decode()
        pos += n
        return v

    def tags() -> None:
        nonlocal pos
        pos = skip_tagged_fields(buf, pos)

    if version != 0:
        raise KafkaError(ErrorCode.unsupported_version, f"DescribeTransactions v{version}")
    throttle = i32()
    states = []
    for _ in range(max(0, count())):
        error, tid, state = ErrorCode(i16()), string(), string()
        timeout, start, pid, epoch = i32(), i64(), i64(), i16()
        topics = []
        for _t in range(max(0, count())):
            topic = string()
            partitions = tuple(i32() for _p in range(max(0, count())))
            tags()
            topics.append(_Decoded(topic=topic, partitions=partitions))
        tags()
        states.append(_Decoded(error_code=error, transactional_id=tid, transaction_state=state, transaction_timeout=timeout,
                               transaction_start_time=start, producer_id=pid, producer_epoch=epoch, topics=tuple(topics)))
    tags()
    return _Decoded(throttle_time=throttle, transaction_states=tuple(states))


_RESPONSE_DECODERS = {65: _decode_describe_transactions}


# --- dict -> schema entity -------------------------------------------------------------------


def _convert_scalar(kafka_type: str, value: Any) -> Any:
    if value is None:
        return None
    if kafka_type == "error_code":
        return ErrorCode(int(value))
    if kafka_type.startswith("timedelta"):
        if isinstance(value, datetime.timedelta):
            return value
        return datetime.timedelta(milliseconds=value)
    if kafka_type.startswith("datetime"):
        if isinstance(value, datetime.datetime):
            return value
        return _EPOCH + datetime.timedelta(milliseconds=value)
    if kafka_type == "uuid":
        if isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(bytes=value) if isinstance(value, bytes) else uuid.UUID(str(value))
    if kafka_type == "records":
        return bytes(value)
    return value


def _scalar_default(kafka_type: str) -> Any:
    """The zero value of a non-nullable field."""
    if kafka_type == "string":
        return ""
    if kafka_type in ("bytes", "records"):
        return b""
    if kafka_type == "uuid":
        return uuid.UUID(int=0)
    if kafka_type == "bool":
        return False
    if kafka_type == "error_code":
        return ErrorCode.none
    if kafka_type.startswith("timedelta"):
        return datetime.timedelta(0)
    if kafka_type.startswith("datetime"):
        return _EPOCH
    if kafka_type == "float64":
        return 0.0
    return 0


class _FieldPlan(NamedTuple):
    name: str
    kind: str  # "scalar", "scalars", "entity", "entities"
    kafka_type: str
    sub: type | None
    optional: bool
    default: Any  # MISSING when the schema has none


@lru_cache(maxsize=None)
def _plan(schema: type) -> tuple[_FieldPlan, ...]:
    out = []
    for f in fields(schema):
        cls = classify_field(f)
        opt = is_optional(f)
        default = f.default
        if isinstance(cls, EntityTupleField):
            out.append(_FieldPlan(f.name, "entities", "", cls.type_, opt, default))
        elif isinstance(cls, EntityField):
            out.append(_FieldPlan(f.name, "entity", "", cls.type_, opt, default))
        else:
            kt = f.metadata.get("kafka_type", "")
            kind = "scalars" if cls.is_array else "scalar"
            out.append(_FieldPlan(f.name, kind, kt, None, opt, default))
    return tuple(out)


def build(schema: type, data: Any) -> Any:
    """Make a ``schema`` entity from a dict (or an entity of another version) of plain values."""
    if is_dataclass(data) and not isinstance(data, dict):
        data = {f.name: getattr(data, f.name) for f in fields(data)}
    kwargs = {}
    for p in _plan(schema):
        value = data.get(p.name, MISSING)
        if value is MISSING or (value is None and not p.optional):
            if p.default is not MISSING:
                continue
            if p.kind in ("entities", "scalars"):
                value = () if not p.optional or value is MISSING else None
            elif p.kind == "entity":
                value = None if p.optional else build(p.sub, {})
            else:
                value = None if p.optional else _scalar_default(p.kafka_type)
            kwargs[p.name] = value
            continue
        if p.kind == "scalar":
            kwargs[p.name] = _convert_scalar(p.kafka_type, value)
        elif p.kind == "scalars":
            kwargs[p.name] = None if value is None else tuple(_convert_scalar(p.kafka_type, v) for v in value)
        elif p.kind == "entity":
            kwargs[p.name] = None if value is None else build(p.sub, value)
        else:
            kwargs[p.name] = None if value is None else tuple(build(p.sub, v) for v in value)
    return schema(**kwargs)
