package dev.cloister.pipeline;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a pipeline: starts each step once every step it reads from is done, as many at a time as allowed, and
 * records every change in the run's {@link RunState}. Started again on the same run, it picks up where the last
 * orchestrator stopped: done steps are not run again, steps still running are waited for, failed steps are
 * retried.
 *
 * <p>A failed attempt of a step with {@code retries} left is started again as a new attempt after its back-off.
 * A step's final failure stops the run ({@code on_failure: stop}: running steps finish, nothing new starts) or,
 * under {@code continue}, marks the steps that depend on it skipped while the others run on.
 */
public final class Orchestrator {
    private static final Logger LOG = LoggerFactory.getLogger(Orchestrator.class);

    /** What to run for a step, and whether its outputs are complete. */
    public interface StepCommands {
        /**
         * The command that runs {@code step} of {@code spec}; it runs in {@code stepDir}, the folder of this attempt.
         * Called when the step's producers are all done, so it may read their results.
         */
        List<String> command(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir)
                throws IOException, CloisterException;

        /**
         * Whether the attempt in {@code stepDir} produced all the step's outputs, whole; a step is done only then.
         */
        boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir)
                throws IOException, CloisterException;
    }

    /** Told about every change of the run's state (for progress views). */
    public interface Listener {
        void changed(RunState state);
    }

    private final StepExecutor executor;
    private final StepCommands commands;
    private final int maxParallel;
    private final Duration poll;
    private final Clock clock;

    public Orchestrator(StepExecutor executor, StepCommands commands, int maxParallel, Duration poll, Clock clock) {
        if (maxParallel < 1) {
            throw new IllegalArgumentException("maxParallel must be at least 1");
        }
        this.executor = executor;
        this.commands = commands;
        this.maxParallel = maxParallel;
        this.poll = poll;
        this.clock = clock;
    }

    /** Creates a run folder under {@code runsRoot} holding the spec and a fresh state, and returns its id. */
    public static String create(PipelineSpec spec, Path runsRoot, String executorName) throws IOException {
        String runId = spec.name() + "-" + UUID.randomUUID().toString().substring(0, 8);
        Path dir = Files.createDirectories(runsRoot.resolve(runId));
        dev.cloister.core.AtomicFiles.writeBytes(dir.resolve("pipeline.yaml"), false, spec.toBytes());
        Map<String, RunState.Step> steps = new LinkedHashMap<>();
        spec.steps().forEach(s -> steps.put(s.name(), RunState.Step.pending()));
        new RunState(runId, spec.name(), executorName, steps).save(dir);
        return runId;
    }

    /** The spec a run was created with. */
    public static PipelineSpec spec(Path runDir) throws IOException, CloisterException {
        return PipelineSpec.parse(Files.readAllBytes(runDir.resolve("pipeline.yaml")), runDir.resolve("pipeline.yaml").toString());
    }

    /**
     * Runs (or resumes) the run in {@code runDir} until every step is done or nothing more can run.
     *
     * @return the final state; every step DONE means success
     */
    public RunState run(Path runDir, Listener listener) throws IOException, CloisterException, InterruptedException {
        // Steps run in their own folders: every path handed to them must not depend on a working directory.
        runDir = runDir.toAbsolutePath().normalize();
        PipelineSpec spec = spec(runDir);
        RunState state = RunState.load(runDir);
        if (!state.executor().equals(executor.name())) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "run " + state.runId() + " was started with the "
                    + state.executor() + " executor; resume it with the same one");
        }
        // Started again by a person: a cancel of the earlier run no longer holds.
        Files.deleteIfExists(runDir.resolve(CANCELLED));
        // A resumed run retries what failed last time, what was skipped because of it and what waited for a retry.
        for (var e : state.steps().entrySet()) {
            RunState.Step s = e.getValue();
            if (s.phase() == RunState.Phase.FAILED || s.phase() == RunState.Phase.SKIPPED
                    || (s.phase() == RunState.Phase.PENDING && s.retryAt() != null)) {
                state = state.with(e.getKey(), s.retry());
            }
        }
        state.save(runDir);
        listener.changed(state);
        Map<String, Set<String>> deps = spec.dependencies();
        while (true) {
            boolean changed = false;
            // 1. Collect steps that finished; a failed one with retries left waits for its back-off.
            for (var e : state.steps().entrySet()) {
                RunState.Step s = e.getValue();
                if (s.phase() != RunState.Phase.RUNNING) {
                    continue;
                }
                RunState.Step next = check(spec, state.runId(), runDir, e.getKey(), s);
                PipelineSpec.Step step = spec.step(e.getKey());
                if (next.phase() == RunState.Phase.FAILED && next.retried() < step.retries()
                        && !Files.exists(runDir.resolve(CANCELLED))) {
                    Duration wait = PipelineSpec.backoffOf(step, next.retried() + 1);
                    LOG.debug("step {} failed ({}), retrying in {}", e.getKey(), next.reason(), wait);
                    next = next.retryAfter(clock.instant().plus(wait));
                }
                if (next != s) {
                    state = state.with(e.getKey(), next);
                    changed = true;
                }
            }
            // 2. Under on_failure: continue, what depends on a failed step will never run: say so now.
            RunState skipped = skipDependants(spec, state, deps);
            if (skipped != state) {
                state = skipped;
                changed = true;
            }
            // 3. Start steps whose producers are done, unless a failed step stops the run (then only drain).
            boolean stopped = Files.exists(runDir.resolve(CANCELLED))
                    || state.steps().entrySet().stream().anyMatch(e -> e.getValue().phase() == RunState.Phase.FAILED
                            && !spec.continuesAfter(spec.step(e.getKey())));
            int running = state.counts().get(RunState.Phase.RUNNING);
            java.time.Instant now = clock.instant();
            boolean waiting = false;
            if (!stopped) {
                List<PipelineSpec.Step> ready = new ArrayList<>();
                for (PipelineSpec.Step step : spec.steps()) {
                    RunState.Step s = state.steps().get(step.name());
                    if (s.phase() != RunState.Phase.PENDING || !allDone(state, deps.get(step.name()))) {
                        continue;
                    }
                    if (s.retryAt() != null && now.isBefore(s.retryAt())) {
                        waiting = true;
                        continue;
                    }
                    if (running + ready.size() < maxParallel) {
                        ready.add(step);
                    }
                }
                if (!ready.isEmpty()) {
                    // Steps that become ready together (a fan-out) are submitted together: one job array on SLURM.
                    List<StepExecutor.StepLaunch> launches = new ArrayList<>();
                    for (PipelineSpec.Step step : ready) {
                        RunState.Step s = state.steps().get(step.name());
                        Path dir = attemptDir(runDir, step.name(), s.attempt() + 1);
                        List<String> command;
                        try {
                            command = commands.command(spec, step, state.runId(), dir);
                        } catch (CloisterException e) {
                            throw naming(List.of(step.name()), e);
                        }
                        launches.add(new StepExecutor.StepLaunch(state.runId(), step.name(), command, dir,
                                step.resources(), PipelineSpec.timeLimitOf(step)));
                    }
                    List<String> handles;
                    try {
                        handles = executor.submitAll(launches);
                    } catch (CloisterException e) {
                        throw naming(ready.stream().map(PipelineSpec.Step::name).toList(), e);
                    }
                    for (int i = 0; i < ready.size(); i++) {
                        String name = ready.get(i).name();
                        LOG.debug("started step {} as {} {}", name, executor.name(), handles.get(i));
                        state = state.with(name, state.steps().get(name).running(handles.get(i), clock.instant()));
                    }
                    running += ready.size();
                    changed = true;
                }
            }
            if (changed) {
                state.save(runDir);
                listener.changed(state);
            }
            if (running == 0 && !waiting) {
                return state;
            }
            Thread.sleep(poll.toMillis());
        }
    }

    /**
     * The state with every pending step that depends (directly or not) on a failed step whose failure lets the
     * run continue marked skipped, naming that step; the same state if there is none.
     */
    static RunState skipDependants(PipelineSpec spec, RunState state, Map<String, Set<String>> deps) {
        boolean more = true;
        while (more) {
            more = false;
            for (PipelineSpec.Step step : spec.steps()) {
                RunState.Step s = state.steps().get(step.name());
                if (s.phase() != RunState.Phase.PENDING) {
                    continue;
                }
                for (String p : deps.get(step.name()).stream().sorted().toList()) {
                    RunState.Step ps = state.steps().get(p);
                    String why = null;
                    if (ps.phase() == RunState.Phase.FAILED && spec.continuesAfter(spec.step(p))) {
                        why = "not run: step " + p + ", which it depends on, failed";
                    } else if (ps.phase() == RunState.Phase.SKIPPED) {
                        why = ps.reason(); // the same root cause, one step further down
                    }
                    if (why != null) {
                        state = state.with(step.name(), s.skipped(why));
                        more = true;
                        break;
                    }
                }
            }
        }
        return state;
    }

    /**
     * The error with the step (or steps, for a fan-out submitted as one) it concerns in front, as every pipeline
     * error names its step; the kind, and so the exit code, stays. A message that already starts by naming the
     * step is kept as it is.
     */
    static CloisterException naming(List<String> steps, CloisterException e) {
        String who = (steps.size() == 1 ? "step " : "steps ") + String.join(", ", steps);
        if (e.getMessage().startsWith(who + " ") || e.getMessage().startsWith(who + ":")) {
            return e;
        }
        return new CloisterException(e.kind(), who + ": " + e.getMessage(), e);
    }

    private static boolean allDone(RunState state, Set<String> producers) {
        for (String p : producers) {
            if (state.steps().get(p).phase() != RunState.Phase.DONE) {
                return false;
            }
        }
        return true;
    }

    static Path attemptDir(Path runDir, String step, int attempt) {
        return runDir.resolve("steps").resolve(step).resolve("attempt-" + attempt);
    }

    private RunState.Step check(PipelineSpec spec, String runId, Path runDir, String name, RunState.Step s)
            throws IOException, CloisterException {
        Path dir = attemptDir(runDir, name, s.attempt());
        Integer exit = StepExecutor.recordedExit(dir.resolve("exit"));
        if (exit == null) {
            if (executor.alive(s.handle())) {
                return s;
            }
            // The process may have written its status just after we looked: look once more.
            exit = StepExecutor.recordedExit(dir.resolve("exit"));
            if (exit == null) {
                String lost = executor.lostReason(s.handle());
                Duration limit = PipelineSpec.timeLimitOf(spec.step(name));
                if (limit != null && lost.contains(" ended TIMEOUT")) {
                    return s.failed(null, "step " + name + " timed out after " + PipelineSpec.format(limit)
                            + " (time_limit): " + lost, clock.instant());
                }
                return s.failed(null, "step " + name + ": " + lost, clock.instant());
            }
        }
        Duration limit = PipelineSpec.timeLimitOf(spec.step(name));
        if (limit != null && StepExecutor.timeoutStatus(exit) && s.startedAt() != null
                && Duration.between(s.startedAt(), clock.instant()).compareTo(limit) >= 0) {
            // timeout(1)'s status after its signal, once the attempt has run for its limit: the limit stopped it.
            return s.failed(exit, "step " + name + " timed out after " + PipelineSpec.format(limit)
                    + " (time_limit; its processes were killed; log: " + dir.resolve("log") + ")", clock.instant());
        }
        if (exit != 0) {
            String why = exit > 128 ? "killed by signal " + (exit - 128) : "exited with status " + exit;
            String last = failureLine(dir.resolve("log"));
            return s.failed(exit, "step " + name + " " + why + (last.isEmpty() ? "" : ": " + last) + " (log: "
                    + dir.resolve("log") + ")", clock.instant());
        }
        if (!commands.outputsComplete(spec, spec.step(name), runId, dir)) {
            return s.failed(0, "step " + name + " exited 0 but did not produce all its outputs", clock.instant());
        }
        return s.done(0, clock.instant());
    }

    /**
     * A step's own account of why it failed: the last log line starting {@code step failed: } (what
     * {@link StepMain} prints), without that prefix, at most 300 characters; empty when there is none.
     */
    static String failureLine(Path log) {
        String prefix = "step failed: ";
        try {
            List<String> lines = Files.readAllLines(log, java.nio.charset.StandardCharsets.UTF_8);
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i).strip();
                if (l.startsWith(prefix)) {
                    l = l.substring(prefix.length());
                    return l.length() > 300 ? l.substring(0, 300) + "..." : l;
                }
            }
        } catch (IOException e) {
            // No log (or an unreadable one): the exit status alone must do.
        }
        return "";
    }

    /**
     * Written by {@link #cancel} before it stops anything: an orchestrator still driving the run then starts
     * nothing more, not even an automatic retry of the steps the cancel killed. {@code run} (resume) removes it.
     */
    static final String CANCELLED = "cancelled";

    /** Cancels every running step of a run (best effort) and marks them failed. */
    public RunState cancel(Path runDir) throws IOException, CloisterException {
        RunState state = RunState.load(runDir);
        dev.cloister.core.AtomicFiles.writeBytes(runDir.resolve(CANCELLED), true,
                ("cancelled at " + clock.instant() + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (var e : state.steps().entrySet()) {
            if (e.getValue().phase() == RunState.Phase.RUNNING) {
                executor.cancel(e.getValue().handle());
                state = state.with(e.getKey(), e.getValue().failed(null, "cancelled", clock.instant()));
            }
        }
        state.save(runDir);
        return state;
    }
}
