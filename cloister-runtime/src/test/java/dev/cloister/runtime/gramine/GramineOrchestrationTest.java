package dev.cloister.runtime.gramine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.LocalBroker;
import dev.cloister.pf.PfException;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.worker.Worker;
import dev.cloister.runtime.worker.WorkerBundles;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker's orchestration of gramine-sgx, tested with stand-in {@code gramine-sgx-sign} and
 * {@code gramine-sgx} executables that this test writes into its own PATH folder. <b>Gramine does not run here</b>:
 * each stand-in is a shell script that checks the arguments, environment and working folder the worker prepared
 * (the final manifest, the encrypted input where the encrypted mount expects it, an empty outputs folder), then
 * plays the enclave's part by copying ciphertext this test made with the job key, as Gramine's encrypted mount
 * would have left it. What is tested is everything around Gramine: the checks before anything is written, the
 * layout, the exact commands, the exit-status mapping, and publishing outputs the owner can fetch and verify.
 * Real Gramine (gramine-direct) runs in {@link GramineDirectJobTest}.
 */
class GramineOrchestrationTest {
    @TempDir
    Path tmp;

    private LocalBroker broker;
    private KbsClient owner;
    private Repository repo;
    private Bundle bundle;
    private final List<String> log = new ArrayList<>();

    private static final String SERVERS = "kbs.test:4433";

    @BeforeEach
    void start() throws Exception {
        broker = LocalBroker.start(tmp.resolve("broker"), "alice");
        owner = broker.owner();
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
        Path ca = Files.writeString(tmp.resolve("broker.pem"), broker.certificatePem());
        bundle = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin/tr"))
                .withBroker(Optional.of(ca), Optional.empty()), tmp.resolve("bundle"), false).dir());
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private JobRecord submit(String backend) throws Exception {
        Files.writeString(tmp.resolve("secret.txt"), "attack at dawn\n");
        JobSpec spec = new JobSpec("upper", new JobSpec.Bundle(bundle.dir().toString(), null, "E:" + "ab".repeat(32)),
                List.of(new JobSpec.Input("text", "secret.txt", "/inputs/secret.txt")),
                List.of(new JobSpec.Output("result", "/outputs/upper.txt"), new JobSpec.Output("count", "/outputs/n.txt")),
                List.of("a-z", "A-Z"), Map.of("LC_ALL", "C"), backend, "unused", "unused");
        return new OwnerJobs(repo, new KbsBroker(owner, "alice"), tmp.resolve("keys")).submit(spec, tmp, bundle.dir(),
                bundle.measurement());
    }

    /** Ciphertext of {@code text} under the job key, bound to {@code path}: what Gramine would leave. */
    private Path enclaveOutput(JobRecord rec, String name, String text, String path) throws Exception {
        Path f = Files.createDirectories(tmp.resolve("premade")).resolve(name);
        try (PfKey key = PfKey.read(tmp.resolve("keys").resolve(rec.id() + ".key"))) {
            AtomicFiles.<PfException>write(f, true, ch -> ProtectedFiles.encrypt(
                    new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), ch, key, path, PfVersion.V2, n -> {}));
        }
        return f;
    }

    /** Writes a stand-in executable into the test's PATH folder. */
    private Path tool(String name, String body) throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path f = bin.resolve(name);
        Files.writeString(f, "#!/bin/sh\n# Stand-in for " + name + " written by GramineOrchestrationTest; not Gramine.\n"
                + body);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
        return f;
    }

    /** The checks every stand-in Gramine makes of the folder the worker prepared, then {@code then}. */
    private String checks(JobRecord rec, String manifest, String then) throws Exception {
        Path expectedManifest = Files.write(tmp.resolve("expected.manifest"),
                GramineManifest.render(bundle.spec(), rec.args(), rec.env()));
        Path input = tmp.resolve("expected-input.pf");
        repo.get(dev.cloister.runtime.repo.ObjectId.parse(rec.inputs().getFirst().object()), input);
        return """
                [ "$#" -eq 1 ] && [ "$1" = entrypoint ] || { echo "bad arguments: $*"; exit 90; }
                [ "$SECRET_PROVISION_SERVERS" = "%s" ] || { echo "bad SECRET_PROVISION_SERVERS"; exit 91; }
                cmp -s entrypoint.manifest '%s' || { echo "unexpected manifest"; exit 92; }
                [ -f '%s' ] || { echo "no %s"; exit 92; }
                cmp -s inputs/secret.txt '%s' || { echo "input not where the encrypted mount expects it"; exit 93; }
                [ "$(readlink root)" = '%s' ] || { echo "root is not the bundle's"; exit 94; }
                [ -d outputs ] && [ -z "$(ls -A outputs)" ] || { echo "outputs not empty"; exit 95; }
                echo "program says hello"
                %s
                """.formatted(SERVERS, expectedManifest, manifest, manifest, input,
                bundle.dir().resolve("root").toAbsolutePath(), then);
    }

    /** Stand-ins for gramine-sgx-sign (copies the manifest) and gramine-sgx (runs {@code body}). */
    private void sgx(String body) throws Exception {
        tool("gramine-sgx-sign", "cp entrypoint.manifest entrypoint.manifest.sgx\n");
        tool("gramine-sgx", body);
    }

    private GramineRunner runner() {
        return new GramineRunner(path(), SERVERS, null, log::add);
    }

    /** The stand-ins first, then the system's tools for the shell scripts (Gramine is not installed here). */
    private String path() {
        return tmp.resolve("bin") + ":/usr/bin:/bin";
    }

    private Worker worker(GramineRunner g) {
        return new Worker(repo, new KbsBroker(owner, "alice"), WorkerBundles::open, null, g);
    }

    @Test
    void gramineOutputsArePublishedAndTheOwnerFetchesThem() throws Exception {
        JobRecord rec = submit("gramine-sgx");
        Path upper = enclaveOutput(rec, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        Path n = enclaveOutput(rec, "n", "15\n", "outputs/n.txt");
        sgx(checks(rec, "entrypoint.manifest.sgx",
                "cp '" + upper + "' outputs/upper.txt; cp '" + n + "' outputs/n.txt; exit 0"));

        JobResult res = worker(runner()).run(rec.id(), tmp.resolve("work"), p -> {});
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        assertThat(res.backend()).isEqualTo("gramine-sgx");
        assertThat(res.simulated()).isFalse();
        assertThat(res.missing()).isEmpty();
        assertThat(res.stdout()).isNull(); // Gramine's console is the host's: nothing of it is published
        assertThat(log).contains("program says hello");
        assertThat(repo.getRef(JobResult.ref(rec.id()))).isPresent();

        List<OwnerJobs.Fetched> got = new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("out"));
        assertThat(got).extracting(OwnerJobs.Fetched::name).containsExactly("result", "count");
        assertThat(tmp.resolve("out/result")).hasContent("ATTACK AT DAWN\n");
        assertThat(tmp.resolve("out/count")).hasContent("15\n");
        try (Stream<Path> s = Files.list(tmp.resolve("out"))) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("result", "count");
        }
    }

    @Test
    void gramineSgxSignsWithTheGivenKeyThenRunsTheSignedManifest() throws Exception {
        JobRecord rec = submit("gramine-sgx");
        Path key = Files.writeString(tmp.resolve("signer.pem"), "not a real key\n");
        Path upper = enclaveOutput(rec, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        Path n = enclaveOutput(rec, "n", "15\n", "outputs/n.txt");
        tool("gramine-sgx-sign", """
                [ "$*" = "--manifest entrypoint.manifest --output entrypoint.manifest.sgx --key %s" ] \
                    || { echo "bad signer arguments: $*"; exit 80; }
                [ ! -e entrypoint.manifest.sgx ] || { echo "stale signed manifest"; exit 81; }
                cp entrypoint.manifest entrypoint.manifest.sgx
                """.formatted(key));
        tool("gramine-sgx", checks(rec, "entrypoint.manifest.sgx",
                "cp '" + upper + "' outputs/upper.txt; cp '" + n + "' outputs/n.txt; exit 0"));
        JobResult res = worker(new GramineRunner(path(), SERVERS, key, log::add))
                .run(rec.id(), tmp.resolve("work"), p -> {});
        assertThat(res.programExit()).as(String.join("\n", log)).isZero();
        assertThat(res.backend()).isEqualTo("gramine-sgx");
        assertThat(res.simulated()).isFalse();
        new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("out"));
        assertThat(tmp.resolve("out/result")).hasContent("ATTACK AT DAWN\n");

        // A signer that fails stops the job before Gramine starts, with its words, and publishes nothing.
        JobRecord again = submit("gramine-sgx");
        tool("gramine-sgx-sign", "echo 'cannot read key'; exit 2\n");
        assertThatThrownBy(() -> worker(runner()).run(again.id(), tmp.resolve("work2"), p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("'gramine-sgx-sign' failed with exit status 2").hasMessageContaining("cannot read key")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT));
        assertThat(repo.getRef(JobResult.ref(again.id()))).isEmpty();
    }

    @Test
    void withoutGramineTheWorkerFailsWithExitCode4BeforeDownloadingOrWritingAnything() throws Exception {
        JobRecord rec = submit("gramine-sgx");
        List<Path> before = tree(tmp.resolve("repo"));
        Path work = tmp.resolve("work");
        GramineRunner none = new GramineRunner(Files.createDirectories(tmp.resolve("empty")).toString(), SERVERS, null,
                log::add);
        assertThatThrownBy(() -> worker(none).run(rec.id(), work, p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("'gramine-sgx-sign' is not on PATH").hasMessageContaining("SGX host")
                .satisfies(e -> assertThat(((CloisterException) e).kind().exitCode()).isEqualTo(4));
        assertThat(work).doesNotExist();
        assertThat(tree(tmp.resolve("repo"))).isEqualTo(before);
    }

    @Test
    void theProgramsExitStatusIsPublishedWithoutOutputsAndABrokerRefusalOrAKillPublishesNothing() throws Exception {
        JobRecord rec = submit("gramine-sgx");
        Path upper = enclaveOutput(rec, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        // The program fails: its status is the result, and no output is taken even though one was written.
        sgx(checks(rec, "entrypoint.manifest.sgx", "cp '" + upper + "' outputs/upper.txt; exit 3"));
        JobResult res = worker(runner()).run(rec.id(), tmp.resolve("w1"), p -> {});
        assertThat(res.programExit()).isEqualTo(3);
        assertThat(res.outputs()).isEmpty();
        assertThat(res.missing()).containsExactly("result", "count");
        assertThatThrownBy(() -> new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("o1")))
                .hasMessageContaining("did not write result, count (exit 3)");

        // Gramine's secret-provisioning library got no key: DENIED, nothing published.
        JobRecord denied = submit("gramine-sgx");
        sgx(checks(denied, "entrypoint.manifest.sgx",
                "echo 'error: Secret provisioning failed, terminating the whole process' >&2; exit 1"));
        assertThatThrownBy(() -> worker(runner()).run(denied.id(), tmp.resolve("w2"), p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("did not obtain the job key from the broker at " + SERVERS)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED));
        assertThat(repo.getRef(JobResult.ref(denied.id()))).isEmpty();

        // Killed mid-write: half an output is left behind, nothing is published; the next run starts clean.
        JobRecord killed = submit("gramine-sgx");
        Path full = enclaveOutput(killed, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        Path count = enclaveOutput(killed, "n", "15\n", "outputs/n.txt");
        sgx(checks(killed, "entrypoint.manifest.sgx",
                "head -c 100 '" + full + "' > outputs/upper.txt; kill -9 $$"));
        Path work = tmp.resolve("w3");
        assertThatThrownBy(() -> worker(runner()).run(killed.id(), work, p -> {}))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("killed by signal 9").hasMessageContaining("nothing was published")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT));
        assertThat(repo.getRef(JobResult.ref(killed.id()))).isEmpty();
        assertThat(Files.size(work.resolve("enclave/outputs/upper.txt"))).isEqualTo(100);
        // Same work folder: the stand-in refuses to run unless outputs/ was emptied first (exit 95).
        sgx(checks(killed, "entrypoint.manifest.sgx",
                "cp '" + full + "' outputs/upper.txt; cp '" + count + "' outputs/n.txt; exit 0"));
        JobResult ok = worker(runner()).run(killed.id(), work, p -> {});
        assertThat(ok.programExit()).as(String.join("\n", log)).isZero();
        new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(killed.id(), tmp.resolve("o3"));
        assertThat(tmp.resolve("o3/result")).hasContent("ATTACK AT DAWN\n");
    }

    @Test
    void fetchIsAllOrNothingWhenALaterOutputFailsAuthentication() throws Exception {
        JobRecord rec = submit("gramine-sgx");
        Path upper = enclaveOutput(rec, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        // The second output is a well-formed encrypted file under another key: it fails authentication.
        Path forged = Files.createDirectories(tmp.resolve("forged")).resolve("n");
        try (PfKey other = PfKey.generate()) {
            AtomicFiles.<PfException>write(forged, true, ch -> ProtectedFiles.encrypt(
                    new ByteArrayInputStream("99\n".getBytes(StandardCharsets.UTF_8)), ch, other, "outputs/n.txt",
                    PfVersion.V2, x -> {}));
        }
        sgx(checks(rec, "entrypoint.manifest.sgx",
                "cp '" + upper + "' outputs/upper.txt; cp '" + forged + "' outputs/n.txt; exit 0"));
        worker(runner()).run(rec.id(), tmp.resolve("work"), p -> {});
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.writeString(out.resolve("keep.txt"), "earlier");
        Files.writeString(out.resolve("result"), "an earlier fetch");
        // --force: a file of the same name is replaced by a fetch that succeeds, never by one that fails
        assertThatThrownBy(() -> new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), out, true))
                .isInstanceOf(CloisterException.class)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED));
        // The first output authenticated, but it is not written either; what was there stays as it was.
        try (Stream<Path> s = Files.list(out)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("keep.txt", "result");
        }
        assertThat(out.resolve("result")).hasContent("an earlier fetch");
        // A folder the failed fetch created is removed again.
        assertThatThrownBy(() -> new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(rec.id(), tmp.resolve("new")))
                .isInstanceOf(CloisterException.class);
        assertThat(tmp.resolve("new")).doesNotExist();

        // The same when the second output is a genuine ciphertext of the first, swapped in: bound to the wrong path.
        JobRecord swapped = submit("gramine-sgx");
        Path good = enclaveOutput(swapped, "upper", "ATTACK AT DAWN\n", "outputs/upper.txt");
        sgx(checks(swapped, "entrypoint.manifest.sgx",
                "cp '" + good + "' outputs/upper.txt; cp '" + good + "' outputs/n.txt; exit 0"));
        worker(runner()).run(swapped.id(), tmp.resolve("work2"), p -> {});
        assertThatThrownBy(() -> new OwnerJobs(repo, null, tmp.resolve("keys")).fetch(swapped.id(), out, true))
                .isInstanceOf(CloisterException.class).hasMessageContaining("'outputs/upper.txt'");
        try (Stream<Path> s = Files.list(out)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("keep.txt", "result");
        }
    }

    private static List<Path> tree(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.sorted().toList();
        }
    }
}
