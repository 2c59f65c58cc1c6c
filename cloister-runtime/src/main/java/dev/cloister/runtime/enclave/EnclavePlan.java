package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import java.io.IOException;
import java.util.List;
import java.util.Objects;

/**
 * What the host hands the launcher inside the enclave: the job record to run, where the bundle and the
 * ciphertexts are, and a broker nonce per key. The plan comes from the untrusted host, so it holds nothing that
 * decides what runs except the record, and the record is bound: the launcher hashes it
 * ({@link JobRecord#hash()}), binds the hash into its evidence, and derives everything it runs from it and from
 * the bundle it measures (program, arguments, environment, which object is decrypted at which path, which outputs
 * are encrypted under which key). The broker releases the keys only for the record hash the owner registered, so
 * a record changed anywhere stops the job before the program starts.
 *
 * @param bundle the bundle folder as the launcher sees it (manifest and files), which it measures
 * @param job the job record to run, as published in the repository
 * @param keys a single-use broker nonce for each secret the record needs (one per input edge and output of a
 *     pipeline step, one for a single job)
 * @param inputDir where the ciphertext of input {@code NAME} is, as {@code inputDir/NAME.pf}
 * @param outputDir where the ciphertext of output {@code NAME} is written, as {@code outputDir/NAME.pf}
 * @param sandbox how the launcher isolates the program: {@code bubblewrap} (default) or {@code unshare}, the same
 *     tool the worker used for the enclave itself
 */
public record EnclavePlan(String bundle, JobRecord job, List<KeyRequest> keys, String inputDir, String outputDir,
        String sandbox) {

    /**
     * The nonce for one secret.
     *
     * @param secret the broker's name for the key (namespace/name)
     * @param nonce the broker's nonce, base64, bound into the evidence's report data
     */
    public record KeyRequest(String secret, String nonce) {}

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    public EnclavePlan {
        Objects.requireNonNull(bundle, "bundle");
        Objects.requireNonNull(job, "job");
        Objects.requireNonNull(inputDir, "inputDir");
        Objects.requireNonNull(outputDir, "outputDir");
        keys = keys == null ? List.of() : List.copyOf(keys);
        sandbox = sandbox == null ? "bubblewrap" : sandbox;
        if (!sandbox.equals("bubblewrap") && !sandbox.equals("unshare")) {
            throw new IllegalArgumentException("sandbox must be bubblewrap or unshare, not " + sandbox);
        }
    }

    /** Parses a plan; a malformed plan is BAD_INPUT naming the problem. */
    public static EnclavePlan parse(byte[] json) throws CloisterException {
        EnclavePlan p;
        try {
            p = JSON.readValue(json, EnclavePlan.class);
        } catch (IOException | IllegalArgumentException | NullPointerException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "enclave plan is malformed: "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("")));
        }
        try {
            p.job().canonicalBytes(); // a record the launcher cannot hash cannot be bound
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "enclave plan: the job record is malformed: "
                    + e.getMessage());
        }
        return p;
    }

    public byte[] toBytes() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("a plan always serialises", e);
        }
    }
}
