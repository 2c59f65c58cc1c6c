package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The orchestrator with real processes: each step is a shell command that reads its producers' files and writes
 * its own, so the DAG order, parallelism, resumption and failure handling are observed, not assumed.
 */
class OrchestratorTest {
    @TempDir Path tmp;

    /** Steps run `sh -c` scripts over a shared data folder: step X's output O is data/X/O. */
    static class ShellSteps implements Orchestrator.StepCommands {
        final Path data;
        final String extra;

        ShellSteps(Path data, String extra) {
            this.data = data;
            this.extra = extra;
        }

        @Override
        public List<String> command(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir) {
            StringBuilder s = new StringBuilder("set -e; mkdir -p " + data.resolve(step.name()) + "; ");
            s.append("echo run >> ").append(data.resolve(step.name() + ".runs")).append("; ");
            s.append("date +%s.%N > ").append(data.resolve(step.name() + ".start")).append("; ");
            s.append(extra.replace("STEP", step.name())).append("; ");
            StringBuilder cat = new StringBuilder("cat /dev/null");
            for (PipelineSpec.Input in : step.inputs()) {
                if (in.from() == null) {
                    continue;
                }
                cat.append(' ').append(data.resolve(in.producerStep()).resolve(in.producerOutput()));
            }
            for (var out : step.outputs()) {
                s.append("{ ").append(cat).append("; echo ").append(step.name()).append('.').append(out.name())
                        .append("; } > ").append(data.resolve(step.name()).resolve(out.name())).append("; ");
            }
            s.append("date +%s.%N > ").append(data.resolve(step.name() + ".end"));
            return List.of("/bin/sh", "-c", s.toString());
        }

        @Override
        public boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir) {
            return step.outputs().stream().allMatch(o -> Files.isRegularFile(data.resolve(step.name()).resolve(o.name())));
        }

        double time(String step, String which) throws IOException {
            return Double.parseDouble(Files.readString(data.resolve(step + "." + which)).strip());
        }

        long runs(String step) throws IOException {
            Path f = data.resolve(step + ".runs");
            return Files.exists(f) ? Files.readAllLines(f).size() : 0;
        }
    }

    PipelineSpec diamond() throws Exception {
        return PipelineSpec.parse(PipelineSpecTest.DIAMOND.getBytes(StandardCharsets.UTF_8), "diamond.yaml");
    }

    static RunState runToEnd(Orchestrator o, Path runDir) throws Exception {
        return o.run(runDir, s -> {});
    }

    /**
     * A step command under which a and b wait for each other (up to 30 s) instead of sleeping and hoping: if they
     * run side by side both start before either ends, however slow the machine; if they do not, the test fails.
     */
    static String aAndBMeet(Path data) {
        return "case STEP in a|b) touch " + data.resolve("STEP.up") + "; for i in $(seq 300); do [ -e "
                + data.resolve("a.up") + " ] && [ -e " + data.resolve("b.up") + " ] && break; sleep 0.1; done;; "
                + "esac";
    }

    @Test
    void runsADiamondWithFanOutInParallelAndFanIn() throws Exception {
        ShellSteps steps = new ShellSteps(tmp.resolve("data"), aAndBMeet(tmp.resolve("data")));
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        Orchestrator o = new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(50), Clock.systemUTC());
        RunState end = runToEnd(o, tmp.resolve("runs").resolve(runId));
        assertThat(end.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        // a and b overlap in time; join starts after both ended.
        assertThat(steps.time("a", "start")).isLessThan(steps.time("b", "end"));
        assertThat(steps.time("b", "start")).isLessThan(steps.time("a", "end"));
        assertThat(steps.time("join", "start")).isGreaterThanOrEqualTo(Math.max(steps.time("a", "end"), steps.time("b", "end")));
        assertThat(Files.readString(tmp.resolve("data/join/report"))).isEqualTo("split.left\na.out\nsplit.right\nb.out\njoin.report\n");
    }

    @Test
    void maxParallelOneRunsStepsOneAtATime() throws Exception {
        ShellSteps steps = new ShellSteps(tmp.resolve("data"), "sleep 0.3");
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        Orchestrator o = new Orchestrator(new LocalExecutor(), steps, 1, Duration.ofMillis(20), Clock.systemUTC());
        runToEnd(o, tmp.resolve("runs").resolve(runId));
        boolean aFirst = steps.time("a", "start") < steps.time("b", "start");
        String first = aFirst ? "a" : "b";
        String second = aFirst ? "b" : "a";
        assertThat(steps.time(second, "start")).isGreaterThanOrEqualTo(steps.time(first, "end"));
    }

    @Test
    void aKilledOrchestratorResumesWithoutRerunningDoneSteps() throws Exception {
        ShellSteps steps = new ShellSteps(tmp.resolve("data"), "sleep 0.5");
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        Path runDir = tmp.resolve("runs").resolve(runId);
        Orchestrator o = new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(20), Clock.systemUTC());
        // Stop the first orchestrator as soon as a and b are running (split done): its steps keep running.
        Thread t = new Thread(() -> {
            try {
                o.run(runDir, s -> {
                    if (s.steps().get("a").phase() == RunState.Phase.RUNNING) {
                        Thread.currentThread().interrupt();
                    }
                });
            } catch (InterruptedException expected) {
                // the orchestrator "died" here
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        t.start();
        t.join(30_000);
        RunState mid = RunState.load(runDir);
        assertThat(mid.steps().get("split").phase()).isEqualTo(RunState.Phase.DONE);
        assertThat(mid.steps().get("a").phase()).isEqualTo(RunState.Phase.RUNNING);
        RunState end = runToEnd(new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(20), Clock.systemUTC()), runDir);
        assertThat(end.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        for (String s : List.of("split", "a", "b", "join")) {
            assertThat(steps.runs(s)).as(s + " ran once").isEqualTo(1);
        }
    }

    @Test
    void aKilledStepFailsWithAClearReasonAndRetrySucceeds() throws Exception {
        Path flag = tmp.resolve("second-time");
        // The first attempt of b sleeps (and is killed); later attempts go straight through.
        ShellSteps steps = new ShellSteps(tmp.resolve("data"),
                "if [ STEP = b ] && [ ! -e " + flag + " ]; then touch " + flag + "; echo $$ > " + tmp.resolve("b.pid.tmp")
                        + " && mv " + tmp.resolve("b.pid.tmp") + " " + tmp.resolve("b.pid") + "; sleep 30; fi");
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        Path runDir = tmp.resolve("runs").resolve(runId);
        Orchestrator o = new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(20), Clock.systemUTC());
        Thread killer = new Thread(() -> {
            try {
                Path pid = tmp.resolve("b.pid");
                for (int i = 0; i < 300 && !Files.exists(pid); i++) {
                    Thread.sleep(50);
                }
                Thread.sleep(100);
                // Kill the step's program, as an OOM killer or an admin would.
                String stepPid = Files.readString(pid).strip();
                new ProcessBuilder("pkill", "-KILL", "-P", stepPid).start().waitFor(10, TimeUnit.SECONDS);
                new ProcessBuilder("kill", "-KILL", stepPid).start().waitFor(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        killer.start();
        RunState first = runToEnd(o, runDir);
        killer.join();
        assertThat(first.steps().get("b").phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(first.steps().get("b").reason()).isEqualTo("step b killed by signal 9 (log: "
                + Orchestrator.attemptDir(runDir, "b", 1).resolve("log") + ")");
        assertThat(first.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
        RunState second = runToEnd(o, runDir);
        assertThat(second.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        assertThat(second.steps().get("b").attempt()).isEqualTo(2);
        assertThat(steps.runs("a")).isEqualTo(1);
    }

    @Test
    void aStepWithoutItsOutputsIsNotDone() throws Exception {
        ShellSteps steps = new ShellSteps(tmp.resolve("data"), "true") {
            @Override
            public boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir) {
                return !step.name().equals("a");
            }
        };
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        RunState end = runToEnd(new Orchestrator(new LocalExecutor(), steps, 4, Duration.ofMillis(20), Clock.systemUTC()),
                tmp.resolve("runs").resolve(runId));
        assertThat(end.steps().get("a").reason()).contains("did not produce all its outputs");
        assertThat(end.steps().get("join").phase()).isEqualTo(RunState.Phase.PENDING);
    }

    @Test
    void anErrorPreparingAStepNamesTheStep() throws Exception {
        Orchestrator.StepCommands failing = new Orchestrator.StepCommands() {
            @Override
            public List<String> command(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir)
                    throws CloisterException {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "the repository is unreachable");
            }

            @Override
            public boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir) {
                return false;
            }
        };
        String runId = Orchestrator.create(diamond(), tmp.resolve("runs"), "local");
        Orchestrator o = new Orchestrator(new LocalExecutor(), failing, 4, Duration.ofMillis(20), Clock.systemUTC());
        assertThatThrownBy(() -> runToEnd(o, tmp.resolve("runs").resolve(runId)))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT))
                .hasMessage("step split: the repository is unreachable");
        // a message that already names its step is left alone
        CloisterException named = new CloisterException(CloisterException.Kind.BAD_INPUT, "step b reads a.out, but");
        assertThat(Orchestrator.naming(List.of("b"), named)).isSameAs(named);
    }

    @Test
    void runsOnARealSlurmCluster() throws Exception {
        Path root = Path.of(System.getProperty("cloister.repo.root", "..")).toAbsolutePath();
        Process p = new ProcessBuilder(root.resolve("scripts/slurm-local").toString(), "start").redirectErrorStream(false).start();
        String conf = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(60, TimeUnit.SECONDS);
        assumeTrue(p.exitValue() != 4 || !err.contains("not found"), "SLURM is not installed: " + err);
        assertThat(p.exitValue()).as(err).isZero();
        ShellSteps steps = new ShellSteps(tmp.resolve("data"), aAndBMeet(tmp.resolve("data")));
        // This node has 2 cores: a and b ask for one each so that they can run side by side.
        PipelineSpec oneCore = PipelineSpec.parse(PipelineSpecTest.DIAMOND.replace("cores: 2", "cores: 1")
                .getBytes(StandardCharsets.UTF_8), "diamond.yaml");
        String runId = Orchestrator.create(oneCore, tmp.resolve("runs"), "slurm");
        RunState end = runToEnd(new Orchestrator(new SlurmExecutor(null, Path.of(conf)), steps, 4, Duration.ofMillis(200), Clock.systemUTC()),
                tmp.resolve("runs").resolve(runId));
        assertThat(end.steps().values()).allMatch(s -> s.phase() == RunState.Phase.DONE);
        assertThat(steps.time("a", "start")).isLessThan(steps.time("b", "end"));
        assertThat(steps.time("b", "start")).isLessThan(steps.time("a", "end"));
        assertThat(Files.readString(tmp.resolve("data/join/report"))).isEqualTo("split.left\na.out\nsplit.right\nb.out\njoin.report\n");
    }
}
