package dev.cloister.pipeline;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The confidential half of a pipeline run, fixed when the run is created ({@code plan.json} in the run folder):
 * where each step's bundle is and what it measures, and the broker's name of every key each step receives. No
 * key material is in it, nor anywhere in the run folder, which a cluster's nodes share: the owner's copies of
 * output and log keys are in the owner's private key folder ({@link ConfidentialRun#ownerDir}).
 *
 * <p>Every key a step needs is stored in the broker under a name of its own, under that step's policy. The key
 * of an edge (an output of step A read by step B) is therefore stored twice with the same bytes: once for A (to
 * write) under A's policy, once for B (to read) under B's. A step can obtain only the keys stored under its own
 * names, and only with evidence its own policy accepts.
 *
 * @param runId the run
 * @param repository where ciphertext and job records are exchanged
 * @param broker the key broker's URL
 * @param brokerCa the PEM file with the broker's certificate, which steps trust
 * @param backend the backend every step uses
 * @param steps per step, what its job is made of
 */
public record RunPlan(String runId, String repository, String broker, String brokerCa, String backend,
        Map<String, StepPlan> steps) {

    /**
     * One step's fixed part.
     *
     * @param bundle the bundle folder (absolute)
     * @param measurement the bundle's measurement when the run was created
     * @param policy the policy every key of the step is stored under
     * @param logKey the broker's (qualified) name of the key for the program's stdout and stderr
     * @param inputs per input name, its key and, for an owner's file, the uploaded ciphertext
     * @param outputs per output name, the (qualified) name of its key as this step obtains it
     * @param backend the step's backend, or null for the run's ({@link RunPlan#backendOf})
     */
    public record StepPlan(String bundle, String measurement, String policy, String logKey, Map<String, InputPlan> inputs,
            Map<String, String> outputs, String backend) {
        public StepPlan {
            inputs = Map.copyOf(inputs);
            outputs = Map.copyOf(outputs);
        }
    }

    /**
     * An input's fixed part.
     *
     * @param key the (qualified) name of the key this step obtains to read it
     * @param object for an owner's file, the repository object with its ciphertext; null for an edge
     * @param size for an owner's file, its plaintext size
     */
    /** The backend a step runs under. */
    public String backendOf(StepPlan sp) {
        return sp.backend() != null ? sp.backend() : backend;
    }

    public record InputPlan(String key, String object, long size) {}

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    public RunPlan {
        steps = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(steps));
    }

    /** The plan's file in a run folder. */
    static Path file(Path runDir) {
        return runDir.resolve("plan.json");
    }

    void save(Path runDir) throws IOException {
        AtomicFiles.writeBytes(file(runDir), false, JSON.writeValueAsBytes(this));
    }

    /** Loads the plan of a confidential run. */
    public static RunPlan load(Path runDir) throws IOException, CloisterException {
        try {
            return JSON.readValue(Files.readAllBytes(file(runDir)), RunPlan.class);
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "no confidential pipeline run in " + runDir);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "corrupt run plan " + file(runDir) + ": "
                    + e.getOriginalMessage());
        }
    }
}
