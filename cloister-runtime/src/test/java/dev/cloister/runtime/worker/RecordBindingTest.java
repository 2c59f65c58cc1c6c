package dev.cloister.runtime.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.LocalBroker;
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
import dev.cloister.runtime.sandbox.Bubblewrap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job record is bound to the enclave: whoever controls the worker or the repository edits a submitted job's
 * record, field by field, and each edit is refused before the program starts (the broker releases no key for a
 * record hash other than the one the owner registered); the owner's fetch refuses a record changed after the run.
 * Real parts throughout: a broker over HTTPS, a compiled program in a bundle, the simulated enclave (bubblewrap).
 */
class RecordBindingTest {
    @TempDir
    Path tmp;

    private LocalBroker broker;
    private KbsClient owner;
    private Repository repo;
    private Bundle bundle;

    /** Copies the first file argument to the second, upper-cased; an LD_PRELOAD or other file changes what it sees. */
    private static final String UPPER_C = """
            #include <stdio.h>
            #include <ctype.h>
            #include <stdlib.h>
            int main(int argc, char **argv) {
                FILE *in = fopen(argv[1], "r");
                if (!in) { perror(argv[1]); return 2; }
                FILE *out = fopen(argv[2], "w");
                if (!out) { perror(argv[2]); return 3; }
                int c;
                while ((c = fgetc(in)) != EOF) fputc(toupper(c), out);
                const char *mode = getenv("MODE");
                if (mode) fprintf(out, "MODE=%s\\n", mode);
                fclose(out);
                return 0;
            }
            """;

    @BeforeEach
    void start() throws Exception {
        broker = LocalBroker.start(tmp.resolve("broker"), "alice");
        owner = broker.owner();
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
        Path src = tmp.resolve("upper.c");
        Files.writeString(src, UPPER_C);
        Path bin = Files.createDirectories(tmp.resolve("app")).resolve("upper");
        Process cc = new ProcessBuilder("gcc", "-O2", "-o", bin.toString(), src.toString()).inheritIO().start();
        assertThat(cc.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(cc.exitValue()).isZero();
        bundle = Bundle.open(BundleBuilder.build(BuildOptions.dir(bin.getParent(), "upper"), tmp.resolve("bundle"), false).dir());
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        Files.writeString(tmp.resolve("decoy.txt"), "decoy\n");
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private OwnerJobs jobs() {
        return new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys"));
    }

    private JobRecord submit() throws Exception {
        JobSpec spec = new JobSpec("upper", new JobSpec.Bundle(bundle.dir().toString(), null,
                "E:" + bundle.measurement() + " SIM:ALLOW"),
                List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt"),
                        new JobSpec.Input("decoy", "decoy.txt", "/inputs/decoy.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt")),
                List.of("/inputs/secret.txt", "/outputs/upper.txt"), Map.of("MODE", "plain"), "sim", "unused", "unused");
        return jobs().submit(spec, tmp, bundle.dir(), bundle.measurement());
    }

    private Worker worker(Repository r) {
        return new Worker(r, new KbsBroker(broker.anonymous(), "alice"), WorkerBundles::open,
                new SimEnclave(LauncherMain.class.getName(), new Bubblewrap()));
    }

    private static JobRecord with(JobRecord r, String bundlePath, String measurement, String policy, String secret,
            String backend, List<String> args, Map<String, String> env, List<JobRecord.Input> inputs,
            List<JobSpec.Output> outputs, Map<String, String> keys) {
        return new JobRecord(r.id(), r.name(), bundlePath, measurement, policy, secret, r.broker(), backend, args, env,
                inputs, outputs, keys);
    }

    private static Map<String, String> plus(Map<String, String> m, String k, String v) {
        Map<String, String> c = new LinkedHashMap<>(m);
        c.put(k, v);
        return c;
    }

    /** Every field of the record, tampered one at a time, as the host or the repository would. */
    private static Map<String, UnaryOperator<JobRecord>> tampers(Bundle other) {
        Map<String, UnaryOperator<JobRecord>> t = new LinkedHashMap<>();
        t.put("args", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(),
                List.of("/inputs/decoy.txt", "/outputs/upper.txt"), r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("env value", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                plus(r.env(), "MODE", "TAMPERED"), r.inputs(), r.outputs(), r.keys()));
        t.put("env LD_PRELOAD", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(),
                r.args(), plus(r.env(), "LD_PRELOAD", "/inputs/decoy.txt"), r.inputs(), r.outputs(), r.keys()));
        t.put("input path<->object wiring", r -> {
            // The decoy's object appears at the secret's path and the other way round: each ciphertext still
            // decrypts (its bound path is kept), so only the binding of the record can notice.
            JobRecord.Input text = r.inputs().get(0);
            JobRecord.Input decoy = r.inputs().get(1);
            return with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(), r.env(),
                    List.of(new JobRecord.Input(text.name(), decoy.path(), text.object(), text.size(), text.bound()),
                            new JobRecord.Input(decoy.name(), text.path(), decoy.object(), decoy.size(), decoy.bound())),
                    r.outputs(), r.keys());
        });
        t.put("input object", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), List.of(r.inputs().get(0), new JobRecord.Input("decoy", "/inputs/decoy.txt",
                        r.inputs().get(0).object(), r.inputs().get(0).size(), "/inputs/secret.txt")), r.outputs(), r.keys()));
        t.put("input dropped", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), List.of(r.inputs().get(0)), r.outputs(), r.keys()));
        t.put("input size", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), List.of(new JobRecord.Input("text", "/inputs/secret.txt", r.inputs().get(0).object(), 1),
                        r.inputs().get(1)), r.outputs(), r.keys()));
        t.put("output path", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), r.inputs(), List.of(new JobSpec.Output("result", "/outputs/other.txt")), r.keys()));
        t.put("output added", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), r.inputs(), List.of(r.outputs().get(0), new JobSpec.Output("extra", "/outputs/extra")), r.keys()));
        t.put("bundle path and measurement", r -> with(r, other.dir().toString(), other.measurement(), r.policy(),
                r.secret(), r.backend(), r.args(), r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("bundle path", r -> with(r, r.bundlePath() + "/.", r.measurement(), r.policy(), r.secret(), r.backend(),
                r.args(), r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("policy", r -> with(r, r.bundlePath(), r.measurement(), "SIM:ALLOW", r.secret(), r.backend(), r.args(),
                r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("backend", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), "gramine-direct", r.args(),
                r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("keys", r -> with(r, r.bundlePath(), r.measurement(), r.policy(), r.secret(), r.backend(), r.args(),
                r.env(), r.inputs(), r.outputs(), Map.of("result", r.secret())));
        t.put("name", r -> new JobRecord(r.id(), "renamed", r.bundlePath(), r.measurement(), r.policy(), r.secret(),
                r.broker(), r.backend(), r.args(), r.env(), r.inputs(), r.outputs(), r.keys()));
        t.put("broker", r -> new JobRecord(r.id(), r.name(), r.bundlePath(), r.measurement(), r.policy(), r.secret(),
                "https://evil.example", r.backend(), r.args(), r.env(), r.inputs(), r.outputs(), r.keys()));
        return t;
    }

    @Test
    void everyFieldOfTheRecordTamperedIsRefusedBeforeTheProgramStarts() throws Exception {
        Path otherApp = Files.createDirectories(tmp.resolve("other"));
        Files.copy(tmp.resolve("app/upper"), otherApp.resolve("upper"));
        Files.writeString(otherApp.resolve("extra"), "x");
        Bundle other = Bundle.open(BundleBuilder.build(BuildOptions.dir(otherApp, "upper"), tmp.resolve("bundle2"), false).dir());
        JobRecord rec = submit();
        byte[] genuine = repo.getRef(JobRecord.ref(rec.id())).orElseThrow();
        int n = 0;
        for (var e : tampers(other).entrySet()) {
            JobRecord forged = e.getValue().apply(rec);
            assertThat(forged.hashHex()).as(e.getKey()).isNotEqualTo(rec.hashHex());
            repo.putRef(JobRecord.ref(rec.id()), forged.toBytes());
            List<String> stages = new ArrayList<>();
            // "backend" is run as sim anyway, as a worker choosing the backend would.
            assertThatThrownBy(() -> worker(repo).run(rec.id(), "sim", Files.createDirectories(tmp.resolve("w" + stages.size()
                    + e.getKey().hashCode())), p -> stages.add(p.path("stage").asText())))
                    .as(e.getKey())
                    .isInstanceOf(CloisterException.class)
                    .satisfies(x -> assertThat(((CloisterException) x).kind()).as(e.getKey())
                            .isEqualTo(CloisterException.Kind.DENIED));
            assertThat(stages).as(e.getKey()).doesNotContain("key released", "inputs decrypted", "program exited");
            assertThat(repo.getRef(JobResult.ref(rec.id()))).as(e.getKey()).isEmpty();
            n++;
        }
        assertThat(n).isEqualTo(16);
        // The broker's log says why: the evidence was bound to another record.
        assertThat(new KbsBroker(owner, "alice").history(rec.secret()))
                .anySatisfy(l -> assertThat(l).contains("release denied").contains("not the registered " + rec.hashHex()))
                .noneSatisfy(l -> assertThat(l).contains("release ok"));

        // The genuine record still runs, and the release names the record that ran.
        repo.putRef(JobRecord.ref(rec.id()), genuine);
        JobResult res = worker(repo).run(rec.id(), Files.createDirectories(tmp.resolve("good")), p -> {});
        assertThat(res.programExit()).isZero();
        jobs().fetch(rec.id(), tmp.resolve("out"));
        assertThat(Files.readString(tmp.resolve("out/result"))).isEqualTo("ATTACK AT DAWN\nMODE=plain\n");
        List<String> history = new KbsBroker(owner, "alice").history(rec.secret());
        assertThat(history).anySatisfy(l -> assertThat(l).contains("release ok").contains(" record " + rec.hashHex() + " "));
        // The owner's check of the audit lines: the genuine history passes; a release bound to another record, or to
        // none (the old zero form, e.g. after the policy was changed behind the owner's back), is refused.
        OwnerJobs.checkReleases(rec.id(), rec.hashHex(), history);
        String ok = history.stream().filter(l -> l.contains("release ok")).findFirst().orElseThrow();
        for (String forged : List.of(ok.replace(" record " + rec.hashHex(), " record " + "ab".repeat(32)),
                ok.replace(" record " + rec.hashHex(), ""))) {
            List<String> h = new ArrayList<>(history);
            h.add(forged);
            assertThatThrownBy(() -> OwnerJobs.checkReleases(rec.id(), rec.hashHex(), h))
                    .isInstanceOf(CloisterException.class)
                    .hasMessageContaining("not bound to the submitted record")
                    .satisfies(x -> assertThat(((CloisterException) x).kind()).isEqualTo(CloisterException.Kind.DENIED));
        }
    }

    @Test
    void fetchRefusesARecordChangedAfterTheRun() throws Exception {
        JobRecord rec = submit();
        assertThat(worker(repo).run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {}).programExit()).isZero();
        // The repository now says the output is somewhere else: the owner would decrypt with the wrong expectation.
        JobRecord forged = tampers(bundle).get("output path").apply(rec);
        repo.putRef(JobRecord.ref(rec.id()), forged.toBytes());
        assertThatThrownBy(() -> jobs().fetch(rec.id(), tmp.resolve("out")))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("is not the one submitted (sha256 " + rec.hashHex() + ")")
                .satisfies(x -> assertThat(((CloisterException) x).kind()).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(tmp.resolve("out")).doesNotExist();
        // Without the owner's kept hash nothing can be checked, so nothing is accepted.
        Files.delete(tmp.resolve("keys").resolve(rec.id() + ".record"));
        assertThatThrownBy(() -> jobs().fetch(rec.id(), tmp.resolve("out")))
                .isInstanceOf(CloisterException.class).hasMessageContaining("no record hash kept");
    }

    @Test
    void aHostThatHandsTheEnclaveAnotherCiphertextIsRefusedBeforeDecryption() throws Exception {
        JobRecord rec = submit();
        // The record is intact (so the keys are released), but the worker feeds the decoy's ciphertext where the
        // record names the secret's object.
        ObjectId text = ObjectId.parse(rec.inputs().get(0).object());
        ObjectId decoy = ObjectId.parse(rec.inputs().get(1).object());
        Repository swapping = new Swapping(repo, Map.of(text, decoy));
        List<String> stages = new ArrayList<>();
        assertThatThrownBy(() -> worker(swapping).run(rec.id(), Files.createDirectories(tmp.resolve("work")),
                p -> stages.add(p.path("stage").asText())))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("is not object " + text + " that the job record names")
                .satisfies(x -> assertThat(((CloisterException) x).kind()).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(stages).contains("key released").doesNotContain("inputs decrypted", "program exited");
    }

    @Test
    void theCanonicalFormIsStableAndDocumented() throws Exception {
        JobRecord rec = new JobRecord("j-1", "n", "/b", "ab", "SIM:ALLOW", "ns/job-j-1", null, "sim",
                List.of("a\"\\\n\u0001é"), new HashMap<>(Map.of("Z", "1", "A", "2")),
                List.of(new JobRecord.Input("i", "/inputs/i", "00".repeat(32), 5)),
                List.of(new JobSpec.Output("o", "/outputs/o")), Map.of());
        String canonical = new String(rec.canonicalBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(canonical).isEqualTo("{\"args\":[\"a\\\"\\\\\\n\\u0001é\"],\"backend\":\"sim\",\"broker\":null,"
                + "\"bundlePath\":\"/b\",\"env\":{\"A\":\"2\",\"Z\":\"1\"},\"id\":\"j-1\",\"inputs\":[{\"bound\":\"/inputs/i\","
                + "\"name\":\"i\",\"object\":\"" + "00".repeat(32) + "\",\"path\":\"/inputs/i\",\"size\":5}],\"keys\":{},"
                + "\"measurement\":\"ab\",\"name\":\"n\",\"outputs\":[{\"name\":\"o\",\"path\":\"/outputs/o\"}],"
                + "\"policy\":\"SIM:ALLOW\",\"secret\":\"ns/job-j-1\"}");
        // The published (pretty-printed) form parses back to the same hash; a lone surrogate has no canonical form.
        assertThat(JobRecord.parse(rec.toBytes(), "j-1").hashHex()).isEqualTo(rec.hashHex());
        String bad = new String(rec.toBytes(), java.nio.charset.StandardCharsets.UTF_8).replace("\"n\"", "\"\\ud800\"");
        assertThatThrownBy(() -> JobRecord.parse(bad.getBytes(java.nio.charset.StandardCharsets.UTF_8), "j-1"))
                .hasMessageContaining("record is malformed");
    }

    /** A repository whose downloads of some objects deliver another object's bytes (a hostile worker's disk). */
    private record Swapping(Repository inner, Map<ObjectId, ObjectId> swap) implements Repository {
        @Override
        public ObjectId put(Path file) throws IOException, CloisterException {
            return inner.put(file);
        }

        @Override
        public ObjectId put(byte[] bytes) throws IOException, CloisterException {
            return inner.put(bytes);
        }

        @Override
        public void get(ObjectId id, Path target) throws IOException, CloisterException {
            inner.get(swap.getOrDefault(id, id), target);
        }

        @Override
        public byte[] getBytes(ObjectId id) throws IOException, CloisterException {
            return inner.getBytes(swap.getOrDefault(id, id));
        }

        @Override
        public boolean exists(ObjectId id) throws IOException, CloisterException {
            return inner.exists(id);
        }

        @Override
        public void putRef(String name, byte[] content) throws IOException, CloisterException {
            inner.putRef(name, content);
        }

        @Override
        public Optional<byte[]> getRef(String name) throws IOException, CloisterException {
            return inner.getRef(name);
        }

        @Override
        public String location() {
            return inner.location();
        }
    }
}
