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
            JobRecord rec = new JobRecord(id, spec.name(), bundlePath.toAbsolutePath().normalize().toString(),
                    measurement, spec.bundle().policy(), broker.qualify(secret), spec.broker(), spec.backend(), spec.args(),
                    spec.env(), inputs, spec.outputs());
            // The key is released only to an enclave that binds exactly this record's hash into its evidence, and
            // the owner keeps the hash to check the repository's record at fetch time.
            String recordHash = rec.hashHex();
            storeRecordHash(id, recordHash);
            byte[] raw = key.toBytes();
            try {
                broker.createJobKey(secret, raw, boundPolicy(spec.bundle().policy(), recordHash));
            } finally {
                java.util.Arrays.fill(raw, (byte) 0);
            }
            repo.putRef(JobRecord.ref(id), rec.toBytes());
            published = true;
            return rec;
        } finally {
            if (!published) {
                // A job that was not published leaves no key behind (its uploaded ciphertext is harmless).
                Files.deleteIfExists(keyFile(id));
                Files.deleteIfExists(recordFile(id));
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
     *     yet, an output is missing or a file it would write already exists
     */
    public List<Fetched> fetch(String id, Path outDir) throws CloisterException, IOException {
        return fetch(id, outDir, false);
    }

    /**
     * As {@link #fetch(String, Path)}; with {@code force} existing files of the same names in {@code outDir} are
     * replaced, without it the fetch is refused (BAD_INPUT naming the file) before anything is downloaded.
     */
    public List<Fetched> fetch(String id, Path outDir, boolean force) throws CloisterException, IOException {
        JobRecord rec = JobRecord.parse(repo.getRef(JobRecord.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repo.location())), id);
        checkRecord(rec, readRecordHash(id));
        JobResult res = JobResult.parse(repo.getRef(JobResult.ref(id)).orElseThrow(() ->
                new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + " has no result yet")), id);
        if (!force) {
            List<String> names = new ArrayList<>();
            rec.outputs().forEach(o -> names.add(o.name()));
            if (res.stdout() != null) {
                names.add("stdout.txt");
            }
            if (res.stderr() != null) {
                names.add("stderr.txt");
            }
            refuseExisting(outDir, names);
        }
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

    /**
     * Refuses, before anything is written, when a file a fetch would write already exists (docs/cli.md: outputs are
     * not overwritten without {@code --force}). A later concurrent writer of the same name is not guarded against:
     * OUTDIR is the owner's own folder.
     */
    public static void refuseExisting(Path outDir, List<String> relativeNames) throws CloisterException {
        for (String n : relativeNames) {
            Path p = outDir.resolve(n);
            if (Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "output already exists: " + p
                        + " (use --force to replace it)");
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

    /**
     * The record hash a key's policy names before any record is registered for it (a pipeline step's keys between
     * the run's creation and the start of the step): SHA-256 of the ASCII text
     * {@code cloister: no job record registered yet}. No record's canonical form (a JSON object) is that text, so
     * no enclave running a record can satisfy it.
     */
    public static final String NO_RECORD_YET = java.util.HexFormat.of().formatHex(
            sha256().digest("cloister: no job record registered yet".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));

    /**
     * The owner's policy for a job key with the record clause added: the broker then releases the key only to
     * evidence whose report data carries {@code recordHash} in its second half.
     */
    public static String boundPolicy(String policy, String recordHash) {
        return policy.strip() + " JOB:" + recordHash;
    }

    /**
     * Fails closed unless the repository's record is the one the owner submitted: its hash must equal the one kept
     * at submit time. A record changed after submission (arguments, environment, which object is bound to which
     * path, outputs, bundle, backend, anything) is refused, and so are its outputs.
     *
     * @throws CloisterException DENIED naming both hashes
     */
    public static void checkRecord(JobRecord rec, String keptHash) throws CloisterException {
        String seen = rec.hashHex();
        if (!MessageDigest.isEqual(seen.getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                keptHash.getBytes(java.nio.charset.StandardCharsets.US_ASCII))) {
            throw new CloisterException(CloisterException.Kind.DENIED, "job " + rec.id() + ": the record in the "
                    + "repository (sha256 " + seen + ") is not the one submitted (sha256 " + keptHash + "); it was "
                    + "changed after submission, so its outputs are refused");
        }
    }

    /**
     * Fails closed unless every release of the job key that the broker's audit log shows went to an enclave bound to
     * the submitted record: each {@code release ... ok} line (as {@link Broker#history} gives them) must name
     * {@code record <keptHash>}. The broker's policy already refuses any other record; this catches a broker whose
     * policy was changed behind the owner's back.
     *
     * @throws CloisterException DENIED quoting the first release that names another record or none
     */
    public static void checkReleases(String id, String keptHash, List<String> history) throws CloisterException {
        checkReleases(id, java.util.Set.of(keptHash), history);
    }

    /**
     * As {@link #checkReleases(String, String, List)} where any of {@code keptHashes} is a submitted record (a
     * pipeline step's keys are bound to each of its attempts' records in turn).
     */
    public static void checkReleases(String id, java.util.Set<String> keptHashes, List<String> history)
            throws CloisterException {
        for (String line : history) {
            String[] f = line.split(" ", 4);
            if (f.length >= 3 && f[1].startsWith("release") && f[2].equals("ok")
                    && keptHashes.stream().noneMatch(h -> line.contains(" record " + h + " "))) {
                throw new CloisterException(CloisterException.Kind.DENIED, "job " + id + ": the broker released its key "
                        + "to an enclave not bound to the submitted record (sha256 "
                        + String.join(" or ", new java.util.TreeSet<>(keptHashes)) + "): " + line);
            }
        }
    }

    /** The repository's record of job {@code id}, checked against the hash kept at submit time. */
    public JobRecord checkedRecord(String id) throws CloisterException, IOException {
        JobRecord rec = record(id);
        checkRecord(rec, readRecordHash(id));
        return rec;
    }

    private void storeRecordHash(String id, String hex) throws IOException {
        keepRecordHash(keys, id, hex);
    }

    private String readRecordHash(String id) throws CloisterException, IOException {
        return keptRecordHash(keys, id);
    }

    /**
     * Keeps a record hash in the owner's private folder {@code dir} (created 0700) as {@code dir/ID.record}: the
     * owner's proof of what was submitted, checked at fetch time.
     */
    public static void keepRecordHash(Path dir, String id, String hex) throws IOException {
        privateDir(dir);
        AtomicFiles.writeBytes(dir.resolve(id + ".record"), true,
                (hex + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }

    /**
     * The record hash kept for job {@code id} in {@code dir}.
     *
     * @throws CloisterException DENIED when none is kept (nothing can be checked, so nothing is accepted)
     */
    public static String keptRecordHash(Path dir, String id) throws CloisterException, IOException {
        Path f = dir.resolve(id + ".record");
        try {
            String h = Files.readString(f, java.nio.charset.StandardCharsets.US_ASCII).strip();
            if (!h.matches("[0-9a-f]{64}")) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + id + ": " + f
                        + " does not hold a record hash");
            }
            return h;
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.DENIED, "job " + id + ": no record hash kept in " + dir
                    + " (" + f.getFileName() + "); the repository's record cannot be checked, so its outputs "
                    + "are refused (jobs submitted before records were bound must be submitted again)");
        }
    }

    /** Creates {@code dir} (and missing parents) readable by the owner only. */
    public static Path privateDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        return dir;
    }

    private Path recordFile(String id) {
        return keys.resolve(id + ".record");
    }

    private void storeKey(String id, PfKey key) throws IOException {
        privateDir(keys);
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
