package dev.cloister.runtime.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.LocalBroker;
import dev.cloister.kbs.Tls;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.repo.S3ProxyServer;
import dev.cloister.runtime.repo.S3Repository;
import dev.cloister.runtime.sandbox.Bubblewrap;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.sandbox.UnshareSandbox;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole confidential-job flow with real parts: a key broker over HTTPS on SQLite, a bundle of a real program,
 * the owner's submit and fetch, and a worker running the simulated enclave (bubblewrap, nested).
 */
class ConfidentialJobTest {
    @TempDir
    Path tmp;

    private LocalBroker broker;
    private KbsClient owner;
    private KbsClient anonymous;
    private Repository repo;

    @BeforeEach
    void start() throws Exception {
        broker = LocalBroker.start(tmp.resolve("broker"), "alice");
        owner = broker.owner();
        anonymous = broker.anonymous();
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private static final String UPPER_C = """
            #include <stdio.h>
            #include <ctype.h>
            int main(int argc, char **argv) {
                FILE *in = fopen(argv[1], "r");
                if (!in) { perror(argv[1]); return 2; }
                FILE *out = fopen(argv[2], "w");
                if (!out) { perror(argv[2]); return 3; }
                int c; long n = 0;
                while ((c = fgetc(in)) != EOF) { fputc(toupper(c), out); n++; }
                fclose(out);
                printf("%ld bytes\\n", n);
                return 0;
            }
            """;

    private Bundle upperBundle() throws Exception {
        Path src = tmp.resolve("upper.c");
        Files.writeString(src, UPPER_C);
        Path bin = Files.createDirectories(tmp.resolve("app")).resolve("upper");
        Process cc = new ProcessBuilder("gcc", "-O2", "-o", bin.toString(), src.toString()).inheritIO().start();
        assertThat(cc.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(cc.exitValue()).isZero();
        return Bundle.open(BundleBuilder.build(BuildOptions.dir(bin.getParent(), "upper"), tmp.resolve("bundle"), false).dir());
    }

    private JobSpec spec(Bundle b, String policy) {
        return new JobSpec("upper", new JobSpec.Bundle(b.dir().toString(), null, policy),
                List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")),
                List.of("/inputs/secret.txt", "/outputs/upper.txt"), Map.of(), "sim", "unused", "unused");
    }

    private Worker worker() {
        return worker(new Bubblewrap());
    }

    private Worker worker(Sandbox sandbox) {
        return new Worker(repo, new KbsBroker(anonymous, "alice"), dir -> WorkerBundles.open(dir),
                new SimEnclave(LauncherMain.class.getName(), sandbox));
    }

    @Test
    void withoutBubblewrapTheEnclaveFallsBackToUnshare() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, repo);
        JobResult res = worker(new UnshareSandbox()).run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {});
        if (res.programExit() != 0) {
            try {
                new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("failed"));
            } catch (CloisterException e) {
                System.err.println("program stderr: " + Files.readString(tmp.resolve("failed/stderr.txt")));
            }
        }
        assertThat(res.programExit()).isZero();
        new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("out"));
        assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo("ATTACK AT DAWN\n");
    }

    @Test
    void anAllowedEnclaveRunsTheProgramAndOnlyTheOwnerReadsTheOutput() throws Exception {
        Bundle b = upperBundle();
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        JobRecord rec = jobs.submit(spec(b, "E:" + b.measurement() + " SIM:ALLOW"), tmp, b.dir(), b.measurement());

        // The repository holds no plaintext.
        ObjectId in = ObjectId.parse(rec.inputs().get(0).object());
        assertThat(new String(repo.getBytes(in), StandardCharsets.ISO_8859_1)).doesNotContain("attack");

        List<String> stages = new ArrayList<>();
        JobResult res = worker().run(rec.id(), Files.createDirectories(tmp.resolve("work")),
                p -> stages.add(p.path("stage").asText()));
        if (res.programExit() != 0) {
            try {
                jobs.fetch(rec.id(), tmp.resolve("failed"));
            } catch (CloisterException e) {
                System.err.println(Files.readString(tmp.resolve("failed/stderr.txt")));
            }
        }
        assertThat(res.programExit()).isZero();
        assertThat(res.simulated()).isTrue();
        assertThat(stages).containsSubsequence("measured", "key released", "inputs decrypted", "program exited");
        assertThat(new String(repo.getBytes(ObjectId.parse(res.outputs().get(0).object())), StandardCharsets.ISO_8859_1))
                .doesNotContain("ATTACK");

        List<OwnerJobs.Fetched> got = jobs.fetch(rec.id(), tmp.resolve("out"));
        assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo("ATTACK AT DAWN\n");
        assertThat(Files.readString(tmp.resolve("out/stdout.txt"))).isEqualTo("15 bytes\n");
        assertThat(got).extracting(OwnerJobs.Fetched::name).containsExactly("result", "stdout", "stderr");
        assertThat(new KbsBroker(owner, "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release ok"));
    }

    @Test
    void aPolicyForAnotherMeasurementIsDeniedAndNothingRuns() throws Exception {
        Bundle b = upperBundle();
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        String other = "00".repeat(32);
        JobRecord rec = jobs.submit(spec(b, "E:" + other + " SIM:ALLOW"), tmp, b.dir(), b.measurement());
        assertThatThrownBy(() -> worker().run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining(dev.cloister.kbs.KeyBroker.RELEASE_DENIED)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        // The workload learns nothing about the policy; the owner reads why in the audit log.
        assertThat(new KbsBroker(owner, "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release denied policy denied: mrenclave"));
    }

    @Test
    void aTamperedInputStopsTheJobBeforeTheProgramRuns() throws Exception {
        Bundle b = upperBundle();
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        JobRecord rec = jobs.submit(spec(b, "E:" + b.measurement() + " SIM:ALLOW"), tmp, b.dir(), b.measurement());
        // The untrusted side swaps the input for a tampered copy: same record, new object.
        byte[] ct = repo.getBytes(ObjectId.parse(rec.inputs().get(0).object()));
        ct[1000] ^= 1; // inside the metadata node's encrypted part, which holds this short file's data
        ObjectId bad = repo.put(ct);
        JobRecord forged = new JobRecord(rec.id(), rec.name(), rec.bundlePath(), rec.measurement(), rec.policy(),
                rec.secret(), rec.broker(), rec.backend(), rec.args(), rec.env(),
                List.of(new JobRecord.Input("text", "/inputs/secret.txt", bad.hex(), 15)), rec.outputs());
        repo.putRef(JobRecord.ref(rec.id()), forged.toBytes());
        List<String> stages = new ArrayList<>();
        assertThatThrownBy(() -> worker().run(rec.id(), Files.createDirectories(tmp.resolve("work")),
                p -> stages.add(p.path("stage").asText())))
                .isInstanceOf(CloisterException.class);
        assertThat(stages).contains("key released").doesNotContain("program exited");
    }

    private JobRecord submitUpper(Bundle b, Repository r) throws Exception {
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        OwnerJobs jobs = new OwnerJobs(r, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        return jobs.submit(spec(b, "E:" + b.measurement() + " SIM:ALLOW"), tmp, b.dir(), b.measurement());
    }

    @Test
    void sqlite3QueriesAnEncryptedDatabase() throws Exception {
        Path db = tmp.resolve("clinic.db");
        Process mk = new ProcessBuilder("sqlite3", db.toString(), "create table v(g text, x real);"
                + "insert into v values ('a', 1.5), ('a', 2.5), ('b', 10), ('b', 11), ('b', 12);")
                .inheritIO().start();
        assertThat(mk.waitFor()).isZero();
        String query = "select g, count(*), avg(x) from v group by g order by g;";
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sqlite3")),
                tmp.resolve("sq"), false).dir());
        JobSpec js = new JobSpec("sq", new JobSpec.Bundle(b.dir().toString(), null, "E:" + b.measurement() + " SIM:ALLOW"),
                List.of(new JobSpec.Input("db", "clinic.db", "/inputs/clinic.db")),
                List.of(new JobSpec.Output("report", "/outputs/report.csv")),
                List.of("-readonly", "-csv", "-cmd", ".output /outputs/report.csv", "/inputs/clinic.db", query),
                Map.of(), "sim", "unused", "unused");
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        JobRecord rec = jobs.submit(js, tmp, b.dir(), b.measurement());
        JobResult res = worker().run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {});
        assertThat(res.programExit()).isZero();
        jobs.fetch(rec.id(), tmp.resolve("out"));
        Process direct = new ProcessBuilder("sqlite3", "-readonly", "-csv", db.toString(), query).start();
        String expected = new String(direct.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(direct.waitFor()).isZero();
        assertThat(expected).contains("a,2,2.0");
        assertThat(Files.readString(tmp.resolve("out/report"))).isEqualTo(expected);
    }

    @Test
    void theSameFlowWorksWithAnS3Repository() throws Exception {
        try (S3ProxyServer s3 = S3ProxyServer.start(Files.createDirectories(tmp.resolve("s3")))) {
            try (S3Client admin = S3Client.builder().httpClientBuilder(UrlConnectionHttpClient.builder())
                    .endpointOverride(s3.endpoint).forcePathStyle(true).region(Region.US_EAST_1)
                    .credentialsProvider(S3ProxyServer.credentials()).build()) {
                admin.createBucket(x -> x.bucket("jobs"));
            }
            repo = S3Repository.open(s3.endpoint, "us-east-1", "jobs", "alice", S3ProxyServer.credentials());
            Bundle b = upperBundle();
            JobRecord rec = submitUpper(b, repo);
            JobResult res = worker().run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {});
            assertThat(res.programExit()).isZero();
            new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("out"));
            assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo("ATTACK AT DAWN\n");
        }
    }

    @Test
    void aJobRunsAgainAfterAnInterruptedOrRepeatedRun() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, repo);
        Path work = Files.createDirectories(tmp.resolve("work"));
        // An interrupted run leaves scratch files and no result; a new run starts over and publishes one.
        Files.createDirectories(work.resolve("out"));
        Files.writeString(work.resolve("out/result.pf"), "half-written");
        worker().run(rec.id(), work, p -> {});
        JobResult again = worker().run(rec.id(), work, p -> {});
        assertThat(again.programExit()).isZero();
        new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("out"));
        assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo("ATTACK AT DAWN\n");
    }

    @Test
    void anUnreachableBrokerOrAMissingObjectIsAClearError() throws Exception {
        Bundle b = upperBundle();
        JobRecord rec = submitUpper(b, repo);
        KbsClient nowhere = new KbsClient(URI.create("https://127.0.0.1:1"), null,
                Tls.clientContextTrusting(Tls.selfSigned(Instant.now()).chain()[0]));
        Worker w = new Worker(repo, new KbsBroker(nowhere, "alice"), WorkerBundles::open,
                new SimEnclave(LauncherMain.class.getName(), new Bubblewrap()));
        assertThatThrownBy(() -> w.run(rec.id(), Files.createDirectories(tmp.resolve("w1")), p -> {}))
                .isInstanceOf(CloisterException.class).hasMessageContaining("cannot reach broker")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT));
        String obj = rec.inputs().get(0).object();
        Files.delete(tmp.resolve("repo/objects/sha256").resolve(obj.substring(0, 2)).resolve(obj.substring(2)));
        assertThatThrownBy(() -> worker().run(rec.id(), Files.createDirectories(tmp.resolve("w2")), p -> {}))
                .isInstanceOf(CloisterException.class)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
    }

    @Test
    void aRejectedSubmissionLeavesNoKeyAndNoJob() throws Exception {
        Bundle b = upperBundle();
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
        // A missing input is found before anything is created.
        assertThatThrownBy(() -> jobs.submit(spec(b, "E:" + b.measurement() + " SIM:ALLOW"), tmp, b.dir(),
                b.measurement()))
                .isInstanceOf(CloisterException.class).hasMessageContaining("input text: no readable file")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
        assertThat(tmp.resolve("keys")).doesNotExist();
        // A policy the broker refuses fails after the key was made: the key file is removed again.
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        assertThatThrownBy(() -> jobs.submit(spec(b, "E:not-hex"), tmp, b.dir(), b.measurement()))
                .isInstanceOf(CloisterException.class)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
        try (var keys = Files.list(tmp.resolve("keys"))) {
            assertThat(keys.toList()).isEmpty();
        }
        try (var refs = Files.walk(tmp.resolve("repo/refs"))) {
            assertThat(refs.filter(Files::isRegularFile).toList()).isEmpty();
        }
    }
}
