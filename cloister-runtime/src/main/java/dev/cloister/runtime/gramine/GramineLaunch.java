package dev.cloister.runtime.gramine;

import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.worker.BundleView;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * @param commands the commands to run there, in order
 * @param env environment for the commands (the broker's address for secret provisioning; nothing secret)
 */
public record GramineLaunch(Path dir, List<List<String>> commands, Map<String, String> env) {
    public GramineLaunch {
        commands = commands.stream().map(List::copyOf).toList();
        env = Map.copyOf(env);
    }

    /** The backends this class prepares. */
    public static final List<String> BACKENDS = List.of("gramine-sgx", "gramine-direct");

    /**
     * Checks that the backend's Gramine command is installed.
     *
     * @throws CloisterException ENVIRONMENT naming the missing command and what to install
     */
    public static Path requireInstalled(String backend, String path) throws CloisterException {
        if (!BACKENDS.contains(backend)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "backend " + backend + " is not a Gramine backend");
        }
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, backend))) {
                return Path.of(dir, backend);
            }
        }
        throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "backend " + backend + " needs Gramine 1.9, and '"
                + backend + "' is not on PATH; run this job on an SGX host with Gramine installed "
                + "(docs/jobs.md), or submit it with backend 'sim' to try it here");
    }

    /**
     * Lays out the working folder: the bundle's manifest and a link to its root, the inputs (already encrypted,
     * bound to their enclave paths) under {@code inputs/}, an empty {@code outputs/}.
     *
     * @param ciphertexts for each input name, the downloaded Gramine encrypted file
     * @param brokerAddress HOST:PORT of the broker's RA-TLS secret-provisioning endpoint
     */
    public static GramineLaunch prepare(String backend, JobRecord rec, BundleView bundle, Map<String, Path> ciphertexts,
            String brokerAddress, Path work) throws CloisterException, IOException {
        if (!BACKENDS.contains(backend)) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "backend " + backend + " is not a Gramine backend");
        }
        Files.createDirectories(work);
        Files.copy(bundle.dir().resolve("entrypoint.manifest"), work.resolve("entrypoint.manifest"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Path root = work.resolve("root");
        Files.deleteIfExists(root);
        Files.createSymbolicLink(root, bundle.dir().resolve(bundle.root()).toAbsolutePath());
        for (JobRecord.Input in : rec.inputs()) {
            Path target = work.resolve("inputs").resolve(in.path().substring("/inputs/".length())).normalize();
            if (!target.startsWith(work.resolve("inputs"))) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "input path escapes /inputs: " + in.path());
            }
            Files.createDirectories(target.getParent());
            Files.copy(ciphertexts.get(in.name()), target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Files.createDirectories(work.resolve("outputs"));
        List<List<String>> cmds = new ArrayList<>();
        if (backend.equals("gramine-sgx")) {
            cmds.add(List.of("gramine-sgx-sign", "--manifest", "entrypoint.manifest", "--output",
                    "entrypoint.manifest.sgx"));
        }
        cmds.add(List.of(backend, "entrypoint"));
        Map<String, String> env = new TreeMap<>();
        env.put("SECRET_PROVISION_SERVERS", brokerAddress);
        return new GramineLaunch(work, cmds, env);
    }

    /** Where Gramine leaves an output's encrypted file, for an output at {@code enclavePath} under /outputs. */
    public Path output(String enclavePath) {
        return dir.resolve("outputs").resolve(enclavePath.substring("/outputs/".length()));
    }
}
