"""SaslHandshake and SaslAuthenticate (Kafka's SaslServerAuthenticator, KIP-43, KIP-152, KIP-368).

Before authentication the router lets only ApiVersions (once), SaslHandshake and SaslAuthenticate
through on a SASL listener. A failed exchange is answered SASL_AUTHENTICATION_FAILED with Kafka's
generic message (the reason goes to the broker's log, without secrets), and the connection closes
after ``connection.failed.authentication.delay.ms``. On a listener without SASL, or on an
authenticated connection whose session does not expire, both answer ILLEGAL_SASL_STATE.
"""

from __future__ import annotations

from ...protocol.errors import ErrorCode
from ...security.sasl import AuthenticationFailed, failure_message
from ..router import register
from ..security import AUTHENTICATE, COMPLETE

SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36


@register(SASL_HANDSHAKE, 0, 1)
async def sasl_handshake(conn, header, request):
    sess = conn.sasl
    if sess is None:
        return {"error_code": ErrorCode.illegal_sasl_state, "mechanisms": []}
    enabled = list(conn.security.mechanisms)
    if sess.state == COMPLETE and not sess.reauthenticating and not sess.start_reauth():
        return {"error_code": ErrorCode.illegal_sasl_state, "mechanisms": enabled}
    code = sess.handshake(request.mechanism, header.api_version)
    if code != ErrorCode.none:
        conn.fail_authentication(sess.failure or "handshake refused")
    return {"error_code": code, "mechanisms": enabled}


@register(SASL_AUTHENTICATE, 0, 2)
async def sasl_authenticate(conn, header, request):
    sess = conn.sasl
    empty = {"auth_bytes": b"", "session_lifetime": 0}
    if sess is None or sess.state != AUTHENTICATE:
        return {"error_code": ErrorCode.illegal_sasl_state, "error_message": "no SASL exchange is under way", **empty}
    try:
        reply = sess.step(bytes(request.auth_bytes))
    except AuthenticationFailed as e:
        conn.fail_authentication(f"{sess.mechanism_name}: {e}")
        return {"error_code": ErrorCode.sasl_authentication_failed,
                "error_message": failure_message(sess.mechanism_name or ""), **empty}
    lifetime = 0
    if sess.state == COMPLETE:
        conn.authenticated()
        lifetime = sess.session_lifetime_ms() if header.api_version >= 1 else 0
    return {"error_code": 0, "error_message": None, "auth_bytes": reply, "session_lifetime": lifetime}
