// The Java side of the differential test (tests/differential/test_against_kafka.py): the same
// scripted calls of Kafka's own Java clients against one broker, each outcome printed as one JSON
// line {"case": ..., "result": ...}. The test runs it against Apache Kafka and against Odradek
// and compares the lines. Usage: DiffClients <bootstrap> <prefix> <part>... where a part is
// admin, keyless, maxpoll or pattern.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.*;

public class DiffClients {
    static final ObjectMapper JSON = new ObjectMapper();
    static String bootstrap;
    static String prefix;

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        prefix = args[1];
        for (int i = 2; i < args.length; i++) {
            long t0 = System.nanoTime();
            switch (args[i]) {
                case "admin": admin(); break;
                case "keyless": keyless(); break;
                case "maxpoll": maxPoll(); break;
                case "pattern": pattern(); break;
                default: throw new IllegalArgumentException(args[i]);
            }
            System.err.printf("part %s took %.1f s%n", args[i], (System.nanoTime() - t0) / 1e9);
        }
    }

    // --- output ------------------------------------------------------------------------------

    static synchronized void emit(String name, Object result) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("case", name);
        line.put("result", result);
        try {
            System.out.println(JSON.writeValueAsString(line));
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
        System.out.flush();
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    static Map<String, Object> error(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) t = t.getCause();
        return map("error", t.getClass().getSimpleName(), "message", t.getMessage());
    }

    interface Call { Object run() throws Exception; }

    /** Run one call: its value, or the exception the user would see. */
    static Object outcome(Call c) {
        try {
            Object v = c.run();
            return map("ok", v);
        } catch (Throwable t) {
            return error(t);
        }
    }

    static void check(String name, Call c) {
        long t0 = System.nanoTime();
        emit(name, outcome(c));
        System.err.printf("%s took %.2f s%n", name, (System.nanoTime() - t0) / 1e9);
    }

    static Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        return p;
    }

    // --- admin -------------------------------------------------------------------------------

    static Map<String, Object> configView(Config config, Collection<String> keys, boolean synonyms) {
        Map<String, Object> out = new TreeMap<>();
        for (ConfigEntry e : config.entries()) {
            if (keys != null && !keys.contains(e.name())) continue;
            Map<String, Object> v = map("value", e.value(), "source", e.source().name(), "read_only", e.isReadOnly(),
                    "sensitive", e.isSensitive(), "type", e.type().name());
            if (synonyms) {
                List<Object> syn = new ArrayList<>();
                for (ConfigEntry.ConfigSynonym s : e.synonyms()) syn.add(List.of(s.name(), String.valueOf(s.value()), s.source().name()));
                v.put("synonyms", syn);
            } else {
                v.put("synonyms", e.synonyms().size());
            }
            out.put(e.name(), v);
        }
        return out;
    }

    static Config describe(Admin admin, ConfigResource r, boolean synonyms) throws Exception {
        return admin.describeConfigs(List.of(r), new DescribeConfigsOptions().includeSynonyms(synonyms)).all().get().get(r);
    }

    static Object incremental(Admin admin, ConfigResource r, AlterConfigOp... ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(r, List.of(ops))).all().get();
        return "done";
    }

    /** Kafka applies broker config changes through its metadata log, a moment after the answer:
     *  wait (with a deadline) until a describe shows the value. */
    static void awaitValue(Admin admin, ConfigResource r, String key, String value) throws Exception {
        long deadline = System.currentTimeMillis() + 15000;
        while (System.currentTimeMillis() < deadline) {
            ConfigEntry e = describe(admin, r, false).get(key);
            if (e != null && Objects.equals(e.value(), value)) return;
            Thread.sleep(50);
        }
        throw new IllegalStateException(key + " of " + r + " did not become " + value);
    }

    /** Kafka's metadata reaches its brokers a moment after an admin call is answered: wait (with a
     *  deadline) until the topic has ``partitions`` partitions, each with a leader. */
    static void awaitTopic(Admin admin, String topic, int partitions) throws Exception {
        long deadline = System.currentTimeMillis() + 15000;
        while (System.currentTimeMillis() < deadline) {
            try {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                if (d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null)) return;
            } catch (ExecutionException e) {
                // not there yet
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException(topic + " did not get " + partitions + " partitions with leaders");
    }

    static AlterConfigOp op(String key, String value, AlterConfigOp.OpType type) {
        return new AlterConfigOp(new ConfigEntry(key, value), type);
    }

    static void admin() throws Exception {
        try (Admin admin = Admin.create(common())) {
            String t = prefix + "-adm";
            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = cluster.nodes().get();
            String brokerId = String.valueOf(nodes.iterator().next().id());
            check("admin.describe_cluster", () -> {
                Node controller = cluster.controller().get();
                return map("nodes", nodes.size(), "controller_is_the_node", controller != null && controller.id() == nodes.iterator().next().id(),
                        "cluster_id_set", cluster.clusterId().get() != null);
            });

            // create topics: one bad thing each
            Map<String, NewTopic> bad = new LinkedHashMap<>();
            bad.put("admin.create.bad_name", new NewTopic("bad name", 1, (short) 1));
            bad.put("admin.create.too_long", new NewTopic("x".repeat(250), 1, (short) 1));
            bad.put("admin.create.dot", new NewTopic("..", 1, (short) 1));
            bad.put("admin.create.zero_partitions", new NewTopic(t + "-zero", 0, (short) 1));
            bad.put("admin.create.negative_partitions", new NewTopic(t + "-neg", -5, (short) 1));
            bad.put("admin.create.replication_factor_3", new NewTopic(t + "-rf3", 1, (short) 3));
            bad.put("admin.create.replication_factor_0", new NewTopic(t + "-rf0", 1, (short) 0));
            bad.put("admin.create.bad_policy", new NewTopic(t + "-pol", 1, (short) 1).configs(Map.of("cleanup.policy", "bogus")));
            bad.put("admin.create.not_a_number", new NewTopic(t + "-nan", 1, (short) 1).configs(Map.of("retention.ms", "abc")));
            bad.put("admin.create.below_minimum", new NewTopic(t + "-min", 1, (short) 1).configs(Map.of("segment.bytes", "10")));
            bad.put("admin.create.unknown_config", new NewTopic(t + "-unk", 1, (short) 1).configs(Map.of("no.such.config", "1")));
            bad.put("admin.create.bad_assignment", new NewTopic(t + "-asg", Map.of(0, List.of(42))));
            for (Map.Entry<String, NewTopic> e : bad.entrySet()) {
                check(e.getKey(), () -> {
                    admin.createTopics(List.of(e.getValue())).all().get();
                    return "created";
                });
            }
            check("admin.create.ok", () -> {
                CreateTopicsResult r = admin.createTopics(List.of(new NewTopic(t, 2, (short) 1).configs(Map.of("retention.ms", "86400000"))));
                r.all().get();
                awaitTopic(admin, t, 2);
                return map("partitions", r.numPartitions(t).get(), "replication_factor", r.replicationFactor(t).get(),
                        "configs", configView(r.config(t).get(), List.of("retention.ms", "cleanup.policy", "max.message.bytes"), false));
            });
            check("admin.create.defaults", () -> {
                CreateTopicsResult r = admin.createTopics(List.of(new NewTopic(t + "-dflt", Optional.empty(), Optional.empty())));
                r.all().get();
                return map("partitions", r.numPartitions(t + "-dflt").get(), "replication_factor", r.replicationFactor(t + "-dflt").get());
            });
            check("admin.create.duplicate", () -> {
                admin.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all().get();
                return "created";
            });
            check("admin.create.validate_only", () -> {
                admin.createTopics(List.of(new NewTopic(t + "-vo", 3, (short) 1)), new CreateTopicsOptions().validateOnly(true)).all().get();
                return admin.listTopics().names().get().contains(t + "-vo");
            });
            check("admin.create.collision", () -> {
                admin.createTopics(List.of(new NewTopic(t + ".c_x", 1, (short) 1))).all().get();
                admin.createTopics(List.of(new NewTopic(t + ".c.x", 1, (short) 1))).all().get();
                return "created";
            });
            check("admin.delete.unknown", () -> {
                admin.deleteTopics(List.of(t + "-nosuch")).all().get();
                return "deleted";
            });
            check("admin.describe_topics.unknown", () -> admin.describeTopics(List.of(t + "-nosuch")).allTopicNames().get().size());
            check("admin.describe_topics.ok", () -> {
                TopicDescription d = admin.describeTopics(List.of(t)).allTopicNames().get().get(t);
                List<Object> parts = new ArrayList<>();
                for (TopicPartitionInfo p : d.partitions()) parts.add(List.of(p.partition(), p.replicas().size(), p.isr().size(), p.leader() != null));
                return map("internal", d.isInternal(), "partitions", parts);
            });

            // partitions
            check("admin.partitions.decrease", () -> { admin.createPartitions(Map.of(t, NewPartitions.increaseTo(1))).all().get(); return "done"; });
            check("admin.partitions.same", () -> { admin.createPartitions(Map.of(t, NewPartitions.increaseTo(2))).all().get(); return "done"; });
            check("admin.partitions.unknown_topic", () -> { admin.createPartitions(Map.of(t + "-nosuch", NewPartitions.increaseTo(4))).all().get(); return "done"; });
            check("admin.partitions.bad_assignment", () -> {
                admin.createPartitions(Map.of(t, NewPartitions.increaseTo(3, List.of(List.of(42))))).all().get();
                return "done";
            });
            check("admin.partitions.validate_only", () -> {
                admin.createPartitions(Map.of(t, NewPartitions.increaseTo(5)), new CreatePartitionsOptions().validateOnly(true)).all().get();
                return admin.describeTopics(List.of(t)).allTopicNames().get().get(t).partitions().size();
            });
            check("admin.partitions.increase", () -> {
                admin.createPartitions(Map.of(t, NewPartitions.increaseTo(3))).all().get();
                awaitTopic(admin, t, 3);
                return admin.describeTopics(List.of(t)).allTopicNames().get().get(t).partitions().size();
            });

            // configs of a topic and of the broker
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, t);
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, brokerId);
            ConfigResource clusterDefault = new ConfigResource(ConfigResource.Type.BROKER, "");
            List<String> topicKeys = List.of("retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes", "min.insync.replicas",
                    "message.timestamp.type", "retention.bytes", "segment.ms", "compression.type", "unclean.leader.election.enable",
                    "delete.retention.ms", "min.cleanable.dirty.ratio");
            check("admin.configs.topic", () -> configView(describe(admin, topic, false), null, false));
            check("admin.configs.topic_synonyms", () -> configView(describe(admin, topic, true), topicKeys, true));
            List<String> brokerKeys = List.of("log.retention.hours", "log.retention.ms", "num.partitions", "message.max.bytes",
                    "log.cleaner.threads", "auto.create.topics.enable", "offsets.topic.num.partitions", "log.segment.bytes",
                    "default.replication.factor", "delete.topic.enable", "log.cleanup.policy", "group.initial.rebalance.delay.ms",
                    "compression.type", "unclean.leader.election.enable", "log.retention.check.interval.ms");
            check("admin.configs.broker", () -> configView(describe(admin, broker, false), brokerKeys, false));
            check("admin.configs.broker_synonyms", () -> configView(describe(admin, broker, true), brokerKeys, true));
            check("admin.configs.unknown_topic", () -> describe(admin, new ConfigResource(ConfigResource.Type.TOPIC, t + "-nosuch"), false).entries().size());

            check("admin.alter.topic_set", () -> {
                incremental(admin, topic, op("retention.ms", "1000", AlterConfigOp.OpType.SET), op("max.message.bytes", "20000", AlterConfigOp.OpType.SET));
                awaitValue(admin, topic, "max.message.bytes", "20000");
                return configView(describe(admin, topic, true), List.of("retention.ms", "max.message.bytes"), true);
            });
            check("admin.alter.topic_bad_value", () -> incremental(admin, topic, op("retention.ms", "abc", AlterConfigOp.OpType.SET)));
            check("admin.alter.topic_below_minimum", () -> incremental(admin, topic, op("retention.ms", "-5", AlterConfigOp.OpType.SET)));
            check("admin.alter.topic_bad_choice", () -> incremental(admin, topic, op("cleanup.policy", "bogus", AlterConfigOp.OpType.SET)));
            check("admin.alter.topic_unknown_key", () -> incremental(admin, topic, op("no.such.config", "1", AlterConfigOp.OpType.SET)));
            check("admin.alter.topic_delete", () -> {
                incremental(admin, topic, op("retention.ms", null, AlterConfigOp.OpType.DELETE));
                awaitValue(admin, topic, "retention.ms", "604800000");
                return configView(describe(admin, topic, false), List.of("retention.ms", "max.message.bytes"), false);
            });
            check("admin.alter.topic_append", () -> {
                incremental(admin, topic, op("cleanup.policy", "compact", AlterConfigOp.OpType.APPEND));
                awaitValue(admin, topic, "cleanup.policy", "delete,compact");
                return configView(describe(admin, topic, false), List.of("cleanup.policy"), false);
            });
            check("admin.alter.topic_subtract", () -> {
                incremental(admin, topic, op("cleanup.policy", "compact", AlterConfigOp.OpType.SUBTRACT));
                awaitValue(admin, topic, "cleanup.policy", "delete");
                return configView(describe(admin, topic, false), List.of("cleanup.policy"), false);
            });
            check("admin.alter.append_to_non_list", () -> incremental(admin, topic, op("retention.ms", "5", AlterConfigOp.OpType.APPEND)));
            check("admin.alter.unknown_topic", () -> incremental(admin, new ConfigResource(ConfigResource.Type.TOPIC, t + "-nosuch"),
                    op("retention.ms", "1000", AlterConfigOp.OpType.SET)));
            check("admin.alter.topic_validate_only", () -> {
                admin.incrementalAlterConfigs(Map.of(topic, List.of(op("retention.ms", "2000", AlterConfigOp.OpType.SET))),
                        new AlterConfigsOptions().validateOnly(true)).all().get();
                return configView(describe(admin, topic, false), List.of("retention.ms"), false);
            });
            check("admin.alter.broker_dynamic", () -> {
                incremental(admin, broker, op("log.cleaner.threads", "2", AlterConfigOp.OpType.SET));
                awaitValue(admin, broker, "log.cleaner.threads", "2");
                Object seen = configView(describe(admin, broker, true), List.of("log.cleaner.threads"), true);
                incremental(admin, broker, op("log.cleaner.threads", null, AlterConfigOp.OpType.DELETE));
                awaitValue(admin, broker, "log.cleaner.threads", "1");
                return map("set", seen, "deleted", configView(describe(admin, broker, false), List.of("log.cleaner.threads"), false));
            });
            check("admin.alter.cluster_default", () -> {
                incremental(admin, clusterDefault, op("log.retention.ms", "604800001", AlterConfigOp.OpType.SET));
                awaitValue(admin, topic, "retention.ms", "604800001");
                Object seenBroker = configView(describe(admin, broker, true), List.of("log.retention.ms"), true);
                Object seenTopic = configView(describe(admin, topic, true), List.of("retention.ms"), true);
                incremental(admin, clusterDefault, op("log.retention.ms", null, AlterConfigOp.OpType.DELETE));
                awaitValue(admin, topic, "retention.ms", "604800000");
                return map("broker", seenBroker, "topic", seenTopic,
                        "deleted", configView(describe(admin, topic, false), List.of("retention.ms"), false));
            });
            check("admin.alter.broker_read_only", () -> incremental(admin, broker, op("broker.id", "5", AlterConfigOp.OpType.SET)));
            check("admin.alter.broker_not_dynamic", () -> incremental(admin, broker, op("auto.create.topics.enable", "false", AlterConfigOp.OpType.SET)));
            check("admin.alter.broker_bad_value", () -> incremental(admin, broker, op("log.cleaner.threads", "many", AlterConfigOp.OpType.SET)));

            // offsets and records
            String rt = prefix + "-rec";
            admin.createTopics(List.of(new NewTopic(rt, 1, (short) 1))).all().get();
            awaitTopic(admin, rt, 1);
            long base = (System.currentTimeMillis() / 1000 - 3600) * 1000;  // an hour ago: inside retention
            try (KafkaProducer<String, String> p = new KafkaProducer<>(common(), new StringSerializer(), new StringSerializer())) {
                long[] ts = {base + 1000, base + 5000, base + 3000, base + 2000};
                for (int i = 0; i < ts.length; i++) p.send(new ProducerRecord<>(rt, 0, ts[i], "k" + i, "v" + i)).get();
            }
            TopicPartition tp = new TopicPartition(rt, 0);
            Map<String, OffsetSpec> specs = new LinkedHashMap<>();
            specs.put("earliest", OffsetSpec.earliest());
            specs.put("latest", OffsetSpec.latest());
            specs.put("max_timestamp", OffsetSpec.maxTimestamp());
            specs.put("for_time_between", OffsetSpec.forTimestamp(base + 2500));
            specs.put("for_time_before_all", OffsetSpec.forTimestamp(base));
            specs.put("for_time_after_all", OffsetSpec.forTimestamp(base + 99000));
            specs.put("earliest_local", OffsetSpec.earliestLocal());
            specs.put("latest_tiered", OffsetSpec.latestTiered());
            for (Map.Entry<String, OffsetSpec> e : specs.entrySet()) {
                check("admin.list_offsets." + e.getKey(), () -> {
                    ListOffsetsResult.ListOffsetsResultInfo info = admin.listOffsets(Map.of(tp, e.getValue())).partitionResult(tp).get();
                    return map("offset", info.offset(), "timestamp", info.timestamp() < 0 ? info.timestamp() : info.timestamp() - base,
                            "leader_epoch", info.leaderEpoch().orElse(-1));
                });
            }
            check("admin.delete_records.past_high_watermark", () -> admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(10))).lowWatermarks().get(tp).get().lowWatermark());
            check("admin.delete_records.ok", () -> admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(tp).get().lowWatermark());
            check("admin.list_offsets.after_delete", () -> admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get().offset());

            // groups
            String g = prefix + "-grp";
            Properties cp = common();
            cp.put("group.id", g);
            cp.put("auto.offset.reset", "earliest");
            cp.put("enable.auto.commit", "false");
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
                c.subscribe(List.of(rt));
                long deadline = System.currentTimeMillis() + 30000;
                int seen = 0;
                while (seen < 2 && System.currentTimeMillis() < deadline) seen += c.poll(Duration.ofMillis(200)).count();
                c.commitSync();
                check("admin.groups.describe_active", () -> {
                    ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
                    return map("state", d.groupState().toString(), "members", d.members().size(), "simple", d.isSimpleConsumerGroup(),
                            "assignor", d.partitionAssignor(), "type", d.type().toString());
                });
                check("admin.groups.delete_active", () -> { admin.deleteConsumerGroups(List.of(g)).all().get(); return "deleted"; });
                check("admin.groups.offsets", () -> {
                    Map<TopicPartition, OffsetAndMetadata> o = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get();
                    return o.get(tp) == null ? null : o.get(tp).offset();
                });
                check("admin.groups.alter_offsets_active", () -> {
                    admin.alterConsumerGroupOffsets(g, Map.of(tp, new OffsetAndMetadata(3))).all().get();
                    return "altered";
                });
            }
            check("admin.groups.list", () -> {
                List<Object> out = new ArrayList<>();
                for (GroupListing l : admin.listGroups().all().get()) {
                    if (l.groupId().startsWith(prefix)) out.add(List.of(l.groupId(), String.valueOf(l.groupState().orElse(null)),
                            String.valueOf(l.type().orElse(null)), l.protocol()));
                }
                return out;
            });
            check("admin.groups.describe_empty", () -> {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
                return map("state", d.groupState().toString(), "members", d.members().size());
            });
            check("admin.groups.describe_unknown", () -> {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g + "-nosuch")).all().get().get(g + "-nosuch");
                return map("state", d.groupState().toString(), "members", d.members().size());
            });
            check("admin.groups.alter_offsets_empty", () -> {
                admin.alterConsumerGroupOffsets(g, Map.of(tp, new OffsetAndMetadata(3))).all().get();
                return admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get().get(tp).offset();
            });
            check("admin.groups.alter_offsets_unknown_topic", () -> {
                admin.alterConsumerGroupOffsets(g, Map.of(new TopicPartition(rt + "-nosuch", 0), new OffsetAndMetadata(3))).all().get();
                return "altered";
            });
            check("admin.groups.delete_offsets", () -> {
                admin.deleteConsumerGroupOffsets(g, Set.of(tp)).all().get();
                return admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get().containsKey(tp);
            });
            check("admin.groups.offsets_unknown_group", () -> admin.listConsumerGroupOffsets(g + "-nosuch").partitionsToOffsetAndMetadata().get().size());
            check("admin.groups.delete_unknown", () -> { admin.deleteConsumerGroups(List.of(g + "-nosuch")).all().get(); return "deleted"; });
            check("admin.groups.delete_empty", () -> { admin.deleteConsumerGroups(List.of(g)).all().get(); return "deleted"; });
            check("admin.groups.describe_deleted", () -> {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).all().get().get(g);
                return map("state", d.groupState().toString(), "members", d.members().size());
            });
            check("admin.delete.ok", () -> {
                admin.deleteTopics(List.of(t + "-dflt")).all().get();
                return admin.listTopics().names().get().contains(t + "-dflt");
            });
        }
    }

    // --- a batch with keyless records sent to a compacted topic (KIP-467 record errors) --------

    static void keyless() throws Exception {
        String t = prefix + "-keyless";
        try (Admin admin = Admin.create(common())) {
            admin.createTopics(List.of(new NewTopic(t, 1, (short) 1).configs(Map.of("cleanup.policy", "compact")))).all().get();
        }
        Properties p = common();
        p.put("linger.ms", "2000");  // the five records go in one batch
        p.put("batch.size", "1000000");
        p.put("delivery.timeout.ms", "20000");
        p.put("request.timeout.ms", "10000");
        String[] keys = {"k0", null, "k2", null, "k4"};
        List<Object> outcomes = new ArrayList<>();
        long t0 = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < keys.length; i++) futures.add(producer.send(new ProducerRecord<>(t, 0, keys[i], "v" + i)));
            producer.flush();
            for (Future<RecordMetadata> f : futures) {
                outcomes.add(outcome(() -> f.get().offset()));
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Properties cp = common();
        cp.put("auto.offset.reset", "earliest");
        List<Object> stored = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            TopicPartition tp = new TopicPartition(t, 0);
            c.assign(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 10000;
            while (c.position(tp) < end && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) stored.add(List.of(r.offset(), String.valueOf(r.key())));
            }
        }
        emit("clients.keyless_compacted.records", outcomes);
        emit("clients.keyless_compacted.stored", stored);
        emit("timing.keyless_compacted", map("seconds", seconds));
    }

    // --- one member stops polling past max.poll.interval.ms, another keeps going ----------------

    static Set<Integer> partitions(Collection<TopicPartition> tps) {
        Set<Integer> s = new TreeSet<>();
        for (TopicPartition tp : tps) s.add(tp.partition());
        return s;
    }

    static void maxPoll() throws Exception {
        String t = prefix + "-maxpoll";
        String g = prefix + "-maxpoll-group";
        int maxPollMs = 5000;
        try (Admin admin = Admin.create(common())) {
            admin.createTopics(List.of(new NewTopic(t, 4, (short) 1))).all().get();
        }
        Properties cp = common();
        cp.put("group.id", g);
        cp.put("max.poll.interval.ms", String.valueOf(maxPollMs));
        cp.put("session.timeout.ms", "10000");
        cp.put("heartbeat.interval.ms", "500");
        cp.put("auto.offset.reset", "earliest");
        cp.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
        KafkaConsumer<String, String> a = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer());
        KafkaConsumer<String, String> b = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer());
        AtomicReference<Set<Integer>> bOwns = new AtomicReference<>(Set.of());
        AtomicBoolean stop = new AtomicBoolean();
        List<String> bEvents = Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime();
        Thread bThread = new Thread(() -> {
            b.subscribe(List.of(t), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> ps) { }
                public void onPartitionsAssigned(Collection<TopicPartition> ps) { }
            });
            while (!stop.get()) {
                try {
                    b.poll(Duration.ofMillis(100));
                    bOwns.set(partitions(b.assignment()));
                } catch (Exception e) {
                    bEvents.add(e.getClass().getSimpleName());
                }
            }
            b.close();
        });
        bThread.start();
        a.subscribe(List.of(t));
        long deadline = System.currentTimeMillis() + 60000;
        while (System.currentTimeMillis() < deadline && !(a.assignment().size() == 2 && bOwns.get().size() == 2)) a.poll(Duration.ofMillis(100));
        double together = (System.nanoTime() - start) / 1e9;
        Set<Integer> aHad = partitions(a.assignment());
        // a stops polling now; b goes on
        long stopped = System.nanoTime();
        double bAll = -1;
        while (System.nanoTime() - stopped < (maxPollMs + 25000) * 1_000_000L) {
            if (bOwns.get().size() == 4) { bAll = (System.nanoTime() - stopped) / 1e9; break; }
            Thread.sleep(20);
        }
        // a comes back: what does its commit say, and does it rejoin?
        Object aCommit = outcome(() -> { a.commitSync(Map.of(new TopicPartition(t, aHad.iterator().next()), new OffsetAndMetadata(0))); return "committed"; });
        long back = System.nanoTime();
        double rejoined = -1;
        while (System.nanoTime() - back < 30_000_000_000L) {
            a.poll(Duration.ofMillis(100));
            if (a.assignment().size() == 2 && bOwns.get().size() == 2) { rejoined = (System.nanoTime() - back) / 1e9; break; }
        }
        stop.set(true);
        bThread.join();
        a.close();
        emit("clients.max_poll_interval", map("b_took_all", bAll >= 0, "a_commit_after", aCommit, "a_rejoined", rejoined >= 0,
                "b_errors", new TreeSet<>(bEvents)));
        emit("timing.max_poll_interval", map("group_formed_s", together, "b_owns_all_after_a_stopped_s", bAll,
                "max_poll_interval_s", maxPollMs / 1000.0, "a_back_in_s", rejoined));
    }

    // --- a pattern subscription picks up a topic auto-created after it started ------------------

    static void pattern() throws Exception {
        String existing = prefix + ".pat.a";
        try (Admin admin = Admin.create(common())) {
            admin.createTopics(List.of(new NewTopic(existing, 1, (short) 1))).all().get();
        }
        patternCase("pattern_subscription", prefix + "\\.pat\\..*", prefix + ".pat.b", existing);
        // nothing matches when the consumer starts: the first topic comes from auto-creation
        patternCase("pattern_subscription_from_nothing", prefix + "\\.fresh\\..*", prefix + ".fresh.x", null);
    }

    static void patternCase(String name, String regex, String later, String existing) throws Exception {
        Properties cp = common();
        cp.put("group.id", prefix + "-" + name);
        cp.put("auto.offset.reset", "earliest");
        cp.put("metadata.max.age.ms", "2000");
        Set<String> seenTopics = new TreeSet<>();
        double assigned = -1, received = -1, sawTopic = -1;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer());
             KafkaProducer<String, String> p = new KafkaProducer<>(common(), new StringSerializer(), new StringSerializer())) {
            c.subscribe(Pattern.compile(regex));
            long start = System.nanoTime();
            if (existing != null) {
                long deadline = System.currentTimeMillis() + 60000;
                while (c.assignment().isEmpty() && System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(100));
                assigned = (System.nanoTime() - start) / 1e9;
            } else {
                long until = System.currentTimeMillis() + 3000;  // polls with nothing to match
                while (System.currentTimeMillis() < until) c.poll(Duration.ofMillis(100));
            }
            for (TopicPartition tp : c.assignment()) seenTopics.add(tp.topic());
            // the producer's metadata request creates the topic (auto.create.topics.enable)
            long sent = System.nanoTime();
            p.send(new ProducerRecord<>(later, "k", "v")).get(30, TimeUnit.SECONDS);
            double created = (System.nanoTime() - sent) / 1e9;
            while (System.nanoTime() - sent < 40_000_000_000L) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    if (r.topic().equals(later) && received < 0) received = (System.nanoTime() - sent) / 1e9;
                }
                for (TopicPartition tp : c.assignment()) {
                    if (tp.topic().equals(later) && sawTopic < 0) sawTopic = (System.nanoTime() - sent) / 1e9;
                }
                if (received >= 0) break;
            }
            emit("clients." + name, map("first_assignment", seenTopics, "new_topic_assigned", sawTopic >= 0,
                    "new_topic_record_received", received >= 0));
            emit("timing." + name, map("first_assignment_s", assigned, "produce_with_auto_create_s", created,
                    "new_topic_assigned_s", sawTopic, "record_received_s", received, "metadata_max_age_s", 2.0));
        }
    }
}
