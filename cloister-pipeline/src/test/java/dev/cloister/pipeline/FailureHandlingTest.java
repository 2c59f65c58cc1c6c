package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Retries with back-off, {@code on_failure: continue} and time limits, with real processes on the local executor
 * (the shell steps of {@link OrchestratorTest}): what the run records is what the processes did.
 */
class FailureHandlingTest {
    @TempDir Path tmp;

    /** The diamond, with a step {@code solo} that needs none of it and a step {@code after} that needs join. */
    static final String WIDE = PipelineSpecTest.DIAMOND + """
              - name: solo
                bundle: {path: b/solo, policy: "allow-simulated"}
                inputs: [{name: raw, file: data/raw.txt, path: /inputs/raw.txt}]
                outputs: [{name: out, path: /outputs/out.txt}]
              - name: after
                bundle: {path: b/after, policy: "allow-simulated"}
                inputs: [{name: in, from: join.report, path: /inputs/in.txt}]
                outputs: [{name: out, path: /outputs/out.txt}]
            """;

    Path runDir(String yaml) throws Exception {
        PipelineSpec spec = PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "p.yaml");
        return tmp.resolve("runs").resolve(Orchestrator.create(spec, tmp.resolve("runs"), "local"));
    }

    Orchestrator local(OrchestratorTest.ShellSteps steps) {
        return new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(20), Clock.systemUTC());
    }

    /**
     * One step at a time, in the spec's order among ready steps: split, a, b, then solo. So solo starts only after
     * b has failed, and runs only if that failure did not stop the run.
     */
    Orchestrator oneAtATime(OrchestratorTest.ShellSteps steps) {
        return new Orchestrator(new LocalExecutor(), steps, 1, Duration.ofMillis(20), Clock.systemUTC());
    }

    /** A step script part: step b fails (status 3) the first {@code n} times it runs, then works. */
    String bFailsTimes(int n) {
        return "if [ STEP = b ] && [ $(wc -l < " + tmp.resolve("data/b.runs") + ") -le " + n + " ]; then date +%s.%N >> "
                + tmp.resolve("b.failed") + "; echo 'step failed: flaky disk' >&2; exit 3; fi";
    }

    @Test
    void aFailedStepIsRetriedAsANewAttemptAfterItsBackOff() throws Exception {
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"), bFailsTimes(1));
        Path run = runDir(PipelineSpecTest.DIAMOND.replace("  - name: b\n", "  - name: b\n    retries: 2\n"));
        List<RunState> seen = new java.util.ArrayList<>();
        RunState end = local(steps).run(run, seen::add);
        assertThat(end.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        RunState.Step b = end.steps().get("b");
        assertThat(b.attempt()).isEqualTo(2);
        assertThat(b.retried()).isEqualTo(1);
        assertThat(Files.readString(Orchestrator.attemptDir(run, "b", 1).resolve("exit")).strip()).isEqualTo("3");
        assertThat(Files.readString(Orchestrator.attemptDir(run, "b", 2).resolve("exit")).strip()).isEqualTo("0");
        assertThat(steps.runs("a")).isEqualTo(1);
        assertThat(steps.runs("b")).isEqualTo(2);
        // While it waited, the state said why, and when it would start again: at least the default 1 s later.
        RunState waiting = seen.stream().filter(s -> s.steps().get("b").retryAt() != null).findFirst().orElseThrow();
        RunState.Step w = waiting.steps().get("b");
        assertThat(w.phase()).isEqualTo(RunState.Phase.PENDING);
        assertThat(w.reason()).startsWith("retry 1 after: step b exited with status 3: flaky disk");
        assertThat(Duration.between(w.endedAt(), w.retryAt())).isGreaterThanOrEqualTo(Duration.ofSeconds(1));
        double failedAt = Double.parseDouble(Files.readString(tmp.resolve("b.failed")).strip());
        assertThat(steps.time("b", "start") - failedAt).isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void aStepOutOfRetriesFailsAndStopsTheRunByDefault() throws Exception {
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"), bFailsTimes(99));
        Path run = runDir(WIDE.replace("  - name: b\n", "  - name: b\n    retries: 1\n"));
        RunState end = local(steps).run(run, s -> {});
        RunState.Step b = end.steps().get("b");
        assertThat(b.phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(b.attempt()).isEqualTo(2);
        assertThat(b.reason()).startsWith("step b exited with status 3: flaky disk");
        assertThat(end.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
        assertThat(end.steps().get("after").phase()).isEqualTo(RunState.Phase.PENDING);
        assertThat(steps.runs("b")).isEqualTo(2);
    }

    @Test
    void onFailureContinueFinishesIndependentStepsAndSkipsDependants() throws Exception {
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"), bFailsTimes(1));
        Path run = runDir(WIDE.replace("name: diamond\n", "name: diamond\non_failure: continue\n"));
        RunState end = oneAtATime(steps).run(run, s -> {});
        assertThat(steps.time("solo", "start")).isGreaterThan(Double.parseDouble(Files.readString(tmp.resolve("b.failed")).strip()));
        assertThat(end.steps().get("b").phase()).isEqualTo(RunState.Phase.FAILED);
        for (String s : List.of("split", "a", "solo")) {
            assertThat(end.steps().get(s).phase()).as(s).isEqualTo(RunState.Phase.DONE);
        }
        for (String s : List.of("join", "after")) {
            assertThat(end.steps().get(s).phase()).as(s).isEqualTo(RunState.Phase.SKIPPED);
            assertThat(end.steps().get(s).reason()).as(s).isEqualTo("not run: step b, which it depends on, failed");
            assertThat(steps.runs(s)).as(s + " never ran").isZero();
        }
        assertThat(RunState.load(run)).isEqualTo(end);
        // resume runs b again and what was skipped, nothing that is done
        RunState resumed = local(steps).run(run, s -> {});
        assertThat(resumed.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        assertThat(steps.runs("a")).isEqualTo(1);
        assertThat(steps.runs("solo")).isEqualTo(1);
        assertThat(steps.runs("after")).isEqualTo(1);
    }

    @Test
    void aStepsOwnOnFailureStopOverridesThePipelines() throws Exception {
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"), bFailsTimes(1));
        Path run = runDir(WIDE.replace("name: diamond\n", "name: diamond\non_failure: continue\n")
                .replace("  - name: b\n", "  - name: b\n    on_failure: stop\n"));
        RunState end = oneAtATime(steps).run(run, s -> {});
        assertThat(end.steps().get("b").phase()).isEqualTo(RunState.Phase.FAILED);
        // nothing started after b failed: not solo, which needs nothing of b; join and after are not marked skipped
        assertThat(end.steps().get("solo").phase()).isEqualTo(RunState.Phase.PENDING);
        assertThat(steps.runs("solo")).isZero();
        assertThat(end.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
        assertThat(end.steps().get("after").phase()).isEqualTo(RunState.Phase.PENDING);
    }

    @Test
    void aStepOverItsTimeLimitIsKilledWithItsChildrenAndResumable() throws Exception {
        Path flag = tmp.resolve("a-slow-once");
        Path childPid = tmp.resolve("child.pid");
        // a's first attempt starts a child that would sleep for a minute, and waits for it.
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"),
                "if [ STEP = a ] && [ ! -e " + flag + " ]; then touch " + flag + "; sleep 60 & echo $! > " + childPid
                        + "; wait; fi");
        Path run = runDir(PipelineSpecTest.DIAMOND.replace("  - name: a\n", "  - name: a\n    time_limit: 1s\n"));
        RunState end = local(steps).run(run, s -> {});
        RunState.Step a = end.steps().get("a");
        assertThat(a.phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(a.exitCode()).isEqualTo(124);
        assertThat(a.reason()).isEqualTo("step a timed out after 1s (time_limit; its processes were killed; log: "
                + Orchestrator.attemptDir(run, "a", 1).resolve("log") + ")");
        long child = Long.parseLong(Files.readString(childPid).strip());
        for (int i = 0; i < 100 && ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false); i++) {
            Thread.sleep(50); // the KILL follows the TERM by a few seconds at most; reaping may take a moment
        }
        assertThat(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false)).as("the step's child").isFalse();
        assertThat(end.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
        RunState resumed = local(steps).run(run, s -> {});
        assertThat(resumed.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        assertThat(resumed.steps().get("a").attempt()).isEqualTo(2);
    }

    @Test
    void aCancelledStepIsNotRetriedByTheOrchestratorStillDrivingTheRun() throws Exception {
        Path up = tmp.resolve("b.up");
        Path childPid = tmp.resolve("child.pid");
        // b has a time limit, so it runs under timeout(1) (its own process group), and a child of its own
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"),
                "if [ STEP = b ]; then sleep 30 & echo $! > " + childPid + "; touch " + up + "; wait; fi");
        Path run = runDir(PipelineSpecTest.DIAMOND.replace("  - name: b\n", "  - name: b\n    retries: 3\n    time_limit: 1m\n"));
        Orchestrator o = local(steps);
        Thread canceller = new Thread(() -> {
            try {
                for (int i = 0; i < 300 && !Files.exists(up); i++) {
                    Thread.sleep(50);
                }
                o.cancel(run); // as 'cloister pipeline cancel' does, from another process
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        canceller.start();
        RunState end = o.run(run, s -> {});
        canceller.join();
        assertThat(end.steps().get("b").phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(end.steps().get("b").attempt()).isEqualTo(1);
        assertThat(steps.runs("b")).isEqualTo(1);
        assertThat(end.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
        long child = Long.parseLong(Files.readString(childPid).strip());
        for (int i = 0; i < 100 && ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false); i++) {
            Thread.sleep(50);
        }
        assertThat(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false)).as("b's child").isFalse();
        // resume lifts the cancel
        Files.delete(up);
        RunState resumed = local(new OrchestratorTest.ShellSteps(tmp.resolve("data"), "true")).run(run, s -> {});
        assertThat(resumed.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        assertThat(run.resolve(Orchestrator.CANCELLED)).doesNotExist();
    }

    @Test
    void slurmGetsTheTimeLimitInWholeMinutesRoundedUp() {
        SlurmExecutor slurm = new SlurmExecutor("debug", null);
        StepExecutor.StepLaunch l = new StepExecutor.StepLaunch("r", "s", List.of("true"), tmp.resolve("s"),
                PipelineSpec.Resources.DEFAULT, Duration.ofSeconds(90));
        List<String> args = slurm.sbatchArguments(l);
        assertThat(args).contains("--time=2", "--partition=debug", "--cpus-per-task=1", "--mem=512M");
        assertThat(args.get(args.size() - 1)).startsWith("--wrap=").doesNotContain("timeout");
        assertThat(SlurmExecutor.minutes(Duration.ofSeconds(1))).isEqualTo(1);
        assertThat(SlurmExecutor.minutes(Duration.ofMinutes(120))).isEqualTo(120);
        assertThat(slurm.sbatchArguments(new StepExecutor.StepLaunch("r", "s", List.of("true"), tmp.resolve("s"),
                PipelineSpec.Resources.DEFAULT, null))).noneMatch(a -> a.startsWith("--time"));
    }

    @Test
    void onARealSlurmClusterStepsGetTheirTimeLimitAndArrayTasksEnforceTheirOwn() throws Exception {
        Path root = Path.of(System.getProperty("cloister.repo.root", "..")).toAbsolutePath();
        Process p = new ProcessBuilder(root.resolve("scripts/slurm-local").toString(), "start").start();
        String conf = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS);
        org.junit.jupiter.api.Assumptions.assumeTrue(p.exitValue() != 4 || !err.contains("not found"),
                "SLURM is not installed: " + err);
        assertThat(p.exitValue()).as(err).isZero();
        SlurmExecutor slurm = new SlurmExecutor(null, Path.of(conf));
        // a and b become ready together (one job array); each sleeps past its 2 s limit on its first attempt only
        Path flag = tmp.resolve("slow");
        OrchestratorTest.ShellSteps steps = new OrchestratorTest.ShellSteps(tmp.resolve("data"),
                "case STEP in a|b) if [ ! -e " + flag + "-STEP ]; then touch " + flag + "-STEP; sleep 60; fi;; esac");
        PipelineSpec spec = PipelineSpec.parse(PipelineSpecTest.DIAMOND.replace("cores: 2", "cores: 1")
                .replace("  - name: a\n", "  - name: a\n    time_limit: 2s\n    retries: 1\n")
                .replace("  - name: b\n", "  - name: b\n    time_limit: 90s\n").getBytes(StandardCharsets.UTF_8), "p.yaml");
        Path run = tmp.resolve("runs").resolve(Orchestrator.create(spec, tmp.resolve("runs"), "slurm"));
        Orchestrator o = new Orchestrator(slurm, steps, 4, Duration.ofMillis(200), Clock.systemUTC());
        java.util.concurrent.atomic.AtomicReference<String> bJob = new java.util.concurrent.atomic.AtomicReference<>("");
        Thread watcher = new Thread(() -> {
            // b runs for a minute on its first attempt: once a has been retried and is done, stop b (scancel).
            try {
                for (int i = 0; i < 600; i++) {
                    RunState s = RunState.load(run);
                    if (s.steps().get("a").phase() == RunState.Phase.DONE && s.steps().get("b").handle() != null) {
                        bJob.set(run(conf, "scontrol", "show", "job", s.steps().get("b").handle()));
                        slurm.cancel(s.steps().get("b").handle());
                        return;
                    }
                    Thread.sleep(100);
                }
            } catch (Exception e) {
                bJob.set(e.toString());
            }
        });
        watcher.start();
        RunState end = o.run(run, s -> {});
        watcher.join();
        RunState.Step a = end.steps().get("a");
        assertThat(a.phase()).as(a.reason()).isEqualTo(RunState.Phase.DONE);
        assertThat(a.attempt()).isEqualTo(2);
        // the first attempt ran as an array task and stopped itself at its own 2 s, not the array's 2 minutes
        assertThat(Files.readString(Orchestrator.attemptDir(run, "a", 1).resolve("exit")).strip()).isEqualTo("124");
        assertThat(end.steps().get("b").phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(bJob.get()).contains("TimeLimit=00:02:00"); // b's 90 s, rounded up to whole minutes
    }

    static String run(String conf, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("SLURM_CONF", conf);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        return out;
    }
}
