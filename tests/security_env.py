"""A secured Odradek broker for the end-to-end security tests, and what clients need to reach it.

:class:`SecureBroker` is one ``odradek serve`` with six listeners on free loopback ports:

========== ============== ===============================================================
name       protocol       what it is for
========== ============== ===============================================================
PLAINTEXT  PLAINTEXT      the operator's way in (ANONYMOUS), and the inter-broker listener
SASL_SSL   SASL_SSL       SCRAM-SHA-512/256 (users in the metadata store), PLAIN (JAAS
                          ``user_bob``), OAUTHBEARER with unsigned tokens
SSL        SSL            ``ssl.client.auth=required``; principals from the certificate
                          subject through ``ssl.principal.mapping.rules``
SASL_PLAIN SASL_PLAINTEXT the same mechanisms without TLS
JWT        SASL_SSL       OAUTHBEARER with signed JWTs checked against a JWKS file
REAUTH     SASL_SSL       SCRAM-SHA-512 with ``connections.max.reauth.ms`` (KIP-368)
========== ============== ===============================================================

The authorizer is on (``super.users=User:admin``, ``allow.everyone.if.no.acl.found=true``), so
ACL tools work and principals are observable. The users (``admin``, ``alice``) are written
before the broker starts with ``odradek user create --log-dir`` (the offline bootstrap), and the
certificates come from :mod:`tls_certs`: a CA, the broker's (SAN 127.0.0.1 and localhost), and
client certificates for ``CN=alice,OU=eng,O=Org,C=US`` (mapped to ``alice``) and
``CN=bob,OU=ops,O=Org,C=US`` (no rule matches: ``DEFAULT`` keeps the DN).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT, BrokerProcess, free_port, port_open, wait_for
from tls_certs import CA

PASSWORDS = {"admin": "admin-secret", "alice": "alice-secret"}
PLAIN_USERS = {"bob": "bob-secret"}
JWT_AUDIENCE = "odradek-test"
JWT_ISSUER = "https://issuer.odradek.test"
MAPPING_RULES = "RULE:^CN=([a-z]+),OU=eng,O=Org,C=US$/$1/L,DEFAULT"
ALICE_DN = "CN=alice,OU=eng,O=Org,C=US"
BOB_DN = "CN=bob,OU=ops,O=Org,C=US"
REAUTH_MS = 3000
PLAIN_JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required " + " ".join(
    f'user_{u}="{p}"' for u, p in PLAIN_USERS.items()) + ";"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


def odradek_cli(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``odradek ARGS`` from this worktree's sources."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "odradek", *args], capture_output=True, text=True, timeout=timeout,
                          input=input, env=env, cwd=str(ROOT))


class JwtIssuer:
    """An RSA key, its JWKS file, and signed tokens (RS256) as an identity provider would issue."""

    def __init__(self, root: Path, kid: str = "odradek-test-key") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        nums = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
               "n": _b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")), "e": _b64u(nums.e.to_bytes(3, "big"))}
        self.jwks = Path(root) / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [jwk]}))

    def token(self, sub: str, *, lifetime_s: int = 3600, audience: str = JWT_AUDIENCE, issuer: str = JWT_ISSUER,
              key=None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        claims = {"sub": sub, "iat": now, "exp": now + lifetime_s, "aud": audience, "iss": issuer, "scope": "kafka"}
        signing = f"{_b64u(json.dumps(header).encode())}.{_b64u(json.dumps(claims).encode())}"
        sig = (key or self.key).sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64u(sig)}"


def _b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


@dataclass
class Ports:
    plaintext: int
    sasl_ssl: int
    ssl: int
    sasl_plaintext: int
    jwt: int
    reauth: int


class SecureBroker:
    def __init__(self, root: Path, *, reauth_advertised_port: int | None = None, extra: dict[str, str] | None = None,
                 more_listeners: dict[str, str] | None = None, advertise: dict[str, int] | None = None) -> None:
        """``more_listeners``: further listeners, name -> protocol, on ports of their own
        (``self.more_ports``); ``advertise``: a port to advertise for a listener instead of its own
        (a proxy in front of it); ``extra``: more settings."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca = CA(self.root / "certs")
        self.server_cert = self.ca.issue("broker", {"CN": "localhost", "O": "Odradek"}, server=True)
        self.alice_cert = self.ca.issue("alice", {"CN": "alice", "OU": "eng", "O": "Org", "C": "US"})
        self.bob_cert = self.ca.issue("bob", {"CN": "bob", "OU": "ops", "O": "Org", "C": "US"})
        self.jwt = JwtIssuer(self.root)
        self.ports = Ports(*(free_port() for _ in range(6)))
        self.reauth_advertised_port = reauth_advertised_port or self.ports.reauth
        self.extra = dict(extra or {})
        self.more = dict(more_listeners or {})
        self.more_ports = {name: free_port() for name in self.more}
        self.advertise = dict(advertise or {})
        self.broker: BrokerProcess | None = None

    # --- where clients connect -------------------------------------------------------------------

    @property
    def plaintext(self) -> str:
        return f"127.0.0.1:{self.ports.plaintext}"

    @property
    def sasl_ssl(self) -> str:
        return f"127.0.0.1:{self.ports.sasl_ssl}"

    @property
    def ssl(self) -> str:
        return f"127.0.0.1:{self.ports.ssl}"

    @property
    def sasl_plaintext(self) -> str:
        return f"127.0.0.1:{self.ports.sasl_plaintext}"

    @property
    def jwt_listener(self) -> str:
        return f"127.0.0.1:{self.ports.jwt}"

    @property
    def reauth(self) -> str:
        return f"127.0.0.1:{self.reauth_advertised_port}"

    def overrides(self) -> dict[str, str]:
        p = self.ports
        names = {"PLAINTEXT": "PLAINTEXT", "SASL_SSL": "SASL_SSL", "SSL": "SSL", "SASL_PLAIN": "SASL_PLAINTEXT",
                 "JWT": "SASL_SSL", "REAUTH": "SASL_SSL"}
        ports = {"PLAINTEXT": p.plaintext, "SASL_SSL": p.sasl_ssl, "SSL": p.ssl, "SASL_PLAIN": p.sasl_plaintext,
                 "JWT": p.jwt, "REAUTH": p.reauth}
        names.update(self.more)
        ports.update(self.more_ports)
        advertised = dict(ports, REAUTH=self.reauth_advertised_port)
        advertised.update(self.advertise)
        ov = {
            "listeners": ",".join(f"{n}://127.0.0.1:{port}" for n, port in ports.items()),
            "advertised.listeners": ",".join(f"{n}://127.0.0.1:{port}" for n, port in advertised.items()),
            "listener.security.protocol.map": ",".join(f"{n}:{proto}" for n, proto in names.items()),
            "inter.broker.listener.name": "PLAINTEXT",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.server_cert.combined),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca.pem),
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": MAPPING_RULES,
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_plain.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.jwt.sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.jwt.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
            "listener.name.jwt.oauthbearer.sasl.oauthbearer.jwks.endpoint.url": self.jwt.jwks.as_uri(),
            "listener.name.jwt.oauthbearer.sasl.oauthbearer.expected.audience": JWT_AUDIENCE,
            "listener.name.jwt.oauthbearer.sasl.oauthbearer.expected.issuer": JWT_ISSUER,
            "listener.name.reauth.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.reauth.connections.max.reauth.ms": str(REAUTH_MS),
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:admin",
            "allow.everyone.if.no.acl.found": "true",
            "offsets.topic.num.partitions": "4",
            "num.partitions": "3",
        }
        ov.update(self.extra)
        return ov

    def start(self) -> "SecureBroker":
        data = self.root / "data"
        # the first users exist before the broker does (no client could create them over SASL)
        for user, password in PASSWORDS.items():
            out = odradek_cli("user", "create", user, "--password", password, "--mechanism", "SCRAM-SHA-512",
                              "--mechanism", "SCRAM-SHA-256", "--log-dir", str(data))
            assert out.returncode == 0, f"offline user create failed: {out.stdout}{out.stderr}"
        self.broker = BrokerProcess(data, port=self.ports.plaintext, overrides=self.overrides()).start()
        # BrokerProcess waits for the first listener; the others open moments later
        ports = [*vars(self.ports).values(), *self.more_ports.values()]
        wait_for(lambda: all(port_open(p) for p in ports), 20, what=f"every listener of the broker open ({ports})")
        return self

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.kill()

    def log_text(self, n: int = 200_000) -> str:
        assert self.broker is not None
        try:
            return self.broker.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # --- client settings ---------------------------------------------------------------------------

    def ck(self, kind: str, user: str = "alice", **extra) -> dict:
        """confluent-kafka / librdkafka settings for ``kind``: scram (SASL_SSL, SCRAM-SHA-512),
        scram256, plain, oauth (unsigned token), ssl (alice's certificate), sasl_plaintext."""
        ca = str(self.ca.pem)
        base = {
            "scram": {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                      "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": PASSWORDS.get(user, "x")},
            "scram256": {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                         "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": PASSWORDS.get(user, "x")},
            "plain": {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                      "sasl.mechanisms": "PLAIN", "sasl.username": "bob", "sasl.password": PLAIN_USERS["bob"]},
            "sasl_plaintext": {"bootstrap.servers": self.sasl_plaintext, "security.protocol": "SASL_PLAINTEXT",
                               "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": PASSWORDS.get(user, "x")},
            "oauth": {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                      "sasl.mechanisms": "OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt": True,
                      "sasl.oauthbearer.config": f"principal={user}"},
            "ssl": {"bootstrap.servers": self.ssl, "security.protocol": "SSL", "ssl.ca.location": ca,
                    "ssl.certificate.location": str(self.alice_cert.cert), "ssl.key.location": str(self.alice_cert.key)},
            "reauth": {"bootstrap.servers": self.reauth, "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
                       "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": PASSWORDS.get(user, "x")},
        }[kind]
        return {**base, **extra}

    def java(self, kind: str, user: str = "alice", password: str | None = None) -> dict[str, str]:
        """Kafka's Java client properties for ``kind`` (as in ck), plus jwt (a signed token read
        from a file by Kafka's login callback handler)."""
        ca = str(self.ca.pem)
        pw = password if password is not None else PASSWORDS.get(user, "x")
        tls = {"ssl.truststore.type": "PEM", "ssl.truststore.location": ca}
        scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";'
        if kind in ("scram", "scram256", "reauth"):
            return {"bootstrap.servers": self.reauth if kind == "reauth" else self.sasl_ssl, "security.protocol": "SASL_SSL",
                    **tls, "sasl.mechanism": "SCRAM-SHA-256" if kind == "scram256" else "SCRAM-SHA-512",
                    "sasl.jaas.config": scram % (user, pw)}
        if kind == "sasl_plaintext":
            return {"bootstrap.servers": self.sasl_plaintext, "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": scram % (user, pw)}
        if kind == "plain":
            return {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", **tls, "sasl.mechanism": "PLAIN",
                    "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required '
                                        f'username="bob" password="{PLAIN_USERS["bob"]}";'}
        if kind == "oauth":
            return {"bootstrap.servers": self.sasl_ssl, "security.protocol": "SASL_SSL", **tls, "sasl.mechanism": "OAUTHBEARER",
                    "sasl.jaas.config": 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required '
                                        f'unsecuredLoginStringClaim_sub="{user}";'}
        if kind == "jwt":
            token = self.root / f"token-{user}.jwt"
            token.write_text(self.jwt.token(user))
            return {"bootstrap.servers": self.jwt_listener, "security.protocol": "SASL_SSL", **tls,
                    "sasl.mechanism": "OAUTHBEARER",
                    "sasl.login.callback.handler.class":
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                    "sasl.oauthbearer.token.endpoint.url": token.as_uri(),
                    "sasl.jaas.config": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"}
        if kind == "ssl":
            return {"bootstrap.servers": self.ssl, "security.protocol": "SSL", **tls,
                    "ssl.keystore.type": "PEM", "ssl.keystore.location": str(self.alice_cert.combined)}
        raise ValueError(kind)

    def write_properties(self, name: str, props: dict[str, str]) -> Path:
        path = self.root / f"{name}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path
