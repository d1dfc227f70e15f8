"""Prometheus metrics (metrics.listener): scraped from a real broker after known traffic.

Exact traffic comes from raw requests (tests/wire.py: a Produce of batches we built, a Fetch, so
record, byte and request counts are known to the unit); consumer groups from confluent-kafka. Every
metric name the Strimzi Kafka and Kafka-exporter dashboards and their alert rules query is checked
to be served with the labels they filter on; the text is checked with prometheus_client's parser.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time

import pytest

from helpers import ROOT, BrokerProcess, free_port, port_open, wait_for
from metrics_scrape import Scrape, scrape
from wire import WireClient

from odradek.protocol import messages
from odradek.protocol.record_codec import build_batch

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

pytestmark = pytest.mark.interop

# Every metric name the Strimzi dashboards and alert rules query (strimzi-kafka.json,
# strimzi-kafka-exporter.json, prometheus-kafka-rules.yaml, prometheus-kafka-exporter-topic-rules-group.yaml
# in strimzi-kafka-operator's packaging/examples/metrics), with the labels they select or group by.
STRIMZI_KAFKA_DASHBOARD = {
    "kafka_server_replicamanager_leadercount": (),
    "kafka_controller_kafkacontroller_activecontrollercount": (),
    "kafka_controller_controllerstats_uncleanleaderelections_total": (),
    "kafka_server_replicamanager_partitioncount": (),
    "kafka_server_replicamanager_underreplicatedpartitions": (),
    "kafka_cluster_partition_atminisr": ("topic", "partition"),
    "kafka_cluster_partition_underminisr": ("topic", "partition"),
    "kafka_cluster_partition_replicascount": ("topic", "partition"),
    "kafka_controller_kafkacontroller_offlinepartitionscount": (),
    "kafka_server_brokertopicmetrics_bytesin_total": ("topic",),
    "kafka_server_brokertopicmetrics_bytesout_total": ("topic",),
    "kafka_server_brokertopicmetrics_messagesin_total": ("topic",),
    "kafka_server_brokertopicmetrics_failedfetchrequests_total": ("topic",),
    "kafka_server_brokertopicmetrics_failedproducerequests_total": ("topic",),
    "kafka_server_brokertopicmetrics_totalfetchrequests_total": ("topic",),
    "kafka_server_brokertopicmetrics_totalproducerequests_total": ("topic",),
    "kafka_log_log_size": ("topic", "partition"),
    "kafka_network_socketserver_networkprocessoravgidle_percent": (),
    "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent": (),
    "kafka_server_socket_server_metrics_connection_count": ("listener",),
    "kafka_server_kafkaserver_linux_disk_read_bytes": (),
    "kafka_server_kafkaserver_linux_disk_write_bytes": (),
    "process_open_fds": (),
}
STRIMZI_KAFKA_ALERTS = {
    "kafka_server_replicamanager_underreplicatedpartitions": (),
    "kafka_controller_kafkacontroller_activecontrollercount": (),
    "kafka_controller_kafkacontroller_offlinepartitionscount": (),
    "kafka_server_replicamanager_underminisrpartitioncount": (),
    "kafka_log_logmanager_offlinelogdirectorycount": (),
}
# strimzi-kafka-exporter.json (a derivative of Grafana 7589, which uses the first four) and its rules
STRIMZI_EXPORTER = {
    "kafka_topic_partitions": ("topic",),
    "kafka_consumergroup_current_offset": ("consumergroup", "topic", "partition"),
    "kafka_consumergroup_lag": ("consumergroup", "topic", "partition"),
    "kafka_topic_partition_current_offset": ("topic", "partition"),
    "kafka_topic_partition_in_sync_replica": ("topic", "partition"),
    "kafka_topic_partition_leader_is_preferred": ("topic", "partition"),
    "kafka_topic_partition_oldest_offset": ("topic", "partition"),
    "kafka_topic_partition_replicas": ("topic", "partition"),
    "kafka_topic_partition_under_replicated_partition": ("topic", "partition"),
    "kafka_broker_info": ("id", "address"),
    "kafka_cluster_partition_atminisr": ("topic", "partition"),
    "kafka_cluster_partition_underminisr": ("topic", "partition"),
}
# Family A names beyond Strimzi's (jmx_exporter's kafka-2_0_0.yml; Strimzi drops RequestMetrics),
# used by the jmx_exporter dashboards (11962's originals, Confluent's request panels)
JMX_EXAMPLE = {
    "kafka_network_requestmetrics_requests_total": ("request", "version"),
    "kafka_network_requestmetrics_errors_total": ("request", "error"),
    "kafka_network_requestmetrics_totaltimems": ("request", "quantile"),
    "kafka_network_requestmetrics_totaltimems_count": ("request",),
    "kafka_network_requestmetrics_requestqueuetimems": ("request", "quantile"),
    "kafka_network_requestmetrics_localtimems": ("request", "quantile"),
    "kafka_network_requestmetrics_remotetimems": ("request", "quantile"),
    "kafka_network_requestmetrics_responsequeuetimems": ("request", "quantile"),
    "kafka_network_requestmetrics_responsesendtimems": ("request", "quantile"),
    "kafka_network_socketserver_networkprocessoravgidlepercent": (),
    "kafka_server_brokertopicmetrics_bytesrejected_total": ("topic",),
    "kafka_server_brokertopicmetrics_replicationbytesin_total": (),
    "kafka_server_brokertopicmetrics_replicationbytesout_total": (),
    "kafka_server_replicamanager_isrshrinks_total": (),
    "kafka_server_replicamanager_isrexpands_total": (),
    "kafka_server_replicamanager_atminisrpartitioncount": (),
    "kafka_controller_kafkacontroller_globaltopiccount": (),
    "kafka_controller_kafkacontroller_globalpartitioncount": (),
    "kafka_log_log_logendoffset": ("topic", "partition"),
    "kafka_log_log_logstartoffset": ("topic", "partition"),
    "kafka_server_delayedoperationpurgatory_purgatorysize": ("delayedOperation",),
    "kafka_network_requestchannel_requestqueuesize": (),
    "process_cpu_seconds_total": (),
    "process_resident_memory_bytes": (),
    "process_start_time_seconds": (),
    "odradek_request_duration_seconds_bucket": ("request", "le"),
    "odradek_event_loop_lag_seconds_bucket": ("le",),
}
# Queried by those dashboards but not a broker's to serve: the JVM's own (jvm_*), Kubernetes'
# (container_*, kubelet_volume_stats_*) and Prometheus' (up). docs/metrics.md says so.
NOT_FROM_A_BROKER = ("jvm_memory_used_bytes", "jvm_threads_current", "jvm_gc_collection_seconds_count",
                     "jvm_gc_collection_seconds_sum", "container_memory_usage_bytes", "container_cpu_usage_seconds_total",
                     "kubelet_volume_stats_available_bytes", "up")

PRODUCE_V, FETCH_V, METADATA_V = 7, 11, 12


@pytest.fixture(scope="module")
def mb(tmp_path_factory):
    """A broker with metrics on; ``.mport`` is its metrics port."""
    mport = free_port()
    b = BrokerProcess(tmp_path_factory.mktemp("metrics") / "data", overrides={
        "metrics.listener": f"http://127.0.0.1:{mport}", "offsets.topic.num.partitions": "1",
    })
    b.start()
    b.mport = mport
    wait_for(lambda: port_open(mport), 10, what="metrics port")
    yield b
    b.kill()


def _create(bootstrap: str, topic: str, partitions: int = 1, configs: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=configs or {})])[topic].result(15)


def _produce(w: WireClient, topic: str, batch: bytes, partition: int = 0, acks: int = 1):
    resp = w.request(0, PRODUCE_V, {"transactional_id": None, "acks": acks, "timeout": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]})
    return resp.responses[0].partition_responses[0]


def _fetch_request(topic: str, offset: int, max_wait: int = 0, min_bytes: int = 1) -> dict:
    return {"replica_id": -1, "max_wait": max_wait, "min_bytes": min_bytes, "max_bytes": 50 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset, "log_start_offset": -1,
                 "partition_max_bytes": 10 << 20}]}], "forgotten_topics_data": [], "rack_id": ""}


def _delta(after: Scrape, before: Scrape, name: str, **labels) -> float:
    return after.value(name, **labels) - (before.get(name, **labels) or 0)


def test_produce_and_fetch_counted_exactly(mb):
    topic = "m-traffic"
    _create(mb.bootstrap, topic, configs={"max.message.bytes": "2000"})
    batches = [build_batch([(b"k%d" % i, b"v" * 20) for i in range(n)]) for n in (5, 3, 7)]
    # an idempotent producer's first batch (sequence 0); its next one jumps to 5
    batches.append(build_batch([(None, b"i")], producer_id=424242, producer_epoch=0, base_sequence=0))
    before = scrape(mb.mport)
    w = WireClient(mb.port)
    try:
        for b in batches:
            assert _produce(w, topic, b).error_code == 0
        too_big = build_batch([(None, b"x" * 3000)])
        assert _produce(w, topic, too_big).error_code == 10  # MESSAGE_TOO_LARGE
        # the idempotent producer skips sequences 1-4: OUT_OF_ORDER_SEQUENCE_NUMBER, which Kafka counts as a
        # failed produce request (unlike the "expected" error above)
        gap = build_batch([(None, b"z")], producer_id=424242, producer_epoch=0, base_sequence=5)
        assert _produce(w, topic, gap).error_code == 45
        resp = w.request(1, FETCH_V, _fetch_request(topic, 0))
        assert resp.responses[0].partitions[0].error_code == 0
        unknown = w.request(1, FETCH_V, _fetch_request("m-no-such-topic", 0))
        assert unknown.responses[0].partitions[0].error_code == 3
        for _ in range(4):
            w.request(3, METADATA_V, {"topics": [{"name": topic, "topic_id": None}], "allow_auto_topic_creation": False,
                                      "include_topic_authorized_operations": False})
        w.request(18, 3, {"client_software_name": "metrics-test", "client_software_version": "1"})
    finally:
        w.close()
    stored = sum(len(b) for b in batches)

    def counted() -> Scrape:
        s = scrape(mb.mport)
        # the last response is written before the broker records its send time: wait for it
        assert _delta(s, before, "kafka_network_requestmetrics_requests_total", request="ApiVersions", version=3) == 1
        return s

    s = wait_for(counted, 10, what="the requests to be recorded")
    T = {"topic": topic}
    assert s.value("kafka_server_brokertopicmetrics_messagesin_total", **T) == 16
    assert s.value("kafka_server_brokertopicmetrics_bytesin_total", **T) == stored
    assert s.value("kafka_server_brokertopicmetrics_totalproducerequests_total", **T) == 6
    assert s.value("kafka_server_brokertopicmetrics_bytesrejected_total", **T) == len(too_big)
    assert s.value("kafka_server_brokertopicmetrics_failedproducerequests_total", **T) == 1
    assert s.value("kafka_server_brokertopicmetrics_bytesout_total", **T) == stored
    assert s.value("kafka_server_brokertopicmetrics_totalfetchrequests_total", **T) == 1
    assert s.value("kafka_server_brokertopicmetrics_failedfetchrequests_total", **T) == 0
    assert not [x for x in s.series("kafka_server_brokertopicmetrics_totalfetchrequests_total")
                if x.get("topic") == "m-no-such-topic"], "an unknown topic gets no meters"
    # the broker-wide series (no topic label) moved by the same amounts
    assert _delta(s, before, "kafka_server_brokertopicmetrics_messagesin_total") == 16
    assert _delta(s, before, "kafka_server_brokertopicmetrics_bytesin_total") == stored
    assert _delta(s, before, "kafka_server_brokertopicmetrics_bytesout_total") == stored
    # the log holds the batches as they came
    P = {"topic": topic, "partition": 0}
    assert s.value("kafka_log_log_size", **P) == stored
    assert s.value("kafka_log_log_logendoffset", **P) == 16
    assert s.value("kafka_log_log_logstartoffset", **P) == 0
    assert s.value("kafka_log_log_numlogsegments", **P) == 1
    # per API: rates by version, errors by code, time parts
    assert _delta(s, before, "kafka_network_requestmetrics_requests_total", request="Produce", version=PRODUCE_V) == 6
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="Produce", error="NONE") == 4
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="Produce", error="MESSAGE_TOO_LARGE") == 1
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="Produce",
                  error="OUT_OF_ORDER_SEQUENCE_NUMBER") == 1
    for name in ("FetchConsumer", "Fetch"):  # Kafka counts a consumer's fetch under both names
        assert _delta(s, before, "kafka_network_requestmetrics_requests_total", request=name, version=FETCH_V) == 2
    assert s.get("kafka_network_requestmetrics_requests_total", request="FetchFollower", version=FETCH_V) is None
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="Fetch", error="NONE") == 1
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="Fetch",
                  error="UNKNOWN_TOPIC_OR_PARTITION") == 1
    assert _delta(s, before, "kafka_network_requestmetrics_requests_total", request="Metadata", version=METADATA_V) == 4
    assert _delta(s, before, "kafka_network_requestmetrics_errors_total", request="ApiVersions", error="NONE") == 1
    for part in ("totaltimems", "requestqueuetimems", "localtimems", "remotetimems", "responsequeuetimems",
                 "responsesendtimems", "throttletimems", "requestbytes"):
        assert _delta(s, before, f"kafka_network_requestmetrics_{part}_count", request="Produce") == 6
        qs = {x["quantile"] for x in s.series(f"kafka_network_requestmetrics_{part}") if x["request"] == "Produce"}
        assert qs == {"0.50", "0.75", "0.95", "0.98", "0.99", "0.999"}
    # the largest Produce request is the 3000-byte batch's: the request-size quantiles see it
    assert s.value("kafka_network_requestmetrics_requestbytes", request="Produce", quantile="0.999") > 3000
    assert 0 < s.value("kafka_network_requestmetrics_totaltimems", request="Produce", quantile="0.50") < 10_000
    assert _delta(s, before, "odradek_request_duration_seconds_count", request="Produce") == 6
    assert _delta(s, before, "odradek_request_duration_seconds_bucket", request="Produce", le="+Inf") == 6
    assert _delta(s, before, "odradek_request_local_duration_seconds_count", request="Metadata") == 4


def test_long_poll_waits_in_fetch_purgatory(mb):
    topic = "m-longpoll"
    _create(mb.bootstrap, topic)
    w = WireClient(mb.port, timeout=30)
    try:
        payload = w.header(1, FETCH_V, False) + messages.encode_request(
            1, FETCH_V, _fetch_request(topic, 0, max_wait=2500, min_bytes=1 << 20))
        started = time.monotonic()
        w.send_frame(payload)
        s = wait_for(lambda: (x := scrape(mb.mport)).value(
            "kafka_server_delayedoperationpurgatory_purgatorysize", delayedOperation="Fetch") >= 1 and x, 5,
            what="the fetch to wait in purgatory")
        assert s.value("kafka_server_delayedoperationpurgatory_numdelayedoperations", delayedOperation="Fetch") >= 1
        w.recv_frame()
        assert time.monotonic() - started >= 2.4
    finally:
        w.close()
    s = wait_for(lambda: (x := scrape(mb.mport)).value(
        "kafka_server_delayedoperationpurgatory_purgatorysize", delayedOperation="Fetch") == 0 and x, 10,
        what="the purgatory to empty")
    # it waited max_wait in purgatory: the largest remote time of the consumer fetches is about that
    remote = s.value("kafka_network_requestmetrics_remotetimems", request="FetchConsumer", quantile="0.999")
    assert 2400 <= remote < 30_000
    assert s.value("kafka_network_requestmetrics_totaltimems", request="FetchConsumer", quantile="0.999") >= remote


def test_consumer_lag_as_kafka_exporter_names_it(mb):
    topic, group = "m-lag", "m-lag-group"
    _create(mb.bootstrap, topic, partitions=2)
    w = WireClient(mb.port)
    try:
        assert _produce(w, topic, build_batch([(None, b"a")] * 10), partition=0).error_code == 0
        assert _produce(w, topic, build_batch([(None, b"b")] * 6), partition=1).error_code == 0
    finally:
        w.close()
    c = Consumer({"bootstrap.servers": mb.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        c.close()
    s = scrape(mb.mport)
    G = {"consumergroup": group, "topic": topic}
    assert s.value("kafka_consumergroup_current_offset", partition=0, **G) == 4
    assert s.value("kafka_consumergroup_lag", partition=0, **G) == 6
    # a partition of the topic with nothing committed: -1 for both, as kafka_exporter reports it
    assert s.value("kafka_consumergroup_current_offset", partition=1, **G) == -1
    assert s.value("kafka_consumergroup_lag", partition=1, **G) == -1
    assert s.value("kafka_consumergroup_current_offset_sum", **G) == 3
    assert s.value("kafka_consumergroup_lag_sum", **G) == 6
    assert s.value("kafka_consumergroup_members", consumergroup=group) == 0
    assert s.value("kafka_topic_partitions", topic=topic) == 2
    assert s.value("kafka_topic_partition_current_offset", topic=topic, partition=0) == 10
    assert s.value("kafka_topic_partition_current_offset", topic=topic, partition=1) == 6
    assert s.value("kafka_topic_partition_oldest_offset", topic=topic, partition=1) == 0
    assert s.value("kafka_topic_partition_leader", topic=topic, partition=1) == 0
    assert s.value("kafka_topic_partition_leader_is_preferred", topic=topic, partition=1) == 1

    # a subscribed consumer reads everything and commits: lag 0, one member while it is in the group
    live = "m-lag-live"
    c = Consumer({"bootstrap.servers": mb.bootstrap, "group.id": live, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 16 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        assert got == 16
        c.commit(asynchronous=False)
        s = scrape(mb.mport)
        L = {"consumergroup": live, "topic": topic}
        assert s.value("kafka_consumergroup_members", consumergroup=live) == 1
        assert s.value("kafka_consumergroup_lag", partition=0, **L) == 0
        assert s.value("kafka_consumergroup_lag", partition=1, **L) == 0
        assert s.value("kafka_consumergroup_current_offset_sum", **L) == 16
    finally:
        c.close()
    wait_for(lambda: scrape(mb.mport).value("kafka_consumergroup_members", consumergroup=live) == 0, 15,
             what="the member to leave")


def test_connections_per_listener(mb):
    lab = {"listener": "PLAINTEXT", "networkProcessor": 0}

    def open_now(n: int):
        s = scrape(mb.mport)
        return s if s.value("kafka_server_socket_server_metrics_connection_count", **lab) == n else None

    # the clients of the tests before have all gone (they close in the background)
    before = wait_for(lambda: open_now(0), 20, what="no client connections")
    clients = [WireClient(mb.port) for _ in range(3)]
    try:
        for c in clients:  # a request each: the broker has taken every connection in
            c.request(18, 0, {})
        assert open_now(3)
    finally:
        for c in clients:
            c.close()
    s = wait_for(lambda: open_now(0), 10, what="the connections to be gone")
    assert _delta(s, before, "kafka_server_socket_server_metrics_connection_creation_total", **lab) >= 3
    assert _delta(s, before, "kafka_server_socket_server_metrics_connection_close_total", **lab) >= 3


def test_dashboard_and_alert_names_are_served(mb):
    """After the traffic above (topics, a group with offsets), every name the Strimzi dashboards and
    alert rules query is there, with the labels they use; BrokerTopicMetrics come both per topic and
    broker-wide (no topic label), which the dashboards' topic!="" filters rely on."""
    s = scrape(mb.mport)
    for table in (STRIMZI_KAFKA_DASHBOARD, STRIMZI_KAFKA_ALERTS, STRIMZI_EXPORTER, JMX_EXAMPLE):
        for name, keys in table.items():
            series = s.series(name)
            assert series, f"{name} is not served"
            assert any(set(keys) <= set(x) for x in series), f"{name} has no series with labels {keys}: {series[:3]}"
    for name in STRIMZI_KAFKA_DASHBOARD:
        if name.startswith("kafka_server_brokertopicmetrics_"):
            assert s.get(name) is not None, f"{name} has no broker-wide series"
    assert not (s.names() & set(NOT_FROM_A_BROKER))
    # one broker, the controller: the alert rules' "exactly one active controller" holds
    assert s.value("kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert s.value("kafka_brokers") == 1
    assert 0 < s.value("kafka_network_socketserver_networkprocessoravgidle_percent") <= 1


def test_exposition_is_valid_prometheus_text(mb):
    s = scrape(mb.mport)
    fams = {f.name: f.type for f in s.families}
    assert fams["kafka_server_brokertopicmetrics_messagesin"] == "counter"
    assert fams["kafka_network_requestmetrics_totaltimems"] == "gauge"
    assert fams["odradek_request_duration_seconds"] == "histogram"
    assert fams["kafka_consumergroup_lag"] == "gauge"
    assert s.types["kafka_server_brokertopicmetrics_messagesin_total"] == "counter"
    # histogram buckets are cumulative and end at the count
    for fam in s.families:
        if fam.type != "histogram":
            continue
        by_series: dict = {}
        for smp in fam.samples:
            key = tuple(sorted((k, v) for k, v in smp.labels.items() if k != "le"))
            by_series.setdefault(key, {})[smp.name.rsplit("_", 1)[-1] + smp.labels.get("le", "")] = smp.value
        for vals in by_series.values():
            buckets = [v for k, v in vals.items() if k.startswith("bucket")]
            assert buckets == sorted(buckets)
            assert vals["bucket+Inf"] == vals["count"]


def test_http_serves_metrics_only(mb):
    conn = http.client.HTTPConnection("127.0.0.1", mb.mport, timeout=10)
    try:
        for path, method, status in (("/", "GET", 404), ("/metricsx", "GET", 404), ("/metrics", "POST", 405),
                                     ("/metrics", "DELETE", 405)):
            conn.request(method, path)
            r = conn.getresponse()
            r.read()
            assert r.status == status, (method, path)
        conn.request("HEAD", "/metrics")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"" and int(r.headers["Content-Length"]) > 1000
        # the same connection serves scrape after scrape (Prometheus keeps it open)
        for _ in range(2):
            conn.request("GET", "/metrics?x=1")
            r = conn.getresponse()
            assert r.status == 200 and b"kafka_server_replicamanager_leadercount" in r.read()
    finally:
        conn.close()
    # garbage gets 400 and a closed connection; the broker serves on
    with socket.create_connection(("127.0.0.1", mb.mport), timeout=10) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", mb.mport), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert scrape(mb.mport).value("kafka_brokers") == 1
    WireClient(mb.port).request(18, 0, {})


def test_bad_metrics_listener_is_refused(tmp_path):
    for bad in ("ftp://127.0.0.1:9404", "http://127.0.0.1", "http://127.0.0.1:99999"):
        r = subprocess.run([sys.executable, "-m", "odradek", "serve", "--override", f"metrics.listener={bad}",
                            "--override", f"log.dirs={tmp_path / 'd'}", "--override",
                            f"listeners=PLAINTEXT://127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, timeout=60, cwd=str(ROOT),
                           env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
        assert r.returncode == 2, r.stderr
        assert "metrics.listener" in r.stderr
    # a metrics port already taken: the broker does not start, and says which setting
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "odradek", "serve", "--override", f"metrics.listener=http://127.0.0.1:{port}",
                            "--override", f"log.dirs={tmp_path / 'e'}", "--override",
                            f"listeners=PLAINTEXT://127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, timeout=60, cwd=str(ROOT),
                           env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r.stderr
    assert f"metrics.listener http://127.0.0.1:{port}" in r.stderr
