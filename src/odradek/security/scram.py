"""SCRAM (RFC 5802, RFC 7677) as Kafka does it: credentials, and the server and client exchanges.

Kafka applies no SASLprep: the password's UTF-8 bytes are hashed (ScramFormatter.normalize).
Credentials are stored as Kafka stores them in ZooKeeper (``salt=<b64>,stored_key=<b64>,
server_key=<b64>,iterations=<n>``). The server accepts a client-final nonce that merely *ends
with* the combined nonce (librdkafka before 2.6.1 sends the client nonce twice; Kafka 3.8.1+
accepts it too) and computes the AuthMessage from the bytes it received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass

MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECHANISM_CODES = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}  # DescribeUserScramCredentials
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384


class ScramError(Exception):
    """An exchange that cannot succeed: the connection fails authentication."""


@dataclass(frozen=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_kafka(self) -> str:
        b64 = base64.b64encode
        return (f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
                f"server_key={b64(self.server_key).decode()},iterations={self.iterations}")

    @classmethod
    def from_kafka(cls, text: str) -> "ScramCredential":
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        try:
            return cls(base64.b64decode(fields["salt"]), base64.b64decode(fields["stored_key"]),
                       base64.b64decode(fields["server_key"]), int(fields["iterations"]))
        except (KeyError, ValueError) as e:
            raise ValueError(f"malformed SCRAM credential: {e}") from None


def _h(algo: str):
    return getattr(hashlib, algo)


def _hmac(algo: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, algo).digest()


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(MECHANISMS[mechanism], password.encode("utf-8"), salt, iterations)


def credential_from_salted(mechanism: str, salted: bytes, salt: bytes, iterations: int) -> ScramCredential:
    algo = MECHANISMS[mechanism]
    client_key = _hmac(algo, salted, b"Client Key")
    return ScramCredential(salt, _h(algo)(client_key).digest(), _hmac(algo, salted, b"Server Key"), iterations)


def make_credential(mechanism: str, password: str, iterations: int = MIN_ITERATIONS, salt: bytes | None = None) -> ScramCredential:
    salt = salt if salt is not None else os.urandom(32)
    return credential_from_salted(mechanism, salted_password(mechanism, password, salt, iterations), salt, iterations)


def _parse_attrs(msg: str) -> list[tuple[str, str]]:
    out = []
    for part in msg.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError("malformed SCRAM message")
        out.append((part[0], part[2:]))
    return out


def _saslname(name: str) -> str:
    """Decode a SCRAM saslname (``=2C`` is ',' and ``=3D`` is '='; any other '=' is invalid)."""
    if re.search(r"=(?!2C|3D)", name):
        raise ScramError("invalid user name encoding")
    return name.replace("=2C", ",").replace("=3D", "=")


def encode_saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramServer:
    """The broker's side of one SCRAM exchange. ``lookup(user)`` gives the user's credential for
    this mechanism, or None. ``step`` takes each client message and returns the reply; after the
    second step ``principal`` is set (the exchange succeeded) or ScramError was raised."""

    def __init__(self, mechanism: str, lookup) -> None:
        self.mechanism = mechanism
        self.algo = MECHANISMS[mechanism]
        self.lookup = lookup
        self.state = 0
        self.principal: str | None = None
        self.token_auth = False

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def step(self, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("SCRAM message is not UTF-8") from None
        if self.state == 0:
            return self._first(text)
        if self.state == 1:
            return self._final(text)
        raise ScramError("unexpected SCRAM message after the exchange")

    def _first(self, text: str) -> bytes:
        # gs2-header: "n," [ "a=" authzid ] "," ; then client-first-bare
        m = re.match(r"^([nyp][^,]*),(a=[^,]*)?,(.*)$", text, re.S)
        if not m or m.group(1) != "n":
            raise ScramError("SCRAM channel binding is not supported")
        bare = m.group(3)
        attrs = _parse_attrs(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r":
            raise ScramError("malformed client-first message")
        user = _saslname(attrs[0][1])
        authzid = _saslname(m.group(2)[2:]) if m.group(2) else ""
        if authzid and authzid != user:
            raise ScramError("authorization id must equal the user")
        extensions = dict(attrs[2:])
        if extensions.get("tokenauth", "").lower() == "true":
            raise ScramError("delegation tokens are not supported")
        client_nonce = attrs[1][1]
        if not user or not client_nonce:
            raise ScramError("empty user or nonce")
        cred = self.lookup(user)
        if cred is None or cred.iterations < MIN_ITERATIONS:
            raise ScramError("unknown user")
        self.user = user
        self.cred = cred
        self.nonce = client_nonce + _server_nonce()
        self.client_first_bare = bare
        self.server_first = f"r={self.nonce},s={base64.b64encode(cred.salt).decode()},i={cred.iterations}"
        self.state = 1
        return self.server_first.encode()

    def _final(self, text: str) -> bytes:
        idx = text.rfind(",p=")
        if idx < 0:
            raise ScramError("client-final message without proof")
        without_proof = text[:idx]
        attrs = _parse_attrs(without_proof)
        values = dict(attrs)
        if attrs[0][0] != "c" or "r" not in values:
            raise ScramError("malformed client-final message")
        if not values["r"].endswith(self.nonce):
            raise ScramError("nonce mismatch")
        try:
            proof = base64.b64decode(text[idx + 3 :], validate=True)
        except ValueError:
            raise ScramError("malformed proof") from None
        algo = self.algo
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        client_signature = _hmac(algo, self.cred.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise ScramError("invalid proof")
        client_key = bytes(a ^ b for a, b in zip(client_signature, proof))
        if not hmac.compare_digest(_h(algo)(client_key).digest(), self.cred.stored_key):
            raise ScramError("invalid credentials")
        server_signature = _hmac(algo, self.cred.server_key, auth_message)
        self.principal = self.user
        self.state = 2
        return b"v=" + base64.b64encode(server_signature)


def _server_nonce() -> str:
    """Base 36 of 130 random bits, as Kafka's server nonce."""
    n = secrets.randbits(130)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


class ScramClient:
    """The client's side: ``first()``, then ``final(server_first)``, then ``verify(server_final)``."""

    def __init__(self, mechanism: str, user: str, password: str) -> None:
        self.mechanism = mechanism
        self.algo = MECHANISMS[mechanism]
        self.user = user
        self.password = password
        self.nonce = base64.b64encode(os.urandom(24)).decode().rstrip("=")

    def first(self) -> bytes:
        self.client_first_bare = f"n={encode_saslname(self.user)},r={self.nonce}"
        return ("n,," + self.client_first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        values = dict(_parse_attrs(text))
        nonce, salt, iterations = values["r"], base64.b64decode(values["s"]), int(values["i"])
        if not nonce.startswith(self.nonce) or iterations < MIN_ITERATIONS:
            raise ScramError("bad server-first message")
        salted = salted_password(self.mechanism, self.password, salt, iterations)
        algo = self.algo
        client_key = _hmac(algo, salted, b"Client Key")
        stored_key = _h(algo)(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.client_first_bare},{text},{without_proof}".encode()
        signature = _hmac(algo, stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.expected = _hmac(algo, _hmac(algo, salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        text = server_final.decode()
        values = dict(_parse_attrs(text))
        if "e" in values:
            raise ScramError(f"server error: {values['e']}")
        if base64.b64decode(values.get("v", "")) != self.expected:
            raise ScramError("server signature mismatch")
