import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * One Java consumer scenario on a topic another client filled: read everything back, beginning and
 * end offsets, seek / seekToBeginning / seekToEnd, offsetsForTimes, pause and resume, and a group's
 * commits (sync and async, with metadata, auto commit) that a new member resumes from exactly.
 *
 * Args: --bootstrap B --topic T --partitions N --group G --times p:ts,p:ts,... --commit p:offset,...
 */
public class ConsumerScenario {
    static final Duration POLL = Duration.ofMillis(100);
    static final long DEADLINE_MS = 60_000;

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String bs = a.get("bootstrap");
        String topic = a.get("topic");
        String group = a.get("group");
        int n = Integer.parseInt(a.get("partitions"));
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < n; p++) tps.add(new TopicPartition(topic, p));
        Map<String, Object> out = Json.obj();

        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Util.consumerProps(bs, "enable.auto.commit", "false"))) {
            Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            out.put("beginning_offsets", byPartition(begin));
            out.put("end_offsets", byPartition(end));
            out.put("partitions_for", c.partitionsFor(topic).size());

            // everything, from the beginning
            c.assign(tps);
            c.seekToBeginning(tps);
            List<Object> all = Json.list();
            drain(c, end, r -> all.add(Util.record(r)));
            out.put("records", all);

            // seeks: to an offset in the middle, to the end, back to the beginning
            Map<String, Object> seeks = Json.obj();
            for (TopicPartition tp : tps) {
                long mid = (begin.get(tp) + end.get(tp)) / 2;
                c.seek(tp, mid);
                Map<TopicPartition, Long> until = new HashMap<>();
                until.put(tp, mid + 1);
                AtomicReference<Long> first = new AtomicReference<>();
                c.pause(others(tps, tp));
                drain(c, until, r -> { if (r.partition() == tp.partition() && first.get() == null) first.set(r.offset()); });
                c.resume(others(tps, tp));
                seeks.put(String.valueOf(tp.partition()), Json.obj("seek", mid, "first", first.get()));
            }
            c.seekToEnd(tps);
            Map<String, Object> atEnd = Json.obj();
            for (TopicPartition tp : tps) atEnd.put(String.valueOf(tp.partition()), c.position(tp));
            c.seekToBeginning(tps);
            Map<String, Object> atBeginning = Json.obj();
            for (TopicPartition tp : tps) atBeginning.put(String.valueOf(tp.partition()), c.position(tp));
            out.put("seeks", seeks);
            out.put("position_after_seek_to_end", atEnd);
            out.put("position_after_seek_to_beginning", atBeginning);

            // offsetsForTimes, one query per lookup (a map holds one timestamp per partition)
            List<Object> lookups = Json.list();
            for (String q : a.get("times").split(",")) {
                String[] pt = q.split(":");
                TopicPartition tp = new TopicPartition(topic, Integer.parseInt(pt[0]));
                Map<TopicPartition, Long> query = new HashMap<>();
                query.put(tp, Long.parseLong(pt[1]));
                OffsetAndTimestamp ot = c.offsetsForTimes(query).get(tp);
                lookups.add(Json.obj("partition", tp.partition(), "timestamp", Long.parseLong(pt[1]),
                    "offset", ot == null ? null : ot.offset(), "found_timestamp", ot == null ? null : ot.timestamp()));
            }
            out.put("offsets_for_times", lookups);

            // pause one partition, produce to all: only the others deliver until it is resumed
            c.seekToEnd(tps);
            for (TopicPartition tp : tps) c.position(tp);
            TopicPartition paused = tps.get(0);
            c.pause(java.util.Collections.singleton(paused));
            Map<TopicPartition, Long> after = produce(bs, tps, 5);
            Map<TopicPartition, Long> untilOthers = new HashMap<>(after);
            untilOthers.remove(paused);
            List<Object> whilePaused = Json.list();
            drain(c, untilOthers, r -> whilePaused.add(Json.obj("partition", r.partition(), "offset", r.offset())));
            // a few more polls: still nothing from the paused partition
            for (int i = 0; i < 5; i++) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(POLL)) whilePaused.add(Json.obj("partition", r.partition(), "offset", r.offset()));
            }
            List<Object> pausedSet = Json.list();
            for (TopicPartition tp : c.paused()) pausedSet.add(tp.partition());
            c.resume(java.util.Collections.singleton(paused));
            List<Object> afterResume = Json.list();
            drain(c, after, r -> afterResume.add(Json.obj("partition", r.partition(), "offset", r.offset())));
            out.put("pause", Json.obj("paused", pausedSet, "while_paused", whilePaused, "after_resume", afterResume,
                "produced_end", byPartition(after)));
        }

        Map<TopicPartition, Long> end;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Util.consumerProps(bs))) {
            end = c.endOffsets(tps);
        }
        out.put("commits", commits(bs, topic, group, tps, end, a.get("commit")));
        out.put("auto_commit", autoCommit(bs, group + "-auto", topic, tps, end));
        Util.print(out);
    }

    /** A member commits chosen offsets (sync with metadata, async with a callback); the next member
     *  of the group starts exactly there; then it commits its positions with no arguments. */
    static Map<String, Object> commits(String bs, String topic, String group, List<TopicPartition> tps,
                                       Map<TopicPartition, Long> end, String spec) throws Exception {
        Map<TopicPartition, Long> chosen = new HashMap<>();
        for (String s : spec.split(",")) {
            String[] po = s.split(":");
            chosen.put(new TopicPartition(topic, Integer.parseInt(po[0])), Long.parseLong(po[1]));
        }
        Map<String, Object> out = Json.obj();
        Properties props = Util.consumerProps(bs, "group.id", group, "enable.auto.commit", "false",
            "auto.offset.reset", "earliest", "heartbeat.interval.ms", "500");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            c.subscribe(java.util.Collections.singleton(topic));
            drain(c, end, r -> { });
            Map<TopicPartition, OffsetAndMetadata> sync = new HashMap<>();
            Map<TopicPartition, OffsetAndMetadata> async = new HashMap<>();
            int i = 0;
            for (TopicPartition tp : tps) {
                OffsetAndMetadata om = new OffsetAndMetadata(chosen.get(tp), "meta-" + tp.partition());
                if (i++ % 2 == 0) sync.put(tp, om); else async.put(tp, om);
            }
            c.commitSync(sync);
            AtomicReference<Object> asyncResult = new AtomicReference<>();
            c.commitAsync(async, (offsets, e) -> asyncResult.set(e == null ? "ok" : Util.err(e)));
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (asyncResult.get() == null && System.currentTimeMillis() < deadline) c.poll(POLL);
            out.put("async_callback", asyncResult.get());
            out.put("committed", committed(c.committed(new HashSet<>(tps))));
        }
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            c.subscribe(java.util.Collections.singleton(topic));
            Map<String, Object> first = Json.obj();
            Map<TopicPartition, Long> count = new HashMap<>();
            drain(c, end, r -> {
                first.putIfAbsent(String.valueOf(r.partition()), r.offset());
                count.merge(new TopicPartition(r.topic(), r.partition()), 1L, Long::sum);
            });
            out.put("resumed_first_offsets", first);
            out.put("resumed_counts", byPartition(count));
            c.commitSync();
            out.put("committed_after_sync", committed(c.committed(new HashSet<>(tps))));
        }
        return out;
    }

    /** Auto commit: every position is committed by close(). */
    static Map<String, Object> autoCommit(String bs, String group, String topic, List<TopicPartition> tps,
                                          Map<TopicPartition, Long> end) throws Exception {
        Properties props = Util.consumerProps(bs, "group.id", group, "enable.auto.commit", "true",
            "auto.commit.interval.ms", "200", "auto.offset.reset", "earliest");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            c.subscribe(java.util.Collections.singleton(topic));
            drain(c, end, r -> { });
        }
        try (Admin admin = Admin.create(Util.props(bs))) {
            return Json.obj("group", group,
                "committed", committed(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()));
        }
    }

    static Map<String, Object> committed(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            OffsetAndMetadata om = e.getValue();
            out.put(String.valueOf(e.getKey().partition()), om == null ? null
                : Json.obj("offset", om.offset(), "metadata", om.metadata(), "leader_epoch", om.leaderEpoch().orElse(null)));
        }
        return out;
    }

    static Map<String, Object> byPartition(Map<TopicPartition, Long> m) {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<TopicPartition, Long> e : m.entrySet()) out.put(String.valueOf(e.getKey().partition()), e.getValue());
        return out;
    }

    static Set<TopicPartition> others(List<TopicPartition> tps, TopicPartition tp) {
        Set<TopicPartition> s = new HashSet<>(tps);
        s.remove(tp);
        return s;
    }

    /** Produces k records to every partition; returns the new end offsets. */
    static Map<TopicPartition, Long> produce(String bs, List<TopicPartition> tps, int k) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Util.producerProps(bs, "linger.ms", "0"))) {
            for (TopicPartition tp : tps) {
                long last = -1;
                for (int i = 0; i < k; i++) {
                    last = p.send(new ProducerRecord<>(tp.topic(), tp.partition(), null, ("more-" + i).getBytes())).get().offset();
                }
                out.put(tp, last + 1);
            }
        }
        return out;
    }

    interface Sink { void accept(ConsumerRecord<byte[], byte[]> r); }

    /** Polls until the consumer's position reached `until` on each of those partitions. */
    static void drain(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> until, Sink sink) {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (true) {
            ConsumerRecords<byte[], byte[]> recs = c.poll(POLL);
            for (ConsumerRecord<byte[], byte[]> r : recs) sink.accept(r);
            boolean done = true;
            Collection<TopicPartition> assigned = c.assignment();
            for (Map.Entry<TopicPartition, Long> e : until.entrySet()) {
                if (!assigned.contains(e.getKey()) || c.position(e.getKey()) < e.getValue()) {
                    done = false;
                    break;
                }
            }
            if (done) return;
            if (System.currentTimeMillis() > deadline) {
                Map<String, Object> pos = Json.obj();
                for (TopicPartition tp : assigned) pos.put(tp.toString(), c.position(tp));
                throw new IllegalStateException("positions " + pos + " did not reach " + until);
            }
        }
    }
}
