"""Cluster benchmark: 3 brokers on a real ZooKeeper (Debian's package), 6 partitions, 1 KB records.

Produce throughput for 5 s and produce latency at 1000 records/s (linger.ms=0), with replication
factor 1 and 3 and acks=1 and all; then the time from killing a partition leader (SIGKILL) to the
first successful acks=all produce. Run: python3 bench/cluster.py
"""
import sys, time, shutil, json
ROOT = __import__('pathlib').Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / 'tests'), str(ROOT / 'src')]
from pathlib import Path
from zk_cluster import ZooKeeper, Cluster
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from helpers import wait_for

import tempfile
root = Path(tempfile.mkdtemp(prefix='odradek-cluster-bench-'))
zk = ZooKeeper(root).start()
c = Cluster(root, zk, 3, {"replica.lag.time.max.ms": "10000"}).start()
out = {}
try:
    a = AdminClient({'bootstrap.servers': c.bootstrap})
    for rf in (1, 3):
        t = f"bench-rf{rf}"
        for f in a.create_topics([NewTopic(t, 6, rf)]).values(): f.result(20)
        wait_for(lambda: all(p.leader >= 0 for p in a.list_topics(t, timeout=5).topics[t].partitions.values()), 20)
    for rf in (1, 3):
        for acks in ("1", "all"):
            t = f"bench-rf{rf}"
            lat = []
            p = Producer({'bootstrap.servers': c.bootstrap, 'acks': acks, 'linger.ms': 5, 'batch.size': 1000000,
                          'queue.buffering.max.messages': 1000000, 'queue.buffering.max.kbytes': 1000000})
            val = b'x' * 1024
            n = 0; ok = 0
            def cb(err, msg, t0=None):
                global ok
                if err is None: ok += 1
            t0 = time.time(); end = t0 + 5
            while time.time() < end:
                for _ in range(1000):
                    try:
                        p.produce(t, val, on_delivery=cb); n += 1
                    except BufferError:
                        p.poll(0.001)
                p.poll(0)
            p.flush(60)
            el = time.time() - t0
            # latency at a fixed rate: 1000 msgs/s for 3 s
            lats = []
            def lcb(err, msg, ts=None):
                if err is None: lats.append(time.time() - msg.opaque if False else 0)
            q = Producer({'bootstrap.servers': c.bootstrap, 'acks': acks, 'linger.ms': 0})
            sent = {}
            def dcb(err, msg):
                if err is None:
                    lats.append(time.perf_counter() - sent[msg.value()])
            s0 = time.perf_counter(); i = 0
            while time.perf_counter() - s0 < 3:
                k = b'%d' % i; sent[k] = time.perf_counter(); q.produce(t, k, on_delivery=dcb); i += 1
                q.poll(0)
                nxt = s0 + i / 1000
                while time.perf_counter() < nxt: q.poll(0.0005)
            q.flush(10)
            lats.sort()
            res = {'records_per_s': ok / el, 'MB_per_s': ok * 1024 / el / 1e6,
                   'p50_ms': lats[len(lats)//2]*1000, 'p99_ms': lats[int(len(lats)*0.99)]*1000}
            out[f"rf{rf}-acks{acks}"] = res
            print(f"rf={rf} acks={acks}: {res}", flush=True)
    # failover: leader death to first successful produce
    t = "bench-rf3"
    md = a.list_topics(t, timeout=5).topics[t].partitions[0]
    leader = md.leader
    p = Producer({'bootstrap.servers': c.bootstrap, 'acks': 'all', 'linger.ms': 0, 'topic.metadata.refresh.interval.ms': 500, 'retry.backoff.ms': 50})
    by_id = {b.broker_id: b for b in c.brokers}
    p.produce(t, b'warm', partition=0); p.flush(10)
    # Failover is measured from a full ISR. After the runs above the followers may still be copying
    # (a follower more than replica.lag.time.max.ms behind leaves the ISR, and without unclean
    # election a leader alone in its ISR takes the partition offline with it): wait, and say how long.
    c0 = time.time()
    full = lambda: len(a.list_topics(t, timeout=5).topics[t].partitions[0].isrs) == 3
    while not full() and time.time() - c0 < 120: time.sleep(0.2)
    out['isr_full_after_s'] = time.time() - c0 if full() else None
    print('ISR of partition 0 full again after:', out['isr_full_after_s'])
    leader = a.list_topics(t, timeout=5).topics[t].partitions[0].leader
    k0 = time.time(); by_id[leader].kill()
    done = []
    while not done and time.time() - k0 < 60:
        p.produce(t, b'after', partition=0, on_delivery=lambda e, m: done.append((e, time.time())))
        p.flush(15)
        if done and done[0][0] is not None: done.clear()
    out['failover_s'] = done[0][1] - k0 if done else None
    print('leader death -> first acks=all produce ok:', out['failover_s'])
finally:
    c.stop(); zk.stop()
shutil.rmtree(root, ignore_errors=True)
print(json.dumps(out, indent=1))
