"""TLS for listeners and for clients, from Kafka's ``ssl.*`` settings, and the principal a client
certificate gives.

Keystores and truststores: ``PEM`` (a file at ``ssl.keystore.location`` holding a PKCS#8 private
key and the certificate chain, or inline ``ssl.keystore.key`` + ``ssl.keystore.certificate.chain``;
truststore file or inline ``ssl.truststore.certificates``) and ``PKCS12``. JKS has no reader here
and is refused with a message saying so. ``ssl.client.auth`` none/requested/required,
``ssl.enabled.protocols`` (a contiguous range of TLSv1.2/TLSv1.3), ``ssl.cipher.suites`` (IANA names
of TLS 1.2 suites; Python cannot restrict TLS 1.3 suites, so naming one is refused),
``ssl.endpoint.identification.algorithm`` (``https`` checks the host name; empty does not).

The principal of an SSL connection is ``User:<subject DN>`` (RFC 2253, most specific first, as
Java prints it), mapped by ``ssl.principal.mapping.rules``; ``User:ANONYMOUS`` without a client
certificate.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from typing import Callable

ANONYMOUS = "User:ANONYMOUS"
PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TlsConfigError(ValueError):
    pass


# IANA -> OpenSSL names of the TLS 1.2 suites people configure
_IANA = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
          "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}


@dataclass
class Settings:
    """The ssl.* settings of one listener (or one client), looked up by name."""

    get: Callable[[str], str | None]

    def value(self, key: str, default: str | None = None) -> str | None:
        v = self.get(key)
        return default if v is None or str(v).strip() == "" else str(v)


def _temp_pem(data: str) -> str:
    fd, path = tempfile.mkstemp(prefix="odradek-", suffix=".pem")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


def _pkcs12(path: str, password: str | None):
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        with open(path, "rb") as f:
            return pkcs12.load_key_and_certificates(f.read(), password.encode() if password else None)
    except (OSError, ValueError) as e:
        raise TlsConfigError(f"cannot read the PKCS12 store {path}: {e}") from None


def _pem_of(key, certs) -> str:
    from cryptography.hazmat.primitives import serialization

    out = ""
    if key is not None:
        out += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    for c in certs:
        out += c.public_bytes(serialization.Encoding.PEM).decode()
    return out


def _load_keystore(ctx: ssl.SSLContext, s: Settings, required: bool) -> bool:
    kind = (s.value("ssl.keystore.type", "JKS") or "JKS").upper()
    location = s.value("ssl.keystore.location")
    inline_key = s.value("ssl.keystore.key")
    inline_chain = s.value("ssl.keystore.certificate.chain")
    if not location and not inline_key:
        if required:
            raise TlsConfigError("a TLS listener needs a keystore: ssl.keystore.location, or ssl.keystore.key "
                                 "and ssl.keystore.certificate.chain (ssl.keystore.type=PEM)")
        return False
    if kind == "JKS":
        raise TlsConfigError("ssl.keystore.type=JKS is not supported: use PKCS12 or PEM")
    password = s.value("ssl.key.password") or (s.value("ssl.keystore.password") if kind == "PKCS12" else None)
    cleanup = []
    try:
        if kind == "PEM":
            if inline_key:
                if not inline_chain:
                    raise TlsConfigError("ssl.keystore.key needs ssl.keystore.certificate.chain")
                path = _temp_pem(inline_key.strip() + "\n" + inline_chain.strip() + "\n")
                cleanup.append(path)
            else:
                path = location
            try:
                ctx.load_cert_chain(path, path, password=s.value("ssl.key.password"))
            except (OSError, ssl.SSLError) as e:
                raise TlsConfigError(f"cannot load the PEM keystore: {e}") from None
        elif kind == "PKCS12":
            key, cert, extra = _pkcs12(location, s.value("ssl.keystore.password"))
            if key is None or cert is None:
                raise TlsConfigError(f"the PKCS12 keystore {location} holds no key and certificate")
            path = _temp_pem(_pem_of(key, [cert, *extra]))
            cleanup.append(path)
            ctx.load_cert_chain(path)
        else:
            raise TlsConfigError(f"ssl.keystore.type={kind} is not supported: use PKCS12 or PEM")
    finally:
        for p in cleanup:
            os.unlink(p)
    del password
    return True


def _load_truststore(ctx: ssl.SSLContext, s: Settings) -> bool:
    kind = (s.value("ssl.truststore.type", "JKS") or "JKS").upper()
    location = s.value("ssl.truststore.location")
    inline = s.value("ssl.truststore.certificates")
    if not location and not inline:
        return False
    if kind == "JKS":
        raise TlsConfigError("ssl.truststore.type=JKS is not supported: use PKCS12 or PEM")
    try:
        if kind == "PEM":
            if inline:
                ctx.load_verify_locations(cadata=inline)
            else:
                ctx.load_verify_locations(cafile=location)
        elif kind == "PKCS12":
            from cryptography.hazmat.primitives.serialization import pkcs12

            with open(location, "rb") as f:
                store = pkcs12.load_pkcs12(f.read(), (s.value("ssl.truststore.password") or "").encode() or None)
            certs = [c.certificate for c in store.additional_certs]
            if store.cert is not None:
                certs.append(store.cert.certificate)
            if not certs:
                raise TlsConfigError(f"the PKCS12 truststore {location} holds no certificate")
            ctx.load_verify_locations(cadata=_pem_of(None, certs))
        else:
            raise TlsConfigError(f"ssl.truststore.type={kind} is not supported: use PKCS12 or PEM")
    except (OSError, ssl.SSLError, ValueError) as e:
        if isinstance(e, TlsConfigError):
            raise
        raise TlsConfigError(f"cannot load the truststore: {e}") from None
    return True


def _protocols(ctx: ssl.SSLContext, s: Settings) -> None:
    enabled = [p.strip() for p in (s.value("ssl.enabled.protocols", "TLSv1.2,TLSv1.3") or "").split(",") if p.strip()]
    unknown = [p for p in enabled if p not in PROTOCOLS]
    if unknown or not enabled:
        raise TlsConfigError(f"ssl.enabled.protocols={','.join(enabled)}: Odradek supports TLSv1.2 and TLSv1.3")
    versions = sorted(PROTOCOLS[p] for p in enabled)
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]


def _ciphers(ctx: ssl.SSLContext, s: Settings) -> None:
    suites = [c.strip() for c in (s.value("ssl.cipher.suites", "") or "").split(",") if c.strip()]
    if not suites:
        return
    tls13 = [c for c in suites if c in _TLS13]
    if tls13:
        raise TlsConfigError(f"ssl.cipher.suites names TLS 1.3 suites ({', '.join(tls13)}), which Odradek cannot restrict")
    unknown = [c for c in suites if c not in _IANA]
    if unknown:
        raise TlsConfigError(f"ssl.cipher.suites: unknown or unsupported suites {', '.join(unknown)}")
    ctx.set_ciphers(":".join(_IANA[c] for c in suites))


def server_context(s: Settings, *, client_auth_key: str = "ssl.client.auth") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    _protocols(ctx, s)
    _ciphers(ctx, s)
    _load_keystore(ctx, s, required=True)
    trusted = _load_truststore(ctx, s)
    auth = (s.value(client_auth_key, "none") or "none").lower()
    if auth not in ("none", "requested", "required"):
        raise TlsConfigError(f"{client_auth_key}={auth}: expected none, requested or required")
    if auth != "none":
        if not trusted:
            raise TlsConfigError(f"{client_auth_key}={auth} needs a truststore to check client certificates against")
        ctx.verify_mode = ssl.CERT_REQUIRED if auth == "required" else ssl.CERT_OPTIONAL
    return ctx


def client_context(s: Settings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _protocols(ctx, s)
    _ciphers(ctx, s)
    if not _load_truststore(ctx, s):
        ctx.load_default_certs()
    _load_keystore(ctx, s, required=False)
    # unset means https; an empty value turns the host name check off (Kafka's way to disable it)
    raw = s.get("ssl.endpoint.identification.algorithm")
    algo = "https" if raw is None else str(raw).strip()
    ctx.check_hostname = algo.lower() == "https"
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# --- principals -------------------------------------------------------------------------------

def subject_dn(der: bytes) -> str:
    """The certificate's subject as Java's X500Principal.getName() (RFC 2253) prints it."""
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


@dataclass
class _Rule:
    pattern: re.Pattern | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""


def parse_mapping_rules(text: str | None) -> list[_Rule]:
    """``ssl.principal.mapping.rules``: ``DEFAULT`` or ``RULE:<regex>/<replacement>/[L|U]``, comma separated."""
    text = (text or "DEFAULT").strip()
    rules: list[_Rule] = []
    pos = 0
    while pos < len(text):
        if text.startswith("DEFAULT", pos):
            rules.append(_Rule(None))
            pos += len("DEFAULT")
        elif text.startswith("RULE:", pos):
            m = re.compile(r"RULE:((?:[^/\\]|\\.)*)/((?:[^/\\]|\\.)*)/([LU]?)").match(text, pos)
            if not m:
                raise TlsConfigError(f"ssl.principal.mapping.rules: malformed rule at {text[pos:pos + 30]!r}")
            replacement = re.sub(r"\$(\d+)", r"\\g<\1>", m.group(2))
            try:
                rules.append(_Rule(re.compile(m.group(1)), replacement, m.group(3)))
            except re.error as e:
                raise TlsConfigError(f"ssl.principal.mapping.rules: bad regex {m.group(1)!r}: {e}") from None
            pos = m.end()
        else:
            raise TlsConfigError(f"ssl.principal.mapping.rules: expected DEFAULT or RULE: at {text[pos:pos + 30]!r}")
        while pos < len(text) and text[pos] in ", \t":
            pos += 1
    return rules


def map_principal(dn: str, rules: list[_Rule]) -> str:
    """The principal name for ``dn``; raises TlsConfigError when no rule matches (Kafka refuses
    the connection then)."""
    for rule in rules:
        if rule.pattern is None:
            return dn
        if rule.pattern.fullmatch(dn):
            try:
                out = rule.pattern.sub(rule.replacement, dn)
            except (re.error, IndexError):
                out = dn
            if rule.case == "L":
                out = out.lower()
            elif rule.case == "U":
                out = out.upper()
            return out
    raise TlsConfigError(f"no ssl.principal.mapping.rules rule matches {dn!r}")
