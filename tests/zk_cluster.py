"""A real ZooKeeper (Debian's zookeeper package) and clusters of broker processes, for tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from helpers import BrokerProcess, free_port, port_open, stop_process, track, wait_for
from wire import WireClient, ask

ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"


class ZooKeeper:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def connect(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "ZooKeeper":
        java = shutil.which("java")
        if java is None or not Path("/usr/share/java/zookeeper.jar").exists():
            raise RuntimeError("ZooKeeper needs Debian's 'zookeeper' package and a Java runtime (scripts/test installs them)")
        data = self.root / "zk-data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "zoo.cfg"
        cfg.write_text(
            f"tickTime=500\ndataDir={data}\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
        )
        self.log = open(self.root / "zookeeper.log", "ab")
        self.proc = track(subprocess.Popen(
            [java, "-Xmx256m", "-cp", ZK_CLASSPATH, f"-Dzookeeper.log.dir={self.root}",
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
            stdout=self.log, stderr=subprocess.STDOUT,
        ))
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port), 30, what="ZooKeeper")
        assert self.proc.poll() is None, "ZooKeeper exited"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)
        self.proc = None


class Cluster:
    def __init__(self, root: Path, zk: ZooKeeper, size: int, overrides: dict[str, str] | None = None) -> None:
        self.zk = zk
        base = {
            "zookeeper.connect": zk.connect,
            "zookeeper.session.timeout.ms": "4000",
            "replica.lag.time.max.ms": "3000",
            "leader.imbalance.check.interval.seconds": "2",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.num.partitions": "6",
            "controlled.shutdown.timeout.ms": "5000",
        }
        base.update(overrides or {})
        self.brokers = [BrokerProcess(root / f"broker-{i}", overrides=base, broker_id=i) for i in range(size)]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers if b.alive())

    def start(self) -> "Cluster":
        for b in self.brokers:
            b.start()
        self.wait_all_registered()
        return self

    def wait_all_registered(self, timeout: float = 30) -> None:
        """Every live broker's metadata lists every live broker."""
        live = {b.broker_id for b in self.brokers if b.alive()}

        def seen_by_all() -> bool:
            for b in self.brokers:
                if not b.alive():
                    continue
                c = WireClient(b.port, timeout=5)
                try:
                    resp = c.request(3, 1, {"topics": []})
                finally:
                    c.close()
                if {x.node_id for x in resp.brokers} != live:
                    return False
            return True

        wait_for(seen_by_all, timeout, what="all brokers registered")

    def transaction_coordinator(self, transactional_id: str) -> int | None:
        """The broker FindCoordinator (key type 1: transaction) names for ``transactional_id``,
        asked of the first live broker; None when it answers an error (or none is alive)."""
        for b in self.brokers:
            if b.alive():
                r = ask(b.port, 10, 3, {"key": transactional_id, "key_type": 1})
                return r.node_id if r.error_code == 0 else None
        return None

    def stop(self) -> None:
        for b in self.brokers:
            b.kill()
