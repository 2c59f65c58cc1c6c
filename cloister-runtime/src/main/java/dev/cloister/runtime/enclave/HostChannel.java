package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.core.CloisterException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * The launcher's only way out of the enclave: one JSON object per line on its stdout, one reply per line on its
 * stdin, relayed by the untrusted host (the worker). The enclave has no network; the host forwards broker
 * requests. That is safe because what crosses is evidence and a key sealed to the enclave's ephemeral key.
 *
 * <p>Nothing the program prints crosses this channel: its stdout and stderr are captured in enclave memory and
 * leave encrypted like any other output.
 */
public final class HostChannel {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_LINE = 4 * 1024 * 1024;

    private final BufferedReader in;
    private final PrintStream out;

    public HostChannel(InputStream in, OutputStream out) {
        this.in = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        this.out = new PrintStream(out, true, StandardCharsets.UTF_8);
    }

    /** Sends a message that expects no reply (progress, the final report). */
    public void tell(String op, ObjectNode body) {
        ObjectNode m = JSON.createObjectNode();
        m.put("op", op);
        m.set("body", body);
        out.println(m);
    }

    /**
     * Asks the host to do {@code op} (e.g. relay a key release) and waits for its reply.
     *
     * @throws CloisterException as the host reported it (DENIED for a broker refusal, ENVIRONMENT when the broker
     *     was unreachable), or BAD_INPUT if the reply is malformed
     */
    public JsonNode ask(String op, ObjectNode body) throws CloisterException {
        tell(op, body);
        String line;
        try {
            line = in.readLine();
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "host channel closed: " + e.getMessage());
        }
        if (line == null) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "host channel closed before replying to " + op);
        }
        if (line.length() > MAX_LINE) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "host reply to " + op + " is too long");
        }
        JsonNode reply;
        try {
            reply = JSON.readTree(line);
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "host reply to " + op + " is not JSON");
        }
        if (reply == null || !reply.isObject()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "host reply to " + op + " is not an object");
        }
        if (!reply.path("ok").asBoolean(false)) {
            String kind = reply.path("kind").asText("DENIED");
            CloisterException.Kind k = switch (kind) {
                case "ENVIRONMENT" -> CloisterException.Kind.ENVIRONMENT;
                case "BAD_INPUT" -> CloisterException.Kind.BAD_INPUT;
                default -> CloisterException.Kind.DENIED;
            };
            throw new CloisterException(k, op + " refused: " + reply.path("error").asText("no reason given"));
        }
        return reply.path("body");
    }

    /** A JSON object to fill in. */
    public static ObjectNode object() {
        return JSON.createObjectNode();
    }

    static ObjectMapper json() {
        return JSON;
    }
}
