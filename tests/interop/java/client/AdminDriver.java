import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * The Java Admin (and a producer and consumer) driven one command per stdin line, one JSON line out,
 * for tests that stop and start brokers between calls. Commands:
 *   create TOPIC R,R,R;R,R,R;...      a topic with this replica assignment (one group per partition)
 *   describe TOPIC                    leader, replicas and ISR of each partition
 *   cluster                           describeCluster
 *   elect preferred|unclean TOPIC P,P electLeaders
 *   reassign TOPIC P R,R,...|cancel   alterPartitionReassignments
 *   reassignments                     listPartitionReassignments
 *   produce TOPIC P N TAG             N records (values "TAG-i") to partition P, acks=all
 *   consume TOPIC P                   every record of partition P, from its start to its end offset
 *
 * Args: --bootstrap B
 */
public class AdminDriver {
    static String bs;
    static Admin admin;

    public static void main(String[] argv) throws Exception {
        bs = Util.args(argv).get("bootstrap");
        admin = Admin.create(Util.props(bs, "default.api.timeout.ms", "30000", "request.timeout.ms", "15000"));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) continue;
            Object result;
            try {
                result = run(line.trim().split(" "));
            } catch (Exception e) {
                result = Json.obj("error", Util.err(e), "message", String.valueOf(e.getMessage()));
            }
            Util.print(result);
        }
        admin.close();
    }

    static Object run(String[] w) throws Exception {
        switch (w[0]) {
            case "create": {
                Map<Integer, List<Integer>> assignment = new HashMap<>();
                String[] parts = w[2].split(";");
                for (int p = 0; p < parts.length; p++) assignment.put(p, ints(parts[p]));
                admin.createTopics(Collections.singleton(new NewTopic(w[1], assignment))).all().get();
                return "ok";
            }
            case "describe": {
                TopicDescription d = admin.describeTopics(Collections.singleton(w[1])).allTopicNames().get().get(w[1]);
                List<Object> out = Json.list();
                for (TopicPartitionInfo p : d.partitions()) {
                    out.add(Json.obj("partition", p.partition(), "leader", p.leader() == null ? -1 : p.leader().id(),
                        "replicas", ids(p.replicas()), "isr", ids(p.isr())));
                }
                return out;
            }
            case "cluster": {
                DescribeClusterResult r = admin.describeCluster();
                List<Integer> nodes = new ArrayList<>();
                for (Node n : r.nodes().get()) nodes.add(n.id());
                Collections.sort(nodes);
                return Json.obj("nodes", nodes, "controller", r.controller().get().id(), "cluster_id", r.clusterId().get());
            }
            case "elect": {
                ElectionType type = "unclean".equals(w[1]) ? ElectionType.UNCLEAN : ElectionType.PREFERRED;
                Set<TopicPartition> tps = new HashSet<>();
                for (int p : ints(w[3])) tps.add(new TopicPartition(w[2], p));
                Map<String, Object> out = new TreeMap<>();
                admin.electLeaders(type, tps).partitions().get()
                    .forEach((tp, e) -> out.put(String.valueOf(tp.partition()), e.isPresent() ? Util.err(e.get()) : null));
                return out;
            }
            case "reassign": {
                TopicPartition tp = new TopicPartition(w[1], Integer.parseInt(w[2]));
                Optional<NewPartitionReassignment> target = "cancel".equals(w[3])
                    ? Optional.empty() : Optional.of(new NewPartitionReassignment(ints(w[3])));
                String e = Util.errOf(admin.alterPartitionReassignments(Collections.singletonMap(tp, target)).all());
                return e == null ? "ok" : e;
            }
            case "reassignments": {
                Map<String, Object> out = new TreeMap<>();
                for (Map.Entry<TopicPartition, PartitionReassignment> e : admin.listPartitionReassignments().reassignments().get().entrySet()) {
                    PartitionReassignment r = e.getValue();
                    out.put(e.getKey().toString(), Json.obj("replicas", r.replicas(), "adding", r.addingReplicas(),
                        "removing", r.removingReplicas()));
                }
                return out;
            }
            case "produce": {
                int partition = Integer.parseInt(w[2]);
                int n = Integer.parseInt(w[3]);
                List<Object> offsets = Json.list();
                try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Util.producerProps(bs, "linger.ms", "0",
                        "delivery.timeout.ms", "30000", "request.timeout.ms", "10000"))) {
                    List<Future<org.apache.kafka.clients.producer.RecordMetadata>> fs = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        fs.add(p.send(new ProducerRecord<>(w[1], partition, null, (w[4] + "-" + i).getBytes(StandardCharsets.UTF_8))));
                    }
                    for (Future<org.apache.kafka.clients.producer.RecordMetadata> f : fs) offsets.add(f.get().offset());
                }
                return offsets;
            }
            case "consume": {
                TopicPartition tp = new TopicPartition(w[1], Integer.parseInt(w[2]));
                List<Object> values = Json.list();
                try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Util.consumerProps(bs))) {
                    c.assign(Collections.singleton(tp));
                    c.seekToBeginning(Collections.singleton(tp));
                    long end = c.endOffsets(Collections.singleton(tp)).get(tp);
                    long deadline = System.currentTimeMillis() + 30_000;
                    while (c.position(tp) < end && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                            values.add(new String(r.value(), StandardCharsets.UTF_8));
                        }
                    }
                    return Json.obj("start", c.beginningOffsets(Collections.singleton(tp)).get(tp), "end", end, "values", values);
                }
            }
            default:
                throw new IllegalArgumentException("unknown command " + Arrays.toString(w));
        }
    }

    static List<Integer> ints(String csv) {
        List<Integer> out = new ArrayList<>();
        for (String s : csv.split(",")) out.add(Integer.parseInt(s));
        return out;
    }

    static List<Object> ids(List<Node> nodes) {
        List<Object> out = Json.list();
        for (Node n : nodes) out.add(n.id());
        return out;
    }
}
