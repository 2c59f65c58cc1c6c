package dev.cloister.bundle;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;

/**
 * SHA-256 of many files on all cores, optionally copying each file while hashing it so that a bundle's recorded
 * hash is the hash of exactly the bytes stored (the source may change under us; the copy cannot).
 *
 * <p>Largest files start first so one big file does not finish last on an otherwise idle machine.
 *
 * <p>Each file is read with a {@link FileChannel} into a page-aligned direct buffer and, when copying, written from
 * that same buffer, and the digest is updated from it. Measured on this project's CPU (AMD EPYC, SHA-NI; see
 * docs/bundles.md "Numbers"), the cost per byte beyond SHA-256 itself is the kernel's copy out of the page cache
 * (about a quarter of SHA-256's time) and, when building, the file system's cost of writing the copy (about as
 * much as SHA-256 on tmpfs). What was tried and measured:
 * <ul>
 *   <li>Mapping instead of reading ({@code FileChannel.map} into an {@code Arena}, with and without
 *       {@code MADV_POPULATE_READ}): saves the copy but pays a page fault per 16 pages and a slower SHA-256 over
 *       cold memory through the digest's 4 KiB staging array; 5-15 % slower in total. A mapped file truncated by
 *       someone else also kills the reader with SIGBUS instead of giving an error.</li>
 *   <li>For copies, {@code transferTo} (the kernel copies) and then hashing the copy: slower, as the copy must
 *       be read back.</li>
 *   <li>The buffer's placement: a plain {@code ByteBuffer.allocateDirect} of 128 KiB to 1 MiB made on a
 *       benchmark's main thread made the kernel's copy into it take three times the system time, reproducibly,
 *       while a page-aligned slice of a larger buffer never did (the page offset alone was not the cause; a slice
 *       at offset 16 was fast; see {@code HashReadProbe}). In this class's own threads the plain buffer was not
 *       slow, so the aligned slice is a precaution, not a measured gain here.</li>
 *   <li>One digest per thread, reset per file, instead of one per file: 64 KiB files about 10 % cheaper.</li>
 * </ul>
 * The buffer (256 KiB) fits the per-core L2, so the bytes the kernel just copied are still cached when SHA-256
 * reads them. SHA-256 is the JDK's (provider SUN, SHA-NI intrinsic where the CPU has it); nothing in Cloister
 * registers another provider ahead of it, and {@link #sha256()} insists on SUN if one is.
 *
 * <p>A file must keep the size it had when opened until it has been read: one that shrinks or grows meanwhile is
 * an error ({@link BundleException} of kind BAD_INPUT naming the file), never a digest of a mix of old and new
 * lengths.
 */
public final class ParallelHasher {
    static final int BUFFER = 256 << 10;
    private static final int PAGE = 4096;
    // One buffer and one digest per hashing thread: allocating them per file made the GC, not SHA-256, the limit.
    private static final ThreadLocal<Worker> WORKERS = ThreadLocal.withInitial(() -> new Worker(BUFFER));

    private ParallelHasher() {}

    /** A file's digest and size. */
    public record Digest(String sha256, long size) {}

    /** Hashes each file of {@code files} (key: name used in errors). */
    public static SortedMap<String, Digest> hash(Map<String, Path> files, int threads) throws BundleException {
        return run(files, null, threads, n -> { });
    }

    /** Like {@link #hash(Map, int)}, reporting bytes hashed to {@code progress} (from any thread). */
    public static SortedMap<String, Digest> hash(Map<String, Path> files, int threads, LongConsumer progress)
            throws BundleException {
        return run(files, null, threads, progress);
    }

    /**
     * Copies each source to {@code destination(key)} while hashing it.
     *
     * @param copies key -> source; the destination is {@code destRoot} + key
     */
    public static SortedMap<String, Digest> copyAndHash(Map<String, Path> copies, Path destRoot, int threads,
            LongConsumer progress) throws BundleException {
        return run(copies, destRoot, threads, progress);
    }

    private static SortedMap<String, Digest> run(Map<String, Path> files, Path destRoot, int threads,
            LongConsumer progress) throws BundleException {
        List<Map.Entry<String, Path>> order = new ArrayList<>(files.entrySet());
        Map<Path, Long> sizes = new java.util.HashMap<>();
        for (Map.Entry<String, Path> e : order) {
            try {
                sizes.put(e.getValue(), Files.size(e.getValue()));
            } catch (IOException ex) {
                throw BundleException.badInput("cannot read " + e.getKey() + ": " + ex.getMessage());
            }
        }
        order.sort(Comparator.comparingLong((Map.Entry<String, Path> e) -> sizes.get(e.getValue())).reversed()
                .thenComparing(Map.Entry::getKey));
        SortedMap<String, Digest> out = new TreeMap<>();
        ExecutorService pool = dev.cloister.core.Workers.pool(threads, "cloister-hash");
        try {
            List<Map.Entry<String, Future<Digest>>> futures = new ArrayList<>();
            for (Map.Entry<String, Path> e : order) {
                Path dest = destRoot == null ? null : destRoot.resolve(e.getKey().substring(1));
                futures.add(Map.entry(e.getKey(), pool.submit(() -> one(e.getValue(), dest, progress))));
            }
            for (Map.Entry<String, Future<Digest>> f : futures) {
                try {
                    out.put(f.getKey(), f.getValue().get());
                } catch (ExecutionException ex) {
                    String what = ex.getCause() instanceof ChangedWhileRead ? "" : "cannot read ";
                    throw new BundleException(dev.cloister.core.CloisterException.Kind.BAD_INPUT,
                            what + f.getKey() + ": " + ex.getCause().getMessage(), ex.getCause());
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    throw BundleException.badInput("interrupted while hashing " + f.getKey());
                }
            }
        } finally {
            // Waits for the other files' copies to end, so that the caller's clean-up is not raced.
            dev.cloister.core.Workers.stop(pool);
        }
        return out;
    }

    /** Hashes (and, if {@code dest} is given, copies) one file. */
    static Digest one(Path src, Path dest) throws IOException {
        return WORKERS.get().one(src, dest, n -> { });
    }

    private static Digest one(Path src, Path dest, LongConsumer progress) throws IOException {
        return WORKERS.get().one(src, dest, progress);
    }

    /** A file that shrank or grew between being opened and being read to its end. */
    static final class ChangedWhileRead extends IOException {
        private static final long serialVersionUID = 1L;

        ChangedWhileRead(Path file, long opened, long read, boolean grew) {
            super(file + " changed size while being read: " + opened + " bytes when opened, "
                    + (grew ? "more than that" : read + " bytes") + " when read to its end");
        }
    }

    /** A reading buffer and a digest, used by one thread at a time. */
    static final class Worker {
        private final ByteBuffer buf;
        private final MessageDigest md = sha256();

        /** {@code bufferSize} is a seam for tests: small buffers make small files span many reads. */
        Worker(int bufferSize) {
            // Page-aligned: see the class comment (a plain direct buffer was sometimes 3x slower to read into).
            // alignedSlice also rounds the end down to a page, hence the whole extra page past the rounded-up size.
            int pages = (bufferSize + PAGE - 1) / PAGE + 1;
            buf = ByteBuffer.allocateDirect(pages * PAGE).alignedSlice(PAGE).limit(bufferSize).slice();
        }

        /** The reading buffer's address, for the test that keeps it page-aligned. */
        long bufferAddress() {
            return java.lang.foreign.MemorySegment.ofBuffer(buf).address();
        }

        /**
         * Hashes {@code src}, copying it to {@code dest} if that is not null, reporting each chunk's length to
         * {@code progress} after it has been hashed. Reads exactly the size the file had when opened and fails if
         * the file then ends early or has more bytes.
         */
        Digest one(Path src, Path dest, LongConsumer progress) throws IOException {
            md.reset();
            long size;
            long done = 0;
            try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ);
                    FileChannel out = dest == null ? null : FileChannel.open(dest, StandardOpenOption.WRITE,
                            StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING)) {
                size = in.size();
                while (true) {
                    buf.clear();
                    if (size - done < buf.capacity()) {
                        // One byte past the expected end, so that a file that grew is seen by the last read.
                        buf.limit((int) (size - done) + 1);
                    }
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    if (done + n > size) {
                        throw new ChangedWhileRead(src, size, done + n, true);
                    }
                    buf.flip();
                    if (out != null) {
                        while (buf.hasRemaining()) {
                            out.write(buf);
                        }
                        buf.flip();
                    }
                    md.update(buf);
                    done += n;
                    progress.accept(n);
                }
            }
            if (done != size) {
                throw new ChangedWhileRead(src, size, done, false);
            }
            return new Digest(HexFormat.of().formatHex(md.digest()), size);
        }
    }

    static MessageDigest sha256() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            if (!SHA_PROVIDER.equals(md.getProvider().getName())) {
                // A pure-Java provider registered first (BouncyCastle) hashes at a quarter of the intrinsic's speed.
                return MessageDigest.getInstance("SHA-256", SHA_PROVIDER);
            }
            return md;
        } catch (NoSuchAlgorithmException | java.security.NoSuchProviderException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    private static final String SHA_PROVIDER = "SUN";
}
