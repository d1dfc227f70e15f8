"""bench/run.py connections cells: the requests they send (decoded as Kafka's specs say), the
per-connection figures, the open-file cap, the table and the Odradek/Kafka ratios (no brokers)."""

from __future__ import annotations

import json
import struct

import pytest

from odradek.protocol import messages


def _decode(frame: bytes, flexible: bool):
    (size,) = struct.unpack_from(">i", frame)
    body = frame[4:]
    assert size == len(body)
    hdr = messages.parse_request_header(body, flexible)
    return hdr, messages.decode_request(hdr.api_key, hdr.api_version, body, hdr.body_offset)


def test_requests_on_connect_decode_as_kafkas_specs_say(bench):
    assert bench._uvarint(0) == b"\x00" and bench._uvarint(127) == b"\x7f" and bench._uvarint(300) == b"\xac\x02"
    hdr, req = _decode(bench.conn_request(18, 3, 7, bench.API_VERSIONS_V3_BODY, flexible=True), True)
    assert (hdr.api_key, hdr.api_version, hdr.correlation_id, hdr.client_id) == (18, 3, 7, "bench")
    assert (req.client_software_name, req.client_software_version) == ("odradek-bench", "1")
    hdr, req = _decode(bench.conn_request(3, 4, 8, bench.METADATA_V4_ALL_BODY), False)
    assert (hdr.api_key, hdr.api_version, hdr.correlation_id) == (3, 4, 8)
    assert req.topics is None and req.allow_auto_topic_creation is False
    token = b"n,,n=bench,r=abc"
    hdr, req = _decode(bench.conn_request(36, 1, 2, struct.pack(">i", len(token)) + token), False)
    assert hdr.api_key == 36 and bytes(req.auth_bytes) == token


def test_per_connection_and_the_open_file_cap(bench):
    assert bench.per_connection(1000, 21480, 2000) == pytest.approx(10.24)
    assert bench.per_connection(1000, 900, 100) == -1.0  # RSS fell: reported as it is
    for args in ((None, 5, 1), (5, None, 1), (1, 2, 0)):
        assert bench.per_connection(*args) is None
    rounds = len(bench.CONN_VARIANTS)
    assert bench.conn_round_size(5000, 1 << 20) == 5000
    assert bench.conn_round_size(10000, 20000) == (20000 - bench.CONN_FD_SPARE) // rounds
    assert rounds * bench.conn_round_size(10000, 20000) + bench.CONN_FD_SPARE <= 20000
    assert bench.conn_round_size(100, 500) == 1


def _round(variant, kib, per_s, cpu, meta, other=0.1, **extra):
    return {"variant": variant, "requests": f"{variant} requests", "asked": 1000, "opened": 1000,
            "kib_per_connection": kib, "connections_per_s": per_s, "broker_cpu_ms_per_connection": cpu,
            "metadata_new_connection_ms": meta, "rss_before_mb": 40.0, "rss_open_mb": 50.0, "other_cores": other,
            **extra}


def _cell(mode, label, rounds, **extra):
    return {"cell": f"connections-{mode}", "mode": mode, "label": label, "connections": 1000, "threads": 8,
            "rounds": rounds, "held": 2000, "still_open": 2000, "kib_left_per_connection_after_close": 9.5, **extra}


def test_table_has_a_row_per_round_and_the_after_close_figure_once(bench):
    cells = [_cell("plaintext", "PLAINTEXT", [_round("apiversions", 10.24, 2000, 0.4, 1.2),
                                              _round("metadata", 11.0, 900, 0.5, 0.8, other=0.9)]),
             _cell("ssl", "SSL", [_round("apiversions", 34.9, 300, 1.1, 0.7, opened=990)], still_open=1500)]
    text = bench.render_connections(cells)
    rows = [ln for ln in text.splitlines() if ln.startswith("| PLAINTEXT") or ln.startswith("| SSL")]
    assert len(rows) == 3
    first, second, tls = (r.split("|")[1:-1] for r in rows)
    assert first[3].strip() == "10.2" and first[10].strip() == ""  # after close: only on a cell's last row
    assert second[3].strip() == "11.0" and second[10].strip() == "9.5"
    assert second[7].strip() == "900 *"  # other load over NOISY marks the rate
    assert tls[1].strip() == "1000 (990 opened)"
    assert "only 1500 of the 2000 connections of ssl were still open" in text
    assert "8 threads" in text


def test_ratios_match_rounds_by_listener_and_variant(bench):
    odr = {"connections": [_cell("plaintext", "PLAINTEXT", [_round("apiversions", 10.0, 2000, 0.4, 1.0),
                                                             _round("metadata", 12.0, 1000, 0.5, 1.0)]),
                           _cell("ssl", "SSL", [_round("apiversions", 35.0, 300, 1.0, 1.0)])]}
    kaf = {"connections": [_cell("plaintext", "PLAINTEXT", [_round("metadata", 1.5, 2500, 0.25, 2.0, other=0.6),
                                                             _round("apiversions", 2.5, 2600, 0.4, 0)])]}
    rat = bench.compute_ratios(odr, kaf)
    json.dumps(rat)
    rows = {(r["mode"], r["variant"]): r for r in rat["connections"]}
    assert set(rows) == {("plaintext", "apiversions"), ("plaintext", "metadata")}  # Kafka ran no SSL cell
    m = rows[("plaintext", "metadata")]
    assert m["kib_per_connection"] == pytest.approx(8.0) and m["connections_per_s"] == pytest.approx(0.4)
    assert m["broker_cpu_ms_per_connection"] == pytest.approx(2.0) and m["max_other_cores"] == 0.6
    assert rows[("plaintext", "apiversions")]["metadata_new_connection_ms"] is None  # Kafka's 0 ms: no ratio
    text = bench.render_ratios(rat)
    line = next(ln for ln in text.splitlines() if ln.startswith("| PLAINTEXT | 1000 | metadata requests"))
    assert "| 8.00 | 0.40 * | 2.00 * |" in line
