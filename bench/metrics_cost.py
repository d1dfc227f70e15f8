#!/usr/bin/env python3
"""What metrics cost the hot path: the same cells of bench/run.py with ``metrics.listener`` off and
on, interleaved, in one run.

    python3 bench/run.py metrics-cost                 # 3 rounds of each cell, off and on alternately
    python3 bench/run.py metrics-cost --quick         # 2 rounds, 2 s windows
    python3 bench/run.py metrics-cost --json out.json

With metrics on, a scraper thread GETs /metrics every ``--scrape-interval`` seconds (1 s: fifteen
times what a usual Prometheus does) for the whole cell, so the figures include rendering as well as
the per-request counting. Cells: one-record produce requests (max.in.flight 5: the per-request
cost shows most there) and two throughput cells. The figure compared is the broker's CPU per unit of
work (per request, per MB produced and per MB consumed), which load on a shared machine disturbs
less than rates; the rates are reported too. Each cell starts a fresh broker, as in run.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: the cells, the broker, the samplers)


class Scraper:
    """GET /metrics every ``interval`` s until stopped; how long each took and how big it was."""

    def __init__(self, port: int, interval: float) -> None:
        self.port, self.interval = port, interval
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Scraper":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
                    n = len(r.read())
            except OSError:
                self.errors += 1  # the broker of the cell is not up yet, or already gone
                continue
            self.times.append(time.perf_counter() - t)
            self.sizes.append(n)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(15)
        ts = sorted(self.times)
        return {"scrapes": len(ts), "scrape_p50_ms": ts[len(ts) // 2] * 1000 if ts else None,
                "scrape_max_ms": ts[-1] * 1000 if ts else None,
                "scrape_bytes": max(self.sizes) if self.sizes else None}


def _opts(args) -> argparse.Namespace:
    """The settings run.py's cells read, at run.py's defaults."""
    return argparse.Namespace(
        keep_logs=None, profile=None, producers="auto", consumers="auto", no_consume=False,
        duration=args.duration, max_records=5_000_000, req_duration=args.duration,
    )


def _cells(args):
    opts = _opts(args)
    return [
        ("requests in-flight 5", lambda: run.run_requests_cell(5, opts), _requests_figures),
        ("throughput 100 B 1p acks=1", lambda: run.run_throughput_cell(100, 1, "1", opts), _throughput_figures),
        ("throughput 1024 B 6p acks=1", lambda: run.run_throughput_cell(1024, 6, "1", opts), _throughput_figures),
    ]


def _requests_figures(c: dict) -> dict:
    return {"requests_per_s": c["requests_per_s"], "broker_cores": c["broker_cores"],
            "broker_us_per_request": c["broker_cores"] / c["requests_per_s"] * 1e6, "other_cores": c["other_cores"]}


def _throughput_figures(c: dict) -> dict:
    p, q = c["produce"], c.get("consume") or {}
    out = {"produce_records_per_s": p["records_per_s"], "produce_broker_cores": p["broker_cores"],
           "produce_broker_ms_per_mb": p["broker_cores"] / p["mb_per_s"] * 1000 if p["mb_per_s"] else None,
           "other_cores": max(p.get("other_cores") or 0, q.get("other_cores") or 0)}
    if q:
        out.update({"consume_records_per_s": q["records_per_s"], "consume_broker_cores": q["broker_cores"],
                    "consume_broker_ms_per_mb": q["broker_cores"] / q["mb_per_s"] * 1000 if q["mb_per_s"] else None})
    return out


def run_variant(fn, metrics: bool, base_overrides: list[str], interval: float) -> dict:
    port = run.free_port()
    run.Broker.overrides = base_overrides + ([f"metrics.listener=http://127.0.0.1:{port}"] if metrics else [])
    scraper = Scraper(port, interval).start() if metrics else None
    try:
        cell = fn()
    finally:
        scraped = scraper.stop() if scraper is not None else {}
        run.Broker.overrides = base_overrides
    return {"cell": cell, "scrape": scraped}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run.py metrics-cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds of 2 s windows")
    ap.add_argument("--rounds", type=int, help="rounds of (off, on) per cell (3; quick 2)")
    ap.add_argument("--duration", type=float, help="measured window per cell, s (5; quick 2)")
    ap.add_argument("--scrape-interval", type=float, default=1.0, metavar="S")
    ap.add_argument("--only", help="comma list of cell numbers to run (1: requests, 2: 100 B, 3: 1 KiB)")
    ap.add_argument("--wait-quiet", type=float, default=15.0, metavar="S",
                    help="before each run wait up to S s for other processes to drop under 0.3 cores")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    base = list(run.Broker.overrides)
    cells = _cells(args)
    if args.only:
        cells = [cells[int(i) - 1] for i in args.only.split(",")]
    report: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": run._git_rev(),
                    "settings": vars(args), "cells": []}
    t0 = time.perf_counter()
    for label, fn, figures in cells:
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")  # neither always goes first
            for variant in order:
                quiet = run.wait_for_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
                print(f"[{time.perf_counter() - t0:6.1f}s] {label}, metrics {variant}, round {r + 1}"
                      + (f" (other load before: {quiet:.2f} cores)" if quiet is not None else ""),
                      file=sys.stderr, flush=True)
                res = run_variant(fn, variant == "on", base, args.scrape_interval)
                runs[variant].append({**figures(res["cell"]), **res["scrape"]})
        report["cells"].append({"cell": label, "runs": runs, "median": {
            v: {k: statistics.median(x[k] for x in rs if x.get(k) is not None)
                for k in rs[0] if any(x.get(k) is not None for x in rs)}
            for v, rs in runs.items()}})
    report["total_seconds"] = time.perf_counter() - t0
    print()
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


def render(report: dict) -> str:
    out = ["| cell | figure | metrics off | metrics on | on/off |", "|---|---|---|---|---|"]
    for c in report["cells"]:
        off, on = c["median"]["off"], c["median"]["on"]
        for k, v in off.items():
            if k not in on or k.startswith("scrape"):
                continue
            ratio = on[k] / v if v else float("nan")
            out.append(f"| {c['cell']} | {k} | {v:,.2f} | {on[k]:,.2f} | {ratio:.3f} |")
        if on.get("scrapes"):
            out.append(f"| {c['cell']} | scrapes: count, p50 / max ms, bytes | | {on['scrapes']:.0f}, "
                       f"{on['scrape_p50_ms']:.1f} / {on['scrape_max_ms']:.1f}, {on['scrape_bytes']:,.0f} | |")
    out.append(f"\nmedians of {len(report['cells'][0]['runs']['off']) if report['cells'] else 0} runs each; "
               "other_cores = CPU other processes used in the window (2-core machine)")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
