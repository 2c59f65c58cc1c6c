package dev.cloister.runtime.gramine;

import dev.cloister.bundle.Bundle;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Runs a job under {@code gramine-sgx} or {@code gramine-direct} on this worker: checks that Gramine is installed
 * (before anything is downloaded or written), verifies the bundle, downloads the encrypted inputs, lays out the
 * working folder with the job's final manifest ({@link GramineLaunch}), signs it ({@code gramine-sgx}), starts
 * Gramine, and publishes the encrypted outputs Gramine's encrypted mount left in {@code outputs/}, exactly as the
 * simulation backend does: objects first, the result record last.
 *
 * <p>The worker holds no key here either: Gramine's secret-provisioning library, inside the enclave, fetches the
 * job key from the broker over RA-TLS. What the worker cannot do under Gramine is encrypt the program's console:
 * Gramine passes stdout and stderr to the host as they are, so this runner forwards them to {@code log} and
 * publishes none (programs must write anything confidential under /outputs).
 *
 * <p>Gramine's exit status maps as follows: Gramine's secret-provisioning library reporting failure means the
 * broker refused the key (DENIED); 128 and above means the program or Gramine was killed by a signal, and nothing
 * is published, so the job can run again (ENVIRONMENT); anything else is the program's exit status, published like
 * the simulation backend's, with outputs only when it is 0.
 *
 * @param path the PATH to find Gramine on (the worker's own, or a test's)
 * @param servers the broker's secret-provisioning address HOST:PORT, or null when the bundle fixes it
 * @param signingKey the key for {@code gramine-sgx-sign}, or null for Gramine's default
 * @param log receives every line Gramine and the program print (plaintext the host sees anyway)
 */
public record GramineRunner(String path, String servers, Path signingKey, Consumer<String> log) {

    /** What Gramine's secret-provisioning library prints when it got no key (Gramine 1.5 and later). */
    static final String PROVISIONING_FAILED = "Secret provisioning failed";

    /** A runner with this process's PATH and no broker address (then the bundle must name it). */
    public static GramineRunner fromEnvironment(Consumer<String> log) {
        return new GramineRunner(System.getenv("PATH"), null, null, log);
    }

    /**
     * Runs job {@code rec} under {@code backend}.
     *
     * @param work a private folder for this run (ciphertext only)
     * @throws CloisterException ENVIRONMENT when Gramine is missing, fails or is killed; DENIED when the bundle
     *     does not verify or the broker refused the key; BAD_INPUT for a bundle that cannot run under Gramine or a
     *     missing object
     */
    public JobResult run(JobRecord rec, String backend, Repository repo, Path work)
            throws CloisterException, IOException, InterruptedException {
        return run(rec, backend, repo, null, work);
    }

    /**
     * Runs job {@code rec} under {@code backend}; {@code gramine-direct} needs the broker, which the worker relays
     * the launcher's release request to ({@link DirectRun}).
     */
    public JobResult run(JobRecord rec, String backend, Repository repo, Broker broker, Path work)
            throws CloisterException, IOException, InterruptedException {
        // First, before anything is downloaded or written: a worker without Gramine says so and touches nothing.
        Map<String, Path> tools = GramineLaunch.requireInstalled(backend, path);
        for (JobRecord.Input in : rec.inputs()) {
            // Gramine's encrypted mount opens a file only when it is bound to the path Gramine derives from the
            // mount's URI; an input encrypted for the sim backend would fail inside, so say so before starting.
            String want = GramineManifest.hostBound(in.path());
            if (!want.equals(in.bound())) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + rec.id() + ": input "
                        + in.name() + " is bound to " + in.bound() + ", but Gramine's encrypted mount opens it only "
                        + "when bound to " + want + " (inputs are bound for the backend named in the job file); "
                        + "submit the job again with 'backend: " + backend + "'");
            }
        }
        Bundle bundle = Bundle.open(Path.of(rec.bundlePath()));
        if (backend.equals("gramine-direct")) {
            if (broker == null) {
                throw new IllegalArgumentException("gramine-direct relays the key release: a broker is needed");
            }
            return new DirectRun(path, log).run(rec, repo, broker, bundle, tools.get("gramine-direct"), work, true);
        }
        bundle.verify();
        GramineManifest.forJob(bundle.spec(), rec.args(), rec.env()); // refuses an unsuitable bundle before downloads
        Files.createDirectories(work);
        Path ct = Files.createDirectories(work.resolve("download"));
        Map<String, Path> ciphertexts = new LinkedHashMap<>();
        for (JobRecord.Input in : rec.inputs()) {
            Path f = ct.resolve(in.name() + ".pf");
            Files.deleteIfExists(f);
            repo.get(ObjectId.parse(in.object()), f);
            ciphertexts.put(in.name(), f);
        }
        GramineLaunch launch = GramineLaunch.prepare(backend, rec, bundle, ciphertexts, servers, signingKey,
                work.resolve("enclave"));
        Exec ran = null;
        for (List<String> cmd : launch.commands()) {
            ran = exec(launch, cmd, tools);
            boolean last = cmd == launch.commands().getLast();
            if (!last && ran.status() != 0) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "job " + rec.id() + ": '"
                        + cmd.getFirst() + "' failed with exit status " + ran.status() + ran.lastLines());
            }
        }
        int status = ran.status();
        if (ran.provisioningFailed()) {
            throw new CloisterException(CloisterException.Kind.DENIED, "job " + rec.id() + ": the enclave did not "
                    + "obtain the job key from the broker at " + launch.env().get(GramineManifest.SERVERS)
                    + " (Gramine: '" + PROVISIONING_FAILED + "'); the broker's audit log for " + rec.secret()
                    + " says why; nothing was published");
        }
        if (status >= 128) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "job " + rec.id() + ": " + backend
                    + " ended with status " + status + ": the program or Gramine was killed by signal " + (status - 128)
                    + "; no output was accepted and nothing was published, so the job can run again");
        }
        List<JobResult.Output> published = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (JobSpec.Output o : rec.outputs()) {
            Path f = launch.output(o.path());
            if (status == 0 && Files.isRegularFile(f)) {
                published.add(new JobResult.Output(o.name(), o.path(), repo.put(f).hex()));
            } else {
                missing.add(o.name());
            }
        }
        JobResult result = new JobResult(rec.id(), status, backend, !backend.equals("gramine-sgx"), published, null,
                null, missing);
        repo.putRef(JobResult.ref(rec.id()), result.toBytes());
        return result;
    }

    /** How one Gramine command ended: its status, whether provisioning failed, and its last lines. */
    private record Exec(int status, boolean provisioningFailed, List<String> tail) {
        String lastLines() {
            return tail.isEmpty() ? "" : "; it said: " + String.join(" | ", tail);
        }
    }

    private Exec exec(GramineLaunch launch, List<String> cmd, Map<String, Path> tools)
            throws IOException, InterruptedException {
        List<String> resolved = new ArrayList<>(cmd);
        // ProcessBuilder looks programs up on this JVM's PATH, not the child's: start the one requireInstalled found.
        resolved.set(0, tools.get(cmd.getFirst()).toString());
        ProcessBuilder pb = new ProcessBuilder(resolved).directory(launch.dir().toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().clear();
        pb.environment().put("PATH", path == null ? "/usr/bin:/bin" : path);
        String home = System.getProperty("user.home");
        if (home != null) {
            pb.environment().put("HOME", home); // gramine-sgx-sign's default key lives under it
        }
        pb.environment().putAll(launch.env());
        Process p = pb.start();
        Deque<String> tail = new ArrayDeque<>();
        boolean provisioningFailed = false;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                log.accept(line);
                if (line.contains(PROVISIONING_FAILED)) {
                    provisioningFailed = true;
                }
                tail.addLast(line);
                if (tail.size() > 5) {
                    tail.removeFirst();
                }
            }
        } finally {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
        return new Exec(p.waitFor(), provisioningFailed, List.copyOf(tail));
    }
}
