"""Fetch over TLS (confluent-kafka, SSL with a server certificate): the kernel cannot send the log's
bytes into an encrypted socket, so they pass through Python. Several consumers reading the same
partition at the same time (all from one segment file) must each get every record intact, in order."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from helpers import BrokerProcess, free_port
from tls_certs import CA

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

RECORDS = 20_000  # 1 KiB each: about 20 MB in one segment, many fetch responses per consumer
READERS = 3


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls-fetch")
    ca = CA(root / "certs")
    cert = ca.issue("broker", {"CN": "127.0.0.1"}, server=True)
    port, internal = free_port(), free_port()
    b = BrokerProcess(root / "data", port=port, overrides={
        "listeners": f"SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}",
        "listener.security.protocol.map": "SSL:SSL,INTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "listener.name.ssl.ssl.keystore.type": "PKCS12",
        "listener.name.ssl.ssl.keystore.location": str(cert.p12),
        "listener.name.ssl.ssl.keystore.password": "changeit",
    }).start()
    yield b, ca, f"127.0.0.1:{internal}"
    b.stop()


def test_concurrent_readers_of_one_segment_over_tls_get_intact_records(tls_broker):
    b, ca, plain = tls_broker
    admin = AdminClient({"bootstrap.servers": plain})
    admin.create_topics([NewTopic("tls-fetch", 1, 1)])["tls-fetch"].result(30)
    pad = os.urandom(1016)
    p = Producer({"bootstrap.servers": plain, "linger.ms": 5, "batch.size": 200_000})
    for i in range(RECORDS):
        while True:
            try:
                p.produce("tls-fetch", struct.pack(">q", i) + pad, partition=0)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(60) == 0

    results: dict[int, tuple[int, int, list[str]]] = {}

    def read(k: int) -> None:
        c = Consumer({"bootstrap.servers": b.bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(ca.pem),
                      "group.id": f"tls-reader-{k}", "enable.auto.commit": False, "check.crcs": True})
        c.assign([TopicPartition("tls-fetch", 0, OFFSET_BEGINNING)])
        got = bad = 0
        errors: list[str] = []
        deadline = time.monotonic() + 90
        try:
            while got < RECORDS and time.monotonic() < deadline and not errors:
                for m in c.consume(1000, 1.0):
                    if m.error() is not None:
                        errors.append(str(m.error()))
                        continue
                    v = m.value()
                    if struct.unpack_from(">q", v)[0] != m.offset() or v[8:] != pad:
                        bad += 1
                    got += 1
        finally:
            c.close()
        results[k] = (got, bad, errors)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert results == {k: (RECORDS, 0, []) for k in range(READERS)}, {k: (g, bad, e[:3]) for k, (g, bad, e) in results.items()}
    assert "Traceback" not in b.log_text()
