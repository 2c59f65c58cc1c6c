package dev.cloister.runtime.job;

import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.pf.PathPolicy;
import dev.cloister.runtime.gramine.GramineManifest;
import dev.cloister.pf.PfException;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The data owner's side of a job: submit (create the job key in the broker under the owner's policy, encrypt the
 * inputs bound to the paths the enclave opens, publish ciphertext and the job record) and fetch (authenticate and
 * decrypt the outputs). The owner keeps a copy of each job key in a private key folder; nothing else on the
 * owner's side is secret, and no plaintext leaves the owner's machine.
 */
public final class OwnerJobs {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Repository repo;
    private final Broker broker;
    private final Path keys;

    /** @param keys the owner's private folder for job keys (created 0700) */
    public OwnerJobs(Repository repo, Broker broker, Path keys) {
        this.repo = repo;
        this.broker = broker;
        this.keys = keys;
    }

    /**
     * Submits a job.
     *
     * @param base the folder relative input paths in the spec are resolved against
     * @param bundlePath the bundle folder the worker will run
     * @param measurement the bundle's measurement, hex
     * @return the published record; its id is what the worker and {@link #fetch} take
     */
    public JobRecord submit(JobSpec spec, Path base, Path bundlePath, String measurement)
            throws CloisterException, IOException {
        byte[] idBytes = new byte[5];
        RANDOM.nextBytes(idBytes);
        String id = spec.name() + "-" + HexFormat.of().formatHex(idBytes);
        String secret = "job-" + id;
        // Every input is checked before anything is created, so a typo in the job file costs nothing.
        for (JobSpec.Input in : spec.inputs()) {
            Path plain = base.resolve(in.file());
            if (!Files.isRegularFile(plain) || !Files.isReadable(plain)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "input " + in.name() + ": no readable file " + plain);
            }
        }
        boolean published = false;
        try (PfKey key = PfKey.generate()) {
            storeKey(id, key);
            List<JobRecord.Input> inputs = new ArrayList<>();
            Path tmp = Files.createTempDirectory("cloister-submit-");
            try {
                for (JobSpec.Input in : spec.inputs()) {
                    Path plain = base.resolve(in.file());
                    // Gramine's encrypted mount opens a file only when it is bound to the path Gramine derives from the
                    // mount's URI (inputs/NAME); the sim launcher checks whatever the record says.
                    String bound = GramineManifest.isGramine(spec.backend()) ? GramineManifest.hostBound(in.path())
                            : in.path();
                    ObjectId obj = encryptAndUpload(repo, plain, key, bound, tmp.resolve(in.name() + ".pf"), in.name());
                    inputs.add(new JobRecord.Input(in.name(), in.path(), obj.hex(), Files.size(plain), bound));
                }
            } finally {
                dev.cloister.core.AtomicFiles.deleteTree(tmp);
            }
            byte[] raw = key.toBytes();
            try {
                broker.createJobKey(secret, raw, spec.bundle().policy());
            } finally {
                java.util.Arrays.fill(raw, (byte) 0);
            }
            JobRecord rec = new JobRecord(id, spec.name(), bundlePath.toAbsolutePath().normalize().toString(),
                    measurement, spec.bundle().policy(), broker.qualify(secret), spec.broker(), spec.backend(), spec.args(),
                    spec.env(), inputs, spec.outputs());
            repo.putRef(JobRecord.ref(id), rec.toBytes());
            published = true;
            return rec;
        } finally {
            if (!published) {
                // A job that was not published leaves no key behind (its uploaded ciphertext is harmless).
                Files.deleteIfExists(keyFile(id));
            }
        }
    }

    /** A fetched output: where it was written, its size and SHA-256. */
    public record Fetched(String name, Path file, long size, String sha256) {}

    /**
     * Downloads, authenticates and decrypts a finished job's outputs, plus the program's stdout and stderr, into
     * {@code outDir}. Each output must authenticate under the job key and be bound to its declared enclave path.
     * All or nothing: every file is first decrypted to a temporary file in {@code outDir} and only when all of them
     * authenticated are they renamed into place, so a failure leaves no new file there (and earlier contents of
     * {@code outDir} untouched).
     *
     * @throws CloisterException DENIED when an output fails authentication, BAD_INPUT when the job has no result
     *     yet or an output is missing
     */
    public List<Fetched> fetch(String id, Path outDir) throws CloisterException, IOException {
        JobRecord rec = JobRecord.parse(repo.getRef(JobRecord.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repo.location())), id);
        JobResult res = JobResult.parse(repo.getRef(JobResult.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + " has no result yet")), id);
        boolean created = !Files.isDirectory(outDir);
        Files.createDirectories(outDir);
        List<Staged> staged = new ArrayList<>();
        boolean committed = false;
        try (PfKey key = PfKey.read(keyFile(id))) {
            // The program's stdout and stderr first: when outputs are missing, they say why. A Gramine run has
            // none (Gramine does not encrypt the console), so a result may leave them out.
            Staged stdout = res.stdout() == null ? null
                    : decrypt(res.stdout(), "/cloister/stdout", outDir.resolve("stdout.txt"), key, "stdout", staged);
            Staged stderr = res.stderr() == null ? null
                    : decrypt(res.stderr(), "/cloister/stderr", outDir.resolve("stderr.txt"), key, "stderr", staged);
            if (!res.missing().isEmpty()) {
                // What the program said is worth keeping even though the job failed: it authenticated.
                commit(staged);
                committed = true;
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + ": the program did not "
                        + "write " + String.join(", ", res.missing()) + " (exit " + res.programExit() + ")"
                        + (stderr == null ? "" : "; its stderr is in " + stderr.fetched().file()));
            }
            List<Fetched> out = new ArrayList<>();
            for (JobSpec.Output o : rec.outputs()) {
                JobResult.Output got = res.outputs().stream().filter(x -> x.name().equals(o.name())).findFirst()
                        .orElseThrow(() -> new CloisterException(CloisterException.Kind.BAD_INPUT,
                                "job " + id + ": output " + o.name() + " is missing from the result"));
                // Gramine binds what it writes to its host-side path (outputs/NAME); either way the path names
                // exactly one declared output, so a worker still cannot swap two of them.
                String bound = GramineManifest.isGramine(res.backend()) ? GramineManifest.hostBound(o.path()) : o.path();
                out.add(decrypt(got.object(), bound, outDir.resolve(o.name()), key, o.name(), staged).fetched());
            }
            if (stdout != null) {
                out.add(stdout.fetched());
            }
            if (stderr != null) {
                out.add(stderr.fetched());
            }
            commit(staged);
            committed = true;
            return out;
        } finally {
            if (!committed) {
                for (Staged s : staged) {
                    Files.deleteIfExists(s.temp());
                }
                if (created) {
                    try (var left = Files.list(outDir)) {
                        if (left.findAny().isEmpty()) {
                            Files.delete(outDir);
                        }
                    }
                }
            }
        }
    }

    /** A decrypted file waiting in a temporary file beside its target until every file has authenticated. */
    private record Staged(Path temp, Fetched fetched) {}

    private static void commit(List<Staged> staged) throws IOException {
        for (Staged s : staged) {
            Files.move(s.temp(), s.fetched().file(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The record of a submitted job. */
    public JobRecord record(String id) throws CloisterException, IOException {
        return JobRecord.parse(repo.getRef(JobRecord.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repo.location())), id);
    }

    private Staged decrypt(String object, String path, Path target, PfKey key, String name, List<Staged> staged)
            throws CloisterException, IOException {
        Path temp = Files.createTempFile(target.getParent(), "." + name + ".", ".part");
        Staged s = new Staged(temp, null);
        staged.add(s); // registered before writing, so a failure removes it
        Fetched f = decryptTo(repo, object, path, temp, key, name);
        Staged done = new Staged(temp, new Fetched(name, target, f.size(), f.sha256()));
        staged.set(staged.indexOf(s), done);
        return done;
    }

    /**
     * Encrypts an owner's file as a Gramine encrypted file bound to {@code path} and uploads it.
     *
     * @param scratch where the ciphertext is written first (removed by the caller)
     * @throws CloisterException BAD_INPUT when the file is missing
     */
    public static ObjectId encryptAndUpload(Repository repo, Path plain, PfKey key, String path, Path scratch, String name)
            throws CloisterException, IOException {
        try (InputStream is = Files.newInputStream(plain)) {
            AtomicFiles.<PfException>write(scratch, true, ch ->
                    ProtectedFiles.encrypt(is, ch, key, path, PfVersion.V2, n -> {}));
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "input " + name + ": no such file " + plain);
        }
        return repo.put(scratch);
    }

    /**
     * Downloads an encrypted object and decrypts it into {@code file}, authenticating every node under {@code key}
     * and the embedded path against {@code path}. On failure {@code file} holds an unauthenticated prefix: the
     * caller writes to a temporary file of its own and removes it (or moves it into place only when every file it
     * fetches has authenticated).
     *
     * @return the file's name, location, size and SHA-256
     * @throws CloisterException DENIED when it fails authentication, BAD_INPUT when the object is missing
     */
    public static Fetched decryptTo(Repository repo, String object, String path, Path file, PfKey key, String name)
            throws CloisterException, IOException {
        Path ct = Files.createTempFile("cloister-fetch-", ".pf");
        try {
            repo.get(ObjectId.parse(object), ct);
            MessageDigest sha = sha256();
            try (FileChannel ch = FileChannel.open(ct, StandardOpenOption.READ);
                    var os = new java.security.DigestOutputStream(Files.newOutputStream(file), sha)) {
                ProtectedFiles.decrypt(ch, os, key, PathPolicy.expect(path), name, n -> {});
            }
            return new Fetched(name, file, Files.size(file), HexFormat.of().formatHex(sha.digest()));
        } finally {
            Files.deleteIfExists(ct);
        }
    }

    private void storeKey(String id, PfKey key) throws IOException {
        if (!Files.isDirectory(keys)) {
            Files.createDirectories(keys, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        Path f = keyFile(id);
        byte[] raw = key.toBytes();
        try {
            AtomicFiles.writeBytes(f, false, raw);
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        } finally {
            java.util.Arrays.fill(raw, (byte) 0);
        }
    }

    private Path keyFile(String id) {
        return keys.resolve(id + ".key");
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

}
