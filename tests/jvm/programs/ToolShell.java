import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;

/**
 * Runs Kafka's command-line tools one after another in this one JVM, so that a test pays the JVM
 * start and the JIT warm-up once instead of once per command.
 *
 * Protocol (one JSON object per line): stdin gets {"main": class, "args": [...], "stdin": text};
 * stdout answers {"code": exit code, "out": tool's stdout, "err": tool's stderr, "ms": duration}.
 * A tool's call to Kafka's Exit.exit ends only that command (its code is reported); shutdown hooks
 * the tools register run when the command ends, as they would when its JVM exits.
 * Tools that call System.exit themselves (the verifiable producer and consumer) do not belong here.
 */
public class ToolShell {
    static final class ExitCalled extends Error {
        final int code;

        ExitCalled(int code) {
            super(MARK + code, null, false, false);
            this.code = code;
        }
    }

    static final String MARK = "ToolShell: the tool called Exit.exit ";
    // Shutdown hooks a command registers (the console producer closes, and so flushes, its
    // producer in one): run when the command ends, as the JVM would run them when the tool exits.
    static final java.util.List<Runnable> hooks = new java.util.concurrent.CopyOnWriteArrayList<>();

    static void runHooks(PrintStream err) {
        for (Runnable hook : hooks) {
            Thread t = new Thread(() -> {
                try {
                    hook.run();
                } catch (Throwable e) {
                    if (!(e instanceof ExitCalled)) e.printStackTrace(err);
                }
            }, "tool-shutdown-hook");
            t.start();
            try {
                t.join(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) err.println("ToolShell: a shutdown hook did not end within 60 s");
        }
        hooks.clear();
    }
    // The first Exit.exit of a command is its outcome: some tools catch every Throwable (ours
    // too), report it and call Exit.exit again.
    static volatile Integer firstExit;

    public static void main(String[] ignored) throws Exception {
        PrintStream protocol = System.out;
        InputStream originalIn = System.in;
        ObjectMapper json = new ObjectMapper();
        Class<?> exit = Class.forName("org.apache.kafka.common.utils.internals.Exit");
        Class<?> procedure = Class.forName("org.apache.kafka.common.utils.internals.Exit$Procedure");
        Class<?> hookAdder = Class.forName("org.apache.kafka.common.utils.internals.Exit$ShutdownHookAdder");
        Object throwing = java.lang.reflect.Proxy.newProxyInstance(ToolShell.class.getClassLoader(), new Class<?>[]{procedure},
            (proxy, method, args) -> {
                if (method.getName().equals("execute")) {
                    if (firstExit == null) firstExit = (Integer) args[0];
                    throw new ExitCalled((Integer) args[0]);
                }
                return null;
            });
        Object collectHooks = java.lang.reflect.Proxy.newProxyInstance(ToolShell.class.getClassLoader(), new Class<?>[]{hookAdder},
            (proxy, method, args) -> {
                if (method.getName().equals("addShutdownHook")) hooks.add((Runnable) args[1]);
                return null;
            });
        exit.getMethod("setExitProcedure", procedure).invoke(null, throwing);
        exit.getMethod("setHaltProcedure", procedure).invoke(null, throwing);
        exit.getMethod("setShutdownHookAdder", hookAdder).invoke(null, collectHooks);

        BufferedReader commands = new BufferedReader(new InputStreamReader(originalIn, StandardCharsets.UTF_8));
        protocol.println("{\"ready\":true}");
        protocol.flush();
        String line;
        while ((line = commands.readLine()) != null) {
            if (line.isBlank()) continue;
            JsonNode cmd = json.readTree(line);
            String main = cmd.get("main").asText();
            String[] args = new String[cmd.get("args").size()];
            for (int i = 0; i < args.length; i++) args[i] = cmd.get("args").get(i).asText();
            String input = cmd.hasNonNull("stdin") ? cmd.get("stdin").asText() : "";

            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
            PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
            System.setOut(outStream);
            System.setErr(errStream);
            System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
            int code = 0;
            firstExit = null;
            long start = System.nanoTime();
            try {
                Method m = Class.forName(main).getMethod("main", String[].class);
                m.invoke(null, (Object) args);
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                if (cause instanceof ExitCalled) {
                    code = ((ExitCalled) cause).code;
                } else {
                    code = 99;
                    cause.printStackTrace(errStream);
                }
            } catch (Throwable t) {
                code = 98;
                t.printStackTrace(errStream);
            }
            runHooks(errStream);
            long ms = (System.nanoTime() - start) / 1_000_000;
            if (firstExit != null) code = firstExit;
            outStream.flush();
            errStream.flush();
            ObjectNode reply = json.createObjectNode();
            reply.put("code", code);
            reply.put("out", withoutMarks(out.toString(StandardCharsets.UTF_8)));
            reply.put("err", withoutMarks(err.toString(StandardCharsets.UTF_8)));
            reply.put("ms", ms);
            protocol.println(json.writeValueAsString(reply));
            protocol.flush();
        }
    }

    /** The lines a tool printed about our exit Error (message or stack trace) are not its output. */
    static String withoutMarks(String text) {
        StringBuilder sb = new StringBuilder();
        boolean inTrace = false;
        for (String line : text.split("\n", -1)) {
            if (line.contains(MARK)) {
                inTrace = true;
                continue;
            }
            if (inTrace && (line.startsWith("\tat ") || line.startsWith("\t... ") || line.isEmpty())) continue;
            inTrace = false;
            sb.append(line).append('\n');
        }
        String s = sb.toString();
        return s.endsWith("\n\n") || (s.endsWith("\n") && !text.endsWith("\n")) ? s.substring(0, s.length() - 1) : s;
    }
}
