"""Apache Kafka's Java side, from Maven Central: classpaths, Java programs, Kafka's tools and broker.

- :func:`libs` resolves one of the Maven profiles in ``tests/jvm/<profile>/pom.xml`` into a folder of
  jars (``kafka-4``: the newest 4.x client, tools, Streams, Connect and broker; ``kafka-3``: the newest
  3.x client and tools and a ZooKeeper-mode broker; ``connect-file``: the FileStream connectors). The
  jars land in a cache folder (``$ODRADEK_CACHE``, default ``~/.cache/odradek``) keyed by the pom's
  hash, so only the first run downloads anything; Maven's own ``~/.m2`` caches the artifacts.
- :func:`compile_java` compiles the small Java programs of the test tree (cached by their hash).
- :func:`tool` runs one of Kafka's command-line tools by its main class, the way ``bin/*.sh`` does.
- :class:`KafkaBroker` starts a real Apache Kafka broker (KRaft, one node) on free loopback ports,
  the reference Odradek is measured and compared against.
- :class:`KafkaZkCluster` starts several Apache Kafka 3.9 brokers in ZooKeeper mode (profile
  ``kafka-3``) on a ZooKeeper the caller runs: the reference for Odradek's ZooKeeper cluster.

Every JVM gets an explicit heap (``-Xmx``): CI runs on 2 cores and several JVMs may run at once.
``python tests/kafka_jvm.py prefetch`` resolves every profile (scripts/test runs it before pytest).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from helpers import free_port, kill_process, port_open, stop_process, track

HERE = Path(__file__).resolve().parent
JVM_DIR = HERE / "jvm"
PROFILES = ("kafka-4", "kafka-3", "connect-file")
KAFKA_VERSION = {"kafka-4": "4.4.0", "kafka-3": "3.9.2"}
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
# Short-lived admin tools: less JIT work on a 2-core machine (never used for perf tools).
QUICK_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"]


def cache_dir() -> Path:
    d = Path(os.environ.get("ODRADEK_CACHE") or Path.home() / ".cache" / "odradek")
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def _locked(name: str):
    """One process at a time builds a given cache entry (pytest workers, bench and tests alike)."""
    path = cache_dir() / f".{name}.lock"
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _need(cmd: str) -> str:
    path = shutil.which(cmd)
    if path is None:
        raise RuntimeError(f"{cmd} is not installed: scripts/test installs it (it is needed for the Java tests)")
    return path


def libs(profile: str = "kafka-4") -> Path:
    """The folder of jars of a Maven profile, resolved once and cached."""
    pom = JVM_DIR / profile / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    target = cache_dir() / "jvm" / f"{profile}-{digest}"
    if (target / ".complete").exists():
        return target
    with _locked(f"jvm-{profile}"):
        if (target / ".complete").exists():
            return target
        mvn = _need("mvn")
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            raise RuntimeError(f"resolving {pom} with Maven failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        (tmp / ".complete").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def classpath(profile: str = "kafka-4", extra: list[Path | str] | None = None) -> str:
    """A -cp string: the profile's jars (the JVM expands ``dir/*``) plus ``extra`` entries."""
    parts = [str(p) for p in (extra or [])] + [str(libs(profile) / "*")]
    return os.pathsep.join(parts)


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return _need("java")


def javac() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").exists():
        return str(Path(home) / "bin" / "javac")
    return _need("javac")


def logging_args(profile: str) -> list[str]:
    if profile == "kafka-3":
        return [f"-Dlog4j.configuration=file:{JVM_DIR / 'log4j.properties'}"]
    return [f"-Dlog4j2.configurationFile={JVM_DIR / 'log4j2.properties'}"]


def compile_java(sources: list[Path], profile: str = "kafka-4") -> Path:
    """Compile Java source files against a profile; returns the classes folder (cached by hash)."""
    h = hashlib.sha256()
    h.update((JVM_DIR / profile / "pom.xml").read_bytes())
    for src in sorted(sources):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    target = cache_dir() / "classes" / f"{profile}-{h.hexdigest()[:16]}"
    if (target / ".complete").exists():
        return target
    cp = classpath(profile)
    with _locked(f"javac-{target.name}"):
        if (target / ".complete").exists():
            return target
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cmd = [javac(), "-J-Xmx512m", "-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", str(tmp), *map(str, sources)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"javac failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        (tmp / ".complete").write_text("ok\n")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def java_command(main: str, args: list[str], *, profile: str = "kafka-4", heap: str = "256m",
                 quick: bool = True, extra_cp: list[Path | str] | None = None,
                 jvm_args: list[str] | None = None) -> list[str]:
    """The command line that runs ``main`` with the profile's classpath (as kafka-run-class.sh)."""
    return [
        java(), f"-Xmx{heap}", *(QUICK_JVM if quick else []), "-Djava.awt.headless=true",
        *logging_args(profile), *(jvm_args or []),
        "-cp", classpath(profile, extra_cp), main, *args,
    ]


def tool(main: str, *args: str, profile: str = "kafka-4", timeout: float = 120, input: str | None = None,
         check: bool = False, heap: str = "256m", quick: bool = True, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    """Run one of Kafka's command-line tools by its main class and wait for it."""
    cmd = java_command(main, list(args), profile=profile, heap=heap, quick=quick)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{main} {' '.join(args)} exited with {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


class KafkaBroker:
    """A real Apache Kafka 4.x broker (KRaft, broker and controller in one process, one node).

    Configured like Odradek's test brokers: loopback only, internal topics with replication factor 1,
    ``group.initial.rebalance.delay.ms=0``. Its heap is capped (``heap``), started by PID and stopped
    by PID.
    """

    def __init__(self, data_dir: Path, overrides: dict[str, str] | None = None, heap: str = "768m",
                 port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.overrides = dict(overrides or {})
        self.heap = heap
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"kafka-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.overrides)
        return props

    CLUSTER_ID = "b2RyYWRlay1yZWZlcmVuY2U"  # any 22-character base64 UUID

    def write_config(self) -> Path:
        conf = self.data_dir.parent / f"kafka-{self.port}.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        return conf

    def format_storage(self) -> None:
        """Kafka's ``kafka-storage format`` on the data dir (a JVM of its own), unless already formatted."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "meta.properties").exists():
            tool("kafka.tools.StorageTool", "format", "-t", self.CLUSTER_ID, "-c", str(self.write_config()),
                 "--ignore-formatted", check=True)

    def command(self) -> list[str]:
        """The broker's command line: the heap and G1 settings of Kafka's start scripts, heap size ``heap``."""
        log4j = self.data_dir.parent / "kafka-log4j2.properties"
        log4j.write_text((JVM_DIR / "log4j2.properties").read_text().replace("rootLogger.level=WARN", "rootLogger.level=INFO"))
        return [
            java(), f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath("kafka-4"), "kafka.Kafka", str(self.write_config()),
        ]

    def spawn(self, cmd: list[str] | None = None) -> subprocess.Popen:
        """Start the JVM (``cmd``: :meth:`command`) on a formatted data dir and return at once (see
        :meth:`wait_started`)."""
        cmd = cmd or self.command()
        self._log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        return self.proc

    def wait_started(self, timeout: float = 90.0) -> "KafkaBroker":
        """Poll until the port accepts and the log says the server started; fail if the JVM exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Apache Kafka exited with {self.proc.returncode}:\n{self.log_text()}")
            if port_open(self.port) and "started" in self.log_text(20000).lower():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"Apache Kafka did not start within {timeout} s:\n{self.log_text()}")

    def start(self, timeout: float = 90.0) -> "KafkaBroker":
        self.format_storage()
        self.spawn()
        return self.wait_started(timeout)

    def log_text(self, n: int = 5000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout)
            self._log.close()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
            self._log.close()
        self.proc = None



class KafkaZkBroker(KafkaBroker):
    """A real Apache Kafka 3.9 broker in ZooKeeper mode (``kafka.Kafka`` with ``zookeeper.connect``),
    one of a cluster: its own id, data dir and free loopback port, heap capped (``heap``), started
    and stopped by PID. ``overrides`` are Kafka settings on top of the defaults below."""

    def __init__(self, data_dir: Path, zk_connect: str, broker_id: int, overrides: dict[str, str] | None = None,
                 heap: str = "512m", port: int | None = None) -> None:
        super().__init__(data_dir, overrides, heap, port)
        self.zk_connect = zk_connect
        self.broker_id = broker_id
        self.log_path = self.data_dir.parent / f"kafka39-{broker_id}-{self.port}.log"
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def properties(self) -> dict[str, str]:
        props = {
            "broker.id": str(self.broker_id),
            "zookeeper.connect": self.zk_connect,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.overrides)
        return props

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        conf = self.data_dir.parent / f"kafka39-{self.broker_id}.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        log4j = self.data_dir.parent / "kafka39-log4j.properties"
        log4j.write_text((JVM_DIR / "log4j.properties").read_text()
                         + "log4j.logger.kafka.server.KafkaServer=INFO\nlog4j.logger.kafka.controller=INFO\n")
        return [
            java(), f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath("kafka-3"), "kafka.Kafka", str(conf),
        ]

    def start(self, timeout: float = 120.0) -> "KafkaZkBroker":
        """Start and wait until this run of the process logs that it started (registered in
        ZooKeeper, serving)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Apache Kafka 3.9 exited with {self.proc.returncode}:\n{self.log_text()}")
            if self.started():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"Apache Kafka 3.9 did not start within {timeout} s:\n{self.log_text()}")

    def started(self) -> bool:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                return b"started (kafka.server.KafkaServer)" in f.read()
        except OSError:
            return False

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a controlled shutdown) and wait; returns the exit code."""
        proc = self.proc
        super().stop(timeout)
        return proc.returncode if proc is not None else None


class KafkaZkCluster:
    """``size`` Apache Kafka 3.9 brokers in ZooKeeper mode on a ZooKeeper the caller runs
    (``zk_connect``, e.g. tests/zk_cluster.py's Debian ZooKeeper), under their own chroot."""

    def __init__(self, root: Path, zk_connect: str, size: int = 3, overrides: dict[str, str] | None = None,
                 heap: str = "512m", chroot: str = "/kafka39") -> None:
        self.brokers = [KafkaZkBroker(Path(root) / f"kafka39-broker-{i}", zk_connect + chroot, i, overrides, heap)
                        for i in range(size)]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers if b.alive())

    def start(self, timeout: float = 180.0) -> "KafkaZkCluster":
        procs = []
        try:
            for b in self.brokers:
                procs.append(b)
                b.start(timeout)
        except Exception:
            for b in procs:
                b.kill()
            raise
        return self

    def stop(self) -> None:
        for b in self.brokers:
            b.kill()


def prefetch() -> None:
    for profile in PROFILES:
        t0 = time.monotonic()
        path = libs(profile)
        print(f"{profile}: {len(list(path.glob('*.jar')))} jars in {path} ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    if sys.argv[1:] == ["prefetch"]:
        prefetch()
    else:
        sys.exit("usage: kafka_jvm.py prefetch")
