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


# Feature flags (KIP-584) as ApiVersions v3+ reports them, read by `kafka-features describe` and by
# the Java client (transaction.version decides its transaction protocol, group.version the new
# consumer protocol). Odradek serves the classic group protocol and no transactions yet, so it
# supports level 0 of both and finalizes nothing (level 0 is "off" and never listed as finalized).
SUPPORTED_FEATURES: dict[str, tuple[int, int]] = {"group.version": (0, 0), "transaction.version": (0, 0)}
FINALIZED_FEATURES: dict[str, int] = {}
FINALIZED_FEATURES_EPOCH = 0


def features(version: int) -> dict:
    """The feature fields of an ApiVersions v3+ response. Before v4, Kafka leaves out features whose
    minimum is 0 (older clients assumed a minimum of 1)."""
    supported = [
        {"name": n, "min_version": lo, "max_version": hi}
        for n, (lo, hi) in sorted(SUPPORTED_FEATURES.items())
        if version >= 4 or lo > 0
    ]
    finalized = [
        {"name": n, "max_version_level": lvl, "min_version_level": lvl}
        for n, lvl in sorted(FINALIZED_FEATURES.items())
        if lvl > 0
    ]
    return {
        "supported_features": supported,
        "finalized_features_epoch": FINALIZED_FEATURES_EPOCH,
        "finalized_features": finalized,
    }


@register(API_VERSIONS, 0, 4)
async def handle(conn, header, request) -> dict:
    if conn.sasl is not None:
        conn.sasl.versions_answered()  # the one ApiVersions allowed before authentication
    out = {"error_code": 0, "api_keys": _ranges(), "throttle_time": 0}
    if header.api_version >= 3:
        # Tagged fields; kio writes none that holds its default (PROTOCOL-NOTES trap 2).
        out.update(features(header.api_version))
    return out
