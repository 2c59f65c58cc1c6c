package dev.cloister.cli.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.Cloister;
import dev.cloister.cli.TestBroker;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cloister pipeline run|status|resume|fetch} against a real broker over HTTPS, with real process kills: the
 * orchestrator's JVM killed with SIGKILL mid-run, and a step's process group killed while its program runs.
 */
class PipelineCommandTest {
    @TempDir
    Path tmp;

    TestBroker broker;
    URI base;
    Path ca;
    Path token;

    static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @BeforeEach
    void start() throws Exception {
        broker = TestBroker.start(tmp);
        base = broker.base();
        ca = broker.ca();
        token = broker.ownerToken();
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    /** A chain a -> b -> c of a shell step that sleeps, then appends its name to its input. */
    Path chain(String bSleeps) throws Exception {
        Path app = Files.createDirectories(tmp.resolve("app"));
        Files.writeString(app.resolve("step.sh"), """
                #!/bin/sh
                sleep "$2"
                { cat /inputs/* 2>/dev/null; echo "$1"; } > "$3"
                """);
        Files.setPosixFilePermissions(app.resolve("step.sh"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "step.sh")
                .withIncludes(List.of("/usr/bin/sleep", "/usr/bin/cat")), tmp.resolve("bundle"), false).dir());
        Files.writeString(tmp.resolve("seed.txt"), "seed\n");
        String policy = "E:" + b.measurement() + " SIM:ALLOW";
        Path spec = tmp.resolve("chain.yaml");
        Files.writeString(spec, """
                name: chain
                broker: %s
                repository: repo
                steps:
                  - name: a
                    bundle: {path: bundle, policy: "%s"}
                    inputs: [{name: seed, file: seed.txt, path: /inputs/seed}]
                    outputs: [{name: out, path: /outputs/a}]
                    args: [a, "0", /outputs/a]
                  - name: b
                    bundle: {path: bundle, policy: "%s"}
                    inputs: [{name: in, from: a.out, path: /inputs/a}]
                    outputs: [{name: out, path: /outputs/b}]
                    args: [b, "%s", /outputs/b]
                  - name: c
                    bundle: {path: bundle, policy: "%s"}
                    inputs: [{name: in, from: b.out, path: /inputs/b}]
                    outputs: [{name: out, path: /outputs/c}]
                    args: [c, "0", /outputs/c]
                """.formatted(base, policy, policy, bSleeps, policy));
        return spec;
    }

    List<String> brokerArgs() {
        return List.of("--url", base.toString(), "--ca", ca.toString(), "--token-file", token.toString(), "--namespace", "lab",
                "--keys", tmp.resolve("keys").toString());
    }

    /** The command line {@code args} followed by the broker options (resume binds each step to its record). */
    CliRun withBroker(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(brokerArgs());
        return run(all.toArray(String[]::new));
    }

    /** Waits until the only run's state satisfies {@code until}; returns the run folder. */
    Path await(Predicate<JsonNode> until) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline) {
            try (var runs = Files.list(tmp.resolve("runs"))) {
                for (Path r : runs.toList()) {
                    Path state = r.resolve("state.json");
                    if (Files.exists(r.resolve("plan.json")) && Files.exists(state)
                            && until.test(JsonMapper.builder().build().readTree(state.toFile()))) {
                        return r;
                    }
                }
            } catch (java.nio.file.NoSuchFileException notYet) {
                // the run folder is not created yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the run never reached the expected state");
    }

    static boolean phase(JsonNode state, String step, String phase) {
        return state.path("steps").path(step).path("phase").asText().equals(phase);
    }

    @Test
    void badInputGetsAClearErrorExitThreeAndLeavesNothing() throws Exception {
        String runs = tmp.resolve("runs").toString();
        CliRun unknown = run("pipeline", "status", "no-such-run", "--runs", runs);
        assertThat(unknown.code()).isEqualTo(3);
        assertThat(unknown.err()).contains("no pipeline run no-such-run");

        // A cycle is refused before anything (a run folder, a key) is created.
        Path cyclic = chain("0");
        String original = Files.readString(cyclic);
        Files.writeString(cyclic, original.replace("{name: seed, file: seed.txt, path: /inputs/seed}",
                "{name: seed, from: c.out, path: /inputs/seed}"));
        List<String> args = new ArrayList<>(List.of("pipeline", "run", cyclic.toString(), "--runs", runs));
        args.addAll(brokerArgs());
        CliRun cycle = run(args.toArray(String[]::new));
        assertThat(cycle.code()).isEqualTo(3);
        assertThat(cycle.err()).contains("cycle").contains("a -> c -> b -> a");
        assertThat(tmp.resolve("runs")).doesNotExist();

        // A missing owner file: also refused before anything exists.
        Path missing = tmp.resolve("missing.yaml");
        Files.writeString(missing, original.replace("file: seed.txt", "file: nowhere.txt"));
        args.set(2, missing.toString());
        CliRun noFile = run(args.toArray(String[]::new));
        assertThat(noFile.code()).isEqualTo(3);
        assertThat(noFile.err()).contains("nowhere.txt");
        assertThat(tmp.resolve("runs")).doesNotExist();
    }

    @Test
    void fetchRefusesWhenTheBrokerReleasedAStepKeyToAnotherRecord() throws Exception {
        String runs = tmp.resolve("runs").toString();
        CliRun ran = withBroker("pipeline", "run", chain("0").toString(), "--runs", runs, "--json");
        assertThat(ran.code()).as(ran.err()).isZero();
        String runId;
        try (var l = Files.list(tmp.resolve("runs"))) {
            runId = l.findFirst().orElseThrow().getFileName().toString();
        }
        // The genuine audit log passes: every release names the record of the step's attempt.
        CliRun fetched = withBroker("pipeline", "fetch", runId, tmp.resolve("out").toString(), "--runs", runs);
        assertThat(fetched.code()).as(fetched.err()).isZero();
        assertThat(Files.readString(tmp.resolve("out/c/out"))).isEqualTo("seed\na\nb\nc\n");

        // The broker releases step b's key to an enclave bound to another record (its policy changed behind the
        // owner's back): the entry is written by the broker's own store, as KeyBroker writes a release.
        String logKey = dev.cloister.pipeline.RunPlan.load(tmp.resolve("runs").resolve(runId)).steps().get("b").logKey();
        String key = logKey.substring(logKey.indexOf('/') + 1);
        dev.cloister.kbs.KbsStore store = broker.broker().store();
        dev.cloister.kbs.AuditEntry ok = store.audit(null, 0, 10_000).stream()
                .filter(e -> e.action().startsWith("release") && e.outcome().equals("ok")
                        && (e.subject().equals(key) || e.subject().startsWith(key + "@")))
                .findFirst().orElseThrow();
        assertThat(ok.detail()).contains(" record ");
        store.record(ok.actor(), ok.action(), ok.namespace(), ok.subject(), "ok",
                ok.detail().replaceFirst(" record [0-9a-f]{64}", " record " + "ab".repeat(32)));
        CliRun refused = withBroker("pipeline", "fetch", runId, tmp.resolve("out2").toString(), "--runs", runs);
        assertThat(refused.code()).as(refused.err()).isEqualTo(1);
        assertThat(refused.err()).contains("not bound to the submitted record").contains("ab".repeat(32));
        assertThat(tmp.resolve("out2")).doesNotExist();
    }

    @Test
    void aFailedProgramIsExitFiveWithAPastableLogsCommandAndUniformStatusJson() throws Exception {
        Path spec = chain("0");
        // a's program writes to a folder that does not exist: it fails, and b and c never start
        Files.writeString(spec, Files.readString(spec).replace("args: [a, \"0\", /outputs/a]",
                "args: [a, \"0\", /nowhere/a]"));
        List<String> args = new ArrayList<>(List.of("pipeline", "run", spec.toString(), "--runs",
                tmp.resolve("runs").toString()));
        args.addAll(brokerArgs());
        CliRun failed = run(args.toArray(String[]::new));
        assertThat(failed.code()).as(failed.err()).isEqualTo(5);
        String runId;
        try (var runs = Files.list(tmp.resolve("runs"))) {
            runId = runs.findFirst().orElseThrow().getFileName().toString();
        }
        assertThat(failed.err()).contains("'cloister pipeline logs " + runId + " a'").doesNotContain("RUN_ID STEP");
        CliRun status = run("pipeline", "status", runId, "--runs", tmp.resolve("runs").toString(), "--json");
        assertThat(status.code()).as(status.err()).isZero();
        JsonNode steps = JsonMapper.builder().build().readTree(status.out()).path("steps");
        assertThat(steps.path("a").path("exitCode").asInt()).isEqualTo(5);
        for (String s : List.of("b", "c")) {
            assertThat(steps.path(s).path("phase").asText()).isEqualTo("pending");
            assertThat(steps.path(s).has("exitCode")).as(s + " has exitCode").isTrue();
            assertThat(steps.path(s).get("exitCode").isNull()).isTrue();
        }
        // every step has the same fields
        assertThat(steps.path("b").properties().stream().map(java.util.Map.Entry::getKey).toList())
                .isEqualTo(steps.path("a").properties().stream().map(java.util.Map.Entry::getKey).toList());
    }

    @Test
    void anOrchestratorKilledMidRunResumesWithoutRerunningDoneSteps() throws Exception {
        Path spec = chain("4");
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElseThrow(), "-cp", System.getProperty("java.class.path"),
                Cloister.class.getName(), "pipeline", "run", spec.toString(), "--runs", tmp.resolve("runs").toString()));
        cmd.addAll(brokerArgs());
        Process orchestrator = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("orchestrator.log").toFile()).start();
        Path runDir = await(s -> phase(s, "a", "DONE") && phase(s, "b", "RUNNING"));
        orchestrator.destroyForcibly(); // SIGKILL: no chance to clean up
        assertThat(orchestrator.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String runId = runDir.getFileName().toString();

        CliRun resumed = withBroker("pipeline", "resume", runId, "--runs", tmp.resolve("runs").toString(), "--json");
        assertThat(resumed.code()).as(resumed.err()).isZero();
        JsonNode end = JsonMapper.builder().build().readTree(resumed.out());
        for (String s : List.of("a", "b", "c")) {
            assertThat(end.path("steps").path(s).path("phase").asText()).isEqualTo("done");
            assertThat(end.path("steps").path(s).path("attempt").asInt()).as(s + " ran once").isEqualTo(1);
        }
        CliRun fetched = run("pipeline", "fetch", runId, tmp.resolve("out").toString(), "--runs", tmp.resolve("runs").toString(),
                "--keys", tmp.resolve("keys").toString());
        assertThat(fetched.code()).as(fetched.err()).isZero();
        assertThat(Files.readString(tmp.resolve("out/c/out"))).isEqualTo("seed\na\nb\nc\n");

        // Fetching again into the same OUTDIR does not overwrite: exit 3 naming the file; --force replaces.
        Files.writeString(tmp.resolve("out/c/out"), "mine\n");
        CliRun again = run("pipeline", "fetch", runId, tmp.resolve("out").toString(), "--runs", tmp.resolve("runs").toString(),
                "--keys", tmp.resolve("keys").toString());
        assertThat(again.code()).as(again.err()).isEqualTo(3);
        assertThat(again.err()).contains("output already exists: " + tmp.resolve("out/a/out")).contains("--force");
        assertThat(Files.readString(tmp.resolve("out/c/out"))).isEqualTo("mine\n");
        CliRun forced = run("pipeline", "fetch", runId, tmp.resolve("out").toString(), "--runs", tmp.resolve("runs").toString(),
                "--keys", tmp.resolve("keys").toString(), "--force");
        assertThat(forced.code()).as(forced.err()).isZero();
        assertThat(Files.readString(tmp.resolve("out/c/out"))).isEqualTo("seed\na\nb\nc\n");
        // A fetch that fails after creating its OUTDIR (here: the repository lost its objects) removes it again.
        Path objects = tmp.resolve("repo/objects");
        Files.move(objects, tmp.resolve("repo/objects.away"));
        try {
            CliRun lost = run("pipeline", "fetch", runId, tmp.resolve("fresh").toString(), "--runs",
                    tmp.resolve("runs").toString(), "--keys", tmp.resolve("keys").toString());
            assertThat(lost.code()).as(lost.err()).isNotZero();
            assertThat(lost.err()).doesNotContain("no record hash kept");
            assertThat(tmp.resolve("fresh")).doesNotExist();
        } finally {
            dev.cloister.core.AtomicFiles.deleteTree(objects); // opening the repository made an empty one
            Files.move(tmp.resolve("repo/objects.away"), objects);
        }
        CliRun status = run("pipeline", "status", runId, "--runs", tmp.resolve("runs").toString());
        assertThat(status.out()).contains("run " + runId).containsPattern("c\\s+done\\s+attempt 1");
    }

    @Test
    void aKilledStepFailsWithAClearReasonAndResumeRetriesIt() throws Exception {
        Path spec = chain("6");
        List<String> args = new ArrayList<>(List.of("pipeline", "run", spec.toString(), "--runs", tmp.resolve("runs").toString()));
        args.addAll(brokerArgs());
        CompletableFuture<CliRun> first = CompletableFuture.supplyAsync(() -> run(args.toArray(String[]::new)));
        Path runDir = await(s -> phase(s, "b", "RUNNING"));
        Path log = runDir.resolve("steps/b/attempt-1/log");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!(Files.exists(log) && Files.readString(log).contains("inputs decrypted")) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        String handle = JsonMapper.builder().build().readTree(runDir.resolve("state.json").toFile())
                .path("steps").path("b").path("handle").asText();
        // The step's whole process group: the wrapper, the worker JVM and its sandboxes.
        Process kill = new ProcessBuilder("kill", "-KILL", "--", "-" + handle).start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();

        CliRun failed = first.get(3, TimeUnit.MINUTES);
        assertThat(failed.code()).isNotZero();
        assertThat(failed.err()).contains("did not finish").contains("step b").contains("pipeline resume");
        CliRun status = run("pipeline", "status", runDir.getFileName().toString(), "--runs", tmp.resolve("runs").toString(), "--json");
        JsonNode b = JsonMapper.builder().build().readTree(status.out()).path("steps").path("b");
        assertThat(b.path("phase").asText()).isEqualTo("failed");
        assertThat(b.path("reason").asText()).containsAnyOf("killed by signal 9", "without recording an exit status");
        assertThat(JsonMapper.builder().build().readTree(status.out()).path("steps").path("c").path("phase").asText())
                .isEqualTo("pending");

        CliRun resumed = withBroker("pipeline", "resume", runDir.getFileName().toString(), "--runs", tmp.resolve("runs").toString(), "--json");
        assertThat(resumed.code()).as(resumed.err()).isZero();
        JsonNode end = JsonMapper.builder().build().readTree(resumed.out()).path("steps");
        assertThat(end.path("a").path("attempt").asInt()).isEqualTo(1);
        assertThat(end.path("b").path("attempt").asInt()).isEqualTo(2);
        assertThat(end.path("c").path("phase").asText()).isEqualTo("done");
    }
}
