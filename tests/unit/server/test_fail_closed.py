"""Fail closed: a broker asked for protection it does not give (or security settings that cannot
work) refuses to start with one line naming the setting; settings it does not implement are warned
about by name; dynamic changes of security settings are refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ROOT, BrokerProcess, free_port, wait_for
from odradek.protocol.errors import ErrorCode
from wire import WireClient

REFUSED = [
    ("zookeeper.ssl.client.enable=true", "zookeeper.ssl.client.enable=true: TLS to ZooKeeper is not supported"),
    ("sasl.kerberos.service.name=kafka", "Kerberos (GSSAPI) is not supported"),
    ("principal.builder.class=com.example.Builder", "a custom principal builder is not supported"),
    ("zookeeper.set.acl=true", "ZooKeeper ACLs is not supported"),
    # security settings that are enforced now, refused when they cannot work
    ("listeners=SASL_SSL://127.0.0.1:{port}", "needs a keystore"),
    ("listeners=SSL://127.0.0.1:{port}", "needs a keystore"),
    ("listeners=SASL_PLAINTEXT://127.0.0.1:{port}", "GSSAPI/Kerberos is not supported"),
    ("authorizer.class.name=com.example.MyAuthorizer", "other authorizers are not supported"),
    ("super.users=User:admin", "super.users is set but authorizer.class.name is not"),
    ("listener.security.protocol.map=PLAINTEXT:TLS", "PROTOCOL one of"),
]
SECRETS = [
    "zookeeper.ssl.keystore.password=hunter2-secret",
    "delegation.token.secret.key=hunter2-secret",
]


def _serve(tmp_path, *overrides: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-m", "odradek", "serve", "--override", f"log.dirs={tmp_path / 'data'}"]
    for o in overrides:
        args += ["--override", o]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))


@pytest.mark.parametrize("setting,message", REFUSED, ids=[s.split("=")[0] + ":" + s.split("=")[1][:12] for s, _ in REFUSED])
def test_refused_setting_stops_the_broker(tmp_path, setting, message):
    port = free_port()
    setting = setting.format(port=port)
    extra = [] if setting.startswith("listeners=") else [f"listeners=PLAINTEXT://127.0.0.1:{port}"]
    proc = _serve(tmp_path, *extra, setting)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr  # one clear line
    assert message in lines[0], lines[0]
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


@pytest.mark.parametrize("setting", SECRETS)
def test_refusal_never_prints_a_secret(tmp_path, setting):
    proc = _serve(tmp_path, f"listeners=PLAINTEXT://127.0.0.1:{free_port()}", setting)
    assert proc.returncode != 0
    assert "hunter2" not in proc.stderr + proc.stdout
    assert "[hidden]" in proc.stderr


def test_refused_in_a_properties_file(tmp_path):
    props = tmp_path / "server.properties"
    props.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{free_port()}\n"
        "# copied from a Kerberos-secured Kafka\n"
        "sasl.kerberos.service.name=kafka\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "odradek", "serve", str(props), "--override", f"log.dirs={tmp_path / 'd'}"],
        capture_output=True, text=True, timeout=20, env=env,
    )
    assert proc.returncode == 2 and "Kerberos (GSSAPI) is not supported" in proc.stderr


def test_listener_names_need_a_protocol(tmp_path):
    proc = _serve(tmp_path, f"listeners=INTERNAL://127.0.0.1:{free_port()}")
    assert proc.returncode == 2 and "no security protocol defined for listener INTERNAL" in proc.stderr


def test_plaintext_settings_that_turn_security_off_are_fine(tmp_path):
    b = BrokerProcess(
        tmp_path / "data",
        overrides={
            "security.inter.broker.protocol": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,LOCAL:PLAINTEXT",
        },
    ).start()
    try:
        assert b.alive()
    finally:
        b.kill()


def test_unimplemented_and_unknown_settings_start_with_warnings(tmp_path):
    b = BrokerProcess(
        tmp_path / "data",
        overrides={
            "no.such.config": "1",
            "quota.window.num": "11",
            "remote.log.storage.system.enable": "false",
            "num.io.threads": "4",
            "listener.name.plaintext.connections.max.idle.ms": "10000",
        },
    ).start()
    try:
        text = wait_for(lambda: "isn't a known config" in b.log_text() and b.log_text(), what="warnings")
        assert "The configuration 'no.such.config' was supplied but isn't a known config." in text
        line = next(ln for ln in text.splitlines() if "accepted but not implemented" in ln)
        for key in ("quota.window.num", "remote.log.storage.system.enable", "num.io.threads",
                    "listener.name.plaintext.connections.max.idle.ms"):
            assert key in line
        assert "no.such.config" not in line
    finally:
        b.kill()


def _alter(c: WireClient, configs: dict[str, str], incremental: bool = True, resource_name: str = "0"):
    if incremental:
        resp = c.request(44, 1, {
            "resources": [{"resource_type": 4, "resource_name": resource_name,
                           "configs": [{"name": k, "config_operation": 0, "value": v} for k, v in configs.items()]}],
            "validate_only": False,
        })
    else:
        resp = c.request(33, 1, {
            "resources": [{"resource_type": 4, "resource_name": resource_name,
                           "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
            "validate_only": False,
        })
    return resp.responses[0]


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "legacy"])
def test_dynamic_broker_configs_cannot_change_security(shared_broker, incremental):
    c = WireClient(shared_broker.port)
    try:
        for name, value, needle in [
            ("listener.name.plaintext.ssl.keystore.location", "/x.p12", "cannot be changed at run time"),
            ("sasl.enabled.mechanisms", "PLAIN", "cannot be changed at run time"),
            ("super.users", "User:admin", "cannot be changed at run time"),
            ("ssl.keystore.password", "hunter2-secret", "cannot be changed at run time"),
            ("zookeeper.set.acl", "true", "ZooKeeper ACLs"),
        ]:
            for scope in ("0", ""):
                r = _alter(c, {name: value}, incremental, scope)
                assert r.error_code == ErrorCode.invalid_config, (name, r)
                assert needle in r.error_message and "hunter2" not in r.error_message
        # the rest is answered as Kafka answers it
        r = _alter(c, {"broker.id": "5"}, incremental)
        assert r.error_code == ErrorCode.invalid_request
        assert r.error_message == "Cannot update these configs dynamically: [broker.id]"
        r = _alter(c, {"log.retention.ms": "abc"}, incremental)
        assert r.error_code == ErrorCode.invalid_request and "log.retention.ms" in r.error_message
        r = _alter(c, {"log.retention.ms": "600000"}, incremental)
        assert r.error_code == ErrorCode.none
    finally:
        c.close()
    assert "hunter2" not in shared_broker.log_text()
