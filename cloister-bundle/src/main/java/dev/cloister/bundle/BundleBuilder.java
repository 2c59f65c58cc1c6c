package dev.cloister.bundle;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Builds a bundle directory from a program: discovers its files ({@link DependencyResolver}), copies and hashes
 * them on all cores, renders the canonical manifest and writes {@code cloister.json}.
 *
 * <p>Everything that could fail on bad input (missing entrypoint or library, non-ELF program, escaping link,
 * link loop) is checked before anything is written. The bundle is assembled in a hidden directory beside the
 * output and renamed into place only when complete, so a failed build leaves nothing behind. Output is
 * deterministic: regular files only, modes 0644/0755 (directories 0755), every timestamp {@link #FIXED_TIME}.
 */
public final class BundleBuilder {
    /** The modification time of every file and directory in a bundle. */
    public static final Instant FIXED_TIME = Instant.parse("1980-01-01T00:00:00Z");
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private BundleBuilder() {}

    /**
     * The outcome of a build.
     *
     * @param mrenclave Gramine's MRENCLAVE (hex) when built with a Gramine installation
     */
    public record Result(Path dir, String measurement, String treeDigest, int fileCount, long totalSize,
            Optional<String> mrenclave) {}

    /** What will go into the bundle, before anything is written. */
    record Plan(SortedMap<String, Path> files, BundleSpec template, List<Path> cleanup,
            Optional<GramineInstall> gramine) {}

    /**
     * Builds the bundle into {@code out}, which must not exist.
     *
     * @param checkReproducible also build a second time in a separate temporary folder and fail unless the two
     *                          bundles are byte-identical
     */
    public static Result build(BuildOptions o, Path out, boolean checkReproducible) throws CloisterException,
            IOException {
        return build(o, out, checkReproducible, (total, done) -> { });
    }

    /** Receives progress: the total bytes to copy and hash, then bytes done (from any thread). */
    public interface Progress {
        /** {@code total} bytes in this pass; {@code done} bytes more finished. */
        void advance(long total, long done);
    }

    /** Like {@link #build(BuildOptions, Path, boolean)}, reporting copy-and-hash progress. */
    public static Result build(BuildOptions o, Path out, boolean checkReproducible, Progress progress)
            throws CloisterException, IOException {
        Path target = out.toAbsolutePath().normalize();
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new FileAlreadyExistsException(target.toString(), null, "output exists");
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Plan plan = plan(o);
        Path tmpA = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp-");
        Path tmpB = null;
        try {
            Result a = write(plan, o, tmpA.resolve("b"), progress);
            if (checkReproducible) {
                tmpB = Files.createTempDirectory("cloister-repro-");
                Plan again = plan(o);
                try {
                    Result b = write(again, o, tmpB.resolve("b"), progress);
                    if (!a.treeDigest().equals(b.treeDigest()) || !a.measurement().equals(b.measurement())
                            || !a.mrenclave().equals(b.mrenclave())) {
                        throw BundleException.badInput("build is not reproducible: tree digest " + a.treeDigest()
                                + " vs " + b.treeDigest() + " (" + firstDifference(tmpA.resolve("b"),
                                tmpB.resolve("b")) + ")");
                    }
                } finally {
                    again.cleanup().forEach(BundleBuilder::deleteQuietly);
                }
            }
            Files.move(tmpA.resolve("b"), target, StandardCopyOption.ATOMIC_MOVE);
            return new Result(target, a.measurement(), a.treeDigest(), a.fileCount(), a.totalSize(), a.mrenclave());
        } finally {
            deleteQuietly(tmpA);
            if (tmpB != null) {
                deleteQuietly(tmpB);
            }
            plan.cleanup().forEach(BundleBuilder::deleteQuietly);
        }
    }

    static Plan plan(BuildOptions o) throws CloisterException, IOException {
        List<Path> cleanup = new ArrayList<>();
        try {
            return plan(o, cleanup);
        } catch (CloisterException | IOException | RuntimeException e) {
            // An unpacked image must not outlive a failed build.
            cleanup.forEach(BundleBuilder::deleteQuietly);
            throw e;
        }
    }

    private static Plan plan(BuildOptions o, List<Path> cleanup) throws CloisterException, IOException {
        int sources = (o.binary().isPresent() ? 1 : 0) + (o.dir().isPresent() ? 1 : 0)
                + (o.image().isPresent() ? 1 : 0);
        if (sources != 1) {
            throw BundleException.badInput("give exactly one of --binary, --dir or --image");
        }
        Namespace ns;
        String program;
        List<String> imageArgs = List.of();
        SortedMap<String, String> env = new TreeMap<>();
        env.put("PATH", DEFAULT_PATH);
        List<String> trees = new ArrayList<>();
        boolean strictTrees = true;
        if (o.binary().isPresent()) {
            ns = new Namespace(RootFs.hostRoot());
            program = o.binary().get().toAbsolutePath().normalize().toString();
        } else if (o.dir().isPresent()) {
            Path d = o.dir().get();
            if (!Files.isDirectory(d)) {
                throw BundleException.badInput("--dir " + d + " is not a directory");
            }
            String rel = o.entrypoint().orElseThrow(
                    () -> BundleException.badInput("--dir needs --entrypoint (a path relative to the directory)"));
            String mount = Namespace.normalize(o.dirMount());
            program = Namespace.normalize(mount + "/" + rel);
            if (rel.startsWith("/") || !program.startsWith(mount + "/")) {
                throw BundleException.badInput("--entrypoint " + rel + " escapes the directory " + d);
            }
            ns = new Namespace(RootFs.hostRoot()).mount(mount, RootFs.confined(d, false, "--dir " + d));
            trees.add(mount);
        } else {
            Path rootfs = Files.createTempDirectory("cloister-image-");
            cleanup.add(rootfs);
            OciImage.Config cfg = OciImage.unpack(o.image().get(), rootfs);
            OciImage.dropHostState(rootfs, "image " + o.image().get().getFileName());
            ns = new Namespace(RootFs.confined(rootfs, true, "image " + o.image().get().getFileName()));
            List<String> cmd = new ArrayList<>(cfg.entrypoint());
            cmd.addAll(cfg.cmd());
            if (cmd.isEmpty()) {
                throw BundleException.badInput("image " + o.image().get() + " has neither Entrypoint nor Cmd");
            }
            env.putAll(cfg.env());
            program = cmd.getFirst();
            if (!program.startsWith("/")) {
                program = findInImagePath(ns, program, env.get("PATH"), cfg.workingDir());
            }
            imageArgs = cmd.subList(1, cmd.size());
            for (String top : OciImage.topLevel(rootfs)) {
                trees.add(top);
            }
            strictTrees = false;
        }
        DependencyResolver dr = new DependencyResolver(ns);
        List<String> argv = new ArrayList<>(dr.addProgram(program));
        for (String t : trees) {
            dr.addTree(t, strictTrees);
        }
        for (String inc : o.includes()) {
            if (!inc.startsWith("/")) {
                throw BundleException.badInput("--include " + inc + " is not an absolute path");
            }
            dr.addTree(inc);
        }
        DependencyResolver.Result r = dr.result(argv);
        SortedMap<String, Path> files = new TreeMap<>(r.files());
        if (o.brokerCa().isPresent()) {
            Path ca = o.brokerCa().get();
            byte[] pem = DependencyResolver.read(ca, "--broker-ca " + ca);
            if (!new String(pem, StandardCharsets.US_ASCII).contains("-----BEGIN CERTIFICATE-----")) {
                throw BundleException.badInput("--broker-ca " + ca + " is not a PEM certificate");
            }
            files.put(BundleSpec.BROKER_CA, ca.toAbsolutePath());
        }
        checkNoPrefixConflicts(files);
        argv.addAll(imageArgs);
        argv.addAll(o.args());
        if (!r.libraryDirs().isEmpty()) {
            env.put("LD_LIBRARY_PATH", String.join(":", r.libraryDirs()));
        }
        env.putAll(o.env());
        List<String> passthrough = new ArrayList<>();
        if (o.brokerCa().isPresent()) {
            if (o.broker().isPresent()) {
                env.put("SECRET_PROVISION_SERVERS", o.broker().get());
            } else {
                passthrough.add("SECRET_PROVISION_SERVERS");
            }
        }
        if (o.maxThreads() < 4) {
            throw BundleException.badInput("--max-threads " + o.maxThreads()
                    + " is below 4 (Gramine needs helper threads)");
        }
        if (!o.enclaveSize().matches("[1-9][0-9]*[KMG]")) {
            throw BundleException.badInput("--enclave-size " + o.enclaveSize() + " is not like 512M or 4G");
        }
        String lib = o.gramineLibDir();
        Optional<GramineInstall> gramine = Optional.empty();
        Optional<String> libosSha256 = Optional.empty();
        if (o.gramine().isPresent()) {
            // Checked before anything is written: the installation, its libraries, and an enclave size Gramine
            // can lay out (a power of two).
            GramineInstall g = GramineInstall.locate(o.gramine().get());
            long size = GramineEnclave.parseSize(o.enclaveSize());
            if (Long.bitCount(size) != 1) {
                throw BundleException.badInput("--enclave-size " + o.enclaveSize()
                        + " is not a power of two (SGX enclaves are)");
            }
            g.pal();
            libosSha256 = Optional.of(GramineInstall.sha256(g.libsysdb()));
            gramine = Optional.of(g);
        }
        BundleSpec template = new BundleSpec(r.entrypoint(), argv, env, passthrough, List.of(), o.allowedFiles(),
                o.enclaveSize(), o.maxThreads(), o.isvProdId(), o.isvSvn(), lib + "/libsysdb.so", libosSha256,
                "/inputs", "/outputs", o.brokerCa().isPresent(), lib + "/runtime/glibc");
        if (gramine.isPresent()) {
            gramine.get().hostHashes(template);
        }
        return new Plan(files, template, cleanup, gramine);
    }

    private static String findInImagePath(Namespace ns, String prog, String path, String workdir)
            throws BundleException {
        if (prog.contains("/")) {
            return Namespace.normalize((workdir.isEmpty() ? "/" : workdir) + "/" + prog);
        }
        for (String d : (path == null ? DEFAULT_PATH : path).split(":")) {
            if (d.startsWith("/") && ns.resolve(d + "/" + prog).isPresent()) {
                return Namespace.normalize(d + "/" + prog);
            }
        }
        throw BundleException.badInput("image entrypoint " + prog + " is not on the image's PATH");
    }

    /** A file and a directory at the same path (possible only through links) cannot both be bundled. */
    private static void checkNoPrefixConflicts(SortedMap<String, Path> files) throws BundleException {
        String prev = null;
        for (String p : files.keySet()) {
            if (prev != null && p.startsWith(prev + "/")) {
                throw BundleException.badInput("bundle would need " + prev + " both as a file and as a directory (for "
                        + p + ")");
            }
            prev = p;
        }
    }

    private static Result write(Plan plan, BuildOptions o, Path dir, Progress progress)
            throws CloisterException, IOException {
        long total = 0;
        for (Path p : plan.files().values()) {
            total += Files.size(p);
        }
        long all = total;
        Path root = dir.resolve(BundleSpec.ROOT);
        Files.createDirectories(root);
        Set<String> dirs = new TreeSet<>();
        for (String p : plan.files().keySet()) {
            for (int i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
                dirs.add(p.substring(0, i));
            }
        }
        for (String d : dirs) {
            Files.createDirectories(root.resolve(d.substring(1)));
        }
        SortedMap<String, ParallelHasher.Digest> digests =
                ParallelHasher.copyAndHash(plan.files(), root, o.threads(), n -> progress.advance(all, n));
        List<BundleFile> files = new ArrayList<>();
        for (Map.Entry<String, Path> e : plan.files().entrySet()) {
            ParallelHasher.Digest d = digests.get(e.getKey());
            boolean exec = Files.getPosixFilePermissions(e.getValue()).contains(PosixFilePermission.OWNER_EXECUTE);
            files.add(new BundleFile(e.getKey(), d.sha256(), d.size(), exec));
        }
        BundleSpec t = plan.template();
        BundleSpec spec = new BundleSpec(t.entrypoint(), t.argv(), t.env(), t.passthroughEnv(), files,
                t.allowedFiles(), t.enclaveSize(), t.maxThreads(), t.isvProdId(), t.isvSvn(), t.libos(),
                t.libosSha256(), t.inputsPath(), t.outputsPath(), t.keyBroker(), t.gramineRuntime());
        byte[] manifest = spec.manifest();
        String measurement = HexFormat.of().formatHex(Bundle.measure(manifest));
        Files.write(dir.resolve(Bundle.MANIFEST), manifest);
        Optional<BundleJson.GramineInfo> gramine = Optional.empty();
        byte[] manifestSgx = null;
        if (plan.gramine().isPresent()) {
            GramineInstall.GramineResult g = plan.gramine().get().measure(spec);
            manifestSgx = g.manifestSgx();
            Files.write(dir.resolve(Bundle.MANIFEST_SGX), manifestSgx);
            gramine = Optional.of(new BundleJson.GramineInfo(g.mrenclave(), new TreeMap<>(g.hostHashes())));
        }
        Files.write(dir.resolve(Bundle.DESCRIPTOR),
                BundleJson.write(new BundleJson.Doc(o.name(), o.version(), measurement, spec, gramine)));
        normalizeTree(dir, files);
        SortedMap<String, String> entries = new TreeMap<>();
        for (BundleFile f : files) {
            entries.put(BundleSpec.ROOT + f.path(), (f.executable() ? "755 " : "644 ") + f.sha256());
        }
        entries.put(Bundle.MANIFEST, "644 " + HexFormat.of().formatHex(ParallelHasher.sha256().digest(manifest)));
        if (manifestSgx != null) {
            entries.put(Bundle.MANIFEST_SGX, "644 " + HexFormat.of().formatHex(
                    ParallelHasher.sha256().digest(manifestSgx)));
        }
        entries.put(Bundle.DESCRIPTOR, "644 " + HexFormat.of().formatHex(ParallelHasher.sha256().digest(
                Files.readAllBytes(dir.resolve(Bundle.DESCRIPTOR)))));
        String tree = Bundle.treeDigest(entries);
        long size = files.stream().mapToLong(BundleFile::size).sum();
        return new Result(dir, measurement, tree, files.size(), size,
                gramine.map(BundleJson.GramineInfo::mrenclave));
    }

    /** Fixed modes and timestamps, deepest entries first so directory times stick. */
    private static void normalizeTree(Path dir, List<BundleFile> files) throws IOException {
        Set<String> exec = new TreeSet<>();
        for (BundleFile f : files) {
            if (f.executable()) {
                exec.add(BundleSpec.ROOT + f.path());
            }
        }
        FileTime t = FileTime.from(FIXED_TIME);
        List<Path> all;
        try (Stream<Path> s = Files.walk(dir)) {
            all = s.sorted(Comparator.reverseOrder()).toList();
        }
        for (Path p : all) {
            String rel = dir.relativize(p).toString();
            String mode = Files.isDirectory(p) || exec.contains(rel) ? "rwxr-xr-x" : "rw-r--r--";
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
            Files.setLastModifiedTime(p, t);
        }
    }

    private static String firstDifference(Path a, Path b) {
        try (Stream<Path> s = Files.walk(a)) {
            for (Path p : s.sorted().toList()) {
                Path q = b.resolve(a.relativize(p).toString());
                if (Files.isRegularFile(p) && (!Files.exists(q) || Files.mismatch(p, q) != -1)) {
                    return "first difference: " + a.relativize(p);
                }
            }
        } catch (IOException e) {
            return "cannot compare: " + e.getMessage();
        }
        return "the file lists differ";
    }

    static void deleteQuietly(Path p) {
        if (p == null || !Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                try {
                    if (!Files.isSymbolicLink(x)) {
                        x.toFile().setWritable(true);
                    }
                    Files.deleteIfExists(x);
                } catch (IOException ignored) {
                    // best effort: a leftover temporary directory is not an error
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
    }
}
