package dev.cloister.runtime.job;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.List;

/**
 * What a worker publishes when a job ends (reference {@code jobs/ID/result.json}): where the encrypted outputs
 * are. The owner trusts none of it: every output is authenticated with the job key and bound to its path when
 * fetched, so a worker can lose or withhold outputs but cannot forge them.
 *
 * @param id the job id
 * @param programExit the program's exit code as the enclave reported it
 * @param backend the backend that ran it
 * @param simulated true unless the evidence came from real hardware
 * @param outputs the encrypted outputs
 * @param stdout the repository object holding the program's encrypted stdout, or null when the backend cannot
 *     encrypt it (Gramine hands the console to the host unencrypted, so Gramine results publish none)
 * @param stderr the same for stderr
 * @param missing outputs the program did not write
 */
public record JobResult(String id, int programExit, String backend, boolean simulated, List<Output> outputs,
        String stdout, String stderr, List<String> missing) {

    /** An output object and the enclave path it must be bound to. */
    public record Output(String name, String path, String object) {}

    public JobResult {
        outputs = List.copyOf(outputs);
        missing = List.copyOf(missing);
    }

    public static String ref(String id) {
        return "jobs/" + id + "/result.json";
    }

    public static JobResult parse(byte[] json, String id) throws CloisterException {
        try {
            return JobRecord.JSON.readValue(json, JobResult.class);
        } catch (IOException | IllegalArgumentException | NullPointerException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + ": result record is malformed");
        }
    }

    public byte[] toBytes() {
        try {
            return JobRecord.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
