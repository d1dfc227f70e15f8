"""The ``odradek`` command against Odradek and Tansu: every subcommand, JSON output, exit codes;
what it produces confluent-kafka reads; a tmux-driven session as a person would type it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT, BrokerProcess, free_port, wait_for
from interop_clients import ck_consume, ck_produce, Rec, uniq
from test_odradek_client import Target, TansuProcess

from odradek.client import partition_for_key

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=["odradek", "tansu"])
def kafka(request, tmp_path_factory):
    if request.param == "odradek":
        b = BrokerProcess(tmp_path_factory.mktemp("odradek") / "data").start()
        yield Target("odradek", b.bootstrap, {})
        b.kill()
    else:
        t = TansuProcess(tmp_path_factory.mktemp("tansu")).start()
        yield Target("tansu", t.bootstrap, {"session": "6000"})
        t.stop()


def env(bootstrap: str | None) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    if bootstrap is None:
        e.pop("ODRADEK_BOOTSTRAP_SERVER", None)
    else:
        e["ODRADEK_BOOTSTRAP_SERVER"] = bootstrap
    return e


def odradek(kafka: Target | None, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``odradek ARGS`` with $ODRADEK_BOOTSTRAP_SERVER pointing at the broker."""
    return subprocess.run(
        [sys.executable, "-m", "odradek", *args], input=input, capture_output=True, text=True, timeout=timeout,
        env=env(kafka.bootstrap if kafka else None), cwd=str(ROOT),
    )


def ok(kafka: Target, *args: str, input: str | None = None) -> str:
    r = odradek(kafka, *args, input=input)
    assert r.returncode == 0, f"odradek {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def js(kafka: Target, *args: str, input: str | None = None):
    return json.loads(ok(kafka, *args, "--format", "json", input=input))


def session_args(kafka: Target) -> list[str]:
    return ["--session-timeout-ms", kafka.group_kw["session"]] if "session" in kafka.group_kw else []


def test_topic_lifecycle_and_exit_codes(kafka: Target) -> None:
    t = uniq("cli-topic")
    out = ok(kafka, "topic", "create", t, "-p", "3", "-c", "retention.ms=3600000")
    assert t in out and "OK" in out
    r = odradek(kafka, "topic", "create", t, "-p", "3")
    assert r.returncode == 1 and "TOPIC_ALREADY_EXISTS" in r.stdout
    assert odradek(kafka, "topic", "create", t, "--if-not-exists").returncode == 0
    listed = js(kafka, "topic", "list")
    assert {"topic": t, "partitions": 3, "replicas": 1, "internal": False} in listed
    table = ok(kafka, "topic", "list")
    assert table.splitlines()[0].split() == ["TOPIC", "PARTITIONS", "REPLICAS"]
    (d,) = js(kafka, "topic", "describe", t)
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2]
    assert all(p["leader"] >= 0 and p["isr"] and p["high_watermark"] == 0 for p in d["partitions"])
    human = ok(kafka, "topic", "describe", t)
    assert "HIGH-WATERMARK" in human and "ISR" in human
    if kafka.name == "odradek":
        assert d["configs"] == {"retention.ms": "3600000"}
        ok(kafka, "topic", "add-partitions", t, "--count", "5")
        assert len(js(kafka, "topic", "describe", t)[0]["partitions"]) == 5
    cfg = js(kafka, "topic", "alter-config", t, "--set", "retention.ms=7200000")
    assert cfg["retention.ms"] == "7200000"
    missing = uniq("nope")
    r = odradek(kafka, "topic", "describe", missing)
    assert r.returncode == 4 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr
    assert odradek(kafka, "topic", "delete", missing).returncode == 4
    assert odradek(kafka, "topic", "delete", missing, "--if-exists").returncode == 0
    assert "DELETED" in ok(kafka, "topic", "delete", t)
    assert t not in [x["topic"] for x in js(kafka, "topic", "list")]


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_produce_consume_round_trip(kafka: Target, codec: str) -> None:
    t = uniq(f"cli-pc-{codec}")
    ok(kafka, "topic", "create", t, "-p", "3")
    lines = [f"user-{i}:event {i} ✓" for i in range(30)] + ["no separator here"]
    rep = js(kafka, "produce", t, "-k", ":", "-H", "source=cli", "-H", "v=1", "-z", codec, "--report", input="\n".join(lines) + "\n")
    assert rep["records"] == rep["delivered"] == 31 and rep["failed"] == 0
    # keyed lines sit on their murmur2 partition
    for line, o in zip(lines, rep["offsets"]):
        if ":" in line:
            assert o["partition"] == partition_for_key(line.split(":")[0].encode(), 3)
    out = ok(kafka, "consume", t, "--from-beginning", "-n", "31", "--format", "json")
    recs = [json.loads(x) for x in out.splitlines()]
    assert len(recs) == 31
    assert sorted((r["key"] or "", r["value"]) for r in recs) == sorted(
        [(f"user-{i}", f"event {i} ✓") for i in range(30)] + [("", "no separator here")]
    )
    assert [r["key"] for r in recs].count(None) == 1
    assert all(r["headers"] == [["source", "cli"], ["v", "1"]] for r in recs)
    # a template, one partition, from an offset
    p0 = [r for r in recs if r["partition"] == 0]
    out = ok(kafka, "consume", t, "-p", "0", "-o", "1", "-n", str(len(p0) - 1), "-t", "{partition}|{offset}|{key}|{value}")
    assert out.splitlines() == [f"0|{r['offset']}|{r['key'] or ''}|{r['value']}" for r in sorted(p0, key=lambda r: r["offset"])[1:]]
    # confluent-kafka reads what the command wrote
    until = {p: len([r for r in recs if r["partition"] == p]) for p in range(3)}
    got = ck_consume(kafka.bootstrap, t, until)
    assert sum(len(v) for v in got.values()) == 31
    assert {g.value.decode() for v in got.values() for g in v} == {r["value"] for r in recs}


def test_consume_what_confluent_wrote_and_from_time(kafka: Target) -> None:
    t = uniq("cli-ck")
    ok(kafka, "topic", "create", t, "-p", "1")
    base = 1_700_000_000_000
    ck_produce(kafka.bootstrap, t, [Rec(b"k%d" % i, b"v%d" % i, (), base + i * 1000) for i in range(10)])
    out = ok(kafka, "consume", t, "--from-beginning", "-n", "10", "-t", "{key}={value}@{timestamp}")
    assert out.splitlines() == [f"k{i}=v{i}@{base + i * 1000}" for i in range(10)]
    r = odradek(kafka, "consume", t, "--from-time", str(base + 6500), "-n", "3", "--idle-timeout", "5")
    if kafka.name == "odradek":  # Tansu 0.6 answers ListOffsets by time with offset 0
        assert r.returncode == 0 and r.stdout.splitlines() == ["v7", "v8", "v9"]
    # exit after N: fewer records than asked within the idle timeout is a failure (exit 1)
    r = odradek(kafka, "consume", t, "--from-beginning", "-n", "11", "--idle-timeout", "2")
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 10 and "read 10 of 11" in r.stderr


def test_group_describe_reset_and_delete(kafka: Target) -> None:
    t, g = uniq("cli-grp"), uniq("cli-g")
    ok(kafka, "topic", "create", t, "-p", "2")
    for i in range(12):  # one record per batch keeps Tansu's high watermark right
        ok(kafka, "produce", t, "-p", str(i % 2), input=f"m{i}\n") if i < 2 else None
    ok(kafka, "produce", t, "-k", ":", input="".join(f"{k}:m{i}\n" for i, k in enumerate(["a", "b", "c", "d"] * 2)))
    out = ok(kafka, "consume", t, "-g", g, "--from-beginning", "-n", "10", *session_args(kafka))
    assert len(out.splitlines()) == 10
    assert g in [x["group"] for x in js(kafka, "group", "list")]
    (d,) = js(kafka, "group", "describe", g)
    assert d["state"] in ("Empty", "Unknown") and d["members"] == []
    assert sum(o["committed"] for o in d["offsets"]) == 10 and d["total_lag"] == 0 or kafka.name == "tansu"
    assert all(o["committed"] is not None for o in d["offsets"])
    human = ok(kafka, "group", "describe", g)
    for col in ("LOG-END-OFFSET", "COMMITTED", "LAG"):
        assert col in human
    before = {(o["topic"], o["partition"]): o["committed"] for o in d["offsets"]}
    dry = js(kafka, "group", "reset-offsets", g, "--topic", t, "--to-earliest", "--dry-run")
    assert dry["dry_run"] and all(o["new"] == 0 for o in dry["offsets"])
    (d2,) = js(kafka, "group", "describe", g)
    assert {(o["topic"], o["partition"]): o["committed"] for o in d2["offsets"]} == before
    js(kafka, "group", "reset-offsets", g, "--topic", f"{t}:0", "--to-offset", "0")
    (d3,) = js(kafka, "group", "describe", g)
    after = {o["partition"]: o["committed"] for o in d3["offsets"]}
    assert after[0] == 0 and after[1] == before[(t, 1)]
    again = ok(kafka, "consume", t, "-g", g, "-n", str(before[(t, 0)]), *session_args(kafka))
    assert len(again.splitlines()) == before[(t, 0)]  # partition 0 read again from 0
    assert "DELETED" in ok(kafka, "group", "delete", g)
    assert odradek(kafka, "group", "describe", g).returncode in (0, 4)


def test_cluster_commands(kafka: Target) -> None:
    b = js(kafka, "cluster", "brokers")
    assert b["brokers"] and any(x["controller"] for x in b["brokers"])
    port = int(kafka.bootstrap.rsplit(":", 1)[1])
    assert port in [x["port"] for x in b["brokers"]]
    c = js(kafka, "cluster", "controller")
    assert c["controller"] == b["controller"] and c["port"] == port
    h = js(kafka, "cluster", "health")
    assert h["healthy"] is True and h["offline_partitions"] == [] and h["unreachable_brokers"] == []
    assert "healthy" in ok(kafka, "cluster", "health")


def test_unreachable_and_env_default() -> None:
    port = free_port()
    r = subprocess.run([sys.executable, "-m", "odradek", "cluster", "brokers", "-b", f"127.0.0.1:{port}", "--timeout", "2"],
                       capture_output=True, text=True, env=env(None), cwd=str(ROOT), timeout=60)
    assert r.returncode == 3 and "cannot reach" in r.stderr
    r = subprocess.run([sys.executable, "-m", "odradek", "topic", "list", "--timeout", "2"],
                       capture_output=True, text=True, env=env(f"127.0.0.1:{port}"), cwd=str(ROOT), timeout=60)
    assert r.returncode == 3 and f"127.0.0.1:{port}" in r.stderr


def test_perf_produce_and_consume(kafka: Target) -> None:
    t = uniq("cli-perf")
    ok(kafka, "topic", "create", t, "-p", "2")
    p = js(kafka, "perf", "produce", t, "-n", "20000", "-s", "200", "--progress")
    assert p["records"] == 20000 and p["failed"] == 0 and p["records_per_sec"] > 0
    lat = p["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    c = js(kafka, "perf", "consume", t, "-n", "20000")
    assert c["records"] == 20000 and c["bytes"] == 20000 * 200 and c["mb_per_sec"] > 0
    human = odradek(kafka, "perf", "produce", t, "-n", "2000", "--progress")
    assert human.returncode == 0 and "latency ms p99" in human.stdout and "rec/s" in human.stderr


def tmux_session(bootstrap: str, commands: list, width: int = 150) -> str:
    """Type ``commands`` into a shell in a detached tmux session; return the screen text (scrollback too)."""
    name = uniq("odradek-cli")
    sock = uniq("sock")
    bin_dir = Path(tempfile.mkdtemp(prefix="odradek-bin-"))
    wrapper = bin_dir / "odradek"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m odradek \"$@\"\n")
    wrapper.chmod(0o755)
    shell_env = f"export PS1='$ ' ODRADEK_BOOTSTRAP_SERVER={bootstrap} PYTHONPATH={ROOT / 'src'} PATH={bin_dir}:$PATH; clear"
    base = ["tmux", "-L", sock]
    subprocess.run(base + ["new-session", "-d", "-s", name, "-x", str(width), "-y", "200", "bash --norc --noprofile"], check=True)
    try:
        subprocess.run(base + ["send-keys", "-t", name, shell_env, "Enter"], check=True)
        marker = 0
        for cmd in commands:
            if callable(cmd):  # wait for a state before typing on
                cmd()
                continue
            marker += 1
            subprocess.run(base + ["send-keys", "-t", name, "-l", cmd], check=True)
            subprocess.run(base + ["send-keys", "-t", name, "Enter"], check=True)
            done = f"__done_{marker}__"
            subprocess.run(base + ["send-keys", "-t", name, "-l", f" : {done}"], check=True)
            subprocess.run(base + ["send-keys", "-t", name, "Enter"], check=True)

            def finished() -> bool:
                screen = subprocess.run(base + ["capture-pane", "-p", "-t", name, "-S", "-2000"], capture_output=True, text=True).stdout
                return screen.count(f"$  : {done}") >= 1 and screen.rstrip().endswith("$")

            wait_for(finished, 90, 0.1, what=f"tmux: {cmd}")
        screen = subprocess.run(base + ["capture-pane", "-p", "-t", name, "-S", "-2000"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(base + ["kill-server"], check=False)
        shutil.rmtree(bin_dir, ignore_errors=True)
    lines = [ln for ln in screen.rstrip().splitlines() if "__done_" not in ln]
    return "\n".join(lines).strip().rstrip("$").rstrip() + "\n"


def group_has_members(bootstrap: str, group: str, n: int):
    """A wait step for :func:`tmux_session`: ``group`` is Stable with ``n`` members."""

    def wait() -> None:
        import asyncio

        from odradek.client import Admin

        async def check() -> bool:
            async with Admin(bootstrap) as admin:
                d = (await admin.describe_groups([group]))[group]
                return d.state == "Stable" and len(d.members) == n and all(m.assignment for m in d.members)

        wait_for(lambda: asyncio.run(check()), 60, 0.2, what=f"{n} members in {group}")

    return wait


def session(bootstrap: str) -> list:
    return [
        "odradek cluster brokers",
        "odradek topic create orders --partitions 3 --config retention.ms=86400000",
        "printf 'alice:pizza\\nbob:sushi\\ncarol:tacos\\nalice:salad\\n' | odradek produce orders --key-separator : --header origin=shop --compression zstd",
        "odradek topic describe orders",
        "odradek consume orders --from-beginning --num 4 --template '{partition}/{offset}  {key} -> {value}  [{headers}]'",
        "odradek consume orders --group kitchen --from-beginning --num 4 > /dev/null",
        "odradek group describe kitchen",
        "odradek group reset-offsets kitchen --topic orders --to-earliest --dry-run",
        "odradek consume orders --group live > /dev/null &",
        "odradek consume orders --group live > /dev/null &",
        group_has_members(bootstrap, "live", 2),
        "odradek group describe live",
        "kill %1 %2; wait",
        "odradek cluster health; echo \"exit code $?\"",
        "odradek topic describe no-such-topic; echo \"exit code $?\"",
        "odradek perf produce orders --num-records 50000 --record-size 100",
    ]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_session(tmp_path: Path) -> None:
    """The session docs/cli.md shows, typed into a real terminal; set ODRADEK_CLI_SESSION_OUT to
    keep the screen."""
    b = BrokerProcess(tmp_path / "data").start()
    try:
        screen = tmux_session(b.bootstrap, session(b.bootstrap))
    finally:
        b.kill()
    out = os.environ.get("ODRADEK_CLI_SESSION_OUT")
    if out:
        Path(out).write_text(screen.replace(b.bootstrap, "127.0.0.1:9092").replace(str(b.port), "9092"))
    assert "CONTROLLER" in screen and "orders  OK" in screen
    assert "produced 4 of 4 records to orders" in screen
    assert "alice -> pizza  [origin=shop]" in screen
    assert "LOG-END-OFFSET" in screen and "kitchen" in screen
    assert "(dry run: nothing was changed)" in screen
    assert "state: Stable" in screen and "members: 2" in screen
    assert "exit code 0" in screen and "exit code 4" in screen
    assert "latency ms p99" in screen and "produce [" in screen
