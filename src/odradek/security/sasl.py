"""SASL mechanisms as sans-IO state machines: the broker's side of PLAIN, SCRAM-SHA-256/512 and
OAUTHBEARER, and the client's side of the same, as Kafka runs them.

A server mechanism takes each token the client sent (``step``) and returns the token to send back;
it raises :class:`AuthenticationFailed` when the exchange cannot succeed, and sets ``principal``
(and ``expires_ms`` when the credential expires) once it has. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from . import oauth, scram

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


class AuthenticationFailed(Exception):
    """The exchange failed. The message is for the broker's log; clients get Kafka's generic one."""


def failure_message(mechanism: str) -> str:
    """What Kafka tells a client whose credentials were refused (details stay in the log)."""
    return f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"


class ServerMechanism:
    mechanism = ""
    principal: str | None = None
    expires_ms: int | None = None

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def step(self, token: bytes) -> bytes:
        raise NotImplementedError


class PlainServer(ServerMechanism):
    """RFC 4616: ``authzid NUL authcid NUL passwd``; users from the listener's JAAS ``user_<name>``."""

    mechanism = "PLAIN"

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def step(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise AuthenticationFailed("malformed PLAIN response")
        try:
            authzid, user, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise AuthenticationFailed("PLAIN response is not UTF-8") from None
        if not user or not password:
            raise AuthenticationFailed("empty user name or password")
        if authzid and authzid != user:
            raise AuthenticationFailed("authorization id must equal the user")
        expected = self.users.get(user)
        import hmac

        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise AuthenticationFailed(f"invalid credentials for user {user!r}")
        self.principal = user
        return b""


class ScramServerMechanism(ServerMechanism):
    def __init__(self, mechanism: str, lookup: Callable[[str], "scram.ScramCredential | None"]) -> None:
        self.mechanism = mechanism
        self._server = scram.ScramServer(mechanism, lookup)

    def step(self, token: bytes) -> bytes:
        try:
            out = self._server.step(token)
        except scram.ScramError as e:
            raise AuthenticationFailed(str(e)) from None
        if self._server.complete:
            self.principal = self._server.principal
        return out


class OAuthBearerServer(ServerMechanism):
    """A valid token authenticates at once (empty reply). An invalid one is answered, as Kafka
    does, with a JSON error challenge; the client must acknowledge it with ``\\x01``, and then the
    exchange fails."""

    mechanism = "OAUTHBEARER"

    def __init__(self, validator) -> None:
        self.validator = validator
        self._failed: str | None = None

    def step(self, token: bytes) -> bytes:
        if self._failed is not None:
            raise AuthenticationFailed(self._failed)
        try:
            authzid, jwt, _ext = oauth.parse_client_response(token)
            t = self.validator.validate(jwt)
            if authzid and authzid != t.principal:
                raise oauth.TokenError("authorization id must equal the token's principal")
        except oauth.TokenError as e:
            self._failed = f"invalid OAUTHBEARER token: {e}"
            return json.dumps({"status": "invalid_token"}).encode()
        self.principal = t.principal
        self.expires_ms = t.expires_ms
        return b""


@dataclass
class ClientCredentials:
    mechanism: str
    username: str | None = None
    password: str | None = None
    token: Callable[[], str] | None = None  # OAUTHBEARER: gives a token


class ClientMechanism:
    """The client's side: ``initial()`` then ``respond(challenge)`` until ``done``."""

    def __init__(self, creds: ClientCredentials) -> None:
        self.creds = creds
        self.mechanism = creds.mechanism.upper()
        self.done = False
        self._state = 0
        if self.mechanism in scram.MECHANISMS:
            self._scram = scram.ScramClient(self.mechanism, creds.username or "", creds.password or "")
        elif self.mechanism not in ("PLAIN", "OAUTHBEARER"):
            raise ValueError(f"unsupported SASL mechanism {creds.mechanism}")

    def initial(self) -> bytes:
        if self.mechanism == "PLAIN":
            self.done = True
            return b"\x00" + (self.creds.username or "").encode() + b"\x00" + (self.creds.password or "").encode()
        if self.mechanism == "OAUTHBEARER":
            if self.creds.token is None:
                raise ValueError("OAUTHBEARER needs a token provider")
            return oauth.client_response(self.creds.token())
        return self._scram.first()

    def respond(self, challenge: bytes) -> bytes | None:
        """The next token to send, or None when the exchange is over on the client's side."""
        if self.mechanism == "OAUTHBEARER":
            if challenge:
                self.done = True
                return b"\x01"  # acknowledge the error challenge; the server then fails us
            self.done = True
            return None
        if self.mechanism == "PLAIN":
            return None
        if self._state == 0:
            self._state = 1
            return self._scram.final(challenge)
        self._scram.verify(challenge)
        self.done = True
        return None
