package dev.cloister.runtime.job;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The rules job and pipeline files share: strict YAML reading, names, enclave paths, environment names, and
 * error messages that start with the file name and name the field at fault.
 */
public final class SpecRules {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern ENCLAVE_PATH = Pattern.compile("/(inputs|outputs)(/[A-Za-z0-9][A-Za-z0-9._-]*)+");
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** Strict YAML: unknown keys are errors, not silently ignored settings. */
    public static final ObjectMapper YAML = new ObjectMapper(
                    YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).build())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    private SpecRules() {}

    /** Reads a YAML document as {@code type}, turning every parse problem into a BAD_INPUT naming the place. */
    public static <T> T read(byte[] yaml, Class<T> type, String source) throws CloisterException {
        T value;
        try {
            value = YAML.readValue(yaml, type);
        } catch (UnrecognizedPropertyException e) {
            throw bad(source, "unknown key '" + e.getPropertyName() + "'" + keyLocation(yaml, e));
        } catch (JsonProcessingException e) {
            throw bad(source, e.getOriginalMessage() + where(e));
        } catch (IOException e) {
            throw bad(source, "unreadable: " + e.getMessage());
        }
        if (value == null) {
            throw bad(source, "the file is empty");
        }
        return value;
    }

    /** Writes {@code value} as YAML. */
    public static byte[] write(Object value) {
        try {
            return YAML.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + value.getClass().getSimpleName() + " as YAML", e);
        }
    }

    /** Checks a name (1-64 letters, digits, '.', '_', '-') and that it is new in {@code seen}. */
    public static void name(String source, String field, String n, Set<String> seen) throws CloisterException {
        if (n == null || !NAME.matcher(n).matches()) {
            throw bad(source, field + ": '" + n + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (seen != null && !seen.add(n)) {
            throw bad(source, field + ": '" + n + "' is used twice");
        }
    }

    /** The files fetch writes beside the outputs, for the program's captured stdout and stderr. */
    public static final Set<String> CAPTURED_STREAMS = Set.of("stdout.txt", "stderr.txt");

    /**
     * Checks an output's name: a {@link #name} that is not one of {@link #CAPTURED_STREAMS} (compared ignoring
     * case, for owners on case-insensitive file systems), since fetch writes an output as OUTDIR/NAME beside them.
     */
    public static void outputName(String source, String field, String n, Set<String> seen) throws CloisterException {
        name(source, field, n, seen);
        if (CAPTURED_STREAMS.contains(n.toLowerCase(java.util.Locale.ROOT))) {
            throw bad(source, field + ": '" + n + "' is reserved for the program's captured "
                    + n.substring(0, 6).toLowerCase(java.util.Locale.ROOT) + " (fetch writes it beside the outputs);"
                    + " choose another name");
        }
    }

    /** Checks a path the enclave sees: normalized, under {@code prefix} ({@code /inputs/} or {@code /outputs/}). */
    public static void enclavePath(String source, String field, String p, String prefix, Set<String> seen)
            throws CloisterException {
        if (p == null || !ENCLAVE_PATH.matcher(p).matches() || !p.startsWith(prefix)) {
            throw bad(source, field + ": '" + p + "' must be a normalized path under " + prefix);
        }
        if (seen != null && !seen.add(p)) {
            throw bad(source, field + ": '" + p + "' is used twice");
        }
    }

    /** Checks environment variable names. */
    public static void env(String source, String field, Map<String, String> env) throws CloisterException {
        for (String k : env.keySet()) {
            if (!ENV_NAME.matcher(k).matches()) {
                throw bad(source, field + ": '" + k + "' is not a valid variable name");
            }
        }
    }

    /** Checks a bundle reference: exactly one of path and ref, and a policy. */
    public static void bundle(String source, String field, JobSpec.Bundle b) throws CloisterException {
        if (b == null) {
            throw bad(source, field + ": missing (give " + field + ".path or " + field + ".ref, and " + field + ".policy)");
        }
        if ((b.path() == null) == (b.ref() == null)) {
            throw bad(source, field + ": give exactly one of " + field + ".path and " + field + ".ref");
        }
        if (b.policy() == null || b.policy().isBlank()) {
            throw bad(source, field + ".policy: missing (the measurement or signer the enclave must prove)");
        }
    }

    /** Checks a backend name against {@link JobSpec#BACKENDS}. */
    public static void backend(String source, String backend) throws CloisterException {
        if (!JobSpec.BACKENDS.contains(backend)) {
            throw bad(source, "backend: '" + backend + "' is not one of "
                    + String.join(", ", JobSpec.BACKENDS.stream().sorted().toList()));
        }
    }

    /** A BAD_INPUT error about {@code source}. */
    public static CloisterException bad(String source, String msg) {
        return new CloisterException(CloisterException.Kind.BAD_INPUT, source + ": " + msg);
    }

    /**
     * Where an unknown key is written. Jackson reports where it noticed, which for records (read through their
     * constructor, with the properties buffered first) is the end of the enclosing mapping, lines away; so the key
     * is looked up again along the error's path in the YAML node tree, which keeps every key's position.
     */
    private static String keyLocation(byte[] yaml, UnrecognizedPropertyException e) {
        try {
            org.yaml.snakeyaml.nodes.Node node = new org.yaml.snakeyaml.Yaml().compose(
                    new java.io.InputStreamReader(new java.io.ByteArrayInputStream(yaml),
                            java.nio.charset.StandardCharsets.UTF_8));
            List<com.fasterxml.jackson.databind.JsonMappingException.Reference> path = e.getPath();
            for (int i = 0; i < path.size(); i++) {
                var ref = path.get(i);
                if (ref.getFieldName() != null && node instanceof org.yaml.snakeyaml.nodes.MappingNode m) {
                    org.yaml.snakeyaml.nodes.Node next = null;
                    for (org.yaml.snakeyaml.nodes.NodeTuple t : m.getValue()) {
                        if (t.getKeyNode() instanceof org.yaml.snakeyaml.nodes.ScalarNode k
                                && k.getValue().equals(ref.getFieldName())) {
                            if (i == path.size() - 1) {
                                var mark = k.getStartMark();
                                return " (line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1) + ")";
                            }
                            next = t.getValueNode();
                        }
                    }
                    node = next;
                } else if (ref.getIndex() >= 0 && node instanceof org.yaml.snakeyaml.nodes.SequenceNode q
                        && ref.getIndex() < q.getValue().size()) {
                    node = q.getValue().get(ref.getIndex());
                } else {
                    node = null;
                }
                if (node == null) {
                    break;
                }
            }
        } catch (RuntimeException notFound) {
            // fall back to Jackson's position
        }
        return where(e);
    }

    private static String where(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }
}
