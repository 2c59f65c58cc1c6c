package dev.cloister.runtime.job;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * JSON in the canonical form of RFC 8785 (JSON Canonicalization Scheme) for the values job records hold: objects
 * with their members sorted by name (UTF-16 code units, as {@link String#compareTo}), no whitespace, strings with
 * only the quote, the backslash and control characters escaped (b, t, n, f, r in their short forms, the others as
 * a six-character escape in lowercase hex), integers in plain decimal, UTF-8. Two records that are equal as values
 * encode to the same bytes, and different records to different bytes, so a hash of this form identifies a record
 * independently of how it was written.
 */
public final class CanonicalJson {
    private CanonicalJson() {}

    /**
     * The canonical bytes of a JSON tree.
     *
     * @throws IllegalArgumentException for a number that is not an integer (records hold none; JCS would need
     *     ECMAScript number formatting for them) or a string with a lone surrogate (which has no UTF-8 form)
     */
    public static byte[] encode(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(node, sb);
        ByteArrayOutputStream out = new ByteArrayOutputStream(sb.length() + 16);
        out.writeBytes(sb.toString().getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    private static void write(JsonNode n, StringBuilder sb) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            sb.append("null");
        } else if (n.isObject()) {
            List<String> names = new ArrayList<>();
            n.fieldNames().forEachRemaining(names::add);
            names.sort(String::compareTo);
            sb.append('{');
            for (int i = 0; i < names.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                string(names.get(i), sb);
                sb.append(':');
                write(n.get(names.get(i)), sb);
            }
            sb.append('}');
        } else if (n.isArray()) {
            sb.append('[');
            for (int i = 0; i < n.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                write(n.get(i), sb);
            }
            sb.append(']');
        } else if (n.isTextual()) {
            string(n.textValue(), sb);
        } else if (n.isBoolean()) {
            sb.append(n.booleanValue());
        } else if (n.isIntegralNumber() && n.canConvertToLong()) {
            sb.append(n.longValue());
        } else {
            throw new IllegalArgumentException("no canonical form for " + n.getNodeType() + " " + n);
        }
    }

    private static void string(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\f' -> sb.append("\\f");
                case '\r' -> sb.append("\\r");
                default -> {
                    if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                        sb.append(c).append(s.charAt(++i));
                    } else if (Character.isSurrogate(c)) {
                        // UTF-8 cannot encode it (Java would write '?'), so two strings could share an encoding.
                        throw new IllegalArgumentException("a string holds a lone UTF-16 surrogate");
                    } else if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
