"""Fixtures of the console tests: a broker reached through a proxy (so a test can make the cluster
hang or go away without killing it), and consoles started as subprocesses."""

from __future__ import annotations

import pytest

from console_support import ConsoleProcess, TcpProxy
from helpers import BrokerProcess, free_port


class ProxiedBroker:
    """A broker that advertises the proxy's address: every client connection goes through it."""

    def __init__(self, broker: BrokerProcess, proxy: TcpProxy) -> None:
        self.broker = broker
        self.proxy = proxy

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"


@pytest.fixture(scope="module")
def proxied_broker(tmp_path_factory):
    proxy_port = free_port()
    broker = BrokerProcess(
        tmp_path_factory.mktemp("console-broker") / "data",
        overrides={"advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}", "offsets.topic.num.partitions": "3"},
    ).start()
    proxy = TcpProxy(broker.port, port=proxy_port)
    yield ProxiedBroker(broker, proxy)
    proxy.close()
    broker.kill()


@pytest.fixture(scope="module")
def consoles(tmp_path_factory):
    """Start consoles with ``consoles(bootstrap, *args)``; all are stopped (by PID) afterwards."""
    workdir = tmp_path_factory.mktemp("consoles")
    started: list[ConsoleProcess] = []

    def start(bootstrap: str, *args: str, **kw) -> ConsoleProcess:
        c = ConsoleProcess(bootstrap, workdir, *args, **kw).start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()
