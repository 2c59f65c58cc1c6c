package dev.cloister.pipeline;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where a pipeline run stands: each step's state, attempt, handle and times. Saved after every change as
 * {@code state.json} in the run folder (atomically), so an orchestrator killed at any moment resumes from it.
 *
 * @param runId the run's id
 * @param pipeline the pipeline's name
 * @param executor the executor the run uses ({@code local} or {@code slurm})
 * @param steps the state of each step, in the spec's order
 */
public record RunState(String runId, String pipeline, String executor, Map<String, Step> steps) {

    /**
     * The life of a step. {@code SKIPPED}: not run because a step it depends on failed (under
     * {@code on_failure: continue}); {@code resume} makes it pending again.
     */
    public enum Phase { PENDING, RUNNING, DONE, FAILED, SKIPPED }

    /**
     * One step's state.
     *
     * @param phase where it is
     * @param attempt how many times it has been started (1 for the first run)
     * @param handle the executor's handle of the current attempt (PID or SLURM job id)
     * @param startedAt when the current attempt was submitted
     * @param endedAt when it finished
     * @param exitCode the program's exit status, once known
     * @param reason why it failed (or, while pending a retry, why the last attempt failed; for a skipped step,
     *     which step it waited for), in words
     * @param retried how many automatic retries ({@code retries:} in the spec) it has had since the run was started
     *     or last resumed
     * @param retryAt for a step pending an automatic retry, the earliest time it starts again (its back-off)
     */
    public record Step(Phase phase, int attempt, String handle, Instant startedAt, Instant endedAt, Integer exitCode,
            String reason, int retried, Instant retryAt) {
        static Step pending() {
            return new Step(Phase.PENDING, 0, null, null, null, null, null, 0, null);
        }

        Step running(String h, Instant at) {
            return new Step(Phase.RUNNING, attempt + 1, h, at, null, null, null, retried, null);
        }

        Step done(int exit, Instant at) {
            return new Step(Phase.DONE, attempt, handle, startedAt, at, exit, null, retried, null);
        }

        Step failed(Integer exit, String why, Instant at) {
            return new Step(Phase.FAILED, attempt, handle, startedAt, at, exit, why, retried, null);
        }

        /**
         * This failed attempt's step, pending again for an automatic retry no earlier than {@code at}; the failed
         * attempt's end, exit status and reason are kept so that the wait is explained.
         */
        Step retryAfter(Instant at) {
            return new Step(Phase.PENDING, attempt, null, null, endedAt, exitCode,
                    "retry " + (retried + 1) + " after: " + reason, retried + 1, at);
        }

        Step skipped(String why) {
            return new Step(Phase.SKIPPED, attempt, null, null, null, null, why, retried, null);
        }

        /** Pending again, with a fresh budget of automatic retries (what {@code resume} does). */
        Step retry() {
            return new Step(Phase.PENDING, attempt, null, null, null, null, null, 0, null);
        }
    }

    static final ObjectMapper JSON = new ObjectMapper().findAndRegisterModules()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public RunState {
        steps = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(steps));
    }

    /** A copy with {@code step} replaced. */
    RunState with(String step, Step s) {
        Map<String, Step> m = new LinkedHashMap<>(steps);
        m.put(step, s);
        return new RunState(runId, pipeline, executor, m);
    }

    /** Counts of steps per phase. */
    public Map<Phase, Integer> counts() {
        Map<Phase, Integer> c = new LinkedHashMap<>();
        for (Phase p : Phase.values()) {
            c.put(p, 0);
        }
        steps.values().forEach(s -> c.merge(s.phase(), 1, Integer::sum));
        return c;
    }

    /** Saves to {@code runDir/state.json} atomically. */
    void save(Path runDir) throws IOException {
        AtomicFiles.writeBytes(runDir.resolve("state.json"), true, JSON.writeValueAsBytes(this));
    }

    /** Loads {@code runDir/state.json}. */
    public static RunState load(Path runDir) throws IOException, CloisterException {
        Path f = runDir.resolve("state.json");
        try {
            return JSON.readValue(Files.readAllBytes(f), RunState.class);
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "no pipeline run in " + runDir);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "corrupt run state " + f + ": " + e.getOriginalMessage());
        }
    }
}
