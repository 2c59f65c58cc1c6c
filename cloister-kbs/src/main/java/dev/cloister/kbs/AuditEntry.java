package dev.cloister.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;

/**
 * One row of the hash-chained audit log.
 *
 * @param seq position, 1, 2, ... without gaps
 * @param at when it happened
 * @param actor {@code token:<id>}, {@code workload:<address>} or {@code local:<user>}
 * @param action e.g. {@code release}, {@code secret.put}, {@code policy.set}
 * @param namespace the namespace concerned, or null
 * @param subject the secret (name and version) or token concerned, or null
 * @param outcome {@code ok} or {@code denied}
 * @param detail the policy explanation of a denial, or other non-secret detail
 * @param prevHash the previous entry's hash (32 zero bytes for the first)
 * @param hash HMAC-SHA256 under the audit key of prevHash and the canonical encoding of the fields above
 */
public record AuditEntry(long seq, Instant at, String actor, String action, String namespace, String subject,
        String outcome, String detail, byte[] prevHash, byte[] hash) {

    /** The bytes the chain MAC covers after prevHash: each field length-prefixed, so fields cannot shift. */
    public byte[] canonical() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        putLong(out, seq);
        putLong(out, at.toEpochMilli());
        for (String s : new String[] {actor, action, namespace, subject, outcome, detail}) {
            if (s == null) {
                putLong(out, -1);
            } else {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                putLong(out, b.length);
                out.writeBytes(b);
            }
        }
        return out.toByteArray();
    }

    /** The API's JSON form: the fields by name, {@code at} in ISO-8601, hashes in hex. */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("seq", seq);
        o.put("at", at.toString());
        o.put("actor", actor);
        o.put("action", action);
        o.put("namespace", namespace);
        o.put("subject", subject);
        o.put("outcome", outcome);
        o.put("detail", detail);
        o.put("prevHash", HexFormat.of().formatHex(prevHash));
        o.put("hash", HexFormat.of().formatHex(hash));
        return o;
    }

    /**
     * Reads {@link #toJson()}'s form back, strictly: every field present with its type ({@code namespace} and
     * {@code subject} may be null), so that a client recomputes exactly the bytes the broker logged.
     */
    public static AuditEntry fromJson(JsonNode o) {
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("an audit entry is a JSON object");
        }
        try {
            return new AuditEntry(required(o, "seq").asLong(), Instant.parse(text(o, "at", false)),
                    text(o, "actor", false), text(o, "action", false), text(o, "namespace", true),
                    text(o, "subject", true), text(o, "outcome", false), text(o, "detail", false),
                    HexFormat.of().parseHex(text(o, "prevHash", false)), HexFormat.of().parseHex(text(o, "hash", false)));
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("audit entry field at is not an ISO-8601 instant");
        }
    }

    private static JsonNode required(JsonNode o, String name) {
        JsonNode v = o.get(name);
        if (v == null || name.equals("seq") && !v.canConvertToExactIntegral()) {
            throw new IllegalArgumentException("audit entry field " + name + " is missing or of the wrong type");
        }
        return v;
    }

    private static String text(JsonNode o, String name, boolean nullable) {
        JsonNode v = required(o, name);
        if (v.isNull() && nullable) {
            return null;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException("audit entry field " + name + " is missing or not a string");
        }
        return v.asText();
    }

    private static void putLong(ByteArrayOutputStream out, long v) {
        for (int i = 7; i >= 0; i--) {
            out.write((int) (v >>> (8 * i)));
        }
    }
}
