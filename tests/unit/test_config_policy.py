"""The fail-closed rules as a pure function: refused, ignored-with-a-warning, unknown."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from odradek.config import ConfigError
from odradek.config_policy import classify, protocol_map, refusal, shown, startup_warnings


@pytest.mark.parametrize("key,value", [
    ("ssl.truststore.location", "/t.p12"),
    ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
    ("listener.name.sasl_ssl.plain.sasl.jaas.config", "x"),
    ("listener.name.ext.ssl.client.auth", "required"),
    ("zookeeper.ssl.keystore.location", "/k"),
    ("zookeeper.set.acl", "true"),
    ("security.inter.broker.protocol", "SSL"),
    ("authorizer.class.name", "x.Y"),
    ("super.users", "User:a;User:b"),
    ("allow.everyone.if.no.acl.found", "true"),
    ("principal.builder.class", "x.Y"),
    ("connections.max.reauth.ms", "1000"),
    ("delegation.token.secret.key", "k"),
])
def test_refused(key, value):
    assert refusal(key, value)
    with pytest.raises(ConfigError):
        classify({key: value})


@pytest.mark.parametrize("key,value", [
    ("security.inter.broker.protocol", "PLAINTEXT"),
    ("security.inter.broker.protocol", "plaintext"),
    ("authorizer.class.name", ""),
    ("super.users", ""),
    ("zookeeper.set.acl", "false"),
    ("num.partitions", "3"),
    ("listener.name.plaintext.max.connections", "5"),
])
def test_not_refused(key, value):
    assert refusal(key, value) is None


def test_listeners_and_protocol_map():
    assert protocol_map({})["SASL_SSL"] == "SASL_SSL"
    assert protocol_map({"listener.security.protocol.map": "A:PLAINTEXT, b:plaintext"}) == {"A": "PLAINTEXT", "B": "PLAINTEXT"}
    with pytest.raises(ConfigError, match="listener.security.protocol.map"):
        protocol_map({"listener.security.protocol.map": "A:TLS"})
    with pytest.raises(ConfigError, match="it maps EXTERNAL to SSL"):
        classify({"listeners": "INTERNAL://:9093", "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SSL"})
    with pytest.raises(ConfigError, match="advertised.listeners=SSL://h:9093: listener SSL uses security protocol SSL"):
        classify({"listeners": "PLAINTEXT://:9093", "advertised.listeners": "SSL://h:9093"})
    with pytest.raises(ConfigError, match="must name a listener"):
        classify({"listeners": "PLAINTEXT://:9092", "inter.broker.listener.name": "REPLICATION"})
    assert classify({"listeners": "LOCAL://:9092", "listener.security.protocol.map": "LOCAL:PLAINTEXT",
                     "inter.broker.listener.name": "local"}) == ([], [])
    with pytest.raises(ConfigError, match="one directory"):
        classify({"log.dirs": "/a,/b"})


def test_warnings_name_each_key():
    w = startup_warnings({"quota.window.num": "3", "process.roles": "broker", "num.io.threads": "2",
                          "bogus.key": "1", "num.partitions": "3"})
    assert w[0].endswith("num.io.threads, process.roles, quota.window.num")
    assert w[1] == "The configuration 'bogus.key' was supplied but isn't a known config."
    assert len(w) == 2


def test_shown_hides_secrets():
    for k in ("ssl.keystore.password", "sasl.jaas.config", "ssl.keystore.key", "listener.name.x.plain.sasl.jaas.config",
              "delegation.token.secret.key", "sasl.oauthbearer.client.credentials.client.secret"):
        assert shown(k, "s3cret") == f"{k}=[hidden]"
    assert shown("ssl.keystore.type", "PEM") == "ssl.keystore.type=PEM"


@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=40)))
def test_refusal_takes_any_key_and_value(key, value):
    out = refusal(key, value)
    assert out is None or isinstance(out, str)
    if out and value and len(value) > 3 and ("password" in key or "jaas.config" in key):
        assert value not in out
