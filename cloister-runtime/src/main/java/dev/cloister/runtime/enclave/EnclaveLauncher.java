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

    /** Recomputes the measurement of a program root, checking every file against its trusted hash. */
    @FunctionalInterface
    public interface Measurer {
        /**
         * @param bundle the bundle folder (manifest and files)
         * @return the identity the evidence will state: MRENCLAVE is the bundle measurement
         * @throws CloisterException DENIED naming the first file whose hash does not match
         */
        SgxMeasurements measure(Path bundle) throws CloisterException, IOException;
    }

    /** What the launcher reports to the host at the end. */
    public record Report(int programExit, List<String> written, List<String> missing) {}

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
     * Runs a plan to the end.
     *
     * @param stdoutCiphertext where the program's stdout goes, encrypted
     * @param stderrCiphertext where the program's stderr goes, encrypted
     * @throws CloisterException DENIED when the measurement differs, the broker refuses or an input fails
     *     authentication (the program then never runs); BAD_INPUT for a malformed input
     */
    public Report run(EnclavePlan plan, Path stdoutCiphertext, Path stderrCiphertext, HostChannel host)
            throws CloisterException, IOException, InterruptedException {
        Path root = Path.of(plan.root());
        host.tell("progress", HostChannel.object().put("stage", "launcher started"));
        SgxMeasurements identity = measurer.measure(Path.of(plan.bundle()));
        String measurement = java.util.HexFormat.of().formatHex(identity.mrEnclave());
        if (plan.measurement() != null && !plan.measurement().equalsIgnoreCase(measurement)) {
            throw new CloisterException(CloisterException.Kind.DENIED, "bundle measures " + measurement
                    + ", not the " + plan.measurement() + " the job expects");
        }
        host.tell("progress", HostChannel.object().put("stage", "measured").put("measurement", measurement));
        Map<String, PfKey> keys = new java.util.HashMap<>();
        try {
            // Every key first: a denial for any of them stops the job before a byte is decrypted.
            for (EnclavePlan.KeyRequest r : plan.keys()) {
                if (!keys.containsKey(r.secret())) {
                    keys.put(r.secret(), provisioner.obtain(r, identity, host));
                }
            }
            host.tell("progress", HostChannel.object().put("stage", "key released").put("count", keys.size()));
            Path inputs = Files.createDirectories(memory.resolve("inputs"));
            Path outputs = Files.createDirectories(memory.resolve("outputs"));
            for (EnclavePlan.Input in : plan.inputs()) {
                decryptInput(in, inputs, keys.get(in.key()));
            }
            host.tell("progress", HostChannel.object().put("stage", "inputs decrypted").put("count", plan.inputs().size()));
            Path out = memory.resolve("stdout");
            Path err = memory.resolve("stderr");
            int exit = runProgram(plan, root, inputs, outputs, out, err);
            host.tell("progress", HostChannel.object().put("stage", "program exited").put("exit", exit));
            PfKey logKey = keys.get(plan.logKey());
            encrypt(out, stdoutCiphertext, STDOUT_PATH, logKey);
            encrypt(err, stderrCiphertext, STDERR_PATH, logKey);
            List<String> written = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            for (EnclavePlan.Output o : plan.outputs()) {
                Path plain = underMount(outputs, o.path(), "/outputs/");
                if (exit == 0 && Files.isRegularFile(plain)) {
                    encrypt(plain, Path.of(o.ciphertext()), o.path(), keys.get(o.key()));
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

    private static void decryptInput(EnclavePlan.Input in, Path inputs, PfKey key) throws CloisterException, IOException {
        Path target = underMount(inputs, in.path(), "/inputs/");
        Files.createDirectories(target.getParent());
        try (FileChannel ch = FileChannel.open(Path.of(in.ciphertext()), StandardOpenOption.READ)) {
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

    private static int runProgram(EnclavePlan plan, Path root, Path inputs, Path outputs, Path out, Path err)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(plan.entrypoint());
        command.addAll(plan.args());
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
                .workDir(plan.workDir());
        if (!Files.exists(root.resolve("tmp"))) {
            b.tmpfs("/tmp"); // a private scratch space, in memory; a bundle that ships /tmp files keeps them instead
        }
        for (Map.Entry<String, String> e : plan.env().entrySet()) {
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
