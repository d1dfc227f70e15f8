import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/** What every scenario needs: arguments, configs, records files, errors as names, deadlines. */
public final class Util {
    private Util() {}

    /** "--name value" pairs. */
    public static Map<String, String> args(String[] argv) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) throw new IllegalArgumentException("expected --name value: " + argv[i]);
            out.put(argv[i].substring(2), argv[i + 1]);
        }
        return out;
    }

    public static Properties props(String bootstrap, Object... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        for (int i = 0; i + 1 < kv.length; i += 2) {
            p.put(kv[i], String.valueOf(kv[i + 1]));
        }
        return p;
    }

    public static Properties producerProps(String bootstrap, Object... kv) {
        Properties p = props(bootstrap,
            "key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer",
            "value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        for (int i = 0; i + 1 < kv.length; i += 2) p.put(kv[i], String.valueOf(kv[i + 1]));
        return p;
    }

    public static Properties consumerProps(String bootstrap, Object... kv) {
        Properties p = props(bootstrap,
            "key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer",
            "value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer",
            "fetch.max.wait.ms", "100");
        for (int i = 0; i + 1 < kv.length; i += 2) p.put(kv[i], String.valueOf(kv[i + 1]));
        return p;
    }

    /** The name of what went wrong: the Kafka exception's class, unwrapped from futures. */
    public static String err(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName();
    }

    /** null when the future completed, else the name of its error. */
    public static String errOf(KafkaFuture<?> f) {
        try {
            f.get();
            return null;
        } catch (Exception e) {
            return err(e);
        }
    }

    public static void waitUntil(BooleanSupplier cond, long timeoutMs, String what) {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timed out waiting for " + what);
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static byte[] b64(String s) {
        return "-".equals(s) ? null : Base64.getDecoder().decode(s);
    }

    /** A record to send, from one line of a records file (see interop/test_java_client.py). */
    public static final class Rec {
        public final Integer partition;
        public final byte[] key;
        public final byte[] value;
        public final Long timestamp;
        public final List<Header> headers = new ArrayList<>();

        Rec(String line) {
            String[] f = line.split(" ", -1);
            partition = "-".equals(f[0]) ? null : Integer.valueOf(f[0]);
            key = b64(f[1]);
            value = b64(f[2]);
            timestamp = "-".equals(f[3]) ? null : Long.valueOf(f[3]);
            if (!"-".equals(f[4])) {
                for (String h : f[4].split(",")) {
                    String[] nv = h.split(":", 2);
                    headers.add(new RecordHeader(new String(b64(nv[0]), StandardCharsets.UTF_8), b64(nv[1])));
                }
            }
        }
    }

    /** Lines "partition key value timestamp headers": base64 fields, '-' for null/none,
     *  headers as name:value pairs joined by commas. */
    public static List<Rec> readRecords(String path) throws Exception {
        List<Rec> out = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8)) {
            if (!line.isEmpty()) out.add(new Rec(line));
        }
        return out;
    }

    public static Map<String, Object> record(ConsumerRecord<byte[], byte[]> r) {
        List<Object> hs = Json.list();
        for (Header h : r.headers()) hs.add(java.util.Arrays.asList(h.key(), h.value()));
        return Json.obj("topic", r.topic(), "partition", r.partition(), "offset", r.offset(), "key", r.key(),
            "value", r.value(), "headers", hs, "timestamp", r.timestamp(), "timestamp_type", r.timestampType().name,
            "leader_epoch", r.leaderEpoch().orElse(null));
    }

    public static void print(Object result) {
        System.out.println(Json.write(result));
        System.out.flush();
    }
}
