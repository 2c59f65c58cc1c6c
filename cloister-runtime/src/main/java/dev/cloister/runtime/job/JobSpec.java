package dev.cloister.runtime.job;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.cloister.core.CloisterException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What a data owner asks for: run this bundle (accepted by this policy) on these inputs, and return these
 * outputs. Written as YAML (docs/jobs.md); parsed strictly, so a misspelt key is an error rather than a silently
 * ignored setting.
 *
 * @param name a short name for people, used in job ids and reports
 * @param bundle the program to run and the policy its evidence must satisfy
 * @param inputs the owner's private files, each bound to the path the enclave opens
 * @param outputs the files the program writes, each at a path under {@code /outputs}
 * @param args the program's arguments after the entrypoint
 * @param env extra environment variables for the program
 * @param backend {@code sim}, {@code gramine-direct} or {@code gramine-sgx}
 * @param broker the key broker's URL
 * @param repository where ciphertext and bundles are exchanged (a path, {@code file://} or {@code s3://} URL)
 */
public record JobSpec(
        String name, Bundle bundle, List<Input> inputs, List<Output> outputs, List<String> args,
        Map<String, String> env, String backend, String broker, String repository) {

    /** The bundle to run: a bundle directory or a repository object, and the policy its evidence must meet. */
    public record Bundle(String path, String ref, String policy) {}

    /**
     * An owner's input.
     *
     * @param name a unique name within the job
     * @param file the plaintext file on the owner's machine (only the owner ever reads it)
     * @param path where the enclave sees it, under {@code /inputs}
     */
    public record Input(String name, String file, String path) {}

    /** An output the program writes at {@code path} (under {@code /outputs}), returned encrypted to the owner. */
    public record Output(String name, String path) {}

    /** The backends a job may ask for. */
    public static final Set<String> BACKENDS = Set.of("sim", "gramine-direct", "gramine-sgx");

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern ENCLAVE_PATH = Pattern.compile("/(inputs|outputs)(/[A-Za-z0-9._-]+)+");
    private static final ObjectMapper YAML = new ObjectMapper(
                    YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).build())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    public JobSpec {
        inputs = inputs == null ? List.of() : List.copyOf(inputs);
        outputs = outputs == null ? List.of() : List.copyOf(outputs);
        args = args == null ? List.of() : List.copyOf(args);
        env = env == null ? Map.of() : Map.copyOf(env);
        backend = backend == null ? "sim" : backend;
    }

    /**
     * Parses and validates a job file.
     *
     * @param source the file name, for messages
     * @throws CloisterException BAD_INPUT naming the field and value at fault
     */
    public static JobSpec parse(byte[] yaml, String source) throws CloisterException {
        JobSpec spec;
        try {
            spec = YAML.readValue(yaml, JobSpec.class);
        } catch (UnrecognizedPropertyException e) {
            throw bad(source, "unknown key '" + e.getPropertyName() + "'" + where(e));
        } catch (JsonProcessingException e) {
            throw bad(source, e.getOriginalMessage() + where(e));
        } catch (java.io.IOException e) {
            throw bad(source, "unreadable: " + e.getMessage());
        }
        if (spec == null) {
            throw bad(source, "empty job file");
        }
        spec.validate(source);
        return spec;
    }

    /** The job as YAML, in a stable form (for records and ids). */
    public byte[] toBytes() {
        try {
            return YAML.writeValueAsBytes(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("job spec cannot be written as YAML", e);
        }
    }

    private void validate(String src) throws CloisterException {
        if (name == null || !NAME.matcher(name).matches()) {
            throw bad(src, "name: '" + name + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (bundle == null) {
            throw bad(src, "bundle: missing (give bundle.path or bundle.ref, and bundle.policy)");
        }
        if ((bundle.path() == null) == (bundle.ref() == null)) {
            throw bad(src, "bundle: give exactly one of bundle.path and bundle.ref");
        }
        if (bundle.policy() == null || bundle.policy().isBlank()) {
            throw bad(src, "bundle.policy: missing (the measurement or signer the enclave must prove)");
        }
        if (!BACKENDS.contains(backend)) {
            throw bad(src, "backend: '" + backend + "' is not one of " + String.join(", ", BACKENDS.stream().sorted().toList()));
        }
        Set<String> names = new HashSet<>();
        Set<String> paths = new HashSet<>();
        for (int i = 0; i < inputs.size(); i++) {
            Input in = inputs.get(i);
            String f = "inputs[" + i + "]";
            checkName(src, f, in == null ? null : in.name(), names);
            if (in.file() == null || in.file().isBlank()) {
                throw bad(src, f + ".file: missing");
            }
            checkPath(src, f, in.path(), "/inputs/", paths);
        }
        for (int i = 0; i < outputs.size(); i++) {
            Output out = outputs.get(i);
            String f = "outputs[" + i + "]";
            checkName(src, f, out == null ? null : out.name(), names);
            checkPath(src, f, out.path(), "/outputs/", paths);
        }
        if (outputs.isEmpty()) {
            throw bad(src, "outputs: a job must name at least one output");
        }
        for (String k : env.keySet()) {
            if (!k.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw bad(src, "env: '" + k + "' is not a valid variable name");
            }
        }
    }

    private static void checkName(String src, String field, String n, Set<String> seen) throws CloisterException {
        if (n == null || !NAME.matcher(n).matches()) {
            throw bad(src, field + ".name: '" + n + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (!seen.add(n)) {
            throw bad(src, field + ".name: '" + n + "' is used twice");
        }
    }

    private static void checkPath(String src, String field, String p, String prefix, Set<String> seen)
            throws CloisterException {
        if (p == null || !ENCLAVE_PATH.matcher(p).matches() || !p.startsWith(prefix) || p.contains("/../")
                || p.endsWith("/..") || p.contains("/./")) {
            throw bad(src, field + ".path: '" + p + "' must be a normalized path under " + prefix);
        }
        if (!seen.add(p)) {
            throw bad(src, field + ".path: '" + p + "' is used twice");
        }
    }

    private static String where(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }

    private static CloisterException bad(String src, String msg) {
        return new CloisterException(CloisterException.Kind.BAD_INPUT, src + ": " + msg);
    }

    @JsonProperty("env")
    @Override
    public Map<String, String> env() {
        return new java.util.TreeMap<>(env);
    }
}
