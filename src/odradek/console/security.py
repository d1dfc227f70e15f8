"""HTTP basic auth from a password file, and CSRF tokens for every changing action.

Password file: one ``user:secret`` a line (``#`` comments). The secret is either the password as
is, or a PBKDF2 hash ``pbkdf2_sha256$ITERATIONS$SALT$HASH`` (salt and hash base64), which
``odradek console --hash-password`` prints. Keep the file readable by the console's user only.

CSRF: the first response sets a random cookie (HttpOnly, SameSite=Lax); forms carry
``HMAC(server secret, cookie)``; a POST is accepted only when the two agree and, if the browser
sent an ``Origin``, it is this console's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from .parsing import InputError

__all__ = ["PasswordFile", "hash_password", "Csrf", "is_loopback"]

PBKDF2_ITERATIONS = 200_000


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _check_secret(secret: str, password: str) -> bool:
    if secret.startswith("pbkdf2_sha256$"):
        try:
            _tag, iterations, salt, digest = secret.split("$")
            want = base64.b64decode(digest, validate=True)
            got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt, validate=True), int(iterations))
        except (ValueError, binascii.Error):
            return False
        return hmac.compare_digest(got, want)
    return hmac.compare_digest(secret.encode(), password.encode())


class PasswordFile:
    """Users and secrets from a password file; checks ``Authorization: Basic`` headers."""

    def __init__(self, users: dict[str, str]) -> None:
        if not users:
            raise InputError("the password file names no user")
        self.users = users
        # successful checks, keyed by a hash of the header, so a PBKDF2 hash is computed once
        self._ok: dict[bytes, str] = {}

    @classmethod
    def load(cls, path: str | Path) -> "PasswordFile":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot read the password file {path}: {e.strerror or e}") from None
        users: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, secret = line.partition(":")
            if not sep or not user or not secret:
                raise InputError(f"{path}: line {n} must be user:password or user:pbkdf2_sha256$...")
            users[user] = secret
        return cls(users)

    def check(self, authorization: str | None) -> str | None:
        """The user an ``Authorization`` header proves, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        key = hashlib.sha256(authorization.encode("utf-8", "replace")).digest()
        known = self._ok.get(key)
        if known is not None:
            return known if known in self.users else None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        secret = self.users.get(user)
        if not sep or secret is None or not _check_secret(secret, password):
            return None
        if len(self._ok) > 1000:
            self._ok.clear()
        self._ok[key] = user
        return user


COOKIE = "odradek_csrf"


class Csrf:
    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def token(self, cookie: str) -> str:
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.token(cookie), token)


def origin_matches(origin: str | None, host: str | None) -> bool:
    """True when no Origin was sent (older browsers, same-origin GET forms) or it names ``host``."""
    if origin is None:
        return True
    if origin == "null" or not host:
        return False
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and scheme in ("http", "https") and rest.rstrip("/") == host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
