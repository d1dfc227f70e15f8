import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Kafka's Java client against a secured listener, one scenario per properties file given as an
 * argument: the client's own properties (security.protocol, ssl.*, sasl.*) plus
 *   scenario.name, scenario.topic, scenario.group, scenario.records (default 20),
 *   scenario.run.ms (0: produce the records at once; else keep producing one record every 100 ms
 *   for that long, and consume as they come: re-authentication runs underneath),
 *   scenario.refused (true: the credentials are wrong; an Admin call must fail with them).
 * The scenarios run at once, one thread each. Each scenario produces its records (acks=all, idempotent), consumes them as a member of the
 * group and commits, and prints one JSON line: {name, produced, consumed, committed, error,
 * errorClass, authError}; authError is true when the failure was an AuthenticationException
 * (SASL refused, or TLS refused: SslAuthenticationException).
 */
public final class SecurityScenarios {
    public static void main(String[] args) throws Exception {
        // the scenarios run side by side: most of their time is spent waiting on the broker
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, args.length));
        List<Future<?>> all = new ArrayList<>();
        for (String path : args) {
            Properties p = new Properties();
            try (InputStream in = new FileInputStream(path)) {
                p.load(in);
            }
            all.add(pool.submit(() -> {
                String line = Json.write(run(p));
                synchronized (System.out) {
                    System.out.println(line);
                    System.out.flush();
                }
            }));
        }
        for (Future<?> f : all) {
            f.get();
        }
        pool.shutdown();
    }

    static Map<String, Object> run(Properties all) {
        Properties client = new Properties();
        for (String k : all.stringPropertyNames()) {
            if (!k.startsWith("scenario.")) client.put(k, all.getProperty(k));
        }
        String name = all.getProperty("scenario.name");
        String topic = all.getProperty("scenario.topic");
        String group = all.getProperty("scenario.group");
        int records = Integer.parseInt(all.getProperty("scenario.records", "20"));
        long runMs = Long.parseLong(all.getProperty("scenario.run.ms", "0"));
        long t0 = System.currentTimeMillis();
        Map<String, Object> out = Json.obj("name", name, "produced", 0, "consumed", 0, "committed", false,
                "error", null, "errorClass", null, "authError", false);
        int produced = 0;
        int consumed = 0;
        if (Boolean.parseBoolean(all.getProperty("scenario.refused", "false"))) {
            // credentials the broker refuses: an Admin call reports it at once
            Properties ap = (Properties) client.clone();
            ap.put("request.timeout.ms", "15000");
            ap.put("default.api.timeout.ms", "20000");
            try (Admin admin = Admin.create(ap)) {
                out.put("clusterId", admin.describeCluster().clusterId().get());
            } catch (Throwable t) {
                describe(out, t);
            }
            out.put("ms", System.currentTimeMillis() - t0);
            return out;
        }
        try {
            Properties pp = (Properties) client.clone();
            pp.put("key.serializer", StringSerializer.class.getName());
            pp.put("value.serializer", StringSerializer.class.getName());
            pp.put("acks", "all");
            pp.put("max.block.ms", "20000");
            pp.put("delivery.timeout.ms", "30000");
            pp.put("request.timeout.ms", "15000");
            Properties cp = (Properties) client.clone();
            cp.put("key.deserializer", StringDeserializer.class.getName());
            cp.put("value.deserializer", StringDeserializer.class.getName());
            cp.put("group.id", group);
            cp.put("auto.offset.reset", "earliest");
            cp.put("enable.auto.commit", "false");
            cp.put("default.api.timeout.ms", "20000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp);
                 KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
                if (runMs <= 0) {
                    List<Future<RecordMetadata>> sent = new ArrayList<>();
                    for (int i = 0; i < records; i++) {
                        sent.add(producer.send(new ProducerRecord<>(topic, "k" + i, "java " + name + " " + i)));
                    }
                    for (Future<RecordMetadata> f : sent) {
                        f.get();
                        produced++;
                    }
                    out.put("produced", produced);
                }
                consumer.subscribe(Collections.singletonList(topic));
                long start = System.currentTimeMillis();
                long deadline = start + Math.max(runMs, 0) + 60000;
                long nextSend = start;
                while (System.currentTimeMillis() < deadline) {
                    long now = System.currentTimeMillis();
                    if (runMs > 0 && now - start < runMs && now >= nextSend) {
                        producer.send(new ProducerRecord<>(topic, "k" + produced, "java " + name + " " + produced)).get();
                        produced++;
                        nextSend = now + 100;
                        out.put("produced", produced);
                    }
                    ConsumerRecords<String, String> got = consumer.poll(Duration.ofMillis(100));
                    consumed += got.count();
                    out.put("consumed", consumed);
                    if (!got.isEmpty()) consumer.commitSync();
                    boolean producing = runMs > 0 && System.currentTimeMillis() - start < runMs;
                    if (!producing && consumed >= produced && produced > 0) break;
                }
                consumer.commitSync();
                out.put("committed", true);
            }
        } catch (Throwable t) {
            describe(out, t);
        }
        out.put("ms", System.currentTimeMillis() - t0);
        return out;
    }

    static void describe(Map<String, Object> out, Throwable t) {
        {
            Throwable root = t;
            boolean auth = false;
            for (Throwable c = t; c != null; c = c.getCause()) {
                if (c instanceof AuthenticationException) {
                    auth = true;
                    root = c;
                }
                if (c.getCause() == null && !auth) root = c;
            }
            if (t instanceof ExecutionException && t.getCause() != null && !auth) root = t.getCause();
            out.put("error", String.valueOf(root.getMessage()));
            out.put("errorClass", root.getClass().getName());
            out.put("authError", auth);
        }
    }
}
