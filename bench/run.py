#!/usr/bin/env python3
"""Odradek benchmark: drives a broker it starts itself with librdkafka (confluent-kafka).

    python3 bench/run.py                    # full run, a few minutes
    python3 bench/run.py --quick            # about a minute
    python3 bench/run.py --json out.json    # also write every figure as JSON
    python3 bench/run.py --profile prof/    # also sample the broker with py-spy (slower; separate figures)

Each throughput cell (record size x partitions x acks) gets a fresh broker process on a free
127.0.0.1 port with an empty temporary data directory; the broker is stopped by its PID at the end
of the cell. Load runs in worker processes (this same file, ``worker`` sub-command) so that the
orchestrator never competes for the GIL with a client, and so that broker CPU can be sampled
exactly at the start and end of each measured window. See bench/README.md for what each figure
means. Nothing here is part of the pytest suite.
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
        "enable.idempotence": False,
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
        "message.timeout.ms": 60_000,
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
    }
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
    p = Producer({"bootstrap.servers": a["bootstrap"], "enable.idempotence": False, "on_delivery": on_delivery})
    p.list_topics(a["topic"], timeout=10)
    pad = os.urandom(max(0, a["size"] - 8))
    _emit("ready")
    _wait_go()
    rate, total = a["rate"], a["count"]
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
    return {"records": total, "failed": errs[0], "seconds": t1 - t0}


def worker_lat_consume(a: dict) -> dict:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({
        "bootstrap.servers": a["bootstrap"],
        "group.id": a["group"],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # fetch.wait.max.ms, fetch.min.bytes and the queue settings stay at librdkafka's defaults.
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


class Broker:
    """An ``odradek serve`` subprocess on a free port with its own temporary data dir."""

    base: str | None = None  # where temporary data dirs go (--data-base); None: the system temp dir
    env: dict[str, str] = {}  # extra environment for the broker (--broker-env)
    overrides: list[str] = []  # extra --override KEY=VALUE for the broker (--broker-override)

    def __init__(self, keep_logs: Path | None = None, name: str = "broker", extra: list[str] | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="odradek-bench-", dir=Broker.base))
        self.data = self.tmp / "data"
        self.port = free_port()
        self.keep_logs = keep_logs
        self.name = name
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.logfile = self.tmp / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spawn(self) -> float:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmd = [
            sys.executable, "-m", "odradek", "serve",
            "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--override", f"log.dirs={self.data}",
            *[x for kv in Broker.overrides for x in ("--override", kv)],
            *self.extra,
        ]
        env.update(Broker.env)
        self._log = open(self.logfile, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return t0

    def wait_accepting(self, timeout: float = 30.0) -> float:
        """Poll a TCP connect every 2 ms; return perf_counter() of the first accepted connection."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.perf_counter()
            except OSError:
                time.sleep(0.002)
        raise RuntimeError(f"broker not accepting after {timeout}s:\n{self.log_tail()}")

    def wait_ready_line(self, timeout: float = 30.0) -> float:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if b" ready on " in self.logfile.read_bytes():
                return time.perf_counter()
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.002)
        raise RuntimeError(f"no ready line after {timeout}s:\n{self.log_tail()}")

    def start(self) -> "Broker":
        self.spawn()
        try:
            self.wait_accepting()
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
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.logfile, self.keep_logs / f"{self.name}.log")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Sampler:
    """Broker CPU (user+sys from /proc/<pid>/stat) and peak RSS (VmHWM) over a window."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def begin(self) -> None:
        self.hwm_reset = reset_peak_rss(self.pid)
        self.cpu0 = proc_cpu_s(self.pid)
        self.flt0 = proc_minflt(self.pid)
        self.sys0 = system_cpu()[0]
        self.t0 = time.perf_counter()

    def end(self) -> dict:
        cpu = proc_cpu_s(self.pid) - self.cpu0
        busy = system_cpu()[0] - self.sys0
        wall = time.perf_counter() - self.t0
        return {
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


def run_workers(kind: str, args_list: list[dict], broker: Broker, timeout: float, profile: Path | None = None,
                probe_loop: bool = True) -> tuple[list[dict], dict]:
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
        sampler = Sampler(broker.proc.pid)
        probe = Probe(broker.port) if probe_loop else None
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


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic]
    fut.result(timeout=15)
    md = admin.list_topics(topic, timeout=10)
    got = len(md.topics[topic].partitions)
    if got != partitions:
        raise RuntimeError(f"topic {topic} has {got} partitions, wanted {partitions}")


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets", "enable.auto.commit": False})
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


# --- the cells -----------------------------------------------------------------------------------


def run_throughput_cell(size: int, parts: int, acks: str, opts) -> dict:
    name = f"tp-{size}B-{parts}p-acks{acks}"
    topic = f"bench-{size}-{parts}-{acks}"
    cell: dict = {"cell": name, "record_bytes": size, "partitions": parts, "acks": acks}
    prof_dir = Path(opts.profile) if opts.profile else None
    with Broker(opts.keep_logs, name) as b:
        create_topic(b.bootstrap, topic, parts)
        pargs = [{
            "bootstrap": b.bootstrap, "topic": topic, "partitions": parts, "size": size,
            "acks": acks, "duration": opts.duration, "count": opts.max_records,
        } for _ in range(_procs(opts.producers, size, parts, producer=True))]
        res, win = run_workers("produce", pargs, b, timeout=opts.duration + 180,
                               profile=prof_dir / f"{name}-produce.txt" if prof_dir else None)
        recs = sum(r.get("records", 0) for r in res)
        secs = max(r.get("seconds", 0) for r in res) or float("nan")
        cell["produce"] = {
            "records": recs, "seconds": secs, "records_per_s": recs / secs, "mb_per_s": recs * size / secs / MB,
            "client_cores": sum(r.get("client_cpu_s", 0) for r in res) / secs, "processes": len(res),
            "failed": sum(r.get("failed", 0) for r in res), "undelivered": sum(r.get("undelivered", 0) for r in res),
            "error_samples": [e for r in res for e in r.get("error_samples", [])][:5],
            **win,
        }
        _other(cell["produce"])
        if "error" in res[0]:
            cell["produce"]["error"] = res[0]["error"]
        ends = end_offsets(b.bootstrap, topic, parts)
        produced_total = recs + sum(r.get("warmup", 0) for r in res)
        cell["end_offsets"] = ends
        cell["end_offsets_match"] = sum(ends.values()) == produced_total
        if opts.no_consume:
            return cell
        ncons = _procs(opts.consumers, size, parts)
        groups = [{p: ends[p] for p in range(k, parts, ncons)} for k in range(ncons)]
        cons = None
        for mode in ("assign", "assign-retry"):
            cargs = [{
                "bootstrap": b.bootstrap, "topic": topic, "size": size, "group": f"bench-{name}-{k}",
                "ends": g, "idle_timeout": 10.0, "max_seconds": max(60.0, opts.duration * 8), "mode": mode,
            } for k, g in enumerate(groups)]
            cres, cwin = run_workers("consume", cargs, b, timeout=cargs[0]["max_seconds"] + 60,
                                     profile=prof_dir / f"{name}-consume.txt" if prof_dir else None)
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
                **cwin,
            }
            _other(cons)
            if got > 0:
                break
        cell["consume"] = cons
        cell["broker_errors"] = b.log_lines("ERROR", "Traceback", "internal error")[:10]
    return cell


def run_requests_cell(inflight: int, opts) -> dict:
    name = f"reqs-inflight{inflight}"
    prof_dir = Path(opts.profile) if opts.profile else None
    with Broker(opts.keep_logs, name) as b:
        create_topic(b.bootstrap, "bench-reqs", 1)
        res, win = run_workers("requests", [{
            "bootstrap": b.bootstrap, "topic": "bench-reqs", "size": 100, "inflight": inflight,
            "duration": opts.req_duration,
        }], b, timeout=opts.req_duration + 120,
            profile=prof_dir / f"{name}.txt" if prof_dir else None, probe_loop=False)
        r = res[0]
        out = {
            "cell": name, "max_in_flight": inflight, "records": r["records"], "seconds": r["seconds"],
            "records_per_s": r["records"] / r["seconds"],
            "produce_requests": r["produce_requests"],
            "requests_per_s": (r["produce_requests"] or r["records"]) / r["seconds"],
            "records_per_request": (r["records"] / r["produce_requests"]) if r["produce_requests"] else None,
            "failed": r["failed"], "client_cores": r["client_cpu_s"] / r["seconds"], **win,
        }
        _other(out)
        out["broker_errors"] = b.log_lines("ERROR", "Traceback", "internal error")[:10]
        return out


def run_latency_cell(opts) -> dict:
    prof_dir = Path(opts.profile) if opts.profile else None
    with Broker(opts.keep_logs, "latency") as b:
        create_topic(b.bootstrap, "bench-lat", 1)
        count = int(opts.lat_rate * opts.lat_seconds)
        cproc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "worker", "lat-consume", json.dumps({
                "bootstrap": b.bootstrap, "topic": "bench-lat", "group": "bench-lat", "count": count,
                "max_seconds": opts.lat_seconds + 30,
            })],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        try:
            deadline = time.perf_counter() + opts.lat_seconds + 90
            _expect(cproc, "ready", deadline)
            pres, win = run_workers("lat-produce", [{
                "bootstrap": b.bootstrap, "topic": "bench-lat", "size": 100, "rate": opts.lat_rate, "count": count,
            }], b, timeout=opts.lat_seconds + 60, profile=prof_dir / "latency.txt" if prof_dir else None)
            line = _expect(cproc, "result ", deadline)
            c = json.loads(line[len("result "):])
            cproc.wait(10)
        finally:
            if cproc.poll() is None:
                cproc.kill()
                cproc.wait()
        return {
            "cell": "latency", "rate_per_s": opts.lat_rate, "seconds": opts.lat_seconds, "record_bytes": 100,
            "produced": pres[0]["records"], "consumed": c["records"],
            "p50_ms": c["p50_ms"], "p90_ms": c["p90_ms"], "p99_ms": c["p99_ms"], "max_ms": c["max_ms"],
            "mean_ms": c["mean_ms"], **win,
            "broker_errors": b.log_lines("ERROR", "Traceback", "internal error")[:10],
        }


def run_startup(opts) -> dict:
    accept, ready = [], []
    for i in range(opts.startup_runs):
        b = Broker(opts.keep_logs, f"startup-{i}")
        try:
            t0 = b.spawn()
            accept.append(b.wait_accepting() - t0)
            ready.append(b.wait_ready_line() - t0)
        finally:
            b.stop()
    return {
        "runs": len(accept), "accept_median_s": statistics.median(accept), "accept_all_s": accept,
        "ready_line_median_s": statistics.median(ready),
    }


# --- reporting -----------------------------------------------------------------------------------


def _f(v, fmt="{:,.0f}") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return fmt.format(v)


NOISY = 0.3  # other processes using more cores than this during a window: marked with *


def _noisy(d: dict) -> str:
    v = d.get("other_cores")
    return " *" if v is not None and v > NOISY else ""


def render(report: dict) -> str:
    out = []
    cells = report.get("throughput", [])
    if cells:
        out.append("Throughput (MB = 10^6 payload bytes; cores = CPU seconds per wall second)")
        out.append("| record | parts | acks | procs p/c | produce rec/s | produce MB/s | broker cores | broker peak RSS MB | client cores "
                   "| consume rec/s | consume MB/s | broker cores | broker peak RSS MB | other cores p/c | loop stall max ms p/c |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in cells:
            p, q = c.get("produce") or {}, c.get("consume") or {}
            out.append(
                f"| {c['record_bytes']} B | {c['partitions']} | {c['acks']} | {p.get('processes', '-')}/{q.get('processes', '-')} "
                f"| {_f(p.get('records_per_s'))}{_noisy(p)} | {_f(p.get('mb_per_s'), '{:,.1f}')} "
                f"| {_f(p.get('broker_cores'), '{:.2f}')} | {_f(p.get('broker_peak_rss_mb'), '{:.0f}')} "
                f"| {_f(p.get('client_cores'), '{:.2f}')} "
                f"| {_f(q.get('records_per_s'))}{_noisy(q)}{'' if q.get('complete', True) else ' (incomplete)'} "
                f"| {_f(q.get('mb_per_s'), '{:,.1f}')} "
                f"| {_f(q.get('broker_cores'), '{:.2f}')} | {_f(q.get('broker_peak_rss_mb'), '{:.0f}')} "
                f"| {_f(p.get('other_cores'), '{:.2f}')}/{_f(q.get('other_cores'), '{:.2f}')} "
                f"| {_f(p.get('probe_max_ms'))}/{_f(q.get('probe_max_ms'))} |"
            )
        out.append("")
    reqs = report.get("requests", [])
    if reqs:
        out.append("Produce requests, one 100 B record per request (linger.ms=0, batch.num.messages=1, acks=1)")
        out.append("| max.in.flight | requests/s | records/request | broker cores | client cores | other cores |")
        out.append("|---|---|---|---|---|---|")
        for r in reqs:
            out.append(f"| {r['max_in_flight']} | {_f(r['requests_per_s'])}{_noisy(r)} | {_f(r['records_per_request'], '{:.2f}')} "
                       f"| {_f(r['broker_cores'], '{:.2f}')} | {_f(r['client_cores'], '{:.2f}')} | {_f(r.get('other_cores'), '{:.2f}')} |")
        out.append("")
    lat = report.get("latency")
    if lat:
        out.append(f"End-to-end latency, {lat['rate_per_s']} records/s of 100 B for {lat['seconds']} s, "
                   "default fetch.wait.max.ms (500) and linger.ms (5)")
        out.append("| p50 ms | p90 ms | p99 ms | max ms | consumed/produced | broker cores |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| {_f(lat['p50_ms'], '{:.1f}')} | {_f(lat['p90_ms'], '{:.1f}')} | {_f(lat['p99_ms'], '{:.1f}')} "
                   f"| {_f(lat['max_ms'], '{:.1f}')} | {lat['consumed']}/{lat['produced']} | {_f(lat['broker_cores'], '{:.2f}')} |")
        out.append("")
    st = report.get("startup")
    if st:
        out.append(f"Start-up (spawn to first accepted TCP connection, empty data dir): median "
                   f"{st['accept_median_s'] * 1000:.0f} ms of {st['runs']} "
                   f"(ready line: {st['ready_line_median_s'] * 1000:.0f} ms)")
        out.append("")
    out.append(f"* = other processes used over {NOISY} cores during that window (this machine has "
               f"{os.cpu_count()}); 'other cores' includes kernel writeback of the data the broker wrote.")
    for e in report.get("errors", []):
        out.append(f"ERROR in {e['cell']}: {e['error']}")
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
    ap.add_argument("--only", default="throughput,requests,latency,startup",
                    help="comma list of: throughput, requests, latency, startup")
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
    opts = ap.parse_args(argv)
    opts.duration = opts.duration or (2.0 if opts.quick else 5.0)
    opts.req_duration = opts.req_duration or (2.0 if opts.quick else 5.0)
    opts.lat_seconds = opts.lat_seconds or (3.0 if opts.quick else 5.0)
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
                    "confluent_kafka": confluent_kafka.version()[0], "librdkafka": confluent_kafka.libversion()[0]},
        "git": _git_rev(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
        "throughput": [], "requests": [], "errors": [],
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

    if "startup" in only:
        report["startup"] = attempt("startup", run_startup, opts)
    def repeated(label, fn, *a):
        """Run a cell opts.repeat times; keep, per phase, the attempt on the quietest machine."""
        runs = [r for i in range(opts.repeat)
                if (r := attempt(label + (f" (attempt {i + 1}/{opts.repeat})" if opts.repeat > 1 else ""), fn, *a))]
        if len(runs) <= 1:
            return runs[0] if runs else None
        best = dict(min(runs, key=lambda r: _quiet_key(r)))
        for phase in ("produce", "consume"):
            cands = [r[phase] for r in runs if r.get(phase)]
            if cands:
                best[phase] = min(cands, key=_quiet_key)
        best["attempts"] = [_brief(r) for r in runs]
        return best

    if "throughput" in only:
        for size in map(int, opts.sizes.split(",")):
            for parts in map(int, opts.partitions.split(",")):
                for acks in opts.acks.split(","):
                    c = repeated(f"throughput {size}B {parts}p acks={acks}", run_throughput_cell, size, parts, acks, opts)
                    if c:
                        report["throughput"].append(c)
    if "requests" in only:
        for inflight in (1, 5):
            r = repeated(f"requests in-flight {inflight}", run_requests_cell, inflight, opts)
            if r:
                report["requests"].append(r)
    if "latency" in only:
        report["latency"] = repeated("latency", run_latency_cell, opts)
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
    print(render(report))
    print(f"\n(total {report['total_seconds']:.0f} s)")
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if report["errors"] else 0


def _quiet_key(r: dict) -> float:
    v = r.get("other_cores")
    if v is None:  # a whole throughput cell: its phases' other load
        v = sum((r.get(ph) or {}).get("other_cores") or 0 for ph in ("produce", "consume"))
    return v


def _brief(r: dict) -> dict:
    keys = ("records_per_s", "mb_per_s", "requests_per_s", "broker_cores", "other_cores", "p50_ms", "p99_ms")
    out = {k: r[k] for k in keys if k in r}
    for ph in ("produce", "consume"):
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
