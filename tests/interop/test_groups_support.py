"""Shared machinery for the consumer-group interop suites (tests/interop/test_groups_*.py).

No tests live here. Two halves:

- the test side: :class:`Member` runs one group consumer in its own process (a Python worker,
  this file run as a script, for confluent-kafka ``ck``, kafka-python ``kp`` and aiokafka ``ak``;
  ``kafkajs/groups.js`` for KafkaJS ``kjs``) and collects what it reports; the group as the broker
  sees it comes from confluent-kafka's AdminClient (:func:`describe`, :func:`wait_stable`);
- the worker side (``python test_groups_support.py worker '<json>'``): a consumer loop that prints
  one JSON event per line on stdout and obeys ``go`` / ``close`` lines on stdin.

Worker events: ``started``; ``assignment`` (the full current assignment, whenever it changes);
``assign`` / ``revoke`` / ``lost`` (rebalance callbacks, with ``incremental`` for cooperative
ones); ``msg`` (a record processed: topic, partition, offset, value); ``commit`` (a synchronous
commit of offset+1 after each processed record when ``commit`` is ``"each"``; ``err`` is None or
the error); ``error``; ``closed``.

Worker options (the JSON): ``client``, ``bootstrap``, ``group``, ``topics``, ``name`` (client id),
``session_ms``, ``heartbeat_ms``, ``max_poll_ms``, ``assignor`` (protocol name), ``instance_id``,
``hold`` (process nothing until ``go``: assigned partitions are paused, KafkaJS waits in
eachMessage), ``limit`` (records at offsets >= limit are never processed), ``commit`` (``"each"``
or ``"none"``), ``extra`` (client config), ``debug`` (client debug logs on stderr).

Client quirks handled here (none is the broker's): kafka-python 3.0.12 can lose a finished
JoinGroup when poll() times out mid-join (:func:`patch_kafka_python_join`); librdkafka hands a
fatal error such as fencing to the application as ``_FATAL`` without the fatal flag.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS_JS = HERE / "kafkajs" / "groups.js"
KAFKAJS_MODULES = HERE / "kafkajs" / "node_modules" / "kafkajs"

# Fast group timings for the tests: the broker's default group.min.session.timeout.ms is 6000.
SESSION_MS = 6000
HEARTBEAT_MS = 500
MAX_POLL_MS = 20000  # also the rebalance timeout of the Java-style clients


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def kafkajs_available() -> bool:
    import shutil

    return shutil.which("node") is not None and KAFKAJS_MODULES.is_dir()


# =================================================================================================
# test side
# =================================================================================================


def ck_admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap: str, topic: str, partitions: int = 6) -> None:
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(bootstrap)  # keep it referenced until the result is in
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)], request_timeout=15)
    fs[topic].result(timeout=20)


def produce(bootstrap: str, topic: str, per_partition: dict[int, int] | int, partitions: int = 6, tag: str = "r") -> dict[int, list[bytes]]:
    """``per_partition`` records into each partition (explicitly placed); values ``tag-p-i``.
    Returns the values per partition in offset order (offsets start at 0 on a fresh topic)."""
    from confluent_kafka import Producer

    counts = per_partition if isinstance(per_partition, dict) else {p: per_partition for p in range(partitions)}
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True})
    errors: list = []
    out: dict[int, list[bytes]] = {}
    for part, n in counts.items():
        for i in range(n):
            v = f"{tag}-{part}-{i}".encode()
            out.setdefault(part, []).append(v)
            p.produce(topic, value=v, key=v, partition=part, on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(30) == 0, "records still undelivered"
    assert not errors, f"delivery errors: {errors[:3]}"
    return out


def kjs_admin(bootstrap: str, *ops: dict, timeout: float = 60.0) -> list[dict]:
    """KafkaJS admin group calls through kafkajs/groups.js: one {"ok", "result"|"error"} per op."""
    cfg = {"bootstrap": bootstrap, "name": "odradek-groups-admin", "admin": list(ops)}
    proc = subprocess.run(["node", str(GROUPS_JS), json.dumps(cfg)], capture_output=True, timeout=timeout, cwd=str(HERE))
    try:
        doc = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"groups.js gave no JSON (rc {proc.returncode}): {proc.stdout[-2000:]!r} {proc.stderr[-3000:]!r}") from None
    if "fatal" in doc:
        raise AssertionError(f"groups.js failed: {doc['fatal']}\n{proc.stderr.decode(errors='replace')[-3000:]}")
    return doc["results"]


@dataclass(frozen=True)
class MemberView:
    member_id: str
    instance_id: str | None
    client_id: str
    host: str
    tps: frozenset  # {(topic, partition)}


@dataclass(frozen=True)
class GroupView:
    group_id: str
    state: str  # ConsumerGroupState name: STABLE, EMPTY, PREPARING_REBALANCE, COMPLETING_REBALANCE, DEAD, UNKNOWN
    assignor: str
    members: tuple[MemberView, ...]

    def owned(self) -> list[tuple[str, int]]:
        return sorted(tp for m in self.members for tp in m.tps)

    def by_instance(self) -> dict[str | None, MemberView]:
        return {m.instance_id: m for m in self.members}


def describe(admin, group: str) -> GroupView:
    d = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    members = tuple(
        MemberView(
            m.member_id,
            m.group_instance_id,
            m.client_id,
            m.host,
            frozenset((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])),
        )
        for m in d.members
    )
    return GroupView(d.group_id, d.state.name, d.partition_assignor, members)


def committed(admin, group: str, topic: str, partitions: int = 6) -> dict[int, int]:
    """The group's committed offsets for ``topic`` (-1001 = none), via OffsetFetch."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
    res = admin.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=15)
    out = {}
    for tp in res.topic_partitions:
        assert tp.error is None, f"{tp}: {tp.error}"
        out[tp.partition] = tp.offset
    return out


def _sorted_sets(sets) -> list[list]:
    return sorted(sorted(s) for s in sets)


def wait_stable(admin, group: str, members: list["Member"], topic: str, partitions: int = 6, timeout: float = 30.0,
                sizes: list[int] | None = None) -> GroupView:
    """Wait until the broker says Stable with exactly these members, every partition of ``topic`` owned
    exactly once, and each member process reports the assignment the broker holds for one member."""
    want = [(topic, p) for p in range(partitions)]
    last: dict = {}

    def cond():
        dead = [m for m in members if not m.alive()]
        if dead:
            raise MemberDied("\n".join(m.report() for m in dead))
        v = describe(admin, group)
        last["view"] = v
        if v.state != "STABLE" or len(v.members) != len(members):
            return None
        if v.owned() != want:
            return None
        local = [m.assignment() for m in members]
        last["local"] = local
        if _sorted_sets(local) != _sorted_sets(m.tps for m in v.members):
            return None
        if sizes is not None and sorted(len(m.tps) for m in v.members) != sorted(sizes):
            return None
        return v

    try:
        return wait_for_value(cond, timeout)
    except AssertionError as e:
        detail = "\n".join(m.report() for m in members)
        raise AssertionError(f"group {group} not stable with {len(members)} members: {e}\nlast broker view: {last.get('view')}\n"
                             f"last local: {last.get('local')}\n{detail}") from None


class MemberDied(Exception):
    pass


def wait_for_value(cond, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except MemberDied as e:
            raise AssertionError(f"a member process died: {e}") from None
        except Exception as e:  # noqa: BLE001 - keep polling (the broker may be restarting)
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s" + (f" (last error {last_exc!r})" if last_exc else ""))


def wait_members(cond, members: list["Member"], timeout: float, what: str):
    """``wait_for_value`` that shows what the members reported when it times out."""
    try:
        return wait_for_value(cond, timeout)
    except AssertionError as e:
        detail = "\n".join(m.report() for m in members)
        raise AssertionError(f"{what}: {e}\n{detail}") from None


class Member:
    """One group consumer in its own process; ``events`` is everything it reported so far."""

    def __init__(self, client: str, bootstrap: str, group: str, topics: list[str], *, log_dir: Path, name: str | None = None, **opts):
        self.client = client
        self.name = name or uniq(client)
        cfg = {
            "client": client,
            "bootstrap": bootstrap,
            "group": group,
            "topics": topics,
            "name": self.name,
            "session_ms": SESSION_MS,
            "heartbeat_ms": HEARTBEAT_MS,
            "max_poll_ms": MAX_POLL_MS,
            "commit": "each",
        }
        cfg.update(opts)
        self.cfg = cfg
        if client == "kjs":
            argv = ["node", str(GROUPS_JS), json.dumps(cfg)]
        else:
            argv = [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(cfg)]
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / f"{self.name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=str(HERE), env=env)
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line.decode(errors="replace")}
            ev["at"] = time.monotonic()
            with self._lock:
                self.events.append(ev)

    # --- what it reported --------------------------------------------------------------------

    def evs(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self.events if kind is None or e["ev"] == kind]

    def assignment(self) -> frozenset:
        a = self.evs("assignment")
        return frozenset(tuple(tp) for tp in a[-1]["tps"]) if a else frozenset()

    def msgs(self) -> list[tuple[int, int, str]]:
        return [(e["p"], e["o"], e["v"]) for e in self.evs("msg")]

    def commit_errors(self) -> list[dict]:
        return [e for e in self.evs("commit") if e.get("err")]

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def report(self) -> str:
        evs = [e for e in self.evs() if e["ev"] not in ("msg", "commit")]
        n_msgs, n_commits = len(self.evs("msg")), len(self.evs("commit"))
        return (f"--- member {self.name} ({self.client}, pid {self.proc.pid}, rc {self.proc.poll()}): {n_msgs} records, "
                f"{n_commits} commits ({len(self.commit_errors())} failed: {self.commit_errors()[:2]}); {evs[-12:]}\n{self.stderr_tail(1500)}")

    # --- control -----------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def go(self) -> None:
        self.send("go")

    def close(self, timeout: float = 30.0) -> None:
        """A clean close (the client leaves the group, unless it is a static member), then wait for exit."""
        self.send("close")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"member {self.name} did not close within {timeout}s\n{self.report()}") from None
        self._reader.join(5)
        self._stderr.close()

    def kill(self) -> None:
        """SIGKILL, by PID: the member dies without a word to the broker."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)
        if not self._stderr.closed:
            self._stderr.close()


class Members:
    """Every member a test started; whatever is still running at teardown is SIGKILLed by PID."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.all: list[Member] = []

    def start(self, client: str, bootstrap: str, group: str, topics: list[str], **opts) -> Member:
        m = Member(client, bootstrap, group, topics, log_dir=self.log_dir, **opts)
        self.all.append(m)
        return m

    def kill_all(self) -> None:
        for m in self.all:
            try:
                m.kill()
            except Exception:  # noqa: BLE001
                pass


def check_exactly(got: list[tuple[int, int, str]], want: dict[int, range], values: dict[int, list[bytes]] | None = None) -> None:
    """``got`` (partition, offset, value) holds each offset of ``want`` exactly once and nothing else."""
    seen: dict[int, list[int]] = {}
    for p, o, v in got:
        seen.setdefault(p, []).append(o)
        if values is not None:
            assert v == values[p][o].decode(), f"partition {p} offset {o}: value {v!r} != {values[p][o]!r}"
    for p in sorted(set(seen) | set(want)):
        offs = sorted(seen.get(p, []))
        exp = list(want.get(p, range(0)))
        dups = sorted({o for o in offs if offs.count(o) > 1})
        assert not dups, f"partition {p}: offsets read twice: {dups}"
        missing = sorted(set(exp) - set(offs))
        assert not missing, f"partition {p}: offsets never read: {missing}"
        extra = sorted(set(offs) - set(exp))
        assert not extra, f"partition {p}: offsets read that should not have been: {extra} (expected {exp[:1]}..{exp[-1:]})"


# =================================================================================================
# worker side
# =================================================================================================


class _Out:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, ev: str, **kw) -> None:
        line = json.dumps({"ev": ev, **kw}, default=str)
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def _stdin_commands() -> "queue.Queue[str]":
    q: queue.Queue[str] = queue.Queue()

    def read():
        for line in sys.stdin:
            q.put(line.strip())
        q.put("close")  # the test went away: leave

    threading.Thread(target=read, daemon=True).start()
    return q


class _Loop:
    """What all Python workers share: commands, hold/go, the limit, reporting.

    Holding: assigned partitions are paused (in the assign callback) until ``go``; a record that
    still arrives while holding is put back with a seek to its offset, never dropped (clients may
    keep fetch positions of partitions they keep across an eager rebalance)."""

    def __init__(self, cfg: dict, out: _Out):
        self.cfg = cfg
        self.out = out
        self.hold = bool(cfg.get("hold"))
        self.limit = cfg.get("limit")
        self.cmds = _stdin_commands()
        self.last_assignment: list | None = None
        self.released = False  # "go" arrived and the client must resume its partitions

    def commands(self) -> bool:
        """Handle pending commands; False when the worker must close."""
        while True:
            try:
                c = self.cmds.get_nowait()
            except queue.Empty:
                return True
            if c == "go":
                if self.hold:
                    self.hold = False
                    self.released = True
            elif c == "close":
                return False

    def report_assignment(self, tps) -> None:
        cur = sorted([t, p] for t, p in tps)
        if cur != self.last_assignment:
            self.last_assignment = cur
            self.out("assignment", tps=cur)

    def take(self, records, seek) -> list[tuple[str, int, int, bytes | None]]:
        """Records (topic, partition, offset, value) in fetch order -> the ones to process now.
        While holding, each partition's first record is sought back to and nothing is processed."""
        if self.hold:
            first: dict[tuple[str, int], int] = {}
            for t, p, o, _v in records:
                first.setdefault((t, p), o)
            for (t, p), o in first.items():
                seek(t, p, o)
            return []
        return [r for r in records if self.limit is None or r[2] < self.limit]

    def processed(self, t: str, p: int, o: int, v: bytes | None) -> None:
        self.out("msg", t=t, p=p, o=o, v=None if v is None else v.decode(errors="replace"))


def _tps(parts) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in parts]


def _ck_fatal(err) -> bool:
    # librdkafka hands a fatal error (e.g. fencing) to the application as code _FATAL
    return bool(err.fatal() or err.name() == "_FATAL")


def worker_ck(cfg: dict, out: _Out) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    loop = _Loop(cfg, out)
    conf = {
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": cfg["group"],
        "client.id": cfg["name"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": cfg["session_ms"],
        "heartbeat.interval.ms": cfg["heartbeat_ms"],
        "max.poll.interval.ms": cfg["max_poll_ms"],
        "fetch.wait.max.ms": 100,
        "error_cb": lambda err: out("error", code=err.name(), fatal=_ck_fatal(err), str=str(err)),
    }
    if cfg.get("assignor"):
        conf["partition.assignment.strategy"] = cfg["assignor"]
    if cfg.get("instance_id"):
        conf["group.instance.id"] = cfg["instance_id"]
    conf.update(cfg.get("extra", {}))
    c = Consumer(conf)
    cooperative = conf.get("partition.assignment.strategy") == "cooperative-sticky"

    def on_assign(cons, parts):
        out("assign", tps=_tps(parts), incremental=cooperative)
        if loop.hold:
            if cooperative:
                cons.incremental_assign(parts)
            else:
                cons.assign(parts)
            if parts:
                cons.pause(parts)

    def on_revoke(cons, parts):
        out("revoke", tps=_tps(parts), incremental=cooperative)

    def on_lost(cons, parts):
        out("lost", tps=_tps(parts))

    def seek(t, p, o):
        c.seek(TopicPartition(t, p, o))

    c.subscribe(cfg["topics"], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    out("started", pid=os.getpid())
    fatal = False
    while loop.commands():
        if loop.released:
            loop.released = False
            c.resume(c.assignment())
        try:
            msg = c.poll(0.05)
        except KafkaException as e:
            out("error", code=e.args[0].name(), fatal=_ck_fatal(e.args[0]), str=str(e))
            fatal = fatal or _ck_fatal(e.args[0])
            msg = None
        if fatal:
            time.sleep(0.05)
            continue
        records = []
        if msg is not None:
            if msg.error():
                out("error", code=msg.error().name(), fatal=_ck_fatal(msg.error()), str=str(msg.error()))
                fatal = _ck_fatal(msg.error())
            else:
                records.append((msg.topic(), msg.partition(), msg.offset(), msg.value()))
        try:
            loop.report_assignment(_tps(c.assignment()))
        except KafkaException:
            pass
        for t, p, o, v in loop.take(records, seek):
            loop.processed(t, p, o, v)
            if cfg["commit"] == "each":
                try:
                    res = c.commit(offsets=[TopicPartition(t, p, o + 1)], asynchronous=False)
                    err = next((str(r.error) for r in res if r.error is not None), None)
                except KafkaException as e:
                    err = str(e)
                out("commit", t=t, p=p, o=o + 1, err=err)
    try:
        c.close()
    except Exception as e:  # noqa: BLE001
        out("error", code="close", fatal=False, str=str(e))
    out("closed")


def patch_kafka_python_join() -> None:
    """Work around a kafka-python 3.0.12 client bug (not the broker's).

    ``join_group_async`` loops ``while self.need_rejoin()`` and, when ``poll(timeout_ms)`` runs out
    while a JoinGroup is in flight, leaves the join task running for the next poll to pick up. When
    the rejoin was caused by the leader's metadata snapshot changing (its first assignment was made
    before its metadata covered the topic), performing the new assignment makes ``need_rejoin()``
    False again, so the next poll never awaits the finished task: heartbeats stay disabled, the
    assignment is never applied and the member is evicted after its session timeout. Seen as a
    member stuck with no partitions while the other two share all six. Treat an unfinished join
    task as "rejoin needed".
    """
    from kafka.coordinator.consumer import ConsumerCoordinator

    if getattr(ConsumerCoordinator, "_odradek_patched", False):
        return
    orig = ConsumerCoordinator.need_rejoin

    def need_rejoin(self):
        return orig(self) or getattr(self, "_join_task", None) is not None

    ConsumerCoordinator.need_rejoin = need_rejoin
    ConsumerCoordinator._odradek_patched = True


def kp_assignors(name: str | None):
    if not name:
        return None
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    table = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor, "sticky": StickyPartitionAssignor,
             "cooperative-sticky": CooperativeStickyAssignor}
    return [table[n.strip()] for n in name.split(",")]


def worker_kp(cfg: dict, out: _Out) -> None:
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.structs import OffsetAndMetadata

    patch_kafka_python_join()
    loop = _Loop(cfg, out)
    assignors = kp_assignors(cfg.get("assignor"))
    kw = dict(
        bootstrap_servers=cfg["bootstrap"],
        group_id=cfg["group"],
        client_id=cfg["name"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg["session_ms"],
        heartbeat_interval_ms=cfg["heartbeat_ms"],
        max_poll_interval_ms=cfg["max_poll_ms"],
        fetch_max_wait_ms=100,
        request_timeout_ms=max(30000, cfg["session_ms"] + 5000),
    )
    if assignors:
        kw["partition_assignment_strategy"] = assignors
    if cfg.get("instance_id"):
        kw["group_instance_id"] = cfg["instance_id"]
    kw.update(cfg.get("extra", {}))
    c = KafkaConsumer(**kw)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            out("revoke", tps=_tps(revoked), incremental=False)

        def on_partitions_assigned(self, assigned):
            out("assign", tps=_tps(assigned), incremental=False)
            if loop.hold and assigned:
                c.pause(*assigned)

        def on_partitions_lost(self, lost):
            out("lost", tps=_tps(lost))

    def seek(t, p, o):
        c.seek(TopicPartition(t, p), o)

    for t in cfg["topics"]:
        c.partitions_for_topic(t)  # metadata first: the leader's first assignment then sees the partitions
    c.subscribe(cfg["topics"], listener=Listener())
    out("started", pid=os.getpid())
    while loop.commands():
        if loop.released:
            loop.released = False
            c.resume(*c.assignment())
        try:
            got = c.poll(timeout_ms=50)
        except Exception as e:  # noqa: BLE001
            out("error", code=type(e).__name__, fatal=False, str=str(e))
            time.sleep(0.1)
            got = {}
        records = [(tp.topic, tp.partition, m.offset, m.value) for tp, ms in got.items() for m in ms]
        loop.report_assignment(_tps(c.assignment()))
        for t, p, o, v in loop.take(records, seek):
            loop.processed(t, p, o, v)
            if cfg["commit"] == "each":
                err = None
                try:
                    c.commit({TopicPartition(t, p): OffsetAndMetadata(o + 1, None, -1)})
                except Exception as e:  # noqa: BLE001
                    err = f"{type(e).__name__}: {e}"
                out("commit", t=t, p=p, o=o + 1, err=err)
    c.close()
    out("closed")


def worker_ak(cfg: dict, out: _Out) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.abc import ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    loop = _Loop(cfg, out)
    holder: dict = {}

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            out("revoke", tps=_tps(revoked), incremental=False)

        async def on_partitions_assigned(self, assigned):
            out("assign", tps=_tps(assigned), incremental=False)
            if loop.hold and assigned:
                holder["c"].pause(*assigned)

    async def run():
        kw = dict(
            bootstrap_servers=cfg["bootstrap"],
            group_id=cfg["group"],
            client_id=cfg["name"],
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=cfg["session_ms"],
            heartbeat_interval_ms=cfg["heartbeat_ms"],
            max_poll_interval_ms=cfg["max_poll_ms"],
            fetch_max_wait_ms=100,
            request_timeout_ms=max(40000, cfg["session_ms"] + 5000),
        )
        if cfg.get("assignor"):
            kw["partition_assignment_strategy"] = tuple(
                {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[n] for n in cfg["assignor"].split(",")
            )
        if cfg.get("instance_id"):
            kw["group_instance_id"] = cfg["instance_id"]
        c = holder["c"] = AIOKafkaConsumer(**kw)
        await c.start()
        c.subscribe(cfg["topics"], listener=Listener())
        out("started", pid=os.getpid())

        def seek(t, p, o):
            c.seek(TopicPartition(t, p), o)

        try:
            while loop.commands():
                if loop.released:
                    loop.released = False
                    c.resume(*c.assignment())
                try:
                    got = await c.getmany(timeout_ms=50)
                except Exception as e:  # noqa: BLE001
                    out("error", code=type(e).__name__, fatal=False, str=str(e))
                    await asyncio.sleep(0.1)
                    got = {}
                records = [(tp.topic, tp.partition, m.offset, m.value) for tp, ms in got.items() for m in ms]
                loop.report_assignment(_tps(c.assignment()))
                for t, p, o, v in loop.take(records, seek):
                    loop.processed(t, p, o, v)
                    if cfg["commit"] == "each":
                        err = None
                        try:
                            await c.commit({TopicPartition(t, p): o + 1})
                        except Exception as e:  # noqa: BLE001
                            err = f"{type(e).__name__}: {e}"
                        out("commit", t=t, p=p, o=o + 1, err=err)
        finally:
            await c.stop()
        out("closed")

    asyncio.run(run())


def worker_main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    out = _Out()
    if cfg.get("debug"):
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        {"ck": worker_ck, "kp": worker_kp, "ak": worker_ak}[cfg["client"]](cfg, out)
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        out("error", code="crash", fatal=True, str=f"{type(e).__name__}: {e}")
        sys.exit(1)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "worker":
    worker_main(sys.argv[2:])
