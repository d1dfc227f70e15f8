"""How the client secures its connections: TLS and SASL, as Kafka's clients configure them.

Two ways to say it, for :class:`~odradek.client.Producer`, :class:`~odradek.client.Consumer` and
:class:`~odradek.client.Admin` alike:

- keyword arguments, named as kafka-python and aiokafka name them::

      Producer("127.0.0.1:9094", security_protocol="SASL_SSL", ssl_cafile="ca.pem",
               sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice", sasl_plain_password="s3cret")

- Kafka's own client property names, in a dict (what ``--command-config`` files hold)::

      Producer("127.0.0.1:9094", security_config={
          "security.protocol": "SASL_SSL",
          "ssl.truststore.type": "PEM", "ssl.truststore.location": "ca.pem",
          "sasl.mechanism": "SCRAM-SHA-512",
          "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                              'username="alice" password="s3cret";'})

  Every ``ssl.*`` key Kafka's clients take for PEM and PKCS12 stores works (JKS has no reader
  here); librdkafka's names (``ssl.ca.location``, ``ssl.certificate.location``,
  ``ssl.key.location``, ``sasl.mechanisms``, ``sasl.username``, ``sasl.password``) are accepted
  too. OAUTHBEARER takes ``OAuthBearerLoginModule`` with ``unsecuredLoginStringClaim_sub`` (an
  unsigned token, for tests) or ``sasl.oauthbearer.token.endpoint.url=file:...`` (a token read
  from a file, re-read at every login), as Kafka's Java client does.

Mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (``sasl_oauth_token_provider``: a
function returning a token string, or an object with a ``token()`` method). The client
authenticates with SaslHandshake v1 and SaslAuthenticate, and logs in again on the same
connection before the session the broker gave runs out (KIP-368).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..security import jaas, oauth, tls
from ..security.sasl import MECHANISMS, ClientCredentials

__all__ = ["SecurityConfig", "PROTOCOLS", "MECHANISMS", "properties_from_file"]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

#: The keyword arguments :meth:`SecurityConfig.build` takes (and the clients pass on).
KEYWORDS = (
    "security_protocol", "ssl_context", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password",
    "ssl_check_hostname", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password",
    "sasl_oauth_token_provider", "security_config",
)

# librdkafka's names for the same things
_LIBRDKAFKA = {
    "ssl.ca.location": "ssl.truststore.location",
    "ssl.certificate.location": None,  # combined with ssl.key.location below
    "sasl.mechanisms": "sasl.mechanism",
}


class SecurityConfigError(ValueError):
    """A security setting that cannot work; the message names it."""


@dataclass
class SecurityConfig:
    security_protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str = "PLAIN"
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    sasl_oauth_token_provider: Any = None
    _settings: dict[str, str] = field(default_factory=dict, repr=False)

    # --- building ---------------------------------------------------------------------------------

    @classmethod
    def build(cls, *, security_protocol: str | None = None, ssl_context: ssl.SSLContext | None = None,
              ssl_cafile: str | None = None, ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
              ssl_password: str | None = None, ssl_check_hostname: bool | None = None,
              sasl_mechanism: str | None = None, sasl_plain_username: str | None = None,
              sasl_plain_password: str | None = None, sasl_oauth_token_provider: Any = None,
              security_config: Mapping[str, Any] | None = None) -> "SecurityConfig":
        """From keyword arguments and/or a dict of Kafka client properties (keywords win)."""
        out = cls.from_properties(security_config or {})
        if security_protocol is not None:
            out.security_protocol = str(security_protocol).upper()
        s = out._settings
        if ssl_cafile is not None:
            s["ssl.truststore.type"], s["ssl.truststore.location"] = "PEM", str(ssl_cafile)
        if ssl_certfile is not None:
            s["_certfile"] = str(ssl_certfile)
        if ssl_keyfile is not None:
            s["_keyfile"] = str(ssl_keyfile)
        if ssl_password is not None:
            s["ssl.key.password"] = ssl_password
        if ssl_check_hostname is not None:
            s["ssl.endpoint.identification.algorithm"] = "https" if ssl_check_hostname else ""
        if ssl_context is not None:
            out.ssl_context = ssl_context
        if sasl_mechanism is not None:
            out.sasl_mechanism = str(sasl_mechanism).upper()
        if sasl_plain_username is not None:
            out.sasl_plain_username = sasl_plain_username
        if sasl_plain_password is not None:
            out.sasl_plain_password = sasl_plain_password
        if sasl_oauth_token_provider is not None:
            out.sasl_oauth_token_provider = sasl_oauth_token_provider
        out.validate()
        return out

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> "SecurityConfig":
        """From Kafka's client property names (and librdkafka's)."""
        p = {str(k).strip(): ("" if v is None else str(v)) for k, v in props.items()}
        for lib, kafka in _LIBRDKAFKA.items():
            if lib in p and kafka and kafka not in p:
                p[kafka] = p[lib]
        out = cls()
        out.security_protocol = (p.get("security.protocol") or "PLAINTEXT").strip().upper()
        settings = {k: v for k, v in p.items() if k.startswith("ssl.")}
        if "ssl.ca.location" in p and "ssl.truststore.type" not in p:
            settings["ssl.truststore.type"] = "PEM"
        if "ssl.certificate.location" in p:
            settings["_certfile"] = p["ssl.certificate.location"]
        if "ssl.key.location" in p:
            settings["_keyfile"] = p["ssl.key.location"]
        out._settings = settings
        mech = p.get("sasl.mechanism")
        if mech:
            out.sasl_mechanism = mech.strip().upper()
        out.sasl_plain_username = p.get("sasl.username") or None
        out.sasl_plain_password = p.get("sasl.password") or None
        conf = p.get("sasl.jaas.config")
        if conf:
            try:
                entries = jaas.parse(conf)
            except jaas.JaasError as e:
                raise SecurityConfigError(f"sasl.jaas.config: {e}") from None
            opts = entries[0].options
            if "username" in opts:
                out.sasl_plain_username = opts["username"]
            if "password" in opts:
                out.sasl_plain_password = opts["password"]
            if out.sasl_mechanism == "OAUTHBEARER" and "unsecuredLoginStringClaim_sub" in opts:
                out.sasl_oauth_token_provider = _UnsecuredLogin(opts)
        url = p.get("sasl.oauthbearer.token.endpoint.url")
        if url and out.sasl_mechanism == "OAUTHBEARER":
            out.sasl_oauth_token_provider = _FileToken(url)
        return out

    def validate(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise SecurityConfigError(f"security_protocol={self.security_protocol}: expected one of {', '.join(PROTOCOLS)}")
        if self.sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise SecurityConfigError(f"sasl_mechanism={self.sasl_mechanism}: Odradek's client supports "
                                          f"{', '.join(MECHANISMS)} (GSSAPI/Kerberos is not supported)")
            if self.sasl_mechanism == "OAUTHBEARER":
                if self.sasl_oauth_token_provider is None:
                    raise SecurityConfigError("OAUTHBEARER needs a token: sasl_oauth_token_provider, or "
                                              "sasl.oauthbearer.token.endpoint.url=file:..., or an unsecured "
                                              "OAuthBearerLoginModule with unsecuredLoginStringClaim_sub")
            elif not self.sasl_plain_username or self.sasl_plain_password is None:
                raise SecurityConfigError(f"{self.sasl_mechanism} needs a user name and a password "
                                          "(sasl_plain_username/sasl_plain_password, or username/password in sasl.jaas.config)")
        if self.tls and self.ssl_context is None:
            self.ssl_context = self._make_context()

    # --- what connections use ---------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl(self) -> ssl.SSLContext | None:
        return self.ssl_context if self.tls else None

    def credentials(self) -> ClientCredentials | None:
        if not self.sasl:
            return None
        token = None
        if self.sasl_mechanism == "OAUTHBEARER":
            provider = self.sasl_oauth_token_provider
            token = provider.token if hasattr(provider, "token") and callable(provider.token) else provider
        return ClientCredentials(self.sasl_mechanism, self.sasl_plain_username, self.sasl_plain_password, token)

    def _make_context(self) -> ssl.SSLContext:
        s = dict(self._settings)
        certfile, keyfile = s.pop("_certfile", None), s.pop("_keyfile", None)
        try:
            ctx = tls.client_context(tls.Settings(s.get))
            if certfile or keyfile:
                ctx.load_cert_chain(certfile or keyfile, keyfile, password=s.get("ssl.key.password") or None)
        except tls.TlsConfigError as e:
            raise SecurityConfigError(str(e)) from None
        except (OSError, ssl.SSLError) as e:
            raise SecurityConfigError(f"cannot load the client certificate: {e}") from None
        return ctx


class _UnsecuredLogin:
    """Java's unsecured OAUTHBEARER login: an unsigned token for ``unsecuredLoginStringClaim_sub``,
    valid ``unsecuredLoginLifetimeSeconds`` (3600)."""

    def __init__(self, opts: Mapping[str, str]) -> None:
        self.principal = opts["unsecuredLoginStringClaim_sub"]
        self.lifetime = int(opts.get("unsecuredLoginLifetimeSeconds", "3600"))
        scope = opts.get("unsecuredLoginListClaim_scope")
        self.scope = [s for s in scope.split(scope[0])[1:] if s] if scope else None

    def token(self) -> str:
        return oauth.unsecured_token(self.principal, self.lifetime, self.scope)


class _FileToken:
    """``sasl.oauthbearer.token.endpoint.url=file:<path>``: the token is the file's content."""

    def __init__(self, url: str) -> None:
        u = urlparse(url)
        if u.scheme != "file":
            raise SecurityConfigError(f"sasl.oauthbearer.token.endpoint.url={url}: Odradek's client reads tokens "
                                      "from file: URLs only (it talks to no identity provider)")
        self.path = Path(unquote(u.path))

    def token(self) -> str:
        return self.path.read_text().strip()


def properties_from_file(path: str | Path) -> dict[str, str]:
    """A Java properties file (``key=value`` or ``key: value``, ``#``/``!`` comments, lines
    continued with a trailing backslash), as Kafka's ``--command-config`` reads it."""
    out: dict[str, str] = {}
    pending = ""
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip() if not pending else raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        key, value = _split_property(line)
        out[key] = value
    if pending:
        key, value = _split_property(pending)
        out[key] = value
    return out


def _split_property(line: str) -> tuple[str, str]:
    for i, ch in enumerate(line):
        if ch in "=:":
            return line[:i].strip(), line[i + 1:].strip()
        if ch.isspace():
            rest = line[i:].lstrip()
            if rest[:1] in ("=", ":"):
                rest = rest[1:].lstrip()
            return line[:i], rest
    return line, ""


def from_client_kwargs(kwargs: dict[str, Any]) -> SecurityConfig:
    """The security settings among a client constructor's extra keyword arguments; anything else
    is a TypeError, as an unknown keyword would be."""
    unknown = sorted(set(kwargs) - set(KEYWORDS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    return SecurityConfig.build(**kwargs)


TokenProvider = Callable[[], str]
