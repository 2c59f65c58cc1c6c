package dev.cloister.bundle;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a manifest tree the way {@code gramine-sgx-sign} writes {@code .manifest.sgx}: with the Python library
 * {@code tomli_w} (version 1.0.0, the one Debian 12 and Ubuntu 24.04 ship and the one the expected test data was
 * produced with). The bytes are measured into MRENCLAVE, so every layout rule matters:
 *
 * <ul>
 *   <li>keys keep insertion order (a {@link java.util.LinkedHashMap}); in each table the plain values come first as
 *       {@code key = value}, then each sub-table as a {@code [dotted.name]} section preceded by a blank line;</li>
 *   <li>a section header is written only if the table has plain values or has no sub-tables at all (so
 *       {@code [loader]} is omitted when it only holds {@code [loader.entrypoint]});</li>
 *   <li>a non-empty array whose elements are all tables becomes an array of tables ({@code [[name]]}) as soon as
 *       one element, rendered inline with four spaces of indentation and a comma, is longer than 100 characters;
 *       otherwise it stays inline;</li>
 *   <li>arrays: {@code [} newline, each element indented four spaces per nesting level followed by a comma and a
 *       newline, then {@code ]}; empty arrays are {@code []}; inline tables are {@code { k = v, k2 = v2 }} and
 *       {@code {}} when empty;</li>
 *   <li>strings are basic strings; {@code \b \n \f \r \" \\} use short escapes, other control characters and DEL
 *       are {@code \\u} with four lower-case hex digits, and a tab is written as is.</li>
 * </ul>
 *
 * Values: {@link String}, {@link Boolean}, {@link Integer}/{@link Long}, {@link List}, {@link Map} with String keys.
 */
final class GramineToml {
    private static final int MAX_LINE_LENGTH = 100;
    private static final String INDENT = "    ";

    private GramineToml() {}

    /** Serialises the root table. */
    static byte[] dump(Map<String, Object> root) {
        StringBuilder sb = new StringBuilder();
        table(sb, root, "", false);
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private record Sub(String key, Map<String, Object> table, boolean inArrayOfTables) {}

    @SuppressWarnings("unchecked")
    private static void table(StringBuilder sb, Map<String, Object> t, String name, boolean inArrayOfTables) {
        boolean yielded = false;
        List<Map.Entry<String, Object>> literals = new ArrayList<>();
        List<Sub> tables = new ArrayList<>();
        for (Map.Entry<String, Object> e : t.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Map<?, ?> m) {
                tables.add(new Sub(e.getKey(), (Map<String, Object>) m, false));
            } else if (isArrayOfTables(v) && !((List<Object>) v).stream().allMatch(x -> fitsInline((Map<String, Object>) x))) {
                for (Object x : (List<Object>) v) {
                    tables.add(new Sub(e.getKey(), (Map<String, Object>) x, true));
                }
            } else {
                literals.add(e);
            }
        }
        if (inArrayOfTables || (!name.isEmpty() && (!literals.isEmpty() || tables.isEmpty()))) {
            yielded = true;
            sb.append(inArrayOfTables ? "[[" + name + "]]\n" : "[" + name + "]\n");
        }
        if (!literals.isEmpty()) {
            yielded = true;
            for (Map.Entry<String, Object> e : literals) {
                sb.append(key(e.getKey())).append(" = ").append(literal(e.getValue(), 0)).append('\n');
            }
        }
        for (Sub s : tables) {
            if (yielded) {
                sb.append('\n');
            } else {
                yielded = true;
            }
            String k = key(s.key());
            table(sb, s.table(), name.isEmpty() ? k : name + "." + k, s.inArrayOfTables());
        }
    }

    private static boolean isArrayOfTables(Object v) {
        return v instanceof List<?> l && !l.isEmpty() && l.stream().allMatch(x -> x instanceof Map<?, ?>);
    }

    private static boolean fitsInline(Map<String, Object> t) {
        String rendered = INDENT + inlineTable(t) + ",";
        // Python measures code points, not UTF-16 units.
        return rendered.codePointCount(0, rendered.length()) <= MAX_LINE_LENGTH && rendered.indexOf('\n') < 0;
    }

    @SuppressWarnings("unchecked")
    private static String literal(Object v, int nest) {
        return switch (v) {
            case Boolean b -> b ? "true" : "false";
            case Integer i -> Integer.toString(i);
            case Long l -> Long.toString(l);
            case String s -> string(s);
            case List<?> l -> array((List<Object>) l, nest);
            case Map<?, ?> m -> inlineTable((Map<String, Object>) m);
            case null -> throw new IllegalArgumentException("TOML has no null");
            default -> throw new IllegalArgumentException("not a TOML value: " + v.getClass().getName());
        };
    }

    private static String inlineTable(Map<String, Object> t) {
        if (t.isEmpty()) {
            return "{}";
        }
        StringBuilder sb = new StringBuilder("{ ");
        boolean first = true;
        for (Map.Entry<String, Object> e : t.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            // tomli_w renders values of inline tables at nesting level 0, whatever the table's own depth.
            sb.append(key(e.getKey())).append(" = ").append(literal(e.getValue(), 0));
        }
        return sb.append(" }").toString();
    }

    private static String array(List<Object> l, int nest) {
        if (l.isEmpty()) {
            return "[]";
        }
        String itemIndent = INDENT.repeat(nest + 1);
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < l.size(); i++) {
            if (i > 0) {
                sb.append(",\n");
            }
            sb.append(itemIndent).append(literal(l.get(i), nest + 1));
        }
        return sb.append(",\n").append(INDENT.repeat(nest)).append(']').toString();
    }

    private static String key(String k) {
        if (!k.isEmpty() && k.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return k;
        }
        return string(k);
    }

    private static String string(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\b' -> sb.append("\\b");
                case '\n' -> sb.append("\\n");
                case '\f' -> sb.append("\\f");
                case '\r' -> sb.append("\\r");
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                default -> {
                    if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        sb.append("\\u").append(String.format("%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
