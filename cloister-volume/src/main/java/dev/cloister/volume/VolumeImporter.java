package dev.cloister.volume;

import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfException;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.function.LongConsumer;

/**
 * Bulk import: a plaintext tree, or a tar stream, becomes a volume's next recorded state.
 *
 * <p>Files are encrypted in parallel straight from disk into {@code DIR/tmp} and renamed into {@code DIR/files}
 * only when complete, so {@code files/} never holds a partial file and no plaintext is ever written. While the
 * import runs, {@code DIR/import.pending} says so; a rerun after an interruption skips every file already in
 * {@code files/} that authenticates, is bound to its path and has the source's size (it assumes the source did not
 * change in between, as a resumed copy does), encrypts the rest, and only then writes the new record (version + 1)
 * and removes the marker.
 */
public final class VolumeImporter {
    /** Tar entries up to this size are read into memory and encrypted on the pool; larger ones on the reader. */
    private static final int TAR_BUFFERED_MAX = 8 << 20;

    /**
     * What an import did.
     *
     * @param record the new recorded state
     * @param written files encrypted by this run
     * @param resumed files kept from an interrupted run
     * @param bytes plaintext bytes of the whole volume
     */
    public record Result(VolumeRecord record, int written, int resumed, long bytes) {}

    private final Path dir;
    private final PfKey key;
    private final int jobs;
    private final LongConsumer progress;
    private VolumeRecord base;
    private final ConcurrentHashMap<String, VolumeRecord.Entry> done = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicInteger written = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger resumed = new java.util.concurrent.atomic.AtomicInteger();

    private VolumeImporter(Path dir, PfKey key, int jobs, LongConsumer progress) {
        this.dir = dir;
        this.key = key;
        this.jobs = Math.max(1, jobs);
        this.progress = progress;
    }

    /** Imports the regular files under {@code src} into the volume {@code dir} (created if missing). */
    public static Result importTree(Path src, Path dir, PfKey key, String prefix, int jobs, LongConsumer progress)
            throws Exception {
        VolumeImporter imp = new VolumeImporter(dir, key, jobs, progress);
        if (dir.toAbsolutePath().normalize().startsWith(src.toAbsolutePath().normalize())) {
            throw VolumeException.bad(dir + " is inside the source " + src + "; import into a folder outside it");
        }
        List<Source> sources = list(src);
        imp.begin(prefix);
        List<Source> bySize = new ArrayList<>(sources);
        bySize.sort(Comparator.comparingLong(Source::size).reversed());
        int perFile = bySize.size() == 1 ? imp.jobs : 1;
        List<Callable<Void>> tasks = new ArrayList<>();
        for (Source s : bySize) {
            tasks.add(() -> {
                if (!imp.skipIfComplete(s.path(), s.size())) {
                    try (FileChannel in = FileChannel.open(s.file())) {
                        imp.encrypt(s.path(), s.size(), (out, p) ->
                                ProtectedFiles.encrypt(in, out, key, p, PfVersion.V2, perFile, progress));
                    }
                }
                return null;
            });
        }
        Parallel.run(tasks, imp.jobs);
        return imp.finish(sources.stream().map(Source::path).toList());
    }

    /** Imports the regular files of a tar stream into the volume {@code dir} (created if missing). */
    public static Result importTar(InputStream tar, Path dir, PfKey key, String prefix, int jobs,
            LongConsumer progress) throws Exception {
        VolumeImporter imp = new VolumeImporter(dir, key, jobs, progress);
        imp.begin(prefix);
        TarReader reader = new TarReader(tar);
        List<String> paths = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(imp.jobs, r -> {
            Thread t = new Thread(r, "volume-import");
            t.setDaemon(true);
            return t;
        });
        // Bounds the buffered entries waiting for a thread: memory stays at about 2 x jobs x 8 MiB.
        Semaphore inFlight = new Semaphore(2 * imp.jobs);
        List<Future<?>> futures = new ArrayList<>();
        try {
            TarReader.File f;
            while ((f = reader.next()) != null) {
                String path = f.path();
                long size = f.size();
                paths.add(path);
                if (imp.skipIfComplete(path, size)) {
                    continue; // the reader skips the entry's bytes
                }
                if (size <= TAR_BUFFERED_MAX) {
                    byte[] data = reader.content().readAllBytes();
                    if (data.length != size) {
                        throw new java.io.EOFException("tar entry " + path + " is short");
                    }
                    inFlight.acquire();
                    futures.add(pool.submit(() -> {
                        try {
                            imp.encrypt(path, size, (out, p) -> ProtectedFiles.encrypt(new ByteArrayInputStream(data),
                                    out, key, p, PfVersion.V2, progress));
                        } finally {
                            inFlight.release();
                        }
                        return null;
                    }));
                } else {
                    InputStream content = reader.content();
                    imp.encrypt(path, size, (out, p) -> ProtectedFiles.encrypt(content, out, key, p, PfVersion.V2,
                            progress));
                }
                for (Future<?> done : futures) {
                    if (done.isDone()) {
                        done.get(); // fail early
                    }
                }
            }
            for (Future<?> fu : futures) {
                fu.get();
            }
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
        }
        return imp.finish(paths);
    }

    /** A plaintext source file. */
    private record Source(Path file, String path, long size) {}

    private static List<Source> list(Path root) throws IOException, VolumeException {
        if (!Files.isDirectory(root)) {
            throw VolumeException.bad(root + " is not a directory (use '-' to read a tar stream from stdin)");
        }
        List<Source> out = new ArrayList<>();
        List<Path> bad = new ArrayList<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                if (attrs.isRegularFile()) {
                    StringBuilder sb = new StringBuilder();
                    for (Path part : root.relativize(file)) {
                        sb.append(sb.isEmpty() ? "" : "/").append(part);
                    }
                    out.add(new Source(file, sb.toString(), attrs.size()));
                } else {
                    bad.add(file);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        if (!bad.isEmpty()) {
            throw VolumeException.bad(bad.get(0) + " is not a regular file (links and special files are not imported)");
        }
        return out;
    }

    /** Creates the volume if needed, or resumes an interrupted import; refuses a volume that already holds files. */
    private void begin(String prefix) throws IOException, VolumeException {
        if (!Files.exists(dir.resolve(Volume.RECORD), LinkOption.NOFOLLOW_LINKS)) {
            Volume.create(dir, key, prefix);
        }
        base = Volume.read(dir, key);
        if (prefix != null && !prefix.equals(base.prefix())) {
            throw VolumeException.bad(dir + " binds its files to '" + base.prefix() + "', not '" + prefix + "'");
        }
        Path files = dir.resolve(Volume.FILES);
        Files.createDirectories(files);
        if (!Volume.importPending(dir)) {
            boolean empty;
            try (var s = Files.list(files)) {
                empty = s.findAny().isEmpty();
            }
            if (!base.entries().isEmpty() || !empty) {
                throw VolumeException.bad(dir + " already holds files (version " + base.version()
                        + "); import fills a new or empty volume");
            }
            AtomicFiles.writeBytes(dir.resolve(Volume.PENDING), true,
                    "an import into this volume is incomplete; rerun it to resume\n".getBytes());
        }
        // Leftovers of an interrupted run are ciphertext of unfinished files: never used, always removed.
        AtomicFiles.deleteTree(dir.resolve(Volume.TMP));
        Files.createDirectories(dir.resolve(Volume.TMP));
    }

    /** Whether {@code path} is already in files/, authentic, bound to its path and of the source's size. */
    private boolean skipIfComplete(String path, long size) throws IOException {
        Path target = target(path);
        if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(target)) {
            byte[] mac = ProtectedFiles.metadataMac(ch, path);
            var info = ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key,
                    PathPolicy.expect(base.embeddedPath(path)), path, n -> {});
            if (info.plaintextSize() != size) {
                return false;
            }
            done.put(path, new VolumeRecord.Entry(path, size, HexFormat.of().formatHex(mac)));
        } catch (PfException e) {
            Files.delete(target); // damaged or foreign: encrypt it again
            return false;
        }
        resumed.incrementAndGet();
        progress.accept(size);
        return true;
    }

    /** Writes one encrypted file. */
    private interface Encryption {
        dev.cloister.pf.PfInfo run(FileChannel out, String embeddedPath) throws Exception;
    }

    private void encrypt(String path, long size, Encryption enc) throws Exception {
        Path target = target(path);
        Path tmp = Files.createTempFile(dir.resolve(Volume.TMP), "part-", ".tmp");
        boolean ok = false;
        try {
            byte[] mac;
            long plain;
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                // The size recorded is what was encrypted, not what a listing said: a source file that changed
                // size in between must not give a record that its own file contradicts.
                plain = enc.run(out, base.embeddedPath(path)).plaintextSize();
                out.force(true);
                mac = ProtectedFiles.metadataMac(out, path);
            }
            Files.createDirectories(target.getParent());
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            ok = true;
            done.put(path, new VolumeRecord.Entry(path, plain, HexFormat.of().formatHex(mac)));
            written.incrementAndGet();
        } finally {
            if (!ok) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private Path target(String path) {
        return dir.resolve(Volume.FILES).resolve(path);
    }

    /** Checks files/ holds exactly the source's files, then records the new state and clears the marker. */
    private Result finish(List<String> paths) throws IOException, VolumeException {
        java.util.Set<String> expected = new java.util.HashSet<>(paths);
        for (String extra : VolumeVerifier.listFiles(dir.resolve(Volume.FILES))) {
            if (!expected.contains(extra)) {
                throw VolumeException.bad(dir + "/files/" + extra + " is not in the source; an import resumes only "
                        + "with the same source (or remove the volume and start again)");
            }
        }
        List<VolumeRecord.Entry> entries = new ArrayList<>(paths.size());
        for (String p : paths) {
            VolumeRecord.Entry e = done.get(p);
            if (e == null) {
                throw new IllegalStateException("no result for " + p);
            }
            entries.add(e);
        }
        VolumeRecord next = base.next(entries);
        Volume.write(dir, next, key);
        Files.deleteIfExists(dir.resolve(Volume.PENDING));
        AtomicFiles.deleteTree(dir.resolve(Volume.TMP));
        return new Result(next, written.get(), resumed.get(), next.totalBytes());
    }
}
