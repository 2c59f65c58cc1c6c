package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.CloisterException;
import java.io.IOException;
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
 * @param key which secret to request from the broker, and the broker's single-use nonce
 * @param inputs encrypted inputs to decrypt into enclave memory before the program starts
 * @param outputs files the program writes, to encrypt before they leave
 * @param sandbox how the launcher isolates the program: {@code bubblewrap} (default) or {@code unshare}, the same
 *     tool the worker used for the enclave itself
 */
public record EnclavePlan(String bundle, String root, String measurement, String entrypoint, List<String> args,
        Map<String, String> env, String workDir, KeyRequest key, List<Input> inputs, List<Output> outputs,
        String sandbox) {

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
     * @param path the enclave path it is bound to and appears at (under /inputs)
     */
    public record Input(String name, String ciphertext, String path) {}

    /**
     * An output.
     *
     * @param name the job's name for it
     * @param path where the program writes it (under /outputs)
     * @param ciphertext where the launcher writes the encrypted result, bound to {@code path}
     */
    public record Output(String name, String path, String ciphertext) {}

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    public EnclavePlan {
        Objects.requireNonNull(bundle, "bundle");
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(entrypoint, "entrypoint");
        Objects.requireNonNull(key, "key");
        args = args == null ? List.of() : List.copyOf(args);
        env = env == null ? Map.of() : Map.copyOf(new TreeMap<>(env));
        workDir = workDir == null ? "/" : workDir;
        inputs = inputs == null ? List.of() : List.copyOf(inputs);
        outputs = outputs == null ? List.of() : List.copyOf(outputs);
        sandbox = sandbox == null ? "bubblewrap" : sandbox;
        if (!sandbox.equals("bubblewrap") && !sandbox.equals("unshare")) {
            throw new IllegalArgumentException("sandbox must be bubblewrap or unshare, not " + sandbox);
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
