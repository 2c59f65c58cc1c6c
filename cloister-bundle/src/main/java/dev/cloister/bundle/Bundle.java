package dev.cloister.bundle;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A bundle on disk, as the worker and {@code cloister bundle} commands use it.
 *
 * <pre>
 * BUNDLE/
 *   cloister.json         name, version, entrypoint, measurement, and the spec the manifest is rendered from
 *   entrypoint.manifest   the canonical Gramine 1.9 manifest (measured)
 *   entrypoint.sig        SIGSTRUCT, once signed (optional)
 *   root/                 the enclave's file system: every trusted file, regular files only
 * </pre>
 *
 * <p>{@link #open} checks the description against itself: the manifest must be exactly the rendering of the spec
 * in {@code cloister.json}, and the measurement must be the hash of the manifest. {@link #verify} re-hashes every
 * file under {@code root/} and checks the signature, if any.
 *
 * @param dir         the bundle directory
 * @param name        the bundle's name
 * @param version     the bundle's version
 * @param spec        what the manifest says
 * @param manifest    the manifest bytes
 * @param measurement the Cloister measurement (hex), see {@link #measure}
 * @param sigstruct   the SIGSTRUCT, if the bundle has been signed
 * @param mrenclave   Gramine's MRENCLAVE (hex), if the bundle was built with a Gramine installation
 */
public record Bundle(Path dir, String name, String version, BundleSpec spec, byte[] manifest, String measurement,
        Optional<Sigstruct> sigstruct, Optional<String> mrenclave) {

    /** File name of the description. */
    public static final String DESCRIPTOR = "cloister.json";
    /** File name of the Gramine manifest. */
    public static final String MANIFEST = "entrypoint.manifest";
    /** File name of the manifest as Gramine's signing tool expands it (built with {@code --gramine} only). */
    public static final String MANIFEST_SGX = "entrypoint.manifest.sgx";
    /** File name of the SIGSTRUCT. */
    public static final String SIGNATURE = "entrypoint.sig";

    private static final byte[] DOMAIN = "cloister-bundle-measurement-v1\0".getBytes(StandardCharsets.US_ASCII);

    /**
     * The Cloister measurement of a manifest: SHA-256 over the ASCII domain string
     * {@code "cloister-bundle-measurement-v1"}, one NUL byte, then the canonical manifest bytes. The manifest holds
     * the entrypoint, argv, environment, mounts, SGX settings and the path and SHA-256 of every trusted file, so
     * this one hash covers them all.
     */
    public static byte[] measure(byte[] manifest) {
        MessageDigest md = ParallelHasher.sha256();
        md.update(DOMAIN);
        md.update(manifest);
        return md.digest();
    }

    /** Opens and self-checks a bundle (but does not re-hash its files; see {@link #verify}). */
    public static Bundle open(Path dir) throws BundleException {
        Path desc = dir.resolve(DESCRIPTOR);
        BundleJson.Doc doc = BundleJson.parse(read(desc), desc.toString());
        byte[] manifest = read(dir.resolve(MANIFEST));
        if (!MessageDigest.isEqual(manifest, doc.spec().manifest())) {
            throw BundleException.denied(dir.resolve(MANIFEST) + " does not match the spec in " + desc
                    + " (one of them was modified)");
        }
        byte[] m = measure(manifest);
        byte[] recorded;
        try {
            recorded = HexFormat.of().parseHex(doc.measurement());
        } catch (IllegalArgumentException e) {
            throw BundleException.badInput(desc + ": measurement is not hex");
        }
        if (!MessageDigest.isEqual(m, recorded)) {
            throw BundleException.denied(desc + ": measurement " + doc.measurement()
                    + " is not the measurement of " + MANIFEST + " (" + HexFormat.of().formatHex(m) + ")");
        }
        Optional<Sigstruct> sig = Optional.empty();
        Path sigPath = dir.resolve(SIGNATURE);
        if (Files.exists(sigPath)) {
            sig = Optional.of(Sigstruct.parse(read(sigPath)));
        }
        Optional<String> mrenclave = Optional.empty();
        Path sgxPath = dir.resolve(MANIFEST_SGX);
        if (doc.gramine().isPresent()) {
            byte[] sgx = read(sgxPath);
            byte[] want = GramineManifest.manifestSgx(doc.spec(), doc.gramine().get().hostHashes());
            if (!MessageDigest.isEqual(sgx, want)) {
                throw BundleException.denied(sgxPath + " is not the expansion of " + MANIFEST + " recorded in " + desc
                        + " (one of them was modified)");
            }
            mrenclave = Optional.of(doc.gramine().get().mrenclave());
        } else if (Files.exists(sgxPath, LinkOption.NOFOLLOW_LINKS)) {
            throw BundleException.denied(sgxPath + " exists but " + desc + " records no Gramine measurement");
        }
        return new Bundle(dir, doc.name(), doc.version(), doc.spec(), manifest, doc.measurement(), sig, mrenclave);
    }

    /**
     * The enclave hash a SIGSTRUCT for this bundle carries: Gramine's MRENCLAVE when the bundle was built with a
     * Gramine installation (that is what a real SGX CPU checks), otherwise the Cloister measurement.
     */
    public String enclaveHash() {
        return mrenclave.orElse(measurement);
    }

    /** The program the enclave starts. */
    public String entrypoint() {
        return spec.entrypoint();
    }

    /** The trusted files with their hashes, sorted by path. */
    public List<BundleFile> files() {
        return spec.files();
    }

    /** The host path of a bundle file. */
    public Path hostPath(BundleFile f) {
        return dir.resolve(BundleSpec.ROOT).resolve(f.path().substring(1));
    }

    /** Total size of the trusted files in bytes. */
    public long totalSize() {
        return spec.files().stream().mapToLong(BundleFile::size).sum();
    }

    /**
     * Re-hashes every file against the manifest (in parallel), rejects files under {@code root/} that the
     * manifest does not list, and checks the SIGSTRUCT if present: its signature, and that its enclave hash is
     * this bundle's measurement.
     *
     * @throws BundleException DENIED naming the first file (in path order) that differs, is missing or is extra
     */
    public void verify() throws BundleException {
        verify(n -> { });
    }

    /** Like {@link #verify()}, reporting bytes re-hashed to {@code progress} (from any thread). */
    public void verify(java.util.function.LongConsumer progress) throws BundleException {
        Map<String, Path> paths = new TreeMap<>();
        Map<String, BundleFile> byPath = new HashMap<>();
        for (BundleFile f : spec.files()) {
            Path h = hostPath(f);
            if (!Files.isRegularFile(h, LinkOption.NOFOLLOW_LINKS)) {
                throw BundleException.denied("bundle file " + f.path() + " is missing or not a regular file ("
                        + h + ")");
            }
            paths.put(f.path(), h);
            byPath.put(f.path(), f);
        }
        Path root = dir.resolve(BundleSpec.ROOT);
        try (Stream<Path> s = Files.walk(root)) {
            List<Path> all = s.filter(p -> !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
            for (Path p : all) {
                String rel = "/" + root.relativize(p).toString();
                if (!byPath.containsKey(rel)) {
                    throw BundleException.denied("bundle file " + rel + " is not in the manifest (" + p + ")");
                }
            }
        } catch (IOException e) {
            throw BundleException.badInput("cannot list " + root + ": " + e.getMessage());
        }
        SortedMap<String, ParallelHasher.Digest> got =
                ParallelHasher.hash(paths, Runtime.getRuntime().availableProcessors(), progress);
        for (Map.Entry<String, ParallelHasher.Digest> e : got.entrySet()) {
            BundleFile f = byPath.get(e.getKey());
            if (!MessageDigest.isEqual(HexFormat.of().parseHex(f.sha256()),
                    HexFormat.of().parseHex(e.getValue().sha256()))) {
                throw BundleException.denied("bundle file " + f.path() + " was modified: SHA-256 "
                        + e.getValue().sha256() + ", manifest says " + f.sha256());
            }
        }
        if (sigstruct.isPresent()) {
            Sigstruct s = sigstruct.get();
            s.verifySignature(SIGNATURE);
            if (!MessageDigest.isEqual(s.enclaveHash(), HexFormat.of().parseHex(enclaveHash()))) {
                throw BundleException.denied(SIGNATURE + " signs enclave hash "
                        + HexFormat.of().formatHex(s.enclaveHash()) + ", not this bundle's "
                        + (mrenclave.isPresent() ? "MRENCLAVE " : "measurement ") + enclaveHash());
            }
        }
    }

    /**
     * A digest of the whole bundle directory: SHA-256 over, for every file in path order, its relative path, its
     * mode ({@code 755} or {@code 644}) and its SHA-256, one line each. Two builds are reproducible exactly when
     * their tree digests are equal.
     */
    public static String treeDigest(Path dir) throws BundleException {
        Map<String, Path> files = new TreeMap<>();
        Map<String, String> modes = new HashMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted().toList()) {
                if (Files.isSymbolicLink(p) || (!Files.isRegularFile(p) && !Files.isDirectory(p))) {
                    throw BundleException.badInput("bundle " + dir + " holds " + p + ", not a regular file");
                }
                if (Files.isRegularFile(p)) {
                    String rel = dir.relativize(p).toString();
                    files.put(rel, p);
                    Set<PosixFilePermission> perm = Files.getPosixFilePermissions(p);
                    modes.put(rel, perm.contains(PosixFilePermission.OWNER_EXECUTE) ? "755" : "644");
                }
            }
        } catch (IOException e) {
            throw BundleException.badInput("cannot read bundle " + dir + ": " + e.getMessage());
        }
        SortedMap<String, ParallelHasher.Digest> d =
                ParallelHasher.hash(files, Runtime.getRuntime().availableProcessors());
        SortedMap<String, String> lines = new TreeMap<>();
        d.forEach((k, v) -> lines.put(k, modes.get(k) + " " + v.sha256()));
        return treeDigest(lines);
    }

    /**
     * The tree digest from already known entries: relative path -> {@code "755 <sha256>"} or {@code "644 <sha256>"}
     * (the builder knows the hash of every file it copied, so it need not read them again).
     */
    static String treeDigest(SortedMap<String, String> entries) {
        MessageDigest md = ParallelHasher.sha256();
        entries.forEach((k, v) -> md.update((k + " " + v + "\n").getBytes(StandardCharsets.UTF_8)));
        return HexFormat.of().formatHex(md.digest());
    }

    private static byte[] read(Path p) throws BundleException {
        try {
            return Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            throw BundleException.badInput("not a bundle: " + p + " is missing");
        } catch (IOException e) {
            throw BundleException.badInput("cannot read " + p + ": " + e.getMessage());
        }
    }
}
