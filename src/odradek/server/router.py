"""The request router: which APIs and versions are served, header parsing, dispatch, framing.

Each API is served by a handler ``async def handle(conn, header, request) -> dict | Response | None``
registered in :data:`APIS` with its version range and how its request body is decoded: by kio
(``"kio"``) or by a hand-written decoder for the hot path. A dict is encoded with the request's
version through kio; ``None`` means no response (Produce with acks=0).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..protocol import messages
from ..protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger("odradek.router")

API_VERSIONS = 18
SASL_HANDSHAKE = 17


@dataclass
class Response:
    chunks: list[Any]  # bytes, or file regions with .file/.position/.size
    size: int
    timing: Any = None  # the request's metrics.registry.InFlight, when metrics are on

    @classmethod
    def of(cls, data: bytes) -> "Response":
        return cls([data], len(data))


@dataclass
class Api:
    key: int
    min_version: int
    max_version: int
    handler: Callable[..., Awaitable[Any]]
    decode: Callable[[Any, int, int], Any] | None = None  # (frame, offset, version) -> request; None = kio


class Deferred:
    """A handler's answer that is not ready yet (delayed produce, long-poll fetch, a join).

    The connection goes on reading and handling the next requests meanwhile, and writes the
    responses in request order, so one waiting request does not hold up the ones behind it.
    """

    __slots__ = ("task", "api_key")

    def __init__(self, coro, api_key: int = -1) -> None:
        import asyncio

        self.task = asyncio.ensure_future(coro)
        self.api_key = api_key  # what it waits for (purgatory sizes in the metrics)


APIS: dict[int, Api] = {}


def register(key: int, min_version: int, max_version: int, decode=None):
    def deco(fn):
        APIS[key] = Api(key, min_version, max_version, fn, decode)
        return fn

    return deco


def _flexible(api_key: int, version: int) -> bool:
    try:
        return messages.is_flexible(api_key, version)
    except Exception:
        # Versions kio has no schema for (Produce v0-2) are all non-flexible.
        return False


async def route(conn: "Connection", frame: bytes) -> Response | Deferred | None:
    api_key, version, correlation_id = messages.parse_header_prefix(frame)
    api = APIS.get(api_key)
    if api is None:
        raise KafkaError(ErrorCode.invalid_request, f"unsupported api key {api_key}")
    if api_key == API_VERSIONS and not api.min_version <= version <= api.max_version:
        # Answered in v0 format with the ranges, so the client can pick a version (KIP-511).
        from .apis.versions import unsupported_version_response

        return unsupported_version_response(correlation_id)
    if not api.min_version <= version <= api.max_version:
        raise KafkaError(
            ErrorCode.unsupported_version,
            f"api key {api_key} version {version} is not in {api.min_version}-{api.max_version}",
        )
    sess = conn.sasl
    if sess is not None:
        if not sess.authenticated:
            why = sess.check_request(api_key)
            if why is not None:
                # Kafka closes such a connection without answering (SaslServerAuthenticator)
                raise KafkaError(ErrorCode.illegal_sasl_state, why)
        elif sess.expired() and api_key != SASL_HANDSHAKE:
            raise KafkaError(ErrorCode.sasl_authentication_failed, "the SASL session expired without re-authentication")
    flexible = _flexible(api_key, version)
    header = messages.parse_request_header(frame, flexible)
    conn.client_id = header.client_id
    if api.decode is not None:
        request = api.decode(frame, header.body_offset, version)
    else:
        request = messages.decode_request(api_key, version, frame, header.body_offset)
    metrics = conn.broker.metrics
    timing = None if metrics is None else metrics.begin(conn, api_key, version, request, len(frame))
    result = await api.handler(conn, header, request)
    if isinstance(result, Deferred):
        if timing is not None:
            timing.park()
        return Deferred(_finish(result.task, api_key, version, correlation_id, flexible, timing), api_key)
    out = _frame(result, api_key, version, correlation_id, flexible)
    if timing is not None:
        timing.handled(result, out)
    return out


async def _finish(task, api_key: int, version: int, correlation_id: int, flexible: bool, timing=None) -> Response | None:
    result = await task
    out = _frame(result, api_key, version, correlation_id, flexible)
    if timing is not None:
        timing.handled(result, out)
    return out


def _frame(result, api_key: int, version: int, correlation_id: int, flexible: bool) -> Response | None:
    if result is None:
        return None
    # ApiVersions responses always use header v0 (KIP-511).
    head = messages.response_header(correlation_id, flexible and api_key != API_VERSIONS)
    if isinstance(result, Response):
        return Response([head, *result.chunks], len(head) + result.size)
    body = messages.encode_response(api_key, version, result)
    return Response.of(head + body)
