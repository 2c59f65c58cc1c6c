package dev.cloister.volume;

import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfException;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.ProtectedFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.function.LongConsumer;

/**
 * Verifies a volume against its record and, when given, against the state recorded elsewhere (version and root
 * digest): authenticates the record, then every file, and reports each difference by name. Export is the same
 * pass with the plaintext written to a staging tree that becomes the destination only if nothing differs.
 */
public final class VolumeVerifier {
    /** What can differ. */
    public enum Kind {
        /** The record does not authenticate under the key: edited, or another key's volume. */
        RECORD,
        /** The record is authentic but older than the expected version: a rolled-back volume. */
        OLDER_VERSION,
        /** The record is authentic but newer than the expected version: a state never recorded as expected. */
        NEWER_VERSION,
        /** Same version, other root digest: a diverged copy, or another volume with the same key. */
        ROOT,
        /** An import was interrupted: the record does not describe the files yet. */
        INCOMPLETE,
        /** A recorded file is not there. */
        MISSING,
        /** A file is there that the record does not list. */
        ADDED,
        /** A file fails authentication or is bound to another path: edited, damaged or moved. */
        MODIFIED,
        /** A file authenticates but is not the recorded copy: an older copy of it, or another volume's file. */
        REPLACED
    }

    /** One difference; {@code path} is null for the volume as a whole. */
    public record Difference(Kind kind, String path, String detail) {
        @Override
        public String toString() {
            return (path == null ? "volume" : path) + ": " + detail;
        }
    }

    /**
     * The outcome.
     *
     * @param record the authentic record, or null if it did not authenticate
     * @param differences empty when the volume is exactly the recorded (and expected) state
     * @param filesChecked files authenticated
     * @param bytesChecked their plaintext bytes
     */
    public record Report(VolumeRecord record, List<Difference> differences, long filesChecked, long bytesChecked) {
        public Report {
            differences = List.copyOf(differences);
        }

        /** Whether nothing differs. */
        public boolean ok() {
            return differences.isEmpty();
        }
    }

    /** The state the volume must be in, as held outside it (later: by the broker); nulls are not checked. */
    public record Expected(Long version, String rootHex) {
        /** No expectation beyond the record's own consistency. */
        public static final Expected NONE = new Expected(null, null);
    }

    private VolumeVerifier() {}

    /** Verifies {@code dir}: every file is authenticated in full (on {@code jobs} threads). */
    public static Report verify(Path dir, PfKey key, Expected expected, int jobs, LongConsumer progress)
            throws IOException, VolumeException {
        return run(dir, key, expected, jobs, progress, null);
    }

    /**
     * Decrypts the volume into {@code dest} after verifying it as {@link #verify} does, in the same pass. {@code dest}
     * appears only if nothing differs (a staging tree beside it is renamed into place); with {@code force} an existing
     * {@code dest} is replaced, else it is an error. The report says what differed when nothing was written.
     */
    public static Report export(Path dir, Path dest, PfKey key, Expected expected, boolean force, int jobs,
            LongConsumer progress) throws IOException, VolumeException {
        Path abs = dest.toAbsolutePath().normalize();
        if (!force && Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw VolumeException.bad(dest + " exists; refusing to overwrite it (use --force)");
        }
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        Path staging = Files.createTempDirectory(parent, "." + abs.getFileName() + ".export-");
        boolean moved = false;
        try {
            Report r = run(dir, key, expected, jobs, progress, staging);
            if (r.ok()) {
                Path old = null;
                if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
                    old = Files.createTempDirectory(parent, "." + abs.getFileName() + ".old-");
                    Files.move(abs, old.resolve("x"), StandardCopyOption.ATOMIC_MOVE);
                }
                Files.move(staging, abs, StandardCopyOption.ATOMIC_MOVE);
                moved = true;
                if (old != null) {
                    AtomicFiles.deleteTree(old);
                }
            }
            return r;
        } finally {
            if (!moved) {
                AtomicFiles.deleteTree(staging);
            }
        }
    }

    private static Report run(Path dir, PfKey key, Expected expected, int jobs, LongConsumer progress, Path out)
            throws IOException, VolumeException {
        List<Difference> diffs = new ArrayList<>();
        VolumeRecord r;
        try {
            r = Volume.read(dir, key);
        } catch (VolumeException e) {
            if (e.kind() != VolumeException.Kind.DENIED) {
                throw e;
            }
            diffs.add(new Difference(Kind.RECORD, null, e.getMessage()));
            return new Report(null, diffs, 0, 0);
        }
        if (expected.version() != null && r.version() != expected.version()) {
            boolean older = r.version() < expected.version();
            diffs.add(new Difference(older ? Kind.OLDER_VERSION : Kind.NEWER_VERSION, null, "the volume is at version "
                    + r.version() + ", expected version " + expected.version()
                    + (older ? " (an older copy: rolled back)" : " (a state that was not recorded)")));
        } else if (expected.rootHex() != null && !MessageDigest.isEqual(
                expected.rootHex().toLowerCase(java.util.Locale.ROOT).getBytes(), r.rootHex().getBytes())) {
            diffs.add(new Difference(Kind.ROOT, null, "the root digest is " + r.rootHex() + ", expected "
                    + expected.rootHex() + " at the same version " + r.version()
                    + " (a diverged copy, or another volume " + r.id() + " with the same key)"));
        }
        if (Volume.importPending(dir)) {
            diffs.add(new Difference(Kind.INCOMPLETE, null,
                    "an import was interrupted; rerun 'cloister volume import' to finish it"));
        }
        Path files = dir.resolve(Volume.FILES);
        TreeSet<String> present = new TreeSet<>(VolumeRecord.PATH_ORDER);
        if (Files.isDirectory(files, LinkOption.NOFOLLOW_LINKS)) {
            present.addAll(listFiles(files));
        }
        Map<String, VolumeRecord.Entry> recorded = new java.util.HashMap<>();
        List<Callable<Difference>> tasks = new ArrayList<>();
        for (VolumeRecord.Entry e : r.entries()) {
            recorded.put(e.path(), e);
            if (!present.contains(e.path())) {
                diffs.add(new Difference(Kind.MISSING, e.path(), "recorded (" + e.size() + " bytes) but missing"));
                continue;
            }
            tasks.add(() -> checkFile(files, r, e, key, out, progress));
        }
        for (String p : present) {
            if (!recorded.containsKey(p)) {
                diffs.add(new Difference(Kind.ADDED, p, "present but not in the record (added)"));
            }
        }
        List<Difference> fileDiffs;
        try {
            fileDiffs = Parallel.run(tasks, jobs);
        } catch (IOException | VolumeException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("verification interrupted", e);
        }
        long n = 0;
        long bytes = 0;
        for (int i = 0; i < fileDiffs.size(); i++) {
            if (fileDiffs.get(i) != null) {
                diffs.add(fileDiffs.get(i));
            }
        }
        for (VolumeRecord.Entry e : r.entries()) {
            if (present.contains(e.path())) {
                n++;
                bytes += e.size();
            }
        }
        diffs.sort(java.util.Comparator.comparing((Difference d) -> d.path() == null ? "" : d.path(),
                VolumeRecord.PATH_ORDER));
        return new Report(r, diffs, n, bytes);
    }

    /** Authenticates one file in full and compares it with its entry; null if it is the recorded copy. */
    private static Difference checkFile(Path files, VolumeRecord r, VolumeRecord.Entry e, PfKey key, Path out,
            LongConsumer progress) throws IOException {
        Path f = files.resolve(e.path());
        try (FileChannel ch = FileChannel.open(f)) {
            String before = HexFormat.of().formatHex(ProtectedFiles.metadataMac(ch, e.path()));
            long size;
            PathPolicy policy = PathPolicy.expect(r.embeddedPath(e.path()));
            if (out == null) {
                size = ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key, policy, e.path(), progress)
                        .plaintextSize();
            } else {
                Path target = out.resolve(e.path());
                Files.createDirectories(target.getParent());
                try (FileChannel o = FileChannel.open(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    size = ProtectedFiles.decrypt(ch, (WritableByteChannel) o, key, policy, e.path(), progress)
                            .plaintextSize();
                }
            }
            String after = HexFormat.of().formatHex(ProtectedFiles.metadataMac(ch, e.path()));
            if (!after.equals(before)) {
                return new Difference(Kind.MODIFIED, e.path(), "changed while it was being verified");
            }
            if (!MessageDigest.isEqual(before.getBytes(), e.mac().getBytes()) || size != e.size()) {
                return new Difference(Kind.REPLACED, e.path(), "authenticates but is not the recorded copy ("
                        + size + " bytes, recorded " + e.size() + "): an older copy of it, or a file from another "
                        + "volume with the same key");
            }
            return null;
        } catch (PfException x) {
            String why = switch (x.reason()) {
                case WRONG_PATH -> "is bound to another path (moved or copied from elsewhere)";
                case AUTHENTICATION_FAILED -> "fails authentication (modified, damaged, or another key's file)";
                default -> "is not a valid encrypted file (" + x.reason().name().toLowerCase(java.util.Locale.ROOT)
                        + ")";
            };
            return new Difference(Kind.MODIFIED, e.path(), why);
        }
    }

    /** The regular files and other entries under {@code files}, as volume paths ('/'-separated). */
    static List<String> listFiles(Path files) throws IOException {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(files, LinkOption.NOFOLLOW_LINKS)) {
            return out;
        }
        Files.walkFileTree(files, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                StringBuilder sb = new StringBuilder();
                for (Path part : files.relativize(file)) {
                    sb.append(sb.isEmpty() ? "" : "/").append(part);
                }
                out.add(sb.toString());
                return FileVisitResult.CONTINUE;
            }
        });
        return out;
    }
}
