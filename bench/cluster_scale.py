"""Cluster metadata at scale (issue 14): the same steps on a 3-broker Odradek cluster and on a
3-broker Apache Kafka 3.9 cluster in ZooKeeper mode, each on its own fresh Debian ZooKeeper.

Steps (every figure is wall time measured by this script, on this machine):

  bulk        one CreateTopics request (sent to the controller, as admin clients do) of 100 topics
              x 20 partitions, replication factor 3:
              time to the response, until every broker's Metadata shows every partition with a
              leader, and until one acks=all record to each partition is acknowledged
  one more    three single CreateTopics of a 20-partition topic once 2,000 partitions exist
  batches     1,000 topics x 10 partitions in CreateTopics requests of 100 topics each
  metadata    Metadata for all topics (v12) from one broker: the first answer and the median of 5
              more (time until the whole response frame is in; decoding is not counted)
  idle        CPU each broker uses over 10 s while no client asks anything (following and
              leading thousands of idle partitions)
  kill        SIGKILL of a broker (not the controller) leading a third of the partitions: time
              until a surviving broker's Metadata shows every partition led by a live broker
  restart     the killed broker again (crash recovery): until it listens, is registered, and
              every partition's ISR is full again; then a preferred election of all partitions
  shutdown    SIGTERM (controlled shutdown) of a broker leading a third: until the process has
              exited, and until every partition is led elsewhere
  restart     the same broker after the clean shutdown, same figures
  rss         each broker's resident memory (VmRSS, and VmHWM the peak) and open files

Run: python3 bench/cluster_scale.py [--system odradek|kafka|both] [--json out.json]
     python3 bench/cluster_scale.py --small        (10 x 20 and 100 x 10: a quick look)
Not part of the test suite. Settings for both systems: zookeeper.session.timeout.ms 6000,
auto.leader.rebalance.enable false (the benchmark elects preferred leaders itself), everything
else at each system's defaults; Kafka's heap 512 MB per broker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

from confluent_kafka import Producer  # noqa: E402

from helpers import BrokerProcess, port_open  # noqa: E402
from wire import WireClient  # noqa: E402
from zk_cluster import ZooKeeper  # noqa: E402

from odradek.protocol import messages  # noqa: E402

SESSION_MS = 6000
KAFKA_HEAP = "512m"
CREATE_TIMEOUT_MS = 60000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Timed(WireClient):
    def timed(self, api_key: int, version: int, data: dict) -> tuple[float, object]:
        """Send a request; (seconds until the whole response frame was in, decoded response)."""
        body = messages.encode_request(api_key, version, data)
        flexible = messages.is_flexible(api_key, version)
        t0 = time.perf_counter()
        self.send_frame(self.header(api_key, version, flexible) + body)
        frame = self.recv_frame()
        took = time.perf_counter() - t0
        (corr,) = struct.unpack_from(">i", frame)
        assert corr == self.correlation
        return took, messages.decode_response(api_key, version, frame, 4 + (1 if flexible else 0))


def call(port: int, api_key: int, version: int, data: dict, timeout: float = 120) -> tuple[float, object]:
    c = Timed(port, timeout=timeout)
    try:
        return c.timed(api_key, version, data)
    finally:
        c.close()


def metadata(port: int, timeout: float = 60):
    """All topics, Metadata v1, from the broker on ``port``."""
    return call(port, 3, 1, {"topics": None}, timeout)[1]


ERRORS_SEEN: dict[str, str] = {}  # error code -> one message that came with it


def create_topics(port: int, names: list[str], partitions: int, rf: int = 3) -> tuple[float, dict[str, int]]:
    took, resp = call(port, 19, 5, {
        "topics": [{"name": n, "num_partitions": partitions, "replication_factor": rf, "assignments": [],
                    "configs": []} for n in names],
        "timeout_ms": CREATE_TIMEOUT_MS, "validate_only": False}, timeout=CREATE_TIMEOUT_MS / 1000 + 60)
    for t in resp.topics:
        if t.error_code:
            ERRORS_SEEN.setdefault(str(int(t.error_code)), t.error_message or "")
    return took, {t.name: int(t.error_code) for t in resp.topics}


def poll(cond, timeout: float, interval: float = 0.05):
    """Seconds until ``cond()`` is truthy, or None after ``timeout``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if cond():
                return time.perf_counter() - t0
        except (OSError, ConnectionError, AssertionError):
            pass
        time.sleep(interval)
    return None


def partitions_of(md, topics: set[str] | None = None) -> list:
    return [p for t in md.topics if (topics is None or t.name in topics) for p in t.partitions]


# --- the two systems -----------------------------------------------------------------------------


class _System:
    """What both systems do alike with their three broker processes (``self.brokers``)."""

    name: str
    brokers: list
    stop_timeout: float  # seconds a clean shutdown may take

    def port(self, i: int) -> int:
        return self.brokers[i].port

    def alive(self, i: int) -> bool:
        return self.brokers[i].alive()

    def kill(self, i: int) -> None:
        self.brokers[i].kill()

    def term(self, i: int) -> int | None:
        return self.brokers[i].stop(timeout=self.stop_timeout)


class OdradekSystem(_System):
    name = "odradek"
    stop_timeout = 120

    def __init__(self, root: Path, zk: ZooKeeper) -> None:
        overrides = {
            "zookeeper.connect": zk.connect + "/odradek",
            "zookeeper.session.timeout.ms": str(SESSION_MS),
            "auto.leader.rebalance.enable": "false",
        }
        self.brokers = [BrokerProcess(root / f"odradek-{i}", overrides=overrides, broker_id=i) for i in range(3)]

    def start(self) -> None:
        for b in self.brokers:
            b.start(timeout=120)
            profile(b.proc.pid, f"start-broker{b.broker_id}")

    def pid(self, i: int) -> int | None:
        b = self.brokers[i]
        return b.proc.pid if b.proc is not None else None

    def spawn(self, i: int) -> None:
        """Start the process, return at once (the caller times the start-up)."""
        b = self.brokers[i]
        import subprocess

        from helpers import track

        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        b._log = open(b.log_path, "ab")
        b.proc = track(subprocess.Popen(b.args(), stdout=b._log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)))
        profile(b.proc.pid, f"restart{i}-broker{b.broker_id}")

    def listening(self, i: int) -> bool:
        return port_open(self.brokers[i].port)

    def stop_all(self) -> None:
        for b in self.brokers:
            b.kill()


class KafkaSystem(_System):
    name = "kafka-3.9-zk"
    stop_timeout = 300

    def __init__(self, root: Path, zk: ZooKeeper) -> None:
        self.heap = KAFKA_HEAP
        from kafka_jvm import KafkaZkCluster

        self.cluster = KafkaZkCluster(root, zk.connect, 3, {
            "zookeeper.session.timeout.ms": str(SESSION_MS),
            "auto.leader.rebalance.enable": "false",
        }, heap=KAFKA_HEAP)
        self.brokers = self.cluster.brokers

    def start(self) -> None:
        self.cluster.start()

    def pid(self, i: int) -> int | None:
        return self.brokers[i].pid

    def spawn(self, i: int) -> None:
        import threading

        b = self.brokers[i]
        b.proc = None
        self._starter = threading.Thread(target=b.start, kwargs={"timeout": 900}, daemon=True)
        self._starter.start()
        poll(lambda: b.proc is not None, 60, 0.01)

    def listening(self, i: int) -> bool:
        b = self.brokers[i]
        return b.proc is not None and b.started() and port_open(b.port)

    def stop_all(self) -> None:
        self.cluster.stop()


PROFILE_DIR: Path | None = None
_profilers: list = []


def profile(pid: int, label: str, seconds: float | None = None) -> None:
    """With --profile: sample the broker with py-spy until it exits, or for ``seconds`` (raw
    folded stacks, one file per run)."""
    if PROFILE_DIR is None or pid is None:
        return
    import subprocess

    out = PROFILE_DIR / f"{label}-{int(time.time())}.txt"
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "50", "--format", "raw", "--nonblocking", "-o", str(out)]
    if seconds:
        cmd += ["--duration", str(int(seconds))]
    _profilers.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def proc_status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) // 1024  # MB
        out["open_files"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


# --- the steps -----------------------------------------------------------------------------------


class Run:
    def __init__(self, system, args) -> None:
        self.s = system
        self.args = args
        self.out: dict = {"system": system.name}
        self.topics: set[str] = set()

    def survivor(self, *exclude: int) -> int:
        return next(i for i in range(3) if i not in exclude and self.s.alive(i))

    def all_led(self, port: int, topics: set[str] | None, bad: set[int] = frozenset(), isr: int = 0) -> bool:
        md = metadata(port)
        parts = partitions_of(md, topics)
        want = len(topics) if topics is not None else None
        if want is not None and sum(1 for t in md.topics if t.name in topics and t.error_code == 0) < want:
            return False
        return bool(parts) and all(p.leader_id >= 0 and p.leader_id not in bad and len(p.isr_nodes) >= isr
                                   for p in parts)

    def wait_led_everywhere(self, topics: set[str], timeout: float) -> float | None:
        ports = [self.s.port(i) for i in range(3) if self.s.alive(i)]
        return poll(lambda: all(self.all_led(p, topics) for p in ports), timeout, 0.1)

    def bulk(self) -> None:
        n, parts = self.args.bulk_topics, self.args.bulk_partitions
        names = [f"bulk-{i:04d}" for i in range(n)]
        t0 = time.perf_counter()
        took, errors = create_topics(self.controller_port(), names, parts)
        bad = {k: v for k, v in errors.items() if v}
        self.topics |= {k for k, v in errors.items() if not v}
        led = self.wait_led_everywhere(set(names) - set(bad), 300)
        led_at = time.perf_counter() - t0 if led is not None else None
        # one acks=all record to every partition
        p = Producer({"bootstrap.servers": f"127.0.0.1:{self.s.port(0)}", "acks": "all", "linger.ms": 5,
                      "message.timeout.ms": 300000})
        acked = []
        for name in names:
            for i in range(parts):
                p.produce(name, b"x", partition=i, on_delivery=lambda e, m: acked.append(e))
        left = p.flush(300)
        writable_at = time.perf_counter() - t0
        failed = sum(1 for e in acked if e is not None)
        self.out["bulk"] = {"topics": n, "partitions": n * parts, "response_s": took, "errors": len(bad),
                            "error_codes": sorted(set(bad.values())), "all_led_everywhere_s": led_at,
                            "all_written_acks_all_s": writable_at if not left and not failed else None,
                            "produce_failed": failed + left}
        log(f"bulk: {self.out['bulk']}")

    def one_more(self) -> None:
        times = []
        for k in range(3):
            name = f"more-{k}"
            took, errors = create_topics(self.controller_port(), [name], self.args.bulk_partitions)
            assert not errors[name], errors
            self.topics.add(name)
            led = poll(lambda: self.all_led(self.controller_port(), {name}), 60, 0.02)
            times.append((took, led))
        self.out["one_more"] = {"response_s": [t for t, _ in times], "led_at_answering_broker_s": [l for _, l in times]}
        log(f"one more: {self.out['one_more']}")

    def batches(self) -> None:
        n, parts, size = self.args.batch_topics, self.args.batch_partitions, self.args.batch_size
        times, errs = [], 0
        names_all = []
        t0 = time.perf_counter()
        for b in range(0, n, size):
            names = [f"batch-{i:05d}" for i in range(b, min(n, b + size))]
            # kept as it goes: a system that breaks down part way still shows how far it got
            self.out["batches"] = {"topics_done": len(names_all), "response_s": times, "errors": errs,
                                   "error_messages": dict(ERRORS_SEEN)}
            took, errors = create_topics(self.controller_port(), names, parts)
            errs += sum(1 for v in errors.values() if v)
            self.topics |= {k for k, v in errors.items() if not v}
            names_all += [k for k, v in errors.items() if not v]
            times.append(took)
        total = time.perf_counter() - t0
        led = self.wait_led_everywhere(set(names_all), 600)
        self.out["batches"] = {"topics": n, "partitions": n * parts, "requests": len(times), "response_s": times,
                               "total_s": total, "errors": errs, "error_messages": dict(ERRORS_SEEN),
                               "all_led_everywhere_after_last_s": led}
        log(f"batches: first {times[0]:.2f} s, median {statistics.median(times):.2f} s, last {times[-1]:.2f} s, "
            f"total {total:.1f} s, errors {errs}, all led {led}")

    def metadata_all(self) -> None:
        port = self.s.port(1)
        first, resp = call(port, 3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                         "include_topic_authorized_operations": False})
        rest = [call(port, 3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False})[0] for _ in range(5)]
        n = len(partitions_of(resp))
        self.out["metadata"] = {"partitions": n, "topics": len(resp.topics), "first_s": first,
                                "median_s": statistics.median(rest)}
        log(f"metadata: {self.out['metadata']}")

    def idle(self, seconds: float = 10.0) -> None:
        """CPU each broker uses while nothing is asked of it (replication of idle partitions,
        ISR upkeep): CPU seconds per second over ``seconds``."""
        def cpu(pid):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pids = {i: self.s.pid(i) for i in range(3) if self.s.alive(i)}
        if self.s.name == "odradek":
            for i, pid in pids.items():
                profile(pid, f"idle-broker{i}", seconds)
        before = {i: cpu(pid) for i, pid in pids.items()}
        t0 = time.perf_counter()
        time.sleep(seconds)  # a measuring window, not a wait for state
        el = time.perf_counter() - t0
        self.out["idle_cores"] = {str(i): round((cpu(pid) - before[i]) / el, 3) for i, pid in pids.items()}
        log(f"idle: {self.out['idle_cores']}")

    def controller_port(self) -> int:
        """Where admin requests go: the controller (Kafka in ZooKeeper mode answers CreateTopics
        with NOT_CONTROLLER anywhere else; Odradek takes them anywhere)."""
        return self.s.port(self.controller(self.s.port(self.survivor())))

    def controller(self, port: int) -> int:
        return call(port, 3, 1, {"topics": []})[1].controller_id

    def leaders_of(self, port: int) -> dict[int, int]:
        md = metadata(port)
        out: dict[int, int] = {}
        for p in partitions_of(md):
            out[p.leader_id] = out.get(p.leader_id, 0) + 1
        return out

    def victim(self) -> int:
        ctl = self.controller(self.s.port(0))
        return next(i for i in (2, 1, 0) if i != ctl)

    def kill(self) -> int:
        v = self.victim()
        surv = self.survivor(v)
        led = self.leaders_of(self.s.port(surv))
        total = sum(led.values())
        if self.s.name == "odradek":
            for i in range(3):
                if i != v:
                    profile(self.s.pid(i), f"kill-broker{i}", 25)
        t0 = time.perf_counter()
        self.s.kill(v)
        took = poll(lambda: self.all_led(self.s.port(surv), None, bad={v}), 180, 0.05)
        self.out["kill"] = {"broker": v, "led_by_it": led.get(v, 0), "partitions": total,
                            "all_led_again_s": took, "session_timeout_s": SESSION_MS / 1000}
        log(f"kill: {self.out['kill']}")
        return v

    def restart(self, v: int, label: str) -> None:
        surv = self.survivor(v)
        t0 = time.perf_counter()
        self.s.spawn(v)
        listening = poll(lambda: self.s.listening(v), 900, 0.02)
        registered = poll(lambda: any(b.node_id == v for b in metadata(self.s.port(surv)).brokers), 900, 0.1)
        registered = registered and time.perf_counter() - t0
        in_sync = poll(lambda: self.all_led(self.s.port(surv), None, isr=3), 1800, 0.25)
        in_sync = in_sync and time.perf_counter() - t0
        # preferred leaders back: one ElectLeaders for every partition, to the controller
        ctl = self.controller(self.s.port(surv))
        took, resp = call(self.s.port(ctl), 43, 1, {"election_type": 0, "topic_partitions": None, "timeout_ms": 60000},
                          timeout=300)
        balanced = poll(lambda: self.leaders_of(self.s.port(surv)).get(v, 0) > 0 and self.preferred(surv), 300, 0.25)
        self.out[label] = {"broker": v, "listening_s": listening, "registered_s": registered,
                           "all_isr_full_s": in_sync, "preferred_election_response_s": took,
                           "preferred_leaders_everywhere_after_s": balanced,
                           "replicas_on_it": self.replicas_on(surv, v)}
        log(f"{label}: {self.out[label]}")

    def replicas_on(self, port_index: int, b: int) -> int:
        md = metadata(self.s.port(port_index))
        return sum(1 for p in partitions_of(md) if b in p.replica_nodes)

    def preferred(self, i: int) -> bool:
        md = metadata(self.s.port(i))
        return all(p.leader_id == p.replica_nodes[0] for p in partitions_of(md))

    def shutdown(self) -> int:
        v = self.victim()
        surv = self.survivor(v)
        led = self.leaders_of(self.s.port(surv))
        proc = self.s.brokers[v].proc
        if self.s.name == "odradek":
            for i in range(3):
                if i != v:
                    profile(self.s.pid(i), f"shutdown-broker{i}", 25)
        t0 = time.perf_counter()
        proc.terminate()  # SIGTERM: a controlled shutdown
        # polled while the broker shuts down: leadership should move before it exits
        elsewhere = poll(lambda: self.all_led(self.s.port(surv), None, bad={v}), 120, 0.05)
        proc.wait(300)
        exited = time.perf_counter() - t0
        rc = proc.returncode
        self.s.term(v)  # tidy up (the process is gone)
        self.out["shutdown"] = {"broker": v, "led_by_it": led.get(v, 0), "exit_code": rc, "exited_s": exited,
                                "all_led_elsewhere_s": elsewhere}
        log(f"shutdown: {self.out['shutdown']}")
        return v

    def rss(self) -> None:
        self.out["brokers"] = {str(i): proc_status(self.s.pid(i)) for i in range(3) if self.s.alive(i)}
        log(f"brokers: {self.out['brokers']}")


def run_system(kind: str, args) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"cluster-scale-{kind}-", dir=args.data_base))
    zk = ZooKeeper(root).start()
    system = OdradekSystem(root, zk) if kind == "odradek" else KafkaSystem(root, zk)
    run = Run(system, args)
    if kind != "odradek":
        run.out["heap"] = system.heap
    t0 = time.perf_counter()
    try:
        system.start()
        # every broker must know all three and the controller before the first CreateTopics
        # (right after start-up a controller that has not seen the others yet answers
        # INVALID_REPLICATION_FACTOR, on both systems)
        ready = poll(lambda: all(len(md.brokers) == 3 and md.controller_id >= 0
                                 for md in (call(system.port(i), 3, 1, {"topics": []})[1] for i in range(3))),
                     120, 0.05)
        if ready is None:
            raise RuntimeError("the brokers did not all see each other and a controller within 120 s")
        run.out["start_s"] = time.perf_counter() - t0
        log(f"{system.name}: 3 brokers up in {run.out['start_s']:.1f} s ({root})")
        for step in args.steps.split(","):
            try:
                if step == "bulk":
                    run.bulk()
                elif step == "one_more":
                    run.one_more()
                elif step == "batches":
                    run.batches()
                elif step == "metadata":
                    run.metadata_all()
                elif step == "idle":
                    run.idle()
                elif step == "kill":
                    v = run.kill()
                    run.rss()
                    run.restart(v, "restart_after_kill")
                elif step == "shutdown":
                    v = run.shutdown()
                    run.restart(v, "restart_after_shutdown")
                run.rss()
            except Exception as e:  # noqa: BLE001 - a failed step is reported
                log(f"step {step} failed: {e!r}; the steps after it are skipped")
                run.out.setdefault("failed", {})[step] = repr(e)
                run.out["alive_after_failure"] = [i for i in range(3) if system.alive(i)]
                if args.stop_on_failure:
                    raise
                break
    finally:
        run.out["wall_s"] = time.perf_counter() - t0
        if args.keep:
            log(f"kept running? no: stopping; data kept in {root}")
        system.stop_all()
        zk.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return run.out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", choices=("odradek", "kafka", "both"), default="both")
    ap.add_argument("--small", action="store_true", help="10 x 20 in one request, then 100 x 10 in batches of 10")
    ap.add_argument("--bulk-topics", type=int, default=100)
    ap.add_argument("--bulk-partitions", type=int, default=20)
    ap.add_argument("--batch-topics", type=int, default=1000)
    ap.add_argument("--batch-partitions", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--steps", default="bulk,one_more,batches,metadata,idle,kill,shutdown")
    ap.add_argument("--data-base", default=None, help="where the brokers' data go (default: the temp dir)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    ap.add_argument("--stop-on-failure", action="store_true")
    ap.add_argument("--profile", help="record every Odradek broker with py-spy into this folder")
    ap.add_argument("--kafka-heap", default="512m", help="-Xms/-Xmx of each Kafka broker (default 512m)")
    args = ap.parse_args()
    global KAFKA_HEAP
    KAFKA_HEAP = args.kafka_heap
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = Path(args.profile)  # noqa: PLW0603
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    if args.small:
        args.bulk_topics, args.batch_topics, args.batch_size = 10, 100, 10
    results = []
    for kind in (("odradek", "kafka") if args.system == "both" else (args.system,)):
        results.append(run_system(kind, args))
        if args.json:  # after each system: a later failure keeps what was measured
            Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    for prof in _profilers:
        try:
            prof.wait(30)
        except Exception:  # noqa: BLE001
            prof.kill()
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
