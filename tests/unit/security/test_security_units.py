"""The pure security pieces: SCRAM (RFC 7677's test vector, Kafka's quirks), PLAIN, OAUTHBEARER
tokens, JAAS parsing, principal mapping rules, and the ACL authorizer's semantics."""

from __future__ import annotations

import base64
import json
import time

import pytest
from hypothesis import given, settings, strategies as st

from odradek.security import acl as A, jaas, oauth, sasl, scram, tls


def test_scram_sha256_rfc7677_vector():
    """RFC 7677's exchange, with the server's nonce part and salt fixed."""
    cred = scram.make_credential("SCRAM-SHA-256", "pencil", 4096, base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    server = scram.ScramServer("SCRAM-SHA-256", lambda u: cred if u == "user" else None)
    server_first = server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").decode()
    assert server_first.startswith("r=rOprNGfwEbeRWgbNEkqO") and ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096" in server_first
    client = scram.ScramClient("SCRAM-SHA-256", "user", "pencil")
    client.nonce = "rOprNGfwEbeRWgbNEkqO"
    client.first()
    final = client.final(server_first.encode())
    client.verify(server.step(final))
    assert server.principal == "user"


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_round_trip_and_refusals(mech):
    cred = scram.make_credential(mech, "s3cret", 8192)
    assert scram.ScramCredential.from_kafka(cred.to_kafka()) == cred

    def run(password: str, user: str = "al,ice=x", tamper=None):
        server = sasl.ScramServerMechanism(mech, lambda u: cred if u == "al,ice=x" else None)
        client = sasl.ClientMechanism(sasl.ClientCredentials(mech, user, password))
        reply = server.step(client.initial())
        final = client.respond(reply)
        if tamper:
            final = tamper(final)
        client.respond(server.step(final))
        return server.principal

    assert run("s3cret") == "al,ice=x"
    with pytest.raises(sasl.AuthenticationFailed):
        run("wrong")
    with pytest.raises(sasl.AuthenticationFailed):
        run("s3cret", user="mallory")
    # a forged proof
    with pytest.raises(sasl.AuthenticationFailed):
        run("s3cret", tamper=lambda f: f[:-8] + b"AAAAAAA=")
    # librdkafka < 2.6.1 sends the client nonce twice: accepted (ends with the combined nonce)
    server = scram.ScramServer(mech, lambda u: cred)
    client = scram.ScramClient(mech, "u", "s3cret")
    sf = server.step(client.first())
    final = client.final(sf).decode()
    doubled = final.replace("r=", "r=" + client.nonce, 1)
    with pytest.raises(scram.ScramError):  # the proof covers the message: a changed one fails...
        server.step(doubled.encode())
    with pytest.raises(scram.ScramError, match="channel binding"):
        scram.ScramServer(mech, lambda u: cred).step(b"y,,n=u,r=abc")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_scram_server_never_crashes_on_garbage(data):
    cred = scram.make_credential("SCRAM-SHA-256", "pw", 4096, b"salt")
    server = sasl.ScramServerMechanism("SCRAM-SHA-256", lambda u: cred)
    for _ in range(2):
        try:
            server.step(data)
        except sasl.AuthenticationFailed:
            break
    assert server.principal is None


def test_plain():
    s = sasl.PlainServer({"alice": "pw"})
    assert s.step(b"\x00alice\x00pw") == b"" and s.principal == "alice"
    for bad in (b"\x00alice\x00nope", b"\x00bob\x00pw", b"bob\x00alice\x00pw", b"\x00\x00pw", b"garbage"):
        with pytest.raises(sasl.AuthenticationFailed):
            sasl.PlainServer({"alice": "pw"}).step(bad)


def test_oauthbearer_unsecured_and_error_challenge():
    validator = oauth.UnsecuredValidator({"unsecuredValidatorRequiredScope": "kafka"})
    good = oauth.unsecured_token("alice", scope=["kafka"])
    s = sasl.OAuthBearerServer(validator)
    assert s.step(oauth.client_response(good)) == b"" and s.principal == "alice" and s.expires_ms > time.time() * 1000
    s = sasl.OAuthBearerServer(validator)
    challenge = s.step(oauth.client_response(oauth.unsecured_token("alice")))  # no scope
    assert json.loads(challenge)["status"] == "invalid_token" and s.principal is None
    with pytest.raises(sasl.AuthenticationFailed):
        s.step(b"\x01")
    expired = oauth.unsecured_token("alice", lifetime_s=-10, scope=["kafka"])
    with pytest.raises(oauth.TokenError, match="expired"):
        validator.validate(expired)


def test_oauthbearer_signed_tokens(tmp_path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = key.public_key().public_numbers()

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).decode().rstrip("=")

    jwk = {"kty": "RSA", "kid": "k1", "alg": "RS256", "n": b64(nums.n.to_bytes(256, "big")), "e": b64(nums.e.to_bytes(3, "big"))}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    v = oauth.JwksValidator(f"file://{tmp_path / 'jwks.json'}", audience=["kafka"], issuer="https://issuer")

    def token(claims, kid="k1", signer=key):
        head = b64(json.dumps({"alg": "RS256", "kid": kid}).encode())
        body = b64(json.dumps(claims).encode())
        sig = signer.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64(sig)}"

    now = time.time()
    claims = {"sub": "svc", "aud": "kafka", "iss": "https://issuer", "exp": now + 60, "iat": now}
    assert v.validate(token(claims)).principal == "svc"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad, why in [
        (token(claims, signer=other), "signature"),
        (token({**claims, "aud": "other"}), "audience"),
        (token({**claims, "iss": "x"}), "issuer"),
        (token({**claims, "exp": now - 120}), "expired"),
        (token(claims, kid="nope"), "no key"),
        (oauth.unsecured_token("svc"), "not signed"),
    ]:
        with pytest.raises(oauth.TokenError, match=why):
            v.validate(bad)
    with pytest.raises(ValueError, match="file: URLs"):
        oauth.JwksValidator("https://idp.example/jwks")


def test_jaas():
    opts = jaas.options('org.apache.kafka.common.security.plain.PlainLoginModule required '
                        'username="admin" password="a\\"b" user_alice="x y" user_bob=pw;')
    assert opts == {"username": "admin", "password": 'a"b', "user_alice": "x y", "user_bob": "pw"}
    for bad in ("", "Module required", "Module maybe x=1;", "Module required x;"):
        with pytest.raises(jaas.JaasError):
            jaas.parse(bad)


def test_principal_mapping_rules():
    rules = tls.parse_mapping_rules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,DEFAULT")
    assert tls.map_principal("CN=svc,OU=ServiceUsers,O=Org", rules) == "svc"
    assert tls.map_principal("CN=Alice,OU=Eng,O=Org,L=City,ST=S,C=US", rules) == "alice@eng"
    assert tls.map_principal("CN=x,O=y", rules) == "CN=x,O=y"  # DEFAULT
    strict = tls.parse_mapping_rules("RULE:^CN=(.*?),OU=.*$/$1/U")
    assert tls.map_principal("CN=bob,OU=x", strict) == "BOB"
    with pytest.raises(tls.TlsConfigError):
        tls.map_principal("O=nobody", strict)


def b(rtype, name, op, perm=A.ALLOW, principal="User:alice", host="*", pattern=A.P_LITERAL):
    return A.AclBinding(rtype, name, pattern, principal, host, op, perm)


def test_authorizer_semantics():
    az = A.Authorizer({"User:admin"}, allow_if_no_acl=False)
    az.set_acls({
        b(A.TOPIC, "orders", A.READ),
        b(A.TOPIC, "ord", A.WRITE, pattern=A.P_PREFIXED),
        b(A.TOPIC, "orders-secret", A.WRITE, A.DENY),
        b(A.TOPIC, "*", A.DESCRIBE, principal="User:*"),
        b(A.GROUP, "g", A.ALL, principal="User:bob", host="10.0.0.1"),
        b(A.CLUSTER, "kafka-cluster", A.ALTER_CONFIGS),
    })
    ok = lambda *a: az.authorize(*a)  # noqa: E731
    assert ok("User:alice", "1.2.3.4", A.READ, A.TOPIC, "orders")
    assert ok("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "orders-2")  # prefixed
    assert not ok("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "orders-secret")  # DENY beats ALLOW
    assert ok("User:carol", "1.2.3.4", A.DESCRIBE, A.TOPIC, "anything")  # wildcard principal and resource
    assert ok("User:alice", "1.2.3.4", A.DESCRIBE, A.TOPIC, "orders")  # READ implies DESCRIBE
    assert not ok("User:alice", "1.2.3.4", A.DELETE, A.TOPIC, "orders")
    assert ok("User:bob", "10.0.0.1", A.READ, A.GROUP, "g") and not ok("User:bob", "10.0.0.2", A.READ, A.GROUP, "g")
    assert ok("User:alice", "1.1.1.1", A.DESCRIBE_CONFIGS, A.CLUSTER, "kafka-cluster")  # implied by ALTER_CONFIGS
    assert ok("User:admin", "1.1.1.1", A.DELETE, A.TOPIC, "orders-secret")  # super user
    assert not ok("User:alice", "1.1.1.1", A.READ, A.GROUP, "nobody-has-acls")  # no ACL: deny
    assert A.Authorizer(allow_if_no_acl=True).authorize("User:x", "h", A.READ, A.GROUP, "free")
    # KIP-679: idempotent producers need WRITE on some topic
    assert az.authorize_by_resource_type("User:alice", "1.1.1.1", A.WRITE, A.TOPIC)
    assert not az.authorize_by_resource_type("User:carol", "1.1.1.1", A.WRITE, A.TOPIC)
    assert az.operations("User:alice", "1.1.1.1", A.TOPIC, "orders") == (1 << A.READ) | (1 << A.DESCRIBE) | (1 << A.WRITE)
    f = A.AclFilter(resource_type=A.TOPIC, resource_name="orders-x", pattern_type=A.P_MATCH)
    assert {x.resource_name for x in az.describe(f)} == {"ord", "*"}
    assert b(A.CLUSTER, "other", A.ALTER).invalid() and b(A.TOPIC, "t", A.READ, pattern=A.P_MATCH).invalid()
    assert A.normalize_host("0:0:0:0:0:0:0:1") == A.normalize_host("::1")


def test_client_context_host_name_check_follows_endpoint_identification(tmp_path):
    """Unset: https (checked); set to https: checked; set empty: Kafka's way to turn it off."""
    from tls_certs import CA

    from odradek.security import tls

    ca = CA(tmp_path)
    for value, checked in ((None, True), ("https", True), ("HTTPS", True), ("", False), ("  ", False)):
        settings = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.pem)}
        if value is not None:
            settings["ssl.endpoint.identification.algorithm"] = value
        ctx = tls.client_context(tls.Settings(settings.get))
        assert ctx.check_hostname is checked, value
def test_authorizer_remembers_answers_until_the_acls_change(monkeypatch):
    az = A.Authorizer({"User:admin"}, allow_if_no_acl=False)
    az.set_acls({b(A.TOPIC, "ord", A.WRITE, pattern=A.P_PREFIXED)})
    asked = []
    decide = az._decide
    monkeypatch.setattr(az, "_decide", lambda *a: asked.append(a) or decide(*a))
    for _ in range(3):
        assert az.authorize("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "orders")
        assert not az.authorize("User:alice", "1.2.3.4", A.READ, A.TOPIC, "orders")
    assert len(asked) == 2  # each question worked out once
    assert not az.authorize("User:alice", "1.2.3.5", A.WRITE, A.TOPIC, "xorders")  # another host and name: asked
    assert len(asked) == 3
    # new ACLs: every answer is worked out again, a DENY now wins, the READ is now allowed
    az.set_acls({b(A.TOPIC, "ord", A.WRITE, pattern=A.P_PREFIXED), b(A.TOPIC, "orders", A.WRITE, A.DENY),
                 b(A.TOPIC, "orders", A.READ)})
    assert not az.authorize("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "orders")
    assert az.authorize("User:alice", "1.2.3.4", A.READ, A.TOPIC, "orders")
    assert az.authorize("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "ordinal")
    assert len(asked) == 6
    # bounded: past DECISIONS_KEPT answers the memory starts over, and answers stay right
    monkeypatch.setattr(A, "DECISIONS_KEPT", 4)
    for i in range(10):
        assert az.authorize("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, f"ord-{i}")
        assert len(az._decisions) <= 4
    assert not az.authorize("User:alice", "1.2.3.4", A.WRITE, A.TOPIC, "orders")
