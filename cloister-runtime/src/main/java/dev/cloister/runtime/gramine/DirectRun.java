package dev.cloister.runtime.gramine;

import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleFile;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.enclave.SimulatedQuotingEnclave;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.repo.ObjectId;
import dev.cloister.runtime.repo.Repository;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A job under real {@code gramine-direct}: the bundle as {@code cloister build} made it, its manifest plus the
 * run-time additions of {@link GramineManifest#renderDirect}, Cloister's launcher first inside Gramine (it obtains
 * the key with SIMULATED evidence and installs it at {@code /dev/attestation/keys/default}), Gramine's encrypted
 * mounts reading the owner's inputs and writing the outputs, which are published as the other backends publish
 * theirs: objects first, the result record last.
 *
 * <p>Gramine's refusals become Cloister errors and nothing is published: a file whose hash differs from the
 * manifest's (DENIED, naming it), an input that does not authenticate with the released key (DENIED), the broker's
 * refusal (its kind). A program that fails after looking for a file the bundle lacks gets the file named, with
 * the {@code --include} that adds it, on the worker's log.
 */
final class DirectRun {
    /** Absolute paths in a program's error messages, e.g. {@code /etc/foo.conf: No such file or directory}. */
    private static final Pattern ABSOLUTE = Pattern.compile("(?<![\\w./-])(/[A-Za-z0-9._+@-]+(?:/[A-Za-z0-9._+@-]+)+)");

    private final String path;
    private final Consumer<String> log;
    /** Tests only: the bytes a lying host puts at /cloister/job.json instead of the record it runs, or null. */
    private byte[] recordFile;
    /** Tests only: what a lying host appends to each key request (a record hash of its own), or null. */
    private String keyLineSuffix;

    DirectRun(String path, Consumer<String> log) {
        this.path = path;
        this.log = log;
    }

    /** Plays a host that lays out {@code rec} but gives the launcher {@code bytes} as the record (tests). */
    DirectRun lyingRecordFile(byte[] bytes) {
        this.recordFile = bytes.clone();
        return this;
    }

    /** Tests only: input name -> the file a lying host puts in its place, whatever the record says. */
    private final Map<String, Path> inputFiles = new LinkedHashMap<>();

    /** Plays a host that puts {@code file} where input {@code name} goes (tests). */
    DirectRun lyingInput(String name, Path file) {
        inputFiles.put(name, file);
        return this;
    }

    /** Tests only: what a lying host does to Gramine's working folder once it is laid out, or null. */
    private java.util.function.Consumer<Path> afterLayout;

    /** Plays a host that changes Gramine's working folder after laying it out (tests). */
    DirectRun lyingAfterLayout(java.util.function.Consumer<Path> change) {
        this.afterLayout = change;
        return this;
    }

    /** Plays a host that states a record hash in its key requests (tests). */
    DirectRun lyingKeyLines(String suffix) {
        this.keyLineSuffix = suffix;
        return this;
    }

    /**
     * @param verify whether to re-hash the bundle first; false only in tests that show Gramine's own check
     *     refusing a file changed after Cloister's
     */
    JobResult run(JobRecord rec, Repository repo, Broker broker, Bundle bundle, Path gramineDirect, Path work,
            boolean verify) throws CloisterException, IOException, InterruptedException {
        if (verify) {
            bundle.verify();
        }
        Path launcher = LauncherBinary.locate(path);
        Path libsysdb = libsysdb(gramineDirect);
        Files.createDirectories(work);
        Path ct = Files.createDirectories(work.resolve("download"));
        Map<String, Path> ciphertexts = new LinkedHashMap<>();
        for (JobRecord.Input in : rec.inputs()) {
            Path f = ct.resolve(in.name() + ".pf");
            Files.deleteIfExists(f);
            repo.get(ObjectId.parse(in.object()), f);
            ciphertexts.put(in.name(), inputFiles.getOrDefault(in.name(), f));
        }
        // One key per distinct secret: the job's own is "default" (the bundle's /inputs and /outputs mounts); a
        // pipeline step's edges each have theirs, with a mount of their own.
        Map<String, String> keyNames = new LinkedHashMap<>();
        keyNames.put(rec.secret(), dev.cloister.bundle.BundleSpec.KEY_NAME);
        Map<String, String> fileKeys = new LinkedHashMap<>();
        List<String[]> files = new ArrayList<>();
        rec.inputs().forEach(i -> files.add(new String[] {i.name(), i.path()}));
        rec.outputs().forEach(o -> files.add(new String[] {o.name(), o.path()}));
        for (String[] f : files) {
            String secret = rec.keyOf(f[0]);
            String name = keyNames.computeIfAbsent(secret, x -> "cloister-" + keyNames.size());
            if (!secret.equals(rec.secret())) {
                fileKeys.put(f[1], name);
            }
        }
        List<DirectSession.Key> keys = new ArrayList<>();
        for (Map.Entry<String, String> k : keyNames.entrySet()) {
            byte[] nonce;
            try {
                nonce = Base64.getDecoder().decode(broker.nonce());
            } catch (IllegalArgumentException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "the broker's nonce is not base64");
            }
            // No record hash from here: the launcher hashes /cloister/job.json itself (ReleaseBinding's second half).
            keys.add(new DirectSession.Key(k.getValue(), k.getKey(), nonce));
        }
        GramineLaunch launch = GramineLaunch.prepareDirect(rec, recordFile != null ? recordFile : rec.canonicalBytes(),
                bundle, ciphertexts, launcher, libsysdb, fileKeys, work.resolve("enclave"));
        if (afterLayout != null) {
            afterLayout.accept(launch.dir());
        }
        String suffix = keyLineSuffix;
        DirectSession session = new DirectSession(broker, new SimulatedQuotingEnclave(Clock.systemUTC()),
                rec.measurement(), log) {
            @Override
            String keyLine(DirectSession.Key k) {
                return suffix == null ? super.keyLine(k) : super.keyLine(k) + suffix;
            }
        };
        DirectSession.Outcome o = session.run(gramineDirect, launch, path, keys);
        try {
            return publish(rec, repo, bundle, launch, o);
        } catch (CloisterException e) {
            // Whatever Gramine wrote before it stopped is no result: leave none of it behind.
            AtomicFiles.deleteTree(launch.dir().resolve("outputs"));
            throw e;
        }
    }

    private JobResult publish(JobRecord rec, Repository repo, Bundle bundle, GramineLaunch launch,
            DirectSession.Outcome o) throws CloisterException, IOException {
        String job = "job " + rec.id() + ": ";
        if (!o.tampered().isEmpty()) {
            throw new CloisterException(CloisterException.Kind.DENIED, job + "Gramine refused "
                    + String.join(", ", o.tampered().stream().map(DirectRun::enclavePath).toList())
                    + ": its content does not match the SHA-256 in the bundle's manifest (the bundle was changed on "
                    + "this worker); nothing was published");
        }
        if (!o.execed()) {
            if (o.refusal() != null) {
                throw new CloisterException(o.refusalKind(), job + "the enclave did not obtain the job key: "
                        + o.refusal() + "; nothing was published");
            }
            if (o.inputRefused() != null) {
                throw new CloisterException(CloisterException.Kind.DENIED, job + "input " + o.inputRefused()
                        + " does not authenticate with the key the broker released (a wrong key, or the input was "
                        + "changed); the program did not run and nothing was published");
            }
            CloisterException.Kind kind = switch (o.status()) {
                case 1 -> CloisterException.Kind.DENIED;
                case 3 -> CloisterException.Kind.BAD_INPUT;
                default -> CloisterException.Kind.ENVIRONMENT;
            };
            String why = o.launcherError() != null ? o.launcherError()
                    : "Gramine exited with status " + o.status() + (o.console().isEmpty() ? ""
                    : ": " + String.join(" | ", o.console().subList(Math.max(0, o.console().size() - 3), o.console().size())));
            throw new CloisterException(kind, job + "the launcher inside Gramine failed before the program started: "
                    + why + "; nothing was published");
        }
        int status = o.status();
        if (status >= 128) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, job + "gramine-direct ended with status "
                    + status + ": the program or Gramine was killed by signal " + (status - 128)
                    + "; no output was accepted and nothing was published, so the job can run again");
        }
        if (status != 0) {
            explainMissingFiles(bundle, o);
        }
        List<JobResult.Output> published = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (JobSpec.Output out : rec.outputs()) {
            Path f = launch.output(out.path());
            if (status == 0 && Files.isRegularFile(f)) {
                published.add(new JobResult.Output(out.name(), out.path(), repo.put(f).hex()));
            } else {
                missing.add(out.name());
            }
        }
        JobResult result = new JobResult(rec.id(), status, "gramine-direct", true, published, null, null, missing);
        repo.putRef(JobResult.ref(rec.id()), result.toBytes());
        return result;
    }

    /**
     * Names files the program looked for that the bundle does not have: Gramine's own refusals, and absolute paths
     * in the program's error messages that exist on this worker but not in the bundle (a program usually names
     * the file it could not open; Gramine does not log a missing file).
     */
    private void explainMissingFiles(Bundle bundle, DirectSession.Outcome o) {
        Set<String> inBundle = new HashSet<>();
        for (BundleFile f : bundle.files()) {
            inBundle.add(f.path());
        }
        Set<String> named = new LinkedHashSet<>();
        o.disallowed().forEach(d -> named.add(enclavePath(d)));
        for (String line : o.console()) {
            if (line.contains("Emulating a raw system")) {
                continue;
            }
            Matcher m = ABSOLUTE.matcher(line);
            while (m.find()) {
                String p = m.group(1);
                if (!inBundle.contains(p) && !p.startsWith(GramineManifest.INPUTS + "/")
                        && !p.startsWith(GramineManifest.OUTPUTS + "/") && !p.startsWith("/tmp/")
                        && !p.startsWith("/proc/") && !p.startsWith("/dev/") && !p.startsWith("/sys/")
                        && Files.isReadable(Path.of(p)) && !Files.isDirectory(Path.of(p))) {
                    named.add(p);
                }
            }
        }
        for (String p : named) {
            log.accept("the program looked for " + p + ", which the bundle does not have; add it with "
                    + "'cloister build ... --include " + p + "' and run the job with the new bundle");
        }
    }

    /** Gramine names files by their host path in its working folder ({@code root/etc/x}); the enclave sees /etc/x. */
    static String enclavePath(String gramineName) {
        String p = gramineName.startsWith("file:") ? gramineName.substring(5) : gramineName;
        if (p.startsWith(dev.cloister.bundle.BundleSpec.ROOT + "/")) {
            return p.substring(dev.cloister.bundle.BundleSpec.ROOT.length());
        }
        return p;
    }

    /** This worker's {@code libsysdb.so}, beside the gramine-direct it runs. */
    static Path libsysdb(Path gramineDirect) throws CloisterException {
        Path prefix = gramineDirect.toAbsolutePath().getParent().getParent();
        for (String sub : List.of("lib/x86_64-linux-gnu/gramine", "lib64/gramine", "lib/gramine")) {
            Path p = prefix.resolve(sub).resolve("libsysdb.so");
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "no libsysdb.so beside " + gramineDirect
                + " (looked in " + prefix + "/lib/x86_64-linux-gnu/gramine, lib64/gramine, lib/gramine); is Gramine "
                + "installed completely? scripts/gramine-local builds it");
    }
}
