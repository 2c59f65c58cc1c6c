package dev.cloister.runtime.gramine;

import dev.cloister.bundle.BundleSpec;
import dev.cloister.core.CloisterException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The final Gramine manifest of one job: the bundle's manifest with the job's arguments and environment, the
 * encrypted mounts at {@code /inputs} and {@code /outputs} keyed by the provisioned job key, and Gramine's
 * secret provisioning from the broker. It is rendered by the bundle's own canonical renderer
 * ({@link BundleSpec#manifest()}), so it is a pure function of the bundle and the job record: the owner can render
 * the same bytes, and hence learn the MRENCLAVE, before any worker runs the job.
 *
 * <p><b>Arguments are measured.</b> Gramine ignores the host's command line unless the manifest says
 * {@code loader.insecure__use_cmdline_argv}, which would let the untrusted worker choose them (and so make the
 * program print its input, say). The alternative, {@code loader.argv_src_file} pointing at an encrypted file, does
 * not work with a key that Gramine's secret-provisioning library obtains only once the program's constructors
 * run, after the loader has read the arguments. So the job's {@code args} are appended to the bundle's
 * {@code loader.argv} and its {@code env} to {@code loader.env}: both are part of the manifest and thus of
 * MRENCLAVE. Effect on the policy: a Gramine job's MRENCLAVE is that of this job manifest, not of the bare bundle;
 * jobs with the same bundle, arguments and environment share it, any other argument changes it. An owner who
 * wants one policy for many argument lists must pin MRSIGNER/ISVPRODID/ISVSVN instead, and then trusts the
 * signer with the arguments.
 */
public final class GramineManifest {
    private GramineManifest() {}

    /** The enclave paths of the job mounts; the job file's input and output paths live under them. */
    public static final String INPUTS = "/inputs";
    public static final String OUTPUTS = "/outputs";

    /** The environment variable with the broker's RA-TLS address ({@code HOST:PORT}). */
    public static final String SERVERS = "SECRET_PROVISION_SERVERS";

    /** Names the job's {@code env} may not set: they would change how, and from whom, the enclave gets its key. */
    private static final List<String> RESERVED = List.of("LD_PRELOAD", "LD_LIBRARY_PATH");

    /**
     * The job's manifest, as a spec the bundle renderer accepts.
     *
     * @param bundle the bundle's spec (from {@code cloister.json}, checked against its manifest by Bundle.open)
     * @param args the job's arguments, appended to the bundle's argv
     * @param env the job's environment, added to the bundle's
     * @throws CloisterException BAD_INPUT when the bundle cannot obtain a key from the broker (built without
     *     {@code --broker-ca}) or the job's environment touches key provisioning
     */
    public static BundleSpec forJob(BundleSpec bundle, List<String> args, Map<String, String> env)
            throws CloisterException {
        if (!bundle.keyBroker()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the bundle was built without --broker-ca, "
                    + "so under Gramine its enclave cannot obtain the job key from the broker; rebuild it with "
                    + "'cloister build ... --broker-ca BROKER.pem' (docs/bundles.md)");
        }
        checkJob(args, env);
        List<String> argv = new ArrayList<>(bundle.argv());
        argv.addAll(args);
        TreeMap<String, String> allEnv = new TreeMap<>(bundle.env());
        allEnv.putAll(env);
        List<String> passthrough = new ArrayList<>(bundle.passthroughEnv());
        if (!allEnv.containsKey(SERVERS) && !passthrough.contains(SERVERS)) {
            passthrough.add(SERVERS);
        }
        return new BundleSpec(bundle.entrypoint(), argv, allEnv, passthrough, bundle.files(), bundle.allowedFiles(),
                bundle.enclaveSize(), bundle.maxThreads(), bundle.isvProdId(), bundle.isvSvn(), bundle.libos(),
                bundle.libosSha256(), INPUTS, OUTPUTS, true, bundle.gramineRuntime());
    }

    private static void checkJob(List<String> args, Map<String, String> env) throws CloisterException {
        for (String name : env.keySet()) {
            if (RESERVED.contains(name) || name.startsWith("SECRET_PROVISION_")) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job env sets " + name
                        + ", which Gramine jobs reserve for key provisioning");
            }
        }
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).indexOf('\0') >= 0) {
                // Gramine hands argv to the program as C strings: a NUL would silently cut the argument.
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job args[" + i + "] contains a NUL character");
            }
        }
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().indexOf('\0') >= 0 || e.getValue().indexOf('\0') >= 0) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "job env " + e.getKey().replace('\0', '?')
                        + " contains a NUL character");
            }
        }
    }

    /** Where the runner's own files appear inside the enclave under gramine-direct (a chroot mount). */
    public static final String CLOISTER_MOUNT = "/cloister";
    /** The launcher Gramine starts first under gramine-direct. */
    public static final String LAUNCHER = CLOISTER_MOUNT + "/launcher";
    /** The bundle's own manifest, whose hash the launcher states as the measurement. */
    public static final String BUNDLE_MANIFEST = CLOISTER_MOUNT + "/bundle.manifest";
    /**
     * The job record's canonical JSON ({@code JobRecord.canonicalBytes()}), a trusted file: the launcher hashes it
     * itself for its evidence and checks what it runs against it (docs/jobs.md, "What the record binds").
     */
    public static final String JOB_RECORD = CLOISTER_MOUNT + "/job.json";
    /** The folder, in Gramine's working folder, that holds them. */
    public static final String CLOISTER_DIR = "cloister";

    /**
     * The job's manifest under {@code gramine-direct}: the bundle's manifest with the job's arguments and
     * environment, rendered by the bundle's writer, plus only what the run needs on this worker (docs/jobs.md):
     * <ul>
     *   <li>Cloister's launcher runs first ({@code libos.entrypoint = /cloister/launcher}, {@code loader.argv} =
     *       launcher, the bundle's entrypoint, then the bundle's argv and the job's args): it obtains the key from
     *       the broker with simulated evidence, writes it to {@code /dev/attestation/keys/default}, and execve()s
     *       the program in the same Gramine process;</li>
     *   <li>a chroot mount {@code /cloister} of the working folder's {@code cloister/}, whose three files, the
     *       launcher, the bundle's manifest and the job record's canonical JSON ({@code job.json}), are trusted files
     *       with their SHA-256;</li>
     *   <li>{@code loader.entrypoint.uri} = this worker's {@code libsysdb.so} (where Gramine is installed is a
     *       fact of the host; a hash the bundle pinned stays);</li>
     *   <li>{@code loader.log_level = "warning"}: Gramine names a refused file only at that level.</li>
     * </ul>
     * Removed: Gramine's RA-TLS secret provisioning of {@code --broker-ca} bundles (its library needs SGX quotes).
     * {@code fs.insecure__keys} never appears.
     */
    public static byte[] renderDirect(BundleSpec bundle, List<String> args, Map<String, String> env, String libsysdb,
            String launcherSha256, String bundleManifestSha256, String recordSha256) throws CloisterException {
        return renderDirect(bundle, args, env, libsysdb, launcherSha256, bundleManifestSha256, recordSha256, Map.of());
    }

    /**
     * As {@link #renderDirect(BundleSpec, List, Map, String, String, String, String)}, for a job whose files do not all use
     * the job key (a pipeline step: one key per edge): each such file gets an encrypted mount of its own, at its
     * enclave path, keyed by its own {@code /dev/attestation/keys/NAME}.
     *
     * @param fileKeys enclave path (under /inputs or /outputs) -> key name, for files not under the job key
     */
    public static byte[] renderDirect(BundleSpec bundle, List<String> args, Map<String, String> env, String libsysdb,
            String launcherSha256, String bundleManifestSha256, String recordSha256, Map<String, String> fileKeys)
            throws CloisterException {
        checkJob(args, env);
        List<String> argv = new ArrayList<>(bundle.argv());
        argv.addAll(args);
        TreeMap<String, String> allEnv = new TreeMap<>(bundle.env());
        allEnv.putAll(env);
        List<String> passthrough = new ArrayList<>(bundle.passthroughEnv());
        passthrough.remove(SERVERS);
        BundleSpec spec = new BundleSpec(bundle.entrypoint(), argv, allEnv, passthrough, bundle.files(),
                bundle.allowedFiles(), bundle.enclaveSize(), bundle.maxThreads(), bundle.isvProdId(), bundle.isvSvn(),
                libsysdb, bundle.libosSha256(), INPUTS, OUTPUTS, false, bundle.gramineRuntime());
        List<String> launcherArgv = new ArrayList<>();
        launcherArgv.add(LAUNCHER);
        launcherArgv.add(bundle.entrypoint());
        launcherArgv.addAll(argv);
        return spec.manifest(m -> {
            m.put("libos.entrypoint", LAUNCHER);
            m.put("loader.argv", launcherArgv);
            m.put("loader.log_level", "warning");
            @SuppressWarnings("unchecked")
            List<Object> mounts = (List<Object>) m.get("fs.mounts");
            mounts.add(Map.of("path", CLOISTER_MOUNT, "type", "chroot", "uri", "file:" + CLOISTER_DIR));
            new TreeMap<>(fileKeys).forEach((p, k) -> mounts.add(Map.of("path", p, "type", "encrypted",
                    "uri", "file:" + hostBound(p), "key_name", k)));
            @SuppressWarnings("unchecked")
            List<Object> trusted = (List<Object>) m.get("sgx.trusted_files");
            trusted.add(Map.of("uri", "file:" + CLOISTER_DIR + "/launcher", "sha256", launcherSha256));
            trusted.add(Map.of("uri", "file:" + CLOISTER_DIR + "/bundle.manifest", "sha256", bundleManifestSha256));
            trusted.add(Map.of("uri", "file:" + CLOISTER_DIR + "/job.json", "sha256", recordSha256));
        });
    }

    /**
     * The path Gramine binds an encrypted file to for an enclave path under /inputs or /outputs: the file's path
     * on the host, relative to Gramine's working folder, as the mount's URI ({@code file:inputs}) makes it
     * ({@code /inputs/a.csv} -> {@code inputs/a.csv}). Gramine's encrypted mount opens a file only when the path
     * embedded in it is this one, and embeds this one in the files it writes.
     */
    public static String hostBound(String enclavePath) {
        if (enclavePath.startsWith(INPUTS + "/") || enclavePath.startsWith(OUTPUTS + "/")) {
            return enclavePath.substring(1);
        }
        throw new IllegalArgumentException(enclavePath + " is not under " + INPUTS + " or " + OUTPUTS);
    }

    /** Whether a backend runs under Gramine (and so binds files as {@link #hostBound} says). */
    public static boolean isGramine(String backend) {
        return backend != null && backend.startsWith("gramine-");
    }

    /** The canonical manifest bytes of {@link #forJob}. */
    public static byte[] render(BundleSpec bundle, List<String> args, Map<String, String> env) throws CloisterException {
        return forJob(bundle, args, env).manifest();
    }

    /**
     * The broker address fixed in the manifest at build time ({@code cloister build --broker}), if any. When it is
     * set the enclave uses it whatever the worker says; otherwise the worker passes its own through.
     */
    public static Optional<String> fixedServers(BundleSpec spec) {
        return Optional.ofNullable(spec.env().get(SERVERS));
    }
}
