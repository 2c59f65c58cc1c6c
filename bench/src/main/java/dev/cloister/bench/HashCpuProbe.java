package dev.cloister.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.cloister.bundle.ParallelHasher;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Separates SHA-256 speed from machine load: on a shared machine wall time says little, so this measures CPU
 * time. It prints (1) raw SHA-256 of memory, MB per CPU-second on one thread and on all threads at once (the
 * ceiling), and (2) {@link ParallelHasher} over a generated tree (75% in 32 MiB files, 25% in 64 KiB files,
 * page-cached): hashing alone (what {@code bundle verify} does) and copying while hashing (what {@code cloister
 * build} does, into a fresh folder each round, deleted outside the timing as a build's output is new), MB per
 * process CPU-second and MB per wall-second, best of five rounds, with the ratio to (1) from the same run. For the
 * build it also times the bare copy ({@code Files.copy}, the kernel's copy, no hashing), the part of a build's cost
 * that is the file system's, not SHA-256's. If (2) per CPU-second is close to (1), tree hashing is bounded by
 * SHA-256 speed, and its wall time on an idle machine is tree size / (cores x (2)).
 *
 * <p>Run: {@code java -Djava.io.tmpdir=/dev/shm -cp 'bench/target/cloister-bench.jar:bench/target/lib/*'
 * dev.cloister.bench.HashCpuProbe [MiB [threads]]} (the tree is written under {@code java.io.tmpdir}; {@code /dev/shm}
 * keeps it in memory so the disk does not enter the figure).
 */
public final class HashCpuProbe {
    private HashCpuProbe() {}

    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int cores = args.length > 1 ? Integer.parseInt(args[1]) : Runtime.getRuntime().availableProcessors();
        var os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        System.out.printf("%s, %d threads, load average %.2f at start%n", Instant.now(), cores,
                os.getSystemLoadAverage());
        byte[] buf = new byte[1 << 20];
        new Random(1).nextBytes(buf);
        double raw1 = rawSha(buf, mib, 1);
        double rawN = rawSha(buf, mib, cores);
        System.out.printf("raw SHA-256 (1 MiB buffer), best of 4: 1 thread %.0f MB per CPU-second, %d threads at once"
                + " %.0f MB per CPU-second%n", raw1, cores, rawN);

        Path dir = Files.createTempDirectory("cloister-probe-");
        try {
            SortedMap<String, Path> files = new TreeMap<>();
            int big = mib * 3 / 4 / 32;
            long small = ((long) mib << 20) - ((long) big << 25);
            int n = 0;
            for (int b = 0; b < big; b++) {
                files.put("/f" + n, write(dir.resolve("f" + n++), 32L << 20, buf));
            }
            for (long s = 0; s < small; s += 64 << 10) {
                files.put("/f" + n, write(dir.resolve("f" + n++), 64 << 10, buf));
            }
            double mb = mib * 1.048576;
            // Best of five: on a shared machine the best round is the one least disturbed by neighbours.
            double[] hashBest = {0, 0};
            double[] copyBest = {0, 0};
            double[] bareBest = {0, 0};
            for (int round = 0; round < 5; round++) {
                double[] h = timed(mb, os, () -> ParallelHasher.hash(files, cores));
                Path copies = Files.createTempDirectory("cloister-probe-copy-");
                double[] c = timed(mb, os, () -> ParallelHasher.copyAndHash(files, copies, cores, x -> { }));
                delete(copies);
                Path bare = Files.createTempDirectory("cloister-probe-bare-");
                double[] k = timed(mb, os, () -> bareCopy(files, bare, cores));
                delete(bare);
                best(hashBest, h);
                best(copyBest, c);
                best(bareBest, k);
                System.out.printf("round %d: hash %.0f, copy+hash %.0f, bare copy %.0f MB per CPU-second (load average"
                        + " %.1f)%n", round, h[0], c[0], k[0], os.getSystemLoadAverage());
            }
            System.out.printf("tree %d MiB (%d files), %d threads, best of 5:%n", mib, n, cores);
            System.out.printf("  hash (verify):      %.0f MB per CPU-second (%.0f %% of raw SHA-256 on 1 thread, %.0f %%"
                    + " of %d threads at once), %.0f MB/s wall%n", hashBest[0], 100 * hashBest[0] / raw1,
                    100 * hashBest[0] / rawN, cores, hashBest[1]);
            System.out.printf("  copy+hash (build):  %.0f MB per CPU-second (%.0f %% / %.0f %%), %.0f MB/s wall%n",
                    copyBest[0], 100 * copyBest[0] / raw1, 100 * copyBest[0] / rawN, copyBest[1]);
            System.out.printf("  bare copy (Files.copy, no hash): %.0f MB per CPU-second, %.0f MB/s wall; SHA-256 at"
                    + " the raw rate plus this copy would give %.0f MB per CPU-second%n", bareBest[0], bareBest[1],
                    1 / (1 / rawN + 1 / bareBest[0]));
            System.out.printf("%s, load average %.2f at end%n", Instant.now(), os.getSystemLoadAverage());
        } finally {
            delete(dir);
        }
    }

    /** Raw SHA-256 of the same in-cache buffer on {@code threads} threads at once, MB per CPU-second, best of 4. */
    private static double rawSha(byte[] buf, int mib, int threads) throws Exception {
        var threadMx = ManagementFactory.getThreadMXBean();
        double best = 0;
        for (int round = 0; round < 4; round++) {
            List<Callable<Double>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                work.add(() -> {
                    MessageDigest md = MessageDigest.getInstance("SHA-256");
                    long c0 = threadMx.getCurrentThreadCpuTime();
                    for (int i = 0; i < mib; i++) {
                        md.update(buf);
                    }
                    md.digest();
                    return (threadMx.getCurrentThreadCpuTime() - c0) / 1e9;
                });
            }
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                double cpu = 0;
                for (Future<Double> f : pool.invokeAll(work)) {
                    cpu += f.get();
                }
                best = Math.max(best, threads * mib * 1.048576 / cpu);
            } finally {
                pool.shutdown();
            }
        }
        return best;
    }

    private interface Job {
        void run() throws Exception;
    }

    /** Runs {@code job}; returns {MB per process CPU-second, MB per wall-second}. */
    private static double[] timed(double mb, OperatingSystemMXBean os, Job job) throws Exception {
        long c0 = os.getProcessCpuTime();
        long w0 = System.nanoTime();
        job.run();
        double cpu = (os.getProcessCpuTime() - c0) / 1e9;
        double wall = (System.nanoTime() - w0) / 1e9;
        return new double[] {mb / cpu, mb / wall};
    }

    private static void best(double[] best, double[] round) {
        best[0] = Math.max(best[0], round[0]);
        best[1] = Math.max(best[1], round[1]);
    }

    private static void bareCopy(SortedMap<String, Path> files, Path dest, int threads) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Callable<Path>> work = new ArrayList<>();
            for (var e : files.entrySet()) {
                work.add(() -> Files.copy(e.getValue(), dest.resolve(e.getKey().substring(1))));
            }
            for (Future<Path> f : pool.invokeAll(work)) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    private static void delete(Path dir) throws java.io.IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private static Path write(Path f, long size, byte[] chunk) throws java.io.IOException {
        try (OutputStream out = Files.newOutputStream(f)) {
            for (long w = 0; w < size; w += chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, size - w));
            }
        }
        return f;
    }
}
