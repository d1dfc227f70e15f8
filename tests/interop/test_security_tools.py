"""Kafka's own kafka-acls and kafka-configs (users) against Odradek over SASL_SSL, the odradek acl
and user commands with --command-config, and principals from client certificates
(ssl.principal.mapping.rules) seen through ACLs. One secured broker (tests/security_env.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import kafka_jvm
import pytest
from security_env import ALICE_DN, BOB_DN, PASSWORDS, SecureBroker, odradek_cli

from odradek.client import AclBinding, AclFilter, Admin, AuthenticationFailed, KafkaError

ACLS = "org.apache.kafka.tools.AclCommand"
CONFIGS = "org.apache.kafka.tools.ConfigCommand"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    b = SecureBroker(tmp_path_factory.mktemp("sectools")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def admin_props(sb):
    """The super user's client properties over SASL_SSL (Kafka's names), as a --command-config file."""
    return sb.write_properties("admin", {k: v for k, v in sb.java("scram", user="admin").items() if k != "bootstrap.servers"})


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin_call(sb, fn, **sec):
    async def go():
        async with Admin(sb.sasl_ssl, security_protocol="SASL_SSL", ssl_cafile=str(sb.ca.pem), sasl_mechanism="SCRAM-SHA-512",
                         sasl_plain_username="admin", sasl_plain_password=PASSWORDS["admin"]) as a:
            return await fn(a)

    return asyncio.run(go())


def tools(*calls):
    """Run Kafka tools side by side (each one JVM); their CompletedProcesses in order."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda c: kafka_jvm.tool(c[0], *c[1:], timeout=120), calls))


def ok(proc):
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def login(sb, user: str, password: str) -> str | None:
    """None when ``user`` can log in over SASL_SSL with SCRAM-SHA-512, else the error name."""
    async def go():
        async with Admin(sb.sasl_ssl, request_timeout_ms=5000, security_protocol="SASL_SSL", ssl_cafile=str(sb.ca.pem),
                         sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=user, sasl_plain_password=password) as a:
            await a.list_topics()

    try:
        asyncio.run(go())
        return None
    except AuthenticationFailed as e:
        return e.name


def test_kafka_acls_and_kafka_configs_users(sb, admin_props):
    topic, group, prefix, user = uniq("orders"), uniq("g"), uniq("pay"), uniq("dave")
    base = ["--bootstrap-server", sb.sasl_ssl, "--command-config", str(admin_props)]
    add, scram_add = tools(
        (ACLS, *base, "--add", "--allow-principal", "User:alice", "--allow-principal", "User:bob", "--operation", "Read",
         "--operation", "Describe", "--topic", topic, "--group", group),
        (CONFIGS, *base, "--alter", "--entity-type", "users", "--entity-name", user,
         "--add-config", "SCRAM-SHA-512=[iterations=8192,password=dave-secret]"),
    )
    assert f"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name={topic}, patternType=LITERAL)`" in ok(add)
    assert f"Completed updating config for user {user}." in ok(scram_add)
    producer, listed, described = tools(
        (ACLS, *base, "--add", "--producer", "--idempotent", "--topic", prefix, "--resource-pattern-type", "prefixed",
         "--allow-principal", "User:carol"),
        (ACLS, *base, "--list", "--topic", topic),
        (CONFIGS, *base, "--describe", "--entity-type", "users", "--entity-name", user),
    )
    ok(producer)
    out = ok(listed)
    for principal in ("User:alice", "User:bob"):
        for op in ("READ", "DESCRIBE"):
            assert f"(principal={principal}, host=*, operation={op}, permissionType=ALLOW)" in out, out
    assert ok(described).strip() == f"SCRAM credential configs for user-principal '{user}' are SCRAM-SHA-512=iterations=8192"
    # what the tools wrote is what the APIs report, through Odradek's client
    got = set(admin_call(sb, lambda a: a.describe_acls(AclFilter("TOPIC", prefix, "PREFIXED"))))
    assert got == {AclBinding("TOPIC", prefix, "User:carol", op, pattern_type="PREFIXED") for op in ("WRITE", "DESCRIBE", "CREATE")}
    assert AclBinding("CLUSTER", "kafka-cluster", "User:carol", "IDEMPOTENT_WRITE") in admin_call(sb, lambda a: a.describe_acls())
    matched = admin_call(sb, lambda a: a.describe_acls(AclFilter("TOPIC", prefix + "-eu", "MATCH")))
    assert {b.resource_name for b in matched} == {prefix}  # the prefixed ACL applies to names under it
    # the new user logs in; removed ACLs and credentials are gone
    assert login(sb, user, "dave-secret") is None
    removed, deleted = tools(
        (ACLS, *base, "--remove", "--force", "--topic", topic, "--group", group),
        (CONFIGS, *base, "--alter", "--entity-type", "users", "--entity-name", user, "--delete-config", "SCRAM-SHA-512"),
    )
    ok(removed)
    ok(deleted)
    assert admin_call(sb, lambda a: a.describe_acls(AclFilter("TOPIC", topic))) == []
    assert admin_call(sb, lambda a: a.describe_acls(AclFilter("GROUP", group))) == []
    assert login(sb, user, "dave-secret") == "SASL_AUTHENTICATION_FAILED"
    with pytest.raises(KafkaError) as e:
        admin_call(sb, lambda a: a.describe_user_scram_credentials([user]))
    assert e.value.name == "RESOURCE_NOT_FOUND"
    admin_call(sb, lambda a: a.delete_acls([AclFilter("ANY", None, "ANY", "User:carol")]))


def test_odradek_acl_and_user_commands(sb, admin_props):
    topic, group, user = uniq("cli-orders"), uniq("cli-g"), uniq("erin")
    cc = ["-b", sb.sasl_ssl, "--command-config", str(admin_props)]
    out = odradek_cli("acl", "create", *cc, "--consumer", "--topic", topic, "--group", group, "--allow-principal", "User:erin",
                      "--format", "json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert {(a["resource_type"], a["operation"]) for a in created} == {("TOPIC", "READ"), ("TOPIC", "DESCRIBE"), ("GROUP", "READ")}
    assert all(a["error"] is None for a in created)
    out = odradek_cli("acl", "list", *cc, "--topic", topic)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["PRINCIPAL", "HOST", "OPERATION", "PERMISSION", "RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN-TYPE"]
    assert sorted(line.split()[2] for line in lines[1:]) == ["DESCRIBE", "READ"]
    # a user through the broker (SASL_SSL, super user), then it logs in; describe; delete
    out = odradek_cli("user", "create", user, "--password", "erin-secret", "--iterations", "8192", *cc)
    assert out.returncode == 0, out.stderr
    assert login(sb, user, "erin-secret") is None
    out = odradek_cli("user", "describe", user, *cc, "--format", "json")
    assert json.loads(out.stdout) == [{"user": user, "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}]}]
    out = odradek_cli("user", "create", user, "--password", "x", "--iterations", "100", *cc)
    assert out.returncode == 2 and "4096 to 16384" in out.stderr
    assert odradek_cli("user", "delete", user, *cc).returncode == 0
    assert login(sb, user, "erin-secret") == "SASL_AUTHENTICATION_FAILED"
    out = odradek_cli("user", "describe", user, *cc)
    assert out.returncode == 4 and "RESOURCE_NOT_FOUND" in out.stderr
    # the password can come on stdin; a user can be made over PLAINTEXT too (the first user's way
    # in when the cluster has a PLAINTEXT listener)
    out = odradek_cli("user", "create", user, "-b", sb.plaintext, "--mechanism", "SCRAM-SHA-256", input="from-stdin\n")
    assert out.returncode == 0, out.stderr
    assert admin_call(sb, lambda a: a.describe_user_scram_credentials([user]))[user][0].mechanism == "SCRAM-SHA-256"
    out = odradek_cli("acl", "delete", *cc, "--topic", topic, "--group", group, "--force", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 3
    assert admin_call(sb, lambda a: a.describe_acls(AclFilter("ANY", None, "ANY", "User:erin"))) == []


def test_command_config_for_every_client_command(sb, tmp_path):
    """--command-config works for the other subcommands too, and its mistakes are usage errors."""
    props = sb.write_properties("alice", {k: v for k, v in sb.java("scram").items() if k != "bootstrap.servers"})
    topic = uniq("cc")
    cc = ["-b", sb.sasl_ssl, "--command-config", str(props)]
    assert odradek_cli("topic", "create", topic, "--partitions", "2", *cc).returncode == 0
    out = odradek_cli("produce", topic, *cc, input="a\nb\nc\n")
    assert out.returncode == 0, out.stderr
    out = odradek_cli("consume", topic, *cc, "--from-beginning", "--num", "3", "--group", uniq("ccg"))
    assert out.returncode == 0 and sorted(out.stdout.split()) == ["a", "b", "c"], out.stderr
    assert topic in odradek_cli("topic", "list", *cc).stdout
    wrong = sb.write_properties("wrong", {**{k: v for k, v in sb.java("scram", password="nope").items() if k != "bootstrap.servers"}})
    out = odradek_cli("topic", "list", "-b", sb.sasl_ssl, "--command-config", str(wrong))
    assert out.returncode == 1
    assert "SASL_AUTHENTICATION_FAILED: Authentication failed during authentication due to invalid credentials" in out.stderr
    out = odradek_cli("topic", "list", "-b", sb.sasl_ssl, "--command-config", str(tmp_path / "missing.properties"))
    assert out.returncode == 2 and "missing.properties" in out.stderr
    bad = tmp_path / "bad.properties"
    bad.write_text("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\nssl.truststore.type=PEM\n"
                   f"ssl.truststore.location={sb.ca.pem}\n")
    out = odradek_cli("topic", "list", "-b", sb.sasl_ssl, "--command-config", str(bad))
    assert out.returncode == 2 and "GSSAPI" in out.stderr


def test_certificate_principals_through_mapping_rules(sb):
    """alice's certificate maps to User:alice (RULE ... /L); bob's matches no rule, DEFAULT keeps
    his DN. Seen through ACLs: with an ACL on the cluster, DescribeAcls needs DESCRIBE there."""
    def cert_client(cert):
        return dict(security_protocol="SSL", ssl_cafile=str(sb.ca.pem), ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key))

    def describe_as(cert) -> str | None:
        async def go():
            async with Admin(sb.ssl, **cert_client(cert)) as a:
                await a.describe_acls(AclFilter("TOPIC", "nothing"))

        try:
            asyncio.run(go())
            return None
        except KafkaError as e:
            return e.name

    alice_acl = AclBinding("CLUSTER", "kafka-cluster", "User:alice", "DESCRIBE")
    bob_acl = AclBinding("CLUSTER", "kafka-cluster", f"User:{BOB_DN}", "DESCRIBE")
    admin_call(sb, lambda a: a.create_acls([alice_acl]))
    try:
        assert describe_as(sb.alice_cert) is None
        assert describe_as(sb.bob_cert) == "CLUSTER_AUTHORIZATION_FAILED"
        admin_call(sb, lambda a: a.create_acls([bob_acl]))
        assert describe_as(sb.bob_cert) is None
        # an ACL on alice's full DN would not match her: her principal is the mapped name
        admin_call(sb, lambda a: a.delete_acls([AclFilter.of(alice_acl)]))
        admin_call(sb, lambda a: a.create_acls([AclBinding("CLUSTER", "kafka-cluster", f"User:{ALICE_DN}", "DESCRIBE")]))
        assert describe_as(sb.alice_cert) == "CLUSTER_AUTHORIZATION_FAILED"
    finally:
        admin_call(sb, lambda a: a.delete_acls([AclFilter("CLUSTER")]))
    assert describe_as(sb.alice_cert) is None  # no ACL on the cluster again: everyone may


def test_non_super_user_cannot_change_acls_once_the_cluster_has_acls(sb):
    guard = AclBinding("CLUSTER", "kafka-cluster", "User:admin", "ALTER")
    admin_call(sb, lambda a: a.create_acls([guard]))
    try:
        async def as_alice():
            async with Admin(sb.sasl_ssl, security_protocol="SASL_SSL", ssl_cafile=str(sb.ca.pem), sasl_mechanism="SCRAM-SHA-512",
                             sasl_plain_username="alice", sasl_plain_password=PASSWORDS["alice"]) as a:
                return (await a.create_acls([AclBinding("TOPIC", "x", "User:alice", "ALL")], raise_errors=False),
                        await a.alter_user_scram_credentials([("alice", "SCRAM-SHA-512", "stolen")], raise_errors=False))

        acl_result, scram_result = asyncio.run(as_alice())
        assert [e.name for e in acl_result] == ["CLUSTER_AUTHORIZATION_FAILED"]
        assert scram_result["alice"].name == "CLUSTER_AUTHORIZATION_FAILED"
        assert login(sb, "alice", PASSWORDS["alice"]) is None
    finally:
        admin_call(sb, lambda a: a.delete_acls([AclFilter.of(guard)]))
