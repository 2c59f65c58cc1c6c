package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfException;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.sandbox.Bubblewrap;
import dev.cloister.runtime.sandbox.SandboxSpec;
import dev.cloister.runtime.sandbox.UnshareSandbox;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The trusted part of a job, which runs inside the enclave (under the simulation backend: inside the outer
 * sandbox that stands in for it). It measures the program it is about to run, obtains the job key from the broker
 * with evidence of that measurement, decrypts the inputs into enclave memory, runs the unmodified program in an
 * inner sandbox that sees only the program's files and its inputs and outputs, and encrypts the outputs and the
 * program's stdout and stderr before anything leaves.
 *
 * <p>Order matters for the guarantees: every input authenticates before the program starts (so a tampered input
 * never reaches it), and no plaintext is written outside {@code memory}, which is a tmpfs.
 */
public final class EnclaveLauncher {
    /** Where the stdout and stderr ciphertexts are bound; not under /outputs, so no program file can clash. */
    public static final String STDOUT_PATH = "/cloister/stdout";
    public static final String STDERR_PATH = "/cloister/stderr";

    /** Recomputes the measurement of a bundle, checking every file against its trusted hash. */
    @FunctionalInterface
    public interface Measurer {
        /**
         * @param bundle the bundle folder (manifest and files)
         * @return the identity the evidence will state (MRENCLAVE is the bundle measurement) and the program the
         *     bundle's measured manifest says to start
         * @throws CloisterException DENIED naming the first file whose hash does not match
         */
        Program measure(Path bundle) throws CloisterException, IOException;
    }

    /**
     * A measured bundle: its identity and how its manifest starts the program. Everything here comes from the
     * measured manifest, never from the host.
     *
     * @param identity what the evidence states
     * @param root the program's root directory as the launcher sees it (the bundle's files, nothing else)
     * @param entrypoint the program, an absolute path inside {@code root}
     * @param args the manifest's arguments, before the job's
     * @param env the manifest's environment, which the job's extends
     * @param workDir the program's working directory inside the root
     */
    public record Program(SgxMeasurements identity, String root, String entrypoint, List<String> args,
            Map<String, String> env, String workDir) {
        public Program {
            args = List.copyOf(args);
            env = Map.copyOf(env);
        }
    }

    /** What the launcher reports to the host at the end. */
    public record Report(int programExit, List<String> written, List<String> missing) {}

    private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private final Measurer measurer;
    private final KeyProvisioner provisioner;
    private final Path memory;

    /**
     * @param memory a memory-backed directory private to the enclave, where plaintext lives while the program runs
     */
    public EnclaveLauncher(Measurer measurer, KeyProvisioner provisioner, Path memory) {
        this.measurer = measurer;
        this.provisioner = provisioner;
        this.memory = memory;
    }

    /**
     * Runs a plan to the end. What runs is derived from the plan's job record and the measured bundle only; the
     * record's hash is bound into the evidence of every key request, so the broker releases nothing for a record
     * other than the one the owner registered, and every input is checked to be the exact repository object the
     * record names. All of this happens before the program starts.
     *
     * @param stdoutCiphertext where the program's stdout goes, encrypted
     * @param stderrCiphertext where the program's stderr goes, encrypted
     * @throws CloisterException DENIED when the measurement differs, the broker refuses or an input is not the
     *     record's object or fails authentication (the program then never runs); BAD_INPUT for a malformed plan
     */
    public Report run(EnclavePlan plan, Path stdoutCiphertext, Path stderrCiphertext, HostChannel host)
            throws CloisterException, IOException, InterruptedException {
        host.tell("progress", HostChannel.object().put("stage", "launcher started"));
        JobRecord rec = plan.job();
        byte[] recordHash = rec.hash();
        Program program = measurer.measure(Path.of(plan.bundle()));
        String measurement = java.util.HexFormat.of().formatHex(program.identity().mrEnclave());
        if (!"sim".equals(rec.backend())) {
            throw new CloisterException(CloisterException.Kind.DENIED, "job " + rec.id() + " names backend "
                    + rec.backend() + "; this launcher runs only sim jobs");
        }
        if (rec.measurement() == null || !rec.measurement().equalsIgnoreCase(measurement)) {
            throw new CloisterException(CloisterException.Kind.DENIED, "bundle measures " + measurement
                    + ", not the " + rec.measurement() + " the job expects");
        }
        host.tell("progress", HostChannel.object().put("stage", "measured").put("measurement", measurement)
                .put("record", java.util.HexFormat.of().formatHex(recordHash)));
        for (JobRecord.Input in : rec.inputs()) {
            checkName(rec, "input", in.name());
        }
        for (JobSpec.Output o : rec.outputs()) {
            checkName(rec, "output", o.name());
        }
        // The secrets the record needs, each with the host's nonce for it; the plan decides nothing else here.
        Map<String, String> nonces = new java.util.HashMap<>();
        plan.keys().forEach(k -> nonces.putIfAbsent(k.secret(), k.nonce()));
        java.util.Set<String> secrets = new java.util.LinkedHashSet<>();
        secrets.add(rec.secret());
        rec.inputs().forEach(i -> secrets.add(rec.keyOf(i.name())));
        rec.outputs().forEach(o -> secrets.add(rec.keyOf(o.name())));
        Map<String, PfKey> keys = new java.util.HashMap<>();
        try {
            // Every key first: a denial for any of them stops the job before a byte is decrypted.
            for (String secret : secrets) {
                String nonce = nonces.get(secret);
                if (nonce == null) {
                    throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the host gave no broker nonce for key "
                            + secret + " of job " + rec.id());
                }
                keys.put(secret, provisioner.obtain(new EnclavePlan.KeyRequest(secret, nonce), program.identity(),
                        recordHash, host));
            }
            host.tell("progress", HostChannel.object().put("stage", "key released").put("count", keys.size()));
            Path inputs = Files.createDirectories(memory.resolve("inputs"));
            Path outputs = Files.createDirectories(memory.resolve("outputs"));
            for (JobRecord.Input in : rec.inputs()) {
                decryptInput(in, Path.of(plan.inputDir(), in.name() + ".pf"), inputs, keys.get(rec.keyOf(in.name())));
            }
            host.tell("progress", HostChannel.object().put("stage", "inputs decrypted").put("count", rec.inputs().size()));
            Path out = memory.resolve("stdout");
            Path err = memory.resolve("stderr");
            int exit = runProgram(plan, program, rec, inputs, outputs, out, err);
            host.tell("progress", HostChannel.object().put("stage", "program exited").put("exit", exit));
            PfKey logKey = keys.get(rec.secret());
            encrypt(out, stdoutCiphertext, STDOUT_PATH, logKey);
            encrypt(err, stderrCiphertext, STDERR_PATH, logKey);
            List<String> written = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            for (JobSpec.Output o : rec.outputs()) {
                // An output at a stream's path is the program's captured stream (a pipeline's 'stdout: NAME'),
                // encrypted again under that output's own key, so only its consumers can read it.
                Path plain = STDOUT_PATH.equals(o.path()) ? out : STDERR_PATH.equals(o.path()) ? err
                        : underMount(outputs, o.path(), "/outputs/");
                if (exit == 0 && Files.isRegularFile(plain)) {
                    encrypt(plain, Path.of(plan.outputDir(), o.name() + ".pf"), o.path(), keys.get(rec.keyOf(o.name())));
                    written.add(o.name());
                } else {
                    missing.add(o.name());
                }
            }
            Report report = new Report(exit, written, missing);
            ObjectNode body = HostChannel.object().put("exit", exit);
            ArrayNode w = body.putArray("written");
            written.forEach(w::add);
            ArrayNode m = body.putArray("missing");
            missing.forEach(m::add);
            host.tell("done", body);
            return report;
        } finally {
            keys.values().forEach(PfKey::close);
        }
    }

    /** Names become file names here; the owner's spec already restricts them, the record is checked again. */
    private static void checkName(JobRecord rec, String what, String name) throws CloisterException {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job " + rec.id() + ": " + what + " name '"
                    + name + "' is not a plain name");
        }
    }

    /** Fails closed unless the ciphertext is exactly the repository object the record names. */
    private static void checkObject(JobRecord.Input in, Path ciphertext) throws CloisterException, IOException {
        ObjectId want = ObjectId.parse(in.object());
        java.security.MessageDigest sha;
        try {
            sha = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream is = Files.newInputStream(ciphertext)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = is.read(buf)) > 0; ) {
                sha.update(buf, 0, n);
            }
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "input " + in.name() + ": ciphertext is missing");
        }
        if (!java.security.MessageDigest.isEqual(sha.digest(), java.util.HexFormat.of().parseHex(want.hex()))) {
            throw new CloisterException(CloisterException.Kind.DENIED, "input " + in.name() + ": the ciphertext the host "
                    + "gave is not object " + want + " that the job record names");
        }
    }

    private static void decryptInput(JobRecord.Input in, Path ciphertext, Path inputs, PfKey key)
            throws CloisterException, IOException {
        checkObject(in, ciphertext);
        Path target = underMount(inputs, in.path(), "/inputs/");
        Files.createDirectories(target.getParent());
        try (FileChannel ch = FileChannel.open(ciphertext, StandardOpenOption.READ)) {
            AtomicFiles.<PfException>writeStream(target, false, os ->
                    ProtectedFiles.decrypt(ch, os, key, PathPolicy.expect(in.bound()), in.name(), n -> {}));
        } catch (NoSuchFileException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "input " + in.name() + ": ciphertext is missing");
        }
    }

    private static void encrypt(Path plain, Path ciphertext, String embeddedPath, PfKey key) throws IOException, PfException {
        Files.createDirectories(ciphertext.toAbsolutePath().getParent());
        try (InputStream is = Files.exists(plain) ? Files.newInputStream(plain) : InputStream.nullInputStream()) {
            AtomicFiles.<PfException>write(ciphertext, true, ch ->
                    ProtectedFiles.encrypt(is, ch, key, embeddedPath, PfVersion.V2, n -> {}));
        }
    }

    /** The file inside {@code dir} for an enclave path under {@code mount}; the job spec already rejected escapes. */
    static Path underMount(Path dir, String enclavePath, String mount) throws CloisterException {
        if (!enclavePath.startsWith(mount)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, enclavePath + " is not under " + mount);
        }
        Path p = dir.resolve(enclavePath.substring(mount.length())).normalize();
        if (!p.startsWith(dir) || p.equals(dir)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, enclavePath + " escapes " + mount);
        }
        return p;
    }

    private static int runProgram(EnclavePlan plan, Program program, JobRecord rec, Path inputs, Path outputs, Path out,
            Path err) throws IOException, InterruptedException {
        Path root = Path.of(program.root());
        List<String> command = new ArrayList<>();
        command.add(program.entrypoint());
        command.addAll(program.args());
        command.addAll(rec.args());
        SandboxSpec.Builder b = SandboxSpec.builder(command);
        // The root's entries are bound one by one rather than the root at "/", which would cover the sandbox's
        // own /proc and /dev.
        try (var entries = Files.list(root)) {
            for (Path e : entries.sorted().toList()) {
                String name = "/" + e.getFileName();
                if (List.of("/proc", "/dev", "/inputs", "/outputs").contains(name)) {
                    continue;
                }
                if (Files.isSymbolicLink(e)) {
                    b.symlink(name, Files.readSymbolicLink(e).toString());
                } else {
                    b.readOnly(e, name);
                }
            }
        }
        b.readOnly(inputs, "/inputs")
                .writable(outputs, "/outputs")
                .workDir(program.workDir());
        if (!Files.exists(root.resolve("tmp"))) {
            b.tmpfs("/tmp"); // a private scratch space, in memory; a bundle that ships /tmp files keeps them instead
        }
        // The bundle's environment, extended by the job's (sorted, so the order never depends on the host).
        Map<String, String> env = new java.util.TreeMap<>(program.env());
        env.putAll(rec.env());
        for (Map.Entry<String, String> e : env.entrySet()) {
            b.env(e.getKey(), e.getValue());
        }
        SandboxSpec inner = b.build();
        ProcessBuilder pb = new ProcessBuilder(plan.sandbox().equals("unshare")
                ? new UnshareSandbox().nestedCommandLine(inner) : new Bubblewrap().nestedCommandLine(inner));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        return p.waitFor();
    }
}
