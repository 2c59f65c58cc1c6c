package dev.cloister.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.cloister.bundle.ParallelHasher;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Comparator;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Separates SHA-256 speed from machine load: on a shared machine wall time says little, so this measures CPU
 * time. It prints (1) raw SHA-256 of memory, MB per CPU-second on one thread, and (2) {@link ParallelHasher} over
 * a generated tree (75% in 32 MiB files, 25% in 64 KiB files, page-cached): hashing alone (what {@code bundle
 * verify} does) and copying while hashing (what {@code cloister build} does), MB per process CPU-second and MB per
 * wall-second, best of five rounds. If (2) per CPU-second is close to (1), tree hashing is bounded by SHA-256
 * speed, and its wall time on an idle machine is tree size / (cores x (2)).
 *
 * <p>Run: {@code java -Djava.io.tmpdir=/dev/shm -cp 'bench/target/cloister-bench.jar:bench/target/lib/*'
 * dev.cloister.bench.HashCpuProbe [MiB [threads]]} (the tree is written under {@code java.io.tmpdir}; {@code /dev/shm}
 * keeps it in memory so the disk does not enter the figure).
 */
public final class HashCpuProbe {
    private HashCpuProbe() {}

    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        var threadMx = ManagementFactory.getThreadMXBean();
        var os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        byte[] buf = new byte[1 << 20];
        new Random(1).nextBytes(buf);
        double best = 0;
        for (int round = 0; round < 4; round++) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            long c0 = threadMx.getCurrentThreadCpuTime();
            for (int i = 0; i < mib; i++) {
                md.update(buf);
            }
            md.digest();
            best = Math.max(best, mib * 1.048576 / ((threadMx.getCurrentThreadCpuTime() - c0) / 1e9));
        }
        System.out.printf("raw SHA-256, 1 thread: %.0f MB per CPU-second%n", best);

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
            int cores = args.length > 1 ? Integer.parseInt(args[1]) : Runtime.getRuntime().availableProcessors();
            Path copies = Files.createTempDirectory("cloister-probe-copy-");
            try {
                // Best of five: on a shared machine the best round is the one least disturbed by neighbours.
                double bestHashCpu = 0;
                double bestHashWall = 0;
                double bestCopyCpu = 0;
                double bestCopyWall = 0;
                for (int round = 0; round < 5; round++) {
                    long c0 = os.getProcessCpuTime();
                    long w0 = System.nanoTime();
                    ParallelHasher.hash(files, cores);
                    double cpu = (os.getProcessCpuTime() - c0) / 1e9;
                    double wall = (System.nanoTime() - w0) / 1e9;
                    double hashCpu = mib * 1.048576 / cpu;
                    bestHashCpu = Math.max(bestHashCpu, hashCpu);
                    bestHashWall = Math.max(bestHashWall, mib * 1.048576 / wall);
                    c0 = os.getProcessCpuTime();
                    w0 = System.nanoTime();
                    ParallelHasher.copyAndHash(files, copies, cores, x -> { });
                    cpu = (os.getProcessCpuTime() - c0) / 1e9;
                    wall = (System.nanoTime() - w0) / 1e9;
                    double copyCpu = mib * 1.048576 / cpu;
                    bestCopyCpu = Math.max(bestCopyCpu, copyCpu);
                    bestCopyWall = Math.max(bestCopyWall, mib * 1.048576 / wall);
                    System.out.printf("round %d: hash %.0f MB/CPU-s, copy+hash %.0f MB/CPU-s (load average %.1f)%n",
                            round, hashCpu, copyCpu, os.getSystemLoadAverage());
                }
                System.out.printf("tree %d MiB (%d files), %d threads, best of 5:%n", mib, n, cores);
                System.out.printf("  hash (verify):      %.0f MB per CPU-second, %.0f MB/s wall%n", bestHashCpu,
                        bestHashWall);
                System.out.printf("  copy+hash (build):  %.0f MB per CPU-second, %.0f MB/s wall%n", bestCopyCpu,
                        bestCopyWall);
            } finally {
                delete(copies);
            }
        } finally {
            delete(dir);
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
