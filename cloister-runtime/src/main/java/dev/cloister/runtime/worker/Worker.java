package dev.cloister.runtime.worker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.enclave.EnclavePlan;
import dev.cloister.runtime.enclave.HostChannel;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.gramine.GramineRunner;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs a submitted job on this (untrusted) machine: fetches the bundle's description and the encrypted inputs,
 * starts the enclave, relays its key request to the broker, and publishes the encrypted outputs. The worker never
 * holds a key or plaintext; what it can do wrong (lose, withhold, replay) the owner detects at fetch time.
 *
 * <p>A run is idempotent: outputs are content-addressed and the result record is published last, so a worker
 * killed at any point can run the job again, and a half-finished run publishes nothing.
 */
public final class Worker {
    /** Opens and verifies a bundle folder. */
    @FunctionalInterface
    public interface BundleOpener {
        BundleView open(Path dir) throws CloisterException, IOException;
    }

    private final Repository repo;
    private final Broker broker;
    private final BundleOpener bundles;
    private final SimEnclave enclave;
    private final GramineRunner gramine;

    public Worker(Repository repo, Broker broker, BundleOpener bundles, SimEnclave enclave) {
        this(repo, broker, bundles, enclave, GramineRunner.fromEnvironment(line -> {}));
    }

    /** @param gramine runs jobs whose backend is gramine-sgx or gramine-direct */
    public Worker(Repository repo, Broker broker, BundleOpener bundles, SimEnclave enclave, GramineRunner gramine) {
        this.repo = repo;
        this.broker = broker;
        this.bundles = bundles;
        this.enclave = enclave;
        this.gramine = gramine;
    }

    /** Runs job {@code id} in the backend its record names; see {@link #run(String, String, Path, Consumer)}. */
    public JobResult run(String id, Path work, Consumer<JsonNode> progress)
            throws CloisterException, IOException, InterruptedException {
        return run(id, null, work, progress);
    }

    /**
     * Runs job {@code id}: in the simulation backend, or under Gramine ({@link GramineRunner}).
     *
     * @param backend the backend to use instead of the record's (the broker's policy still decides whether the
     *     enclave gets the key), or null for the record's
     * @param work a private folder for this run (ciphertext only)
     * @param progress told each stage the enclave reports
     * @throws CloisterException DENIED when the broker refuses the key or an input fails authentication (the
     *     program then never ran), BAD_INPUT for a missing job or object, ENVIRONMENT when a service or tool is
     *     missing
     */
    public JobResult run(String id, String backend, Path work, Consumer<JsonNode> progress)
            throws CloisterException, IOException, InterruptedException {
        JobRecord rec = JobRecord.parse(repo.getRef(JobRecord.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repo.location())), id);
        String use = backend != null ? backend : rec.backend();
        if (!"sim".equals(use)) {
            if (!rec.keys().isEmpty() && !"gramine-direct".equals(use)) {
                // Gramine's secret provisioning delivers one encrypted-files key per enclave; under gramine-direct
                // Cloister's launcher obtains as many as the step needs.
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + " uses several keys (a "
                        + "pipeline step); backend " + use + " provisions one key per enclave, so run it with backend sim");
            }
            return gramine.run(rec, use, repo, broker, work);
        }
        Path bundleDir = Path.of(rec.bundlePath());
        Path in = Files.createDirectories(work.resolve("in"));
        Path out = Files.createDirectories(work.resolve("out"));
        // Made while the enclave starts: opening the bundle, the input downloads and the broker round trips overlap
        // the launcher's JVM start.
        SimEnclave.PlanMaker plan = () -> {
            BundleView b = bundles.open(bundleDir);
            progress.accept(HostChannel.object().put("stage", "bundle verified"));
            return plan(rec, b, in);
        };
        SimEnclave.Outcome o = enclave.run(plan, bundleDir, in, out, work, (op, body) -> {
            if (!"release".equals(op)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the enclave asked for unknown operation " + op);
            }
            try {
                return broker.release(body);
            } catch (IOException e) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "broker unreachable: " + e.getMessage());
            }
        }, progress);
        if (o.launcherExit() != 0 || o.done() == null) {
            throw new CloisterException(kindOf(o.launcherExit()), "job " + id + " failed in the enclave: " + o.error());
        }
        int exit = o.done().path("exit").asInt(-1);
        if (exit >= 128) {
            // The sandbox reports a program killed by signal N as 128+N. Whatever it wrote may be half an output
            // (the launcher encrypts none when the exit is not 0), and it is no outcome of the program: publish
            // nothing, so the owner sees no result and the job can simply run again.
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "job " + id + ": the program was killed "
                    + "by signal " + (exit - 128) + " inside the enclave (status " + exit + "); no output was accepted "
                    + "and nothing was published, so the job can run again");
        }
        List<JobResult.Output> published = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        o.done().path("missing").forEach(n -> missing.add(n.asText()));
        for (JobSpec.Output x : rec.outputs()) {
            Path ct = out.resolve(x.name() + ".pf");
            if (!missing.contains(x.name()) && Files.isRegularFile(ct)) {
                published.add(new JobResult.Output(x.name(), x.path(), repo.put(ct).hex()));
            }
        }
        String stdout = repo.put(out.resolve("stdout.pf")).hex();
        String stderr = repo.put(out.resolve("stderr.pf")).hex();
        JobResult result = new JobResult(id, exit, "sim", true, published, stdout, stderr,
                missing);
        repo.putRef(JobResult.ref(id), result.toBytes());
        return result;
    }

    /**
     * The enclave's plan for job {@code rec}: fetches each input's ciphertext into {@code in} and a nonce per key.
     * The launcher derives what runs from the record itself and binds the record's hash into its evidence, so
     * nothing here can change what runs.
     */
    private EnclavePlan plan(JobRecord rec, BundleView b, Path in) throws CloisterException, IOException {
        for (JobRecord.Input i : rec.inputs()) {
            Path ct = in.resolve(i.name() + ".pf");
            Files.deleteIfExists(ct);
            repo.get(ObjectId.parse(i.object()), ct);
        }
        // One release (with its own single-use nonce) per distinct key the enclave needs.
        java.util.Set<String> secrets = new java.util.LinkedHashSet<>();
        secrets.add(rec.secret());
        rec.inputs().forEach(i -> secrets.add(rec.keyOf(i.name())));
        rec.outputs().forEach(x -> secrets.add(rec.keyOf(x.name())));
        List<EnclavePlan.KeyRequest> keys = new ArrayList<>();
        for (String s : secrets) {
            keys.add(new EnclavePlan.KeyRequest(s, broker.nonce()));
        }
        return new EnclavePlan(SimEnclave.ROOT, rec, keys, SimEnclave.IN, SimEnclave.OUT, enclave.sandboxName());
    }

    private static CloisterException.Kind kindOf(int exit) {
        return switch (exit) {
            case 1 -> CloisterException.Kind.DENIED;
            case 3 -> CloisterException.Kind.BAD_INPUT;
            default -> CloisterException.Kind.ENVIRONMENT;
        };
    }
}
