"""The client's security settings: keyword arguments, Kafka's and librdkafka's property names,
properties files, the ACL types' names, and what odradek acl builds from kafka-acls' flags."""

from __future__ import annotations

import argparse
import ssl

import pytest

from odradek.cli import access
from odradek.cli.common import CommandError
from odradek.client.acls import AclBinding, AclFilter
from odradek.client.security import SecurityConfig, SecurityConfigError, from_client_kwargs, properties_from_file
from odradek.security import oauth


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    from tls_certs import CA

    root = tmp_path_factory.mktemp("ca")
    ca = CA(root)
    return ca, ca.issue("client", {"CN": "alice", "O": "Org"})


def test_plaintext_by_default():
    s = from_client_kwargs({})
    assert s.security_protocol == "PLAINTEXT" and s.ssl() is None and s.credentials() is None


def test_keywords_make_tls_and_sasl(ca):
    ca, cert = ca
    s = from_client_kwargs(dict(security_protocol="sasl_ssl", ssl_cafile=str(ca.pem), ssl_certfile=str(cert.cert),
                                ssl_keyfile=str(cert.key), sasl_mechanism="scram-sha-512", sasl_plain_username="alice",
                                sasl_plain_password="pw"))
    ctx = s.ssl()
    assert isinstance(ctx, ssl.SSLContext) and ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    c = s.credentials()
    assert (c.mechanism, c.username, c.password) == ("SCRAM-SHA-512", "alice", "pw")
    assert not from_client_kwargs(dict(security_protocol="SSL", ssl_cafile=str(ca.pem), ssl_check_hostname=False)).ssl().check_hostname


def test_kafka_properties_and_jaas(ca):
    ca, cert = ca
    s = SecurityConfig.build(security_config={
        "security.protocol": "SASL_SSL", "ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.pem),
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(cert.combined), "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="b\\"x";'})
    assert s.credentials().username == "bob" and s.credentials().password == 'b"x'
    assert s.ssl() is not None
    # librdkafka's names
    s = SecurityConfig.from_properties({"security.protocol": "SSL", "ssl.ca.location": str(ca.pem),
                                        "ssl.certificate.location": str(cert.cert), "ssl.key.location": str(cert.key)})
    s.validate()
    assert s.ssl() is not None
    s = SecurityConfig.from_properties({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-256",
                                        "sasl.username": "u", "sasl.password": "p"})
    s.validate()
    assert s.credentials().mechanism == "SCRAM-SHA-256"
    # keywords win over the dict
    s = SecurityConfig.build(security_config={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                              "sasl.username": "u", "sasl.password": "p"}, sasl_plain_password="q")
    assert s.credentials().password == "q"


def test_oauthbearer_token_sources(tmp_path):
    s = SecurityConfig.build(security_config={
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
        "sasl.jaas.config": 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required '
                            'unsecuredLoginStringClaim_sub="carol" unsecuredLoginLifetimeSeconds="60";'})
    token = s.credentials().token()
    assert oauth.UnsecuredValidator({}).validate(token).principal == "carol"
    f = tmp_path / "token.jwt"
    f.write_text("first\n")
    s = SecurityConfig.build(security_config={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
                                              "sasl.oauthbearer.token.endpoint.url": f.as_uri()})
    assert s.credentials().token() == "first"
    f.write_text("second")  # read again at every login
    assert s.credentials().token() == "second"
    s = from_client_kwargs(dict(security_protocol="SASL_SSL", ssl_cafile=None, sasl_mechanism="OAUTHBEARER",
                                sasl_oauth_token_provider=lambda: "t"))
    assert s.credentials().token() == "t"


@pytest.mark.parametrize("kwargs, words", [
    (dict(security_protocol="TLS"), "security_protocol"),
    (dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="GSSAPI"), "GSSAPI"),
    (dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN"), "user name and a password"),
    (dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER"), "OAUTHBEARER needs a token"),
    (dict(security_protocol="SSL", ssl_cafile="/no/such/ca.pem"), "truststore"),
    (dict(security_config={"security.protocol": "SSL", "ssl.truststore.type": "JKS", "ssl.truststore.location": "x.jks"}), "JKS"),
    (dict(security_config={"security.protocol": "SASL_SSL", "sasl.jaas.config": "broken"}), "sasl.jaas.config"),
    (dict(security_config={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
                           "sasl.oauthbearer.token.endpoint.url": "https://idp/token"}), "file: URLs"),
])
def test_settings_that_cannot_work_are_refused_by_name(kwargs, words):
    with pytest.raises(SecurityConfigError) as e:
        from_client_kwargs(kwargs)
    assert words in str(e.value)


def test_unknown_keywords_are_a_type_error():
    with pytest.raises(TypeError, match="sasl_password"):
        from_client_kwargs({"sasl_password": "x"})


def test_properties_file(tmp_path):
    f = tmp_path / "c.properties"
    f.write_text("# comment\n! also\nsecurity.protocol = SASL_SSL\nsasl.jaas.config=org.Module required \\\n"
                 "   username=\"a\" \\\n   password=\"b\";\nssl.truststore.type: PEM\nempty=\n")
    p = properties_from_file(f)
    assert p == {"security.protocol": "SASL_SSL", "sasl.jaas.config": 'org.Module required username="a" password="b";',
                 "ssl.truststore.type": "PEM", "empty": ""}


def test_acl_names_in_any_spelling():
    a = AclBinding("transactional-id", "tx", "User:a", "IdempotentWrite", "deny", pattern_type="prefixed")
    assert (a.resource_type, a.operation, a.permission, a.pattern_type) == ("TRANSACTIONAL_ID", "IDEMPOTENT_WRITE", "DENY", "PREFIXED")
    assert a == AclBinding("TRANSACTIONAL_ID", "tx", "User:a", "idempotent_write", "DENY", pattern_type="PREFIXED")
    assert AclBinding(2, "t", "User:a", 3).to_request()["operation"] == 3
    assert AclFilter.of(a).to_request()["pattern_type_filter"] == 4
    with pytest.raises(ValueError, match="operation"):
        AclBinding("topic", "t", "User:a", "reed")


def _acl_args(**kw) -> argparse.Namespace:
    base = dict(allow_principal=None, deny_principal=None, allow_host=None, deny_host=None, operation=None, topic=None,
                group=None, transactional_id=None, cluster=False, resource_pattern_type="literal", producer=False,
                idempotent=False, consumer=False, principal=None, host=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_acl_create_flags_like_kafka_acls():
    got = access._bindings(_acl_args(allow_principal=["User:a"], operation=["read", "describe"], topic=["t"], group=["g"]))
    assert {(b.resource_type, b.resource_name, b.operation) for b in got} == {
        ("TOPIC", "t", "READ"), ("TOPIC", "t", "DESCRIBE"), ("GROUP", "g", "READ"), ("GROUP", "g", "DESCRIBE")}
    got = access._bindings(_acl_args(allow_principal=["User:p"], producer=True, idempotent=True, topic=["pay"],
                                     transactional_id=["tx"], resource_pattern_type="prefixed"))
    assert {(b.resource_type, b.operation, b.pattern_type) for b in got} == {
        ("TOPIC", "WRITE", "PREFIXED"), ("TOPIC", "DESCRIBE", "PREFIXED"), ("TOPIC", "CREATE", "PREFIXED"),
        ("TRANSACTIONAL_ID", "WRITE", "PREFIXED"), ("TRANSACTIONAL_ID", "DESCRIBE", "PREFIXED"),
        ("CLUSTER", "IDEMPOTENT_WRITE", "LITERAL")}
    got = access._bindings(_acl_args(deny_principal=["User:x"], deny_host=["10.0.0.1"], cluster=True))
    assert [(b.permission, b.host, b.operation, b.resource_name) for b in got] == [("DENY", "10.0.0.1", "ALL", "kafka-cluster")]
    for bad in (dict(topic=["t"]), dict(allow_principal=["alice"], topic=["t"]), dict(allow_principal=["User:a"]),
                dict(allow_principal=["User:a"], consumer=True, topic=["t"]),
                dict(allow_principal=["User:a"], topic=["t"], resource_pattern_type="match")):
        with pytest.raises(CommandError):
            access._bindings(_acl_args(**bad))


def test_acl_list_filters():
    (f,) = access._filters(_acl_args())
    assert (f.resource_type, f.pattern_type, f.principal) == ("ANY", "ANY", None)
    fs = access._filters(_acl_args(topic=["t"], principal=["User:a"], resource_pattern_type="match"))
    assert [(f.resource_type, f.resource_name, f.pattern_type, f.principal) for f in fs] == [("TOPIC", "t", "MATCH", "User:a")]
