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
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;

/**
 * SHA-256 of many files on all cores, optionally copying each file while hashing it so that a bundle's recorded
 * hash is the hash of exactly the bytes stored (the source may change under us; the copy cannot).
 *
 * <p>Largest files start first so one big file does not finish last on an otherwise idle machine.
 *
 * <p>Each file is read with a {@link FileChannel} into a direct buffer and, when copying, written from that same
 * buffer. A {@code byte[]} with streams costs two extra full copies per file (the JDK stages every heap-array read
 * and write through a temporary direct buffer); here the only user-space copy is the digest's own small staging
 * copy, which stays in L1. The buffer (256 KiB) fits the per-core L2, so the bytes the kernel just copied are still
 * cached when SHA-256 reads them. SHA-256 is the JDK's (provider SUN, SHA-NI intrinsic where the CPU has it);
 * nothing in Cloister registers another provider ahead of it, and {@link #sha256()} insists on SUN if one is.
 */
public final class ParallelHasher {
    private static final int BUFFER = 256 << 10;
    // One buffer per hashing thread: allocating per file made the GC, not SHA-256, the limit.
    private static final ThreadLocal<ByteBuffer> BUFFERS = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(BUFFER));

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
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads), r -> {
            Thread t = new Thread(r, "cloister-hash");
            t.setDaemon(true);
            return t;
        });
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
                    throw new BundleException(dev.cloister.core.CloisterException.Kind.BAD_INPUT,
                            "cannot read " + f.getKey() + ": " + ex.getCause().getMessage(), ex.getCause());
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                    throw BundleException.badInput("interrupted while hashing " + f.getKey());
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return out;
    }

    /** Hashes (and, if {@code dest} is given, copies) one file. */
    static Digest one(Path src, Path dest) throws IOException {
        return one(src, dest, n -> { });
    }

    private static Digest one(Path src, Path dest, LongConsumer progress) throws IOException {
        MessageDigest md = sha256();
        ByteBuffer buf = BUFFERS.get();
        long size = 0;
        try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ);
                FileChannel out = dest == null ? null : FileChannel.open(dest, StandardOpenOption.WRITE,
                        StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (true) {
                buf.clear();
                int n = in.read(buf);
                if (n < 0) {
                    break;
                }
                buf.flip();
                if (out != null) {
                    while (buf.hasRemaining()) {
                        out.write(buf);
                    }
                    buf.flip();
                }
                md.update(buf);
                size += n;
                progress.accept(n);
            }
        }
        return new Digest(HexFormat.of().formatHex(md.digest()), size);
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
