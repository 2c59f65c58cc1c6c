package dev.cloister.cli.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.Cloister;
import dev.cloister.cli.TestBroker;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cloister worker run} as a separate process, killed while the program runs; the worker run again; the
 * enclave's program killed under a live worker; a worker asked for Gramine on a machine without it; the CLI's
 * Gramine paths (gramine-sgx with stand-ins, gramine-direct for real). A real key broker over HTTPS throughout.
 */
class WorkerProcessTest {
    @TempDir
    Path tmp;

    private TestBroker broker;
    private Path ca;
    private Path token;
    private URI base;
    private final List<Process> started = new ArrayList<>();

    static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @BeforeEach
    void broker() throws Exception {
        broker = TestBroker.start(tmp);
        base = broker.base();
        ca = broker.ca();
        token = broker.ownerToken();
    }

    @AfterEach
    void stop() {
        started.forEach(p -> p.descendants().forEach(ProcessHandle::destroyForcibly));
        started.forEach(Process::destroyForcibly);
        if (broker != null) {
            broker.close();
        }
    }

    /** A program that writes the first bytes of its output, sleeps, then writes the whole output. */
    private Bundle slowBundle(Optional<Path> brokerCa) throws Exception {
        Path app = Files.createDirectories(tmp.resolve("app"));
        Files.writeString(app.resolve("slow.sh"), """
                #!/bin/sh
                head -c 5 "$1" > "$2"
                sleep 6
                cat "$1" > "$2"
                """);
        Files.setPosixFilePermissions(app.resolve("slow.sh"), PosixFilePermissions.fromString("rwxr-xr-x"));
        return Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "slow.sh")
                .withIncludes(List.of("/usr/bin/head", "/usr/bin/sleep", "/usr/bin/cat"))
                .withBroker(brokerCa, Optional.empty()), tmp.resolve("bundle-" + brokerCa.isPresent()), false).dir());
    }

    private String submit(Bundle b, String backend) throws Exception {
        Files.writeString(tmp.resolve("in.txt"), "the whole secret text\n");
        Path job = tmp.resolve("job-" + backend + ".yaml");
        Files.writeString(job, """
                name: slow
                bundle: {path: %s, policy: "E:%s SIM:ALLOW"}
                inputs: [{name: words, file: in.txt, path: /inputs/in.txt}]
                outputs: [{name: copy, path: /outputs/copy.txt}]
                args: [/inputs/in.txt, /outputs/copy.txt]
                backend: %s
                broker: %s
                repository: repo
                """.formatted(b.dir(), b.measurement(), backend, base));
        CliRun submit = run("job", "submit", job.toString(), "--ca", ca.toString(), "--token-file", token.toString(),
                "--namespace", "lab", "--keys", tmp.resolve("keys").toString());
        assertThat(submit.code()).as(submit.err()).isZero();
        return submit.out().strip();
    }

    /** {@code cloister worker run ID ...} in its own JVM, stderr to a file. */
    private Process worker(String id, Path stderr, String path, String... more) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Cloister.class.getName(), "worker", "run", id, "--repository", tmp.resolve("repo").toString(),
                "--ca", ca.toString()));
        cmd.addAll(List.of(more));
        if (!cmd.contains("--work")) {
            // Under the test's folder: a worker killed by a test never removes its default one in /tmp.
            cmd.addAll(List.of("--work", tmp.resolve("work-" + stderr.getFileName()).toString()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(stderr.toFile())
                .redirectOutput(tmp.resolve(stderr.getFileName() + ".out").toFile());
        if (path != null) {
            pb.environment().put("PATH", path);
        }
        Process p = pb.start();
        started.add(p);
        return p;
    }

    /** Waits until a process under {@code worker} runs a command line starting with {@code needle}; returns it. */
    private static ProcessHandle awaitDescendant(Process worker, String needle, Path stderr) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            // Matched at the start: the sandbox's own command line names the program too, after its options.
            Optional<ProcessHandle> hit = worker.descendants().filter(h -> {
                String c = cmdline(h);
                return c.startsWith(needle);
            }).findFirst();
            if (hit.isPresent()) {
                return hit.get();
            }
            assertThat(worker.isAlive()).as("worker ended early: " + Files.readString(stderr)).isTrue();
            Thread.sleep(50);
        }
        throw new AssertionError("no process running " + needle + "; worker said: " + Files.readString(stderr));
    }

    private static String cmdline(ProcessHandle h) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(h.pid()), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return ""; // gone meanwhile
        }
    }

    private CliRun fetch(String id, Path out) {
        return run("job", "fetch", id, out.toString(), "--repository", tmp.resolve("repo").toString(), "--keys",
                tmp.resolve("keys").toString());
    }

    @Test
    void aWorkerKilledMidRunPublishesNothingAndTheJobRunsAgain() throws Exception {
        String id = submit(slowBundle(Optional.empty()), "sim");
        Path err = tmp.resolve("w1.err");
        Process w = worker(id, err, null);
        ProcessHandle sleeping = awaitDescendant(w, "sleep 6", err);
        // The program has written part of its output and sleeps: SIGKILL the worker's JVM.
        w.destroyForcibly();
        assertThat(w.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(w.exitValue()).isEqualTo(137);
        // The enclave dies with its worker (bubblewrap --die-with-parent): no orphan keeps running.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (sleeping.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(sleeping.isAlive()).isFalse();
        assertThat(tmp.resolve("repo/refs/jobs/" + id + "/result.json")).doesNotExist();
        CliRun early = fetch(id, tmp.resolve("early"));
        assertThat(early.code()).isEqualTo(3);
        assertThat(early.err()).contains("job " + id + " has no result yet");
        assertThat(tmp.resolve("early")).doesNotExist();

        // The worker runs the job again, this time to the end; the owner gets the whole output.
        Path err2 = tmp.resolve("w2.err");
        Process again = worker(id, err2, null);
        assertThat(again.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(again.exitValue()).as(Files.readString(err2)).isZero();
        CliRun ok = fetch(id, tmp.resolve("out"));
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(tmp.resolve("out/copy")).hasContent("the whole secret text\n");
    }

    @Test
    void killingTheEnclavesProgramFailsTheJobWithTheReasonAndPublishesNothing() throws Exception {
        String id = submit(slowBundle(Optional.empty()), "sim");
        Path err = tmp.resolve("w.err");
        Process w = worker(id, err, null);
        // The program itself (the shell running the script), not its sleep and not the worker.
        ProcessHandle program = awaitDescendant(w, "/bin/sh /app/slow.sh /inputs/in.txt", err);
        assertThat(program.destroyForcibly()).isTrue();
        assertThat(w.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String said = Files.readString(err);
        assertThat(w.exitValue()).as(said).isEqualTo(4);
        assertThat(said).contains("the program was killed by signal 9 inside the enclave")
                .contains("nothing was published");
        assertThat(tmp.resolve("repo/refs/jobs/" + id + "/result.json")).doesNotExist();
        assertThat(fetch(id, tmp.resolve("out")).code()).isEqualTo(3);
    }

    @Test
    void withoutGramineAGramineJobFailsWithExitCode4BeforeAnythingIsDownloadedOrWritten() throws Exception {
        String id = submit(slowBundle(Optional.of(ca)), "gramine-sgx");
        List<Path> before = tree(tmp.resolve("repo"));
        Path work = tmp.resolve("work");
        Path err = tmp.resolve("g.err");
        // PATH without Gramine (nor bubblewrap: a Gramine job does not need it).
        Process w = worker(id, err, Files.createDirectories(tmp.resolve("empty")).toString(), "--work", work.toString(),
                "--secret-provisioning", "kbs.test:4433");
        assertThat(w.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String said = Files.readString(err);
        assertThat(w.exitValue()).as(said).isEqualTo(4);
        assertThat(said).contains("backend gramine-sgx needs Gramine 1.9, and 'gramine-sgx-sign' is not on PATH");
        assertThat(said.strip().lines().count()).as(said).isEqualTo(1);
        assertThat(work).doesNotExist();
        assertThat(tree(tmp.resolve("repo"))).isEqualTo(before);
    }

    /**
     * The CLI's gramine-sgx path with stand-in {@code gramine-sgx-sign} and {@code gramine-sgx} that this test
     * writes: shell scripts, not Gramine, which check what the worker prepared and copy ciphertext the test made
     * with the job key, bound as Gramine binds it (outputs/NAME). Real Gramine: the next test.
     */
    @Test
    void workerRunWithAStandInGramineSgxPublishesOutputsTheOwnerFetches() throws Exception {
        String id = submit(slowBundle(Optional.of(ca)), "gramine-sgx");
        Path premade = tmp.resolve("copy.pf");
        try (var key = dev.cloister.pf.PfKey.read(tmp.resolve("keys").resolve(id + ".key"))) {
            dev.cloister.core.AtomicFiles.<dev.cloister.pf.PfException>write(premade, false, ch ->
                    dev.cloister.pf.ProtectedFiles.encrypt(new java.io.ByteArrayInputStream(
                            "the whole secret text\n".getBytes(StandardCharsets.UTF_8)), ch, key, "outputs/copy.txt",
                            dev.cloister.pf.PfVersion.V2, n -> {}));
        }
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Files.writeString(bin.resolve("gramine-sgx-sign"), "#!/bin/sh\ncp entrypoint.manifest entrypoint.manifest.sgx\n");
        Files.setPosixFilePermissions(bin.resolve("gramine-sgx-sign"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(bin.resolve("gramine-sgx"), """
                #!/bin/sh
                # Stand-in for gramine-sgx written by WorkerProcessTest; Gramine does not run here.
                [ "$*" = entrypoint ] || { echo "bad arguments: $*"; exit 90; }
                [ "$SECRET_PROVISION_SERVERS" = kbs.test:4433 ] || { echo "no broker address"; exit 91; }
                grep -q '"/inputs/in.txt",' entrypoint.manifest || { echo "job args not in loader.argv"; exit 92; }
                [ -s inputs/in.txt ] || { echo "no encrypted input"; exit 93; }
                echo "program says hello"
                cp '%s' outputs/copy.txt
                """.formatted(premade));
        Files.setPosixFilePermissions(bin.resolve("gramine-sgx"), PosixFilePermissions.fromString("rwxr-xr-x"));
        // The owner renders the same manifest from the job file, before any worker ran.
        CliRun manifest = run("job", "manifest", tmp.resolve("job-gramine-sgx.yaml").toString());
        assertThat(manifest.code()).as(manifest.err()).isZero();
        assertThat(manifest.out()).contains("  \"/inputs/in.txt\",\n  \"/outputs/copy.txt\",\n]");
        Files.writeString(bin.resolve("gramine-sgx"), Files.readString(bin.resolve("gramine-sgx")).replace(
                "echo \"program says hello\"", "cmp -s entrypoint.manifest '" + Files.writeString(
                        tmp.resolve("owner.manifest"), manifest.out()) + "' || exit 94\necho \"program says hello\""));
        Path err = tmp.resolve("g.err");
        Process w = worker(id, err, bin + ":/usr/bin:/bin", "--backend", "gramine-sgx", "--secret-provisioning",
                "kbs.test:4433", "--json");
        assertThat(w.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String said = Files.readString(err);
        assertThat(w.exitValue()).as(said).isZero();
        assertThat(said).contains("gramine: program says hello");
        var result = new com.fasterxml.jackson.databind.ObjectMapper().readTree(tmp.resolve("g.err.out").toFile());
        assertThat(result.path("backend").asText()).isEqualTo("gramine-sgx");
        assertThat(result.path("simulated").asBoolean()).isFalse();
        assertThat(result.path("programExit").asInt()).isZero();
        assertThat(result.path("stdout").isNull()).isTrue();
        CliRun ok = fetch(id, tmp.resolve("out"));
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(tmp.resolve("out/copy")).hasContent("the whole secret text\n");
        try (Stream<Path> s = Files.list(tmp.resolve("out"))) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("copy");
        }
    }

    /**
     * The real gramine-direct of scripts/gramine-local (CLOISTER_TEST_GRAMINE, which .ci/run sets): a failure in CI
     * when missing, a skip elsewhere.
     */
    private static String gramine() {
        String prefix = System.getenv("CLOISTER_TEST_GRAMINE");
        if (prefix == null || prefix.isBlank()) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                throw new IllegalStateException("CLOISTER_TEST_GRAMINE is not set in CI: .ci/run must build "
                        + "gramine-direct (scripts/gramine-local)");
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "CLOISTER_TEST_GRAMINE is not set");
        }
        return prefix;
    }

    /** A worker SIGKILLed while its program runs under gramine-direct takes Gramine with it; the job runs again. */
    @Test
    void aWorkerKilledUnderGramineDirectTakesGramineWithItAndTheJobRunsAgain() throws Exception {
        String prefix = gramine();
        String id = submit(slowBundle(Optional.empty()), "gramine-direct");
        Path work = tmp.resolve("work-gk");
        Path err = tmp.resolve("gk.err");
        Process w = worker(id, err, prefix + "/bin:/usr/bin:/bin", "--work", work.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        // Until the program's first 5 bytes are in: Gramine writes the encrypted file's header when the file is
        // created, before head writes, so a non-empty file is not yet the program's output.
        while (!partialOutput(work, id).equals("the w") && System.nanoTime() < deadline && w.isAlive()) {
            Thread.sleep(100);
        }
        assertThat(w.isAlive()).as(Files.readString(err)).isTrue();
        assertThat(Files.readString(err)).contains("[SIMULATED attestation]");
        List<ProcessHandle> gramine = w.descendants().toList();
        assertThat(gramine).isNotEmpty();
        w.destroyForcibly();
        w.waitFor();
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (gramine.stream().anyMatch(ProcessHandle::isAlive) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(gramine).noneMatch(ProcessHandle::isAlive);
        // Gramine died with the worker, before the program's sleep ended: its output is still the first 5 bytes
        // (a Gramine left running would have finished it).
        assertThat(partialOutput(work, id)).isEqualTo("the w");
        assertThat(tmp.resolve("repo/refs/jobs/" + id + "/result.json")).doesNotExist();

        Path err2 = tmp.resolve("gk2.err");
        Process again = worker(id, err2, prefix + "/bin:/usr/bin:/bin", "--work", work.toString());
        assertThat(again.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(again.exitValue()).as(Files.readString(err2)).isZero();
        CliRun ok = fetch(id, tmp.resolve("out"));
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(tmp.resolve("out/copy")).hasContent("the whole secret text\n");
    }

    /** What the program under Gramine has written to outputs/copy.txt so far, decrypted, or "" (none or partial). */
    private String partialOutput(Path work, String id) throws Exception {
        Path f = work.resolve("enclave/outputs/copy.txt");
        if (!Files.isRegularFile(f)) {
            return "";
        }
        var partial = new java.io.ByteArrayOutputStream();
        try (var key = dev.cloister.pf.PfKey.read(tmp.resolve("keys").resolve(id + ".key"));
                var ch = java.nio.channels.FileChannel.open(f)) {
            dev.cloister.pf.ProtectedFiles.decrypt(ch, partial, key, dev.cloister.pf.PathPolicy.expect("outputs/copy.txt"),
                    "copy", n -> {});
        } catch (dev.cloister.pf.PfException | java.io.IOException e) {
            return ""; // being written
        }
        return partial.toString(StandardCharsets.UTF_8);
    }

    /** {@code cloister worker run --backend gramine-direct} with real Gramine (scripts/gramine-local). */
    @Test
    void workerRunUnderRealGramineDirectPublishesOutputsTheOwnerFetches() throws Exception {
        String prefix = gramine();
        Bundle cp = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/cp")), tmp.resolve("bundle-cp"),
                false).dir());
        Files.writeString(tmp.resolve("in.txt"), "the whole secret text\n");
        Path job = Files.writeString(tmp.resolve("job-cp.yaml"), """
                name: cp
                bundle: {path: %s, policy: "E:%s SIM:ALLOW"}
                inputs: [{name: words, file: in.txt, path: /inputs/in.txt}]
                outputs: [{name: copy, path: /outputs/copy.txt}]
                args: [/inputs/in.txt, /outputs/copy.txt]
                backend: gramine-direct
                broker: %s
                repository: repo
                """.formatted(cp.dir(), cp.measurement(), base));
        CliRun submit = run("job", "submit", job.toString(), "--ca", ca.toString(), "--token-file", token.toString(),
                "--namespace", "lab", "--keys", tmp.resolve("keys").toString());
        assertThat(submit.code()).as(submit.err()).isZero();
        String id = submit.out().strip();
        Path err = tmp.resolve("gd.err");
        Process w = worker(id, err, prefix + "/bin:/usr/bin:/bin");
        assertThat(w.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String said = Files.readString(err);
        assertThat(w.exitValue()).as(said).isZero();
        assertThat(said).contains("[SIMULATED attestation]");
        assertThat(Files.readString(tmp.resolve("gd.err.out"))).contains("[SIMULATED: gramine-direct]");
        CliRun ok = fetch(id, tmp.resolve("out"));
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(tmp.resolve("out/copy")).hasContent("the whole secret text\n");
    }

    @Test
    void aRepositoryFolderThatDoesNotExistIsAnErrorAndIsNotCreated() {
        Path nowhere = tmp.resolve("no/such/repo");
        CliRun fetch = run("job", "fetch", "x-0000000000", tmp.resolve("out").toString(), "--repository", nowhere.toString(),
                "--keys", tmp.resolve("keys").toString());
        assertThat(fetch.code()).isEqualTo(3);
        assertThat(fetch.err()).contains("no repository at " + nowhere);
        CliRun work = run("worker", "run", "x-0000000000", "--repository", nowhere.toString());
        assertThat(work.code()).isEqualTo(3);
        assertThat(work.err()).contains("no repository at " + nowhere);
        assertThat(tmp.resolve("no")).doesNotExist();
        assertThat(tmp.resolve("out")).doesNotExist();
    }

    private static List<Path> tree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.sorted().toList();
        }
    }
}
