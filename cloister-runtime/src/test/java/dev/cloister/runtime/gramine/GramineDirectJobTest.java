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
    void aJobWhoseInputsWereEncryptedForSimIsRefusedBeforeGramineStarts() throws Exception {
        Bundle b = upperBundle();
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        JobSpec spec = new JobSpec("gd", new JobSpec.Bundle(b.dir().toString(), null, "E:" + b.measurement() + " SIM:ALLOW"),
                List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")),
                List.of("/inputs/secret.txt", "/outputs/upper.txt"), Map.of(), "sim", "unused", "unused");
        JobRecord rec = owner().submit(spec, tmp, b.dir(), b.measurement());
        assertThat(rec.inputs().getFirst().bound()).isEqualTo("/inputs/secret.txt");
        Path work = tmp.resolve("work-sim");
        assertThatThrownBy(() -> worker().run(rec.id(), "gramine-direct", work, p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("input text is bound to /inputs/secret.txt, but Gramine's encrypted mount opens it "
                        + "only when bound to inputs/secret.txt")
                .hasMessageContaining("'backend: gramine-direct'")
                .satisfies(e -> assertThat(kind(e).exitCode()).isEqualTo(3));
        assertThat(work).doesNotExist();
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
    }

    @Test
    void aBundleBuiltForGramineSecretProvisioningRunsUnderGramineDirectWithTheLauncherInstead() throws Exception {
        Path bin = upperBinary();
        Path ca = Files.writeString(tmp.resolve("broker.pem"), broker.certificatePem());
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(bin.getParent(), "upper")
                .withBroker(java.util.Optional.of(ca), java.util.Optional.empty()), tmp.resolve("bundle-ca"), false).dir());
        assertThat(b.spec().keyBroker()).isTrue();
        JobRecord rec = submitUpper(b, "E:" + b.measurement() + " SIM:ALLOW");
        JobResult res = runJob(rec);
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        owner().fetch(rec.id(), tmp.resolve("out"));
        assertThat(tmp.resolve("out/result")).hasContent("ATTACK AT DAWN\n");
    }

    @Test
    void anInputSwappedInTheRecordGetsNoKeyAndAnInputSwappedUnderTheRecordDoesNotAuthenticate() throws Exception {
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
        // The edited record is what the launcher hashes: the broker releases no key for it (uniform denial; the
        // owner's audit log has the reason).
        assertThatThrownBy(() -> runJob(rec))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining(dev.cloister.kbs.KeyBroker.RELEASE_DENIED)
                .satisfies(e -> assertThat(kind(e)).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(new KbsBroker(broker.owner(), "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release denied").contains("not the registered " + rec.hashHex()))
                .noneSatisfy(l -> assertThat(l).contains("release ok"));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        assertThat(tmp.resolve("work-" + rec.id()).resolve("enclave/outputs")).doesNotExist();
        assertThat(log).noneMatch(l -> l.contains("bytes")); // the program never ran
        // A host that keeps the genuine record but puts the forged file where its input goes: the key is released
        // for the genuine record, and Gramine's encrypted mount refuses the file (another key).
        Path work = Files.createDirectories(tmp.resolve("work-swap-under"));
        DirectRun liar = new DirectRun(TestGramine.path(), log::add).lyingInput(rec.inputs().getFirst().name(), forged);
        assertThatThrownBy(() -> liar.run(rec, repo, new KbsBroker(broker.anonymous(), "alice"), b,
                TestGramine.prefix().resolve("bin/gramine-direct"), work, true))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("input /inputs/secret.txt does not authenticate with the key the broker released")
                .satisfies(e -> assertThat(kind(e)).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isEmpty();
        assertThat(log).noneMatch(l -> l.contains("bytes"));
    }

    /** The record with other args, env or inputs (the host's edits). */
    private static JobRecord edited(JobRecord r, List<String> args, Map<String, String> env, List<JobRecord.Input> in) {
        return new JobRecord(r.id(), r.name(), r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.broker(),
                r.backend(), args, env, in, r.outputs(), r.keys());
    }

    @Test
    void aRecordEditedByTheHostGetsNoKeyAndTheProgramNeverRunsUnderGramineDirect() throws Exception {
        Bundle b = upperBundle();
        Files.writeString(tmp.resolve("a.txt"), "attack at dawn\n");
        Files.writeString(tmp.resolve("b.txt"), "retreat at dusk\n");
        JobSpec spec = new JobSpec("gd", new JobSpec.Bundle(b.dir().toString(), null, "E:" + b.measurement() + " SIM:ALLOW"),
                List.of(new JobSpec.Input("a", "a.txt", "/inputs/a.txt"), new JobSpec.Input("b", "b.txt", "/inputs/b.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")),
                List.of("/inputs/a.txt", "/outputs/upper.txt"), Map.of("MODE", "plain"), "gramine-direct", "unused",
                "unused");
        JobRecord rec = owner().submit(spec, tmp, b.dir(), b.measurement());
        byte[] genuine = repo.getRef(JobRecord.ref(rec.id())).orElseThrow();
        JobRecord.Input a = rec.inputs().get(0);
        JobRecord.Input bIn = rec.inputs().get(1);
        Map<String, JobRecord> edits = new java.util.LinkedHashMap<>();
        edits.put("args", edited(rec, List.of("/inputs/b.txt", "/outputs/upper.txt"), rec.env(), rec.inputs()));
        edits.put("env", edited(rec, rec.args(), Map.of("MODE", "tampered"), rec.inputs()));
        edits.put("input paths swapped", edited(rec, rec.args(), rec.env(), List.of(
                new JobRecord.Input(a.name(), bIn.path(), a.object(), a.size(), bIn.bound()),
                new JobRecord.Input(bIn.name(), a.path(), bIn.object(), bIn.size(), a.bound()))));
        edits.put("input objects swapped", edited(rec, rec.args(), rec.env(), List.of(
                new JobRecord.Input(a.name(), a.path(), bIn.object(), bIn.size(), a.bound()),
                new JobRecord.Input(bIn.name(), bIn.path(), a.object(), a.size(), bIn.bound()))));
        Path gd = TestGramine.prefix().resolve("bin/gramine-direct");
        KbsBroker anon = new KbsBroker(broker.anonymous(), "alice");
        for (Map.Entry<String, JobRecord> e : edits.entrySet()) {
            // 1. The host runs its edited record: the launcher hashes what it runs, the broker wants the owner's.
            repo.putRef(JobRecord.ref(rec.id()), e.getValue().toBytes());
            assertThatThrownBy(() -> runJob(rec)).as(e.getKey())
                    .isInstanceOf(CloisterException.class)
                    .hasMessageContaining(dev.cloister.kbs.KeyBroker.RELEASE_DENIED)
                    .satisfies(x -> assertThat(kind(x)).isEqualTo(CloisterException.Kind.DENIED));
            // 2. The host lays out its edit but hands the launcher the genuine record (whose hash the broker would
            // accept): the launcher finds that what it was set up to run is not that record.
            assertThatThrownBy(() -> new DirectRun(TestGramine.path(), log::add).lyingRecordFile(rec.canonicalBytes())
                    .run(e.getValue(), repo, anon, b, gd, tmp.resolve("work-lie-" + e.getKey().replace(' ', '-')), true))
                    .as(e.getKey())
                    .isInstanceOf(CloisterException.class)
                    .satisfies(x -> assertThat(kind(x)).isEqualTo(CloisterException.Kind.DENIED))
                    .satisfies(x -> assertThat(x.getMessage()).containsAnyOf("differs from the job record",
                            "does not authenticate with the key the broker released"));
            assertThat(log).as(e.getKey()).noneMatch(l -> l.contains("bytes")); // the program never ran
            assertThat(repo.getRef(JobResult.ref(rec.id()))).as(e.getKey()).isEmpty();
        }
        assertThat(log).anySatisfy(l -> assertThat(l).contains("the program's argv[1] is not the record's args[0]"))
                .anySatisfy(l -> assertThat(l).contains("the record's env MODE is not set to the record's value"));
        // The edited record written over the listed one after the manifest was made: Gramine refuses to open it.
        JobRecord argsEdit = edits.get("args");
        assertThatThrownBy(() -> new DirectRun(TestGramine.path(), log::add).lyingAfterLayout(dir -> {
            try {
                Files.write(dir.resolve("cloister/job.json"), argsEdit.canonicalBytes());
            } catch (java.io.IOException x) {
                throw new java.io.UncheckedIOException(x);
            }
        }).run(rec, repo, anon, b, gd, tmp.resolve("work-lie-file"), true))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("Gramine refused cloister/job.json: its content does not match the SHA-256")
                .satisfies(x -> assertThat(kind(x)).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(log).noneMatch(l -> l.contains("bytes"));
        // 3. A host that states a record hash of its own (the genuine one) in its key requests: the launcher takes
        // none from the host, so it refuses the request and asks for no key.
        repo.putRef(JobRecord.ref(rec.id()), genuine);
        assertThatThrownBy(() -> new DirectRun(TestGramine.path(), log::add).lyingKeyLines(" " + rec.hashHex())
                .run(rec, repo, anon, b, gd, tmp.resolve("work-lie-hash"), true))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("the host states no record hash");
        // Every edited record was denied; the key went out only to launchers holding the genuine record, twice: the
        // two input swaps under it (the record names who goes where, Gramine's encrypted mount refused the files).
        List<String> history = new KbsBroker(broker.owner(), "alice").history(rec.secret());
        assertThat(history.stream().filter(l -> l.contains("release denied")
                && l.contains("not the registered " + rec.hashHex()))).hasSize(edits.size());
        assertThat(history.stream().filter(l -> l.contains("release ok"))).hasSize(2)
                .allSatisfy(l -> assertThat(l).contains(" record " + rec.hashHex() + " "));
        assertThat(log).noneMatch(l -> l.contains("bytes"));

        // The genuine record runs, and the release names it.
        JobResult res = runJob(rec);
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        owner().fetch(rec.id(), tmp.resolve("out"));
        assertThat(tmp.resolve("out/result")).hasContent("ATTACK AT DAWN\n");
        assertThat(new KbsBroker(broker.owner(), "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release ok").contains(" record " + rec.hashHex() + " "));
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
    void sqlite3ReadsAnEncryptedDatabaseAndWritesAnEncryptedOneLikeADirectRun() throws Exception {
        Path db = tmp.resolve("plain.db");
        StringBuilder sql = new StringBuilder("BEGIN; CREATE TABLE t(grp TEXT, v INTEGER);");
        for (int i = 0; i < 2000; i++) {
            sql.append("INSERT INTO t VALUES('g").append(i % 7).append("',").append(i * 37 % 1001).append(");");
        }
        run(List.of("sqlite3", db.toString(), sql.append("COMMIT;").toString()));
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/sqlite3")), tmp.resolve("sq"),
                false).dir());
        String query = "SELECT grp, count(*), sum(v) FROM t GROUP BY grp ORDER BY grp;";
        String summarise = "CREATE TABLE s AS SELECT grp, count(*) AS n, sum(v) AS total FROM src.t GROUP BY grp;";
        JobRecord rec = submit(b, "E:" + b.measurement() + " SIM:ALLOW",
                List.of(new JobSpec.Input("db", "plain.db", "/inputs/data.db")),
                List.of(new JobSpec.Output("result", "/outputs/result.txt"),
                        new JobSpec.Output("summary", "/outputs/summary.db")),
                List.of("/outputs/summary.db", "ATTACH '/inputs/data.db' AS src;", summarise,
                        ".output /outputs/result.txt", "SELECT grp, n, total FROM s ORDER BY grp;", query.replace("FROM t", "FROM src.t")));
        JobResult res = runJob(rec);
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        owner().fetch(rec.id(), tmp.resolve("out"));

        Path direct = tmp.resolve("direct.db");
        run(List.of("sqlite3", direct.toString(), "ATTACH '" + db + "' AS src;", summarise, ".output "
                + tmp.resolve("direct.txt"), "SELECT grp, n, total FROM s ORDER BY grp;", query.replace("FROM t", "FROM src.t")));
        assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo(Files.readString(tmp.resolve("direct.txt")))
                .contains("g6|285|");
        String dump = "SELECT * FROM s ORDER BY grp;";
        assertThat(run(List.of("sqlite3", tmp.resolve("out/summary").toString(), dump)))
                .isEqualTo(run(List.of("sqlite3", direct.toString(), dump)));
    }

    static final String STATS_PY = """
            #!/usr/bin/python3
            import csv, json, statistics, sys
            groups = {}
            with open(sys.argv[1], newline="") as f:
                for row in csv.DictReader(f):
                    groups.setdefault(row["group"], []).append(float(row["ldl"]))
            summary = {g: {"n": len(v), "mean": round(statistics.fmean(v), 3), "stdev": round(statistics.stdev(v), 3)}
                       for g, v in sorted(groups.items())}
            with open(sys.argv[2], "w") as out:
                json.dump(summary, out, indent=1, sort_keys=True)
                out.write("\\n")
            print("analysed", sum(s["n"] for s in summary.values()), "records in", len(summary), "groups")
            """;

    @Test
    void thePython3AnalysisOfTheDemoRunsUnderGramineDirectLikeADirectRun() throws Exception {
        Path app = Files.createDirectories(tmp.resolve("py"));
        Path script = Files.writeString(app.resolve("stats.py"), STATS_PY);
        script.toFile().setExecutable(true);
        List<String> stdlib = run(List.of("/usr/bin/python3", "-c", """
                import sys, csv, json, statistics
                for m in list(sys.modules.values()):
                    f = getattr(m, "__file__", None)
                    if f and f.startswith(sys.base_prefix + "/lib/python3"):
                        print(f)
                """)).lines().distinct().sorted().toList();
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "stats.py").withIncludes(stdlib),
                tmp.resolve("pyb"), false).dir());
        StringBuilder csv = new StringBuilder("id,group,ldl\n");
        java.util.Random r = new java.util.Random(7);
        for (int i = 0; i < 3000; i++) {
            csv.append(i).append(",").append("abc".charAt(i % 3)).append(",")
                    .append(String.format(java.util.Locale.ROOT, "%.2f", 2 + r.nextGaussian())).append("\n");
        }
        Files.writeString(tmp.resolve("patients.csv"), csv);
        JobRecord rec = submit(b, "E:" + b.measurement() + " SIM:ALLOW",
                List.of(new JobSpec.Input("patients", "patients.csv", "/inputs/patients.csv")),
                List.of(new JobSpec.Output("summary", "/outputs/summary.json")),
                List.of("/inputs/patients.csv", "/outputs/summary.json"));
        JobResult res = runJob(rec);
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        assertThat(log).contains("analysed 3000 records in 3 groups");
        owner().fetch(rec.id(), tmp.resolve("out"));
        run(List.of("/usr/bin/python3", script.toString(), tmp.resolve("patients.csv").toString(),
                tmp.resolve("direct.json").toString()));
        assertThat(Files.readString(tmp.resolve("out/summary"))).isEqualTo(Files.readString(tmp.resolve("direct.json")));
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
        assertThat(log).contains("15000 bytes").anySatisfy(l -> assertThat(l).startsWith("launcher: the broker released "
                + rec.secret()).endsWith("[SIMULATED attestation]"));
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
