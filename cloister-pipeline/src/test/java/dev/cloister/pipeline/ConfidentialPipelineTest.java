package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Confidential pipelines end to end with real parts: a key broker over HTTPS, bundles of a C program compiled
 * here, a local repository, and every step a simulated enclave started as its own worker process.
 */
class ConfidentialPipelineTest {
    @TempDir
    Path tmp;

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

    /** Builds a bundle of tag.c; {@code flavour} goes into an extra file, so different flavours measure differently. */
    Bundle tagBundle(String flavour) throws Exception {
        Path app = Files.createDirectories(tmp.resolve("app-" + flavour));
        Path src = app.resolve("tag.c");
        try (var in = getClass().getResourceAsStream("/pipeline/tag.c")) {
            Files.copy(in, src);
        }
        Process cc = new ProcessBuilder("gcc", "-O2", "-o", app.resolve("tag").toString(), src.toString()).inheritIO().start();
        assertThat(cc.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(cc.exitValue()).isZero();
        Files.delete(src);
        Files.writeString(app.resolve("flavour"), flavour);
        return Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "tag"), tmp.resolve("bundle-" + flavour), false).dir());
    }

    static String policy(Bundle b) {
        return "E:" + b.measurement() + " SIM:ALLOW";
    }

    String diamond(Bundle split, Bundle a, Bundle b, Bundle join, String joinPolicy) {
        return """
                name: diamond
                broker: %s
                repository: %s
                steps:
                  - name: split
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: seed, file: seed.txt, path: /inputs/seed}]
                    outputs: [{name: left, path: /outputs/left}, {name: right, path: /outputs/right}]
                    args: [split, "200", /outputs/left, /outputs/right]
                  - name: a
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: l, from: split.left, path: /inputs/l}]
                    outputs: [{name: x, path: /outputs/x}]
                    args: [a, "2500", /outputs/x]
                  - name: b
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: r, from: split.right, path: /inputs/r}]
                    outputs: [{name: y, path: /outputs/y}]
                    args: [b, "2500", /outputs/y]
                  - name: join
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: x, from: a.x, path: /inputs/x}, {name: y, from: b.y, path: /inputs/y}]
                    outputs: [{name: result, path: /outputs/result}]
                    args: [join, "0", /outputs/result]
                """.formatted(broker.url, repo.location(), split.dir(), policy(split), a.dir(), policy(a), b.dir(), policy(b),
                join.dir(), joinPolicy);
    }

    String create(String yaml) throws Exception {
        Files.writeString(tmp.resolve("seed.txt"), "seed\n");
        PipelineSpec spec = PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "diamond.yaml");
        return ConfidentialRun.create(spec, tmp, tmp.resolve("runs"), "local", new ConfidentialRun.Setup(repo,
                repo.location(), broker.ownerBroker(), broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement()));
    }

    RunState run(String runId) throws Exception {
        Path runDir = tmp.resolve("runs").resolve(runId);
        Orchestrator o = new Orchestrator(new LocalExecutor(), new ConfidentialSteps(runDir, repo, StepMain::command), 4,
                Duration.ofMillis(50), Clock.systemUTC());
        return o.run(runDir, s -> {});
    }

    static Instant stage(Path runDir, String step, String stage) throws Exception {
        JsonNode t = JsonMapper.builder().build().readTree(
                runDir.resolve("steps").resolve(step).resolve("attempt-1").resolve("timing.json").toFile());
        return Instant.parse(t.path(stage).asText());
    }

    @Test
    void aDiamondRunsEachStepInItsOwnEnclaveWithPerEdgeKeys() throws Exception {
        Bundle s = tagBundle("split");
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        Bundle j = tagBundle("join");
        String runId = create(diamond(s, a, b, j, policy(j)));
        Path runDir = tmp.resolve("runs").resolve(runId);
        RunState end = run(runId);
        assertThat(end.steps()).allSatisfy((n, st) -> assertThat(st.phase()).as(n + ": " + st.reason())
                .isEqualTo(RunState.Phase.DONE));

        List<ConfidentialRun.Fetched> got = ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"));
        assertThat(Files.readString(tmp.resolve("out/join/result")))
                .isEqualTo("seed\nsplit\na\n" + "seed\nsplit\nb\n" + "join\n");
        assertThat(Files.readString(tmp.resolve("out/a/stdout.txt"))).isEqualTo("a wrote 1 output(s)\n");
        assertThat(got).extracting(ConfidentialRun.Fetched::step).contains("split", "a", "b", "join");

        // Fan-out ran in parallel: a's and b's enclaves (worker start to publication) overlapped in time; fan-in
        // started only after both had published.
        Instant aStart = stage(runDir, "a", "workerStarted");
        Instant aEnd = stage(runDir, "a", "published");
        Instant bStart = stage(runDir, "b", "workerStarted");
        Instant bEnd = stage(runDir, "b", "published");
        assertThat(aStart).isBefore(bEnd);
        assertThat(bStart).isBefore(aEnd);
        Instant joinStart = stage(runDir, "join", "workerStarted");
        assertThat(joinStart).isAfter(aEnd).isAfter(bEnd);

        // Every key went to exactly the measurement of the step it was stored for, and nothing else got it.
        RunPlan plan = RunPlan.load(runDir);
        Map<String, Bundle> bundles = Map.of("split", s, "a", a, "b", b, "join", j);
        var history = broker.ownerBroker();
        for (var e : plan.steps().entrySet()) {
            List<String> keys = new java.util.ArrayList<>(e.getValue().outputs().values());
            e.getValue().inputs().values().forEach(i -> keys.add(i.key()));
            keys.add(e.getValue().logKey());
            for (String k : keys) {
                List<String> lines = history.history(k).stream().filter(l -> l.contains("release")).toList();
                assertThat(lines).as(k).hasSize(1);
                assertThat(lines.get(0)).as(k).contains("ok").contains(bundles.get(e.getKey()).measurement());
            }
        }
        // The edge split.left is stored twice with the same bytes: for split (to write) and for a (to read).
        assertThat(plan.steps().get("split").outputs().get("left")).isNotEqualTo(plan.steps().get("a").inputs().get("l").key());
    }

    @Test
    void aStepWhoseBundleDiffersFromItsPolicyCannotReadItsInputs() throws Exception {
        Bundle s = tagBundle("split");
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        Bundle j = tagBundle("join");
        Bundle other = tagBundle("other");
        String runId = create(diamond(s, a, b, j, policy(other)));
        RunState end = run(runId);
        assertThat(end.steps().get("a").phase()).isEqualTo(RunState.Phase.DONE);
        assertThat(end.steps().get("b").phase()).isEqualTo(RunState.Phase.DONE);
        RunState.Step join = end.steps().get("join");
        assertThat(join.phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(join.exitCode()).isEqualTo(1);
        assertThat(join.reason()).contains("step join exited with status 1: ")
                .contains(dev.cloister.kbs.KeyBroker.RELEASE_DENIED);
        // The step learns nothing about the policy; the owner's audit log names the measurement that was refused.
        assertThat(broker.broker.store().audit(null, 0, 1000)).anySatisfy(e -> assertThat(e.detail())
                .contains("policy denied: mrenclave " + j.measurement()));
        // The program never ran, so it never read an input or wrote an output.
        Path runDir = tmp.resolve("runs").resolve(runId);
        assertThat(Files.readString(runDir.resolve("steps/join/attempt-1/log"))).doesNotContain("inputs decrypted");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ConfidentialRun.fetch(runDir, repo, tmp.resolve("out")))
                .hasMessageContaining("not finished").hasMessageContaining("join (failed)");
        assertThat(tmp.resolve("out")).doesNotExist();
    }
}
