// Runs Kafka's kafka-transactions tool (org.apache.kafka.tools.TransactionsCommand) several times
// in one JVM: each argument is one command line (words separated by spaces). Kafka's tools end with
// Exit.exit(code); the exit procedure is replaced so that each run ends with its code instead.
// Prints one JSON line: [{"args": "...", "rc": N, "out": "...", "err": "..."}, ...].
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.apache.kafka.common.utils.internals.Exit;
import org.apache.kafka.tools.TransactionsCommand;

public class TransactionsTool {
    static final class Exited extends RuntimeException {
        final int code;

        Exited(int code) {
            super("exit " + code);
            this.code = code;
        }
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    public static void main(String[] commands) throws Exception {
        Exit.setExitProcedure((code, message) -> { throw new Exited(code); });
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        StringBuilder result = new StringBuilder("[");
        for (String command : commands) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int rc;
            try {
                TransactionsCommand.main(command.trim().split("\\s+"));
                rc = 0;
            } catch (Exited e) {
                rc = e.code;
            } catch (Throwable t) {
                t.printStackTrace();
                rc = 99;
            }
            System.out.flush();
            System.err.flush();
            System.setOut(realOut);
            System.setErr(realErr);
            if (result.length() > 1) result.append(',');
            result.append("{\"args\":").append(json(command)).append(",\"rc\":").append(rc)
                .append(",\"out\":").append(json(out.toString(StandardCharsets.UTF_8)))
                .append(",\"err\":").append(json(err.toString(StandardCharsets.UTF_8))).append('}');
        }
        realOut.println(result.append(']'));
        realOut.flush();
        System.exit(0);  // the tool leaves its admin clients' threads running
    }
}
