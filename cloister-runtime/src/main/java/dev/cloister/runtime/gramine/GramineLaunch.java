package dev.cloister.runtime.gramine;

import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleSpec;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How a job runs under Gramine on an SGX host (or under {@code gramine-direct} for debugging): the working folder
 * Gramine starts in, the commands, and their environment. Gramine resolves the manifest's {@code file:root},
 * {@code file:inputs} and {@code file:outputs} against the working folder, so the folder links the bundle's root
 * and holds the job's encrypted inputs exactly where the encrypted mounts look for them; Gramine itself decrypts
 * them inside the enclave with the key its secret-provisioning library obtains from the broker over RA-TLS.
 *
 * @param dir the working folder
 * @param commands the commands to run there, in order (program names as looked up on the worker's PATH)
 * @param env environment for the commands (the broker's address for secret provisioning; nothing secret)
 */
public record GramineLaunch(Path dir, List<List<String>> commands, Map<String, String> env) {
    public GramineLaunch {
        commands = commands.stream().map(List::copyOf).toList();
        env = Map.copyOf(env);
    }

    /** The backends this class prepares. */
    public static final List<String> BACKENDS = List.of("gramine-sgx", "gramine-direct");

    /** The manifest Gramine reads, in the working folder; {@code gramine-sgx} reads the signed one beside it. */
    public static final String MANIFEST = "entrypoint.manifest";

    /** The Gramine tools a backend needs, in the order they run. */
    public static List<String> tools(String backend) throws CloisterException {
        return switch (backend) {
            case "gramine-sgx" -> List.of("gramine-sgx-sign", "gramine-sgx");
            case "gramine-direct" -> List.of("gramine-direct");
            default -> throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "backend " + backend + " is not a Gramine backend");
        };
    }

    /**
     * Checks that the backend's Gramine commands are installed.
     *
     * @param path the PATH to search (the worker's; a parameter so that tests can give their own)
     * @return for each tool, its absolute path
     * @throws CloisterException ENVIRONMENT naming the missing command and what to install
     */
    public static Map<String, Path> requireInstalled(String backend, String path) throws CloisterException {
        Map<String, Path> found = new TreeMap<>();
        for (String tool : tools(backend)) {
            Path p = which(tool, path);
            if (p == null && backend.equals("gramine-direct")) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "backend gramine-direct needs Gramine "
                        + "1.9, and 'gramine-direct' is not on PATH; build it from the vendored sources with "
                        + "'scripts/gramine-local' and put it on PATH: export PATH=\"$(scripts/gramine-local)/bin:$PATH\" "
                        + "(or install Gramine 1.9 from packages.gramineproject.io; docs/jobs.md)");
            }
            if (p == null) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "backend " + backend
                        + " needs Gramine 1.9, and '" + tool + "' is not on PATH; run this job on an SGX host with "
                        + "Gramine installed (docs/jobs.md, 'Running on an SGX host'), or submit it with backend "
                        + "'sim' to try it here");
            }
            found.put(tool, p);
        }
        return found;
    }

    private static Path which(String tool, String path) {
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isRegularFile(Path.of(dir, tool)) && Files.isExecutable(Path.of(dir, tool))) {
                return Path.of(dir, tool).toAbsolutePath();
            }
        }
        return null;
    }

    /**
     * Lays out the working folder: the job's final manifest ({@link GramineManifest}) and a link to the bundle's
     * root, the inputs (already encrypted, bound to their enclave paths) under {@code inputs/}, and an empty
     * {@code outputs/}: whatever an earlier, interrupted run left there is removed, so it can never be taken for
     * this run's output.
     *
     * @param ciphertexts for each input name, the downloaded Gramine encrypted file
     * @param servers HOST:PORT of the broker's RA-TLS secret-provisioning endpoint, or null when the bundle fixes it
     * @param signingKey the enclave signing key for {@code gramine-sgx-sign --key}, or null for Gramine's default
     *     ({@code ~/.config/gramine/enclave-key.pem})
     * @throws CloisterException BAD_INPUT when the bundle cannot run under Gramine or no broker address is known
     */
    public static GramineLaunch prepare(String backend, JobRecord rec, Bundle bundle, Map<String, Path> ciphertexts,
            String servers, Path signingKey, Path work) throws CloisterException, IOException {
        tools(backend);
        BundleSpec spec = GramineManifest.forJob(bundle.spec(), rec.args(), rec.env());
        String fixed = GramineManifest.fixedServers(spec).orElse(null);
        if (fixed == null && (servers == null || servers.isBlank())) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the bundle does not name the broker's "
                    + "secret-provisioning address; give it with --secret-provisioning HOST:PORT (the broker's "
                    + "--gramine-listen)");
        }
        layout(rec, bundle, ciphertexts, work, spec.manifest());
        List<List<String>> cmds = new ArrayList<>();
        if (backend.equals("gramine-sgx")) {
            List<String> sign = new ArrayList<>(List.of("gramine-sgx-sign", "--manifest", MANIFEST, "--output",
                    MANIFEST + ".sgx"));
            if (signingKey != null) {
                sign.addAll(List.of("--key", signingKey.toAbsolutePath().toString()));
            }
            cmds.add(sign);
        }
        cmds.add(List.of(backend, "entrypoint"));
        Map<String, String> env = new TreeMap<>();
        env.put(GramineManifest.SERVERS, fixed != null ? fixed : servers);
        return new GramineLaunch(work, cmds, env);
    }

    /**
     * Lays out the working folder for {@code gramine-direct}: as {@link #prepare}, plus {@code cloister/launcher}
     * (Cloister's launcher, which Gramine starts first), {@code cloister/bundle.manifest} (the bundle's manifest,
     * whose hash the launcher states) and {@code cloister/job.json} (the record's canonical bytes, which the launcher
     * hashes into its evidence and checks the run against; all three trusted files), and the manifest of {@link GramineManifest#renderDirect}. No broker address:
     * the launcher talks to the broker through the worker, on its stdin and stdout.
     *
     * @param launcher the compiled launcher ({@link LauncherBinary})
     * @param libsysdb this worker's Gramine LibOS ({@code libsysdb.so})
     * @param fileKeys enclave path -> key name, for files not under the job key (pipeline steps)
     */
    public static GramineLaunch prepareDirect(JobRecord rec, Bundle bundle, Map<String, Path> ciphertexts,
            Path launcher, Path libsysdb, Map<String, String> fileKeys, Path work) throws CloisterException, IOException {
        return prepareDirect(rec, rec.canonicalBytes(), bundle, ciphertexts, launcher, libsysdb, fileKeys, work);
    }

    /**
     * As {@link #prepareDirect(JobRecord, Bundle, Map, Path, Path, Map, Path)}, with the bytes placed at
     * {@code /cloister/job.json} given separately: only for tests that play a host which lays out one record and
     * hands the launcher another.
     */
    static GramineLaunch prepareDirect(JobRecord rec, byte[] recordFile, Bundle bundle, Map<String, Path> ciphertexts,
            Path launcher, Path libsysdb, Map<String, String> fileKeys, Path work) throws CloisterException, IOException {
        Path bundleManifest = bundle.dir().resolve("entrypoint.manifest");
        String recordSha256 = java.util.HexFormat.of().formatHex(sha256(recordFile));
        byte[] manifest = GramineManifest.renderDirect(bundle.spec(), rec.args(), rec.env(), libsysdb.toString(),
                sha256(launcher), sha256(bundleManifest), recordSha256, fileKeys);
        layout(rec, bundle, ciphertexts, work, manifest);
        Path own = work.resolve(GramineManifest.CLOISTER_DIR);
        AtomicFiles.deleteTree(own);
        Files.createDirectories(own);
        Files.copy(launcher, own.resolve("launcher"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.copy(bundleManifest, own.resolve("bundle.manifest"));
        // The record the launcher hashes into its evidence and checks the run against; Gramine refuses it if its
        // bytes differ from the hash above (and on SGX that hash is part of MRENCLAVE).
        Files.write(own.resolve("job.json"), recordFile);
        return new GramineLaunch(work, List.of(List.of("gramine-direct", "entrypoint")), Map.of());
    }

    private static byte[] sha256(byte[] b) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(b);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(Path p) throws IOException {
        try (var in = Files.newInputStream(p)) {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void layout(JobRecord rec, Bundle bundle, Map<String, Path> ciphertexts, Path work,
            byte[] manifest) throws CloisterException, IOException {
        Files.createDirectories(work);
        AtomicFiles.writeBytes(work.resolve(MANIFEST), true, manifest);
        Files.deleteIfExists(work.resolve(MANIFEST + ".sgx"));
        Path root = work.resolve(BundleSpec.ROOT);
        Files.deleteIfExists(root);
        Files.createSymbolicLink(root, bundle.dir().resolve(BundleSpec.ROOT).toAbsolutePath());
        Path inputs = work.resolve("inputs");
        AtomicFiles.deleteTree(inputs);
        for (JobRecord.Input in : rec.inputs()) {
            Path target = under(inputs, in.path(), GramineManifest.INPUTS + "/");
            Files.createDirectories(target.getParent());
            Files.copy(ciphertexts.get(in.name()), target, StandardCopyOption.REPLACE_EXISTING);
        }
        Files.createDirectories(inputs);
        Path outputs = work.resolve("outputs");
        AtomicFiles.deleteTree(outputs);
        Files.createDirectories(outputs);
    }

    /** Where Gramine leaves an output's encrypted file, for an output at {@code enclavePath} under /outputs. */
    public Path output(String enclavePath) throws CloisterException {
        return under(dir.resolve("outputs"), enclavePath, GramineManifest.OUTPUTS + "/");
    }

    private static Path under(Path dir, String enclavePath, String mount) throws CloisterException {
        if (!enclavePath.startsWith(mount)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, enclavePath + " is not under " + mount);
        }
        Path p = dir.resolve(enclavePath.substring(mount.length())).normalize();
        if (!p.startsWith(dir) || p.equals(dir)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, enclavePath + " escapes " + mount);
        }
        return p;
    }
}
