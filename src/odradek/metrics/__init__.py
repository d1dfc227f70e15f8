"""Prometheus metrics of one broker, named as Kafka's metrics come out of the Prometheus JMX exporter
with its standard Kafka rules (so the Strimzi and jmx_exporter dashboards and alert rules work
unchanged), plus consumer lag as kafka_exporter names it and native histograms under ``odradek_``.

- :mod:`.registry` the counters the hot path touches: plain integers and small ring buffers,
  updated once per request, per partition or per batch on the event loop thread (no locks, no
  per-record work), and nothing at all when ``metrics.listener`` is unset (``broker.metrics`` is None)
- :mod:`.collector` reads them, and the state the broker already keeps (partitions, logs,
  connections, groups, the controller), into metric families at scrape time
- :mod:`.exposition` the Prometheus text format (0.0.4)
- :mod:`.httpd` the tiny HTTP server on the broker's event loop (``GET /metrics`` only)
- :mod:`.loop` event-loop idle time (a timed selector) and lag (a ticker)

This package reads the server's objects; nothing outside :mod:`odradek.server` imports it.
docs/metrics.md lists every metric.
"""

from .registry import BrokerMetrics, parse_listener_url

__all__ = ["BrokerMetrics", "parse_listener_url"]
