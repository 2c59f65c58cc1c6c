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
                repo.location(), broker.ownerBroker(), broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement(),
                tmp.resolve("keys")));
    }

    RunState run(String runId) throws Exception {
        return run(runId, c -> c);
    }

    /** Runs with the owner's step commands, as {@code wrap} changes them (a hostile host in between). */
    RunState run(String runId, java.util.function.UnaryOperator<Orchestrator.StepCommands> wrap) throws Exception {
        Path runDir = tmp.resolve("runs").resolve(runId);
        Orchestrator o = new Orchestrator(new LocalExecutor(), wrap.apply(new ConfidentialSteps(runDir, repo,
                StepMain::command, broker.ownerBroker(), tmp.resolve("keys"))), 4, Duration.ofMillis(50), Clock.systemUTC());
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

        List<ConfidentialRun.Fetched> got = ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"), tmp.resolve("keys"));
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
        // Each release names the record of the step that ran, the one the owner registered.
        for (String step : List.of("split", "a", "b", "join")) {
            String job = ConfidentialRun.acceptedJob(runDir, step).orElseThrow();
            String hash = dev.cloister.runtime.job.JobRecord.parse(repo.getRef(
                    dev.cloister.runtime.job.JobRecord.ref(job)).orElseThrow(), job).hashHex();
            assertThat(history.history(plan.steps().get(step).logKey()))
                    .anySatisfy(l -> assertThat(l).contains("release ok").contains(" record " + hash + " "));
        }
        // The edge split.left is stored twice with the same bytes: for split (to write) and for a (to read).
        assertThat(plan.steps().get("split").outputs().get("left")).isNotEqualTo(plan.steps().get("a").inputs().get("l").key());
    }

    @Test
    void aStepsStdoutAndStderrAreOutputsALaterStepReads() throws Exception {
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        String yaml = """
                name: streams
                broker: %s
                repository: %s
                steps:
                  - name: a
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: seed, file: seed.txt, path: /inputs/seed}]
                    outputs: [{name: x, path: /outputs/x}]
                    stdout: said
                    stderr: complained
                    args: [a, "0", /outputs/x]
                  - name: b
                    bundle: {path: %s, policy: "%s"}
                    inputs: [{name: s, from: a.said, path: /inputs/s}, {name: x, from: a.x, path: /inputs/x}]
                    outputs: [{name: y, path: /outputs/y}]
                    args: [b, "0", /outputs/y]
                """.formatted(broker.url, repo.location(), a.dir(), policy(a), b.dir(), policy(b));
        String runId = create(yaml);
        Path runDir = tmp.resolve("runs").resolve(runId);
        RunState end = run(runId);
        assertThat(end.steps()).allSatisfy((n, st) -> assertThat(st.phase()).as(n + ": " + st.reason())
                .isEqualTo(RunState.Phase.DONE));
        ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"), tmp.resolve("keys"));
        // b read a's stdout (input s) before a's file output (x): the inputs are concatenated in name order
        assertThat(Files.readString(tmp.resolve("out/b/y"))).isEqualTo("a wrote 1 output(s)\n" + "seed\na\n" + "b\n");
        assertThat(Files.readString(tmp.resolve("out/a/said"))).isEqualTo("a wrote 1 output(s)\n");
        assertThat(Files.readString(tmp.resolve("out/a/complained"))).isEmpty();
        // The stream output has a key of its own (not the log key), stored again for b under b's policy
        RunPlan plan = RunPlan.load(runDir);
        String said = plan.steps().get("a").outputs().get("said");
        assertThat(said).isNotNull().isNotEqualTo(plan.steps().get("a").logKey());
        assertThat(plan.steps().get("b").inputs().get("s").key()).isNotEqualTo(said);
        // and its ciphertext is bound to the stream's path: a step cannot pass a file it wrote off as its stdout
        String job = ConfidentialRun.acceptedJob(runDir, "a").orElseThrow();
        var res = dev.cloister.runtime.job.JobResult.parse(repo.getRef(dev.cloister.runtime.job.JobResult.ref(job))
                .orElseThrow(), job);
        assertThat(res.outputs()).anySatisfy(o -> assertThat(o.name() + " " + o.path())
                .isEqualTo("said " + dev.cloister.runtime.enclave.EnclaveLauncher.STDOUT_PATH));
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
        assertThat(join.reason()).contains("step join exited with status 1: ").contains("release denied");
        // The program never ran, so it never read an input or wrote an output.
        Path runDir = tmp.resolve("runs").resolve(runId);
        // The step gets the broker's uniform denial; the owner's audit log names the measurement refused.
        assertThat(broker.ownerBroker().history(RunPlan.load(runDir).steps().get("join").logKey()))
                .anySatisfy(l -> assertThat(l).contains("release denied").contains(j.measurement()));
        assertThat(Files.readString(runDir.resolve("steps/join/attempt-1/log"))).doesNotContain("inputs decrypted");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"), tmp.resolve("keys")))
                .hasMessageContaining("not finished").hasMessageContaining("join (failed)");
        assertThat(tmp.resolve("out")).doesNotExist();
    }

    /** Publishes the owner's record, then rewrites it as a hostile host would before the step starts. */
    StepCommandsTampering tamper(String step, java.util.function.UnaryOperator<dev.cloister.runtime.job.JobRecord> edit) {
        return new StepCommandsTampering(step, edit);
    }

    final class StepCommandsTampering implements java.util.function.UnaryOperator<Orchestrator.StepCommands> {
        final String step;
        final java.util.function.UnaryOperator<dev.cloister.runtime.job.JobRecord> edit;

        StepCommandsTampering(String step, java.util.function.UnaryOperator<dev.cloister.runtime.job.JobRecord> edit) {
            this.step = step;
            this.edit = edit;
        }

        @Override
        public Orchestrator.StepCommands apply(Orchestrator.StepCommands real) {
            return new Orchestrator.StepCommands() {
                @Override
                public List<String> command(PipelineSpec spec, PipelineSpec.Step s, String runId, Path stepDir)
                        throws java.io.IOException, dev.cloister.core.CloisterException {
                    List<String> cmd = real.command(spec, s, runId, stepDir);
                    if (s.name().equals(step)) {
                        String id = ConfidentialSteps.jobId(runId, s.name(), stepDir);
                        var rec = dev.cloister.runtime.job.JobRecord.parse(repo.getRef(
                                dev.cloister.runtime.job.JobRecord.ref(id)).orElseThrow(), id);
                        repo.putRef(dev.cloister.runtime.job.JobRecord.ref(id), edit.apply(rec).toBytes());
                    }
                    return cmd;
                }

                @Override
                public boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step s, String runId, Path stepDir)
                        throws java.io.IOException, dev.cloister.core.CloisterException {
                    return real.outputsComplete(spec, s, runId, stepDir);
                }
            };
        }
    }

    @Test
    void aStepRecordEditedBeforeTheStepStartsGetsNoKeyAndItsProgramNeverRuns() throws Exception {
        Bundle s = tagBundle("split");
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        Bundle j = tagBundle("join");
        String runId = create(diamond(s, a, b, j, policy(j)));
        Path runDir = tmp.resolve("runs").resolve(runId);
        // The host swaps join's two inputs (each ciphertext keeps its bound path and key, so each still decrypts):
        // the program would read a's output as b's and the other way round.
        RunState end = run(runId, tamper("join", r -> {
            var x = r.inputs().get(0);
            var y = r.inputs().get(1);
            return new dev.cloister.runtime.job.JobRecord(r.id(), r.name(), r.bundlePath(), r.measurement(), r.policy(),
                    r.secret(), r.broker(), r.backend(), r.args(), r.env(),
                    List.of(new dev.cloister.runtime.job.JobRecord.Input(x.name(), y.path(), x.object(), x.size(), x.bound()),
                            new dev.cloister.runtime.job.JobRecord.Input(y.name(), x.path(), y.object(), y.size(), y.bound())),
                    r.outputs(), r.keys());
        }));
        assertThat(end.steps().get("a").phase()).isEqualTo(RunState.Phase.DONE);
        RunState.Step join = end.steps().get("join");
        assertThat(join.phase()).isEqualTo(RunState.Phase.FAILED);
        assertThat(join.exitCode()).isEqualTo(1);
        String log = Files.readString(runDir.resolve("steps/join/attempt-1/log"));
        assertThat(log).contains("release denied").doesNotContain("key released").doesNotContain("program exited");
        // The owner's audit log has the reason: the evidence was bound to another record than the registered one.
        assertThat(broker.ownerBroker().history(RunPlan.load(runDir).steps().get("join").logKey()))
                .anySatisfy(l -> assertThat(l).contains("release denied").contains("not the registered"));
        assertThat(repo.getRef(dev.cloister.runtime.job.JobResult.ref(
                ConfidentialSteps.jobId(runId, "join", runDir.resolve("steps/join/attempt-1"))))).isEmpty();
    }

    @Test
    void fetchRefusesAStepRecordChangedAfterTheRun() throws Exception {
        Bundle s = tagBundle("split");
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        Bundle j = tagBundle("join");
        String runId = create(diamond(s, a, b, j, policy(j)));
        Path runDir = tmp.resolve("runs").resolve(runId);
        assertThat(run(runId).steps()).allSatisfy((n, st) -> assertThat(st.phase()).isEqualTo(RunState.Phase.DONE));
        String job = ConfidentialRun.acceptedJob(runDir, "b").orElseThrow();
        var rec = dev.cloister.runtime.job.JobRecord.parse(repo.getRef(dev.cloister.runtime.job.JobRecord.ref(job)).orElseThrow(), job);
        var forged = new dev.cloister.runtime.job.JobRecord(rec.id(), rec.name(), rec.bundlePath(), rec.measurement(),
                rec.policy(), rec.secret(), rec.broker(), rec.backend(), List.of("b", "0", "/outputs/y"), rec.env(),
                rec.inputs(), rec.outputs(), rec.keys());
        repo.putRef(dev.cloister.runtime.job.JobRecord.ref(job), forged.toBytes());
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"),
                tmp.resolve("keys")))
                .hasMessageContaining("is not the one submitted (sha256 " + rec.hashHex() + ")");
        assertThat(tmp.resolve("out")).doesNotExist();
    }

    /** Remembers every key the owner's side stores in the broker, so the test can look for it anywhere. */
    static final class RecordingBroker implements dev.cloister.runtime.job.Broker {
        final dev.cloister.runtime.job.Broker inner;
        final List<byte[]> keys = new java.util.concurrent.CopyOnWriteArrayList<>();

        RecordingBroker(dev.cloister.runtime.job.Broker inner) {
            this.inner = inner;
        }

        @Override
        public void createJobKey(String secret, byte[] key, String policy)
                throws dev.cloister.core.CloisterException, java.io.IOException {
            keys.add(key.clone());
            inner.createJobKey(secret, key, policy);
        }

        @Override
        public void setPolicy(String qualifiedSecret, String policy)
                throws dev.cloister.core.CloisterException, java.io.IOException {
            inner.setPolicy(qualifiedSecret, policy);
        }

        @Override
        public String qualify(String secret) {
            return inner.qualify(secret);
        }

        @Override
        public String nonce() throws dev.cloister.core.CloisterException, java.io.IOException {
            return inner.nonce();
        }

        @Override
        public com.fasterxml.jackson.databind.JsonNode release(com.fasterxml.jackson.databind.JsonNode request)
                throws dev.cloister.core.CloisterException, java.io.IOException {
            return inner.release(request);
        }

        @Override
        public List<String> history(String qualifiedSecret) throws dev.cloister.core.CloisterException, java.io.IOException {
            return inner.history(qualifiedSecret);
        }
    }

    /**
     * Every file under {@code dir} that holds any of {@code keys} in any form a program would write it in (raw
     * bytes, hex in either case, base64), plus any file or folder named like a key store.
     */
    static List<String> keyMaterialUnder(Path dir, List<byte[]> keys) {
        List<String> found = new java.util.ArrayList<>();
        List<byte[]> needles = new java.util.ArrayList<>();
        for (byte[] k : keys) {
            needles.add(k);
            String hex = java.util.HexFormat.of().formatHex(k);
            needles.add(hex.getBytes(StandardCharsets.US_ASCII));
            needles.add(hex.toUpperCase(java.util.Locale.ROOT).getBytes(StandardCharsets.US_ASCII));
            needles.add(java.util.Base64.getEncoder().encodeToString(k).getBytes(StandardCharsets.US_ASCII));
            needles.add(java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(k).getBytes(StandardCharsets.US_ASCII));
        }
        List<Path> files;
        try (var walk = Files.walk(dir)) {
            files = walk.toList();
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return found; // a folder vanished mid-walk (a step's work folder being removed): the next scan sees the rest
        }
        for (Path f : files) {
            String name = f.getFileName().toString();
            if (name.equals("keys") || name.endsWith(".key")) {
                found.add(dir.relativize(f) + " (named like a key store)");
            }
            byte[] bytes;
            try {
                if (!Files.isRegularFile(f)) {
                    continue;
                }
                bytes = Files.readAllBytes(f);
            } catch (java.io.IOException e) {
                continue; // removed between the walk and the read
            }
            for (byte[] n : needles) {
                if (indexOf(bytes, n) >= 0) {
                    found.add(dir.relativize(f) + " holds a key");
                    break;
                }
            }
        }
        return found;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    void onSlurmTheSharedRunFolderNeverHoldsKeyMaterialAndTheRunStillWorks() throws Exception {
        Path root = Path.of(System.getProperty("cloister.repo.root", "..")).toAbsolutePath().normalize();
        Process p = new ProcessBuilder(root.resolve("scripts/slurm-local").toString(), "start").start();
        String conf = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(60, TimeUnit.SECONDS);
        org.junit.jupiter.api.Assumptions.assumeTrue(p.exitValue() != 4 || !err.contains("not found"),
                "SLURM is not installed: " + err);
        assertThat(p.exitValue()).as(err).isZero();

        Bundle s = tagBundle("split");
        Bundle a = tagBundle("a");
        Bundle b = tagBundle("b");
        Bundle j = tagBundle("join");
        Files.writeString(tmp.resolve("seed.txt"), "seed\n");
        RecordingBroker owner = new RecordingBroker(broker.ownerBroker());
        // The runs root is what the cluster's nodes share; the owner's key folder is elsewhere.
        Path runs = tmp.resolve("shared/runs");
        Path keys = tmp.resolve("owner/keys");
        PipelineSpec spec = PipelineSpec.parse(diamond(s, a, b, j, policy(j)).getBytes(StandardCharsets.UTF_8), "diamond.yaml");
        String runId = ConfidentialRun.create(spec, tmp, runs, "slurm", new ConfidentialRun.Setup(repo, repo.location(),
                owner, broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement(), keys));
        Path runDir = runs.resolve(runId);
        // Every key of the run: each output and log key, each owner input's key (the broker's copy only).
        assertThat(owner.keys).hasSizeGreaterThanOrEqualTo(4 + 5 + 1);
        assertThat(keyMaterialUnder(runDir, owner.keys)).as("right after creation").isEmpty();

        // Watch the run folder while SLURM runs the steps on the node.
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger scans = new java.util.concurrent.atomic.AtomicInteger();
        Thread watcher = Thread.ofPlatform().daemon().start(() -> {
            while (!done.get()) {
                seen.addAll(keyMaterialUnder(runDir, owner.keys));
                scans.incrementAndGet();
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        RunState end;
        try {
            end = new Orchestrator(new SlurmExecutor(null, Path.of(conf)), new ConfidentialSteps(runDir, repo,
                    StepMain::command, owner, keys), 4, Duration.ofMillis(200), Clock.systemUTC()).run(runDir, x -> {});
        } finally {
            done.set(true);
            watcher.join(60_000);
        }
        assertThat(end.steps()).allSatisfy((n, st) -> assertThat(st.phase()).as(n + ": " + st.reason())
                .isEqualTo(RunState.Phase.DONE));
        assertThat(scans.get()).as("the watcher looked during the run").isGreaterThan(5);
        assertThat(seen).as("during the run").isEmpty();
        assertThat(keyMaterialUnder(runDir, owner.keys)).as("after the run").isEmpty();
        // The steps really ran on SLURM (their logs are sbatch's output files) and the outputs are right.
        assertThat(Files.readString(runDir.resolve("steps/join/attempt-1/log"))).contains("inputs decrypted");
        ConfidentialRun.fetch(runDir, repo, tmp.resolve("out"), keys);
        assertThat(Files.readString(tmp.resolve("out/join/result")))
                .isEqualTo("seed\nsplit\na\n" + "seed\nsplit\nb\n" + "join\n");
        // The detector itself finds a key where there is one (as the old RUN/keys/ folder held them).
        Path probe = Files.createDirectories(runDir.resolve("probe"));
        Files.write(probe.resolve("x.bin"), owner.keys.get(0));
        assertThat(keyMaterialUnder(runDir, owner.keys)).containsExactly("probe/x.bin holds a key");
        dev.cloister.core.AtomicFiles.deleteTree(probe);
        // The owner's key folder is private to the owner.
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(
                ConfidentialRun.ownerDir(keys, runId)))).isEqualTo("rwx------");
    }
}
