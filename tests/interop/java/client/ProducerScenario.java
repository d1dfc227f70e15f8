import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The Java producer with every codec and acks all (the defaults: idempotent), 1 and 0: the same
 * records (keys, keyless, headers, timestamps) once per (codec, acks) to topic "<prefix>-<codec>".
 * Prints where each record landed, the producer id each producer holds, and what DescribeProducers
 * says about every partition afterwards.
 *
 * Args: --bootstrap B --prefix P --records FILE --partitions N --codecs none,gzip,... --acks default,1,0
 */
public class ProducerScenario {
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String bs = a.get("bootstrap");
        List<Util.Rec> recs = Util.readRecords(a.get("records"));
        int partitions = Integer.parseInt(a.get("partitions"));
        List<Object> runs = Json.list();
        List<TopicPartition> tps = new ArrayList<>();
        for (String codec : a.get("codecs").split(",")) {
            String topic = a.get("prefix") + "-" + codec;
            for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
            for (String acks : a.get("acks").split(",")) {
                // "default" leaves acks and enable.idempotence at the client's defaults (all, true)
                KafkaProducer<byte[], byte[]> producer = "default".equals(acks)
                    ? new KafkaProducer<>(Util.producerProps(bs, "compression.type", codec))
                    : new KafkaProducer<>(Util.producerProps(bs, "compression.type", codec, "acks", acks));
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                for (Util.Rec r : recs) {
                    futures.add(producer.send(new ProducerRecord<>(topic, r.partition, r.timestamp, r.key, r.value, r.headers)));
                }
                producer.flush();
                List<Object> sent = Json.list();
                for (Future<RecordMetadata> f : futures) {
                    try {
                        RecordMetadata md = f.get();
                        sent.add(Json.obj("partition", md.partition(), "offset", md.hasOffset() ? md.offset() : -1,
                            "timestamp", md.hasTimestamp() ? md.timestamp() : null));
                    } catch (Exception e) {
                        sent.add(Json.obj("error", Util.err(e)));
                    }
                }
                runs.add(Json.obj("topic", topic, "codec", codec, "acks", acks, "producer_id", producerId(producer),
                    "sent", sent));
                producer.close();
            }
        }
        List<Object> described = Json.list();
        try (Admin admin = Admin.create(Util.props(bs))) {
            DescribeProducersResult res = admin.describeProducers(tps);
            for (TopicPartition tp : tps) {
                List<Object> states = Json.list();
                for (ProducerState s : res.partitionResult(tp).get().activeProducers()) {
                    states.add(Json.obj("producer_id", s.producerId(), "epoch", s.producerEpoch(),
                        "last_sequence", s.lastSequence(), "last_timestamp", s.lastTimestamp(),
                        "coordinator_epoch", s.coordinatorEpoch().isPresent() ? s.coordinatorEpoch().getAsInt() : null,
                        "txn_start_offset", s.currentTransactionStartOffset().isPresent()
                            ? s.currentTransactionStartOffset().getAsLong() : null));
                }
                described.add(Json.obj("topic", tp.topic(), "partition", tp.partition(), "producers", states));
            }
        }
        Util.print(Json.obj("runs", runs, "describe_producers", described));
    }

    /** The producer id the producer's own state holds (-1 when it is not idempotent). */
    static Object producerId(KafkaProducer<?, ?> producer) {
        try {
            Field f = KafkaProducer.class.getDeclaredField("transactionManager");
            f.setAccessible(true);
            Object tm = f.get(producer);
            if (tm == null) return -1L;
            Method m = tm.getClass().getDeclaredMethod("producerIdAndEpoch");
            m.setAccessible(true);
            Object pie = m.invoke(tm);
            Field id = pie.getClass().getDeclaredField("producerId");
            id.setAccessible(true);
            return id.get(pie);
        } catch (ReflectiveOperationException e) {
            return "unknown: " + e;
        }
    }
}
