// One Kafka Streams instance of the interop tests' word-count application (at_least_once by
// default, or the processing guarantee given as the last argument, e.g. exactly_once_v2).
//
// Topology: lines -> words -> groupBy(word) (the "by-word" repartition topic)
//   -> count() in the "word-counts" key-value store (changelog, compacted) -> counts-out
//   -> windowedBy(10 s tumbling windows, one day of grace) -> count() in the "windowed-counts"
//      window store (changelog, compact+delete) -> windowed-out, key "word@windowStartMs"
//
// Usage: StreamsWordCounts <bootstrap> <application.id> <state.dir> <in> <counts-out> <windowed-out> [guarantee]
// Prints one JSON object per line on stdout: {"event":"state",...} on every state change and
// {"event":"tasks","state":...,"active":[...],"threads":[...]} whenever this instance's active tasks
// or its state change, and
// {"event":"restored",...} when a store partition was restored from its changelog, so the test can
// wait for outcomes instead of sleeping. Runs until SIGTERM (closes cleanly) or SIGKILL.
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.TaskMetadata;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;

public class StreamsWordCounts {
    static synchronized void emit(String json) {
        System.out.println(json);
        System.out.flush();
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    public static void main(String[] a) throws Exception {
        String bootstrap = a[0], appId = a[1], stateDir = a[2], in = a[3], countsOut = a[4], windowedOut = a[5];
        String guarantee = a.length > 6 ? a[6] : StreamsConfig.AT_LEAST_ONCE;
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // exactly_once_v2: one transactional producer per thread, read_committed consumers, the
        // input offsets committed inside each transaction (Streams' own overrides; none added here)
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // every update reaches the changelog and the output (no record cache), committed often
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 500);
        // purge consumed repartition records (DeleteRecords) soon after each commit
        p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 500);
        // a SIGKILLed instance leaves the group after 6 s (the broker's minimum session timeout)
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);

        StreamsBuilder b = new StreamsBuilder();
        KGroupedStream<String, String> byWord = b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.trim().split("\\s+")))
            .filter((k, w) -> !w.isEmpty())
            .groupBy((k, w) -> w, Grouped.with("by-word", Serdes.String(), Serdes.String()));
        // the key-value store's changelog rolls segments quickly and is compacted eagerly, so the
        // broker's cleaner has compacted it before another instance restores from it
        Map<String, String> eagerCompaction = Map.of("segment.ms", "100", "min.cleanable.dirty.ratio", "0.01");
        byWord.count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("word-counts").withLoggingEnabled(eagerCompaction))
            .toStream()
            .to(countsOut, Produced.with(Serdes.String(), Serdes.Long()));
        byWord.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofDays(1)))
            .count(Materialized.as("windowed-counts"))
            .toStream((wk, n) -> wk.key() + "@" + wk.window().start())
            .to(windowedOut, Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            emit("{\"event\":\"state\",\"state\":" + quote(now.name()) + ",\"before\":" + quote(before.name()) + "}");
            if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) done.countDown();
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                emit("{\"event\":\"restored\",\"store\":" + quote(store) + ",\"topic\":" + quote(tp.topic())
                     + ",\"partition\":" + tp.partition() + ",\"records\":" + total + "}");
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            emit("{\"event\":\"error\",\"error\":" + quote(String.valueOf(e)) + "}");
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(20));
            emit("{\"event\":\"closed\"}");
        }));
        streams.start();

        List<String> last = null;
        String lastState = null;
        while (done.getCount() > 0) {
            List<String> active = new ArrayList<>();
            List<String> threads = new ArrayList<>();
            try {
                for (ThreadMetadata t : streams.metadataForLocalThreads()) {
                    threads.add(t.threadName());
                    for (TaskMetadata task : t.activeTasks()) active.add(task.taskId().toString());
                }
            } catch (IllegalStateException e) {
                // not running yet (or any more)
            }
            Collections.sort(active);
            // also when only the state changed: tasks reported while REBALANCING may be the
            // ones it then runs with, and the test waits for them RUNNING
            String state = streams.state().name();
            if (!active.equals(last) || !state.equals(lastState)) {
                StringBuilder s = new StringBuilder("{\"event\":\"tasks\",\"state\":" + quote(state) + ",\"active\":[");
                for (int i = 0; i < active.size(); i++) s.append(i == 0 ? "" : ",").append(quote(active.get(i)));
                // thread names are <application.id>-<processId>-StreamThread-<n>, and an
                // exactly_once_v2 thread's transactional.id is <application.id>-<processId>-<n>
                s.append("],\"threads\":[");
                for (int i = 0; i < threads.size(); i++) s.append(i == 0 ? "" : ",").append(quote(threads.get(i)));
                emit(s.append("]}").toString());
                last = active;
                lastState = state;
            }
            done.await(200, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }
}
