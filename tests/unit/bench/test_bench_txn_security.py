"""bench/run.py transaction and security cells: their tables, the figures derived within one broker's
report (against the idempotent and the PLAINTEXT cell), the Odradek/Kafka ratios, and the listener
settings both brokers get (no brokers)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

def test_spread_counts_records_per_partition_round_robin(bench):
    assert bench.spread(0, 10, 1) == [10]
    assert bench.spread(0, 10, 3) == [4, 3, 3]  # 0,3,6,9 | 1,4,7 | 2,5,8
    assert bench.spread(5, 12, 3) == [2, 2, 3]  # 6,9 | 7,10 | 5,8,11
    assert bench.spread(7, 7, 4) == [0, 0, 0, 0]
    assert bench.spread(3, 5, 6) == [0, 0, 0, 1, 1, 0]
    for n0, n1, p in ((0, 1000, 6), (17, 1017, 6), (999, 1100, 7)):
        got = bench.spread(n0, n1, p)
        assert got == [sum(1 for n in range(n0, n1) if n % p == i) for i in range(p)]


def _phase(rec_s, size, cpu_ms_per_mb, records, other=0.1, **extra):
    return {"records_per_s": rec_s, "mb_per_s": rec_s * size / 1e6, "broker_cores": 0.5,
            "broker_cpu_ms_per_mb": cpu_ms_per_mb, "broker_peak_rss_mb": 40, "broker_rss_mb": 39,
            "records": records, "other_cores": other, "processes": 1, "complete": True, "client_cores": 0.3,
            "probe_max_ms": 10.0, **extra}


def _txn_cell(every, rec_s, cpu, txns=None, size=1024, aborted=0, peak=40):
    p = _phase(rec_s, size, cpu, rec_s * 2, broker_peak_rss_mb=peak)
    if every:
        p.update(txns=txns, txns_per_s=txns / 2, aborted_txns=aborted, aborted_records=aborted * every,
                 end_txn_ms_p50=2.0, end_txn_ms_p99=9.0, broker_cpu_us_per_txn=800.0)
    return {"cell": f"txn-{size}B-1p-{every}", "record_bytes": size, "partitions": 1, "commit_every": every,
            "abort_every": 10 if every else None,
            "producer": f"transactional, commit every {every}" if every else "idempotent, acks=all",
            "produce": p,
            "read_committed": _phase(rec_s * 1.5, size, 1.0, rec_s * 2, keyed=0),
            "read_uncommitted": _phase(rec_s * 1.6, size, 0.9, rec_s * 2, keyed=aborted * every)}


def test_relative_figures_of_transactions(bench):
    side = {"transactions": [_txn_cell(0, 400_000, 0.7), _txn_cell(100, 40_000, 10.7, txns=800, aborted=80)]}
    bench.relative_figures(side)
    idem, txn = side["transactions"]
    p = txn["produce"]
    assert p["records_per_s_vs_idempotent"] == pytest.approx(0.1)
    assert p["cpu_per_mb_vs_idempotent"] == pytest.approx(10.7 / 0.7)
    # 80,000 records of 1024 B = 81.92 MB; 10 ms/MB more than the idempotent cell; 800 transactions
    assert p["extra_broker_cpu_us_per_txn"] == pytest.approx(10.0 * 81.92 / 800 * 1000)
    assert "extra_broker_cpu_us_per_txn" not in idem["produce"]
    # no idempotent cell of that size: nothing derived
    alone = {"transactions": [_txn_cell(100, 40_000, 10.7, txns=800, size=100)]}
    bench.relative_figures(alone)
    assert "records_per_s_vs_idempotent" not in alone["transactions"][0]["produce"]


def _sec_cell(mode, label, prod_cpu, cons_cpu, us_req, p50, other=0.1):
    return {"cell": f"sec-{mode}", "security": mode, "label": label, "record_bytes": 1024, "partitions": 1,
            "max_in_flight": 5,
            "produce": _phase(200_000, 1024, prod_cpu, 400_000, other=other),
            "consume": _phase(300_000, 1024, cons_cpu, 400_000),
            "requests": {"requests_per_s": 1e6 / us_req / 2, "broker_cpu_us_per_request": us_req, "broker_cores": 0.5,
                         "broker_peak_rss_mb": 41, "broker_rss_mb": 41, "other_cores": 0.05},
            "latency": {"p50_ms": p50, "p90_ms": p50 * 2, "p99_ms": p50 * 3, "max_ms": p50 * 4, "mean_ms": p50,
                        "consumed": 3000, "produced": 3000, "broker_cores": 0.1, "broker_peak_rss_mb": 42,
                        "broker_rss_mb": 42, "other_cores": 0.0}}


def _sec_side(scale=1.0, other=0.1):
    return {"security": [_sec_cell("plaintext", "PLAINTEXT", 1.0 * scale, 0.5 * scale, 60 * scale, 3.0),
                         _sec_cell("ssl", "SSL (server certificate)", 2.5 * scale, 5.0 * scale, 90 * scale, 4.0,
                                   other=other),
                         _sec_cell("plaintext-acl", "PLAINTEXT + authorizer", 1.1 * scale, 0.5 * scale, 75 * scale,
                                   3.0)]}


def test_relative_figures_of_security(bench):
    side = _sec_side()
    bench.relative_figures(side)
    plain, ssl, acl = side["security"]
    assert plain["vs_plaintext"]["produce_cpu_per_mb"] == pytest.approx(1.0)
    assert ssl["vs_plaintext"]["produce_cpu_per_mb"] == pytest.approx(2.5)
    assert ssl["vs_plaintext"]["consume_cpu_per_mb"] == pytest.approx(10.0)
    assert ssl["vs_plaintext"]["latency_p50"] == pytest.approx(4 / 3)
    assert acl["vs_plaintext"]["cpu_per_request"] == pytest.approx(1.25)
    assert acl["vs_plaintext"]["requests_per_s"] == pytest.approx(0.8)
    no_plain = {"security": [_sec_cell("ssl", "SSL", 2.5, 5.0, 90, 4.0)]}
    bench.relative_figures(no_plain)
    assert "vs_plaintext" not in no_plain["security"][0]


def test_render_transactions_table(bench):
    side = {"transactions": [_txn_cell(0, 400_000, 0.7), _txn_cell(100, 40_000, 10.7, txns=800, aborted=80)]}
    bench.relative_figures(side)
    text = bench.render_transactions(side["transactions"])
    lines = text.splitlines()
    assert "every 10th transaction flushed then aborted" in lines[0]
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    row = next(ln for ln in lines if "commit every 100" in ln)
    cells = dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
    assert len(header) == 24 == len(row.strip("|").split("|"))
    assert cells["produce rec/s"] == "40,000"
    assert cells["txn/s (aborted)"] == "400.0 (80)"
    assert cells["end-txn ms p50/p99"] == "2.0/9.0"
    assert cells["x idem rec/s"] == "0.10"
    assert cells["extra broker CPU µs/txn"] == "1,024"
    assert cells["aborted records written/seen rc/ru"] == "8,000/0/8,000"
    idem = dict(zip(header, (c.strip() for c in next(ln for ln in lines if "idempotent, acks=all" in ln)
                             .strip("|").split("|"))))
    assert idem["txn/s (aborted)"] == "-" and idem["extra broker CPU µs/txn"] == "-"
    assert idem["produce MB/s"] == "409.6"
    # the report of one side carries it, and an unsettled warm-up is named
    side["transactions"][1]["warmup"] = {"settled": False, "slices": []}
    full = bench.render(side, "Odradek")
    assert text in full
    assert "Warm-up not settled" in full and "txn-1024B-1p-100" in full


def test_render_security_table(bench):
    side = _sec_side(other=0.9)
    bench.relative_figures(side)
    text = bench.render_security(side["security"])
    lines = text.splitlines()
    assert "max.in.flight 5" in lines[0]
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    assert len(header) == 18
    row = dict(zip(header, (c.strip() for c in next(ln for ln in lines if ln.startswith("| SSL"))
                            .strip("|").split("|"))))
    assert row["produce MB/s"] == "204.8 *"  # marked: 0.9 other cores in that window
    assert row["broker CPU µs/request"] == "90"
    assert row["consumed/produced"] == "3000/3000"
    assert row["broker peak RSS MB"] == "42"  # the largest of the cell's windows
    xs = [c.strip() for c in next(ln for ln in lines if ln.startswith("| SSL")).strip("|").split("|")]
    assert [xs[i] for i, h in enumerate(header) if h == "x plain"] == ["2.50", "10.00", "1.50"]


def test_ratios_of_transaction_and_security_cells(bench):
    odr = {"transactions": [_txn_cell(0, 400_000, 0.7), _txn_cell(100, 40_000, 10.7, txns=800),
                            _txn_cell(1000, 300_000, 1.0, txns=300)],  # Kafka has no such cell
           **_sec_side()}
    kaf = {"transactions": [_txn_cell(0, 300_000, 2.8, peak=400), _txn_cell(100, 10_000, 40.0, txns=200, peak=400)],
           "security": _sec_side(scale=2.0)["security"][:2]}  # no authorizer cell on Kafka's side
    for side in (odr, kaf):
        bench.relative_figures(side)
    rat = bench.compute_ratios(odr, kaf)
    json.dumps(rat)
    assert [(t["record_bytes"], t["commit_every"]) for t in rat["transactions"]] == [(1024, 0), (1024, 100)]
    t = rat["transactions"][1]
    assert t["produce"]["records_per_s"] == pytest.approx(4.0)
    assert t["produce"]["txns_per_s"] == pytest.approx(4.0)
    assert t["produce"]["broker_cpu_ms_per_mb"] == pytest.approx(10.7 / 40.0)
    assert t["produce"]["broker_peak_rss_mb"] == pytest.approx(0.1)
    # Odradek: 10 ms/MB x 81.92 MB / 800 txn; Kafka: 37.2 ms/MB x 20.48 MB / 200 txn
    assert t["produce"]["extra_broker_cpu_us_per_txn"] == pytest.approx((10.0 * 81.92 / 800) / (37.2 * 20.48 / 200))
    assert t["read_committed"]["mb_per_s"] == pytest.approx(4.0)
    assert rat["transactions"][0]["produce"]["extra_broker_cpu_us_per_txn"] is None  # idempotent: none
    assert [s["security"] for s in rat["security"]] == ["plaintext", "ssl"]
    ssl = rat["security"][1]
    assert ssl["produce"]["broker_cpu_ms_per_mb"] == pytest.approx(0.5)
    assert ssl["requests"]["broker_cpu_us_per_request"] == pytest.approx(0.5)
    assert ssl["latency"]["p50_ms"] == pytest.approx(1.0)
    assert ssl["produce"]["max_other_cores"] == pytest.approx(0.1)

    text = bench.render_ratios(rat)
    row = next(ln for ln in text.splitlines() if "commit every 100" in ln)
    assert [c.strip() for c in row.strip("|").split("|")][3:9] == ["4.00", "4.00", "1.00", "0.27", "0.27", "4.00"]
    srow = next(ln for ln in text.splitlines() if ln.startswith("| SSL"))
    assert [c.strip() for c in srow.strip("|").split("|")][3:11] == [
        "1.00", "1.00", "0.50", "0.50", "2.00", "0.50", "1.00", "1.00"]
    assert "PLAINTEXT + authorizer" not in text


def test_a_negative_extra_cost_gets_no_ratio(bench):
    # noise can put a transactional cell's CPU per MB below the idempotent cell's
    odr = {"transactions": [_txn_cell(0, 400_000, 0.9), _txn_cell(1000, 380_000, 0.8, txns=700)]}
    kaf = {"transactions": [_txn_cell(0, 300_000, 2.8), _txn_cell(1000, 200_000, 4.0, txns=400)]}
    for side in (odr, kaf):
        bench.relative_figures(side)
    assert odr["transactions"][1]["produce"]["extra_broker_cpu_us_per_txn"] < 0
    rat = bench.compute_ratios(odr, kaf)
    assert rat["transactions"][1]["produce"]["extra_broker_cpu_us_per_txn"] is None


def test_txn_warm_up_unit_counts_all_three_windows(bench):
    r = {"record_bytes": 1000, "produce": {"broker_cpu_s": 1.0, "records": 1_000_000},
         "read_committed": {"broker_cpu_s": 0.5}, "read_uncommitted": {"broker_cpu_s": 0.5}}
    assert bench._cpu_per_unit("txn", r) == pytest.approx(2.0 / 1000)


CERTS = SimpleNamespace(ca=Path("/certs/ca.pem"), broker=SimpleNamespace(p12=Path("/certs/broker.p12")),
                        password="changeit")


def test_security_settings_per_mode(bench):
    plain = bench.Security("plaintext")
    assert plain.broker_settings(9000, None) == {"listeners": "PLAINTEXT://127.0.0.1:9000"}
    assert plain.kafka_settings(9000, None, 9100) == {}  # the launcher's own PLAINTEXT setup
    assert plain.client_conf() == {} and plain.plain_port(9000, None) == 9000 and not plain.internal

    ssl = bench.Security("ssl", CERTS)
    s = ssl.broker_settings(9000, 9001)
    assert s["listeners"] == "SSL://127.0.0.1:9000,INTERNAL://127.0.0.1:9001"
    assert s["listener.security.protocol.map"] == "SSL:SSL,INTERNAL:PLAINTEXT"
    assert s["inter.broker.listener.name"] == "INTERNAL"
    assert s["listener.name.ssl.ssl.keystore.location"] == "/certs/broker.p12"
    assert s["listener.name.ssl.ssl.keystore.type"] == "PKCS12"
    assert "authorizer.class.name" not in s and "ssl.client.auth" not in str(s)  # server certificate only
    assert ssl.client_conf() == {"security.protocol": "SSL", "ssl.ca.location": "/certs/ca.pem"}
    assert ssl.plain_port(9000, 9001) == 9001  # raw requests go to the PLAINTEXT listener
    k = ssl.kafka_settings(9000, 9001, 9100)
    assert k["listeners"] == "SSL://127.0.0.1:9000,INTERNAL://127.0.0.1:9001,CONTROLLER://127.0.0.1:9100"
    assert k["advertised.listeners"] == "SSL://127.0.0.1:9000,INTERNAL://127.0.0.1:9001"
    assert k["listener.security.protocol.map"] == "SSL:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"

    scram = bench.Security("sasl-ssl-scram", CERTS)
    s = scram.broker_settings(9000, 9001)
    assert s["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert s["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"].endswith("ScramLoginModule required;")
    assert s["listener.name.sasl_ssl.ssl.keystore.password"] == "changeit"
    assert scram.client_conf() == {"security.protocol": "SASL_SSL", "ssl.ca.location": "/certs/ca.pem",
                                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bench",
                                   "sasl.password": "bench-secret"}
    assert scram.admin_conf(9001) == {"bootstrap.servers": "127.0.0.1:9001"}

    plainsasl = bench.Security("sasl-plaintext-plain")
    s = plainsasl.broker_settings(9000, 9001)
    assert s["listener.name.sasl_plaintext.plain.sasl.jaas.config"].endswith('required user_bench="bench-secret";')
    assert not any("ssl." in key for key in s)

    acl = bench.Security("plaintext-acl", acl_extra=9)
    s = acl.broker_settings(9000, 9001)
    assert s["listeners"] == "PLAINTEXT://127.0.0.1:9000,INTERNAL://127.0.0.1:9001"
    assert s["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT"
    assert s["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert s["super.users"] == "User:admin" and s["allow.everyone.if.no.acl.found"] == "false"
    assert acl.client_conf() == {}  # the load is User:ANONYMOUS, not a super user
    assert acl.plain_port(9000, 9001) == 9000
    assert acl.admin_conf(9001)["sasl.username"] == "admin"
    k = acl.kafka_settings(9000, 9001, 9100)
    assert k["listener.security.protocol.map"].endswith(",CONTROLLER:SASL_PLAINTEXT")
    assert k["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert 'username="admin"' in k["listener.name.controller.plain.sasl.jaas.config"]
    bindings = acl.acl_bindings()
    assert len(bindings) == 4 + 9
    mine = [b for b in bindings if b.principal == "User:ANONYMOUS"]
    assert {(b.name, b.resource_pattern_type.name, b.operation.name) for b in mine} == {
        ("bench-", "PREFIXED", "WRITE"), ("bench-", "PREFIXED", "READ"), ("bench-", "PREFIXED", "CREATE")} | {
        ("bench-", "PREFIXED", "READ")}
    assert all(b.principal.startswith("User:other-") for b in bindings if b not in mine)

    with pytest.raises(ValueError):
        bench.Security("ssl")  # TLS without certificates
    with pytest.raises(ValueError):
        bench.Security("kerberos")
