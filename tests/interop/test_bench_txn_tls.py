"""bench/run.py's transaction and security cells, in their smallest form, on Odradek only: the idempotent
baseline and one transactional cell (100 B records, a commit every 100, every 10th transaction aborted),
read back with read_committed and read_uncommitted; and the SSL cell (throughput, one-record requests,
latency over TLS with a server certificate). Figures are not judged (the machine is shared); what is
checked is that every window ran and was measured, and that the counts agree with each other: what the
producers committed and aborted, the end offsets with their transaction markers, and what each
isolation level delivered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    cmd = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--only", "transactions,security",
        "--txn-sizes", "100", "--txn-commit-every", "100", "--security", "ssl",
        "--producers", "1", "--consumers", "1",
        "--duration", "1", "--req-duration", "0.5", "--lat-seconds", "1", "--wait-quiet", "0", "--json", str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text()), proc.stdout


def _measured(phase: dict) -> None:
    assert phase["broker_cpu_s"] > 0 and phase["broker_peak_rss_mb"] > 0 and phase["window_s"] > 0
    assert phase["probe_n"] > 0  # the responsiveness probe ran on the broker's PLAINTEXT listener


def test_transaction_cells(run):
    rep, text = run
    assert rep["errors"] == []
    idem, txn = rep["transactions"]
    assert (idem["commit_every"], txn["commit_every"], txn["abort_every"]) == (0, 100, 10)
    for cell in (idem, txn):
        assert cell["broker_errors"] == [], cell["broker_errors"]
        assert cell["end_offsets_match"], cell
        p = cell["produce"]
        assert p["records"] > 0 and p["failed"] == 0 and p["undelivered"] == 0, p
        _measured(p)
        assert p["broker_cpu_ms_per_mb"] > 0
        for iso in ("read_committed", "read_uncommitted"):
            q = cell[iso]
            assert q["isolation"] == iso and q["complete"] and q["records"] == q["expected"], q
            _measured(q)
    # the idempotent cell: both isolation levels read everything produced (one warm-up record per partition)
    assert idem["read_committed"]["records"] == idem["read_uncommitted"]["records"] == idem["produce"]["records"] + 1

    p = txn["produce"]
    assert p["txns"] == p["committed_txns"] + p["aborted_txns"] and p["txns"] >= 10, p
    assert p["aborted_txns"] == p["txns"] // 10
    assert p["records"] == p["txns"] * 100  # whole transactions only
    assert p["aborted_records"] == p["aborted_txns"] * 100
    assert p["committed_records"] + p["aborted_records"] == p["records"]
    # end offsets: the records, the warm-up's one, and a marker per transaction (one partition)
    assert sum(txn["end_offsets"].values()) == p["records"] + 1 + p["txns"] + 1 == p["records"] + txn["markers"] + 1
    assert 0 < p["end_txn_ms_p50"] <= p["end_txn_ms_p99"]
    assert p["txns_per_s"] > 0 and p["broker_cpu_us_per_txn"] > 0
    rc, ru = txn["read_committed"], txn["read_uncommitted"]
    assert rc["records"] == p["committed_records"] + 1 and rc["keyed"] == 0  # no aborted record delivered
    assert ru["records"] == p["records"] + 1 and ru["keyed"] == p["aborted_records"]
    # against the idempotent cell of the same broker
    assert p["records_per_s_vs_idempotent"] > 0 and p["cpu_per_mb_vs_idempotent"] > 0
    assert isinstance(p["extra_broker_cpu_us_per_txn"], float)
    assert "Transactions: an idempotent producer" in text
    assert f"| {p['txns_per_s']:,.1f} ({p['aborted_txns']}) |" in text


def test_tls_cell(run):
    rep, text = run
    (cell,) = rep["security"]
    assert cell["security"] == "ssl" and cell["broker_errors"] == [], cell["broker_errors"]
    assert cell["end_offsets_match"] and cell["consume"]["complete"]
    assert cell["consume"]["records"] == sum(cell["end_offsets"].values())
    for phase in ("produce", "consume"):
        _measured(cell[phase])
        assert cell[phase]["broker_cpu_ms_per_mb"] > 0 and cell[phase]["mb_per_s"] > 0
    req = cell["requests"]
    assert req["records_per_request"] == 1.0 and req["failed"] == 0 and req["broker_cpu_us_per_request"] > 0
    lat = cell["latency"]
    assert lat["consumed"] == lat["produced"] == 1000 and 0 < lat["p50_ms"] <= lat["p99_ms"]
    assert "vs_plaintext" not in cell  # no PLAINTEXT cell in this run
    assert "| SSL (server certificate) | 1024 B | 1 |" in text
