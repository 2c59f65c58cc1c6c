package dev.cloister.pipeline;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs steps as SLURM batch jobs: {@code sbatch} to submit (cores and memory from the step's resources),
 * a step's time limit as {@code --time} (whole minutes, rounded up), {@code squeue} to see whether a job is still
 * queued or running, {@code scontrol show job} to learn why one
 * ended without an exit status, {@code scancel} to stop one. Steps and the orchestrator share the run folder,
 * as on any cluster with a shared file system.
 */
public final class SlurmExecutor implements StepExecutor {
    private static final Pattern JOB_ID = Pattern.compile("^(\\d+)(;.*)?$");
    private final String partition;
    private final java.nio.file.Path slurmConf;

    /**
     * @param partition the partition to submit to, or null for the cluster's default
     * @param slurmConf the cluster's slurm.conf, or null for the SLURM tools' default (SLURM_CONF or /etc/slurm)
     */
    public SlurmExecutor(String partition, java.nio.file.Path slurmConf) {
        this.partition = partition;
        this.slurmConf = slurmConf;
    }

    @Override
    public String name() {
        return "slurm";
    }

    @Override
    public String submit(StepLaunch l) throws IOException, CloisterException {
        Files.createDirectories(l.dir());
        String out = run(sbatchArguments(l)).strip();
        Matcher m = JOB_ID.matcher(out);
        if (!m.matches()) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "sbatch gave no job id: " + out);
        }
        return m.group(1);
    }

    /** The {@code sbatch} command line that submits one step. */
    List<String> sbatchArguments(StepLaunch l) {
        List<String> cmd = new ArrayList<>(List.of("sbatch", "--parsable",
                "--job-name=cloister-" + l.runId() + "-" + l.step(),
                "--output=" + l.log(),
                "--chdir=" + l.dir(),
                "--cpus-per-task=" + l.resources().cores(),
                "--mem=" + l.resources().memoryMb() + "M"));
        if (l.timeLimit() != null) {
            cmd.add("--time=" + minutes(l.timeLimit()));
        }
        cmd.add("--wrap=" + StepExecutor.wrapperScript(l));
        if (partition != null) {
            cmd.add(2, "--partition=" + partition);
        }
        return cmd;
    }

    /** A time limit in whole minutes for {@code --time}, rounded up (SLURM's smallest unit is a minute). */
    static long minutes(java.time.Duration limit) {
        return Math.max(1, (limit.toSeconds() + 59) / 60);
    }

    /**
     * Submits several steps as one SLURM job array ({@code --array=0-N}): task {@code i} runs step {@code i}'s
     * wrapper with its output appended to that step's own log. The array asks for the largest cores and memory of
     * its steps. Handles are {@code JOBID_TASK}, which squeue, scontrol and scancel accept.
     */
    @Override
    public List<String> submitAll(List<StepLaunch> launches) throws IOException, CloisterException {
        if (launches.size() == 1) {
            return List.of(submit(launches.get(0)));
        }
        StringBuilder script = new StringBuilder("#!/bin/sh\ncase \"$SLURM_ARRAY_TASK_ID\" in\n");
        int cores = 1;
        int mem = 16;
        java.time.Duration time = null;
        boolean unlimited = false;
        for (int i = 0; i < launches.size(); i++) {
            StepLaunch l = launches.get(i);
            Files.createDirectories(l.dir());
            cores = Math.max(cores, l.resources().cores());
            mem = Math.max(mem, l.resources().memoryMb());
            if (l.timeLimit() == null) {
                unlimited = true;
            } else if (time == null || l.timeLimit().compareTo(time) > 0) {
                time = l.timeLimit();
            }
            script.append("  ").append(i).append(") cd ").append(StepExecutor.quote(l.dir().toString()))
                    .append(" && exec >> ").append(StepExecutor.quote(l.log().toString())).append(" 2>&1 && ")
                    // The array's --time is its longest step's: each task enforces its own limit as well.
                    .append(StepExecutor.wrapperScript(l, true)).append(" ;;\n");
        }
        script.append("  *) echo \"unknown array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n");
        StepLaunch first = launches.get(0);
        Path file = first.dir().getParent().getParent().resolve("array-" + first.dir().getFileName() + "-"
                + String.join("-", launches.stream().map(StepLaunch::step).toList()) + ".sh");
        if (file.getFileName().toString().length() > 200) {
            file = first.dir().resolve("array.sh");
        }
        dev.cloister.core.AtomicFiles.writeBytes(file, true, script.toString().getBytes(StandardCharsets.UTF_8));
        List<String> cmd = new ArrayList<>(List.of("sbatch", "--parsable",
                "--job-name=cloister-" + first.runId() + "-array",
                "--array=0-" + (launches.size() - 1),
                "--output=/dev/null",
                "--chdir=" + first.dir(),
                "--cpus-per-task=" + cores,
                "--mem=" + mem + "M",
                file.toString()));
        if (time != null && !unlimited) {
            // One limit for the whole array: the longest of its steps (a step without a limit lifts it).
            cmd.add(cmd.size() - 1, "--time=" + minutes(time));
        }
        if (partition != null) {
            cmd.add(2, "--partition=" + partition);
        }
        String out = run(cmd).strip();
        Matcher m = JOB_ID.matcher(out);
        if (!m.matches()) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "sbatch gave no job id: " + out);
        }
        List<String> handles = new ArrayList<>();
        for (int i = 0; i < launches.size(); i++) {
            handles.add(m.group(1) + "_" + i);
        }
        return handles;
    }

    @Override
    public boolean alive(String handle) throws IOException, CloisterException {
        String state = run(List.of("squeue", "-h", "-j", handle, "-o", "%T")).strip();
        // squeue lists pending, running and completing jobs; a finished job is absent (or a terminal state).
        return !state.isEmpty() && !state.matches("COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE");
    }

    @Override
    public String lostReason(String handle) throws IOException {
        try {
            String info = run(List.of("scontrol", "show", "job", handle));
            Matcher st = Pattern.compile("JobState=(\\S+)").matcher(info);
            Matcher why = Pattern.compile("Reason=(\\S+)").matcher(info);
            if (st.find()) {
                return "SLURM job " + handle + " ended " + st.group(1) + (why.find() ? " (reason " + why.group(1) + ")" : "")
                        + " without recording an exit status";
            }
        } catch (CloisterException e) {
            // The controller forgot the job (MinJobAge); fall through to the generic reason.
        }
        return "SLURM job " + handle + " ended without recording an exit status (cancelled or killed?)";
    }

    @Override
    public void cancel(String handle) throws IOException, CloisterException {
        run(List.of("scancel", handle));
    }

    private String run(List<String> cmd) throws IOException, CloisterException {
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            if (slurmConf != null) {
                pb.environment().put("SLURM_CONF", slurmConf.toString());
            }
            p = pb.start();
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    cmd.get(0) + " not found: the SLURM executor needs the SLURM client tools (Debian: slurm-client)");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, cmd.get(0) + " timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
        if (p.exitValue() != 0) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    cmd.get(0) + " failed (exit " + p.exitValue() + "): " + out.strip().lines().findFirst().orElse(""));
        }
        return out;
    }
}
