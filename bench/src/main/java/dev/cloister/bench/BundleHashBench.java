package dev.cloister.bench;

import dev.cloister.bundle.ParallelHasher;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Hashing a bundle tree: {@code treeMiB} of files (a few large libraries and many small ones, as in a Python or
 * JRE bundle), hashed by {@link ParallelHasher} with 1 thread and with all cores. The tree stays in the page
 * cache, so this measures SHA-256 throughput, which bounds {@code cloister build} and {@code bundle verify}.
 * Throughput in MB/s = treeMiB * 1.048576 / (seconds per op).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgs = {"-Xmx1g"})
public class BundleHashBench {
    @Param({"1024"})
    public int treeMiB;

    @Param({"1", "0"})
    public int threads;

    private Path dir;
    private SortedMap<String, Path> files;

    @Setup(Level.Trial)
    public void makeTree() throws IOException {
        dir = Files.createTempDirectory("cloister-hash-bench-");
        files = new TreeMap<>();
        Random rnd = new Random(1);
        byte[] chunk = new byte[1 << 20];
        rnd.nextBytes(chunk);
        // 75% of the tree in 32 MiB files (libraries), the rest in 64 KiB files (modules, classes).
        int bigFiles = treeMiB * 3 / 4 / 32;
        long smallBytes = ((long) treeMiB << 20) - ((long) bigFiles << 25);
        int i = 0;
        for (int b = 0; b < bigFiles; b++) {
            write(dir.resolve("f" + (i++)), 32L << 20, chunk);
        }
        for (long s = 0; s < smallBytes; s += 64 << 10) {
            write(dir.resolve("f" + (i++)), 64 << 10, chunk);
        }
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> files.put("/" + p.getFileName(), p));
        }
    }

    private static void write(Path f, long size, byte[] chunk) throws IOException {
        try (OutputStream out = Files.newOutputStream(f)) {
            for (long w = 0; w < size; w += chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, size - w));
            }
        }
    }

    @Benchmark
    public Map<String, ParallelHasher.Digest> hashTree() throws Exception {
        int t = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
        return ParallelHasher.hash(files, t);
    }

    @TearDown(Level.Trial)
    public void delete() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
