"""The counters the hot path updates: plain integers, dicts and ring buffers on the event loop
thread (so no locks), touched once per request, per partition in a request, or per connection;
never per record (record counts come from the offsets a batch append was given).

The server holds one :class:`BrokerMetrics` as ``broker.metrics`` when ``metrics.listener`` is
set, and None otherwise, so every hook costs one ``is not None`` test when metrics are off.
"""

from __future__ import annotations

from bisect import bisect_left
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server.broker import Broker

RING = 1024  # the last requests per API whose latencies the quantile gauges are computed from
_MASK = RING - 1
# seconds; odradek_request_*_seconds histograms
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)

# Kafka's ReplicaManager does not count these produce errors as failed produce requests (they
# are "expected": FailedProduceRequestsPerSec is for unexpected failures), nor these fetch errors
# as failed fetch requests.
_PRODUCE_EXPECTED = frozenset({3, 6, 10, 18, 2, 56, 100})
_FETCH_EXPECTED = frozenset({3, 6, 75, 74, 9, 56, 1, 103, 100})
_REJECTED = frozenset({10, 18})  # MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE: BytesRejectedPerSec
_UNKNOWN_TOPIC = frozenset({3, 100})  # never reaches a topic's meters in Kafka
PRODUCE, FETCH = 0, 1


def parse_listener_url(value: str | None) -> tuple[str, int] | None:
    """``metrics.listener`` -> (host, port), None when empty. ``http://HOST:PORT`` (or
    ``HOST:PORT``); port 0 takes a free one."""
    from ..config import ConfigError as _ConfigError

    v = (value or "").strip()
    if not v:
        return None
    rest = v
    if "://" in v:
        scheme, rest = v.split("://", 1)
        if scheme.lower() != "http":
            raise _ConfigError(f"Invalid value {v} for configuration metrics.listener: only http:// is served")
    rest = rest.rstrip("/")
    if rest.endswith("/metrics"):
        rest = rest[: -len("/metrics")]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or "/" in host:
        raise _ConfigError(f"Invalid value {v} for configuration metrics.listener: expected http://HOST:PORT")
    host = host.strip("[]")
    return host, int(port)


class TopicStats:
    """Kafka's BrokerTopicMetrics meters of one topic (or of all topics), as totals."""

    __slots__ = ("messages_in", "bytes_in", "bytes_out", "bytes_rejected", "failed_produce", "failed_fetch",
                 "total_produce", "total_fetch")

    def __init__(self) -> None:
        self.messages_in = self.bytes_in = self.bytes_out = self.bytes_rejected = 0
        self.failed_produce = self.failed_fetch = self.total_produce = self.total_fetch = 0


class Histogram:
    """A Prometheus histogram: observations counted per bucket (cumulated at scrape time)."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        self.counts[bisect_left(self.bounds, v)] += 1
        self.sum += v
        self.count += 1


class RequestStats:
    """Kafka's RequestMetrics of one request name ("Produce", "FetchConsumer", ...): completed
    requests per version, error codes in responses, and the time parts of the last ``RING``
    requests (queue, local, remote, response queue, send, total, in seconds; request bytes)."""

    __slots__ = ("name", "versions", "errors", "ring", "count", "total", "local")

    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[int, int] = {}
        self.errors: dict[int, int] = {}
        self.ring: list[tuple | None] = [None] * RING
        self.count = 0
        self.total = Histogram(LATENCY_BUCKETS)
        self.local = Histogram(LATENCY_BUCKETS)

    def record(self, sample: tuple, version: int) -> None:
        self.ring[self.count & _MASK] = sample
        self.count += 1
        v = self.versions
        v[version] = v.get(version, 0) + 1
        h, x = self.total, sample[5]  # Histogram.observe, inlined: this runs for every request
        h.counts[bisect_left(LATENCY_BUCKETS, x)] += 1
        h.sum += x
        h.count += 1
        h, x = self.local, sample[1]
        h.counts[bisect_left(LATENCY_BUCKETS, x)] += 1
        h.sum += x
        h.count += 1

    def samples(self) -> list[tuple]:
        n = self.count
        return self.ring[:n] if n < RING else list(self.ring)  # type: ignore[return-value]


def count_errors(obj: Any, errors: dict[int, int]) -> None:
    """Every ``error_code`` in a response dict (top level and nested), as Kafka's
    ``AbstractResponse.errorCounts`` does for most responses."""
    code = obj.get("error_code")
    if code is not None:
        code = int(code)
        errors[code] = errors.get(code, 0) + 1
    for v in obj.values():
        t = type(v)
        if t is list:
            for x in v:
                if type(x) is dict:
                    count_errors(x, errors)
        elif t is dict:
            count_errors(v, errors)


class InFlight:
    """One request on its way through the broker: when its frame arrived, when its handler
    started and returned, when its answer was ready (after waiting in purgatory) and sent."""

    __slots__ = ("metrics", "stats", "api_key", "version", "arrival", "start", "local_end", "remote_end", "nbytes")

    def __init__(self, metrics: "BrokerMetrics", stats: tuple, api_key: int, version: int, arrival: float,
                 nbytes: int) -> None:
        self.metrics = metrics
        self.stats = stats  # the RequestStats to record into; the last one is the API's own name
        self.api_key = api_key
        self.version = version
        self.start = monotonic()
        self.arrival = arrival if arrival else self.start
        self.local_end = 0.0
        self.remote_end = 0.0
        self.nbytes = nbytes

    def park(self) -> None:
        """The handler returned a deferred answer: local time ends, remote time begins."""
        self.local_end = monotonic()

    def handled(self, result: Any, response: Any) -> None:
        """The answer is ready (``response`` is the framed Response, None for acks=0)."""
        now = monotonic()
        if not self.local_end:
            self.local_end = now
        self.remote_end = now
        key = self.api_key
        if key != PRODUCE and key != FETCH:  # those two count their partitions' errors themselves
            errors = self.stats[-1].errors
            if type(result) is dict:
                count_errors(result, errors)
            elif result is not None:
                errors[0] = errors.get(0, 0) + 1
        if response is None:
            self.finish(now, now)
        else:
            response.timing = self

    def finish(self, send_start: float, send_end: float) -> None:
        """The answer was written to the socket."""
        local_end, remote_end = self.local_end, self.remote_end
        sample = (self.start - self.arrival, local_end - self.start, remote_end - local_end,
                  send_start - remote_end, send_end - send_start, send_end - self.arrival, self.nbytes)
        for s in self.stats:
            s.record(sample, self.version)


class BrokerMetrics:
    """The counters of one broker, its metrics HTTP server and its event-loop monitor."""

    def __init__(self, broker: "Broker", listener: tuple[str, int]) -> None:
        from .loop import LoopMonitor

        self.broker = broker
        self.host, self.port = listener
        self.topics: dict[str, TopicStats] = {}
        self.all_topics = TopicStats()
        self.requests: dict[str, RequestStats] = {}
        self._by_key: dict[int, tuple[RequestStats, ...]] = {}
        self.replication_bytes_out = 0
        self.connections_created: dict[str, int] = {}
        self.connections_closed: dict[str, int] = {}
        self.loop = LoopMonitor()
        self.server = None
        self.started_at = time_now()
        # an API's stats are made on its first request (its name comes from its kio schema, which
        # decoding the request loads anyway); Produce's and Fetch's exist from the start
        self._by_key[PRODUCE] = (self._stats("Produce"),)
        self._fetch_consumer = (self._stats("FetchConsumer"), self._stats("Fetch"))
        self._fetch_follower = (self._stats("FetchFollower"), self._stats("Fetch"))
        self._produce_errors = self._stats("Produce").errors
        self._fetch_errors = self._stats("Fetch").errors

    def _stats(self, name: str) -> RequestStats:
        s = self.requests.get(name)
        if s is None:
            s = self.requests[name] = RequestStats(name)
        return s

    # --- lifecycle ------------------------------------------------------------------------------

    def loop_factory(self):
        """An event loop whose selector times how long the loop sits idle (for ``odradek serve``)."""
        return self.loop.new_event_loop()

    async def start(self) -> None:
        from .collector import Collector
        from .httpd import MetricsServer

        self.loop.start()
        self.server = MetricsServer(Collector(self.broker, self), self.host, self.port)
        try:
            await self.server.start()
        except OSError as e:
            raise OSError(e.errno, f"metrics.listener http://{self.host}:{self.port}: {e.strerror or e}") from None
        self.port = self.server.port

    async def stop(self) -> None:
        self.loop.stop()
        if self.server is not None:
            await self.server.stop()

    # --- requests (router and connection) ------------------------------------------------------

    def begin(self, conn: Any, api_key: int, version: int, request: Any, nbytes: int) -> InFlight:
        if api_key == FETCH:
            stats = self._fetch_follower if _replica_id(request, version) >= 0 else self._fetch_consumer
        else:
            stats = self._by_key.get(api_key)
            if stats is None:
                stats = self._by_key[api_key] = (self._stats(api_name(api_key)),)
        return InFlight(self, stats, api_key, version, conn.proto.arrived, nbytes)

    # --- produce and fetch (once per partition, never per record) --------------------------------

    def _topic(self, name: str) -> TopicStats:
        ts = self.topics.get(name)
        if ts is None:
            ts = self.topics[name] = TopicStats()
        return ts

    def produced(self, topic: str, nbytes: int, records: int) -> None:
        """A partition's batches were appended: ``records`` offsets were given to them."""
        ts, al = self._topic(topic), self.all_topics
        ts.total_produce += 1
        al.total_produce += 1
        ts.bytes_in += nbytes
        al.bytes_in += nbytes
        ts.messages_in += records
        al.messages_in += records

    def produce_failed(self, topic: str, code: int, nbytes: int) -> None:
        """A partition of a produce request to an existing topic was refused with ``code``."""
        ts, al = self._topic(topic), self.all_topics
        ts.total_produce += 1
        al.total_produce += 1
        code = int(code)
        if code in _REJECTED:
            ts.bytes_rejected += nbytes
            al.bytes_rejected += nbytes
        if code not in _PRODUCE_EXPECTED:
            ts.failed_produce += 1
            al.failed_produce += 1

    def produce_errors(self, results) -> None:
        """The error codes of a produce response, one per partition (``errors_total``)."""
        errors = self._produce_errors
        for _name, parts in results:
            for r in parts:
                code = int(r.error)
                errors[code] = errors.get(code, 0) + 1

    def counting(self, finish, follower: bool):
        """Fetch's ``finish`` (what was read -> the response's topics), counting what it is given."""

        def counted(topics):
            self.fetched(topics, follower)
            return finish(topics)

        return counted

    def fetched(self, topics, follower: bool) -> None:
        """A fetch response is about to be sent: bytes out (or replication bytes out for a
        follower), fetch requests and failures per topic, error codes per partition."""
        errors, al = self._fetch_errors, self.all_topics
        sent = 0
        for t in topics:
            name = t.name
            ts = None
            for p in t.partitions:
                code = int(p.error)
                errors[code] = errors.get(code, 0) + 1
                if not name or code in _UNKNOWN_TOPIC:
                    continue
                if ts is None:
                    ts = self._topic(name)
                ts.total_fetch += 1
                al.total_fetch += 1
                if code and code not in _FETCH_EXPECTED:
                    ts.failed_fetch += 1
                    al.failed_fetch += 1
                size = p.size
                if size:
                    if follower:
                        sent += size
                    else:
                        ts.bytes_out += size
                        al.bytes_out += size
        if sent:
            self.replication_bytes_out += sent

    # --- connections ---------------------------------------------------------------------------

    def connection_opened(self, listener: str) -> None:
        c = self.connections_created
        c[listener] = c.get(listener, 0) + 1

    def connection_closed(self, listener: str) -> None:
        c = self.connections_closed
        c[listener] = c.get(listener, 0) + 1


def time_now() -> float:
    import time

    return time.time()


def api_name(key: int) -> str:
    """Kafka's name of an API key (``ApiKeys.name``): the request message's name without "Request"."""
    from ..protocol import messages
    from ..server.router import APIS

    api = APIS.get(key)
    try:
        name = messages.request_schema(key, api.max_version if api else 0).__name__
    except Exception:  # noqa: BLE001
        return f"ApiKey{key}"
    return name[: -len("Request")] if name.endswith("Request") else name


def _replica_id(request: Any, version: int) -> int:
    if version >= 15:
        state = getattr(request, "replica_state", None)
        return state.replica_id if state is not None else -1
    return getattr(request, "replica_id", -1)
