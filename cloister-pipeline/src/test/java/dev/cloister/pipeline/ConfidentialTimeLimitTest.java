package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.bundle.Bundle;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A time limit on a real confidential step (broker, simulated enclave in bubblewrap, the step worker JVM): the
 * local executor's limit takes down the worker, the launcher and the sandboxed program, not only the wrapper.
 */
class ConfidentialTimeLimitTest {
    @TempDir Path tmp;

    TestBroker broker;
    Repository repo;

    @BeforeEach
    void start() throws Exception {
        broker = new TestBroker(Files.createDirectories(tmp.resolve("broker")));
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    /** Processes whose command line mentions {@code marker}: the step's worker, launcher, sandbox and program. */
    static List<ProcessHandle> mentioning(String marker) {
        return ProcessHandle.allProcesses().filter(h -> h.isAlive() && h.info().commandLine()
                .map(c -> c.contains(marker)).orElse(false)).toList();
    }

    @Test
    void aStepOverItsLimitIsKilledWithItsEnclaveAndProgramAndReportedAsTimedOut() throws Exception {
        // The sandbox for tag.c is built by ConfidentialPipelineTest's helper; reuse it through an instance.
        ConfidentialPipelineTest helper = new ConfidentialPipelineTest();
        helper.tmp = tmp;
        Bundle slow = helper.tagBundle("slow");
        String sleepMs = "987654"; // about 16 minutes; also marks the program's command line
        String yaml = """
                name: limited
                broker: %s
                repository: %s
                steps:
                  - name: a
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: seed, file: seed.txt, path: /inputs/seed}]
                    outputs: [{name: x, path: /outputs/x}]
                    args: [a, "%s", /outputs/x]
                    time_limit: 6s
                """.formatted(broker.url, repo.location(), slow.dir(), ConfidentialPipelineTest.policy(slow), sleepMs);
        Files.writeString(tmp.resolve("seed.txt"), "seed\n");
        PipelineSpec spec = PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "limited.yaml");
        String runId = ConfidentialRun.create(spec, tmp, tmp.resolve("runs"), "local", new ConfidentialRun.Setup(repo,
                repo.location(), broker.ownerBroker(), broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement(),
                tmp.resolve("keys")));
        Path runDir = tmp.resolve("runs").resolve(runId);
        Orchestrator o = new Orchestrator(new LocalExecutor(), new ConfidentialSteps(runDir, repo, StepMain::command,
                broker.ownerBroker(), tmp.resolve("keys")), 2, Duration.ofMillis(100), Clock.systemUTC());
        // Seen while it runs: the program itself, inside its sandbox (so the limit had it to kill).
        java.util.concurrent.atomic.AtomicBoolean programSeen = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicBoolean over = new java.util.concurrent.atomic.AtomicBoolean();
        Thread poller = new Thread(() -> {
            while (!over.get() && !programSeen.get()) {
                programSeen.set(mentioning(sleepMs).stream().anyMatch(h -> h.info().command()
                        .map(c -> c.endsWith("/tag") || c.equals("tag")).orElse(false)
                        || h.info().commandLine().orElse("").contains("tag a " + sleepMs)));
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        poller.start();
        RunState end;
        try {
            end = o.run(runDir, s -> {});
        } finally {
            over.set(true);
            poller.join();
        }
        assertThat(programSeen.get()).as("the program ran before the limit").isTrue();
        RunState.Step a = end.steps().get("a");
        assertThat(a.phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(a.reason()).startsWith("step a timed out after 6s (time_limit; its processes were killed; log: ");
        assertThat(a.exitCode()).isIn(124, 137);
        // Nothing of the step is left: not the worker, the launcher, the sandbox nor the program.
        List<ProcessHandle> left = mentioning(runDir.toString());
        for (int i = 0; i < 100 && !(left = mentioning(runDir.toString())).isEmpty(); i++) {
            Thread.sleep(100);
        }
        assertThat(left).as("processes of the step still alive").isEmpty();
        assertThat(mentioning(sleepMs)).as("the program").isEmpty();
    }
}
