package dev.cloister.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
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
 */
public final class ParallelHasher {
    private static final int BUFFER = 1 << 20;
    // One buffer per hashing thread: allocating a fresh 1 MiB per small file made the GC, not SHA-256, the limit.
    private static final ThreadLocal<byte[]> BUFFERS = ThreadLocal.withInitial(() -> new byte[BUFFER]);

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
        byte[] buf = BUFFERS.get();
        long size = 0;
        try (InputStream in = Files.newInputStream(src);
                OutputStream out = dest == null ? OutputStream.nullOutputStream() : Files.newOutputStream(dest)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
                out.write(buf, 0, n);
                size += n;
                progress.accept(n);
            }
        }
        return new Digest(HexFormat.of().formatHex(md.digest()), size);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }
}
