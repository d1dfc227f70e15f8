// Kafka's Java client (4.x) doing transactions, for tests/interop/test_transactions_java.py.
//
//   TxnClient scenario BOOTSTRAP TOPIC_A TOPIC_B FENCE_TOPIC CTP_IN CTP_OUT GROUP PREFIX CTP_COUNT
//     commit/abort/commit across TOPIC_A (3 partitions) and TOPIC_B (2) read back at both isolation
//     levels, a zombie fenced by a newer producer, and a consume-transform-produce loop with
//     sendOffsetsToTransaction(offsets, consumer.groupMetadata()); prints one JSON object.
//   TxnClient hang BOOTSTRAP TOPIC TRANSACTIONAL_ID TIMEOUT_MS VALUE
//     opens a transaction, writes VALUE to TOPIC-0, prints {"sent": true, "offset": N}, waits.
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnClient {
    static String bootstrap;

    static KafkaProducer<String, String> producer(String tid, int timeoutMs) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", tid);
        p.put("transaction.timeout.ms", String.valueOf(timeoutMs));
        p.put("linger.ms", "5");
        p.put("max.block.ms", "30000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String group, String isolation) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        if (group != null) p.put("group.id", group);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("isolation.level", isolation);
        p.put("fetch.max.wait.ms", "100");
        p.put("max.poll.records", "5");
        p.put("group.protocol", "classic");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String err(Throwable t) {
        if (t == null) return "null";
        Throwable cause = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
        return "{\"class\":" + q(cause.getClass().getSimpleName()) + ",\"message\":" + q(String.valueOf(cause.getMessage()))
            + ",\"cause\":" + q(cause.getCause() == null ? null : cause.getCause().getClass().getSimpleName()) + "}";
    }

    /** Every value of the partitions from the beginning to endOffsets() (the LSO for read_committed). */
    static String readAll(List<TopicPartition> tps, String isolation) {
        try (KafkaConsumer<String, String> c = consumer(null, isolation)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps);
            Map<String, List<String>> out = new TreeMap<>();
            for (TopicPartition tp : tps) out.put(tp.toString(), new ArrayList<>());
            long deadline = System.currentTimeMillis() + 30000;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) if (c.position(tp) < ends.get(tp)) done = false;
                if (done) break;
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("did not reach " + ends + ": " + out);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.get(new TopicPartition(r.topic(), r.partition()).toString()).add(r.value());
                }
            }
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<String, List<String>> e : out.entrySet()) {
                if (b.length() > 1) b.append(',');
                b.append(q(e.getKey())).append(":[");
                for (int i = 0; i < e.getValue().size(); i++) b.append(i > 0 ? "," : "").append(q(e.getValue().get(i)));
                b.append(']');
            }
            b.append(",\"ends\":").append(q(ends.toString()));
            return b.append('}').toString();
        }
    }

    static String commitAndAbort(String a, String b, String prefix) {
        List<TopicPartition> tps = List.of(new TopicPartition(a, 0), new TopicPartition(a, 1), new TopicPartition(a, 2),
            new TopicPartition(b, 0), new TopicPartition(b, 1));
        try (KafkaProducer<String, String> p = producer(prefix + "-basic", 60000)) {
            p.initTransactions();
            String[] names = {"one", "two", "three"};
            for (String name : names) {
                p.beginTransaction();
                for (TopicPartition tp : tps)
                    for (int i = 0; i < 2; i++) p.send(new ProducerRecord<>(tp.topic(), tp.partition(), null, name + "-" + tp.partition() + "-" + i));
                if (name.equals("two")) {
                    p.flush();  // in the logs before the abort marker
                    p.abortTransaction();
                } else {
                    p.commitTransaction();
                }
            }
        }
        return "{\"read_committed\":" + readAll(tps, "read_committed") + ",\"read_uncommitted\":" + readAll(tps, "read_uncommitted") + "}";
    }

    static String fence(String topic, String prefix) throws Exception {
        String tid = prefix + "-zombie";
        KafkaProducer<String, String> zombie = producer(tid, 60000);
        KafkaProducer<String, String> fresh = producer(tid, 60000);
        StringBuilder out = new StringBuilder("{");
        try {
            zombie.initTransactions();
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, 0, null, "zombie-1")).get();
            fresh.initTransactions();  // aborts the zombie's transaction
            fresh.beginTransaction();
            fresh.send(new ProducerRecord<>(topic, 0, null, "fresh-1"));
            Throwable send = null;
            try {
                zombie.send(new ProducerRecord<>(topic, 0, null, "zombie-2")).get();
            } catch (Exception e) {
                send = e;
            }
            Throwable commit = null;
            try {
                zombie.commitTransaction();
            } catch (Exception e) {
                commit = e;
            }
            Throwable abort = null;
            try {
                zombie.abortTransaction();
            } catch (Exception e) {
                abort = e;
            }
            fresh.commitTransaction();
            out.append("\"send\":").append(err(send)).append(",\"commit\":").append(err(commit)).append(",\"abort\":").append(err(abort));
        } finally {
            zombie.close(Duration.ofSeconds(5));
            fresh.close(Duration.ofSeconds(5));
        }
        return out.append('}').toString();
    }

    static String ctp(String in, String out, String group, String prefix, int count) {
        List<String> log = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(group, "read_committed");
             KafkaProducer<String, String> p = producer(prefix + "-ctp", 60000)) {
            c.subscribe(Collections.singletonList(in));
            p.initTransactions();
            long done = 0;
            int txns = 0;
            TopicPartition tp = new TopicPartition(in, 0);
            long deadline = System.currentTimeMillis() + 60000;
            while (done < count) {
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("only " + done + " of " + count + " processed");
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) continue;
                p.beginTransaction();
                long next = -1;
                for (ConsumerRecord<String, String> r : recs) {
                    p.send(new ProducerRecord<>(out, 0, r.key(), "out:" + r.value()));
                    next = r.offset() + 1;
                }
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                offsets.put(tp, new OffsetAndMetadata(next));
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());  // TxnOffsetCommit v3+ with generation and member
                txns++;
                if (txns == 3) {
                    p.abortTransaction();
                    OffsetAndMetadata committed = c.committed(Collections.singleton(tp)).get(tp);
                    c.seek(tp, committed.offset());
                    log.add("{\"aborted\":" + next + ",\"committed_offset\":" + committed.offset() + "}");
                    continue;
                }
                p.commitTransaction();
                done = next;
                log.add("{\"committed\":" + next + "}");
            }
        }
        return "[" + String.join(",", log) + "]";
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[1];
        if (args[0].equals("hang")) {
            KafkaProducer<String, String> p = producer(args[3], Integer.parseInt(args[4]));
            p.initTransactions();
            p.beginTransaction();
            RecordMetadata md = p.send(new ProducerRecord<>(args[2], 0, null, args[5])).get();
            System.out.println("{\"sent\": true, \"offset\": " + md.offset() + "}");
            System.out.flush();
            Thread.sleep(3_600_000);
            return;
        }
        String basic = commitAndAbort(args[2], args[3], args[8]);
        String fenced = fence(args[4], args[8]);
        String loop = ctp(args[5], args[6], args[7], args[8], Integer.parseInt(args[9]));
        System.out.println("{\"basic\":" + basic + ",\"fence\":" + fenced + ",\"ctp\":" + loop + "}");
        System.out.flush();
        System.exit(0);
    }
}
