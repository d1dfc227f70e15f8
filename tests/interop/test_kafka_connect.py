"""Kafka Connect 4.4 in distributed mode (ConnectDistributed) against a single-node Odradek.

One worker (a JVM with a 512 MiB heap, REST on a free loopback port) keeps its connector configs,
source offsets and statuses in three compacted topics on Odradek, which it creates itself
(replication factor 1). Through the REST API the test creates a FileStreamSource connector (a
file's lines into a topic) and a FileStreamSink connector (the topic into another file). Then the
worker is stopped (SIGTERM) and started again: the connectors come back from the config topic, the
source carries on from the file position stored in the offsets topic (lines appended while it was
down and after it came back arrive, once), the sink from its group's committed offset. Nothing is
lost or duplicated, in the topic or in the output file. Then the connectors' offsets are managed
through the REST API (KIP-875): the stopped sink's offset is moved back (the worker's admin
commits for the empty group) and lines after it are written again; both offsets are deleted (a
tombstone in the offsets topic, the sink's consumer group deleted) and everything is sent and
written again from the start. The same test passes unchanged against Apache Kafka 4.4.

The FileStream connectors are connect-file 4.3.1 (the newest on Maven Central) on the worker's
plugin.path. They call a class Kafka 4.4 moved (see java/connect/AppInfoParser.java), so the test
puts a two-method bridge for it on the worker's classpath; that is about the plugin and the worker,
not about the broker.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import kafka_jvm
from helpers import BrokerProcess, free_port, track, wait_for
from interop_clients import od_read_to_end

from odradek.client import Admin

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
BRIDGE = [HERE / "java" / "connect" / "AppInfoParser.java"]
GROUP = "connect-odradek"
CONFIGS, OFFSETS, STATUS = "connect-odradek-configs", "connect-odradek-offsets", "connect-odradek-status"
TOPIC = "connect-lines"
SOURCE, SINK = "file-source", "file-sink"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def bridge():
    return kafka_jvm.compile_java(BRIDGE)


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("connect") / "data").start()
    yield b
    b.kill()


class Worker:
    """A ConnectDistributed JVM; start() again after stop() to restart it with the same config."""

    def __init__(self, bootstrap: str, workdir: Path, bridge: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.props = workdir / "worker.properties"
        settings = {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "config.storage.topic": CONFIGS,
            "offset.storage.topic": OFFSETS,
            "status.storage.topic": STATUS,
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://127.0.0.1:{self.port}",
            "rest.advertised.host.name": "127.0.0.1",
            "plugin.path": str(kafka_jvm.libs("connect-file")),
            # the connectors declare themselves in META-INF/services: no reflective classpath scan
            "plugin.discovery": "service_load",
        }
        self.props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.cmd = kafka_jvm.java_command(
            "org.apache.kafka.connect.cli.ConnectDistributed", [str(self.props)], heap="512m", extra_cp=[bridge],
        )
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.workdir / f"worker-{self.starts}.log"
        self._log = open(self.log_path, "wb")
        self.proc = track(subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT))

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"the Connect worker exited:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: Connect stops its tasks, commits offsets and leaves the group."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the Connect worker did not stop within {timeout} s:\n{self.log_text()}") from None
        finally:
            self._log.close()
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._log.close()

    def rest(self, method: str, path: str, body: dict | None = None):
        self.check_alive()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")

    def call(self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200,), timeout: float = 60.0):
        """A REST call that must answer one of ``ok``; 409 (the worker is rebalancing or catching
        up with its config topic: "try again") is retried until ``timeout``, anything else fails."""
        answers: list = []

        def attempt():
            try:
                answers.append(self.rest(method, path, body))
            except urllib.error.HTTPError as e:
                answers.append((e.code, e.read().decode(errors="replace")))
            return answers[-1][0] != 409

        wait_for(attempt, timeout, 0.25, what=f"{method} {path} to answer something else than 409")
        status, out = answers[-1]
        assert status in ok, f"{method} {path}: {status} {out}"
        return out

    def get(self, path: str):
        try:
            status, body = self.rest("GET", path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        return body if status == 200 else None


def running(worker: Worker, name: str) -> bool:
    st = worker.get(f"/connectors/{name}/status")
    return bool(st and st["connector"]["state"] == "RUNNING" and [t["state"] for t in st["tasks"]] == ["RUNNING"])


def out_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def topic_values(bootstrap: str) -> list[str]:
    """Every value in the (one-partition) topic, read from the beginning to its end offset."""
    records, _offsets = await od_read_to_end(bootstrap, TOPIC)
    return [bytes(r.value).decode() for r in records]


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def test_connect_distributed_file_source_and_sink_survive_a_restart(kbroker, bridge, tmp_path):
    bs = kbroker.bootstrap
    infile, outfile = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [f"line {i:03d} {'x' * (i % 7)}" for i in range(1, 101)]
    append(infile, lines[:50])
    worker = Worker(bs, tmp_path, bridge)
    worker.start()
    try:
        root = wait_for(lambda: worker.get("/"), 120, 0.25, what="the worker's REST API")
        cluster = run(_cluster_id(bs))
        assert root["version"] == "4.4.0" and root["kafka_cluster_id"] == cluster, root

        worker.call("POST", "/connectors", {"name": SOURCE, "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasks.max": "1", "file": str(infile), "topic": TOPIC}}, ok=(201,))
        worker.call("POST", "/connectors", {"name": SINK, "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1", "file": str(outfile), "topics": TOPIC}}, ok=(201,))
        wait_for(lambda: running(worker, SOURCE) and running(worker, SINK), 60, 0.25, what="both connectors RUNNING")
        check_internal_topics(bs)  # the REST API answers before the worker has made its topics
        wait_for(lambda: out_lines(outfile) == lines[:50], 60, 0.25, what="the first 50 lines in the output file")
        # the source's file position reached the offsets topic (read back through the REST API)
        size = infile.stat().st_size
        wait_for(lambda: source_position(worker, infile) == size, 30, 0.25, what=f"stored source position {size}")
        check_groups(bs)

        rc = worker.stop()
        assert rc in (0, 143), f"worker exit code {rc}:\n{worker.log_text()}"
        append(infile, lines[50:80])  # written while no worker runs
        worker.start()
        wait_for(lambda: running(worker, SOURCE) and running(worker, SINK), 120, 0.25, what="both connectors RUNNING after the restart")
        append(infile, lines[80:])  # written after the restart
        wait_for(lambda: out_lines(outfile) == lines, 60, 0.25, what="all 100 lines in the output file")
        # settled: the sink committed everything the topic holds, and the topic holds each line once
        wait_for(lambda: sink_offset(worker) == 100, 30, 0.25, what="the sink's committed offset at 100")
        assert run(topic_values(bs)) == lines
        assert out_lines(outfile) == lines
        size = infile.stat().st_size
        wait_for(lambda: source_position(worker, infile) == size, 30, 0.25, what=f"stored source position {size}")

        # KIP-875: stop the sink, move its committed offset back to 90 through the REST API (the
        # worker's admin client commits for the now empty group), resume: lines 91-100 come again
        stop(worker, SINK, bs)
        worker.call("PATCH", f"/connectors/{SINK}/offsets", {"offsets": [
            {"partition": {"kafka_topic": TOPIC, "kafka_partition": 0}, "offset": {"kafka_offset": 90}}]})
        assert sink_offset(worker) == 90
        worker.call("PUT", f"/connectors/{SINK}/resume", ok=(202, 204))
        expected = lines + lines[90:]
        wait_for(lambda: out_lines(outfile) == expected, 60, 0.25, what="lines 91-100 written again")
        wait_for(lambda: sink_offset(worker) == 100, 30, 0.25, what="the sink's committed offset back at 100")

        # reset both: the source's stored position is deleted (a tombstone in the compacted offsets
        # topic) and so is the sink's (its consumer group); resumed, the source sends the file again
        # from its start and the sink writes the topic again from its start: every line twice more
        stop(worker, SOURCE, bs)
        stop(worker, SINK, bs)
        worker.call("DELETE", f"/connectors/{SOURCE}/offsets")
        worker.call("DELETE", f"/connectors/{SINK}/offsets")
        assert source_position(worker, infile) is None and sink_offset(worker) is None
        worker.call("PUT", f"/connectors/{SOURCE}/resume", ok=(202, 204))
        worker.call("PUT", f"/connectors/{SINK}/resume", ok=(202, 204))
        expected += lines + lines
        wait_for(lambda: out_lines(outfile) == expected, 60, 0.25, what="the file and the topic written again")
        wait_for(lambda: sink_offset(worker) == 200, 30, 0.25, what="the sink's committed offset at 200")
        assert run(topic_values(bs)) == lines + lines
        assert out_lines(outfile) == expected
    except BaseException:
        print(worker.log_text())
        print(kbroker.log_text())
        raise
    finally:
        worker.kill()


def stop(worker: Worker, name: str, bs: str) -> None:
    """Stop a connector and wait until it has no tasks; for the sink also until its consumer has
    left the group (the worker alters or deletes a sink's offsets only for an empty group)."""
    worker.call("PUT", f"/connectors/{name}/stop", ok=(202, 204))

    def stopped() -> bool:
        st = worker.get(f"/connectors/{name}/status") or {}
        return st.get("connector", {}).get("state") == "STOPPED" and st.get("tasks") == []

    wait_for(stopped, 30, 0.25, what=f"{name} STOPPED")
    if name == SINK:
        wait_for(lambda: run(_group_state(bs, f"connect-{SINK}")) == "Empty", 30, 0.25, what="the sink's group empty")


async def _group_state(bs: str, group: str) -> str:
    async with Admin(bs) as admin:
        return (await admin.describe_groups([group]))[group].state


async def _cluster_id(bs: str) -> str:
    async with Admin(bs) as admin:
        return (await admin.describe_cluster()).cluster_id


def source_position(worker: Worker, infile: Path) -> int | None:
    body = worker.get(f"/connectors/{SOURCE}/offsets")
    for o in (body or {}).get("offsets", []):
        if o["partition"] == {"filename": str(infile)}:
            return o["offset"]["position"]
    return None


def sink_offset(worker: Worker) -> int | None:
    body = worker.get(f"/connectors/{SINK}/offsets")
    for o in (body or {}).get("offsets", []):
        if o["partition"] == {"kafka_topic": TOPIC, "kafka_partition": 0}:
            return o["offset"]["kafka_offset"]
    return None


def check_internal_topics(bs: str) -> None:
    """The worker's three topics as Odradek reports them: compacted, Connect's partition counts, RF 1."""

    async def go():
        async with Admin(bs) as admin:
            infos = await admin.describe_topics([CONFIGS, OFFSETS, STATUS])
            policies = {t: (await admin.describe_configs("topic", t, ["cleanup.policy"]))["cleanup.policy"].value for t in infos}
            return infos, policies

    infos, policies = run(go())
    assert {t: len(i.partitions) for t, i in infos.items()} == {CONFIGS: 1, OFFSETS: 25, STATUS: 5}
    for t, info in infos.items():
        assert all(len(p.replicas) == 1 for p in info.partitions.values()), (t, info)
    assert policies == {CONFIGS: "compact", OFFSETS: "compact", STATUS: "compact"}


def check_groups(bs: str) -> None:
    """The workers' group speaks Connect's protocol; the sink task is an ordinary consumer group."""

    async def go():
        async with Admin(bs) as admin:
            return await admin.describe_groups([GROUP, f"connect-{SINK}"])

    groups = run(go())
    workers, sink = groups[GROUP], groups[f"connect-{SINK}"]
    assert (workers.state, workers.protocol_type, workers.protocol, len(workers.members)) == ("Stable", "connect", "sessioned", 1), workers
    assert (sink.state, sink.protocol_type, len(sink.members)) == ("Stable", "consumer", 1), sink
