package dev.cloister.bench;

import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Ways of getting page-cached file bytes into SHA-256 (and into a copy), one thread, measured in the hashing
 * thread's own CPU time so that neighbours' load matters less: the comparison behind {@code ParallelHasher}'s
 * choice (docs/bundles.md, "Numbers"). Each method runs over the same tree as {@link HashCpuProbe} (75 % in 32 MiB
 * files, 25 % in 64 KiB files), methods interleaved round by round, best of the rounds after the first, with user
 * and system seconds per GiB (user is mostly SHA-256, system the kernel's copies and page handling).
 *
 * <p>Run: {@code java -Djava.io.tmpdir=/dev/shm -cp 'bench/target/cloister-bench.jar:bench/target/lib/*'
 * dev.cloister.bench.HashReadProbe [MiB [rounds]]}.
 */
public final class HashReadProbe {
    private static final int BUF = 256 << 10;

    private HashReadProbe() {}

    private interface Method {
        void run(Path src, Path dst, MessageDigest md) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        // Both buffers are made here, on the main thread, where a plain allocateDirect was seen to be slow.
        ByteBuffer plain = ByteBuffer.allocateDirect(BUF);
        ByteBuffer aligned = ByteBuffer.allocateDirect(BUF + 2 * 4096).alignedSlice(4096).limit(BUF).slice();
        byte[] heap = new byte[BUF];
        Map<String, Method> methods = new LinkedHashMap<>();
        methods.put("read, page-aligned direct buffer", (s, d, md) -> read(s, aligned, md));
        methods.put("read, plain allocateDirect buffer", (s, d, md) -> read(s, plain, md));
        methods.put("read, heap array", (s, d, md) -> {
            try (FileChannel in = FileChannel.open(s)) {
                ByteBuffer hb = ByteBuffer.wrap(heap);
                for (int n; (n = in.read(hb.clear())) >= 0; ) {
                    md.update(heap, 0, n);
                }
            }
        });
        methods.put("map whole file (Arena), update(mapped)", (s, d, md) -> {
            try (FileChannel in = FileChannel.open(s); Arena arena = Arena.ofConfined()) {
                if (in.size() > 0) {
                    md.update(in.map(FileChannel.MapMode.READ_ONLY, 0, in.size(), arena).asByteBuffer());
                }
            }
        });
        methods.put("copy: read + write + hash the same buffer", (s, d, md) -> copy(s, d, aligned, md));
        methods.put("copy only: read + write, no hash", (s, d, md) -> copy(s, d, aligned, null));
        methods.put("copy only: transferTo, no hash", (s, d, md) -> transfer(s, d));
        methods.put("copy: transferTo, then read the copy and hash", (s, d, md) -> {
            transfer(s, d);
            read(d, aligned, md);
        });

        Path dir = Files.createTempDirectory("cloister-read-probe-");
        try {
            List<Path> files = tree(dir, mib);
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            var os = ManagementFactory.getOperatingSystemMXBean();
            System.out.printf("%s, %d MiB, %d files, load average %.2f at start%n", java.time.Instant.now(), mib,
                    files.size(), os.getSystemLoadAverage());
            Map<String, double[]> best = new LinkedHashMap<>();
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (int round = 0; round < rounds; round++) {
                for (Map.Entry<String, Method> m : methods.entrySet()) {
                    Path out = Files.createTempDirectory("cloister-read-probe-out-");
                    long c0 = mx.getCurrentThreadCpuTime();
                    long u0 = mx.getCurrentThreadUserTime();
                    for (Path f : files) {
                        md.reset();
                        m.getValue().run(f, out.resolve(f.getFileName()), md);
                        md.digest();
                    }
                    double cpu = (mx.getCurrentThreadCpuTime() - c0) / 1e9;
                    double user = (mx.getCurrentThreadUserTime() - u0) / 1e9;
                    delete(out);
                    double gib = mib / 1024.0;
                    double[] r = {mib * 1.048576 / cpu, user / gib, (cpu - user) / gib};
                    if (round > 0 && (!best.containsKey(m.getKey()) || best.get(m.getKey())[0] < r[0])) {
                        best.put(m.getKey(), r);
                    }
                }
            }
            System.out.printf("best of rounds 2-%d, MB per thread-CPU-second (user / sys CPU-s per GiB):%n", rounds);
            best.forEach((k, v) -> System.out.printf("  %-48s %5.0f  (%.2f / %.2f)%n", k, v[0], v[1], v[2]));
            System.out.printf("%s, load average %.2f at end%n", java.time.Instant.now(), os.getSystemLoadAverage());
        } finally {
            delete(dir);
        }
    }

    private static void read(Path src, ByteBuffer buf, MessageDigest md) throws Exception {
        try (FileChannel in = FileChannel.open(src)) {
            while (in.read(buf.clear()) >= 0) {
                md.update(buf.flip());
            }
        }
    }

    private static void copy(Path src, Path dst, ByteBuffer buf, MessageDigest md) throws Exception {
        try (FileChannel in = FileChannel.open(src); FileChannel out = FileChannel.open(dst, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW)) {
            while (in.read(buf.clear()) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    out.write(buf);
                }
                if (md != null) {
                    md.update(buf.flip());
                }
            }
        }
    }

    private static void transfer(Path src, Path dst) throws Exception {
        try (FileChannel in = FileChannel.open(src); FileChannel out = FileChannel.open(dst, StandardOpenOption.WRITE,
                StandardOpenOption.READ, StandardOpenOption.CREATE_NEW)) {
            long size = in.size();
            for (long pos = 0; pos < size; ) {
                pos += in.transferTo(pos, size - pos, out);
            }
        }
    }

    private static List<Path> tree(Path dir, int mib) throws Exception {
        byte[] chunk = new byte[1 << 20];
        new Random(1).nextBytes(chunk);
        List<Path> files = new ArrayList<>();
        int big = mib * 3 / 4 / 32;
        long small = ((long) mib << 20) - ((long) big << 25);
        int n = 0;
        for (int b = 0; b < big; b++) {
            files.add(write(dir.resolve("f" + n++), 32L << 20, chunk));
        }
        for (long s = 0; s < small; s += 64 << 10) {
            files.add(write(dir.resolve("f" + n++), 64 << 10, chunk));
        }
        return files;
    }

    private static Path write(Path f, long size, byte[] chunk) throws Exception {
        try (OutputStream out = Files.newOutputStream(f)) {
            for (long w = 0; w < size; w += chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, size - w));
            }
        }
        return f;
    }

    private static void delete(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
