package dev.cloister.runtime.job;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * A submitted job as the repository holds it (reference {@code jobs/ID}): everything a worker needs and nothing
 * secret. Inputs are repository objects holding Gramine encrypted files; the key is in the broker.
 *
 * @param id the job id
 * @param name the job's name from its spec
 * @param bundlePath where the worker finds the bundle
 * @param measurement the bundle measurement the owner's policy names (hex)
 * @param policy the policy the broker enforces for the job key (for reports; the broker holds the real one)
 * @param secret the broker's name for the job key
 * @param broker the broker URL
 * @param backend sim, gramine-direct or gramine-sgx
 * @param args the program's arguments
 * @param env extra environment
 * @param inputs encrypted inputs
 * @param outputs expected outputs
 * @param keys for inputs and outputs that are not under {@code secret}, the broker's name of their key, by input or
 *     output name (a pipeline step's edges each have their own key); {@code secret} always encrypts stdout and
 *     stderr
 */
public record JobRecord(String id, String name, String bundlePath, String measurement, String policy, String secret,
        String broker, String backend, List<String> args, Map<String, String> env, List<Input> inputs,
        List<JobSpec.Output> outputs, Map<String, String> keys) {

    /**
     * An input: the repository object with its ciphertext, where the enclave sees it, and the path embedded in the
     * ciphertext ({@code bound}: the same as {@code path} for an owner's file, the producer's output path for a
     * file from an earlier pipeline step).
     */
    public record Input(String name, String path, String object, long size, String bound) {
        public Input {
            bound = bound == null ? path : bound;
        }

        /** An owner's input, bound to the path the enclave sees it at. */
        public Input(String name, String path, String object, long size) {
            this(name, path, object, size, path);
        }
    }

    /** A job whose inputs, outputs and logs all use {@code secret}. */
    public JobRecord(String id, String name, String bundlePath, String measurement, String policy, String secret,
            String broker, String backend, List<String> args, Map<String, String> env, List<Input> inputs,
            List<JobSpec.Output> outputs) {
        this(id, name, bundlePath, measurement, policy, secret, broker, backend, args, env, inputs, outputs, Map.of());
    }

    /** The key of the input or output called {@code name}. */
    public String keyOf(String name) {
        return keys.getOrDefault(name, secret);
    }

    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    public JobRecord {
        args = List.copyOf(args);
        env = Map.copyOf(env);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        keys = keys == null ? Map.of() : Map.copyOf(keys);
    }

    /** The repository reference a job is published under. */
    public static String ref(String id) {
        return "jobs/" + id + "/job.json";
    }

    public static JobRecord parse(byte[] json, String id) throws CloisterException {
        try {
            JobRecord r = JSON.readValue(json, JobRecord.class);
            r.canonicalBytes(); // a record without a canonical form cannot be bound, so it is malformed
            return r;
        } catch (IOException | IllegalArgumentException | NullPointerException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + ": record is malformed");
        }
    }

    /**
     * The record in canonical form: its JSON (every component, nulls included, as {@link #toBytes()} writes them)
     * canonicalised by RFC 8785 ({@link CanonicalJson}). This is what {@link #hash()} hashes.
     */
    public byte[] canonicalBytes() {
        return CanonicalJson.encode(JSON.valueToTree(this));
    }

    /**
     * The record's identity: SHA-256 of {@link #canonicalBytes()}. The owner registers it with the broker (the job
     * key's policy gets {@code JOB:<hex>}) and keeps it; the enclave computes it over the record it is about to run
     * and binds it into its evidence ({@code ReleaseBinding.reportData(nonce, key, hash)}); so the broker releases
     * keys only to an enclave running exactly the record the owner submitted (docs/jobs.md).
     */
    public byte[] hash() {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(canonicalBytes());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

    /** {@link #hash()} in lowercase hex, as the policy clause and the audit log write it. */
    public String hashHex() {
        return java.util.HexFormat.of().formatHex(hash());
    }

    public byte[] toBytes() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
