import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.AlterConfigsOptions;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreatePartitionsOptions;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.DescribeReplicaLogDirsResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * Every Admin call Odradek serves, on one broker, with the answers and the errors (as exception class
 * names) printed for the Python test to compare with Kafka's. The calls Odradek does not offer must
 * fail fast with UnsupportedVersionException. Left out: calls on a partition that does not exist
 * (listOffsets, describeProducers, deleteRecords), which the Admin retries until its timeout against
 * Kafka too.
 *
 * Args: --bootstrap B --prefix P --broker-id N --log-dir DIR
 */
public class AdminScenario {
    interface Step { Object run() throws Exception; }

    /** The step's result, or {"error": ExceptionClass, "message": ...}. */
    static Object call(Step s) {
        try {
            return s.run();
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null && (t instanceof java.util.concurrent.ExecutionException)) t = t.getCause();
            return Json.obj("error", Util.err(e), "message", t.getMessage());
        }
    }

    static Map<String, Object> error(Throwable e) {
        return Json.obj("error", Util.err(e));
    }

    static Admin admin;
    static String bs;
    static int brokerId;

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        bs = a.get("bootstrap");
        String prefix = a.get("prefix");
        brokerId = Integer.parseInt(a.get("broker-id"));
        String logDir = a.get("log-dir");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("client", Versioned.CLIENT);
        admin = Admin.create(Util.props(bs, "default.api.timeout.ms", "20000", "request.timeout.ms", "15000"));
        try {
            topics(out, prefix);
            configs(out, prefix);
            cluster(out);
            records(out, prefix, logDir);
            groups(out, prefix);
            unsupported(out);
            deletions(out, prefix);
        } finally {
            admin.close();
        }
        Util.print(out);
    }

    // --- topics -----------------------------------------------------------------------------------

    static void topics(Map<String, Object> out, String prefix) throws Exception {
        String ta = prefix + "-a", tb = prefix + "-b", tc = prefix + "-c";
        Map<String, String> configs = new HashMap<>();
        configs.put("cleanup.policy", "compact");
        configs.put("retention.ms", "123456789");
        configs.put("max.message.bytes", "200000");
        Map<Integer, List<Integer>> assignment = new HashMap<>();
        assignment.put(0, Collections.singletonList(brokerId));
        assignment.put(1, Collections.singletonList(brokerId));
        CreateTopicsResult created = admin.createTopics(Arrays.asList(
            new NewTopic(ta, 3, (short) 1).configs(configs),
            new NewTopic(tb, Optional.empty(), Optional.empty()),
            new NewTopic(tc, assignment)));
        Map<String, Object> c = Json.obj();
        for (String t : Arrays.asList(ta, tb, tc)) {
            c.put(t, call(() -> {
                Config cfg = created.config(t).get();
                return Json.obj("partitions", created.numPartitions(t).get(),
                    "replication_factor", created.replicationFactor(t).get(),
                    "topic_id", created.topicId(t).get().toString(),
                    "retention.ms", entry(cfg.get("retention.ms")), "cleanup.policy", entry(cfg.get("cleanup.policy")),
                    "segment.bytes", entry(cfg.get("segment.bytes")));
            }));
        }
        out.put("create", c);

        Map<String, Object> errs = Json.obj();
        errs.put("exists", createError(new NewTopic(ta, 1, (short) 1)));
        errs.put("bad_config_value", createError(new NewTopic(prefix + "-x1", 1, (short) 1)
            .configs(Collections.singletonMap("cleanup.policy", "bogus"))));
        errs.put("unknown_config", createError(new NewTopic(prefix + "-x2", 1, (short) 1)
            .configs(Collections.singletonMap("no.such.config", "1"))));
        errs.put("replication_factor_too_big", createError(new NewTopic(prefix + "-x3", 1, (short) 3)));
        errs.put("bad_name", createError(new NewTopic("bad/name", 1, (short) 1)));
        errs.put("zero_partitions", createError(new NewTopic(prefix + "-x4", 0, (short) 1)));
        errs.put("validate_only", call(() -> {
            CreateTopicsResult r = admin.createTopics(Collections.singleton(new NewTopic(prefix + "-v", 2, (short) 1)),
                new CreateTopicsOptions().validateOnly(true));
            return Json.obj("partitions", r.numPartitions(prefix + "-v").get(),
                "listed", admin.listTopics().names().get().contains(prefix + "-v"));
        }));
        out.put("create_errors", errs);

        out.put("list_topics", call(() -> new TreeSet<>(admin.listTopics().names().get())));

        out.put("create_partitions", call(() -> {
            Map<String, Object> r = Json.obj();
            r.put("grow_a_to_5", Util.errOf(admin.createPartitions(Collections.singletonMap(ta, NewPartitions.increaseTo(5))).all()));
            r.put("same_count", Util.errOf(admin.createPartitions(Collections.singletonMap(tb, NewPartitions.increaseTo(1))).all()));
            r.put("fewer", Util.errOf(admin.createPartitions(Collections.singletonMap(ta, NewPartitions.increaseTo(2))).all()));
            r.put("unknown_topic", Util.errOf(admin.createPartitions(Collections.singletonMap(prefix + "-nope", NewPartitions.increaseTo(2))).all()));
            r.put("with_assignment", Util.errOf(admin.createPartitions(Collections.singletonMap(tc,
                NewPartitions.increaseTo(3, Collections.singletonList(Collections.singletonList(brokerId))))).all()));
            r.put("validate_only", Util.errOf(admin.createPartitions(Collections.singletonMap(tb, NewPartitions.increaseTo(4)),
                new CreatePartitionsOptions().validateOnly(true)).all()));
            return r;
        }));

        out.put("describe_topics", call(() -> {
            Map<String, Object> r = Json.obj();
            for (TopicDescription d : admin.describeTopics(Arrays.asList(ta, tb, tc)).allTopicNames().get().values()) {
                r.put(d.name(), topic(d));
            }
            return r;
        }));
        out.put("describe_topics_paged", call(() -> {
            Map<String, Object> r = Json.obj();
            for (TopicDescription d : admin.describeTopics(Arrays.asList(ta, tb, tc),
                    new DescribeTopicsOptions().partitionSizeLimitPerResponse(2)).allTopicNames().get().values()) {
                r.put(d.name(), d.partitions().size());
            }
            return r;
        }));
        out.put("describe_topics_unknown", call(() -> admin.describeTopics(Collections.singleton(prefix + "-nope")).allTopicNames().get()));
        out.put("describe_topics_mixed", call(() -> {
            Map<String, Object> r = Json.obj();
            admin.describeTopics(Arrays.asList(ta, prefix + "-nope")).topicNameValues().forEach((name, f) -> r.put(name, Util.errOf(f)));
            return r;
        }));
        out.put("describe_topics_by_id", call(() -> {
            Uuid id = admin.describeTopics(Collections.singleton(ta)).allTopicNames().get().get(ta).topicId();
            Map<String, Object> r = Json.obj();
            for (Map.Entry<Uuid, TopicDescription> e : admin.describeTopics(TopicCollection.ofTopicIds(Collections.singleton(id))).allTopicIds().get().entrySet()) {
                r.put(e.getKey().toString(), Json.obj("name", e.getValue().name(), "partitions", e.getValue().partitions().size()));
            }
            return r;
        }));
        out.put("describe_topics_unknown_id", call(() ->
            admin.describeTopics(TopicCollection.ofTopicIds(Collections.singleton(Uuid.randomUuid()))).allTopicIds().get().size()));
        out.put("describe_topics_authorized", call(() -> names(admin.describeTopics(Collections.singleton(ta),
            new DescribeTopicsOptions().includeAuthorizedOperations(true)).allTopicNames().get().get(ta).authorizedOperations())));
    }

    static Object createError(NewTopic t) {
        return call(() -> {
            String e = Util.errOf(admin.createTopics(Collections.singleton(t)).all());
            return e == null ? "created" : e;
        });
    }

    static Map<String, Object> topic(TopicDescription d) {
        List<Object> ps = Json.list();
        for (TopicPartitionInfo p : d.partitions()) {
            ps.add(Json.obj("partition", p.partition(), "leader", p.leader() == null ? null : p.leader().id(),
                "replicas", ids(p.replicas()), "isr", ids(p.isr())));
        }
        return Json.obj("internal", d.isInternal(), "topic_id", d.topicId().toString(), "partitions", ps);
    }

    static List<Object> ids(List<Node> nodes) {
        List<Object> out = Json.list();
        for (Node n : nodes) out.add(n.id());
        return out;
    }

    static Set<String> names(Collection<?> xs) {
        Set<String> out = new TreeSet<>();
        if (xs != null) for (Object x : xs) out.add(x.toString());
        return out;
    }

    // --- configs ----------------------------------------------------------------------------------

    static Map<String, Object> entry(ConfigEntry e) {
        if (e == null) return null;
        return Json.obj("value", e.value(), "source", e.source().toString(), "default", e.isDefault(),
            "read_only", e.isReadOnly(), "sensitive", e.isSensitive());
    }

    static Map<String, Object> describe(ConfigResource r, String... keys) throws Exception {
        Config cfg = admin.describeConfigs(Collections.singleton(r)).all().get().get(r);
        Map<String, Object> out = new TreeMap<>();
        for (String k : keys) out.put(k, entry(cfg.get(k)));
        return out;
    }

    static Object alter(ConfigResource r, boolean validateOnly, AlterConfigOp... ops) {
        return call(() -> {
            String e = Util.errOf(admin.incrementalAlterConfigs(Collections.singletonMap(r, Arrays.asList(ops)),
                new AlterConfigsOptions().validateOnly(validateOnly)).all());
            return e == null ? "ok" : e;
        });
    }

    static AlterConfigOp op(String k, String v, AlterConfigOp.OpType t) {
        return new AlterConfigOp(new ConfigEntry(k, v), t);
    }

    static void configs(Map<String, Object> out, String prefix) throws Exception {
        String ta = prefix + "-a", tb = prefix + "-b";
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, ta);
        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(brokerId));
        ConfigResource clusterDefault = new ConfigResource(ConfigResource.Type.BROKER, "");
        String[] keys = {"cleanup.policy", "retention.ms", "max.message.bytes", "segment.bytes", "min.insync.replicas"};

        out.put("describe_topic_configs", call(() -> {
            Config cfg = admin.describeConfigs(Collections.singleton(topic)).all().get().get(topic);
            Map<String, Object> r = new TreeMap<>();
            for (ConfigEntry e : cfg.entries()) r.put(e.name(), entry(e));
            return r;
        }));
        out.put("describe_topic_synonyms", call(() -> {
            Config cfg = admin.describeConfigs(Collections.singleton(topic),
                new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true)).all().get().get(topic);
            ConfigEntry e = cfg.get("retention.ms");
            List<Object> syn = Json.list();
            for (ConfigEntry.ConfigSynonym s : e.synonyms()) syn.add(Json.obj("name", s.name(), "value", s.value(), "source", s.source().toString()));
            return Json.obj("synonyms", syn, "type", e.type().toString(), "has_documentation", e.documentation() != null && !e.documentation().isEmpty());
        }));
        out.put("describe_broker_configs", call(() -> describe(broker, "broker.id", "num.partitions", "message.max.bytes",
            "log.retention.hours", "auto.create.topics.enable", "log.dirs")));
        out.put("describe_broker_config_count", call(() -> admin.describeConfigs(Collections.singleton(broker)).all().get().get(broker).entries().size()));
        out.put("describe_configs_unknown_topic", call(() -> admin.describeConfigs(Collections.singleton(
            new ConfigResource(ConfigResource.Type.TOPIC, prefix + "-nope"))).all().get().size()));

        Map<String, Object> inc = Json.obj();
        inc.put("set_delete_append", alter(topic, false, op("retention.ms", "2000000", AlterConfigOp.OpType.SET),
            op("max.message.bytes", null, AlterConfigOp.OpType.DELETE), op("cleanup.policy", "delete", AlterConfigOp.OpType.APPEND)));
        inc.put("after_set_delete_append", call(() -> describe(topic, keys)));
        inc.put("subtract", alter(topic, false, op("cleanup.policy", "compact", AlterConfigOp.OpType.SUBTRACT)));
        inc.put("after_subtract", call(() -> describe(topic, "cleanup.policy")));
        inc.put("validate_only", alter(topic, true, op("retention.ms", "1", AlterConfigOp.OpType.SET)));
        inc.put("after_validate_only", call(() -> describe(topic, "retention.ms")));
        inc.put("unknown_key", alter(topic, false, op("no.such.config", "1", AlterConfigOp.OpType.SET)));
        inc.put("bad_value", alter(topic, false, op("retention.ms", "abc", AlterConfigOp.OpType.SET)));
        inc.put("append_to_non_list", alter(topic, false, op("retention.ms", "5", AlterConfigOp.OpType.APPEND)));
        inc.put("unknown_topic", alter(new ConfigResource(ConfigResource.Type.TOPIC, prefix + "-nope"), false,
            op("retention.ms", "5", AlterConfigOp.OpType.SET)));
        inc.put("broker_set", alter(broker, false, op("log.retention.ms", "7200000", AlterConfigOp.OpType.SET)));
        inc.put("cluster_default_set", alter(clusterDefault, false, op("log.retention.bytes", "1073741824", AlterConfigOp.OpType.SET)));
        inc.put("after_broker_set", call(() -> describe(broker, "log.retention.ms", "log.retention.bytes")));
        inc.put("topic_sees_broker_values", call(() -> describe(new ConfigResource(ConfigResource.Type.TOPIC, tb), "retention.ms", "retention.bytes")));
        inc.put("broker_read_only", alter(broker, false, op("broker.id", "7", AlterConfigOp.OpType.SET)));
        inc.put("broker_delete", alter(broker, false, op("log.retention.ms", null, AlterConfigOp.OpType.DELETE)));
        inc.put("cluster_default_delete", alter(clusterDefault, false, op("log.retention.bytes", null, AlterConfigOp.OpType.DELETE)));
        inc.put("after_broker_delete", call(() -> describe(broker, "log.retention.ms", "log.retention.bytes")));
        out.put("incremental_alter_configs", inc);

        Map<String, String> legacy = new HashMap<>();
        legacy.put("retention.ms", "3000000");
        legacy.put("segment.bytes", "1048576");
        out.put("alter_configs_legacy", call(() -> Versioned.alterConfigsLegacy(admin, tb, legacy)));
        out.put("after_alter_configs_legacy", call(() -> describe(new ConfigResource(ConfigResource.Type.TOPIC, tb),
            "retention.ms", "segment.bytes")));
    }

    // --- cluster ----------------------------------------------------------------------------------

    static void cluster(Map<String, Object> out) {
        out.put("describe_cluster", call(() -> {
            DescribeClusterResult r = admin.describeCluster(new DescribeClusterOptions().includeAuthorizedOperations(true));
            List<Object> nodes = Json.list();
            for (Node n : r.nodes().get()) nodes.add(Json.obj("id", n.id(), "host", n.host(), "port", n.port(), "rack", n.rack()));
            Node ctl = r.controller().get();
            return Json.obj("cluster_id", r.clusterId().get(), "controller", ctl == null ? null : ctl.id(), "nodes", nodes,
                "authorized_operations", names(r.authorizedOperations().get()));
        }));
        out.put("describe_features", call(() -> {
            FeatureMetadata f = admin.describeFeatures().featureMetadata().get();
            Map<String, Object> sup = new TreeMap<>();
            f.supportedFeatures().forEach((k, v) -> sup.put(k, Arrays.asList(v.minVersion(), v.maxVersion())));
            Map<String, Object> fin = new TreeMap<>();
            f.finalizedFeatures().forEach((k, v) -> fin.put(k, Arrays.asList(v.minVersionLevel(), v.maxVersionLevel())));
            return Json.obj("supported", sup, "finalized", fin, "epoch", f.finalizedFeaturesEpoch().orElse(null));
        }));
    }

    // --- records: offsets, delete records, log dirs, producers, leaders ----------------------------

    static Map<String, Object> offsets(TopicPartition tp, Map<String, OffsetSpec> specs, ListOffsetsOptions opts) {
        Map<String, Object> out = Json.obj();
        for (Map.Entry<String, OffsetSpec> e : specs.entrySet()) {
            if (e.getValue() == null) continue;
            out.put(e.getKey(), call(() -> {
                ListOffsetsResult.ListOffsetsResultInfo i = admin.listOffsets(Collections.singletonMap(tp, e.getValue()), opts)
                    .partitionResult(tp).get();
                return Json.obj("offset", i.offset(), "timestamp", i.timestamp(), "leader_epoch", i.leaderEpoch().orElse(null));
            }));
        }
        return out;
    }

    static void records(Map<String, Object> out, String prefix, String logDir) throws Exception {
        String ta = prefix + "-a";
        TopicPartition tp0 = new TopicPartition(ta, 0);
        long base = 1_600_000_000_000L;
        // ten records on partition 0, timestamps base + 0, 10, ... with one late high one at index 6
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Util.producerProps(bs, "linger.ms", "0"))) {
            for (int i = 0; i < 10; i++) {
                long ts = i == 6 ? base + 5000 : base + i * 10L;
                p.send(new ProducerRecord<>(ta, 0, ts, ("k" + i).getBytes(), ("v" + i).getBytes())).get();
            }
        }
        Map<String, OffsetSpec> specs = new LinkedHashMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("latest", OffsetSpec.latest());
        specs.put("for_timestamp_exact", OffsetSpec.forTimestamp(base + 30));
        specs.put("for_timestamp_between", OffsetSpec.forTimestamp(base + 35));
        specs.put("for_timestamp_after_all", OffsetSpec.forTimestamp(base + 100_000));
        specs.put("max_timestamp", OffsetSpec.maxTimestamp());
        specs.put("earliest_local", OffsetSpec.earliestLocal());
        specs.put("latest_tiered", OffsetSpec.latestTiered());
        specs.put("earliest_pending_upload", Versioned.earliestPendingUpload());
        out.put("list_offsets", offsets(tp0, specs, new ListOffsetsOptions()));
        Map<String, OffsetSpec> committedSpecs = new LinkedHashMap<>();
        committedSpecs.put("latest", OffsetSpec.latest());
        out.put("list_offsets_read_committed", offsets(tp0, committedSpecs, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)));

        out.put("describe_producers", call(() -> {
            List<Object> r = Json.list();
            for (ProducerState s : admin.describeProducers(Collections.singleton(tp0)).partitionResult(tp0).get().activeProducers()) {
                r.add(Json.obj("producer_id", s.producerId(), "epoch", s.producerEpoch(), "last_sequence", s.lastSequence(),
                    "last_timestamp", s.lastTimestamp()));
            }
            return r;
        }));

        Map<String, Object> del = Json.obj();
        del.put("before_3", call(() -> admin.deleteRecords(Collections.singletonMap(tp0, RecordsToDelete.beforeOffset(3)))
            .lowWatermarks().get(tp0).get().lowWatermark()));
        del.put("earliest_after", offsets(tp0, Collections.singletonMap("earliest", OffsetSpec.earliest()), new ListOffsetsOptions()));
        del.put("for_deleted_timestamp", offsets(tp0, Collections.singletonMap("ts", OffsetSpec.forTimestamp(base)), new ListOffsetsOptions()));
        del.put("beyond_end", call(() -> admin.deleteRecords(Collections.singletonMap(tp0, RecordsToDelete.beforeOffset(1000)))
            .lowWatermarks().get(tp0).get().lowWatermark()));
        out.put("delete_records", del);

        out.put("describe_log_dirs", call(() -> {
            Map<String, Object> r = Json.obj();
            for (Map.Entry<String, LogDirDescription> e : admin.describeLogDirs(Collections.singleton(brokerId)).allDescriptions().get().get(brokerId).entrySet()) {
                LogDirDescription d = e.getValue();
                Map<String, Object> reps = new TreeMap<>();
                for (Map.Entry<TopicPartition, ReplicaInfo> ri : d.replicaInfos().entrySet()) {
                    if (!ri.getKey().topic().startsWith(prefix)) continue;
                    reps.put(ri.getKey().toString(), Json.obj("size", ri.getValue().size(), "offset_lag", ri.getValue().offsetLag(),
                        "future", ri.getValue().isFuture()));
                }
                r.put(e.getKey(), Json.obj("error", d.error() == null ? null : d.error().getClass().getSimpleName(),
                    "total_bytes", d.totalBytes().isPresent() ? d.totalBytes().getAsLong() : null,
                    "usable_bytes", d.usableBytes().isPresent() ? d.usableBytes().getAsLong() : null, "replicas", reps));
            }
            return r;
        }));
        TopicPartitionReplica replica = new TopicPartitionReplica(ta, 0, brokerId);
        out.put("describe_replica_log_dirs", call(() -> {
            DescribeReplicaLogDirsResult.ReplicaLogDirInfo i = admin.describeReplicaLogDirs(Collections.singleton(replica)).all().get().get(replica);
            return Json.obj("current", i.getCurrentReplicaLogDir(), "lag", i.getCurrentReplicaOffsetLag(),
                "future", i.getFutureReplicaLogDir(), "future_lag", i.getFutureReplicaOffsetLag());
        }));
        out.put("alter_replica_log_dirs_same", call(() -> {
            String e = Util.errOf(admin.alterReplicaLogDirs(Collections.singletonMap(replica, logDir)).all());
            return e == null ? "ok" : e;
        }));
        out.put("alter_replica_log_dirs_unknown_dir", call(() -> {
            String e = Util.errOf(admin.alterReplicaLogDirs(Collections.singletonMap(replica, logDir + "-nope")).all());
            return e == null ? "ok" : e;
        }));

        out.put("elect_preferred", call(() -> {
            Map<String, Object> r = Json.obj();
            admin.electLeaders(ElectionType.PREFERRED, Collections.singleton(tp0)).partitions().get()
                .forEach((tp, e) -> r.put(tp.toString(), e.isPresent() ? Util.err(e.get()) : "ok"));
            return r;
        }));
        out.put("elect_unclean", call(() -> {
            Map<String, Object> r = Json.obj();
            admin.electLeaders(ElectionType.UNCLEAN, Collections.singleton(tp0)).partitions().get()
                .forEach((tp, e) -> r.put(tp.toString(), e.isPresent() ? Util.err(e.get()) : "ok"));
            return r;
        }));
        out.put("list_reassignments", call(() -> admin.listPartitionReassignments().reassignments().get().size()));
    }

    // --- groups -----------------------------------------------------------------------------------

    static Map<String, Object> describeGroup(String group, boolean ops) throws Exception {
        ConsumerGroupDescription d = admin.describeConsumerGroups(Collections.singleton(group),
            new DescribeConsumerGroupsOptions().includeAuthorizedOperations(ops)).all().get().get(group);
        List<Object> ms = Json.list();
        for (MemberDescription m : d.members()) {
            List<Object> parts = Json.list();
            for (TopicPartition tp : GroupScenario.partitionsOf(m.assignment().topicPartitions())) parts.add(tp.toString());
            ms.add(Json.obj("member_id", m.consumerId(), "instance_id", m.groupInstanceId().orElse(null),
                "client_id", m.clientId(), "host", m.host(), "partitions", parts));
        }
        return Json.obj("state", Versioned.state(d), "assignor", d.partitionAssignor(), "simple", d.isSimpleConsumerGroup(),
            "type", d.type() == null ? null : d.type().toString(),
            "coordinator", d.coordinator() == null ? null : d.coordinator().id(), "members", ms,
            "authorized_operations", ops ? names(d.authorizedOperations()) : null);
    }

    static Map<String, Object> groupOffsets(String group) throws Exception {
        Map<String, Object> r = new TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().entrySet()) {
            OffsetAndMetadata om = e.getValue();
            r.put(e.getKey().toString(), om == null ? null : Json.obj("offset", om.offset(), "metadata", om.metadata()));
        }
        return r;
    }

    static Object groupListing(Map<String, Object> all, String... groups) {
        Map<String, Object> out = Json.obj();
        for (Map.Entry<String, Object> e : all.entrySet()) {
            List<Object> mine = Json.list();
            for (Object o : (List<?>) e.getValue()) {
                Map<?, ?> m = (Map<?, ?>) o;
                if (Arrays.asList(groups).contains(m.get("group_id"))) mine.add(m);
            }
            out.put(e.getKey(), mine);
        }
        return out;
    }

    static void groups(Map<String, Object> out, String prefix) throws Exception {
        String ta = prefix + "-a";
        String g1 = prefix + "-g1", g2 = prefix + "-g2", g3 = prefix + "-g3";
        List<Object> events = Collections.synchronizedList(new ArrayList<>());
        List<Object> consumed = Collections.synchronizedList(new ArrayList<>());
        GroupScenario.Member member = new GroupScenario.Member("admin-m1", bs, ta, g1,
            "org.apache.kafka.clients.consumer.RangeAssignor", null, events, consumed);
        GroupScenario.Member fixed = new GroupScenario.Member("admin-static", bs, prefix + "-b", g2,
            "org.apache.kafka.clients.consumer.RangeAssignor", "static-1", events, consumed);
        fixed.props.put("session.timeout.ms", "45000");  // it must outlive the calls made while it is closed
        member.start();
        fixed.start();
        GroupScenario.settle(Collections.singletonList(member), 5);
        GroupScenario.settle(Collections.singletonList(fixed), 1);
        // everything consumed and committed (7 records are left on partition 0 after DeleteRecords)
        Util.waitUntil(() -> consumed.size() >= 7, 30_000, "the group member to consume");
        Util.waitUntil(() -> {
            try {
                OffsetAndMetadata om = admin.listConsumerGroupOffsets(g1).partitionsToOffsetAndMetadata().get().get(new TopicPartition(ta, 0));
                return om != null && om.offset() == 10;
            } catch (Exception e) {
                return false;
            }
        }, 30_000, "the group member to commit");
        fixed.stop();  // a static member stays in the group when it closes

        Map<String, Object> active = Json.obj();
        active.put("list", call(() -> groupListing(Versioned.listGroups(admin), g1, g2)));
        active.put("describe", call(() -> describeGroup(g1, true)));
        active.put("describe_classic", call(() -> Versioned.describeClassic(admin, g1)));
        active.put("describe_static", call(() -> describeGroup(g2, false)));
        active.put("offsets", call(() -> groupOffsets(g1)));
        active.put("offsets_of_partitions", call(() -> {
            ListConsumerGroupOffsetsSpec spec = new ListConsumerGroupOffsetsSpec().topicPartitions(
                Arrays.asList(new TopicPartition(ta, 0), new TopicPartition(prefix + "-b", 0)));
            Map<String, Object> r = new TreeMap<>();
            admin.listConsumerGroupOffsets(Collections.singletonMap(g1, spec)).partitionsToOffsetAndMetadata(g1).get()
                .forEach((tp, om) -> r.put(tp.toString(), om == null ? null : om.offset()));
            return r;
        }));
        active.put("alter_offsets", call(() -> Util.errOf(admin.alterConsumerGroupOffsets(g1,
            Collections.singletonMap(new TopicPartition(ta, 0), new OffsetAndMetadata(1))).all())));
        active.put("delete_offsets", call(() -> Util.errOf(admin.deleteConsumerGroupOffsets(g1,
            Collections.singleton(new TopicPartition(ta, 0))).all())));
        active.put("delete_group", call(() -> Util.errOf(admin.deleteConsumerGroups(Collections.singleton(g1)).all())));
        active.put("describe_unknown", call(() -> describeGroup(prefix + "-nope", false)));
        active.put("remove_static_member", call(() -> Util.errOf(admin.removeMembersFromConsumerGroup(g2,
            new RemoveMembersFromConsumerGroupOptions(Collections.singleton(new MemberToRemove("static-1")))).all())));
        active.put("remove_unknown_member", call(() -> Util.errOf(admin.removeMembersFromConsumerGroup(g2,
            new RemoveMembersFromConsumerGroupOptions(Collections.singleton(new MemberToRemove("static-9")))).all())));
        active.put("describe_static_after_remove", call(() -> describeGroup(g2, false)));
        out.put("groups_active", active);

        member.stop();
        Map<String, Object> empty = Json.obj();
        empty.put("describe", call(() -> describeGroup(g1, false)));
        empty.put("list", call(() -> groupListing(Versioned.listGroups(admin), g1, g2)));
        Map<TopicPartition, OffsetAndMetadata> newOffsets = new HashMap<>();
        newOffsets.put(new TopicPartition(ta, 0), new OffsetAndMetadata(4, "set-by-admin"));
        newOffsets.put(new TopicPartition(ta, 1), new OffsetAndMetadata(0));
        empty.put("alter_offsets", call(() -> Util.errOf(admin.alterConsumerGroupOffsets(g1, newOffsets).all())));
        empty.put("offsets_after_alter", call(() -> groupOffsets(g1)));
        empty.put("delete_offsets", call(() -> Util.errOf(admin.deleteConsumerGroupOffsets(g1,
            Collections.singleton(new TopicPartition(ta, 1))).all())));
        empty.put("offsets_after_delete", call(() -> groupOffsets(g1)));
        empty.put("alter_offsets_new_group", call(() -> Util.errOf(admin.alterConsumerGroupOffsets(g3,
            Collections.singletonMap(new TopicPartition(ta, 2), new OffsetAndMetadata(0))).all())));
        empty.put("describe_new_group", call(() -> describeGroup(g3, false)));
        empty.put("delete_groups", call(() -> {
            Map<String, Object> r = Json.obj();
            admin.deleteConsumerGroups(Arrays.asList(g1, g3, prefix + "-nope")).deletedGroups()
                .forEach((g, f) -> r.put(g, Util.errOf(f)));
            return r;
        }));
        empty.put("list_after_delete", call(() -> groupListing(Versioned.listGroups(admin), g1, g3)));
        empty.put("offsets_after_delete_group", call(() -> groupOffsets(g1)));
        out.put("groups_empty", empty);
        out.put("group_member_errors", GroupScenario.errors(Arrays.asList(member, fixed)));
        out.put("list_topics_internal", call(() -> admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get()
            .contains("__consumer_offsets")));
    }

    // --- what Odradek does not offer: fail fast -------------------------------------------------------

    static void unsupported(Map<String, Object> out) {
        Map<String, Object> r = Json.obj();
        r.put("describe_acls", call(() -> admin.describeAcls(AclBindingFilter.ANY).values().get().size()));
        r.put("describe_client_quotas", call(() -> admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get().size()));
        r.put("list_transactions", call(() -> admin.listTransactions().all().get().size()));
        r.put("describe_user_scram_credentials", call(() -> admin.describeUserScramCredentials().all().get().size()));
        r.put("describe_delegation_token", call(() -> admin.describeDelegationToken().delegationTokens().get().size()));
        out.put("unsupported", r);
    }

    // --- deletions --------------------------------------------------------------------------------

    static void deletions(Map<String, Object> out, String prefix) throws Exception {
        String ta = prefix + "-a", tb = prefix + "-b", tc = prefix + "-c";
        Map<String, Object> r = Json.obj();
        Uuid idC = admin.describeTopics(Collections.singleton(tc)).allTopicNames().get().get(tc).topicId();
        r.put("by_name", call(() -> Util.errOf(admin.deleteTopics(Collections.singleton(tb)).all())));
        r.put("by_id", call(() -> Util.errOf(admin.deleteTopics(TopicCollection.ofTopicIds(Collections.singleton(idC))).all())));
        r.put("unknown_name", call(() -> Util.errOf(admin.deleteTopics(Collections.singleton(prefix + "-nope")).all())));
        r.put("unknown_id", call(() -> Util.errOf(admin.deleteTopics(TopicCollection.ofTopicIds(Collections.singleton(Uuid.randomUuid()))).all())));
        r.put("listed_after", call(() -> {
            Set<String> names = admin.listTopics().names().get();
            return Json.obj(ta, names.contains(ta), tb, names.contains(tb), tc, names.contains(tc));
        }));
        out.put("delete_topics", r);
    }
}
