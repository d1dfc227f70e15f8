"""OAUTHBEARER token validation (RFC 7628, KIP-255, KIP-768).

Two validators, chosen as Kafka chooses them:

- the *unsecured* one (Kafka's default, for tests): a JWT with ``{"alg":"none"}`` and no signature;
  JAAS options ``unsecuredValidatorPrincipalClaimName`` (``sub``), ``unsecuredValidatorScopeClaimName``
  (``scope``), ``unsecuredValidatorRequiredScope``, ``unsecuredValidatorAllowableClockSkewMs`` (0);
- the *secured* one (``sasl.server.callback.handler.class`` = Kafka's OAuthBearerValidatorCallbackHandler):
  a signed JWT (RS256/384/512, PS256/384/512, ES256/384/512) checked against the keys of a JWKS
  document read from ``sasl.oauthbearer.jwks.endpoint.url`` (a ``file:`` URL: this broker reaches no
  identity provider over the network), with ``sasl.oauthbearer.expected.audience``,
  ``.expected.issuer``, ``.sub.claim.name`` (``sub``), ``.scope.claim.name`` (``scope``),
  ``.clock.skew.seconds`` (30).

A validated token gives the principal and the token's expiry, which bounds the session (KIP-368).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


class TokenError(Exception):
    """An invalid token; the message says why (logged, never sent to the client)."""


@dataclass
class Token:
    principal: str
    expires_ms: int
    scopes: tuple[str, ...]


def _b64(part: str) -> bytes:
    part = part.replace("+", "-").replace("/", "_")  # Kafka decodes leniently (standard alphabet too)
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _split(token: str) -> tuple[dict, dict, bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise TokenError("a JWT has three parts")
    try:
        header = json.loads(_b64(parts[0]))
        payload = json.loads(_b64(parts[1]))
        signature = _b64(parts[2]) if parts[2] else b""
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenError(f"malformed JWT: {e}") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenError("malformed JWT")
    return header, payload, signature, f"{parts[0]}.{parts[1]}".encode()


def _scopes(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise TokenError("malformed scope claim")


def _times(payload: dict, skew_ms: int, now_ms: int) -> int:
    exp = payload.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise TokenError("the token has no numeric exp claim")
    exp_ms = int(exp * 1000)
    if exp_ms + skew_ms <= now_ms:
        raise TokenError("the token has expired")
    nbf = payload.get("nbf")
    if isinstance(nbf, (int, float)) and int(nbf * 1000) - skew_ms > now_ms:
        raise TokenError("the token is not valid yet")
    iat = payload.get("iat")
    if iat is not None and not isinstance(iat, (int, float)):
        raise TokenError("malformed iat claim")
    return exp_ms


class UnsecuredValidator:
    def __init__(self, options: dict[str, str]) -> None:
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName", "sub")
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName", "scope")
        self.required = tuple(s for s in options.get("unsecuredValidatorRequiredScope", "").replace(",", " ").split() if s)
        self.skew_ms = int(options.get("unsecuredValidatorAllowableClockSkewMs", "0"))

    def validate(self, token: str, now_ms: int | None = None) -> Token:
        header, payload, signature, _ = _split(token)
        if header.get("alg") != "none" or signature:
            raise TokenError("the unsecured validator takes only unsigned tokens (alg none)")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        exp_ms = _times(payload, self.skew_ms, now_ms)
        principal = payload.get(self.principal_claim)
        if not isinstance(principal, str) or not principal:
            raise TokenError(f"the token has no {self.principal_claim} claim")
        scopes = _scopes(payload.get(self.scope_claim))
        missing = [s for s in self.required if s not in scopes]
        if missing:
            raise TokenError(f"the token lacks the required scope {missing}")
        return Token(principal, exp_ms, scopes)


_HASHES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}


def _public_key(jwk: dict):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    kty = jwk.get("kty")
    if kty == "RSA":
        n = int.from_bytes(_b64(jwk["n"]), "big")
        e = int.from_bytes(_b64(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC":
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        curve = curves.get(jwk.get("crv"))
        if curve is None:
            raise TokenError(f"unsupported EC curve {jwk.get('crv')}")
        x = int.from_bytes(_b64(jwk["x"]), "big")
        y = int.from_bytes(_b64(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    raise TokenError(f"unsupported key type {kty}")


def _verify(alg: str, key, signature: bytes, signed: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    if len(alg) != 5 or alg[2:] not in _HASHES:
        raise TokenError(f"unsupported JWT algorithm {alg}")
    h = getattr(hashes, _HASHES[alg[2:]])()
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), h)
        elif alg.startswith("PS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        elif alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(signature) // 2
            if half == 0 or len(signature) % 2:
                raise TokenError("malformed EC signature")
            der = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
            key.verify(der, signed, ec.ECDSA(h))
        else:
            raise TokenError(f"algorithm {alg} does not fit the key")
    except InvalidSignature:
        raise TokenError("bad signature") from None


class JwksValidator:
    """Signed JWTs, checked against the keys of a local JWKS document (re-read when it changes)."""

    def __init__(self, jwks_url: str, *, audience: list[str] | None = None, issuer: str | None = None,
                 sub_claim: str = "sub", scope_claim: str = "scope", skew_s: int = 30) -> None:
        url = urlparse(jwks_url)
        if url.scheme != "file":
            raise ValueError(f"sasl.oauthbearer.jwks.endpoint.url={jwks_url}: only file: URLs are supported "
                             "(the broker fetches no keys over the network)")
        self.path = Path(unquote(url.path))
        self.audience = [a for a in (audience or []) if a]
        self.issuer = issuer or None
        self.sub_claim = sub_claim
        self.scope_claim = scope_claim
        self.skew_ms = skew_s * 1000
        self._keys: dict[str | None, list[tuple[str | None, object]]] = {}
        self._mtime = -1.0
        self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as e:
            raise TokenError(f"cannot read the JWKS file: {e}") from None
        if mtime == self._mtime:
            return
        doc = json.loads(self.path.read_text())
        keys: dict[str | None, list[tuple[str | None, object]]] = {}
        for jwk in doc.get("keys", []):
            if jwk.get("use", "sig") != "sig":
                continue
            try:
                key = _public_key(jwk)
            except (TokenError, KeyError, ValueError):
                continue
            keys.setdefault(jwk.get("kid"), []).append((jwk.get("alg"), key))
        self._keys = keys
        self._mtime = mtime

    def validate(self, token: str, now_ms: int | None = None) -> Token:
        header, payload, signature, signed = _split(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg == "none" or not signature:
            raise TokenError("the token is not signed")
        self._load()
        kid = header.get("kid")
        candidates = self._keys.get(kid) if kid is not None else [k for ks in self._keys.values() for k in ks]
        if not candidates:
            raise TokenError(f"no key {kid!r} in the JWKS")
        last: TokenError | None = None
        for key_alg, key in candidates:
            if key_alg is not None and key_alg != alg:
                continue
            try:
                _verify(alg, key, signature, signed)
                break
            except TokenError as e:
                last = e
        else:
            raise last or TokenError("no key matches the token's algorithm")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        exp_ms = _times(payload, self.skew_ms, now_ms)
        if self.issuer is not None and payload.get("iss") != self.issuer:
            raise TokenError("unexpected issuer")
        if self.audience:
            aud = payload.get("aud")
            auds = [aud] if isinstance(aud, str) else list(aud or [])
            if not any(a in self.audience for a in auds):
                raise TokenError("unexpected audience")
        principal = payload.get(self.sub_claim)
        if not isinstance(principal, str) or not principal:
            raise TokenError(f"the token has no {self.sub_claim} claim")
        return Token(principal, exp_ms, _scopes(payload.get(self.scope_claim)))


def parse_client_response(data: bytes) -> tuple[str, str, dict[str, str]]:
    """(authzid, token, extensions) of an OAUTHBEARER client initial response
    ``n,[a=authzid],\\x01auth=Bearer <token>\\x01[key=value\\x01]*\\x01``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError("the response is not UTF-8") from None
    if not text.startswith("n,"):
        raise TokenError("malformed OAUTHBEARER response")
    gs2_end = text.find(",", 2)
    if gs2_end < 0:
        raise TokenError("malformed OAUTHBEARER response")
    authz = text[2:gs2_end]
    if authz and not authz.startswith("a="):
        raise TokenError("malformed authorization identity")
    rest = text[gs2_end + 1 :]
    if not rest.startswith("\x01") or not rest.endswith("\x01\x01"):
        raise TokenError("malformed OAUTHBEARER response")
    kv: dict[str, str] = {}
    for item in rest.strip("\x01").split("\x01"):
        if "=" not in item:
            raise TokenError("malformed OAUTHBEARER key/value")
        k, v = item.split("=", 1)
        kv[k] = v
    auth = kv.pop("auth", "")
    if not auth.lower().startswith("bearer "):
        raise TokenError("no bearer token")
    return authz[2:], auth[7:].strip(), kv


def client_response(token: str, extensions: dict[str, str] | None = None) -> bytes:
    ext = "".join(f"{k}={v}\x01" for k, v in (extensions or {}).items())
    return f"n,,\x01auth=Bearer {token}\x01{ext}\x01".encode()


def unsecured_token(principal: str, lifetime_s: int = 3600, scope: list[str] | None = None, now: float | None = None) -> str:
    """An unsigned token as librdkafka's and Java's unsecured login modules make them (for tests)."""
    now = time.time() if now is None else now
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    claims = {"sub": principal, "iat": now, "exp": now + lifetime_s}
    if scope:
        claims["scope"] = " ".join(scope)
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{payload}."
