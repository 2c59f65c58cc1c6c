package dev.cloister.pipeline;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Runs one step's command somewhere (this machine, a SLURM cluster) and reports on it by a handle that outlives
 * the orchestrator: a pipeline whose orchestrator was killed finds its running steps again by their handles.
 *
 * <p>Every executor runs the command through the same small shell wrapper, which records the exit status in
 * {@code <dir>/exit} (written to a temporary file and renamed, so it is whole or absent). The status file, not
 * the executor's memory, is the truth about a finished step.
 */
public interface StepExecutor {

    /** {@code local} or {@code slurm}. */
    String name();

    /** Starts the step and returns its handle (a PID, a SLURM job id). */
    String submit(StepLaunch launch) throws IOException, CloisterException;

    /**
     * Starts several steps that became ready at the same moment and returns their handles in the same order. The
     * default submits them one by one; a cluster executor may submit them as one job array.
     */
    default List<String> submitAll(List<StepLaunch> launches) throws IOException, CloisterException {
        List<String> handles = new java.util.ArrayList<>();
        for (StepLaunch l : launches) {
            handles.add(submit(l));
        }
        return handles;
    }

    /** Whether the handle's process or job may still be running (queued counts as running). */
    boolean alive(String handle) throws IOException, CloisterException;

    /** Why a handle that is no longer alive ended without an exit status, if the executor knows. */
    default String lostReason(String handle) throws IOException, CloisterException {
        return "the step's process ended without recording an exit status (killed?)";
    }

    /** Stops the step. */
    void cancel(String handle) throws IOException, CloisterException;

    /**
     * What to run for a step.
     *
     * @param runId the pipeline run
     * @param step the step name
     * @param command the program and arguments
     * @param dir the step's folder for this attempt: its log, exit status and working files
     * @param resources what it needs
     * @param timeLimit the longest the attempt may run, or null for no limit
     */
    record StepLaunch(String runId, String step, List<String> command, Path dir, PipelineSpec.Resources resources,
            java.time.Duration timeLimit) {
        public StepLaunch {
            command = List.copyOf(command);
        }

        /** The log file (stdout and stderr). */
        public Path log() {
            return dir.resolve("log");
        }

        /** The exit-status file the wrapper writes. */
        public Path exitFile() {
            return dir.resolve("exit");
        }
    }

    /** The wrapper: runs the command, then records its exit status atomically. */
    static String wrapperScript(StepLaunch l) {
        return wrapperScript(l, false);
    }

    /**
     * The wrapper; with {@code enforceLimit} and a time limit, the command runs under coreutils' {@code timeout},
     * which signals the whole process group it leads (the program's tree: bubblewrap dies with its parent) with
     * TERM at the limit and KILL {@value #KILL_AFTER_SECONDS} s later. Its status is then 124 (or 137), which the
     * orchestrator reads as a time-out when the attempt ran for its limit.
     */
    static String wrapperScript(StepLaunch l, boolean enforceLimit) {
        StringBuilder cmd = new StringBuilder();
        if (enforceLimit && l.timeLimit() != null) {
            cmd.append("timeout -k ").append(KILL_AFTER_SECONDS).append("s ").append(l.timeLimit().toSeconds()).append("s ");
        }
        for (String a : l.command()) {
            cmd.append(quote(a)).append(' ');
        }
        String exit = quote(l.exitFile().toString());
        return cmd + "; st=$?; printf '%s\\n' \"$st\" > " + exit + ".tmp && mv " + exit + ".tmp " + exit
                + "; exit $st";
    }

    /** Seconds between the TERM and the KILL of a step over its time limit. */
    int KILL_AFTER_SECONDS = 5;

    /** The exit status of a command stopped by {@code timeout}: 124 after TERM, 137 (128 + 9) after KILL. */
    static boolean timeoutStatus(int exit) {
        return exit == 124 || exit == 137;
    }

    /** Reads the recorded exit status, or null if the step has not recorded one. */
    static Integer recordedExit(Path exitFile) throws IOException {
        try {
            return Integer.parseInt(Files.readString(exitFile, StandardCharsets.UTF_8).strip());
        } catch (NoSuchFileException e) {
            return null;
        } catch (NumberFormatException e) {
            throw new IOException("corrupt exit status in " + exitFile);
        }
    }

    /** Single-quotes a shell word. */
    static String quote(String v) {
        return "'" + v.replace("'", "'\\''") + "'";
    }
}
