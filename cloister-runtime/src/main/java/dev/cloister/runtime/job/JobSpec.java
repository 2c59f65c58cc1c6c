package dev.cloister.runtime.job;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cloister.core.CloisterException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

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
        JobSpec spec = SpecRules.read(yaml, JobSpec.class, source);
        spec.validate(source);
        return spec;
    }

    /** The job as YAML, in a stable form (for records and ids). */
    public byte[] toBytes() {
        return SpecRules.write(this);
    }

    private void validate(String src) throws CloisterException {
        SpecRules.name(src, "name", name, null);
        SpecRules.bundle(src, "bundle", bundle);
        SpecRules.backend(src, backend);
        Set<String> names = new HashSet<>();
        Set<String> paths = new HashSet<>();
        for (int i = 0; i < inputs.size(); i++) {
            Input in = inputs.get(i);
            String f = "inputs[" + i + "]";
            if (in == null) {
                throw SpecRules.bad(src, f + ": empty entry");
            }
            SpecRules.name(src, f + ".name", in.name(), names);
            if (in.file() == null || in.file().isBlank()) {
                throw SpecRules.bad(src, f + ".file: missing");
            }
            SpecRules.enclavePath(src, f + ".path", in.path(), "/inputs/", paths);
        }
        if (outputs.isEmpty()) {
            throw SpecRules.bad(src, "outputs: a job must name at least one output");
        }
        for (int i = 0; i < outputs.size(); i++) {
            Output out = outputs.get(i);
            String f = "outputs[" + i + "]";
            if (out == null) {
                throw SpecRules.bad(src, f + ": empty entry");
            }
            SpecRules.outputName(src, f + ".name", out.name(), names);
            SpecRules.enclavePath(src, f + ".path", out.path(), "/outputs/", paths);
        }
        SpecRules.env(src, "env", env);
    }

    @JsonProperty("env")
    @Override
    public Map<String, String> env() {
        // Sorted, so that toBytes() is stable.
        return new TreeMap<>(env);
    }
}
