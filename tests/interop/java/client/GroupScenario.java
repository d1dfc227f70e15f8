import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Classic consumer groups with several Java consumers (one thread each), three scenarios at once:
 * - "range" and "cooperative-sticky": members join one by one (1, 2, 3), then the third leaves;
 *   records produced between the steps must each be consumed exactly once (members commit after
 *   every poll and on revocation);
 * - "static": two members with group.instance.id; one closes and comes back under the same
 *   instance id: no rebalance (same generation, same partitions, the other member sees nothing).
 * Every rebalance callback is logged with the member, the partitions and the generation.
 *
 * Args: --bootstrap B --prefix P
 */
public class GroupScenario {
    static final long DEADLINE_MS = 60_000;
    static final long T0 = System.currentTimeMillis();

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String bs = a.get("bootstrap");
        String prefix = a.get("prefix");
        try (Admin admin = Admin.create(Util.props(bs))) {
            admin.createTopics(Arrays.asList(new NewTopic(prefix + "-range", 6, (short) 1),
                new NewTopic(prefix + "-coop", 6, (short) 1), new NewTopic(prefix + "-static", 4, (short) 1))).all().get();
        }
        ExecutorService pool = Executors.newFixedThreadPool(3);
        Future<Map<String, Object>> range = pool.submit(() -> joinLeave(bs, prefix + "-range", prefix + "-range-g",
            "org.apache.kafka.clients.consumer.RangeAssignor"));
        Future<Map<String, Object>> coop = pool.submit(() -> joinLeave(bs, prefix + "-coop", prefix + "-coop-g",
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"));
        Future<Map<String, Object>> stat = pool.submit(() -> staticMembers(bs, prefix + "-static", prefix + "-static-g"));
        Map<String, Object> out = Json.obj("range", range.get(), "cooperative", coop.get(), "static", stat.get());
        pool.shutdown();
        Util.print(out);
    }

    static Map<String, Object> joinLeave(String bs, String topic, String group, String assignor) throws Exception {
        List<Object> events = Collections.synchronizedList(new ArrayList<>());
        List<Object> consumed = Collections.synchronizedList(new ArrayList<>());
        List<Object> phases = Json.list();
        List<Member> members = new ArrayList<>();
        int produced = 0;
        long closing = -1;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Util.producerProps(bs, "linger.ms", "0"))) {
            produced += produce(producer, topic, 6, 3, "before");
            for (int i = 1; i <= 3; i++) {
                Member m = new Member("m" + i, bs, topic, group, assignor, null, events, consumed);
                members.add(m);
                m.start();
                settle(members, 6);
                phases.add(snapshot("join m" + i, members));
                produced += produce(producer, topic, 6, 3, "after-m" + i);
                waitConsumed(consumed, produced);
            }
            Member leaver = members.remove(2);
            leaver.stop();
            settle(members, 6);
            phases.add(snapshot("m3 left", members));
            produced += produce(producer, topic, 6, 3, "after-leave");
            waitConsumed(consumed, produced);
        } finally {
            // From here on the members close one after the other: the last ones may be in the middle
            // of the rebalance the first one's leaving started, and then lose rather than revoke.
            closing = System.currentTimeMillis() - T0;
            for (Member m : members) m.stop();
        }
        return Json.obj("topic", topic, "group", group, "phases", phases, "events", events, "consumed", consumed,
            "produced", produced, "errors", errors(members), "closing_t", closing);
    }

    static Map<String, Object> staticMembers(String bs, String topic, String group) throws Exception {
        List<Object> events = Collections.synchronizedList(new ArrayList<>());
        List<Object> consumed = Collections.synchronizedList(new ArrayList<>());
        List<Object> phases = Json.list();
        List<Member> members = new ArrayList<>();
        String assignor = "org.apache.kafka.clients.consumer.RangeAssignor";
        Map<String, Object> described;
        int produced = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Util.producerProps(bs, "linger.ms", "0"))) {
            produced += produce(producer, topic, 4, 3, "before");
            for (int i = 1; i <= 2; i++) {
                Member m = new Member("s" + i, bs, topic, group, assignor, "instance-" + i, events, consumed);
                members.add(m);
                m.start();
                settle(members, 4);
            }
            waitConsumed(consumed, produced);
            phases.add(snapshot("both joined", members));
            int eventsBefore = events.size();
            Member old = members.remove(1);
            old.stop();  // a static member does not leave the group when it closes
            Member back = new Member("s2-restarted", bs, topic, group, assignor, "instance-2", events, consumed);
            members.add(back);
            back.start();
            settle(members, 4);
            phases.add(snapshot("s2 restarted", members));
            produced += produce(producer, topic, 4, 3, "after-restart");
            waitConsumed(consumed, produced);
            described = describe(bs, group);
            phases.add(Json.obj("events_while_restarting", new ArrayList<>(events.subList(eventsBefore, events.size()))));
        } finally {
            for (Member m : members) m.stop();
        }
        return Json.obj("topic", topic, "group", group, "phases", phases, "events", events, "consumed", consumed,
            "produced", produced, "described", described, "errors", errors(members));
    }

    static Map<String, Object> describe(String bs, String group) throws Exception {
        try (Admin admin = Admin.create(Util.props(bs))) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(Collections.singleton(group)).all().get().get(group);
            List<Object> ms = Json.list();
            for (MemberDescription m : d.members()) {
                List<Object> parts = Json.list();
                for (TopicPartition tp : partitionsOf(m.assignment().topicPartitions())) parts.add(tp.partition());
                ms.add(Json.obj("member_id", m.consumerId(), "instance_id", m.groupInstanceId().orElse(null),
                    "client_id", m.clientId(), "host", m.host(), "partitions", parts));
            }
            return Json.obj("state", Versioned.state(d), "assignor", d.partitionAssignor(), "members", ms);
        }
    }

    static List<TopicPartition> partitionsOf(Collection<TopicPartition> c) {
        List<TopicPartition> l = new ArrayList<>(c);
        l.sort((x, y) -> Integer.compare(x.partition(), y.partition()));
        return l;
    }

    static int produce(KafkaProducer<byte[], byte[]> p, String topic, int partitions, int perPartition, String tag) throws Exception {
        List<Future<?>> fs = new ArrayList<>();
        for (int part = 0; part < partitions; part++) {
            for (int i = 0; i < perPartition; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, part, null, (tag + " " + part + " " + i).getBytes())));
            }
        }
        for (Future<?> f : fs) f.get();
        return fs.size();
    }

    static void waitConsumed(List<Object> consumed, int n) {
        Util.waitUntil(() -> consumed.size() >= n, DEADLINE_MS, n + " records consumed");
    }

    /** Every partition owned by exactly one running member, all members in one generation, no
     *  rebalance under way and the assignment balanced. */
    static void settle(List<Member> members, int partitions) {
        Util.waitUntil(() -> {
            Set<Integer> seen = new HashSet<>();
            int total = 0, gen = -2, min = Integer.MAX_VALUE, max = 0;
            for (Member m : members) {
                Member.View v = m.view;
                if (v == null || v.rebalancing) return false;
                if (gen != -2 && v.generation != gen) return false;
                gen = v.generation;
                total += v.partitions.size();
                seen.addAll(v.partitions);
                min = Math.min(min, v.partitions.size());
                max = Math.max(max, v.partitions.size());
            }
            return total == partitions && seen.size() == partitions && max - min <= 1;
        }, DEADLINE_MS, "a settled assignment of " + partitions + " partitions");
    }

    static Map<String, Object> snapshot(String phase, List<Member> members) {
        Map<String, Object> ms = Json.obj();
        for (Member m : members) {
            Member.View v = m.view;
            ms.put(m.name, Json.obj("partitions", new ArrayList<>(v.partitions), "generation", v.generation,
                "member_id", v.memberId));
        }
        return Json.obj("phase", phase, "members", ms, "t", System.currentTimeMillis() - T0);
    }

    static List<Object> errors(List<Member> members) {
        List<Object> out = Json.list();
        for (Member m : members) out.addAll(m.errors);
        return out;
    }

    /** One consumer on its own thread. */
    static final class Member implements Runnable, ConsumerRebalanceListener {
        /** What the member owns as seen from its own thread after its last poll. */
        static final class View {
            final TreeSet<Integer> partitions;
            final int generation;
            final String memberId;
            final boolean rebalancing;

            View(TreeSet<Integer> p, int g, String id, boolean r) {
                partitions = p;
                generation = g;
                memberId = id;
                rebalancing = r;
            }
        }

        final String name;
        final Properties props;
        final String topic;
        final List<Object> events;
        final List<Object> consumed;
        final List<Object> errors = Collections.synchronizedList(new ArrayList<>());
        volatile View view;
        volatile boolean running = true;
        volatile boolean inCallback;
        KafkaConsumer<byte[], byte[]> consumer;
        Thread thread;

        Member(String name, String bs, String topic, String group, String assignor, String instanceId,
               List<Object> events, List<Object> consumed) {
            this.name = name;
            this.topic = topic;
            this.events = events;
            this.consumed = consumed;
            props = Util.consumerProps(bs, "group.id", group, "partition.assignment.strategy", assignor,
                "enable.auto.commit", "false", "auto.offset.reset", "earliest", "heartbeat.interval.ms", "300",
                "session.timeout.ms", "10000", "client.id", name);
            if (instanceId != null) props.put("group.instance.id", instanceId);
        }

        void start() {
            thread = new Thread(this, name);
            thread.setDaemon(true);  // a failed scenario must not keep the JVM alive
            thread.start();
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join(DEADLINE_MS);
        }

        @Override
        public void run() {
            try {
                consumer = new KafkaConsumer<>(props);
                consumer.subscribe(Collections.singleton(topic), this);
                while (running) {
                    boolean any = false;
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                        consumed.add(Arrays.asList(name, r.partition(), r.offset()));
                        any = true;
                    }
                    if (any) {
                        try {
                            consumer.commitSync();
                        } catch (Exception e) {
                            // a rebalance under way: the revocation callback commits these positions
                            errors.add(Arrays.asList(name, "commit after poll", Util.err(e)));
                        }
                    }
                    TreeSet<Integer> owned = new TreeSet<>();
                    for (TopicPartition tp : consumer.assignment()) owned.add(tp.partition());
                    // The consumer has no public "rebalance in progress" flag: a member is settled when the
                    // generation it reports matches what it owns (checked across members by settle()).
                    view = new View(owned, consumer.groupMetadata().generationId(), consumer.groupMetadata().memberId(), false);
                }
                commitOwned("close");
                consumer.close();
            } catch (Exception e) {
                errors.add(Arrays.asList(name, "fatal", Util.err(e) + ": " + e.getMessage()));
            }
        }

        void commitOwned(String why) {
            try {
                consumer.commitSync();
            } catch (Exception e) {
                errors.add(Arrays.asList(name, "commit on " + why, Util.err(e)));
            }
        }

        void log(String type, Collection<TopicPartition> parts) {
            List<Object> ps = Json.list();
            for (TopicPartition tp : partitionsOf(parts)) ps.add(tp.partition());
            events.add(Json.obj("member", name, "type", type, "partitions", ps,
                "generation", consumer.groupMetadata().generationId(), "t", System.currentTimeMillis() - T0));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            log("revoked", partitions);
            if (!partitions.isEmpty()) {
                Map<TopicPartition, OffsetAndMetadata> pos = new java.util.HashMap<>();
                for (TopicPartition tp : partitions) pos.put(tp, new OffsetAndMetadata(consumer.position(tp)));
                try {
                    consumer.commitSync(pos);
                } catch (Exception e) {
                    errors.add(Arrays.asList(name, "commit on revoke", Util.err(e)));
                }
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            log("assigned", partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            log("lost", partitions);
        }
    }
}
