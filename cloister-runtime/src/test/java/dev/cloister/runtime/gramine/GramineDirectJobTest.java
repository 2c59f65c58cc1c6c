package dev.cloister.runtime.gramine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.LocalBroker;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.worker.Worker;
import dev.cloister.runtime.worker.WorkerBundles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs under real gramine-direct (built by scripts/gramine-local; {@link TestGramine}): unmodified bundles made by
 * {@code cloister build}, the key from a real broker through Cloister's launcher inside Gramine (SIMULATED
 * evidence), inputs read and outputs written by Gramine's own encrypted mounts, fetched and decrypted by
 * Cloister's pf library, and compared with a direct run of the same program on the plaintext.
 */
class GramineDirectJobTest {
    @TempDir
    Path tmp;

    private LocalBroker broker;
    private Repository repo;
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    @BeforeEach
    void start() throws Exception {
        TestGramine.prefix();
        broker = LocalBroker.start(tmp.resolve("broker"), "alice");
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    static final String UPPER_C = """
            #include <stdio.h>
            #include <ctype.h>
            int main(int argc, char **argv) {
                FILE *in = fopen(argv[1], "r");
                if (!in) { perror(argv[1]); return 2; }
                FILE *out = fopen(argv[2], "w");
                if (!out) { perror(argv[2]); return 3; }
                int c; long n = 0;
                while ((c = fgetc(in)) != EOF) { fputc(toupper(c), out); n++; }
                if (argc > 3 && !fopen(argv[3], "r")) { perror(argv[3]); return 4; }
                fclose(out);
                printf("%ld bytes\\n", n);
                return 0;
            }
            """;

    private Path upperBinary() throws Exception {
        Path src = tmp.resolve("upper.c");
        Files.writeString(src, UPPER_C);
        Path bin = Files.createDirectories(tmp.resolve("app")).resolve("upper");
        run(List.of("gcc", "-O2", "-o", bin.toString(), src.toString()));
        return bin;
    }

    private static String run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(cmd + ": " + out).isZero();
        return out;
    }

    private JobRecord submit(Bundle b, String policy, List<JobSpec.Input> inputs, List<JobSpec.Output> outputs,
            List<String> args) throws Exception {
        JobSpec spec = new JobSpec("gd", new JobSpec.Bundle(b.dir().toString(), null, policy), inputs, outputs, args,
                Map.of(), "gramine-direct", "unused", "unused");
        return owner().submit(spec, tmp, b.dir(), b.measurement());
    }

    private OwnerJobs owner() {
        return new OwnerJobs(repo, new KbsBroker(broker.owner(), "alice"), tmp.resolve("keys"));
    }

    private Worker worker() {
        return new Worker(repo, new KbsBroker(broker.anonymous(), "alice"), WorkerBundles::open, null,
                new GramineRunner(TestGramine.path(), null, null, log::add));
    }

    private JobResult runJob(JobRecord rec) throws Exception {
        return worker().run(rec.id(), null, Files.createDirectories(tmp.resolve("work-" + rec.id())), p -> {});
    }

    private Bundle upperBundle() throws Exception {
        Path bin = upperBinary();
        return Bundle.open(BundleBuilder.build(BuildOptions.dir(bin.getParent(), "upper"), tmp.resolve("bundle"),
                false).dir());
    }

    private JobRecord submitUpper(Bundle b, String policy, String... extraArgs) throws Exception {
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        List<String> args = new ArrayList<>(List.of("/inputs/secret.txt", "/outputs/upper.txt"));
        args.addAll(List.of(extraArgs));
        return submit(b, policy, List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")), args);
    }

    private static CloisterException.Kind kind(Throwable e) {
        return ((CloisterException) e).kind();
    }

    @Test
    void aWrongKeyStopsTheJobInsideGramineBeforeTheProgramRunsAndNothingIsPublished() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, "E:" + b.measurement() + " SIM:ALLOW");
        // The untrusted side swaps the input for a well-formed encrypted file under another key, bound correctly.
        Path forged = tmp.resolve("forged.pf");
        try (dev.cloister.pf.PfKey other = dev.cloister.pf.PfKey.generate()) {
            dev.cloister.core.AtomicFiles.<dev.cloister.pf.PfException>write(forged, true, ch ->
                    dev.cloister.pf.ProtectedFiles.encrypt(new java.io.ByteArrayInputStream("retreat\n".getBytes()),
                            ch, other, "inputs/secret.txt", dev.cloister.pf.PfVersion.V2, n -> {}));
        }
        JobRecord.Input in = rec.inputs().getFirst();
        JobRecord swapped = new JobRecord(rec.id(), rec.name(), rec.bundlePath(), rec.measurement(), rec.policy(),
                rec.secret(), rec.broker(), rec.backend(), rec.args(), rec.env(),
                List.of(new JobRecord.Input(in.name(), in.path(), repo.put(forged).hex(), 8, in.bound())), rec.outputs());
        repo.putRef(JobRecord.ref(rec.id()), swapped.toBytes());
        assertThatThrownBy(() -> runJob(rec))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("input /inputs/secret.txt does not authenticate with the key the broker released")
                .satisfies(e -> assertThat(kind(e)).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        assertThat(tmp.resolve("work-" + rec.id()).resolve("enclave/outputs")).doesNotExist();
        assertThat(log).noneMatch(l -> l.contains("bytes")); // the program never ran
    }

    @Test
    void withoutSimAllowTheBrokerRefusesTheSimulatedEvidenceAndNothingRuns() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, "E:" + b.measurement());
        assertThatThrownBy(() -> runJob(rec))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("did not obtain the job key")
                .satisfies(e -> assertThat(kind(e)).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        assertThat(new KbsBroker(broker.owner(), "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release denied").contains("simulated evidence is not allowed"));
        assertThat(log).noneMatch(l -> l.contains("bytes"));
    }

    @Test
    void aTrustedFileChangedAfterCloistersCheckIsRefusedByGramineNamingIt() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, "E:" + b.measurement() + " SIM:ALLOW");
        Path program = b.dir().resolve("root/app/upper");
        byte[] bytes = Files.readAllBytes(program);
        bytes[bytes.length - 1] ^= 1;
        Files.write(program, bytes);
        // The worker's own check comes first: exit 1 naming the file.
        assertThatThrownBy(() -> runJob(rec))
                .isInstanceOf(CloisterException.class).hasMessageContaining("/app/upper")
                .satisfies(e -> assertThat(kind(e).exitCode()).isEqualTo(1));
        // A host that changes the file after that check meets Gramine's: it refuses the file, and so does Cloister.
        Path work = tmp.resolve("work-tampered");
        assertThatThrownBy(() -> new DirectRun(TestGramine.path(), log::add).run(rec, repo,
                new KbsBroker(broker.anonymous(), "alice"), b, TestGramine.prefix().resolve("bin/gramine-direct"), work,
                false))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("Gramine refused /app/upper: its content does not match the SHA-256 in the bundle's manifest")
                .satisfies(e -> assertThat(kind(e).exitCode()).isEqualTo(1));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        assertThat(work.resolve("enclave/outputs")).doesNotExist();
    }

    @Test
    void aFileTheBundleDoesNotHaveIsNamedWithHowToIncludeIt() throws Exception {
        Bundle b = upperBundle();
        // Outside /tmp, which the enclave mounts as its own tmpfs.
        Path dir = Files.createTempDirectory(Path.of("/var/tmp"), "cloister-gd-");
        try {
            Path conf = Files.writeString(dir.resolve("upper.conf"), "x\n");
            JobRecord rec = submitUpper(b, "E:" + b.measurement() + " SIM:ALLOW", conf.toString());
            JobResult res = runJob(rec);
            assertThat(res.programExit()).isEqualTo(4);
            assertThat(res.outputs()).isEmpty();
            assertThat(log).contains("the program looked for " + conf + ", which the bundle does not have; add it with "
                    + "'cloister build ... --include " + conf + "' and run the job with the new bundle");
        } finally {
            dev.cloister.core.AtomicFiles.deleteTree(dir);
        }
    }

    @Test
    void aCProgramRunsUnderGramineDirectAndItsOutputEqualsADirectRun() throws Exception {
        Path bin = upperBinary();
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(bin.getParent(), "upper"), tmp.resolve("bundle"),
                false).dir());
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n".repeat(1000));
        JobRecord rec = submit(b, "E:" + b.measurement() + " SIM:ALLOW",
                List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")),
                List.of("/inputs/secret.txt", "/outputs/upper.txt"));
        assertThat(rec.inputs().getFirst().bound()).isEqualTo("inputs/secret.txt");

        JobResult res = runJob(rec);
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        assertThat(res.backend()).isEqualTo("gramine-direct");
        assertThat(res.simulated()).isTrue();
        assertThat(log).contains("15000 bytes");
        // Gramine's encrypted mount wrote it: ciphertext in the repository, plaintext only after the owner's fetch.
        assertThat(new String(repo.getBytes(ObjectId.parse(res.outputs().getFirst().object())), StandardCharsets.ISO_8859_1))
                .doesNotContain("ATTACK");
        owner().fetch(rec.id(), tmp.resolve("out"));

        run(List.of(bin.toString(), tmp.resolve("secret.txt").toString(), tmp.resolve("direct.txt").toString()));
        assertThat(Files.readAllBytes(tmp.resolve("out/result"))).isEqualTo(Files.readAllBytes(tmp.resolve("direct.txt")));
        assertThat(new KbsBroker(broker.owner(), "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release ok").contains("SIMULATED"));

        // The manifest Gramine ran: the bundle's trusted files with their hashes, no insecure key.
        String manifest = Files.readString(tmp.resolve("work-" + rec.id()).resolve("enclave/entrypoint.manifest"));
        assertThat(manifest).doesNotContain("insecure").contains("libos.entrypoint = \"/cloister/launcher\"");
        for (var f : b.files()) {
            assertThat(manifest).contains("{ sha256 = \"" + f.sha256() + "\", uri = \"file:root" + f.path() + "\" }");
        }
    }
}
