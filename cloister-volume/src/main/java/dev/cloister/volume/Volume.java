package dev.cloister.volume;

import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PfKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * A state volume on disk (docs/services.md, "State volumes"):
 *
 * <pre>
 * DIR/volume.rec       the authenticated record ({@link VolumeRecord})
 * DIR/files/REL        one Gramine encrypted file per volume file, bound to the embedded path PREFIX/REL
 * DIR/tmp/             import's temporary files (ciphertext only), renamed into files/ when complete
 * DIR/import.pending   present while an import is incomplete: the record does not yet describe files/
 * </pre>
 *
 * The enclave mounts {@code DIR/files} with {@code type = "encrypted"} and a URI whose path is PREFIX.
 */
public final class Volume {
    /** The record's file name in the volume directory. */
    public static final String RECORD = "volume.rec";
    /** The folder of encrypted files. */
    public static final String FILES = "files";
    static final String TMP = "tmp";
    static final String PENDING = "import.pending";
    /** The embedded-path prefix when none is given: Gramine's mount {@code uri = "file:state"}. */
    public static final String DEFAULT_PREFIX = "state";

    private Volume() {}

    /**
     * Creates an empty volume (version 0) in {@code dir}, which must not exist or be empty.
     *
     * @param prefix the embedded-path prefix of its files, the path of the enclave's mount URI
     */
    public static VolumeRecord create(Path dir, PfKey key, String prefix) throws IOException, VolumeException {
        try {
            VolumeRecord.checkPath(prefix);
        } catch (IllegalArgumentException e) {
            throw VolumeException.bad("bad --prefix: " + e.getMessage());
        }
        if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw VolumeException.bad(dir + " exists and is not a directory");
            }
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw VolumeException.bad(dir + " is not empty; a volume is created in a new or empty directory");
                }
            }
        }
        Files.createDirectories(dir.resolve(FILES));
        VolumeRecord r = VolumeRecord.create(prefix);
        AtomicFiles.writeBytes(dir.resolve(RECORD), false, r.toBytes(key));
        return r;
    }

    /** Reads and authenticates the record of the volume in {@code dir}. */
    public static VolumeRecord read(Path dir, PfKey key) throws IOException, VolumeException {
        try {
            return VolumeRecord.parse(recordBytes(dir), key);
        } catch (VolumeException e) {
            throw named(dir, e);
        }
    }

    /** Reads the record without authenticating it (no key): what it claims, for {@code inspect}. */
    public static VolumeRecord readUnauthenticated(Path dir) throws IOException, VolumeException {
        try {
            return VolumeRecord.parseUnauthenticated(recordBytes(dir));
        } catch (VolumeException e) {
            throw named(dir, e);
        }
    }

    /** Whether an import into {@code dir} was interrupted and has not been resumed to its end. */
    public static boolean importPending(Path dir) {
        return Files.exists(dir.resolve(PENDING), LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Records the volume's current files as its next state (version + 1): what the enclave does at a checkpoint.
     * Every file is authenticated in full first, and the current record must be authentic, so only a holder of the
     * key can move the recorded state, and never onto a file that does not authenticate at its path.
     */
    public static VolumeRecord checkpoint(Path dir, PfKey key, int jobs) throws IOException, VolumeException {
        VolumeRecord current = read(dir, key);
        if (importPending(dir)) {
            throw VolumeException.bad(dir + ": an import is incomplete; finish it before recording a new state");
        }
        Path files = dir.resolve(FILES);
        java.util.List<java.util.concurrent.Callable<VolumeRecord.Entry>> tasks = new java.util.ArrayList<>();
        for (String p : VolumeVerifier.listFiles(files)) {
            tasks.add(() -> {
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(files.resolve(p))) {
                    byte[] mac = dev.cloister.pf.ProtectedFiles.metadataMac(ch, p);
                    long size = dev.cloister.pf.ProtectedFiles.decrypt(ch, java.io.OutputStream.nullOutputStream(),
                            key, dev.cloister.pf.PathPolicy.expect(current.embeddedPath(p)), p, n -> {}).plaintextSize();
                    byte[] again = dev.cloister.pf.ProtectedFiles.metadataMac(ch, p);
                    if (!java.util.Arrays.equals(mac, again)) {
                        throw VolumeException.bad(p + " changed while it was being recorded");
                    }
                    return new VolumeRecord.Entry(p, size, java.util.HexFormat.of().formatHex(mac));
                } catch (dev.cloister.pf.PfException e) {
                    throw new VolumeException(VolumeException.Kind.DENIED, p + " cannot be recorded: "
                            + e.getMessage(), e);
                }
            });
        }
        java.util.List<VolumeRecord.Entry> entries;
        try {
            entries = Parallel.run(tasks, jobs);
        } catch (IOException | VolumeException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("checkpoint interrupted", e);
        }
        VolumeRecord next = current.next(entries);
        write(dir, next, key);
        return next;
    }

    /** Writes a new record over the old one, atomically. */
    static void write(Path dir, VolumeRecord r, PfKey key) throws IOException {
        AtomicFiles.writeBytes(dir.resolve(RECORD), true, r.toBytes(key));
    }

    /** The same failure, naming the record file (the record's parser does not know where it came from). */
    private static VolumeException named(Path dir, VolumeException e) {
        if (e.getMessage().startsWith(dir.toString())) {
            return e;
        }
        return new VolumeException(e.kind(), dir.resolve(RECORD) + ": " + e.getMessage(), e);
    }

    private static byte[] recordBytes(Path dir) throws IOException, VolumeException {
        Path rec = dir.resolve(RECORD);
        if (!Files.isRegularFile(rec, LinkOption.NOFOLLOW_LINKS)) {
            throw VolumeException.bad(dir + " is not a volume: it has no " + RECORD);
        }
        if (Files.size(rec) > (1L << 30)) {
            throw VolumeException.bad(rec + " is larger than 1 GiB; not a volume record");
        }
        return Files.readAllBytes(rec);
    }
}
