package dev.cloister.pipeline;

import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.pf.PfKey;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.gramine.GramineManifest;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The data owner's side of a confidential pipeline run: creating it (every key in the broker under the policy of
 * the step that receives it, owner inputs encrypted and uploaded) and fetching its verified outputs. Runs live in
 * folders under a runs root, which a cluster's nodes share; see {@link RunPlan} for what a run fixes and
 * {@link ConfidentialSteps} for how its steps run.
 *
 * <p>No key is ever written to the run folder: the owner's copies of the output and log keys, and the hashes of
 * the step records the owner registered, are in the owner's private key folder ({@link #ownerDir}), and every key
 * a step needs is in the broker, released only to that step's attested enclave running the registered record.
 */
public final class ConfidentialRun {
    private static final java.util.regex.Pattern SECRET_NAME = java.util.regex.Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    private ConfidentialRun() {}

    /**
     * Where the run's broker, repository and bundles are, how to measure a bundle, and the owner's private key
     * folder (never on storage the cluster shares: the run's keys are kept in {@code keys/runs/RUN_ID}).
     */
    public record Setup(Repository repository, String repositoryLocation, Broker broker, String brokerUrl,
            Path brokerCa, BundleMeasurer measurer, Path keys) {}

    /** The owner's private folder of one run's keys and record hashes, under the owner's key folder. */
    public static Path ownerDir(Path keys, String runId) {
        return keys.resolve("runs").resolve(runId);
    }

    /**
     * A step's policy before any of its records is registered: nothing satisfies it ({@link OwnerJobs#NO_RECORD_YET}),
     * so a step's keys cannot be obtained until the owner's orchestrator binds them to the record it publishes.
     */
    static String unboundPolicy(String policy) {
        return OwnerJobs.boundPolicy(policy, OwnerJobs.NO_RECORD_YET);
    }

    /** Measures a bundle folder (its Cloister measurement, hex). */
    @FunctionalInterface
    public interface BundleMeasurer {
        String measure(Path bundleDir) throws CloisterException, IOException;
    }

    /**
     * Creates a run: checks every bundle and owner input, creates and stores every key, encrypts and uploads the
     * owner's inputs, and writes the run folder. Nothing has run yet when it returns.
     *
     * @param base the folder relative paths in the spec are resolved against
     * @return the run id (its folder is {@code runsRoot/ID})
     * @throws CloisterException BAD_INPUT for a missing bundle or input (before anything is created), DENIED or
     *     ENVIRONMENT from the broker
     */
    public static String create(PipelineSpec spec, Path base, Path runsRoot, String executor, Setup setup)
            throws CloisterException, IOException {
        // Everything the owner can get wrong is checked before a key or a folder exists.
        for (PipelineSpec.Step s : spec.steps()) {
            String b = spec.backendOf(s);
            if (!"sim".equals(b) && !"gramine-direct".equals(b)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "pipeline " + spec.name() + " step '"
                        + s.name() + "': backend " + b + " is not supported for pipelines yet (Gramine's secret "
                        + "provisioning gives an enclave one key, a step needs one per edge); use sim or gramine-direct");
            }
        }
        Map<String, String> measurements = new LinkedHashMap<>();
        Map<String, Path> bundles = new LinkedHashMap<>();
        for (PipelineSpec.Step s : spec.steps()) {
            if (s.bundle().path() == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "step '" + s.name() + "': bundle.ref is not supported yet; give bundle.path");
            }
            Path dir = base.resolve(s.bundle().path()).toAbsolutePath().normalize();
            bundles.put(s.name(), dir);
            measurements.put(s.name(), setup.measurer().measure(dir));
            for (PipelineSpec.Input in : s.inputs()) {
                if (in.file() != null && !Files.isReadable(base.resolve(in.file())) || in.file() != null
                        && !Files.isRegularFile(base.resolve(in.file()))) {
                    throw new CloisterException(CloisterException.Kind.BAD_INPUT, "step '" + s.name() + "' input '"
                            + in.name() + "': no readable file " + base.resolve(in.file()));
                }
            }
        }
        String runId = Orchestrator.create(spec, runsRoot, executor);
        Path runDir = runsRoot.resolve(runId);
        boolean ok = false;
        Map<String, byte[]> edgeKeys = new HashMap<>();
        Path scratch = Files.createTempDirectory("cloister-pipeline-");
        Path keys = ownerDir(setup.keys(), runId);
        try {
            OwnerJobs.privateDir(keys);
            Map<String, RunPlan.StepPlan> plans = new LinkedHashMap<>();
            // Outputs first, so that every edge's key exists before its consumers' copies are stored.
            Map<String, Map<String, String>> outputKeys = new HashMap<>();
            for (PipelineSpec.Step s : spec.steps()) {
                Map<String, String> outs = new LinkedHashMap<>();
                for (JobSpec.Output o : s.outputs()) {
                    try (PfKey k = PfKey.generate()) {
                        byte[] raw = k.toBytes();
                        edgeKeys.put(s.name() + "." + o.name(), raw);
                        outs.put(o.name(), store(setup.broker(), keys, secretName(runId, s.name(), "out-" + o.name()), raw,
                                s.bundle().policy(), true));
                    }
                }
                outputKeys.put(s.name(), outs);
            }
            for (PipelineSpec.Step s : spec.steps()) {
                String logKey;
                try (PfKey k = PfKey.generate()) {
                    byte[] raw = k.toBytes();
                    try {
                        logKey = store(setup.broker(), keys, secretName(runId, s.name(), "log"), raw, s.bundle().policy(), true);
                    } finally {
                        Arrays.fill(raw, (byte) 0);
                    }
                }
                Map<String, RunPlan.InputPlan> inputs = new LinkedHashMap<>();
                for (PipelineSpec.Input in : s.inputs()) {
                    String name = secretName(runId, s.name(), "in-" + in.name());
                    if (in.from() != null) {
                        // The producer's output key, stored again under this step's own name and policy.
                        String key = store(setup.broker(), keys, name, edgeKeys.get(in.from()), s.bundle().policy(), false);
                        inputs.put(in.name(), new RunPlan.InputPlan(key, null, -1));
                    } else {
                        try (PfKey k = PfKey.generate()) {
                            Path plain = base.resolve(in.file());
                            // Bound where the step's enclave opens it: Gramine binds to inputs/NAME (docs/jobs.md).
                            String bound = GramineManifest.isGramine(spec.backendOf(s))
                                    ? GramineManifest.hostBound(in.path()) : in.path();
                            ObjectId obj = OwnerJobs.encryptAndUpload(setup.repository(), plain, k, bound,
                                    scratch.resolve(s.name() + "-" + in.name() + ".pf"), in.name());
                            byte[] raw = k.toBytes();
                            try {
                                String key = store(setup.broker(), keys, name, raw, s.bundle().policy(), false);
                                inputs.put(in.name(), new RunPlan.InputPlan(key, obj.hex(), Files.size(plain)));
                            } finally {
                                Arrays.fill(raw, (byte) 0);
                            }
                        }
                    }
                }
                plans.put(s.name(), new RunPlan.StepPlan(bundles.get(s.name()).toString(), measurements.get(s.name()),
                        s.bundle().policy(), logKey, inputs, outputKeys.get(s.name()), s.backend()));
            }
            new RunPlan(runId, setup.repositoryLocation(), setup.brokerUrl(),
                    setup.brokerCa() == null ? null : setup.brokerCa().toAbsolutePath().toString(), spec.backend(), plans)
                    .save(runDir);
            ok = true;
            return runId;
        } finally {
            edgeKeys.values().forEach(k -> Arrays.fill(k, (byte) 0));
            AtomicFiles.deleteTree(scratch);
            if (!ok) {
                AtomicFiles.deleteTree(runDir);
                AtomicFiles.deleteTree(keys);
            }
        }
    }

    /**
     * The broker's name for one of a step's keys: readable ({@code RUN.STEP.ROLE}) when that is a valid secret
     * name, otherwise a hash of it, so that distinct keys never share a name.
     */
    static String secretName(String runId, String step, String role) {
        String readable = runId + "." + step + "." + role;
        if (SECRET_NAME.matcher(readable).matches()) {
            return readable;
        }
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(readable.getBytes(StandardCharsets.UTF_8));
            return "pl-" + HexFormat.of().formatHex(h, 0, 20);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Stores a key in the broker under {@code policy}, unsatisfiable until the step's record is bound; keeps the
     * owner's copy in the owner's private folder when {@code keep}.
     */
    private static String store(Broker broker, Path keys, String name, byte[] raw, String policy, boolean keep)
            throws CloisterException, IOException {
        broker.createJobKey(name, raw, unboundPolicy(policy));
        String qualified = broker.qualify(name);
        if (keep) {
            Path f = keyFile(keys, qualified);
            AtomicFiles.writeBytes(f, false, raw);
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        }
        return qualified;
    }

    private static Path keyFile(Path keys, String qualified) {
        return keys.resolve(qualified.replace('/', '_') + ".key");
    }

    /** The job a step's accepted attempt ran, once the step is done. */
    static Optional<String> acceptedJob(Path runDir, String step) throws IOException {
        try {
            return Optional.of(JsonMapper.builder().build().readTree(
                    Files.readAllBytes(acceptedFile(runDir, step))).path("job").asText());
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    static void accept(Path runDir, String step, String jobId) throws IOException {
        AtomicFiles.writeBytes(acceptedFile(runDir, step), true,
                ("{\"job\": \"" + jobId + "\"}\n").getBytes(StandardCharsets.UTF_8));
    }

    private static Path acceptedFile(Path runDir, String step) {
        return runDir.resolve("steps").resolve(step).resolve("accepted.json");
    }

    /** A fetched output: the step, the output, where it was written, its size and SHA-256. */
    public record Fetched(String step, String name, Path file, long size, String sha256) {}

    /**
     * Downloads, authenticates and decrypts the outputs of every step of a finished run into
     * {@code outDir/STEP/OUTPUT}, with each step's stdout and stderr as {@code STEP/stdout.txt} and
     * {@code STEP/stderr.txt}. All or nothing: everything is decrypted into a staging folder first and moved into
     * place only when every file has authenticated.
     *
     * @throws CloisterException BAD_INPUT when the run is not finished or a file it would write already exists,
     *     DENIED when any output fails authentication
     */
    public static List<Fetched> fetch(Path runDir, Repository repo, Path outDir, Path ownerKeys)
            throws CloisterException, IOException {
        return fetch(runDir, repo, outDir, ownerKeys, false);
    }

    /**
     * As {@link #fetch(Path, Repository, Path, Path)}; with {@code force} existing files of the same names are
     * replaced, without it the fetch is refused before anything is downloaded. A failed fetch removes
     * {@code outDir} again when it created it and left it empty.
     */
    public static List<Fetched> fetch(Path runDir, Repository repo, Path outDir, Path ownerKeys, boolean force)
            throws CloisterException, IOException {
        return fetch(runDir, repo, outDir, ownerKeys, force, null);
    }

    /**
     * As {@link #fetch(Path, Repository, Path, Path, boolean)}; with the owner's {@code broker} (null: not checked)
     * also as {@code job fetch} does ({@link OwnerJobs#checkReleases}): every successful release of a step's keys in
     * the broker's audit log must name the record of one of that step's attempts, kept by the owner when it was
     * bound, or the fetch is refused (DENIED) before anything is written.
     */
    public static List<Fetched> fetch(Path runDir, Repository repo, Path outDir, Path ownerKeys, boolean force,
            Broker broker) throws CloisterException, IOException {
        RunPlan plan = RunPlan.load(runDir);
        Path keys = ownerDir(ownerKeys, plan.runId());
        PipelineSpec spec = Orchestrator.spec(runDir);
        RunState state = RunState.load(runDir);
        List<String> unfinished = new ArrayList<>();
        state.steps().forEach((n, s) -> {
            if (s.phase() != RunState.Phase.DONE) {
                unfinished.add(n + " (" + s.phase().name().toLowerCase(java.util.Locale.ROOT) + ")");
            }
        });
        if (!unfinished.isEmpty()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "run " + plan.runId() + " is not finished: "
                    + String.join(", ", unfinished));
        }
        if (!force) {
            List<String> names = new ArrayList<>();
            for (PipelineSpec.Step s : spec.steps()) {
                s.outputs().forEach(o -> names.add(s.name() + "/" + o.name()));
                names.add(s.name() + "/stdout.txt");
                names.add(s.name() + "/stderr.txt");
            }
            OwnerJobs.refuseExisting(outDir, names);
        }
        if (broker != null) {
            checkReleases(runDir, plan.runId(), repo, keys, spec, state, broker);
        }
        boolean created = !Files.isDirectory(outDir);
        Files.createDirectories(outDir);
        Path staging = Files.createTempDirectory(outDir, ".cloister-fetch-");
        List<Fetched> got = new ArrayList<>();
        boolean placedAll = false;
        try {
            for (PipelineSpec.Step s : spec.steps()) {
                String job = acceptedJob(runDir, s.name()).orElseThrow(() -> new CloisterException(
                        CloisterException.Kind.BAD_INPUT, "step " + s.name() + " has no accepted result"));
                checkRecord(repo, keys, job);
                JobResult res = JobResult.parse(repo.getRef(JobResult.ref(job)).orElseThrow(() -> new CloisterException(
                        CloisterException.Kind.BAD_INPUT, "step " + s.name() + ": job " + job + " has no result in "
                        + repo.location())), job);
                RunPlan.StepPlan sp = plan.steps().get(s.name());
                Path dir = Files.createDirectories(staging.resolve(s.name()));
                for (JobSpec.Output o : s.outputs()) {
                    JobResult.Output r = res.outputs().stream().filter(x -> x.name().equals(o.name())).findFirst()
                            .orElseThrow(() -> new CloisterException(CloisterException.Kind.BAD_INPUT,
                                    "step " + s.name() + ": output " + o.name() + " is missing from its result"));
                    // Gramine binds what it writes to outputs/NAME (docs/jobs.md).
                    String bound = GramineManifest.isGramine(res.backend()) ? GramineManifest.hostBound(o.path()) : o.path();
                    got.add(fetchOne(repo, keys, sp.outputs().get(o.name()), r.object(), bound, dir.resolve(o.name()),
                            s.name(), o.name()));
                }
                if (res.stdout() != null) { // a Gramine step's console stayed on its worker
                    got.add(fetchOne(repo, keys, sp.logKey(), res.stdout(), dev.cloister.runtime.enclave.EnclaveLauncher.STDOUT_PATH,
                            dir.resolve("stdout.txt"), s.name(), "stdout"));
                    got.add(fetchOne(repo, keys, sp.logKey(), res.stderr(), dev.cloister.runtime.enclave.EnclaveLauncher.STDERR_PATH,
                            dir.resolve("stderr.txt"), s.name(), "stderr"));
                }
            }
            List<Fetched> placed = new ArrayList<>();
            for (Fetched f : got) {
                Path target = outDir.resolve(staging.relativize(f.file()));
                Files.createDirectories(target.getParent());
                Files.move(f.file(), target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                placed.add(new Fetched(f.step(), f.name(), target, f.size(), f.sha256()));
            }
            placedAll = true;
            return placed;
        } finally {
            AtomicFiles.deleteTree(staging);
            if (!placedAll && created) {
                // as job fetch does: a failed fetch does not leave behind the empty folder it made
                try (var left = Files.list(outDir)) {
                    if (left.findAny().isEmpty()) {
                        Files.delete(outDir);
                    }
                }
            }
        }
    }

    /**
     * Decrypts the stdout and stderr of a step's latest attempt (finished, failed or not), for the owner to see
     * why a step failed. Returns {@code [stdout, stderr]}.
     *
     * @throws CloisterException BAD_INPUT when the step has no attempt with a result
     */
    public static List<String> logs(Path runDir, Repository repo, String step, Path ownerKeys)
            throws CloisterException, IOException {
        RunPlan plan = RunPlan.load(runDir);
        RunPlan.StepPlan sp = plan.steps().get(step);
        if (sp == null) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "run " + plan.runId() + " has no step " + step);
        }
        int attempt = RunState.load(runDir).steps().get(step).attempt();
        String job = ConfidentialSteps.jobId(plan.runId(), step, Orchestrator.attemptDir(runDir, step, attempt));
        JobResult res = JobResult.parse(repo.getRef(JobResult.ref(job)).orElseThrow(() -> new CloisterException(
                CloisterException.Kind.BAD_INPUT, "step " + step + " attempt " + attempt + " published no result (it "
                + "failed before its program ran, or is still running): see its log in "
                + Orchestrator.attemptDir(runDir, step, attempt).resolve("log"))), job);
        Path keys = ownerDir(ownerKeys, plan.runId());
        checkRecord(repo, keys, job);
        if (res.stdout() == null) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "step " + step + " ran under " + res.backend()
                    + ", whose console is not encrypted: its output is in the step's log on the worker, "
                    + Orchestrator.attemptDir(runDir, step, attempt).resolve("log"));
        }
        Path tmp = Files.createTempDirectory("cloister-logs-");
        try {
            List<String> out = new ArrayList<>();
            for (String[] l : new String[][] {{res.stdout(), dev.cloister.runtime.enclave.EnclaveLauncher.STDOUT_PATH, "stdout"},
                    {res.stderr(), dev.cloister.runtime.enclave.EnclaveLauncher.STDERR_PATH, "stderr"}}) {
                Fetched f = fetchOne(repo, keys, sp.logKey(), l[0], l[1], tmp.resolve(l[2]), step, l[2]);
                out.add(Files.readString(f.file(), StandardCharsets.UTF_8));
            }
            return out;
        } finally {
            AtomicFiles.deleteTree(tmp);
        }
    }

    /**
     * The broker's audit log against the owner's kept record hashes: each step's keys (those its accepted job's
     * record names) were released only to enclaves bound to a record of one of the step's attempts.
     */
    private static void checkReleases(Path runDir, String runId, Repository repo, Path keys, PipelineSpec spec, RunState state,
            Broker broker) throws CloisterException, IOException {
        for (PipelineSpec.Step s : spec.steps()) {
            String job = acceptedJob(runDir, s.name()).orElseThrow(() -> new CloisterException(
                    CloisterException.Kind.BAD_INPUT, "step " + s.name() + " has no accepted result"));
            checkRecord(repo, keys, job);
            dev.cloister.runtime.job.JobRecord rec = dev.cloister.runtime.job.JobRecord.parse(repo.getRef(
                    dev.cloister.runtime.job.JobRecord.ref(job)).orElseThrow(), job);
            java.util.Set<String> kept = new java.util.HashSet<>();
            for (int a = 1; a <= state.steps().get(s.name()).attempt(); a++) {
                String attemptJob = ConfidentialSteps.jobId(runId, s.name(),
                        Orchestrator.attemptDir(runDir, s.name(), a));
                if (Files.exists(keys.resolve(attemptJob + ".record"))) { // an attempt that never started is unbound
                    kept.add(OwnerJobs.keptRecordHash(keys, attemptJob));
                }
            }
            java.util.Set<String> secrets = new java.util.LinkedHashSet<>();
            secrets.add(rec.secret());
            rec.inputs().forEach(i -> secrets.add(rec.keyOf(i.name())));
            rec.outputs().forEach(o -> secrets.add(rec.keyOf(o.name())));
            for (String secret : secrets) {
                OwnerJobs.checkReleases(job, kept, broker.history(secret));
            }
        }
    }

    /** Fails closed unless the repository's record of a step's job is the one the owner registered for it. */
    private static void checkRecord(Repository repo, Path keys, String job) throws CloisterException, IOException {
        dev.cloister.runtime.job.JobRecord rec = dev.cloister.runtime.job.JobRecord.parse(repo.getRef(
                dev.cloister.runtime.job.JobRecord.ref(job)).orElseThrow(() -> new CloisterException(
                CloisterException.Kind.BAD_INPUT, "job " + job + " has no record in " + repo.location())), job);
        OwnerJobs.checkRecord(rec, OwnerJobs.keptRecordHash(keys, job));
    }

    private static Fetched fetchOne(Repository repo, Path keys, String secret, String object, String path, Path target,
            String step, String name) throws CloisterException, IOException {
        Path file = keyFile(keys, secret);
        if (!Files.isRegularFile(file)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "step " + step + ": the owner's key " + secret
                    + " is not in " + keys + " (give the key folder the run was created with: --keys)");
        }
        try (PfKey key = PfKey.read(file)) {
            OwnerJobs.Fetched f = OwnerJobs.decryptTo(repo, object, path, target, key, step + "/" + name);
            return new Fetched(step, name, f.file(), f.size(), f.sha256());
        }
    }
}
