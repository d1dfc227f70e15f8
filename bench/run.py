#!/usr/bin/env python3
"""Odradek benchmark: drives a broker it starts itself with librdkafka (confluent-kafka).

    python3 bench/run.py                    # full run, a few minutes
    python3 bench/run.py --quick            # about a minute
    python3 bench/run.py --json out.json    # also write every figure as JSON
    python3 bench/run.py --profile prof/    # also sample the broker with py-spy (slower; separate figures)
    python3 bench/run.py --against kafka    # the same cells against Apache Kafka 4.x too, and the ratios
    python3 bench/run.py --only transactions,security   # transactional producers, TLS / SASL / ACLs
    python3 bench/run.py --only connections             # what an idle connection costs (PLAINTEXT, SSL, SASL_SSL)

Each throughput cell (record size x partitions x acks) gets a fresh broker process on a free
127.0.0.1 port with an empty temporary data directory; the broker is stopped by its PID at the end
of the cell. Load runs in worker processes (this same file, ``worker`` sub-command) so that the
orchestrator never competes for the GIL with a client, and so that broker CPU can be sampled
exactly at the start and end of each measured window. With ``--against kafka`` every cell also runs
on a fresh Apache Kafka 4.x broker (KRaft, one node, from the Maven jars through tests/kafka_jvm.py),
alternating which broker goes first, and the report adds Kafka's figures and Odradek/Kafka ratios.
The transaction cells put transactional producers (commit every N records, some transactions
aborted) next to an idempotent one and read the data back with read_committed and read_uncommitted;
the security cells give a broker the same listeners on both sides (SSL, SASL_SSL/SCRAM-SHA-512,
SASL_PLAINTEXT/PLAIN, an authorizer with ACLs) and measure throughput, requests and latency.
The connections cells open thousands of connections that do what a client does on connect and
then sit idle, and measure the broker's RSS per idle connection (over PLAINTEXT, SSL and SASL_SSL).
See bench/README.md for what each figure means. Nothing here is part of the pytest suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1_000_000


# ================================================================================================
# Worker processes (run as: run.py worker <kind> '<json args>'). They talk to the orchestrator by
# lines on stdout ("ready", "start", "end", then one JSON line) and wait for "go" on stdin.
# ================================================================================================


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wait_go() -> None:
    line = sys.stdin.readline()
    if line.strip() != "go":
        sys.exit(3)


def _cpu_self() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker_produce(a: dict) -> dict:
    """Throughput producer: as many records as the broker takes within a time budget."""
    from confluent_kafka import Producer

    errors = []

    def on_delivery(err, msg):
        if err is not None:
            if len(errors) < 5:
                errors.append(str(err))
            else:
                errors.append(None)

    conf = {
        "bootstrap.servers": a["bootstrap"],
        "acks": a["acks"],
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "batch.num.messages": 1_000_000,
        # Large, but bounded to well under a second of traffic so the final flush stays short.
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 64 * 1024,
        "compression.type": "none",
        "enable.idempotence": bool(a.get("idempotent")),
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
        "message.timeout.ms": 60_000,
        **a.get("conf", {}),  # the cell's security settings (security.protocol, sasl.*, ssl.*)
    }
    p = Producer(conf)
    topic, parts, size = a["topic"], a["partitions"], a["size"]
    payload = os.urandom(size)
    # Warm-up: connection, metadata and one record per partition (counted in "warmup").
    for i in range(parts):
        p.produce(topic, payload, partition=i)
    left = p.flush(30)
    if left:
        return {"error": f"warm-up did not complete ({left} records left)", "errors": errors}
    _emit("ready")
    _wait_go()
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    deadline = t0 + a["duration"]
    limit = a["count"]
    produce, poll = p.produce, p.poll
    n = 0
    full = 0
    while n < limit:
        stop = min(n + 2000, limit)
        while n < stop:
            try:
                produce(topic, payload, partition=n % parts)
                n += 1
            except BufferError:
                full += 1
                poll(0.005)
        poll(0)
        if time.perf_counter() >= deadline:
            break
    t_enq = time.perf_counter()
    left = p.flush(120)
    t1 = time.perf_counter()
    _emit("end")
    bad = len(errors)
    return {
        "records": n - left - bad,
        "attempted": n,
        "undelivered": left,
        "failed": bad,
        "error_samples": [e for e in errors if e][:5],
        "warmup": parts,
        "seconds": t1 - t0,
        "enqueue_seconds": t_enq - t0,
        "queue_full_waits": full,
        "client_cpu_s": _cpu_self() - cpu0,
    }


def spread(n0: int, n1: int, parts: int) -> list[int]:
    """How many of the records numbered n0..n1-1 went to each partition, when record n goes to n % parts."""
    span = n1 - n0
    out = [span // parts] * parts
    for k in range(span % parts):
        out[(n0 + k) % parts] += 1
    return out


ABORTED_KEY = b"A"  # the key of every record of an aborted transaction (the others have none)


def worker_txn_produce(a: dict) -> dict:
    """Transactional throughput producer: transactions of ``commit_every`` records, one after the other,
    each ended by commit_transaction(), except every ``abort_every``-th, which is flushed (so its records
    are in the log) and then aborted. Per-partition counts of committed and aborted records are returned,
    so the consumers know what read_committed and read_uncommitted must see."""
    from confluent_kafka import KafkaException, Producer

    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err) if len(errors) < 5 else None)

    conf = {
        "bootstrap.servers": a["bootstrap"],
        "transactional.id": a["transactional_id"],
        "enable.idempotence": True,  # implied by transactional.id; acks=all with it
        "acks": "all",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "batch.num.messages": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 64 * 1024,
        "compression.type": "none",
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
        "message.timeout.ms": 60_000,
        "transaction.timeout.ms": 60_000,
        **a.get("conf", {}),
    }
    p = Producer(conf)
    topic, parts, size = a["topic"], a["partitions"], a["size"]
    every, abort_every = a["commit_every"], a.get("abort_every") or 0
    payload = os.urandom(size)
    committed_by = [0] * parts
    aborted_by = [0] * parts
    # Warm-up: InitProducerId (the first one creates the transaction state topic), then one committed
    # transaction with one record per partition (counted in "warmup").
    p.init_transactions(60)
    p.begin_transaction()
    for i in range(parts):
        p.produce(topic, payload, partition=i)
    p.commit_transaction(60)
    for i in range(parts):
        committed_by[i] += 1
    markers = parts
    _emit("ready")
    _wait_go()
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    deadline = t0 + a["duration"]
    limit = a["count"]
    produce, poll = p.produce, p.poll
    n = full = committed = aborted = 0
    end_s: list[float] = []
    failure = None
    try:
        while n < limit and time.perf_counter() < deadline:
            n0 = n
            abort = bool(abort_every) and (committed + aborted + 1) % abort_every == 0
            key = ABORTED_KEY if abort else None  # lets the consumers count aborted records they were given
            p.begin_transaction()
            stop = min(n + every, limit)
            while n < stop:
                try:
                    produce(topic, payload, key, partition=n % parts)
                    n += 1
                except BufferError:
                    full += 1
                    poll(0.005)
            poll(0)
            per = spread(n0, n, parts)
            te = time.perf_counter()
            if abort:
                # abort_transaction() purges records not yet sent: flush first, so the aborted records
                # are in the log and read_committed consumers have something to skip.
                p.flush(60)
                p.abort_transaction(60)
                aborted += 1
                into = aborted_by
            else:
                p.commit_transaction(60)
                committed += 1
                into = committed_by
            end_s.append(time.perf_counter() - te)
            for i, c in enumerate(per):
                into[i] += c
            markers += sum(1 for c in per if c)
    except KafkaException as e:
        failure = str(e)
    t1 = time.perf_counter()
    _emit("end")
    end_s.sort()

    def pct(q: float) -> float | None:
        return end_s[min(len(end_s) - 1, int(q * len(end_s)))] * 1000 if end_s else None

    done_records = sum(committed_by) + sum(aborted_by) - parts
    return {
        "records": done_records,
        "committed_records": sum(committed_by) - parts,
        "aborted_records": sum(aborted_by),
        "attempted": n,
        "committed_txns": committed,
        "aborted_txns": aborted,
        "committed_by_partition": committed_by,  # including the warm-up's records
        "aborted_by_partition": aborted_by,
        "markers": markers,  # one control record per partition per transaction, the warm-up's included
        "end_txn_ms_p50": pct(0.5),
        "end_txn_ms_p99": pct(0.99),
        "end_txn_ms_max": end_s[-1] * 1000 if end_s else None,
        "failed": sum(1 for _ in errors),
        "undelivered": n - done_records if failure else 0,
        "error_samples": ([failure] if failure else []) + [e for e in errors if e][:5],
        "warmup": parts,
        "seconds": t1 - t0,
        "queue_full_waits": full,
        "client_cpu_s": _cpu_self() - cpu0,
    }


def worker_consume(a: dict) -> dict:
    """Throughput consumer: assign partitions explicitly (no group join, no commits), read to the end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    conf = {
        "bootstrap.servers": a["bootstrap"],
        # confluent-kafka refuses a Consumer without group.id, even for assign(); no group is joined
        # with assign(), and nothing is committed.
        "group.id": a["group"],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # librdkafka 2.16 pauses fetching for up to fetch.queue.backoff.ms (1 s) once its local
        # queue holds queued.min.messages (100k); with small records that dominates. Raise/lower.
        "queued.min.messages": 1_000_000,
        "fetch.queue.backoff.ms": 1,
        **a.get("conf", {}),
    }
    if a.get("isolation"):
        # librdkafka's default is read_committed; the transaction cells set it both ways.
        conf["isolation.level"] = a["isolation"]
    if a.get("mode") == "assign-retry":
        # Second attempt when the first read nothing (meant for a broker without a group
        # coordinator, where a consumer with a group id might stall): a fresh group id and
        # librdkafka's periodic coordinator queries pushed far out.
        conf["group.id"] = a["group"] + "-retry"
        conf["coordinator.query.interval.ms"] = 3_600_000
    c = Consumer(conf)
    topic = a["topic"]
    ends = {int(k): v for k, v in a["ends"].items()}
    expected = sum(ends.values())
    # Warm the metadata cache first: assign() on an unknown topic makes librdkafka start its 500 ms
    # offset-query retry timer ("no current leader"), which would be charged to the broker.
    c.list_topics(topic, timeout=10)
    _emit("ready")
    _wait_go()
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    got = 0
    nbytes = 0
    last = t0
    first = None
    errors: list[str] = []
    idle_limit = a["idle_timeout"]
    hard = t0 + a["max_seconds"]
    consume = c.consume
    count_keyed = bool(a.get("count_keyed"))
    keyed = 0
    while got < expected:
        msgs = consume(10_000, 0.5)
        now = time.perf_counter()
        if not msgs:
            if now - last > idle_limit or now > hard:
                break
            continue
        for m in msgs:
            if m.error() is None:
                got += 1
                if count_keyed and m.key() is not None:
                    keyed += 1
            elif len(errors) < 5:
                errors.append(str(m.error()))
        last = now
        if first is None:
            first = now
        if now > hard:
            break
    t1 = last
    _emit("end")
    # close() can block for a long time when it tries to leave a group / commit and the broker has
    # no group coordinator: bound it and report how long it took.
    import threading

    tc = time.perf_counter()
    closer = threading.Thread(target=_close_quietly, args=(c, KafkaException), daemon=True)
    closer.start()
    closer.join(a.get("close_timeout", 1.0))
    close_s = time.perf_counter() - tc
    return {
        "close_s": close_s,
        "close_hung": closer.is_alive(),
        "records": got,
        "expected": expected,
        **({"keyed": keyed} if count_keyed else {}),
        "bytes": got * a["size"],
        "seconds": t1 - t0,
        "first_record_after_s": (first - t0) if first else None,
        "client_cpu_s": _cpu_self() - cpu0,
        "error_samples": errors,
        "complete": got >= expected,
    }


def _close_quietly(c, exc) -> None:
    try:
        c.close()
    except exc:
        pass


def worker_requests(a: dict) -> dict:
    """One record per Produce request: linger.ms=0, batch.num.messages=1, one partition."""
    from confluent_kafka import Producer

    state = {"ok": 0, "err": 0, "stats": None}

    def on_delivery(err, msg):
        if err is None:
            state["ok"] += 1
        else:
            state["err"] += 1

    def on_stats(s):
        state["stats"] = s

    p = Producer({
        "bootstrap.servers": a["bootstrap"],
        "acks": 1,
        "linger.ms": 0,
        "batch.num.messages": 1,
        "max.in.flight.requests.per.connection": a["inflight"],
        "enable.idempotence": False,
        "queue.buffering.max.messages": 1000,
        "on_delivery": on_delivery,
        "statistics.interval.ms": 100,
        "stats_cb": on_stats,
        **a.get("conf", {}),
    })
    topic = a["topic"]
    payload = os.urandom(a["size"])
    p.produce(topic, payload, partition=0)
    p.flush(30)

    def produce_reqs() -> int:
        st = state["stats"]
        if not st:
            return -1
        d = json.loads(st)
        return sum(b.get("req", {}).get("Produce", 0) for b in d.get("brokers", {}).values())

    time.sleep(0.25)
    p.poll(0)
    _emit("ready")
    _wait_go()
    req0 = produce_reqs()
    ok0 = state["ok"]
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    deadline = t0 + a["duration"]
    n = 0
    while time.perf_counter() < deadline:
        try:
            p.produce(topic, payload, partition=0)
            n += 1
        except BufferError:
            p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    t1 = time.perf_counter()
    _emit("end")
    cpu = _cpu_self() - cpu0
    time.sleep(0.35)
    p.poll(0.1)
    req1 = produce_reqs()
    ok = state["ok"] - ok0
    return {
        "records": ok,
        "failed": state["err"],
        "undelivered": left,
        "seconds": t1 - t0,
        "produce_requests": (req1 - req0) if req0 >= 0 and req1 >= 0 else None,
        "client_cpu_s": cpu,
    }


_LAT = struct.Struct(">q")


def worker_lat_produce(a: dict) -> dict:
    """Fixed-rate producer; each value starts with time.time_ns() when it was handed to librdkafka."""
    from confluent_kafka import Producer

    errs = [0]

    def on_delivery(err, msg):
        if err is not None:
            errs[0] += 1

    # librdkafka defaults otherwise (linger.ms=5, acks=all).
    p = Producer({"bootstrap.servers": a["bootstrap"], "enable.idempotence": False, "on_delivery": on_delivery,
                  **a.get("conf", {})})
    p.list_topics(a["topic"], timeout=10)
    pad = os.urandom(max(0, a["size"] - 8))
    _emit("ready")
    _wait_go()
    rate, total = a["rate"], a["count"]
    cpu0 = _cpu_self()
    t0 = time.perf_counter()
    for i in range(total):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            p.poll(delay)  # serves delivery reports while pacing
        p.produce(a["topic"], _LAT.pack(time.time_ns()) + pad, partition=0)
    p.flush(30)
    t1 = time.perf_counter()
    _emit("end")
    return {"records": total, "failed": errs[0], "seconds": t1 - t0, "client_cpu_s": _cpu_self() - cpu0}


def worker_lat_consume(a: dict) -> dict:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({
        "bootstrap.servers": a["bootstrap"],
        "group.id": a["group"],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # fetch.wait.max.ms, fetch.min.bytes and the queue settings stay at librdkafka's defaults.
        **a.get("conf", {}),
    })
    c.assign([TopicPartition(a["topic"], 0, OFFSET_BEGINNING)])
    # Let the consumer settle into its long-poll loop on the empty partition.
    t_end = time.perf_counter() + 1.5
    while time.perf_counter() < t_end:
        c.poll(0.1)
    _emit("ready")
    lats: list[int] = []
    deadline = time.perf_counter() + a["max_seconds"]
    while len(lats) < a["count"] and time.perf_counter() < deadline:
        m = c.poll(0.2)
        if m is None or m.error() is not None:
            continue
        now = time.time_ns()
        lats.append(now - _LAT.unpack_from(m.value())[0])
    c.close()
    lats.sort()

    def pct(q: float) -> float | None:
        if not lats:
            return None
        return lats[min(len(lats) - 1, int(q * len(lats)))] / 1e6

    return {
        "records": len(lats),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": lats[-1] / 1e6 if lats else None,
        "mean_ms": statistics.fmean(lats) / 1e6 if lats else None,
    }


WORKERS = {
    "produce": worker_produce,
    "txn-produce": worker_txn_produce,
    "consume": worker_consume,
    "requests": worker_requests,
    "lat-produce": worker_lat_produce,
    "lat-consume": worker_lat_consume,
}


def worker_main(kind: str, raw: str) -> int:
    res = WORKERS[kind](json.loads(raw))
    _emit("result " + json.dumps(res))
    sys.stdout.flush()
    os._exit(0)  # do not wait for a client's background threads (see worker_consume)


# ================================================================================================
# Orchestrator
# ================================================================================================


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_minflt(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])  # field 10: minor faults


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine from /proc/stat (iowait counts as idle)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    total = sum(v[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def wait_for_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (up to max_wait s) until other processes use under `threshold` cores; return that load."""
    end = time.perf_counter() + max_wait
    while True:
        b0, _ = system_cpu()
        t0 = time.perf_counter()
        time.sleep(0.5)
        b1, _ = system_cpu()
        load = (b1 - b0) / (time.perf_counter() - t0)
        if load < threshold or time.perf_counter() >= end:
            return load


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


_METADATA_V4 = struct.Struct(">hhih5sib")  # header v1 (key, version, correlation id, client id) + body


def metadata_answer(port: int, deadline: float, on_wait=None) -> float | None:
    """Send Metadata v4 with no topics on a new connection; perf_counter() when the answer (listing at
    least one broker) arrived, or None if the connection failed or closed first. ``on_wait`` is called
    while the answer is awaited."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(0.01)
            body = _METADATA_V4.pack(3, 4, 1, 5, b"bench", 0, 0)  # topics: empty array; no auto-creation
            s.sendall(struct.pack(">i", len(body)) + body)
            buf = b""
            while time.perf_counter() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    if on_wait:
                        on_wait()
                    continue
                if not chunk:
                    return None
                buf += chunk
                if len(buf) >= 4 and len(buf) >= 4 + struct.unpack_from(">i", buf)[0]:
                    # correlation id, throttle_time_ms, then the brokers array's length
                    corr, _throttle, nbrokers = struct.unpack_from(">iii", buf, 4)
                    return time.perf_counter() if corr == 1 and nbrokers >= 1 else None
    except OSError:
        return None
    return None


class BrokerProc:
    """What the cells need of a broker process: start, a PID to sample, a port, its log, stop by PID.
    Subclasses: :class:`Broker` (Odradek) and :class:`KafkaRef` (Apache Kafka)."""

    kind = "?"
    ready_mark = b""  # the log line that says the broker is up
    start_timeout = 30.0  # seconds, for each of the start-up waits

    proc: subprocess.Popen | None
    port: int
    logfile: Path
    security: "Security | None" = None
    internal_port: int | None = None  # the second listener of a secured cell (PLAINTEXT or the admin's SASL)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_conf(self) -> dict:
        """librdkafka settings every client of this broker needs (its listener's security)."""
        return self.security.client_conf() if self.security else {}

    @property
    def plain_port(self) -> int:
        """A PLAINTEXT listener, for the bench's own raw requests (start-up Metadata, the probe)."""
        return self.security.plain_port(self.port, self.internal_port) if self.security else self.port

    def prepare(self, real_format: bool = False) -> float:
        """Anything before the process is spawned (not counted in start-up); returns its seconds."""
        return 0.0

    def _check_ready_line(self) -> None:
        """Note the first time the ready line shows up in the log (read incrementally)."""
        if self.ready_at is not None:
            return
        try:
            with open(self.logfile, "rb") as f:
                f.seek(self._log_pos)
                chunk = f.read()
        except OSError:
            return
        text = self._log_carry + chunk
        if self.ready_mark in text:
            self.ready_at = time.perf_counter()
        self._log_pos += len(chunk)
        self._log_carry = text[-len(self.ready_mark):]

    def _reset_watch(self) -> None:
        self.ready_at: float | None = None
        self._log_pos = 0
        self._log_carry = b""

    def wait_accepting(self, timeout: float | None = None) -> float:
        """Poll a TCP connect every 2 ms; return perf_counter() of the first accepted connection."""
        timeout = timeout or self.start_timeout
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            self._check_ready_line()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.perf_counter()
            except OSError:
                time.sleep(0.002)
        raise RuntimeError(f"{self.kind} not accepting after {timeout}s:\n{self.log_tail()}")

    def wait_metadata(self, timeout: float | None = None) -> float:
        """Retry a Metadata request (every 2 ms after a failure) until one is answered; its perf_counter()."""
        timeout = timeout or self.start_timeout
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            self._check_ready_line()
            t = metadata_answer(self.plain_port, end, self._check_ready_line)
            if t is not None:
                return t
            time.sleep(0.002)
        raise RuntimeError(f"{self.kind}: no Metadata answer after {timeout}s:\n{self.log_tail()}")

    def wait_ready_line(self, timeout: float | None = None) -> float:
        timeout = timeout or self.start_timeout
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            self._check_ready_line()
            if self.ready_at is not None:
                return self.ready_at
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.002)
        raise RuntimeError(f"{self.kind}: no ready line after {timeout}s:\n{self.log_tail()}")

    def start(self) -> "BrokerProc":
        try:
            self.prepare()
            self.spawn()
            self.wait_accepting()
            self.wait_metadata()
            self.wait_ready_line()
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_lines(self, *needles: str) -> list[str]:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return []
        return [ln for ln in text.splitlines() if any(x in ln for x in needles)]

    def error_lines(self) -> list[str]:
        return self.log_lines("ERROR", "Traceback", "internal error")[:10]

    def _keep_log(self) -> None:
        if self.keep_logs is not None and self.logfile.exists():
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.logfile, self.keep_logs / f"{self.kind}-{self.name}-{self.port}.log")

    def __enter__(self) -> "BrokerProc":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.proc is not None:
            state = "still running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
            print(f"  {self.kind} broker on port {self.port} ({state}); its log ends:\n"
                  + "\n".join("    " + ln for ln in self.log_tail(15).splitlines()), file=sys.stderr)
        self.stop()


class Broker(BrokerProc):
    """An ``odradek serve`` subprocess on a free port with its own temporary data dir."""

    kind = "odradek"
    ready_mark = b" ready on "
    base: str | None = None  # where temporary data dirs go (--data-base); None: the system temp dir
    env: dict[str, str] = {}  # extra environment for the broker (--broker-env)
    overrides: list[str] = []  # extra --override KEY=VALUE for the broker (--broker-override)

    def __init__(self, keep_logs: Path | None = None, name: str = "broker", extra: list[str] | None = None,
                 security: "Security | None" = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="odradek-bench-", dir=Broker.base))
        self.data = self.tmp / "data"
        self.port = free_port()
        self.security = security
        self.internal_port = free_port() if security and security.internal else None
        self.keep_logs = keep_logs
        self.name = name
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.logfile = self.tmp / "broker.log"
        self._reset_watch()

    def spawn(self) -> float:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        listen = (self.security.broker_settings(self.port, self.internal_port) if self.security
                  else {"listeners": f"PLAINTEXT://127.0.0.1:{self.port}"})
        cmd = [
            sys.executable, "-m", "odradek", "serve",
            *[x for k, v in listen.items() for x in ("--override", f"{k}={v}")],
            "--override", f"log.dirs={self.data}",
            *[x for kv in Broker.overrides for x in ("--override", kv)],
            *self.extra,
        ]
        env.update(Broker.env)
        self._log = open(self.logfile, "wb")
        self._reset_watch()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by PID
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()
        self._keep_log()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _kafka_jvm():
    """tests/kafka_jvm.py: Kafka's jars from Maven Central and its broker launcher, shared with the tests."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import kafka_jvm

    return kafka_jvm


class KafkaRef(BrokerProc):
    """A real Apache Kafka 4.x broker (KRaft, broker and controller in one JVM, one node) on free
    127.0.0.1 ports with its own temporary data dir: tests/kafka_jvm.py ``KafkaBroker``, whose command
    line is Kafka's own start scripts' (G1, ``-Xms``/``-Xmx`` both ``heap``: Kafka's default is 1g).

    Formatting the storage (``kafka-storage format``, a JVM of its own, about a second) is not part of
    the broker's start: it is done once per run into a template that every broker copies, and timed
    apart in the start-up phase (:meth:`prepare` with ``real_format``)."""

    kind = "kafka"
    ready_mark = b"Kafka Server started"
    start_timeout = 120.0  # a JVM start on a loaded 2-core machine can take well over 30 s
    heap = "1g"
    overrides: dict[str, str] = {}
    _template: Path | None = None

    def __init__(self, keep_logs: Path | None = None, name: str = "broker", security: "Security | None" = None) -> None:
        kj = _kafka_jvm()
        self.tmp = Path(tempfile.mkdtemp(prefix="kafka-bench-", dir=Broker.base))
        self.kb = kj.KafkaBroker(self.tmp / "data", overrides=KafkaRef.overrides, heap=KafkaRef.heap)
        self.port = self.kb.port
        self.security = security
        if security:
            self.internal_port = free_port() if security.internal else None
            # the same listeners and settings as Odradek's, plus the KRaft controller's listener;
            # --kafka-override still wins
            self.kb.overrides = {**security.kafka_settings(self.port, self.internal_port, self.kb.controller_port),
                                 **KafkaRef.overrides}
        self.keep_logs = keep_logs
        self.name = name
        self.logfile = self.kb.log_path
        self._reset_watch()

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.kb.proc

    @classmethod
    def template(cls) -> Path:
        """A data dir formatted once per run (cluster id, node id 1, the 4.x default features)."""
        if cls._template is None:
            kj = _kafka_jvm()
            cls._template = Path(tempfile.mkdtemp(prefix="kafka-bench-template-", dir=Broker.base))
            kj.KafkaBroker(cls._template / "data", overrides=cls.overrides, heap=cls.heap).format_storage()
        return cls._template / "data"

    @classmethod
    def drop_template(cls) -> None:
        if cls._template is not None:
            shutil.rmtree(cls._template, ignore_errors=True)
            cls._template = None

    def prepare(self, real_format: bool = False) -> float:
        t0 = time.perf_counter()
        if real_format:
            self.kb.format_storage()
        else:
            shutil.copytree(self.template(), self.kb.data_dir)
        return time.perf_counter() - t0

    def spawn(self) -> float:
        cmd = self.kb.command()  # writes its config files before the clock starts
        self._reset_watch()
        t0 = time.perf_counter()
        self.kb.spawn(cmd)
        return t0

    def stop(self) -> None:
        self.kb.stop(timeout=30)  # SIGTERM to its PID (controlled shutdown), SIGKILL after 30 s
        self._keep_log()
        shutil.rmtree(self.tmp, ignore_errors=True)


def new_broker(kind: str, keep_logs: Path | None, name: str, security: "Security | None" = None) -> BrokerProc:
    if kind == "kafka":
        return KafkaRef(keep_logs, name, security=security)
    return Broker(keep_logs, name, security=security)


# --- security settings of a cell ------------------------------------------------------------------

BENCH_USER, BENCH_PASSWORD = "bench", "bench-secret"  # the load's SASL user (PLAIN and SCRAM-SHA-512)
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-secret"  # the authorizer cell's super user (its admin listener)
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ADMIN_JAAS = (f'{PLAIN_LOGIN} required username="{ADMIN_USER}" password="{ADMIN_PASSWORD}" '
              f'user_{ADMIN_USER}="{ADMIN_PASSWORD}";')

# name: (client listener's security protocol, SASL mechanism, authorizer on, label)
SECURITY_MODES = {
    "plaintext": ("PLAINTEXT", None, False, "PLAINTEXT"),
    "ssl": ("SSL", None, False, "SSL (server certificate)"),
    "sasl-ssl-scram": ("SASL_SSL", "SCRAM-SHA-512", False, "SASL_SSL SCRAM-SHA-512"),
    "sasl-plaintext-plain": ("SASL_PLAINTEXT", "PLAIN", False, "SASL_PLAINTEXT PLAIN"),
    "plaintext-acl": ("PLAINTEXT", None, True, "PLAINTEXT + authorizer"),
}


class Certs:
    """One throwaway CA and a broker certificate for 127.0.0.1 per run (tests/tls_certs.py), as a
    PKCS12 keystore both brokers read; the clients trust the CA's PEM."""

    def __init__(self) -> None:
        tests = str(ROOT / "tests")
        if tests not in sys.path:
            sys.path.insert(0, tests)
        import tls_certs

        self.dir = Path(tempfile.mkdtemp(prefix="bench-certs-"))
        ca = tls_certs.CA(self.dir)
        self.ca = ca.pem
        self.broker = ca.issue("broker", {"CN": "127.0.0.1", "O": "Odradek bench"}, server=True)
        self.password = "changeit"

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Security:
    """The security of a cell, the same on both brokers: the client listener (named after its protocol)
    with its TLS keystore, SASL mechanism and users, and, except for plain PLAINTEXT, a second listener
    INTERNAL (inter-broker; PLAINTEXT, or SASL_PLAINTEXT/PLAIN as the super user ``admin`` when the
    authorizer is on, so that the load's principal User:ANONYMOUS is not a super user). Kafka also gets
    its KRaft controller listener (SASL_PLAINTEXT as ``admin`` when the authorizer is on: its broker
    must be a super user towards its controller). The clients' librdkafka settings, and what is set up
    once the broker runs: the SCRAM user (AlterUserScramCredentials over INTERNAL) or the ACLs."""

    def __init__(self, mode: str, certs: Certs | None = None, acl_extra: int = 0) -> None:
        if mode not in SECURITY_MODES:
            raise ValueError(f"unknown security mode {mode!r}: one of {', '.join(SECURITY_MODES)}")
        self.mode = mode
        self.protocol, self.mechanism, self.acl, self.label = SECURITY_MODES[mode]
        self.tls = self.protocol in ("SSL", "SASL_SSL")
        self.sasl = self.protocol.startswith("SASL_")
        self.internal = mode != "plaintext"
        self.certs = certs
        self.acl_extra = acl_extra
        if self.tls and certs is None:
            raise ValueError(f"{mode} needs certificates")

    def broker_settings(self, port: int, internal: int | None) -> dict[str, str]:
        """Listener and security settings, in Kafka's names (Odradek takes them as they are)."""
        name, ln = self.protocol, self.protocol.lower()
        if not self.internal:
            return {"listeners": f"PLAINTEXT://127.0.0.1:{port}"}
        s = {"listeners": f"{name}://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}",
             "inter.broker.listener.name": "INTERNAL"}
        if self.acl:
            s.update({
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
                "listener.name.internal.plain.sasl.jaas.config": ADMIN_JAAS,
                "authorizer.class.name": AUTHORIZER,
                "super.users": f"User:{ADMIN_USER}",
                "allow.everyone.if.no.acl.found": "false",  # Kafka's default, said out loud
            })
        else:
            s["listener.security.protocol.map"] = f"{name}:{name},INTERNAL:PLAINTEXT"
        if self.tls:
            s.update({f"listener.name.{ln}.ssl.keystore.type": "PKCS12",
                      f"listener.name.{ln}.ssl.keystore.location": str(self.certs.broker.p12),
                      f"listener.name.{ln}.ssl.keystore.password": self.certs.password})
        if self.sasl:
            mech = self.mechanism.lower()
            s[f"listener.name.{ln}.sasl.enabled.mechanisms"] = self.mechanism
            if self.mechanism == "PLAIN":
                s[f"listener.name.{ln}.{mech}.sasl.jaas.config"] = (
                    f'{PLAIN_LOGIN} required user_{BENCH_USER}="{BENCH_PASSWORD}";')
            else:  # SCRAM: the users come from the metadata (created in setup())
                s[f"listener.name.{ln}.{mech}.sasl.jaas.config"] = f"{SCRAM_LOGIN} required;"
        return s

    def kafka_settings(self, port: int, internal: int | None, controller: int) -> dict[str, str]:
        """broker_settings() plus the KRaft controller listener of a one-node Kafka."""
        if not self.internal:
            return {}
        s = self.broker_settings(port, internal)
        s["advertised.listeners"] = s["listeners"]
        s["listeners"] += f",CONTROLLER://127.0.0.1:{controller}"
        if self.acl:
            s["listener.security.protocol.map"] += ",CONTROLLER:SASL_PLAINTEXT"
            s.update({"sasl.mechanism.controller.protocol": "PLAIN",
                      "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
                      "listener.name.controller.plain.sasl.jaas.config": ADMIN_JAAS})
        else:
            s["listener.security.protocol.map"] += ",CONTROLLER:PLAINTEXT"
        return s

    def client_conf(self) -> dict:
        c: dict = {}
        if self.protocol != "PLAINTEXT":
            c["security.protocol"] = self.protocol
        if self.tls:
            c["ssl.ca.location"] = str(self.certs.ca)  # librdkafka checks the host name (127.0.0.1) too
        if self.sasl:
            c.update({"sasl.mechanism": self.mechanism, "sasl.username": BENCH_USER, "sasl.password": BENCH_PASSWORD})
        return c

    def admin_conf(self, internal: int) -> dict:
        c = {"bootstrap.servers": f"127.0.0.1:{internal}"}
        if self.acl:
            c.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                      "sasl.username": ADMIN_USER, "sasl.password": ADMIN_PASSWORD})
        return c

    def plain_port(self, port: int, internal: int | None) -> int:
        return internal if self.protocol != "PLAINTEXT" else port

    def acl_bindings(self) -> list:
        """User:ANONYMOUS (the PLAINTEXT listener's principal) may write, read and create topics named
        bench-* and read groups named bench-* (prefixed ACLs); plus ``acl_extra`` ACLs for other
        principals and resources, so that the authorizer has more than the matching ones to look through."""
        from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, ResourcePatternType,
                                           ResourceType)

        allow, pre, lit = AclPermissionType.ALLOW, ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
        out = [AclBinding(ResourceType.TOPIC, "bench-", pre, "User:ANONYMOUS", "*", op, allow)
               for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.CREATE)]
        out.append(AclBinding(ResourceType.GROUP, "bench-", pre, "User:ANONYMOUS", "*", AclOperation.READ, allow))
        for i in range(self.acl_extra):
            rt, pat = ((ResourceType.TOPIC, lit), (ResourceType.TOPIC, pre), (ResourceType.GROUP, lit))[i % 3]
            out.append(AclBinding(rt, f"other-{i}", pat, f"User:other-{i}", "*",
                                  AclOperation.READ if rt == ResourceType.GROUP else AclOperation.WRITE, allow))
        return out

    def setup(self, b: BrokerProc, timeout: float = 60.0) -> dict:
        """What the cell needs once the broker runs; then wait until the load's principal is let in
        (logs in, and may create a bench- topic). Returns what was done, for the JSON."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        done: dict = {}
        if self.mechanism == "SCRAM-SHA-512":
            from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

            admin = AdminClient(self.admin_conf(b.internal_port))
            up = UserScramCredentialUpsertion(BENCH_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                              BENCH_PASSWORD.encode())
            for f in admin.alter_user_scram_credentials([up]).values():
                f.result(30)
            done["scram_user"] = {"user": BENCH_USER, "mechanism": self.mechanism, "iterations": 4096}
        if self.acl:
            admin = AdminClient(self.admin_conf(b.internal_port))
            bindings = self.acl_bindings()
            for f in admin.create_acls(bindings).values():
                f.result(30)
            done["acls"] = len(bindings)
        if not (self.sasl or self.acl):
            return done
        deadline = time.perf_counter() + timeout
        tries = 0
        while True:
            tries += 1
            try:
                create_topic(b.bootstrap, f"bench-auth-check-{tries}", 1, conf=b.client_conf, timeout=15)
                break
            except (KafkaException, RuntimeError) as e:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{self.mode}: the bench's principal is still refused after {timeout} s: {e}")
                time.sleep(0.2)  # poll interval of this deadline loop (ACLs and users reach the broker's cache)
        done["ready_after_tries"] = tries
        return done


class Sampler:
    """Broker CPU (user+sys from /proc/<pid>/stat) and peak RSS (VmHWM) over a window."""

    def __init__(self, pid: int, extra_pids: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.extra_pids = extra_pids  # other load processes whose CPU the window should count

    def _extra_cpu(self) -> float:
        return sum(proc_cpu_s(p) for p in self.extra_pids)

    def begin(self) -> None:
        self.hwm_reset = reset_peak_rss(self.pid)
        self.extra0 = self._extra_cpu()
        self.cpu0 = proc_cpu_s(self.pid)
        self.flt0 = proc_minflt(self.pid)
        self.sys0 = system_cpu()[0]
        self.t0 = time.perf_counter()

    def end(self) -> dict:
        cpu = proc_cpu_s(self.pid) - self.cpu0
        busy = system_cpu()[0] - self.sys0
        wall = time.perf_counter() - self.t0
        extra = self._extra_cpu() - self.extra0
        return {
            **({"extra_process_cpu_s": extra} if self.extra_pids else {}),
            "broker_minor_faults": proc_minflt(self.pid) - self.flt0,
            "machine_busy_cores": busy / wall if wall > 0 else None,
            "broker_cpu_s": cpu,
            "broker_cores": cpu / wall if wall > 0 else None,
            "broker_peak_rss_mb": (proc_status_kb(self.pid, "VmHWM") or 0) / 1024,
            "broker_rss_mb": (proc_status_kb(self.pid, "VmRSS") or 0) / 1024,
            "peak_rss_is_window": self.hwm_reset,
            "window_s": wall,
        }


class Probe:
    """Broker responsiveness during a window: an ApiVersions v0 round trip on its own connection
    every 10 ms. Every connection shares the broker's one event loop, so the slowest round trip is
    the longest time the loop did nothing else (e.g. a blocking fsync)."""

    def __init__(self, port: int, interval: float = 0.01) -> None:
        import threading

        self.port, self.interval = port, interval
        self.lats: list[float] = []
        self.stalls: list[tuple[float, float]] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def begin(self) -> None:
        self.t0 = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                cid = 0
                while not self._stop.is_set():
                    cid += 1
                    body = struct.pack(">hhih", 18, 0, cid, 5) + b"probe"
                    t = time.perf_counter()
                    s.sendall(struct.pack(">i", len(body)) + body)
                    n = struct.unpack(">i", _recv_exactly(s, 4))[0]
                    _recv_exactly(s, n)
                    lat = time.perf_counter() - t
                    self.lats.append(lat)
                    if lat > 0.1:
                        self.stalls.append((round(t - self.t0, 2), round(lat * 1000)))
                    self._stop.wait(self.interval)
        except OSError as e:
            self.error = str(e)

    def end(self) -> dict:
        self._stop.set()
        self._thread.join(35)
        lats = sorted(self.lats)
        if not lats:
            return {"probe_error": self.error}
        return {
            "probe_n": len(lats),
            "probe_p50_ms": lats[len(lats) // 2] * 1000,
            "probe_p99_ms": lats[min(len(lats) - 1, int(0.99 * len(lats)))] * 1000,
            "probe_max_ms": lats[-1] * 1000,
            "probe_stalls_over_100ms": self.stalls[:20],
        }


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the probe connection")
        buf += chunk
    return bytes(buf)


class Profiler:
    def __init__(self, pid: int, out: Path | None) -> None:
        self.pid, self.out, self.proc = pid, out, None

    def begin(self) -> None:
        if self.out is None:
            return
        exe = shutil.which("py-spy")
        if exe is None:
            print("  (py-spy not found: pip install py-spy)", file=sys.stderr)
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--rate", "250", "--format", "raw", "--nonblocking",
             "--output", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attach before the window opens

    def end(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_workers(kind: str, args_list: list[dict], broker: BrokerProc, timeout: float, profile: Path | None = None,
                probe_loop: bool = True, extra_pids: tuple[int, ...] = ()) -> tuple[list[dict], dict]:
    """Start one worker per args dict, wait until all are ready, open the window, collect results."""
    procs = []
    for a in args_list:
        procs.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "worker", kind, json.dumps(a)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        ))
    t_spawn = time.perf_counter()
    deadline = t_spawn + timeout
    prof = Profiler(broker.proc.pid, profile)
    try:
        for p in procs:
            _expect(p, "ready", deadline)
        t_ready = time.perf_counter()
        prof.begin()
        sampler = Sampler(broker.proc.pid, extra_pids)
        probe = Probe(broker.plain_port) if probe_loop else None
        if probe:
            probe.begin()
        sampler.begin()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _expect(p, "end", deadline)
        window = sampler.end()
        if probe:
            window.update(probe.end())
        prof.end()
        results = []
        for p in procs:
            line = _expect(p, "result ", deadline)
            results.append(json.loads(line[len("result "):]))
        t_result = time.perf_counter()
        for p in procs:
            p.wait(max(1.0, deadline - time.perf_counter()))
        window["phases_s"] = {"setup": t_ready - t_spawn, "window": window["window_s"],
                              "result": t_result - t_ready - window["window_s"],
                              "exit": time.perf_counter() - t_result}
        return results, window
    finally:
        prof.end()
        for p in procs:
            if p.poll() is None:
                p.kill()  # our own worker, by PID
                p.wait()


def _expect(p: subprocess.Popen, prefix: str, deadline: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"worker {p.args[3]} timed out waiting for {prefix!r}")
            if not sel.select(min(left, 1.0)):
                continue
            line = p.stdout.readline()
            if not line:
                err = p.stderr.read()[-3000:]
                raise RuntimeError(f"worker {p.args[3]} exited (waiting for {prefix!r}): {err}")
            line = line.rstrip("\n")
            if line.startswith(prefix):
                return line
    finally:
        sel.unregister(p.stdout)
        sel.close()


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0, conf: dict | None = None) -> None:
    """CreateTopics, then wait until Metadata shows every partition with a leader: Kafka answers
    CreateTopics once its controller committed the topic, and the broker's metadata cache may
    catch up a moment later. ``conf``: the listener's security settings."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **(conf or {})})
    fut = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic]
    fut.result(timeout=15)
    deadline = time.perf_counter() + timeout
    while True:
        md = admin.list_topics(topic, timeout=10).topics[topic]
        led = sum(1 for p in md.partitions.values() if p.leader >= 0 and p.error is None)
        if md.error is None and len(md.partitions) == partitions and led == partitions:
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"topic {topic}: {len(md.partitions)} partitions, {led} with a leader, wanted "
                               f"{partitions} (error {md.error})")
        time.sleep(0.05)  # poll interval of this deadline loop


def end_offsets(bootstrap: str, topic: str, partitions: int, conf: dict | None = None) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets", "enable.auto.commit": False,
                  **(conf or {})})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()


def _procs(setting: str, size: int, parts: int, producer: bool = False) -> int:
    """Load processes per cell. "auto": two for 100-byte records (one Python client process is the
    bottleneck there, see README), one otherwise; consumers split partitions, so at most `parts`."""
    n = (2 if size < 512 else 1) if setting == "auto" else int(setting)
    return max(1, n if producer else min(n, parts))


def _other(d: dict) -> None:
    """CPU used during the window by processes other than the broker and the load generators."""
    try:
        d["other_cores"] = max(0.0, d["machine_busy_cores"] - d["broker_cores"] - (d.get("client_cores") or 0))
    except (KeyError, TypeError):
        d["other_cores"] = None


def _per_mb(d: dict, size: int) -> None:
    """Broker CPU per MB moved: CPU ms for each 10^6 payload bytes (= broker cores / (MB/s) x 1000)."""
    mb = d.get("records", 0) * size / MB
    d["broker_cpu_ms_per_mb"] = d["broker_cpu_s"] * 1000 / mb if mb and d.get("broker_cpu_s") is not None else None


# --- the cells -----------------------------------------------------------------------------------


def _prof_dir(opts, kind: str) -> Path | None:
    """py-spy samples Python only: Kafka's JVM is never profiled."""
    return Path(opts.profile) if opts.profile and kind == "odradek" else None


WARM_KEYS = ("seconds", "records", "records_per_s", "mb_per_s", "requests_per_s", "broker_cores",
             "broker_cpu_ms_per_mb", "broker_cpu_us_per_request", "p50_ms", "p99_ms", "other_cores", "consumed")


# The measured windows a cell can hold, each a dict of figures (a cell's best attempt is chosen per phase).
PHASES = ("produce", "consume", "read_committed", "read_uncommitted", "requests", "latency")


def _warm_brief(d: dict | None) -> dict | None:
    if not d:
        return d
    out = {k: d[k] for k in WARM_KEYS if k in d}
    for phase in PHASES:
        if d.get(phase):
            out[phase] = {k: d[phase][k] for k in WARM_KEYS if k in d[phase]}
    return out


def _cpu_per_unit(kind: str, r: dict) -> float | None:
    """The warm-up's yardstick: broker CPU per unit of work (falls as a JIT compiles the hot code)."""
    try:
        if kind in ("throughput", "txn"):
            cpu = r["produce"]["broker_cpu_s"] + sum((r.get(ph) or {}).get("broker_cpu_s") or 0
                                                     for ph in ("consume", "read_committed", "read_uncommitted"))
            return cpu / (r["produce"]["records"] * r["record_bytes"] / MB)
        if kind == "requests":
            return r["broker_cpu_us_per_request"]
        return r["broker_cpu_s"] / r["consumed"]  # latency: CPU per record at a fixed rate
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def warm_up(kind: str, run_slice, opts, prefix: str = "bench-warmup") -> dict | None:
    """Unmeasured load before a cell's measured run, on the same fresh broker: the cell's own load in
    slices of --warmup seconds, each on a topic of its own, until the broker's CPU per unit of work
    settles (the last slice within --warmup-tolerance of the one before) or --warmup-max seconds have
    passed. A fresh JVM runs Kafka's code interpreted until the JIT has compiled the hot paths; this
    keeps that out of the window. Both brokers get the same treatment (Odradek settles at once)."""
    if not opts.warmup:
        return None
    t0 = time.perf_counter()
    slices: list[dict] = []
    settled = False
    prev = None
    while True:
        r = run_slice(f"{prefix}-{len(slices) + 1}")
        unit = _cpu_per_unit(kind, r)
        slices.append({**_warm_brief(r), "broker_cpu_per_unit": unit})
        if prev and unit is not None and abs(unit - prev) <= opts.warmup_tolerance * prev:
            settled = True
            break
        if time.perf_counter() - t0 >= opts.warmup_max:
            break
        prev = unit
    took = time.perf_counter() - t0
    print(f"  warm-up: {len(slices)} slice(s) in {took:.0f} s, {'settled' if settled else 'not settled'}; broker CPU "
          "per unit " + " -> ".join("-" if x["broker_cpu_per_unit"] is None else f"{x['broker_cpu_per_unit']:.3g}"
                                    for x in slices), file=sys.stderr, flush=True)
    return {"seconds": took, "settled": settled, "slices": slices,
            "unit": {"throughput": "broker CPU s per MB produced (produce + consume windows)",
                     "txn": "broker CPU s per MB produced (produce + both consume windows)",
                     "requests": "broker CPU us per request",
                     "latency": "broker CPU s per record"}[kind]}


def _produce_phase(b: BrokerProc, kind: str, pargs: list[dict], size: int, duration: float,
                   prof: Path | None) -> tuple[dict, list[dict]]:
    """One measured produce window with the given workers; the phase's figures and the workers' results."""
    res, win = run_workers(kind, pargs, b, timeout=duration + 180, profile=prof)
    recs = sum(r.get("records", 0) for r in res)
    secs = max(r.get("seconds", 0) for r in res) or float("nan")
    out = {
        "records": recs, "seconds": secs, "records_per_s": recs / secs, "mb_per_s": recs * size / secs / MB,
        "client_cores": sum(r.get("client_cpu_s", 0) for r in res) / secs, "processes": len(res),
        "failed": sum(r.get("failed", 0) for r in res), "undelivered": sum(r.get("undelivered", 0) for r in res),
        "error_samples": [e for r in res for e in r.get("error_samples", [])][:5],
        **win,
    }
    _other(out)
    _per_mb(out, size)
    if "error" in res[0]:
        out["error"] = res[0]["error"]
    return out, res


def _consume_phase(b: BrokerProc, topic: str, size: int, expected: dict[int, int], duration: float, opts, name: str,
                   prof: Path | None, isolation: str | None = None, count_keyed: bool = False) -> dict:
    """Read the topic back from the beginning (measured window): ``expected`` records from each partition,
    split between the consumer processes; ``isolation``: librdkafka's isolation.level (its default,
    read_committed, when None); ``count_keyed``: also count the records with a key ("keyed")."""
    parts = len(expected)
    ncons = _procs(opts.consumers, size, parts)
    groups = [{p: expected[p] for p in range(k, parts, ncons)} for k in range(ncons)]
    cons = None
    for mode in ("assign", "assign-retry"):
        cargs = [{
            "bootstrap": b.bootstrap, "topic": topic, "size": size, "group": f"bench-{name}-{k}",
            "ends": g, "idle_timeout": 10.0, "max_seconds": max(60.0, duration * 8), "mode": mode,
            "conf": b.client_conf, **({"isolation": isolation} if isolation else {}),
            **({"count_keyed": True} if count_keyed else {}),
        } for k, g in enumerate(groups)]
        cres, cwin = run_workers("consume", cargs, b, timeout=cargs[0]["max_seconds"] + 60, profile=prof)
        got = sum(c["records"] for c in cres)
        secs = max(c["seconds"] for c in cres)
        cons = {
            "mode": mode, "processes": len(cres), "records": got, "expected": sum(c["expected"] for c in cres),
            "complete": all(c["complete"] for c in cres),
            "seconds": secs, "records_per_s": got / secs if secs > 0 else 0,
            "mb_per_s": sum(c["bytes"] for c in cres) / secs / MB if secs > 0 else 0,
            "first_record_after_s": max((c["first_record_after_s"] or 0) for c in cres),
            "close_s": max(c["close_s"] for c in cres), "close_hung": any(c["close_hung"] for c in cres),
            "client_cores": sum(c["client_cpu_s"] for c in cres) / secs if secs > 0 else None,
            "error_samples": [e for c in cres for e in c["error_samples"]][:5],
            **({"isolation": isolation} if isolation else {}),
            **({"keyed": sum(c.get("keyed", 0) for c in cres)} if count_keyed else {}),
            **cwin,
        }
        _other(cons)
        _per_mb(cons, size)
        if got > 0:
            break
    return cons


def _throughput_run(b: BrokerProc, topic: str, size: int, parts: int, acks: str, duration: float, opts,
                    name: str, prof_dir: Path | None) -> dict:
    """Create `topic`, produce to it for `duration` s (measured window), then read it all back (window)."""
    cell: dict = {}
    create_topic(b.bootstrap, topic, parts, conf=b.client_conf)
    pargs = [{
        "bootstrap": b.bootstrap, "topic": topic, "partitions": parts, "size": size,
        "acks": acks, "duration": duration, "count": opts.max_records, "conf": b.client_conf,
    } for _ in range(_procs(opts.producers, size, parts, producer=True))]
    cell["produce"], res = _produce_phase(b, "produce", pargs, size, duration,
                                          prof_dir / f"{name}-produce.txt" if prof_dir else None)
    recs = cell["produce"]["records"]
    ends = end_offsets(b.bootstrap, topic, parts, conf=b.client_conf)
    produced_total = recs + sum(r.get("warmup", 0) for r in res)
    cell["end_offsets"] = ends
    cell["end_offsets_match"] = sum(ends.values()) == produced_total
    if opts.no_consume:
        return cell
    cell["consume"] = _consume_phase(b, topic, size, ends, duration, opts, name,
                                     prof_dir / f"{name}-consume.txt" if prof_dir else None)
    return cell


def run_throughput_cell(size: int, parts: int, acks: str, opts, kind: str = "odradek") -> dict:
    """A fresh broker; with --warmup S first the same load for S s on a topic of its own (not measured:
    a fresh JVM runs Kafka's code interpreted until the JIT has compiled it), then the measured run."""
    name = f"tp-{size}B-{parts}p-acks{acks}"
    cell: dict = {"cell": name, "broker": kind, "record_bytes": size, "partitions": parts, "acks": acks}
    with new_broker(kind, opts.keep_logs, name) as b:
        cell["warmup"] = warm_up("throughput", lambda topic: {"record_bytes": size, **_throughput_run(
            b, topic, size, parts, acks, opts.warmup, opts, name + "-warmup", None)}, opts)
        cell.update(_throughput_run(b, f"bench-{size}-{parts}-{acks}", size, parts, acks, opts.duration, opts,
                                    name, _prof_dir(opts, kind)))
        cell["broker_errors"] = b.error_lines()
    return cell


def _requests_run(b: BrokerProc, topic: str, inflight: int, duration: float, prof: Path | None) -> dict:
    create_topic(b.bootstrap, topic, 1, conf=b.client_conf)
    res, win = run_workers("requests", [{
        "bootstrap": b.bootstrap, "topic": topic, "size": 100, "inflight": inflight, "duration": duration,
        "conf": b.client_conf,
    }], b, timeout=duration + 120, profile=prof, probe_loop=False)
    r = res[0]
    out = {
        "records": r["records"], "seconds": r["seconds"], "records_per_s": r["records"] / r["seconds"],
        "produce_requests": r["produce_requests"],
        "requests_per_s": (r["produce_requests"] or r["records"]) / r["seconds"],
        "records_per_request": (r["records"] / r["produce_requests"]) if r["produce_requests"] else None,
        "failed": r["failed"], "client_cores": r["client_cpu_s"] / r["seconds"], **win,
    }
    _other(out)
    reqs = r["produce_requests"] or r["records"]
    out["broker_cpu_us_per_request"] = out["broker_cpu_s"] * 1e6 / reqs if reqs else None
    return out


def run_requests_cell(inflight: int, opts, kind: str = "odradek") -> dict:
    name = f"reqs-inflight{inflight}"
    prof_dir = _prof_dir(opts, kind)
    with new_broker(kind, opts.keep_logs, name) as b:
        warm = warm_up("requests", lambda topic: _requests_run(b, topic, inflight, opts.warmup, None), opts)
        out = {"cell": name, "broker": kind, "max_in_flight": inflight,
               **_requests_run(b, "bench-reqs", inflight, opts.req_duration,
                               prof_dir / f"{name}.txt" if prof_dir else None),
               "warmup": warm, "broker_errors": b.error_lines()}
        return out


def _latency_run(b: BrokerProc, topic: str, seconds: float, opts, prof: Path | None) -> dict:
    create_topic(b.bootstrap, topic, 1, conf=b.client_conf)
    count = int(opts.lat_rate * seconds)
    cproc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "worker", "lat-consume", json.dumps({
            "bootstrap": b.bootstrap, "topic": topic, "group": topic, "count": count,
            "max_seconds": seconds + 30, "conf": b.client_conf,
        })],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
    )
    try:
        deadline = time.perf_counter() + seconds + 90
        _expect(cproc, "ready", deadline)
        pres, win = run_workers("lat-produce", [{
            "bootstrap": b.bootstrap, "topic": topic, "size": 100, "rate": opts.lat_rate, "count": count,
            "conf": b.client_conf,
        }], b, timeout=seconds + 60, profile=prof, extra_pids=(cproc.pid,))
        line = _expect(cproc, "result ", deadline)
        c = json.loads(line[len("result "):])
        cproc.wait(10)
    finally:
        if cproc.poll() is None:
            cproc.kill()
            cproc.wait()
    out = {
        "rate_per_s": opts.lat_rate, "seconds": seconds, "record_bytes": 100,
        "produced": pres[0]["records"], "consumed": c["records"],
        "p50_ms": c["p50_ms"], "p90_ms": c["p90_ms"], "p99_ms": c["p99_ms"], "max_ms": c["max_ms"],
        "mean_ms": c["mean_ms"], **win,
        # producer and consumer processes over the window
        "client_cores": (pres[0]["client_cpu_s"] + win["extra_process_cpu_s"]) / win["window_s"],
    }
    _other(out)
    return out


def run_latency_cell(opts, kind: str = "odradek") -> dict:
    prof_dir = _prof_dir(opts, kind)
    with new_broker(kind, opts.keep_logs, "latency") as b:
        warm = warm_up("latency", lambda topic: _latency_run(b, topic, opts.warmup, opts, None), opts)
        return {"cell": "latency", "broker": kind,
                **_latency_run(b, "bench-lat", opts.lat_seconds, opts, prof_dir / "latency.txt" if prof_dir else None),
                "warmup": warm, "broker_errors": b.error_lines()}


def _sum_lists(lists: list[list[int]]) -> list[int]:
    return [sum(x) for x in zip(*lists)] if lists else []


def _txn_run(b: BrokerProc, topic: str, size: int, parts: int, every: int, duration: float, opts, name: str,
             prof_dir: Path | None) -> dict:
    """Produce to a new topic for `duration` s (measured): with ``every`` = 0 an idempotent producer
    (enable.idempotence, acks=all), else transactions of ``every`` records, every --txn-abort-every-th
    aborted. Then read it all back twice (two windows): isolation.level=read_committed (the committed
    records only) and read_uncommitted (the aborted ones too)."""
    cell: dict = {}
    create_topic(b.bootstrap, topic, parts, conf=b.client_conf)
    nprod = _procs(opts.producers, size, parts, producer=True)
    base = {"bootstrap": b.bootstrap, "topic": topic, "partitions": parts, "size": size, "duration": duration,
            "count": opts.max_records, "conf": b.client_conf}
    if every:
        pargs = [{**base, "transactional_id": f"{topic}-{k}", "commit_every": every,
                  "abort_every": opts.txn_abort_every} for k in range(nprod)]
    else:
        pargs = [{**base, "acks": "all", "idempotent": True} for _ in range(nprod)]
    prod, res = _produce_phase(b, "txn-produce" if every else "produce", pargs, size, duration,
                               prof_dir / f"{name}-produce.txt" if prof_dir else None)
    ends = end_offsets(b.bootstrap, topic, parts, conf=b.client_conf)
    cell["end_offsets"] = ends
    if every:
        secs = prod["seconds"]
        committed = sum(r.get("committed_txns", 0) for r in res)
        aborted = sum(r.get("aborted_txns", 0) for r in res)
        txns = committed + aborted
        prod.update({
            "txns": txns, "committed_txns": committed, "aborted_txns": aborted,
            "txns_per_s": txns / secs, "commits_per_s": committed / secs,
            "committed_records": sum(r.get("committed_records", 0) for r in res),
            "aborted_records": sum(r.get("aborted_records", 0) for r in res),
            "records_per_txn": prod["records"] / txns if txns else None,
            "broker_cpu_us_per_txn": prod["broker_cpu_s"] * 1e6 / txns if txns else None,
            # each process's time in commit_transaction() / flush()+abort_transaction(); the slowest process
            "end_txn_ms_p50": max((r["end_txn_ms_p50"] for r in res if r.get("end_txn_ms_p50") is not None), default=None),
            "end_txn_ms_p99": max((r["end_txn_ms_p99"] for r in res if r.get("end_txn_ms_p99") is not None), default=None),
        })
        committed_by = _sum_lists([r["committed_by_partition"] for r in res])
        aborted_by = _sum_lists([r["aborted_by_partition"] for r in res])
        markers = sum(r["markers"] for r in res)
        cell["markers"] = markers
        cell["end_offsets_match"] = sum(ends.values()) == sum(committed_by) + sum(aborted_by) + markers
        rc = dict(enumerate(committed_by))
        ru = {i: c + a for i, (c, a) in enumerate(zip(committed_by, aborted_by))}
    else:
        cell["end_offsets_match"] = sum(ends.values()) == prod["records"] + sum(r.get("warmup", 0) for r in res)
        rc = ru = ends
    cell["produce"] = prod
    if opts.no_consume:
        return cell
    for iso, expected in (("read_committed", rc), ("read_uncommitted", ru)):
        tag = "rc" if iso == "read_committed" else "ru"
        cell[iso] = _consume_phase(b, topic, size, expected, duration, opts, f"{name}-{tag}",
                                   prof_dir / f"{name}-{tag}.txt" if prof_dir else None, isolation=iso,
                                   count_keyed=bool(every))
    return cell


def run_txn_cell(size: int, parts: int, every: int, opts, kind: str = "odradek") -> dict:
    """A fresh broker; the idempotent producer (every = 0) or transactions of `every` records."""
    name = f"txn-{size}B-{parts}p-" + (f"every{every}" if every else "idempotent")
    cell: dict = {"cell": name, "broker": kind, "record_bytes": size, "partitions": parts, "commit_every": every,
                  "abort_every": opts.txn_abort_every if every else None,
                  "producer": f"transactional, commit every {every}" if every else "idempotent, acks=all"}
    with new_broker(kind, opts.keep_logs, name) as b:
        cell["warmup"] = warm_up("txn", lambda topic: {"record_bytes": size, **_txn_run(
            b, topic, size, parts, every, opts.warmup, opts, name + "-warmup", None)}, opts)
        cell.update(_txn_run(b, f"bench-txn-{size}-{parts}-{every}", size, parts, every, opts.duration, opts, name,
                             _prof_dir(opts, kind)))
        cell["broker_errors"] = b.error_lines()
    return cell


_CERTS: Certs | None = None


def _certs() -> Certs:
    global _CERTS
    if _CERTS is None:
        _CERTS = Certs()
    return _CERTS


def run_security_cell(mode: str, size: int, parts: int, opts, kind: str = "odradek") -> dict:
    """A fresh broker with the mode's listeners and settings (see Security), its SCRAM user or ACLs set
    up; then on that broker: throughput (produce then consume, acks=1), one-record Produce requests
    (max.in.flight --sec-inflight) and end-to-end latency, each on a topic of its own."""
    sec = Security(mode, _certs() if SECURITY_MODES[mode][0] in ("SSL", "SASL_SSL") else None,
                   acl_extra=opts.acl_extra)
    name = f"sec-{mode}-{size}B-{parts}p"
    cell: dict = {"cell": name, "broker": kind, "security": mode, "label": sec.label, "record_bytes": size,
                  "partitions": parts, "acks": "1", "max_in_flight": opts.sec_inflight}
    prof_dir = _prof_dir(opts, kind)
    with new_broker(kind, opts.keep_logs, name, security=sec) as b:
        cell["setup"] = sec.setup(b)
        w1 = warm_up("throughput", lambda topic: {"record_bytes": size, **_throughput_run(
            b, topic, size, parts, "1", opts.warmup, opts, name + "-warmup", None)}, opts)
        cell.update(_throughput_run(b, f"bench-sec-{size}-{parts}", size, parts, "1", opts.duration, opts, name,
                                    prof_dir))
        w2 = warm_up("requests", lambda topic: _requests_run(b, topic, opts.sec_inflight, opts.warmup, None), opts,
                     prefix="bench-warmup-reqs")
        cell["requests"] = _requests_run(b, "bench-sec-reqs", opts.sec_inflight, opts.req_duration,
                                         prof_dir / f"{name}-requests.txt" if prof_dir else None)
        cell["latency"] = _latency_run(b, "bench-sec-lat", opts.lat_seconds, opts,
                                       prof_dir / f"{name}-latency.txt" if prof_dir else None)
        warms = [w for w in (w1, w2) if w]
        cell["warmup"] = {"settled": all(w["settled"] for w in warms), "seconds": sum(w["seconds"] for w in warms),
                          "throughput": w1, "requests": w2} if warms else None
        cell["broker_errors"] = b.error_lines()
    return cell


def run_startup_once(i: int, opts, kind: str = "odradek") -> dict:
    """Spawn a broker on an empty data dir: time to the first accepted TCP connection, to the first
    answered Metadata request and to its ready log line; then its RSS and the CPU it used. For Kafka the
    storage is formatted first (timed apart: ``format_s``, not part of the start-up)."""
    b = new_broker(kind, opts.keep_logs, f"startup-{i}")
    try:
        fmt = b.prepare(real_format=True)
        t0 = b.spawn()
        accept = b.wait_accepting() - t0
        meta = b.wait_metadata() - t0
        pid = b.proc.pid
        cpu, rss = proc_cpu_s(pid), (proc_status_kb(pid, "VmRSS") or 0) / 1024
        ready = b.wait_ready_line() - t0
        return {"accept_s": accept, "metadata_s": meta, "ready_line_s": ready, "format_s": fmt,
                "cpu_s": cpu, "rss_mb": rss}
    finally:
        b.stop()


def summarise_startup(runs: list[dict]) -> dict | None:
    if not runs:
        return None
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}
    return {
        "runs": len(runs), "accept_median_s": med["accept_s"], "accept_all_s": [r["accept_s"] for r in runs],
        "metadata_median_s": med["metadata_s"], "metadata_all_s": [r["metadata_s"] for r in runs],
        "ready_line_median_s": med["ready_line_s"], "format_median_s": med["format_s"],
        "cpu_to_metadata_median_s": med["cpu_s"], "rss_after_start_median_mb": med["rss_mb"],
        "other_load_before_cores": [r.get("other_load_before_cores") for r in runs],
    }


# --- idle connections ------------------------------------------------------------------------------
#
# What an open, idle client connection costs the broker: its RSS before, with N connections open
# (each has asked what a client asks on connect and then sits idle) and after they closed. The
# clients are plain blocking sockets in a few threads of this process (ssl.SSLSocket over TLS: no
# per-connection buffers of asyncio's on the client side), so nothing else runs against the broker.

# variant: (label, requests sent on each connection after any SASL login)
CONN_VARIANTS = {
    "apiversions": "ApiVersions v3",
    "metadata": "ApiVersions v3 + Metadata v4 (all topics)",
}
# listener of a connections cell: (Security mode or None for PLAINTEXT, label)
CONN_MODES = {
    "plaintext": (None, "PLAINTEXT"),
    "ssl": ("ssl", "SSL"),
    "sasl-ssl-scram": ("sasl-ssl-scram", "SASL_SSL SCRAM-SHA-512 (logged in)"),
}
CONN_WARM = 50  # connections opened and closed (each variant) before the first baseline
CONN_FD_SPARE = 1000  # descriptors the broker (log segments, listeners) and this process need besides


def conn_round_size(wanted: int, fd_limit: int) -> int:
    """Connections per round: ``wanted``, or fewer when every round's connections, held at once,
    would not fit under the open-file limit (which the broker inherits) with CONN_FD_SPARE to spare."""
    return max(1, min(wanted, (fd_limit - CONN_FD_SPARE) // len(CONN_VARIANTS)))


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _compact_str(s: bytes) -> bytes:
    return _uvarint(len(s) + 1) + s


def conn_request(api_key: int, version: int, corr: int, body: bytes, flexible: bool = False) -> bytes:
    """A size-prefixed request: header v1 (v2 when ``flexible``) with client id "bench", then ``body``."""
    head = struct.pack(">hhih", api_key, version, corr, 5) + b"bench" + (b"\x00" if flexible else b"")
    return struct.pack(">i", len(head) + len(body)) + head + body


API_VERSIONS_V3_BODY = _compact_str(b"odradek-bench") + _compact_str(b"1") + b"\x00"
METADATA_V4_ALL_BODY = struct.pack(">ib", -1, 0)  # topics: null (all), allow_auto_topic_creation false


def _conn_call(s: socket.socket, frame: bytes, corr: int) -> bytes:
    """Send one request, return its response body after the correlation id (header v0)."""
    s.sendall(frame)
    (n,) = struct.unpack(">i", _recv_exactly(s, 4))
    resp = _recv_exactly(s, n)
    got = struct.unpack_from(">i", resp)[0]
    if got != corr:
        raise ConnectionError(f"correlation id {got}, expected {corr}")
    return resp[4:]


def _sasl_call(s: socket.socket, corr: int, token: bytes) -> bytes:
    """SaslAuthenticate v1: ``token`` out, the server's token back (error: ConnectionError)."""
    body = _conn_call(s, conn_request(36, 1, corr, struct.pack(">i", len(token)) + token), corr)
    err, mlen = struct.unpack_from(">hh", body)
    pos = 4 + max(mlen, 0)
    if err:
        raise ConnectionError(f"SaslAuthenticate error {err}: {body[4:pos].decode(errors='replace')}")
    (tlen,) = struct.unpack_from(">i", body, pos)
    return body[pos + 4:pos + 4 + tlen]


_SCRAM_KEYS: dict = {}


def scram_sha512_login(s: socket.socket, user: str, password: str) -> int:
    """SaslHandshake v1 and SCRAM-SHA-512 over SaslAuthenticate v1 (RFC 5802, no channel binding);
    the salted password is computed once per salt and iteration count, not per connection (the
    broker's side of a login costs it the same either way). Returns the last correlation id used."""
    import base64
    import hashlib
    import hmac

    mech = b"SCRAM-SHA-512"
    body = _conn_call(s, conn_request(17, 1, 1, struct.pack(">h", len(mech)) + mech), 1)
    if struct.unpack_from(">h", body)[0]:
        raise ConnectionError(f"SaslHandshake error {struct.unpack_from('>h', body)[0]}")
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    server_first = _sasl_call(s, 2, ("n,," + first_bare).encode()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(nonce):
        raise ConnectionError("SCRAM: the server's nonce does not extend ours")
    key = (attrs["s"], int(attrs["i"]))
    if key not in _SCRAM_KEYS:
        _SCRAM_KEYS[key] = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(attrs["s"]), key[1])
    salted = _SCRAM_KEYS[key]
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    stored = hashlib.sha512(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    proof = bytes(a ^ b for a, b in zip(client_key, hmac.new(stored, auth, "sha512").digest()))
    final = _sasl_call(s, 3, f"{without_proof},p={base64.b64encode(proof).decode()}".encode()).decode()
    expected = hmac.new(hmac.new(salted, b"Server Key", "sha512").digest(), auth, "sha512").digest()
    if not final.startswith("v=") or base64.b64decode(final[2:]) != expected:
        raise ConnectionError(f"SCRAM: bad server-final message {final!r}")
    return 3


def open_client_connection(port: int, variant: str, tls=None, sasl: tuple[str, str] | None = None,
                           timeout: float = 60.0) -> socket.socket:
    """One connection doing what a client does on connect (TLS handshake, SASL login, then the
    variant's requests, each answer checked); returned open, to sit idle."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname="127.0.0.1")
        corr = scram_sha512_login(s, *sasl) if sasl else 0
        corr += 1
        body = _conn_call(s, conn_request(18, 3, corr, API_VERSIONS_V3_BODY, flexible=True), corr)
        if struct.unpack_from(">h", body)[0]:
            raise ConnectionError(f"ApiVersions error {struct.unpack_from('>h', body)[0]}")
        if variant == "metadata":
            corr += 1
            body = _conn_call(s, conn_request(3, 4, corr, METADATA_V4_ALL_BODY), corr)
            if struct.unpack_from(">ii", body)[1] < 1:  # throttle_time_ms, then the brokers array
                raise ConnectionError("Metadata answer lists no broker")
        return s
    except BaseException:
        s.close()
        raise


def open_many(port: int, n: int, variant: str, tls=None, sasl=None, threads: int = 8) -> tuple[list, float, list[str]]:
    """Open ``n`` connections with ``threads`` threads; (sockets, seconds, error samples)."""
    import threading

    socks: list = []
    errors: list[str] = []
    left = [n]
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if left[0] <= 0 or len(errors) >= 20:
                    return
                left[0] -= 1
            try:
                s = open_client_connection(port, variant, tls, sasl)
            except (OSError, ConnectionError, struct.error) as e:
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            with lock:
                socks.append(s)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=run, daemon=True) for _ in range(max(1, min(threads, n)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return socks, time.perf_counter() - t0, errors


def close_all(socks: list) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    socks.clear()


def settled_rss_kb(pid: int, max_wait: float = 15.0, step: float = 0.25, still: int = 4) -> tuple[int, float]:
    """VmRSS (KiB) once it has stayed within 0.2% (or 256 KiB) for ``still`` samples ``step`` s apart,
    or after ``max_wait`` s; (RSS, seconds waited)."""
    t0 = time.perf_counter()
    prev = proc_status_kb(pid, "VmRSS") or 0
    calm = 0
    while time.perf_counter() - t0 < max_wait:
        time.sleep(step)  # sampling interval of this deadline loop
        cur = proc_status_kb(pid, "VmRSS") or 0
        calm = calm + 1 if abs(cur - prev) <= max(256, prev // 500) else 0
        prev = cur
        if calm >= still:
            break
    return prev, time.perf_counter() - t0


def raise_fd_limit(need: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``need`` (up to the hard limit); brokers started
    afterwards inherit it. Returns the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        try:  # root may raise the hard limit too (up to fs.nr_open)
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            need = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def jvm_heap_used_kb(pid: int) -> int | None:
    """A full GC in the JVM (jcmd GC.run), then its heap's used KiB (jcmd GC.heap_info); None if jcmd fails."""
    import re

    jcmd = Path(_kafka_jvm().java()).with_name("jcmd")
    try:
        subprocess.run([str(jcmd), str(pid), "GC.run"], capture_output=True, timeout=60, check=True)
        out = subprocess.run([str(jcmd), str(pid), "GC.heap_info"], capture_output=True, text=True, timeout=60,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"total (\d+)K, used (\d+)K", out)
    return int(m.group(2)) if m else None


def per_connection(before_kb: int | None, after_kb: int | None, n: int) -> float | None:
    """KiB per connection between two readings in KiB, or None when either is missing or n is 0."""
    if before_kb is None or after_kb is None or n <= 0:
        return None
    return (after_kb - before_kb) / n


def _idle_round(b: BrokerProc, n: int, variant: str, tls, sasl, threads: int) -> tuple[dict, list]:
    """RSS settled (on Kafka: after a full GC, with its heap used), ``n`` connections of ``variant``
    opened, RSS settled again (Kafka: and after a full GC), a new connection's Metadata answer timed.
    Returns the figures and the connections, still open."""
    pid = b.proc.pid
    java = b.kind == "kafka"
    heap0 = jvm_heap_used_kb(pid) if java else None
    base, waited0 = settled_rss_kb(pid)
    cpu0, own0, busy0 = proc_cpu_s(pid), _cpu_self(), system_cpu()[0]
    socks, secs, errors = open_many(b.port, n, variant, tls, sasl, threads)
    cpu_open = proc_cpu_s(pid) - cpu0
    other = (system_cpu()[0] - busy0 - cpu_open - (_cpu_self() - own0)) / secs if secs > 0 else None
    opened = len(socks)
    open_kb, waited1 = settled_rss_kb(pid)
    t = time.perf_counter()
    answered = metadata_answer(b.plain_port, t + 30)  # a new client still gets an answer
    heap1 = gc_kb = None
    if java:
        heap1 = jvm_heap_used_kb(pid)
        gc_kb, _ = settled_rss_kb(pid)
    return {
        "variant": variant, "requests": CONN_VARIANTS[variant], "asked": n, "opened": opened, "errors": errors[:5],
        "open_s": secs, "connections_per_s": opened / secs if secs > 0 else None,
        "broker_cpu_ms_per_connection": cpu_open * 1000 / opened if opened else None,
        "other_cores": max(other, 0.0) if other is not None else None,
        "rss_before_mb": base / 1024, "rss_open_mb": open_kb / 1024,
        "kib_per_connection": per_connection(base, open_kb, opened),
        "rss_after_gc_mb": gc_kb / 1024 if gc_kb else None,
        "kib_per_connection_after_gc": per_connection(base, gc_kb, opened) if java else None,
        "heap_kib_per_connection": per_connection(heap0, heap1, opened) if java else None,
        "metadata_new_connection_ms": (answered - t) * 1000 if answered is not None else None,
        "settle_s": [waited0, waited1],
    }, socks


def _still_open(s: socket.socket) -> bool:
    """The broker has not closed this idle connection (nothing to read, no EOF)."""
    import select

    p = select.poll()  # not select(): descriptors here go past FD_SETSIZE
    try:
        p.register(s, select.POLLIN)
        if not p.poll(0):
            return True
    except (OSError, ValueError):
        return False
    try:
        return bool(s.recv(1, socket.MSG_PEEK))
    except (OSError, BlockingIOError):
        return False


def run_connections_cell(mode: str, n: int, opts, kind: str = "odradek") -> dict:
    """A fresh broker with the mode's client listener; a warm-up (CONN_WARM connections of each
    variant, opened and closed); then ``n`` idle connections of each variant in turn, the second lot
    opened on top of the first (so that it cannot reuse memory the first lot freed): each measured
    by :func:`_idle_round`; then all of them closed and RSS settled once more."""
    import ssl

    sec_mode, label = CONN_MODES[mode]
    sec = (Security(sec_mode, _certs() if SECURITY_MODES[sec_mode][0] in ("SSL", "SASL_SSL") else None)
           if sec_mode else None)
    limit = raise_fd_limit(len(CONN_VARIANTS) * n + CONN_FD_SPARE)
    cell: dict = {"cell": f"connections-{mode}", "broker": kind, "mode": mode, "label": label, "connections": n,
                  "fd_limit": limit, "threads": opts.conn_threads, "rounds": []}
    tls = sasl = None
    if sec is not None and sec.tls:
        tls = ssl.create_default_context(cafile=str(sec.certs.ca))
    if sec is not None and sec.sasl:
        sasl = (BENCH_USER, BENCH_PASSWORD)
    with new_broker(kind, opts.keep_logs, cell["cell"], security=sec) as b:
        pid = b.proc.pid
        if sec is not None:
            cell["setup"] = sec.setup(b)
        cell["rss_start_mb"] = (proc_status_kb(pid, "VmRSS") or 0) / 1024
        for variant in CONN_VARIANTS:
            socks, _, errors = open_many(b.port, CONN_WARM, variant, tls, sasl, opts.conn_threads)
            close_all(socks)
            if errors:
                raise RuntimeError(f"warm-up connections failed: {errors[:3]}")
        held: list = []
        try:
            for variant in CONN_VARIANTS:
                r, socks = _idle_round(b, n, variant, tls, sasl, opts.conn_threads)
                held.extend(socks)
                cell["rounds"].append(r)
            cell["held"] = len(held)
            cell["still_open"] = sum(1 for s in held if _still_open(s))  # none closed by the broker meanwhile
        finally:
            close_all(held)
        closed_kb, _ = settled_rss_kb(pid)
        first = cell["rounds"][0]
        cell["rss_closed_mb"] = closed_kb / 1024
        cell["kib_left_per_connection_after_close"] = per_connection(
            round(first["rss_before_mb"] * 1024), closed_kb, cell["held"])
        cell["broker_errors"] = b.error_lines()
    return cell


# --- reporting -----------------------------------------------------------------------------------


def _f(v, fmt="{:,.0f}") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return fmt.format(v)


NOISY = 0.3  # other processes using more cores than this during a window: marked with *


def _noisy(d: dict) -> str:
    v = d.get("other_cores")
    return " *" if v is not None and v > NOISY else ""


def render(report: dict, title: str | None = None) -> str:
    out = [f"## {title}", ""] if title else []
    cells = report.get("throughput", [])
    if cells:
        out.append("Throughput (MB = 10^6 payload bytes; cores = CPU seconds per wall second; "
                   "CPU ms/MB = broker CPU per MB moved)")
        out.append("| record | parts | acks | procs p/c | produce rec/s | produce MB/s | broker cores | broker CPU ms/MB "
                   "| broker peak RSS MB | client cores | consume rec/s | consume MB/s | broker cores | broker CPU ms/MB "
                   "| broker peak RSS MB | other cores p/c | loop stall max ms p/c |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in cells:
            p, q = c.get("produce") or {}, c.get("consume") or {}
            out.append(
                f"| {c['record_bytes']} B | {c['partitions']} | {c['acks']} | {p.get('processes', '-')}/{q.get('processes', '-')} "
                f"| {_f(p.get('records_per_s'))}{_noisy(p)} | {_f(p.get('mb_per_s'), '{:,.1f}')} "
                f"| {_f(p.get('broker_cores'), '{:.2f}')} | {_f(p.get('broker_cpu_ms_per_mb'), '{:.2f}')} "
                f"| {_f(p.get('broker_peak_rss_mb'), '{:.0f}')} "
                f"| {_f(p.get('client_cores'), '{:.2f}')} "
                f"| {_f(q.get('records_per_s'))}{_noisy(q)}{'' if q.get('complete', True) else ' (incomplete)'} "
                f"| {_f(q.get('mb_per_s'), '{:,.1f}')} "
                f"| {_f(q.get('broker_cores'), '{:.2f}')} | {_f(q.get('broker_cpu_ms_per_mb'), '{:.2f}')} "
                f"| {_f(q.get('broker_peak_rss_mb'), '{:.0f}')} "
                f"| {_f(p.get('other_cores'), '{:.2f}')}/{_f(q.get('other_cores'), '{:.2f}')} "
                f"| {_f(p.get('probe_max_ms'))}/{_f(q.get('probe_max_ms'))} |"
            )
        out.append("")
    reqs = report.get("requests", [])
    if reqs:
        out.append("Produce requests, one 100 B record per request (linger.ms=0, batch.num.messages=1, acks=1)")
        out.append("| max.in.flight | requests/s | records/request | broker cores | broker CPU µs/request "
                   "| broker peak RSS MB | client cores | other cores |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in reqs:
            out.append(f"| {r['max_in_flight']} | {_f(r['requests_per_s'])}{_noisy(r)} | {_f(r['records_per_request'], '{:.2f}')} "
                       f"| {_f(r['broker_cores'], '{:.2f}')} | {_f(r.get('broker_cpu_us_per_request'), '{:.0f}')} "
                       f"| {_f(r.get('broker_peak_rss_mb'), '{:.0f}')} "
                       f"| {_f(r['client_cores'], '{:.2f}')} | {_f(r.get('other_cores'), '{:.2f}')} |")
        out.append("")
    lat = report.get("latency")
    if lat:
        out.append(f"End-to-end latency, {lat['rate_per_s']} records/s of 100 B for {lat['seconds']} s, "
                   "default fetch.wait.max.ms (500) and linger.ms (5)")
        out.append("| p50 ms | p90 ms | p99 ms | max ms | consumed/produced | broker cores | broker peak RSS MB | other cores |")
        out.append("|---|---|---|---|---|---|---|---|")
        out.append(f"| {_f(lat['p50_ms'], '{:.1f}')} | {_f(lat['p90_ms'], '{:.1f}')} | {_f(lat['p99_ms'], '{:.1f}')} "
                   f"| {_f(lat['max_ms'], '{:.1f}')} | {lat['consumed']}/{lat['produced']} | {_f(lat['broker_cores'], '{:.2f}')} "
                   f"| {_f(lat.get('broker_peak_rss_mb'), '{:.0f}')} | {_f(lat.get('other_cores'), '{:.2f}')} |")
        out.append("")
    if report.get("transactions"):
        out.append(render_transactions(report["transactions"]))
    if report.get("security"):
        out.append(render_security(report["security"]))
    if report.get("connections"):
        out.append(render_connections(report["connections"]))
    st = report.get("startup")
    if st:
        out.append(f"Start-up (empty data dir), median of {st['runs']}: spawn to first accepted TCP connection "
                   f"{st['accept_median_s'] * 1000:.0f} ms, to first Metadata answer "
                   f"{_f(st.get('metadata_median_s'), '{:.3f}')} s, to the ready log line "
                   f"{st['ready_line_median_s'] * 1000:.0f} ms; then RSS {_f(st.get('rss_after_start_median_mb'), '{:.0f}')} MB, "
                   f"CPU used {_f(st.get('cpu_to_metadata_median_s'), '{:.2f}')} s"
                   + (f"; storage format before spawn (not counted): {st['format_median_s'] * 1000:.0f} ms"
                      if st.get("format_median_s") else ""))
        out.append("")
    cells_all = [*report.get("throughput", []), *report.get("requests", []), *([lat] if lat else []),
                 *report.get("transactions", []), *report.get("security", [])]
    unsettled = [c.get("cell", "?") for c in cells_all if c.get("warmup") and not c["warmup"].get("settled")]
    if unsettled:
        out.append("Warm-up not settled within --warmup-max (broker CPU per unit of work still changing; "
                   "see warmup.slices in the JSON): " + ", ".join(unsettled))
        out.append("")
    if not title:
        out.append(_noise_note())
        for e in report.get("errors", []):
            out.append(f"ERROR in {e['cell']}: {e['error']}")
    return "\n".join(out)


def _n(d: dict | None) -> str:
    """A phase's other load, for the 'other cores' columns."""
    return _f((d or {}).get("other_cores"), "{:.2f}")


def render_transactions(cells: list[dict]) -> str:
    aborts = sorted({c["abort_every"] for c in cells if c.get("abort_every")})
    out = ["Transactions: an idempotent producer (enable.idempotence, acks=all) and transactional ones "
           "(transactional.id, commit_transaction() every N records"
           + (f", every {'/'.join(map(str, aborts))}th transaction flushed then aborted" if aborts else "")
           + "); then the topic read back with isolation.level=read_committed (rc) and read_uncommitted (ru). "
           "txn/s: transactions ended per second; end-txn ms: time in commit_transaction() (flush + abort for an "
           "aborted one), p50/p99 of the slowest producer; x idem: against the idempotent cell of the same record size; "
           "extra µs/txn: broker CPU beyond the idempotent cell's per MB, per transaction",
           "| record | parts | producer | procs | produce rec/s | produce MB/s | txn/s (aborted) | end-txn ms p50/p99 "
           "| broker cores | broker CPU ms/MB | x idem rec/s | x idem CPU/MB | extra broker CPU µs/txn "
           "| broker peak RSS MB | client cores | rc rec/s | rc MB/s | rc broker CPU ms/MB | ru rec/s | ru MB/s "
           "| ru broker CPU ms/MB | aborted records written/seen rc/ru | other cores p/rc/ru | loop stall max ms p/rc/ru |",
           "|" + "---|" * 24]
    for c in cells:
        p = c.get("produce") or {}
        rc, ru = c.get("read_committed") or {}, c.get("read_uncommitted") or {}

        def cons(q: dict) -> str:
            return (f"{_f(q.get('records_per_s'))}{_noisy(q)}{'' if q.get('complete', True) else ' (incomplete)'} "
                    f"| {_f(q.get('mb_per_s'), '{:,.1f}')} | {_f(q.get('broker_cpu_ms_per_mb'), '{:.2f}')}")

        txn = (f"{_f(p.get('txns_per_s'), '{:,.1f}')} ({p.get('aborted_txns', 0)})" if c.get("commit_every") else "-")
        end = (f"{_f(p.get('end_txn_ms_p50'), '{:.1f}')}/{_f(p.get('end_txn_ms_p99'), '{:.1f}')}"
               if c.get("commit_every") else "-")
        out.append(
            f"| {c['record_bytes']} B | {c['partitions']} | {c.get('producer', '-')} | {p.get('processes', '-')} "
            f"| {_f(p.get('records_per_s'))}{_noisy(p)} | {_f(p.get('mb_per_s'), '{:,.1f}')} | {txn} | {end} "
            f"| {_f(p.get('broker_cores'), '{:.2f}')} | {_f(p.get('broker_cpu_ms_per_mb'), '{:.2f}')} "
            f"| {_f(p.get('records_per_s_vs_idempotent'), '{:.2f}')} | {_f(p.get('cpu_per_mb_vs_idempotent'), '{:.2f}')} "
            f"| {_f(p.get('extra_broker_cpu_us_per_txn'), '{:,.0f}')} "
            f"| {_f(p.get('broker_peak_rss_mb'), '{:.0f}')} | {_f(p.get('client_cores'), '{:.2f}')} "
            f"| {cons(rc)} | {cons(ru)} "
            f"| {_f(p.get('aborted_records'))}/{_f(rc.get('keyed'))}/{_f(ru.get('keyed'))} "
            f"| {_n(p)}/{_n(rc)}/{_n(ru)} "
            f"| {_f(p.get('probe_max_ms'))}/{_f(rc.get('probe_max_ms'))}/{_f(ru.get('probe_max_ms'))} |")
    out.append("")
    return "\n".join(out)


def render_security(cells: list[dict]) -> str:
    c0 = cells[0]
    out = [f"Security: throughput (acks=1), one-record Produce requests (max.in.flight {c0.get('max_in_flight')}) "
           "and end-to-end latency on one broker per setting; x plain: against the PLAINTEXT cell of the same "
           "broker (CPU per MB, per request)",
           "| security | record | parts | produce MB/s | broker CPU ms/MB | x plain | consume MB/s | broker CPU ms/MB "
           "| x plain | requests/s | broker CPU µs/request | x plain | latency p50 ms | p99 ms | consumed/produced "
           "| broker peak RSS MB | other cores p/c/r/l | loop stall max ms p/c/l |",
           "|" + "---|" * 18]
    for c in cells:
        p, q, r, lat = (c.get(k) or {} for k in ("produce", "consume", "requests", "latency"))
        vs = c.get("vs_plaintext") or {}
        peak = max((x.get("broker_peak_rss_mb") or 0 for x in (p, q, r, lat)), default=0)
        out.append(
            f"| {c.get('label', c['security'])} | {c['record_bytes']} B | {c['partitions']} "
            f"| {_f(p.get('mb_per_s'), '{:,.1f}')}{_noisy(p)} | {_f(p.get('broker_cpu_ms_per_mb'), '{:.2f}')} "
            f"| {_f(vs.get('produce_cpu_per_mb'), '{:.2f}')} "
            f"| {_f(q.get('mb_per_s'), '{:,.1f}')}{_noisy(q)}{'' if q.get('complete', True) else ' (incomplete)'} "
            f"| {_f(q.get('broker_cpu_ms_per_mb'), '{:.2f}')} | {_f(vs.get('consume_cpu_per_mb'), '{:.2f}')} "
            f"| {_f(r.get('requests_per_s'))}{_noisy(r)} | {_f(r.get('broker_cpu_us_per_request'), '{:.0f}')} "
            f"| {_f(vs.get('cpu_per_request'), '{:.2f}')} "
            f"| {_f(lat.get('p50_ms'), '{:.1f}')}{_noisy(lat)} | {_f(lat.get('p99_ms'), '{:.1f}')} "
            f"| {lat.get('consumed', '-')}/{lat.get('produced', '-')} | {_f(peak or None, '{:.0f}')} "
            f"| {_n(p)}/{_n(q)}/{_n(r)}/{_n(lat)} "
            f"| {_f(p.get('probe_max_ms'))}/{_f(q.get('probe_max_ms'))}/{_f(lat.get('probe_max_ms'))} |")
    out.append("")
    return "\n".join(out)


def render_connections(cells: list[dict]) -> str:
    """One row per round of each connections cell."""
    out = [f"Idle connections: N connections opened ({cells[0].get('threads')} threads, each connection doing what a client does on "
           "connect, then left idle), on top of those of the row before on the same broker; KiB/connection = "
           "broker RSS growth (VmRSS, settled) / N; on Kafka also after a full GC (jcmd GC.run) and its heap's "
           "growth; left after close: RSS once every connection closed, above the first baseline, per connection; "
           "Metadata ms: a new connection's Metadata answer with all of them open",
           "| listener | N | requests on connect | KiB/connection | after GC | heap KiB/connection | RSS MB before/open "
           "| opened/s | broker CPU ms/connection | Metadata ms | left after close KiB/connection | other cores |",
           "|" + "---|" * 12]
    for c in cells:
        rounds = c.get("rounds") or []
        for i, r in enumerate(rounds):
            last = i == len(rounds) - 1
            short = f" ({r['opened']} opened)" if r.get("opened") != r.get("asked") else ""
            out.append(
                f"| {c.get('label', c['mode'])} | {r.get('asked')}{short} | {r.get('requests', r['variant'])} "
                f"| {_f(r.get('kib_per_connection'), '{:.1f}')} | {_f(r.get('kib_per_connection_after_gc'), '{:.1f}')} "
                f"| {_f(r.get('heap_kib_per_connection'), '{:.1f}')} "
                f"| {_f(r.get('rss_before_mb'), '{:.0f}')}/{_f(r.get('rss_open_mb'), '{:.0f}')} "
                f"| {_f(r.get('connections_per_s'))}{_noisy(r)} | {_f(r.get('broker_cpu_ms_per_connection'), '{:.2f}')} "
                f"| {_f(r.get('metadata_new_connection_ms'), '{:.1f}')} "
                f"| {_f(c.get('kib_left_per_connection_after_close'), '{:.1f}') if last else ''} "
                f"| {_f(r.get('other_cores'), '{:.2f}')} |")
        if c.get("still_open") is not None and c.get("still_open") != c.get("held"):
            out.append(f"(only {c['still_open']} of the {c['held']} connections of {c['mode']} were still open at the end)")
    out.append("")
    return "\n".join(out)


def relative_figures(side: dict) -> None:
    """Within one broker's report: each transactional cell against the idempotent cell of the same record
    size and partitions (records/s, CPU per MB, and the broker CPU per transaction beyond the idempotent
    cell's CPU per MB), and each security cell against the PLAINTEXT cell of the same size and partitions."""
    idem = {(c["record_bytes"], c["partitions"]): c for c in side.get("transactions", []) if not c.get("commit_every")}
    for c in side.get("transactions", []):
        base = idem.get((c["record_bytes"], c["partitions"]))
        p = c.get("produce")
        if not c.get("commit_every") or base is None or not p:
            continue
        q = base.get("produce") or {}
        p["records_per_s_vs_idempotent"] = ratio(p.get("records_per_s"), q.get("records_per_s"))
        p["cpu_per_mb_vs_idempotent"] = ratio(p.get("broker_cpu_ms_per_mb"), q.get("broker_cpu_ms_per_mb"))
        extra = None
        a, b = p.get("broker_cpu_ms_per_mb"), q.get("broker_cpu_ms_per_mb")
        if a is not None and b is not None and p.get("txns"):
            mb = p["records"] * c["record_bytes"] / MB
            extra = (a - b) * mb / p["txns"] * 1000  # ms -> µs
        p["extra_broker_cpu_us_per_txn"] = extra
    plain = {(c["record_bytes"], c["partitions"]): c for c in side.get("security", []) if c["security"] == "plaintext"}
    for c in side.get("security", []):
        base = plain.get((c["record_bytes"], c["partitions"]))
        if base is None:
            continue

        def rel(phase: str, key: str) -> float | None:
            return ratio((c.get(phase) or {}).get(key), (base.get(phase) or {}).get(key))

        c["vs_plaintext"] = {
            "produce_mb_per_s": rel("produce", "mb_per_s"), "produce_cpu_per_mb": rel("produce", "broker_cpu_ms_per_mb"),
            "consume_mb_per_s": rel("consume", "mb_per_s"), "consume_cpu_per_mb": rel("consume", "broker_cpu_ms_per_mb"),
            "requests_per_s": rel("requests", "requests_per_s"),
            "cpu_per_request": rel("requests", "broker_cpu_us_per_request"),
            "latency_p50": rel("latency", "p50_ms"), "latency_p99": rel("latency", "p99_ms"),
        }


def _noise_note() -> str:
    return (f"* = other processes used over {NOISY} cores during that window (this machine has "
            f"{os.cpu_count()}); 'other cores' includes kernel writeback of the data the broker wrote.")


# --- Odradek / Kafka ratios ----------------------------------------------------------------------

RATIO_FIGURES = {
    "throughput": ("records_per_s", "mb_per_s", "broker_cores", "broker_cpu_ms_per_mb", "broker_peak_rss_mb",
                   "broker_rss_mb", "client_cores"),
    "requests": ("requests_per_s", "broker_cores", "broker_cpu_us_per_request", "broker_peak_rss_mb", "broker_rss_mb"),
    "latency": ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "broker_cores", "broker_peak_rss_mb", "broker_rss_mb"),
    "startup": ("accept_median_s", "metadata_median_s", "ready_line_median_s", "rss_after_start_median_mb",
                "cpu_to_metadata_median_s"),
    "connections": ("kib_per_connection", "connections_per_s", "broker_cpu_ms_per_connection",
                    "metadata_new_connection_ms"),
    "transactions": ("records_per_s", "mb_per_s", "txns_per_s", "broker_cores", "broker_cpu_ms_per_mb",
                     "broker_cpu_us_per_txn", "extra_broker_cpu_us_per_txn", "end_txn_ms_p50", "end_txn_ms_p99",
                     "broker_peak_rss_mb", "broker_rss_mb", "client_cores"),
}
TXN_PHASES = ("produce", "read_committed", "read_uncommitted")
# a security cell's phases and the figures compared in each
SECURITY_PHASES = {"produce": "throughput", "consume": "throughput", "requests": "requests", "latency": "latency"}


def ratio(a, b) -> float | None:
    """a / b, or None when either is missing or b is not positive."""
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a != a or b != b or b <= 0:
        return None
    return a / b


def _ratios_of(o: dict | None, k: dict | None, keys) -> dict:
    o, k = o or {}, k or {}
    out = {key: ratio(o.get(key), k.get(key)) for key in keys}
    oc = [v for v in (o.get("other_cores"), k.get("other_cores")) if v is not None]
    out["max_other_cores"] = max(oc) if oc else None
    return out


def compute_ratios(odradek: dict, kafka: dict) -> dict:
    """Odradek's figure divided by Kafka's, cell by cell (cells matched by their parameters)."""
    out: dict = {"definition": "odradek / kafka", "throughput": [], "requests": []}
    kt = {(c["record_bytes"], c["partitions"], str(c["acks"])): c for c in kafka.get("throughput", [])}
    for c in odradek.get("throughput", []):
        kc = kt.get((c["record_bytes"], c["partitions"], str(c["acks"])))
        if kc is None:
            continue
        row = {"record_bytes": c["record_bytes"], "partitions": c["partitions"], "acks": c["acks"]}
        for phase in ("produce", "consume"):
            row[phase] = _ratios_of(c.get(phase), kc.get(phase), RATIO_FIGURES["throughput"])
        out["throughput"].append(row)
    kr = {r["max_in_flight"]: r for r in kafka.get("requests", [])}
    for r in odradek.get("requests", []):
        if r["max_in_flight"] in kr:
            out["requests"].append({"max_in_flight": r["max_in_flight"],
                                    **_ratios_of(r, kr[r["max_in_flight"]], RATIO_FIGURES["requests"])})
    if odradek.get("latency") and kafka.get("latency"):
        out["latency"] = _ratios_of(odradek["latency"], kafka["latency"], RATIO_FIGURES["latency"])
    if odradek.get("startup") and kafka.get("startup"):
        out["startup"] = _ratios_of(odradek["startup"], kafka["startup"], RATIO_FIGURES["startup"])
        out["startup"].pop("max_other_cores")
    kx = {(c["record_bytes"], c["partitions"], c["commit_every"]): c for c in kafka.get("transactions", [])}
    for c in odradek.get("transactions", []):
        kc = kx.get((c["record_bytes"], c["partitions"], c["commit_every"]))
        if kc is None:
            continue
        out.setdefault("transactions", [])
        row = {"record_bytes": c["record_bytes"], "partitions": c["partitions"], "commit_every": c["commit_every"],
               "producer": c.get("producer")}
        for phase in TXN_PHASES:
            row[phase] = _ratios_of(c.get(phase), kc.get(phase), RATIO_FIGURES["transactions"])
        if ((c.get("produce") or {}).get("extra_broker_cpu_us_per_txn") or 0) <= 0:
            row["produce"]["extra_broker_cpu_us_per_txn"] = None  # a negative extra cost is noise: no ratio
        out["transactions"].append(row)
    ks = {(c["security"], c["record_bytes"], c["partitions"]): c for c in kafka.get("security", [])}
    for c in odradek.get("security", []):
        kc = ks.get((c["security"], c["record_bytes"], c["partitions"]))
        if kc is None:
            continue
        out.setdefault("security", [])
        row = {"security": c["security"], "label": c.get("label"), "record_bytes": c["record_bytes"],
               "partitions": c["partitions"]}
        for phase, figs in SECURITY_PHASES.items():
            row[phase] = _ratios_of(c.get(phase), kc.get(phase), RATIO_FIGURES[figs])
        out["security"].append(row)
    kn = {(c["mode"], r["variant"]): r for c in kafka.get("connections", []) for r in c.get("rounds", [])}
    for c in odradek.get("connections", []):
        for r in c.get("rounds", []):
            kr_ = kn.get((c["mode"], r["variant"]))
            if kr_ is None:
                continue
            out.setdefault("connections", []).append({
                "mode": c["mode"], "label": c.get("label"), "variant": r["variant"], "requests": r.get("requests"),
                "connections": r.get("asked"), **_ratios_of(r, kr_, RATIO_FIGURES["connections"])})
    return out


def _r(v, noisy: bool = False) -> str:
    return ("-" if v is None else f"{v:.2f}") + (" *" if noisy and v is not None else "")


def render_ratios(rat: dict) -> str:
    out = ["## Odradek / Kafka", "",
           "Each figure is Odradek's divided by Kafka's. Throughput and requests/s: above 1 means Odradek "
           "is faster. Latency, start-up, broker CPU per MB or per request and memory: below 1 means "
           "Odradek needs less. * = one of the two windows had other load over "
           f"{NOISY} cores; 'other cores' is the larger of the two sides' figures.", ""]
    rows = rat.get("throughput", [])
    if rows:
        out.append("| record | parts | acks | produce MB/s | consume MB/s | produce broker CPU/MB | consume broker CPU/MB "
                   "| produce peak RSS | consume peak RSS | produce RSS at end | consume RSS at end | other cores p/c |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for t in rows:
            p, q = t["produce"], t["consume"]
            pn = (p.get("max_other_cores") or 0) > NOISY
            qn = (q.get("max_other_cores") or 0) > NOISY
            out.append(f"| {t['record_bytes']} B | {t['partitions']} | {t['acks']} | {_r(p['mb_per_s'], pn)} "
                       f"| {_r(q['mb_per_s'], qn)} | {_r(p['broker_cpu_ms_per_mb'], pn)} | {_r(q['broker_cpu_ms_per_mb'], qn)} "
                       f"| {_r(p['broker_peak_rss_mb'])} | {_r(q['broker_peak_rss_mb'])} "
                       f"| {_r(p['broker_rss_mb'])} | {_r(q['broker_rss_mb'])} "
                       f"| {_f(p.get('max_other_cores'), '{:.2f}')}/{_f(q.get('max_other_cores'), '{:.2f}')} |")
        out.append("(records/s ratios equal the MB/s ratios: both sides move the same record sizes)")
        out.append("")
    rows = rat.get("requests", [])
    if rows:
        out.append("| one-record requests, max.in.flight | requests/s | broker CPU/request | broker peak RSS | other cores |")
        out.append("|---|---|---|---|---|")
        for r in rows:
            n = (r.get("max_other_cores") or 0) > NOISY
            out.append(f"| {r['max_in_flight']} | {_r(r['requests_per_s'], n)} | {_r(r['broker_cpu_us_per_request'], n)} "
                       f"| {_r(r['broker_peak_rss_mb'])} | {_f(r.get('max_other_cores'), '{:.2f}')} |")
        out.append("")
    lat = rat.get("latency")
    if lat:
        n = (lat.get("max_other_cores") or 0) > NOISY
        out.append("| end-to-end latency | p50 | p90 | p99 | max | broker peak RSS | other cores |")
        out.append("|---|---|---|---|---|---|---|")
        out.append(f"| ratio | {_r(lat['p50_ms'], n)} | {_r(lat['p90_ms'], n)} | {_r(lat['p99_ms'], n)} "
                   f"| {_r(lat['max_ms'], n)} | {_r(lat['broker_peak_rss_mb'])} | {_f(lat.get('max_other_cores'), '{:.2f}')} |")
        out.append("")
    rows = rat.get("transactions", [])
    if rows:
        out.append("| transactions: record | parts | producer | produce MB/s | txn/s | end-txn ms p50 "
                   "| produce broker CPU/MB | extra broker CPU/txn | rc MB/s | rc broker CPU/MB | ru MB/s "
                   "| ru broker CPU/MB | produce peak RSS | other cores p/rc/ru |")
        out.append("|" + "---|" * 14)
        for t in rows:
            p, rc, ru = t["produce"], t["read_committed"], t["read_uncommitted"]
            pn, rn, un = ((x.get("max_other_cores") or 0) > NOISY for x in (p, rc, ru))
            out.append(
                f"| {t['record_bytes']} B | {t['partitions']} | {t.get('producer') or t['commit_every']} "
                f"| {_r(p['mb_per_s'], pn)} | {_r(p['txns_per_s'], pn)} | {_r(p['end_txn_ms_p50'], pn)} "
                f"| {_r(p['broker_cpu_ms_per_mb'], pn)} | {_r(p['extra_broker_cpu_us_per_txn'], pn)} "
                f"| {_r(rc['mb_per_s'], rn)} | {_r(rc['broker_cpu_ms_per_mb'], rn)} "
                f"| {_r(ru['mb_per_s'], un)} | {_r(ru['broker_cpu_ms_per_mb'], un)} | {_r(p['broker_peak_rss_mb'])} "
                f"| {_f(p.get('max_other_cores'), '{:.2f}')}/{_f(rc.get('max_other_cores'), '{:.2f}')}"
                f"/{_f(ru.get('max_other_cores'), '{:.2f}')} |")
        out.append("")
    rows = rat.get("security", [])
    if rows:
        out.append("| security | record | parts | produce MB/s | consume MB/s | produce broker CPU/MB "
                   "| consume broker CPU/MB | requests/s | broker CPU/request | latency p50 | latency p99 "
                   "| produce peak RSS | other cores p/c/r/l |")
        out.append("|" + "---|" * 13)
        for t in rows:
            p, q, r, lat = t["produce"], t["consume"], t["requests"], t["latency"]
            pn, qn, rn, ln = ((x.get("max_other_cores") or 0) > NOISY for x in (p, q, r, lat))
            out.append(
                f"| {t.get('label') or t['security']} | {t['record_bytes']} B | {t['partitions']} "
                f"| {_r(p['mb_per_s'], pn)} | {_r(q['mb_per_s'], qn)} | {_r(p['broker_cpu_ms_per_mb'], pn)} "
                f"| {_r(q['broker_cpu_ms_per_mb'], qn)} | {_r(r['requests_per_s'], rn)} "
                f"| {_r(r['broker_cpu_us_per_request'], rn)} | {_r(lat['p50_ms'], ln)} | {_r(lat['p99_ms'], ln)} "
                f"| {_r(p['broker_peak_rss_mb'])} | " + "/".join(_f(x.get("max_other_cores"), "{:.2f}")
                                                             for x in (p, q, r, lat)) + " |")
        out.append("")
    rows = rat.get("connections", [])
    if rows:
        out.append("| idle connections: listener | N | requests on connect | KiB/connection (RSS) | opened/s "
                   "| broker CPU/connection | Metadata ms with all open | other cores |")
        out.append("|" + "---|" * 8)
        for t in rows:
            n = (t.get("max_other_cores") or 0) > NOISY
            out.append(f"| {t.get('label') or t['mode']} | {t.get('connections')} | {t.get('requests') or t['variant']} "
                       f"| {_r(t['kib_per_connection'])} | {_r(t['connections_per_s'], n)} "
                       f"| {_r(t['broker_cpu_ms_per_connection'], n)} | {_r(t['metadata_new_connection_ms'], n)} "
                       f"| {_f(t.get('max_other_cores'), '{:.2f}')} |")
        out.append("(Kafka's JVM RSS moves by itself: with thousands of connections the per-connection figure is "
                   "its growth over thousands of connections, still noisy by about a KiB either way)")
        out.append("")
    st = rat.get("startup")
    if st:
        out.append("| start-up (medians) | to accepted connection | to Metadata answer | to ready line "
                   "| RSS after start | CPU to Metadata answer |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| ratio | {_r(st['accept_median_s'])} | {_r(st['metadata_median_s'])} | {_r(st['ready_line_median_s'])} "
                   f"| {_r(st['rss_after_start_median_mb'])} | {_r(st['cpu_to_metadata_median_s'])} |")
        out.append("")
    return "\n".join(out)


def summarise_profile(path: Path, top: int = 15) -> dict:
    """From a py-spy raw (collapsed) file: the functions with the most self time, as shares of the
    samples where the broker was not waiting in epoll (py-spy keeps some of those even without
    --idle), plus that idle share."""
    selfc: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        n = int(n)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += n
        if frames[-1].startswith("EpollSelector.select") or frames[-1].startswith("select ("):
            idle += n
            continue
        selfc[frames[-1]] = selfc.get(frames[-1], 0) + n
        for fn in set(frames):
            incl[fn] = incl.get(fn, 0) + n
    busy = total - idle
    if not busy:
        return {"samples": total, "idle_pct": 100.0 if total else None, "top_self": []}
    rows = sorted(selfc.items(), key=lambda kv: -kv[1])[:top]
    return {
        "samples": total,
        "idle_pct": 100 * idle / total,
        "top_self": [{"function": fn, "self_pct": 100 * c / busy, "inclusive_pct": 100 * incl[fn] / busy} for fn, c in rows],
    }


def _frame_name(f: str) -> str:
    """"Func (path/to/file.py:123)" -> "Func (file.py)"."""
    if " (" not in f:
        return f
    fn, loc = f.split(" (", 1)
    return f"{fn} ({loc.split(':')[0].rsplit('/', 1)[-1].rstrip(')')})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (about a minute)")
    ap.add_argument("--json", metavar="PATH", help="write all figures as JSON")
    ap.add_argument("--only", default="throughput,requests,latency,startup,transactions,security,connections",
                    help="comma list of: throughput, requests, latency, startup, transactions, security, connections")
    ap.add_argument("--sizes", default="100,1024")
    ap.add_argument("--partitions", default="1,6")
    ap.add_argument("--acks", default="1,all")
    ap.add_argument("--producers", default="auto", help="producer processes per throughput cell (auto: 2 for 100 B, else 1)")
    ap.add_argument("--consumers", default="auto",
                    help="consumer processes per cell, each with its own share of the partitions (auto: 2 for 100 B, else 1)")
    ap.add_argument("--duration", type=float, help="produce time budget per cell, s (5; quick 2)")
    ap.add_argument("--max-records", type=int, default=5_000_000, help="produce record cap per cell")
    ap.add_argument("--req-duration", type=float, help="one-record-per-request run per in-flight setting, s (5; quick 2)")
    ap.add_argument("--lat-rate", type=int, default=1000)
    ap.add_argument("--lat-seconds", type=float, help="latency run, s (5; quick 3)")
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--txn-sizes", default="1024,100", help="record sizes of the transaction cells")
    ap.add_argument("--txn-partitions", default="1", help="partition counts of the transaction cells")
    ap.add_argument("--txn-commit-every", default="1000,100",
                    help="records per transaction, one cell each; 0 is the idempotent producer (always run first "
                         "as the cells' baseline unless --txn-no-idempotent)")
    ap.add_argument("--txn-no-idempotent", action="store_true", help="no idempotent baseline cell")
    ap.add_argument("--txn-abort-every", type=int, default=10,
                    help="abort every Nth transaction (after flushing its records) so read_committed has aborted "
                         "data to skip; 0: commit all")
    ap.add_argument("--security", default=",".join(SECURITY_MODES),
                    help="comma list of security cells: " + ", ".join(SECURITY_MODES))
    ap.add_argument("--sec-sizes", default="1024", help="record sizes of the security cells' throughput runs")
    ap.add_argument("--sec-partitions", default="1", help="partition counts of the security cells")
    ap.add_argument("--sec-inflight", type=int, default=5,
                    help="max.in.flight of the security cells' one-record-per-request run")
    ap.add_argument("--acl-extra", type=int, default=100,
                    help="ACLs for other principals and resources added in the authorizer cell, besides the "
                         "prefixed ones the load needs")
    ap.add_argument("--conn-count", type=int,
                    help="idle connections opened per round of a connections cell (two rounds, one on top of the "
                         "other; 5000, quick 2000; capped by the open-file limit)")
    ap.add_argument("--conn-modes", default=",".join(CONN_MODES),
                    help="listeners of the connections cells: " + ", ".join(CONN_MODES))
    ap.add_argument("--conn-threads", type=int, default=8, help="client threads opening the idle connections")
    ap.add_argument("--data-base", metavar="DIR",
                    help="parent of the brokers' temporary data dirs (default: system temp dir, on disk here; "
                         "/dev/shm puts the log in RAM, closer to an in-memory broker)")
    ap.add_argument("--broker-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment variable for the broker process (repeatable)")
    ap.add_argument("--broker-override", action="append", default=[], metavar="KEY=VALUE",
                    help="extra broker config override (repeatable), e.g. log.segment.bytes=104857600")
    ap.add_argument("--no-consume", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each cell N times and keep, per phase, the attempt with the least other load")
    ap.add_argument("--wait-quiet", type=float, default=15.0, metavar="S",
                    help="before each cell wait up to S s for other processes to drop under 0.3 cores (0: don't)")
    ap.add_argument("--profile", metavar="DIR", help="record each window with py-spy into DIR and summarise")
    ap.add_argument("--keep-logs", metavar="DIR", type=Path, help="copy every broker log into DIR")
    ap.add_argument("--against", choices=["kafka"],
                    help="also run every cell against a real Apache Kafka 4.x broker (KRaft, one node, from the "
                         "Maven jars) and print Odradek/Kafka ratios")
    ap.add_argument("--kafka-heap", default="1g", help="Kafka's -Xms and -Xmx (1g: Kafka's own default)")
    ap.add_argument("--kafka-override", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Kafka broker config (repeatable)")
    ap.add_argument("--warmup", type=float, metavar="S",
                    help="before each cell's measured run, the same load in slices of S s on the same fresh broker, "
                         "not measured, until the broker's CPU per unit of work settles (lets a JVM compile its hot "
                         "code); default 0 (none), with --against kafka 3 (quick 2)")
    ap.add_argument("--warmup-max", type=float, metavar="S",
                    help="stop warming up after S s even if not settled (default 40; quick 15)")
    ap.add_argument("--warmup-tolerance", type=float, default=0.2, metavar="F",
                    help="settled: the last slice's broker CPU per unit within this fraction of the one before (0.2)")
    opts = ap.parse_args(argv)
    opts.duration = opts.duration or (2.0 if opts.quick else 5.0)
    opts.req_duration = opts.req_duration or (2.0 if opts.quick else 5.0)
    opts.lat_seconds = opts.lat_seconds or (3.0 if opts.quick else 5.0)
    opts.conn_count = opts.conn_count or (2000 if opts.quick else 5000)
    if opts.warmup is None:
        opts.warmup = (2.0 if opts.quick else 3.0) if opts.against else 0.0
    opts.warmup_max = opts.warmup_max if opts.warmup_max is not None else (15.0 if opts.quick else 40.0)
    only = set(opts.only.split(","))
    Broker.base = opts.data_base
    Broker.env = dict(kv.split("=", 1) for kv in opts.broker_env)
    Broker.overrides = list(opts.broker_override)
    if opts.data_base:
        Path(opts.data_base).mkdir(parents=True, exist_ok=True)

    import confluent_kafka

    report: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                    "confluent_kafka": confluent_kafka.__version__, "librdkafka": confluent_kafka.libversion()[0]},
        "git": _git_rev(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
        "throughput": [], "requests": [], "transactions": [], "security": [], "connections": [], "errors": [],
    }
    t_start = time.perf_counter()

    def attempt(label, fn, *a):
        quiet = wait_for_quiet(opts.wait_quiet) if opts.wait_quiet > 0 else None
        print(f"[{time.perf_counter() - t_start:6.1f}s] {label} ..."
              + (f" (other load before: {quiet:.2f} cores)" if quiet is not None else ""), file=sys.stderr, flush=True)
        try:
            r = fn(*a)
            if isinstance(r, dict):
                r["other_load_before_cores"] = quiet
            return r
        except Exception as e:  # keep going: one broken cell must not hide the others
            report["errors"].append({"cell": label, "error": f"{type(e).__name__}: {e}"})
            print(f"  FAILED: {e}", file=sys.stderr)
            return None

    sides = ["odradek"] + ([opts.against] if opts.against else [])
    flip = [0]

    def best_of(runs: list[dict]) -> dict | None:
        """Per phase, the attempt on the quietest machine."""
        if len(runs) <= 1:
            return runs[0] if runs else None
        best = dict(min(runs, key=lambda r: _quiet_key(r)))
        for phase in PHASES:
            cands = [r[phase] for r in runs if r.get(phase)]
            if cands:
                best[phase] = min(cands, key=_quiet_key)
        best["attempts"] = [_brief(r) for r in runs]
        return best

    def compare(label, fn, *a) -> dict:
        """Run a cell opts.repeat times on every side (each time on fresh brokers), alternating which
        broker goes first so that slow drifts of the machine's load fall on both; per side, keep the
        quietest attempt of each phase."""
        runs: dict[str, list] = {s: [] for s in sides}
        for i in range(opts.repeat):
            order = sides if flip[0] % 2 == 0 else sides[::-1]
            flip[0] += 1
            for side in order:
                tag = (f" (attempt {i + 1}/{opts.repeat})" if opts.repeat > 1 else "") + (f" [{side}]" if len(sides) > 1 else "")
                r = attempt(label + tag, fn, *a, side)
                if r:
                    runs[side].append(r)
        return {side: best_of(rs) for side, rs in runs.items()}

    reports = {"odradek": report}
    try:
        if opts.against:
            kj = _kafka_jvm()
            KafkaRef.heap = opts.kafka_heap
            KafkaRef.overrides = dict(kv.split("=", 1) for kv in opts.kafka_override)
            t0 = time.perf_counter()
            print("preparing Apache Kafka (jars, one storage format for the run) ...", file=sys.stderr, flush=True)
            KafkaRef.template()
            jv = subprocess.run([kj.java(), "-version"], capture_output=True, text=True).stderr.splitlines()
            report["kafka"] = reports["kafka"] = {
                "broker": {"version": kj.KAFKA_VERSION["kafka-4"], "mode": "KRaft, broker+controller in one JVM, one node",
                           "heap": opts.kafka_heap, "java": jv[0] if jv else None, "overrides": KafkaRef.overrides,
                           "prepare_s": time.perf_counter() - t0},
                "throughput": [], "requests": [], "transactions": [], "security": [], "connections": [],
            }
        if "startup" in only:
            st: dict[str, list] = {s: [] for s in sides}
            for i in range(opts.startup_runs):
                for side in (sides if i % 2 == 0 else sides[::-1]):
                    tag = f" [{side}]" if len(sides) > 1 else ""
                    r = attempt(f"startup {i + 1}/{opts.startup_runs}{tag}", run_startup_once, i, opts, side)
                    if r:
                        st[side].append(r)
            for side in sides:
                reports[side]["startup"] = summarise_startup(st[side])
        if "throughput" in only:
            for size in map(int, opts.sizes.split(",")):
                for parts in map(int, opts.partitions.split(",")):
                    for acks in opts.acks.split(","):
                        got = compare(f"throughput {size}B {parts}p acks={acks}", run_throughput_cell, size, parts, acks, opts)
                        for side, c in got.items():
                            if c:
                                reports[side]["throughput"].append(c)
        if "requests" in only:
            for inflight in (1, 5):
                got = compare(f"requests in-flight {inflight}", run_requests_cell, inflight, opts)
                for side, r in got.items():
                    if r:
                        reports[side]["requests"].append(r)
        if "latency" in only:
            for side, r in compare("latency", run_latency_cell, opts).items():
                reports[side]["latency"] = r
        if "transactions" in only:
            evs = [int(x) for x in opts.txn_commit_every.split(",")]
            evs = ([] if opts.txn_no_idempotent else [0]) + [e for e in evs if e]
            for size in map(int, opts.txn_sizes.split(",")):
                for parts in map(int, opts.txn_partitions.split(",")):
                    for every in evs:
                        what = f"commit every {every}" if every else "idempotent"
                        got = compare(f"transactions {size}B {parts}p {what}", run_txn_cell, size, parts, every, opts)
                        for side, c in got.items():
                            if c:
                                reports[side]["transactions"].append(c)
        if "security" in only:
            modes = [m.strip() for m in opts.security.split(",") if m.strip()]
            for size in map(int, opts.sec_sizes.split(",")):
                for parts in map(int, opts.sec_partitions.split(",")):
                    for mode in modes:
                        got = compare(f"security {mode} {size}B {parts}p", run_security_cell, mode, size, parts, opts)
                        for side, c in got.items():
                            if c:
                                reports[side]["security"].append(c)
        if "connections" in only:
            n = conn_round_size(opts.conn_count, raise_fd_limit(len(CONN_VARIANTS) * opts.conn_count + CONN_FD_SPARE))
            for mode in [m.strip() for m in opts.conn_modes.split(",") if m.strip()]:
                got = compare(f"connections {mode} {n} idle x{len(CONN_VARIANTS)}", run_connections_cell, mode, n, opts)
                for side, c in got.items():
                    if c:
                        reports[side]["connections"].append(c)
    finally:
        KafkaRef.drop_template()
        if _CERTS is not None:
            _CERTS.remove()
    for side in sides:
        relative_figures(reports[side])
    if opts.against:
        report["ratios"] = compute_ratios(report, report["kafka"])
    report["total_seconds"] = time.perf_counter() - t_start

    if opts.profile:
        prof = {}
        for f in sorted(Path(opts.profile).glob("*.txt")):
            prof[f.stem] = summarise_profile(f)
        report["profile"] = prof
        for stem, summary in prof.items():
            print(f"\nprofile {stem}: {summary['samples']} samples, {_f(summary['idle_pct'], '{:.0f}')}% in epoll; "
                  "top self time as % of the rest (self %, inclusive %)")
            for row in summary["top_self"]:
                print(f"  {row['self_pct']:5.1f}  {row['inclusive_pct']:5.1f}  {row['function']}")

    print()
    if opts.against:
        kb = report["kafka"]["broker"]
        print(render(report, "Odradek"))
        print(render(report["kafka"], f"Apache Kafka {kb['version']} (KRaft, one node; -Xms{kb['heap']} -Xmx{kb['heap']}, G1)"))
        print(render_ratios(report["ratios"]))
        print(render({"errors": report["errors"]}))  # the noise note and any errors
    else:
        print(render(report))
    print(f"\n(total {report['total_seconds']:.0f} s)")
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if report["errors"] else 0


def _quiet_key(r: dict) -> float:
    v = r.get("other_cores")
    if v is None:  # a whole cell of several windows: its phases' other load
        v = sum((r.get(ph) or {}).get("other_cores") or 0 for ph in PHASES)
    return v


def _brief(r: dict) -> dict:
    keys = ("records_per_s", "mb_per_s", "requests_per_s", "txns_per_s", "broker_cores", "broker_cpu_ms_per_mb",
            "other_cores", "p50_ms", "p99_ms")
    out = {k: r[k] for k in keys if k in r}
    for ph in PHASES:
        if r.get(ph):
            out[ph] = {k: r[ph][k] for k in keys if k in r[ph]}
    return out


def _git_rev() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except OSError:
        return None


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    if len(sys.argv) >= 2 and sys.argv[1] == "metrics-cost":  # metrics off and on, interleaved
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import metrics_cost

        sys.exit(metrics_cost.main(sys.argv[2:]))
    sys.exit(main())
