package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What the launcher inside the enclave is told to do: which program to run from which root, which encrypted
 * inputs to open at which enclave paths, which outputs to encrypt, and which key to ask the broker for. The plan
 * comes from the untrusted host, so nothing in it is secret and everything in it is checked: the program root is
 * measured before use, and a wrong path or key makes decryption fail rather than mislead.
 *
 * @param bundle the bundle folder as the launcher sees it (manifest and files), which it measures
 * @param root the program's root directory as the launcher sees it (the bundle's files, nothing else)
 * @param measurement the bundle measurement the host claims; the launcher recomputes it and refuses a mismatch
 * @param entrypoint the program, an absolute path inside {@code root}
 * @param args the program's arguments
 * @param env the program's complete environment
 * @param workDir the program's working directory inside the root
 * @param keys the secrets to request from the broker, each with the broker's single-use nonce; a pipeline step
 *     needs several (one per input edge and one per output), a single job one
 * @param logKey the secret (one of {@code keys}) that encrypts the program's stdout and stderr
 * @param inputs encrypted inputs to decrypt into enclave memory before the program starts
 * @param outputs files the program writes, to encrypt before they leave
 * @param sandbox how the launcher isolates the program: {@code bubblewrap} (default) or {@code unshare}, the same
 *     tool the worker used for the enclave itself
 */
public record EnclavePlan(String bundle, String root, String measurement, String entrypoint, List<String> args,
        Map<String, String> env, String workDir, List<KeyRequest> keys, String logKey, List<Input> inputs,
        List<Output> outputs, String sandbox) {

    /**
     * The secret the launcher asks for.
     *
     * @param secret the broker's name for the job key (namespace/name)
     * @param nonce the broker's nonce, base64, bound into the evidence's report data
     */
    public record KeyRequest(String secret, String nonce) {}

    /**
     * An encrypted input.
     *
     * @param name the job's name for it
     * @param ciphertext where the launcher reads the Gramine encrypted file
     * @param path the enclave path it appears at (under /inputs)
     * @param bound the path embedded in the encrypted file, which must match: {@code path} for an owner's input,
     *     the producer's output path for a file written by an earlier pipeline step
     * @param key the secret (one of the plan's keys) it is encrypted with
     */
    public record Input(String name, String ciphertext, String path, String bound, String key) {
        public Input {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(key, "key");
            bound = bound == null ? path : bound;
        }
    }

    /**
     * An output.
     *
     * @param name the job's name for it
     * @param path where the program writes it (under /outputs)
     * @param ciphertext where the launcher writes the encrypted result, bound to {@code path}
     * @param key the secret (one of the plan's keys) it is encrypted with
     */
    public record Output(String name, String path, String ciphertext, String key) {
        public Output {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(key, "key");
        }
    }

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    public EnclavePlan {
        Objects.requireNonNull(bundle, "bundle");
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(entrypoint, "entrypoint");
        keys = keys == null ? List.of() : List.copyOf(keys);
        Objects.requireNonNull(logKey, "logKey");
        args = args == null ? List.of() : List.copyOf(args);
        env = env == null ? Map.of() : Map.copyOf(new TreeMap<>(env));
        workDir = workDir == null ? "/" : workDir;
        inputs = inputs == null ? List.of() : List.copyOf(inputs);
        outputs = outputs == null ? List.of() : List.copyOf(outputs);
        sandbox = sandbox == null ? "bubblewrap" : sandbox;
        if (!sandbox.equals("bubblewrap") && !sandbox.equals("unshare")) {
            throw new IllegalArgumentException("sandbox must be bubblewrap or unshare, not " + sandbox);
        }
        java.util.Set<String> requested = new java.util.HashSet<>();
        keys.forEach(k -> requested.add(k.secret()));
        java.util.List<String> used = new ArrayList<>();
        used.add(logKey);
        inputs.forEach(i -> used.add(i.key()));
        outputs.forEach(o -> used.add(o.key()));
        for (String k : used) {
            if (!requested.contains(k)) {
                throw new IllegalArgumentException("the plan uses key " + k + " but does not request it");
            }
        }
    }

    /** Parses a plan; a malformed plan is BAD_INPUT naming the problem. */
    public static EnclavePlan parse(byte[] json) throws CloisterException {
        try {
            return JSON.readValue(json, EnclavePlan.class);
        } catch (IOException | IllegalArgumentException | NullPointerException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "enclave plan is malformed: "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("")));
        }
    }

    public byte[] toBytes() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("a plan always serialises", e);
        }
    }
}
