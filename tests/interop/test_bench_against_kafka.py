"""bench/run.py --against kafka, in its smallest form: the same cells against Odradek and against a real
Apache Kafka 4.4 broker (KRaft, from the Maven jars), both sides and the ratios in the JSON and the
printed tables. Figures are not judged (the machine is shared); what is checked is that each side
really ran, moved every record and was measured, and that the ratios are the two sides' quotient."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_against_kafka_smallest_run(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--against", "kafka",
        "--only", "startup,throughput", "--startup-runs", "1",
        "--sizes", "1024", "--partitions", "2", "--acks", "1", "--duration", "0.5", "--warmup", "0.3", "--warmup-max", "0.1",
        "--wait-quiet", "0", "--json", str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    rep = json.loads(out.read_text())
    kafka = rep["kafka"]
    assert kafka["broker"]["version"] == "4.4.0" and kafka["broker"]["heap"] == "1g"
    assert rep["errors"] == []

    for side, name in ((rep, "odradek"), (kafka, "kafka")):
        (cell,) = side["throughput"]
        assert cell["broker"] == name
        assert cell["end_offsets_match"], cell["end_offsets"]
        (warm,) = cell["warmup"]["slices"]  # the same load on a topic of its own, first (one slice: --warmup-max)
        assert warm["produce"]["records"] > 0 and warm["consume"]["records"] >= warm["produce"]["records"]
        assert warm["broker_cpu_per_unit"] > 0
        prod, cons = cell["produce"], cell["consume"]
        assert prod["records"] > 0 and prod["failed"] == 0 and prod["undelivered"] == 0
        assert cons["complete"] and cons["records"] == cons["expected"] == sum(cell["end_offsets"].values())
        for phase in (prod, cons):
            assert phase["broker_cpu_s"] > 0 and phase["broker_cpu_ms_per_mb"] > 0 and phase["broker_peak_rss_mb"] > 0
        assert cell["broker_errors"] == [], cell["broker_errors"]
        st = side["startup"]
        assert st["runs"] == 1 and 0 < st["accept_median_s"] <= st["metadata_median_s"]
        assert st["rss_after_start_median_mb"] > 0 and st["cpu_to_metadata_median_s"] > 0
    # The storage format is Kafka's alone and kept out of its start-up figure.
    assert kafka["startup"]["format_median_s"] > 0 and rep["startup"]["format_median_s"] == 0
    # The JVM itself was sampled: its 1 GiB heap is in use, far above a Python process.
    assert kafka["throughput"][0]["produce"]["broker_peak_rss_mb"] > 150

    rat = rep["ratios"]
    (row,) = rat["throughput"]
    o, k = rep["throughput"][0], kafka["throughput"][0]
    for phase in ("produce", "consume"):
        for fig in ("mb_per_s", "broker_cpu_ms_per_mb", "broker_peak_rss_mb"):
            assert row[phase][fig] == pytest.approx(o[phase][fig] / k[phase][fig]), (phase, fig)
    assert rat["startup"]["metadata_median_s"] == pytest.approx(
        rep["startup"]["metadata_median_s"] / kafka["startup"]["metadata_median_s"])

    text = proc.stdout
    assert "## Odradek\n" in text and "## Apache Kafka 4.4.0" in text and "## Odradek / Kafka" in text
    assert f"| 1024 B | 2 | 1 | {row['produce']['mb_per_s']:.2f}" in text
