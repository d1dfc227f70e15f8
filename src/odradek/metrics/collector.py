"""Scrape time: the counters of :mod:`.registry` and the state the broker already keeps, read into
metric families.

Names and labels are Kafka's metrics as the Prometheus JMX exporter names them with the standard
Kafka rules (Strimzi's ``kafka-metrics.yaml``, jmx_exporter's ``kafka-2_0_0.yml``): a meter's count
is ``kafka_<domain>_<type>_<name without PerSec>_total``, a gauge ``kafka_<domain>_<type>_<name>``
with the bean's keys as labels, a histogram a ``quantile`` gauge plus ``_count``. Consumer lag and
topic offsets are kafka_exporter's series. Each family is built from plain integers and the
broker's dicts, on the event loop, without awaiting inside one (so nothing changes under it);
rendering gives the loop back between families when it has taken more than a few milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import resource
import sys
from time import monotonic
from typing import TYPE_CHECKING, Callable, Iterator

from .exposition import Family, labels, number
from .registry import LATENCY_BUCKETS, BrokerMetrics, RequestStats

if TYPE_CHECKING:
    from ..server.broker import Broker

# Yammer histogram attributes as the exporter's rules turn them into quantile labels ("0.$N")
QUANTILES = ((0.50, "0.50"), (0.75, "0.75"), (0.95, "0.95"), (0.98, "0.98"), (0.99, "0.99"), (0.999, "0.999"))
# RequestMetrics histograms: (Kafka's name lowercased, index in a RequestStats sample, scale)
TIME_PARTS = (
    ("requestqueuetimems", 0, 1000.0, "Time the request waited before its handler started, ms"),
    ("localtimems", 1, 1000.0, "Time in the request's handler, ms"),
    ("remotetimems", 2, 1000.0, "Time the request waited in purgatory (acks=all, fetch long poll, joins), ms"),
    ("throttletimems", None, 1.0, "Time the response was throttled, ms (Odradek does not throttle: 0)"),
    ("responsequeuetimems", 3, 1000.0, "Time the response waited behind earlier responses of its connection, ms"),
    ("responsesendtimems", 4, 1000.0, "Time writing the response to the socket took, ms"),
    ("totaltimems", 5, 1000.0, "Time from the request's arrival to its response sent, ms"),
    ("requestbytes", 6, 1.0, "Size of requests, bytes"),
)
# Router API keys whose deferred answers wait in one of Kafka's purgatories
PURGATORY = {0: "Produce", 1: "Fetch", 11: "Rebalance", 14: "Rebalance", 21: "DeleteRecords", 19: "topic",
             20: "topic", 43: "ElectLeader"}
YIELD_AFTER = 0.005  # s of rendering before the loop gets a turn
CHUNK = 200  # partitions between the points where it may
# APIs whose time series are served from the start (dashboards' request panels); others once used
ALWAYS = ("Produce", "Fetch", "FetchConsumer", "FetchFollower")
P = "0"  # networkProcessor: one event loop


def _quantile(sorted_values: list[float], q: float) -> float:
    """Yammer's snapshot quantile (linear between the two nearest samples)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    pos = q * (n + 1)
    if pos < 1:
        return sorted_values[0]
    if pos >= n:
        return sorted_values[-1]
    lo = sorted_values[int(pos) - 1]
    hi = sorted_values[int(pos)]
    return lo + (pos - int(pos)) * (hi - lo)


class Collector:
    def __init__(self, broker: "Broker", metrics: BrokerMetrics) -> None:
        self.broker = broker
        self.m = metrics
        self._sorted: dict[str, tuple[int, list[list[str]]]] = {}  # API -> (count, its quantile lines)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def groups(self) -> list[Callable[[], Iterator[Family]]]:
        return [self.broker_topic, self.requests, self.request_times, self.replica_manager, self.partitions,
                self.controller, self.exporter_topics, self.consumer_groups, self.network, self.process]

    async def render(self) -> bytes:
        """Every family as text. A group yields None where the loop may get a turn (between
        chunks of partitions); it does when rendering has held it for ``YIELD_AFTER``."""
        out: list[str] = []
        t = monotonic()
        for group in self.groups():
            for fam in group():
                if fam is not None:
                    if fam.lines:
                        out.append(fam.text())
                    continue
                if monotonic() - t > YIELD_AFTER:
                    await asyncio.sleep(0)
                    t = monotonic()
            if monotonic() - t > YIELD_AFTER:
                await asyncio.sleep(0)
                t = monotonic()
        return "".join(out).encode()

    def render_now(self) -> str:
        """All families at once (tests and tools)."""
        return "".join(f.text() for g in self.groups() for f in g() if f is not None and f.lines)

    # --- BrokerTopicMetrics -----------------------------------------------------------------------

    def broker_topic(self) -> Iterator[Family]:
        m = self.m
        topics = self.broker.store.topics()
        for name in [n for n in m.topics if n not in topics]:
            del m.topics[name]  # deleted: its meters go, as Kafka removes them
        per_topic = sorted(m.topics.items())
        meters = (
            ("messagesin", "messages_in", "Records appended by produce requests"),
            ("bytesin", "bytes_in", "Bytes of record batches appended by produce requests (not replication)"),
            ("bytesout", "bytes_out", "Bytes of records sent to consumers (not replication)"),
            ("bytesrejected", "bytes_rejected", "Bytes of produced batches refused as too large"),
            ("failedproducerequests", "failed_produce", "Partitions of produce requests that failed unexpectedly"),
            ("failedfetchrequests", "failed_fetch", "Partitions of fetch requests that failed unexpectedly"),
            ("totalproducerequests", "total_produce", "Partitions in produce requests"),
            ("totalfetchrequests", "total_fetch", "Partitions in fetch requests (consumers and followers)"),
        )
        for short, attr, help_ in meters:
            f = Family(f"kafka_server_brokertopicmetrics_{short}_total", "counter", help_)
            f.add(getattr(m.all_topics, attr))
            for name, ts in per_topic:
                f.add(getattr(ts, attr), labels(("topic", name)))
            yield f
        for short, help_ in (("producemessageconversions", "Produced batches converted (never: 0)"),
                             ("fetchmessageconversions", "Fetched batches converted (never: 0)")):
            f = Family(f"kafka_server_brokertopicmetrics_{short}_total", "counter", help_)
            f.add(0)
            for name, _ts in per_topic:
                f.add(0, labels(("topic", name)))
            yield f
        cluster = self.broker.cluster
        f = Family("kafka_server_brokertopicmetrics_replicationbytesin_total", "counter",
                   "Bytes this broker copied from leaders as a follower")
        f.add(getattr(cluster, "replication_bytes_in", 0))
        yield f
        f = Family("kafka_server_brokertopicmetrics_replicationbytesout_total", "counter",
                   "Bytes of records sent to followers")
        f.add(m.replication_bytes_out)
        yield f

    # --- RequestMetrics ---------------------------------------------------------------------------

    def requests(self) -> Iterator[Family]:
        from ..protocol.errors import ErrorCode

        reqs = sorted(self.m.requests.items())
        f = Family("kafka_network_requestmetrics_requests_total", "counter", "Requests answered, per API and version")
        for name, s in reqs:
            for v, n in sorted(s.versions.items()):
                f.add(n, labels(("request", name), ("version", v)))
        yield f
        f = Family("kafka_network_requestmetrics_errors_total", "counter",
                   "Error codes in responses (NONE = success), per API")
        for name, s in reqs:
            for code, n in sorted(s.errors.items()):
                try:
                    err = ErrorCode(code).name.upper()
                except ValueError:
                    err = f"UNKNOWN_{code}"
                f.add(n, labels(("request", name), ("error", err)))
        yield f
        for fam_name, hist_attr, help_ in (
            ("odradek_request_duration_seconds", "total", "Time from a request's arrival to its response sent"),
            ("odradek_request_local_duration_seconds", "local", "Time in a request's handler"),
        ):
            f = Family(fam_name, "histogram", help_)
            for name, s in reqs:
                h = getattr(s, hist_attr)
                if h.count:
                    f.histogram(LATENCY_BUCKETS, h.counts, h.sum, (("request", name),))
            yield f

    def request_times(self) -> Iterator[Family | None]:
        """Quantiles of each time part over the last requests of an API, and their count. An API
        has series once it has served a request (the fetch and produce ones from the start)."""
        reqs = [(n, s) for n, s in sorted(self.m.requests.items()) if s.count or n in ALWAYS]
        lines = {}
        for name, s in reqs:
            lines[name] = self._time_lines(s)
            yield None
        for k, (short, _idx, _scale, help_) in enumerate(TIME_PARTS):
            f = Family(f"kafka_network_requestmetrics_{short}", "gauge", help_ + " (quantiles of the last 1024 requests)")
            c = Family(f"kafka_network_requestmetrics_{short}_count", "counter", help_ + ": requests measured")
            for name, s in reqs:
                f.lines.extend(lines[name][k])
                c.add(s.count, labels(("request", name)))
            yield f
            yield c

    def _time_lines(self, s: RequestStats) -> list[list[str]]:
        """An API's quantile lines per time part (cached until it serves another request)."""
        cached = self._sorted.get(s.name)
        if cached is not None and cached[0] == s.count:
            return cached[1]
        samples = s.samples()
        out = []
        for short, idx, scale, _help in TIME_PARTS:
            values = sorted(x[idx] for x in samples) if idx is not None else []
            out.append([f'kafka_network_requestmetrics_{short}{{request="{s.name}",quantile="{qs}"}} '
                        f"{number(_quantile(values, q) * scale)}" for q, qs in QUANTILES])
        self._sorted[s.name] = (s.count, out)
        return out

    # --- ReplicaManager, Partition, Log -------------------------------------------------------------

    def _min_isr(self) -> Callable[[str], int]:
        cache: dict[str, int] = {}

        def get(topic: str) -> int:
            v = cache.get(topic)
            if v is None:
                try:
                    v = cache[topic] = int(self.broker.topic_config(topic)["min.insync.replicas"])
                except Exception:  # noqa: BLE001  (a topic deleted meanwhile)
                    v = cache[topic] = 1
            return v

        return get

    def replica_manager(self) -> Iterator[Family]:
        broker = self.broker
        min_isr = self._min_isr()
        leaders = total = urp = under_min = at_min = offline = 0
        for (t, _p), part in broker.partitions.items():
            total += 1
            if part.log.offline:
                offline += 1
            if not part.is_leader:
                continue
            leaders += 1
            isr = len(part.isr)
            if isr < len(part.replicas):
                urp += 1
            mi = min_isr(t)
            if isr < mi:
                under_min += 1
            elif isr == mi:
                at_min += 1
        cluster = broker.cluster
        for name, value, help_ in (
            ("leadercount", leaders, "Partitions this broker leads"),
            ("partitioncount", total, "Partitions this broker hosts (leader or follower)"),
            ("underreplicatedpartitions", urp, "Partitions led here whose ISR is smaller than their replicas"),
            ("underminisrpartitioncount", under_min, "Partitions led here whose ISR is below min.insync.replicas"),
            ("atminisrpartitioncount", at_min, "Partitions led here whose ISR is exactly min.insync.replicas"),
            ("offlinereplicacount", offline, "Partitions hosted here whose log is offline (storage error)"),
        ):
            f = Family(f"kafka_server_replicamanager_{name}", "gauge", help_)
            f.add(value)
            yield f
        for name, attr, help_ in (
            ("isrshrinks", "isr_shrinks", "ISR shrinks this broker wrote as leader"),
            ("isrexpands", "isr_expands", "ISR expansions this broker wrote as leader"),
            ("failedisrupdates", "failed_isr_updates", "ISR changes that lost a race in ZooKeeper"),
        ):
            f = Family(f"kafka_server_replicamanager_{name}_total", "counter", help_)
            f.add(getattr(cluster, attr, 0))
            yield f
        f = Family("kafka_log_logmanager_offlinelogdirectorycount", "gauge", "Log directories that could not be read")
        f.add(len(getattr(broker.logs, "offline_dirs", ())))
        yield f
        f = Family("kafka_server_kafkaserver_brokerstate", "gauge", "Broker state (3 = RUNNING)")
        f.add(3)
        yield f

    def partitions(self) -> Iterator[Family]:
        """kafka.cluster Partition and kafka.log Log gauges, per partition hosted here."""
        broker = self.broker
        min_isr = self._min_isr()
        names = ("underreplicated", "insyncreplicascount", "underminisr", "atminisr", "replicascount",
                 "laststableoffsetlag")
        helps = ("1 when led here and the ISR is smaller than the replicas", "ISR size (leader only, else 0)",
                 "1 when led here and the ISR is below min.insync.replicas",
                 "1 when led here and the ISR is exactly min.insync.replicas", "Replicas (leader only, else 0)",
                 "High watermark minus last stable offset (open transactions)")
        cf = [Family(f"kafka_cluster_partition_{n}", "gauge", h) for n, h in zip(names, helps)]
        lnames = (("size", "Bytes of the partition's log segments"), ("logendoffset", "Log end offset"),
                  ("logstartoffset", "Log start offset"), ("numlogsegments", "Segments in the log"))
        lf = [Family(f"kafka_log_log_{n}", "gauge", h) for n, h in lnames]
        cl = [(f.name, f.lines) for f in cf]
        ll = [(f.name, f.lines) for f in lf]
        for i, ((t, p), part) in enumerate(sorted(broker.partitions.items())):
            if i and not i % CHUNK:
                yield None
            lab = labels(("topic", t), ("partition", p))
            lg = part.log
            try:
                hw, lso = lg.high_watermark, lg.last_stable_offset
                leo, lstart = lg.log_end_offset, lg.log_start_offset
                size, nseg = lg.size_bytes, len(lg.segments)
            except Exception:  # noqa: BLE001  (an offline log)
                hw = lso = leo = lstart = size = nseg = 0
            if part.is_leader:
                isr, reps, mi = len(part.isr), len(part.replicas), min_isr(t)
                vals = (int(isr < reps), isr, int(isr < mi), int(isr == mi), reps, max(0, hw - lso))
            else:
                vals = (0, 0, 0, 0, 0, max(0, hw - lso))
            for (n, lines), v in zip(cl, vals):
                lines.append(f"{n}{lab} {v}")
            for (n, lines), v in zip(ll, (size, leo, lstart, nseg)):
                lines.append(f"{n}{lab} {v}")
        yield from cf
        yield from lf

    # --- controller --------------------------------------------------------------------------------

    def _is_controller(self) -> bool:
        cluster = self.broker.cluster
        return True if cluster is None else bool(cluster.controller.active)

    def controller(self) -> Iterator[Family]:
        broker = self.broker
        active = self._is_controller()
        offline = topics = parts = imbalance = 0
        if active:
            for meta in broker.store.topics().values():
                topics += 1
                for st in meta.partitions.values():
                    parts += 1
                    if st.leader < 0:
                        offline += 1
                    elif st.replicas and st.leader != st.replicas[0]:
                        imbalance += 1
        for name, value, help_ in (
            ("activecontrollercount", int(active), "1 on the broker that is the controller"),
            ("offlinepartitionscount", offline, "Partitions without a leader (controller only)"),
            ("globaltopiccount", topics, "Topics in the cluster (controller only)"),
            ("globalpartitioncount", parts, "Partitions in the cluster (controller only)"),
            ("preferredreplicaimbalancecount", imbalance,
             "Partitions not led by their preferred replica (controller only)"),
        ):
            f = Family(f"kafka_controller_kafkacontroller_{name}", "gauge", help_)
            f.add(value)
            yield f
        f = Family("kafka_controller_controllerstats_uncleanleaderelections_total", "counter",
                   "Leaders this controller elected from outside the ISR")
        ctl = getattr(broker.cluster, "controller", None)
        f.add(getattr(ctl, "unclean_elections", 0))
        yield f

    # --- kafka_exporter ----------------------------------------------------------------------------

    def exporter_topics(self) -> Iterator[Family]:
        """kafka_exporter's broker and topic series. Cluster-wide ones come from the controller, a
        partition's from its leader, so summing over brokers counts each once."""
        broker = self.broker
        if self._is_controller():
            live = broker.live_brokers()
            f = Family("kafka_brokers", "gauge", "Brokers in the cluster")
            f.add(len(live))
            yield f
            f = Family("kafka_broker_info", "gauge", "A broker of the cluster")
            for bid, host, port, _rack in live:
                f.add(1, labels(("id", bid), ("address", f"{host}:{port}")))
            yield f
            f = Family("kafka_topic_partitions", "gauge", "Partitions of a topic")
            for name, meta in sorted(broker.store.topics().items()):
                f.add(len(meta.partitions), labels(("topic", name)))
            yield f
        spec = (("current_offset", "Newest offset (high watermark) of a partition led here"),
                ("oldest_offset", "Oldest offset (log start) of a partition led here"),
                ("leader", "Leader broker id"), ("replicas", "Replicas of the partition"),
                ("in_sync_replica", "In-sync replicas of the partition"),
                ("leader_is_preferred", "1 when the leader is the preferred replica"),
                ("under_replicated_partition", "1 when the ISR is smaller than the replicas"))
        fams = [Family(f"kafka_topic_partition_{n}", "gauge", h) for n, h in spec]
        fl = [(f.name, f.lines) for f in fams]
        for i, ((t, p), part) in enumerate(sorted(broker.partitions.items())):
            if i and not i % CHUNK:
                yield None
            if not part.is_leader:
                continue
            lab = labels(("topic", t), ("partition", p))
            try:
                hw, start = part.high_watermark, part.log_start_offset
            except Exception:  # noqa: BLE001
                continue
            reps, isr = part.replicas, part.isr
            vals = (hw, start, part.leader, len(reps), len(isr), int(bool(reps) and reps[0] == part.leader),
                    int(len(isr) < len(reps)))
            for (n, lines), v in zip(fl, vals):
                lines.append(f"{n}{lab} {v}")
        yield from fams

    def consumer_groups(self) -> Iterator[Family]:
        """kafka_exporter's consumer group series, from the groups this broker coordinates: their
        committed offsets, and the high watermarks of the partitions hosted here (a partition
        hosted elsewhere has no lag series here)."""
        broker = self.broker
        coord = broker.coordinator
        topics = broker.store.topics()
        members = Family("kafka_consumergroup_members", "gauge", "Members of a consumer group")
        for g in sorted(coord.list_groups(), key=lambda g: g.group_id):
            members.add(len(g.members), labels(("consumergroup", g.group_id)))
        cur = Family("kafka_consumergroup_current_offset", "gauge", "Committed offset of a group (-1: none)")
        cur_sum = Family("kafka_consumergroup_current_offset_sum", "gauge", "Committed offsets of a group in a topic, summed")
        lag = Family("kafka_consumergroup_lag", "gauge", "High watermark minus committed offset (-1: nothing committed)")
        lag_sum = Family("kafka_consumergroup_lag_sum", "gauge", "Lag of a group in a topic, summed")
        for gid, offsets in sorted(coord.offsets.items()):
            for t in sorted({tp[0] for tp in offsets}):
                meta = topics.get(t)
                if meta is None:
                    continue
                csum = lsum = 0
                for p in sorted(meta.partitions):
                    c = offsets.get((t, p))
                    committed = c.offset if c is not None else -1
                    lab = labels(("consumergroup", gid), ("topic", t), ("partition", p))
                    cur.add(committed, lab)
                    csum += committed
                    part = broker.partitions.get((t, p))
                    if part is None:
                        continue
                    if committed < 0:
                        lag.add(-1, lab)
                    else:
                        v = max(0, part.high_watermark - committed)
                        lag.add(v, lab)
                        lsum += v
                tl = labels(("consumergroup", gid), ("topic", t))
                cur_sum.add(csum, tl)
                lag_sum.add(lsum, tl)
        yield from (members, cur, cur_sum, lag, lag_sum)

    # --- network -----------------------------------------------------------------------------------

    def network(self) -> Iterator[Family]:
        broker, m = self.broker, self.m
        by_listener = {lst.name: 0 for lst in broker.listeners}
        frames = ready = 0
        purgatory = {"Produce": 0, "Fetch": 0}
        for conn in list(broker.connections):
            name = conn.listener.name
            by_listener[name] = by_listener.get(name, 0) + 1
            frames += conn.proto.pending_frames()
            waiting, done = conn.pending_responses()
            ready += done
            for key in waiting:
                op = PURGATORY.get(key)
                if op is not None:
                    purgatory[op] = purgatory.get(op, 0) + 1
        f = Family("kafka_server_socket_server_metrics_connection_count", "gauge", "Open connections per listener")
        for name, n in sorted(by_listener.items()):
            f.add(n, labels(("listener", name), ("networkProcessor", P)))
        yield f
        for short, counts, help_ in (("connection_creation_total", m.connections_created, "Connections accepted"),
                                     ("connection_close_total", m.connections_closed, "Connections closed")):
            f = Family(f"kafka_server_socket_server_metrics_{short}", "counter", help_ + " per listener")
            for name in sorted(by_listener):
                f.add(counts.get(name, 0), labels(("listener", name), ("networkProcessor", P)))
            yield f
        f = Family("kafka_network_requestchannel_requestqueuesize", "gauge", "Requests received, not yet handled")
        f.add(frames)
        yield f
        f = Family("kafka_network_requestchannel_responsequeuesize", "gauge", "Responses ready, not yet written")
        f.add(ready)
        yield f
        for metric in ("purgatorysize", "numdelayedoperations"):
            f = Family(f"kafka_server_delayedoperationpurgatory_{metric}", "gauge",
                       "Requests waiting in purgatory (acks=all produce, fetch long poll, ...)")
            for op, n in sorted(purgatory.items()):
                f.add(n, labels(("delayedOperation", op)))
            yield f
        idle = m.loop.idle_fraction()
        if idle is not None:
            for name, help_ in (
                ("kafka_network_socketserver_networkprocessoravgidlepercent", "Event loop idle fraction, 1 min average"),
                ("kafka_network_socketserver_networkprocessoravgidle_percent", "Event loop idle fraction, 1 min average"),
                ("kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent",
                 "Event loop idle fraction, 1 min average (one loop handles requests too)"),
            ):
                f = Family(name, "gauge", help_)
                f.add(idle)
                yield f
            f = Family("kafka_network_processor_idle_percent", "gauge", "Event loop idle fraction, 1 min average")
            f.add(idle, labels(("networkProcessor", P)))
            yield f
            f = Family("odradek_event_loop_idle_seconds_total", "counter", "Seconds the event loop waited in select()")
            f.add(m.loop.idle_seconds())
            yield f
        f = Family("odradek_event_loop_lag_seconds", "histogram",
                   "How late a timer set every 100 ms ran (time the loop was busy elsewhere)")
        h = m.loop.lag
        if h.count:
            f.histogram(h.bounds, h.counts, h.sum)
        yield f

    # --- process -----------------------------------------------------------------------------------

    def process(self) -> Iterator[Family]:
        t = os.times()
        f = Family("process_cpu_seconds_total", "counter", "User and system CPU time, seconds")
        f.add(t.user + t.system)
        yield f
        try:
            with open("/proc/self/statm") as fh:
                vms, rss = fh.read().split()[:2]
            f = Family("process_virtual_memory_bytes", "gauge", "Virtual memory size, bytes")
            f.add(int(vms) * self._page)
            yield f
            f = Family("process_resident_memory_bytes", "gauge", "Resident memory size, bytes")
            f.add(int(rss) * self._page)
            yield f
        except OSError:
            pass
        try:
            n = len(os.listdir("/proc/self/fd"))
            f = Family("process_open_fds", "gauge", "Open file descriptors")
            f.add(n)
            yield f
        except OSError:
            pass
        f = Family("process_max_fds", "gauge", "Limit of open file descriptors")
        f.add(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        yield f
        f = Family("process_start_time_seconds", "gauge", "Start time of the process since the epoch, seconds")
        f.add(self._start_time())
        yield f
        io = _proc_io()
        if io is not None:
            for key, short in (("read_bytes", "read"), ("write_bytes", "write")):
                f = Family(f"kafka_server_kafkaserver_linux_disk_{short}_bytes", "gauge",
                           f"Bytes the process caused to be {short} from storage (/proc/self/io)")
                f.add(io.get(key, 0))
                yield f
        f = Family("python_info", "gauge", "Python platform information")
        v = sys.version_info
        f.add(1, labels(("implementation", platform.python_implementation()), ("major", v.major), ("minor", v.minor),
                        ("patchlevel", v.micro), ("version", platform.python_version())))
        yield f
        stats = gc.get_stats()
        for key, short, help_ in (("collected", "objects_collected", "Objects collected by the GC"),
                                  ("uncollectable", "objects_uncollectable", "Uncollectable objects found by the GC"),
                                  ("collections", "collections", "Times each generation was collected")):
            f = Family(f"python_gc_{short}_total", "counter", help_)
            for gen, st in enumerate(stats):
                f.add(st.get(key, 0), labels(("generation", gen)))
            yield f
        from .. import __version__

        f = Family("odradek_build_info", "gauge", "Odradek's version and this broker's id")
        f.add(1, labels(("version", __version__), ("broker_id", self.broker.broker_id)))
        yield f

    def _start_time(self) -> float:
        try:
            with open("/proc/self/stat") as fh:
                stat = fh.read()
            start_ticks = int(stat.rpartition(")")[2].split()[19])
            with open("/proc/stat") as fh:
                for line in fh:
                    if line.startswith("btime "):
                        return int(line.split()[1]) + start_ticks / self._ticks
        except (OSError, ValueError, IndexError):
            pass
        return self.m.started_at


def _proc_io() -> dict[str, int] | None:
    try:
        with open("/proc/self/io") as fh:
            out = {}
            for line in fh:
                k, _, v = line.partition(":")
                out[k.strip()] = int(v)
            return out
    except (OSError, ValueError):
        return None
