package dev.cloister.bundle;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A canonical TOML writer for Gramine manifests. The bytes of a manifest are measured, so the serialisation is
 * part of the measurement definition and must never change with a library upgrade (Gramine itself pins its
 * serialiser for the same reason). Hence this small, fixed emitter instead of a general library.
 *
 * <p>Canonical form: one {@code dotted.key = value} line per top-level key in byte order of the key; no table
 * headers; arrays empty as {@code []} or one element per line, indented two spaces, each followed by a comma;
 * tables inside arrays as inline tables with keys sorted; strings as TOML basic strings with the minimal escapes;
 * integers in decimal; LF line ends; UTF-8. Values may be {@link String}, {@link Long}/{@link Integer},
 * {@link Boolean}, {@link List} and {@link Map} (inline table).
 */
public final class Toml {
    private Toml() {}

    /** Renders {@code doc} (dotted key -> value) canonically. */
    public static byte[] render(Map<String, Object> doc) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Object> e : new TreeMap<>(doc).entrySet()) {
            sb.append(dottedKey(e.getKey())).append(" = ");
            value(sb, e.getValue(), true);
            sb.append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void value(StringBuilder sb, Object v, boolean topLevel) {
        switch (v) {
            case String s -> string(sb, s);
            case Boolean b -> sb.append(b);
            case Integer i -> sb.append(i);
            case Long l -> sb.append(l);
            case List<?> list -> {
                if (list.isEmpty()) {
                    sb.append("[]");
                } else if (!topLevel) {
                    throw new IllegalArgumentException("nested arrays are not part of the canonical form");
                } else {
                    sb.append("[\n");
                    for (Object o : list) {
                        sb.append("  ");
                        value(sb, o, false);
                        sb.append(",\n");
                    }
                    sb.append(']');
                }
            }
            case Map<?, ?> m -> {
                SortedMap<String, Object> sorted = new TreeMap<>();
                m.forEach((k, x) -> sorted.put((String) k, x));
                sb.append("{ ");
                boolean first = true;
                for (Map.Entry<String, Object> e : sorted.entrySet()) {
                    if (!first) {
                        sb.append(", ");
                    }
                    first = false;
                    sb.append(key(e.getKey())).append(" = ");
                    if (e.getValue() instanceof List<?> || e.getValue() instanceof Map<?, ?>) {
                        throw new IllegalArgumentException("inline tables hold scalars only: " + e.getKey());
                    }
                    value(sb, e.getValue(), false);
                }
                sb.append(" }");
            }
            case null -> throw new IllegalArgumentException("TOML has no null");
            default -> throw new IllegalArgumentException("not a TOML value: " + v.getClass().getName());
        }
    }

    private static String dottedKey(String dotted) {
        StringBuilder sb = new StringBuilder();
        for (String part : dotted.split("\\.", -1)) {
            if (!sb.isEmpty()) {
                sb.append('.');
            }
            sb.append(key(part));
        }
        return sb.toString();
    }

    private static String key(String k) {
        if (!k.isEmpty() && k.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return k;
        }
        StringBuilder sb = new StringBuilder();
        string(sb, k);
        return sb.toString();
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        sb.append(String.format("\\u%04X", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
