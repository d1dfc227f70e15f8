"""bench/run.py --against kafka: the Odradek/Kafka ratios and how they are printed (no brokers)."""

from __future__ import annotations

import json

import pytest

def _phase(mb_per_s, cpu_ms, peak, rss, other=0.1, cores=0.5):
    return {"records_per_s": mb_per_s * 1000, "mb_per_s": mb_per_s, "broker_cores": cores, "broker_cpu_ms_per_mb": cpu_ms,
            "broker_peak_rss_mb": peak, "broker_rss_mb": rss, "client_cores": 0.8, "other_cores": other,
            "processes": 1, "complete": True, "probe_max_ms": 12.0}


def _cell(size, parts, acks, produce, consume):
    return {"record_bytes": size, "partitions": parts, "acks": acks, "produce": produce, "consume": consume}


def _reports():
    odr = {
        "throughput": [
            _cell(1024, 1, "1", _phase(400, 2.0, 50, 48), _phase(600, 0.6, 45, 44)),
            _cell(1024, 6, "all", _phase(300, 2.5, 50, 49, other=0.9), _phase(500, 0.7, 46, 45)),
            _cell(100, 1, "1", _phase(120, 1.5, 49, 48), _phase(130, 0.8, 46, 46)),  # Kafka has no such cell
        ],
        "requests": [{"max_in_flight": 1, "requests_per_s": 8000, "records_per_request": 1.0, "broker_cores": 0.6,
                      "broker_cpu_us_per_request": 75, "broker_peak_rss_mb": 47, "broker_rss_mb": 47,
                      "client_cores": 0.3, "other_cores": 0.05}],
        "latency": {"rate_per_s": 1000, "seconds": 3.0, "p50_ms": 3.0, "p90_ms": 5.0, "p99_ms": 8.0, "max_ms": 20.0,
                    "mean_ms": 3.5, "consumed": 3000, "produced": 3000, "broker_cores": 0.1, "broker_peak_rss_mb": 45,
                    "broker_rss_mb": 45, "other_cores": 0.0},
        "startup": {"runs": 3, "accept_median_s": 0.3, "metadata_median_s": 0.32, "ready_line_median_s": 0.31,
                    "rss_after_start_median_mb": 35, "cpu_to_metadata_median_s": 0.25, "format_median_s": 0.0},
        "errors": [],
    }
    kaf = {
        "throughput": [
            _cell(1024, 1, "1", _phase(500, 4.0, 600, 590), _phase(800, 1.2, 610, 600)),
            _cell(1024, 6, "all", _phase(600, 5.0, 620, 610), _phase(0, 1.0, 600, 600)),  # zero: no ratio
        ],
        "requests": [{"max_in_flight": 1, "requests_per_s": 16000, "records_per_request": 1.0, "broker_cores": 1.2,
                      "broker_cpu_us_per_request": 75, "broker_peak_rss_mb": 470, "broker_rss_mb": 470,
                      "client_cores": 0.3, "other_cores": 0.05},
                     {"max_in_flight": 5, "requests_per_s": 30000, "records_per_request": 1.0, "broker_cores": 1.5,
                      "client_cores": 0.4}],  # Odradek has no such cell
        "latency": {"rate_per_s": 1000, "seconds": 3.0, "p50_ms": 2.0, "p90_ms": 4.0, "p99_ms": 16.0, "max_ms": None,
                    "mean_ms": 2.5, "consumed": 3000, "produced": 3000, "broker_cores": 0.2, "broker_peak_rss_mb": 450,
                    "broker_rss_mb": 450, "other_cores": 0.5},
        "startup": {"runs": 3, "accept_median_s": 3.0, "metadata_median_s": 3.2, "ready_line_median_s": 3.1,
                    "rss_after_start_median_mb": 350, "cpu_to_metadata_median_s": 5.0, "format_median_s": 1.2},
    }
    return odr, kaf


def test_ratio_is_odradek_over_kafka_and_none_when_undefined(bench):
    assert bench.ratio(3.0, 2.0) == 1.5
    assert bench.ratio(0, 4) == 0.0
    for a, b in ((1, 0), (1, -1), (None, 1), (1, None), (float("nan"), 1), (1, float("nan")), (True, 1), ("1", 1)):
        assert bench.ratio(a, b) is None, (a, b)


def test_compute_ratios_matches_cells_by_parameters(bench):
    odr, kaf = _reports()
    rat = bench.compute_ratios(odr, kaf)
    json.dumps(rat)  # goes into the --json output as is
    assert rat["definition"] == "odradek / kafka"
    assert [(t["record_bytes"], t["partitions"], t["acks"]) for t in rat["throughput"]] == [(1024, 1, "1"), (1024, 6, "all")]
    first = rat["throughput"][0]
    assert first["produce"]["mb_per_s"] == pytest.approx(0.8)
    assert first["produce"]["records_per_s"] == pytest.approx(0.8)
    assert first["produce"]["broker_cpu_ms_per_mb"] == pytest.approx(0.5)
    assert first["produce"]["broker_peak_rss_mb"] == pytest.approx(50 / 600)
    assert first["consume"]["broker_rss_mb"] == pytest.approx(44 / 600)
    assert first["consume"]["mb_per_s"] == pytest.approx(0.75)
    second = rat["throughput"][1]
    assert second["produce"]["max_other_cores"] == pytest.approx(0.9)
    assert second["consume"]["mb_per_s"] is None  # Kafka's figure is 0
    assert rat["requests"] == [{
        "max_in_flight": 1, "requests_per_s": pytest.approx(0.5), "broker_cores": pytest.approx(0.5),
        "broker_cpu_us_per_request": pytest.approx(1.0), "broker_peak_rss_mb": pytest.approx(0.1),
        "broker_rss_mb": pytest.approx(0.1), "max_other_cores": 0.05,
    }]
    lat = rat["latency"]
    assert (lat["p50_ms"], lat["p99_ms"], lat["max_ms"]) == (pytest.approx(1.5), pytest.approx(0.5), None)
    assert lat["max_other_cores"] == 0.5
    st = rat["startup"]
    assert st["accept_median_s"] == pytest.approx(0.1)
    assert st["metadata_median_s"] == pytest.approx(0.1)
    assert st["rss_after_start_median_mb"] == pytest.approx(0.1)
    assert st["cpu_to_metadata_median_s"] == pytest.approx(0.05)


def test_compute_ratios_with_a_side_missing_a_phase(bench):
    odr, kaf = _reports()
    del odr["latency"]
    kaf["startup"] = None
    kaf["throughput"][0]["consume"] = None  # e.g. --no-consume, or a failed phase
    rat = bench.compute_ratios(odr, kaf)
    assert "latency" not in rat and "startup" not in rat
    assert rat["throughput"][0]["consume"]["mb_per_s"] is None
    assert rat["throughput"][0]["produce"]["mb_per_s"] == pytest.approx(0.8)


def test_render_ratios_prints_every_figure(bench):
    odr, kaf = _reports()
    text = bench.render_ratios(bench.compute_ratios(odr, kaf))
    lines = text.splitlines()
    assert lines[0] == "## Odradek / Kafka"
    row = next(ln for ln in lines if ln.startswith("| 1024 B | 1 | 1 |"))
    # produce MB/s, consume MB/s, CPU/MB produce and consume, peak RSS p/c, RSS at end p/c
    assert [c.strip() for c in row.strip("|").split("|")][3:] == [
        "0.80", "0.75", "0.50", "0.50", "0.08", "0.07", "0.08", "0.07", "0.10/0.10"]
    noisy = next(ln for ln in lines if ln.startswith("| 1024 B | 6 | all |"))
    assert "0.50 *" in noisy and "| - |" in noisy  # marked noisy (0.9 other cores); consume ratio undefined
    assert not any(ln.startswith("| 100 B") for ln in lines)
    assert "| 1 | 0.50 | 1.00 | 0.10 | 0.05 |" in text
    assert "| ratio | 1.50 * | 1.25 * | 0.50 * | - | 0.10 | 0.50 |" in text
    assert "| ratio | 0.10 | 0.10 | 0.10 | 0.10 | 0.05 |" in text


def test_render_of_each_side(bench):
    odr, kaf = _reports()
    text = bench.render(kaf, "Apache Kafka 4.4.0")
    assert text.startswith("## Apache Kafka 4.4.0")
    assert "storage format before spawn (not counted): 1200 ms" in text
    assert "to first Metadata answer 3.200 s" in text
    assert "| 1024 B | 1 | 1 | 1/1 | 500,000 | 500.0 | 0.50 | 4.00 | 600 |" in text
    assert "ERROR" not in text and "* = other" not in text  # the note and errors come once, at the end
    assert "Warm-up not settled" not in text
    kaf["throughput"][0].update(cell="tp-1024B-1p-acks1", warmup={"settled": False, "slices": []})
    kaf["latency"].update(cell="latency", warmup={"settled": True, "slices": []})
    assert ("Warm-up not settled within --warmup-max (broker CPU per unit of work still changing; see warmup.slices "
            "in the JSON): tp-1024B-1p-acks1\n") in bench.render(kaf, "Apache Kafka 4.4.0")
    plain = bench.render({**odr, "errors": [{"cell": "latency [kafka]", "error": "RuntimeError: boom"}]})
    assert "storage format" not in plain  # Odradek has nothing to format
    assert "* = other processes" in plain
    assert plain.splitlines()[-1] == "ERROR in latency [kafka]: RuntimeError: boom"


def _opts(warmup=2.0, warmup_max=30.0, tolerance=0.2):
    import argparse

    return argparse.Namespace(warmup=warmup, warmup_max=warmup_max, warmup_tolerance=tolerance)


def test_warm_up_runs_slices_until_cpu_per_unit_settles(bench):
    units = iter([1200.0, 380.0, 260.0, 240.0, 50.0])  # a JIT at work: CPU per request falls, then levels
    topics = []

    def run_slice(topic):
        topics.append(topic)
        return {"requests_per_s": 1000.0, "broker_cpu_us_per_request": next(units), "seconds": 2.0}

    w = bench.warm_up("requests", run_slice, _opts())
    assert w["settled"] is True
    assert topics == ["bench-warmup-1", "bench-warmup-2", "bench-warmup-3", "bench-warmup-4"]  # 260 -> 240: within 20 %
    assert [x["broker_cpu_per_unit"] for x in w["slices"]] == [1200.0, 380.0, 260.0, 240.0]
    assert w["unit"] == "broker CPU us per request"


def test_warm_up_stops_at_its_time_limit_and_says_so(bench):
    calls = []

    def run_slice(topic):
        calls.append(topic)
        return {"broker_cpu_us_per_request": 1000.0 / len(calls)}  # never settles

    w = bench.warm_up("requests", run_slice, _opts(warmup_max=0.0))
    assert w["settled"] is False and len(calls) == 1
    assert bench.warm_up("requests", run_slice, _opts(warmup=0)) is None  # no warm-up asked for
    assert len(calls) == 1


def test_warm_up_throughput_unit_counts_both_windows(bench):
    r = {"record_bytes": 1000, "produce": {"broker_cpu_s": 1.5, "records": 1_000_000}, "consume": {"broker_cpu_s": 0.5}}
    assert bench._cpu_per_unit("throughput", r) == pytest.approx(2.0 / 1000)  # s per MB
    assert bench._cpu_per_unit("throughput", {**r, "consume": None}) == pytest.approx(1.5 / 1000)
    assert bench._cpu_per_unit("latency", {"broker_cpu_s": 0.3, "consumed": 3000}) == pytest.approx(1e-4)
    assert bench._cpu_per_unit("latency", {"broker_cpu_s": 0.3, "consumed": 0}) is None
