"""The fail-closed rules as a pure function: refused, enforced security keys, ignored-with-a-warning,
unknown; and the listener settings as Kafka parses them."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from odradek.config import ConfigError
from odradek.config_policy import base_key, classify, dynamic_refusal, is_security_key, refusal, shown, startup_warnings
from odradek.security import listeners as L


@pytest.mark.parametrize("key,value", [
    ("zookeeper.ssl.keystore.location", "/k"),
    ("zookeeper.set.acl", "true"),
    ("zookeeper.ssl.client.enable", "true"),
    ("sasl.kerberos.service.name", "kafka"),
    ("listener.name.sasl_ssl.sasl.kerberos.service.name", "kafka"),
    ("principal.builder.class", "x.Y"),
    ("security.providers", "x.Y"),
    ("ssl.engine.factory.class", "x.Y"),
    ("delegation.token.secret.key", "k"),
])
def test_refused(key, value):
    assert refusal(key, value)
    with pytest.raises(ConfigError):
        classify({key: value})


@pytest.mark.parametrize("key,value", [
    ("zookeeper.set.acl", "false"),
    ("num.partitions", "3"),
    ("ssl.keystore.location", "/k.p12"),
    ("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config", "x"),
    ("authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"),
    ("super.users", "User:admin"),
])
def test_not_refused(key, value):
    assert refusal(key, value) is None


def test_security_keys_are_enforced_not_warned_about():
    assert base_key("listener.name.client.scram-sha-256.sasl.jaas.config") == "sasl.jaas.config"
    assert base_key("listener.name.client.ssl.client.auth") == "ssl.client.auth"
    assert is_security_key("listener.name.client.ssl.keystore.location")
    ignored, unknown = classify({"ssl.keystore.location": "/k", "listener.name.x.sasl.enabled.mechanisms": "PLAIN",
                                 "quota.window.num": "3", "ssl.provider": "x"})
    assert ignored == ["quota.window.num", "ssl.provider"] and unknown == []
    # security settings are read at start-up only
    assert "cannot be changed at run time" in dynamic_refusal("ssl.keystore.location", "/x")
    assert dynamic_refusal("log.retention.ms", "5") is None


def test_listeners_and_protocol_map():
    def cfg(**kw):
        d = {k.replace("_", "."): v for k, v in kw.items()}
        return d.get

    ls = L.parse(cfg(listeners="PLAINTEXT://127.0.0.1:9092,sasl_ssl://:9093,CLIENT://h:9094",
                     listener_security_protocol_map="PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CLIENT:SSL",
                     advertised_listeners="CLIENT://broker1:19094"))
    assert [(x.name, x.protocol, x.port) for x in ls] == [("PLAINTEXT", "PLAINTEXT", 9092), ("SASL_SSL", "SASL_SSL", 9093),
                                                          ("CLIENT", "SSL", 9094)]
    assert ls[2].endpoint == "CLIENT://broker1:19094" and ls[1].advertised_host == "127.0.0.1"
    assert L.inter_broker(cfg(), ls).name == "PLAINTEXT"
    assert L.inter_broker(cfg(inter_broker_listener_name="client"), ls).name == "CLIENT"
    assert L.inter_broker(cfg(security_inter_broker_protocol="SASL_SSL"), ls).name == "SASL_SSL"
    for bad, needle in [
        (cfg(listeners="INTERNAL://:9092"), "no security protocol defined for listener INTERNAL"),
        (cfg(listeners="PLAINTEXT://:9092,PLAINTEXT://:9093"), "each listener name must appear once"),
        (cfg(listeners="PLAINTEXT://:9092,SSL://:9092"), "its own port"),
        (cfg(listeners="PLAINTEXT://:9092", listener_security_protocol_map="PLAINTEXT:TLS"), "PROTOCOL one of"),
        (cfg(listeners="PLAINTEXT://:9092", advertised_listeners="PLAINTEXT://0.0.0.0:9092"), "wildcard"),
        (cfg(listeners="PLAINTEXT://:9092", advertised_listeners="SSL://h:9092"), "which listeners does not"),
    ]:
        with pytest.raises(L.ListenerError, match=needle):
            L.parse(bad)
    with pytest.raises(L.ListenerError, match="no such listener"):
        L.inter_broker(cfg(inter_broker_listener_name="REPLICATION"), ls)
    assert L.setting({"listener.name.client.plain.sasl.jaas.config": "a", "sasl.jaas.config": "b"},
                     "CLIENT", "sasl.jaas.config", "PLAIN") == "a"
    assert L.setting({"sasl.jaas.config": "b"}, "CLIENT", "sasl.jaas.config", "PLAIN") == "b"
    assert L.setting({"sasl.jaas.config": "b"}, "CLIENT", "sasl.jaas.config", "PLAIN", fallback=False) is None


def test_log_dirs_one_only():
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
    if out and value and len(value) > 3 and ("password" in key or "jaas.config" in key or "secret" in key):
        assert value not in out
