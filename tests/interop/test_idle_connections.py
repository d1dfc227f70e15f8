"""Many idle connections: with 1,000 plaintext and 200 TLS connections open and idle (each asked
ApiVersions, as clients do on connect), the broker keeps serving new clients, answers every idle
connection when they all speak at once, and stays up when they all go. What an idle connection
costs in memory is measured by ``bench/run.py --only connections``, never asserted here."""

from __future__ import annotations

import resource
import socket
import ssl
import struct
import time

import pytest

from helpers import BrokerProcess, free_port, wait_for
from odradek.protocol import messages
from tls_certs import CA
from wire import WireClient

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

IDLE = 1000
TLS_IDLE = 200
API_VERSIONS = {"client_software_name": "idle-test", "client_software_version": "1"}


def _raise_fd_limit(need: int) -> None:
    """This process and the broker (which inherits the limit) each hold one end of every connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.fail(f"the open-file limit ({hard}) is below the {need} descriptors this test needs")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


@pytest.fixture(scope="module")
def idle_broker(tmp_path_factory):
    _raise_fd_limit(IDLE + TLS_IDLE + 1000)
    root = tmp_path_factory.mktemp("idle")
    ca = CA(root / "certs")
    cert = ca.issue("broker", {"CN": "127.0.0.1"}, server=True)
    port, tls_port = free_port(), free_port()
    b = BrokerProcess(root / "data", port=port, overrides={
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{tls_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.name.ssl.ssl.keystore.type": "PKCS12",
        "listener.name.ssl.ssl.keystore.location": str(cert.p12),
        "listener.name.ssl.ssl.keystore.password": "changeit",
    }).start()
    tls = ssl.create_default_context(cafile=str(ca.pem))
    yield b, tls_port, tls
    b.stop()


def _connect(port: int, tls: ssl.SSLContext | None = None) -> WireClient:
    c = WireClient(port, timeout=30)
    if tls is not None:
        c.sock = tls.wrap_socket(c.sock, server_hostname="127.0.0.1")
    resp = c.request(18, 3, API_VERSIONS)
    assert resp.error_code == 0
    return c


def _metadata_frame(c: WireClient, topics: list[str] | None) -> bytes:
    body = messages.encode_request(3, 4, {"topics": None if topics is None else [{"name": t} for t in topics],
                                          "allow_auto_topic_creation": False})
    return c.header(3, 4, False) + body


def _metadata_answer(c: WireClient):
    frame = c.recv_frame()
    assert struct.unpack_from(">i", frame)[0] == c.correlation
    return messages.decode_response(3, 4, frame, 4)


def _round_trip(bootstrap: str, topic: str, n: int = 100) -> list[bytes]:
    """A new producer and a new consumer, through the plaintext listener: what they read back."""
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until the answer is in
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, f"v{i}".encode(), partition=0)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-g", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(n, 1.0):
                assert m.error() is None, m.error()
                got.append(m.value())
    finally:
        c.close()
    return got


def test_broker_keeps_serving_with_many_idle_connections(idle_broker):
    b, tls_port, tls = idle_broker
    conns = [_connect(b.port) for _ in range(IDLE)] + [_connect(tls_port, tls) for _ in range(TLS_IDLE)]
    try:
        # new clients are served while all of them sit idle
        assert _round_trip(b.bootstrap, "idle-busy") == [f"v{i}".encode() for i in range(100)]
        # every idle connection is still open and answered when they all ask at once
        for c in conns:
            c.send_frame(_metadata_frame(c, None))
        for i, c in enumerate(conns):
            resp = _metadata_answer(c)
            assert [br.port for br in resp.brokers] == [b.port if i < IDLE else tls_port]  # its listener's
            assert "idle-busy" in {t.name for t in resp.topics}
        # half of them vanish without a goodbye (RST), the rest close normally
        for i, c in enumerate(conns):
            if i % 2:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        conns = []
        assert _round_trip(b.bootstrap, "idle-after") == [f"v{i}".encode() for i in range(100)]
        assert b.proc.poll() is None
        log = b.log_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    finally:
        for c in conns:
            c.close()


def test_idle_tls_connection_takes_large_requests_then_small_ones(idle_broker):
    """A TLS connection's receive buffer starts small and grows for a burst (TlsProtocol): after idling,
    a request of a few hundred KB arrives whole, then many small ones, then a large one again."""
    b, tls_port, tls = idle_broker
    c = _connect(tls_port, tls)
    names = [f"no-such-topic-{i:06d}-" + "x" * 40 for i in range(5000)]  # a request of about 300 KB
    try:
        wait_for(lambda: b.proc.poll() is None, 1, what="broker up")
        for _ in range(2):
            c.send_frame(_metadata_frame(c, names))
            resp = _metadata_answer(c)
            assert [t.name for t in resp.topics] == names
            assert {t.error_code for t in resp.topics} == {3}  # UNKNOWN_TOPIC_OR_PARTITION
            for _ in range(100):  # more small reads than it takes the buffer to shrink back
                assert c.request(18, 3, API_VERSIONS).error_code == 0
    finally:
        c.close()
