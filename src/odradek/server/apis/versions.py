"""ApiVersions: what this broker serves, advertised exactly (PROTOCOL-NOTES traps 1-5)."""

from __future__ import annotations

import struct

from ...protocol.errors import ErrorCode
from ..router import APIS, API_VERSIONS, Response, register


def _ranges() -> list[dict]:
    return [{"api_key": a.key, "min_version": a.min_version, "max_version": a.max_version} for a in sorted(APIS.values(), key=lambda a: a.key)]


def unsupported_version_response(correlation_id: int) -> Response:
    """ApiVersions v0 body with UNSUPPORTED_VERSION and ApiVersions' own range (what Kafka sends:
    enough for the client to retry with a version it shares), under a v0 header."""
    ranges = [r for r in _ranges() if r["api_key"] == API_VERSIONS]
    body = struct.pack(">ihi", correlation_id, ErrorCode.unsupported_version, len(ranges))
    body += b"".join(struct.pack(">hhh", r["api_key"], r["min_version"], r["max_version"]) for r in ranges)
    return Response.of(body)


@register(API_VERSIONS, 0, 4)
async def handle(conn, header, request) -> dict:
    # Tagged fields holding defaults (supported_features, finalized_features...) are left out:
    # librdkafka 2.0.2 fails on them (trap 2); kio writes no tagged field left at its default.
    return {"error_code": 0, "api_keys": _ranges(), "throttle_time": 0}
