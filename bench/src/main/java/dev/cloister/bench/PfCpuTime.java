package dev.cloister.bench;

import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The same work as {@link PfBench}, timed in CPU seconds of the measuring thread instead of wall-clock seconds.
 * On a machine shared with other jobs (load far above the core count) wall-clock throughput mostly measures the
 * scheduler; CPU time (user + system, which includes the tmpfs writes) is what the work costs, i.e. what one
 * core achieves when it is not shared. Rounds are interleaved and the best round of each kind is reported.
 *
 * <p>Run: {@code java -cp bench/target/cloister-bench.jar dev.cloister.bench.PfCpuTime [rounds]}.
 */
public final class PfCpuTime {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private PfCpuTime() {}

    interface Work {
        void run() throws Exception;
    }

    /** CPU and wall seconds of one run. */
    record Time(double cpu, double wall) {}

    static Time time(Work w) throws Exception {
        long c0 = THREADS.getCurrentThreadCpuTime();
        long w0 = System.nanoTime();
        w.run();
        return new Time((THREADS.getCurrentThreadCpuTime() - c0) / 1e9, (System.nanoTime() - w0) / 1e9);
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int size = PfBench.SIZE;
        byte[] plain = new byte[size];
        new Random(42).nextBytes(plain);
        Path dir = Files.createTempDirectory(Path.of("/dev/shm"), "pfcpu");
        Path enc = dir.resolve("data.pf");
        Path out = dir.resolve("out.pf");
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
        byte[] record = new byte[4096];
        byte[] ct = new byte[4096 + 16];
        byte[] k = new byte[16];
        byte[] iv = new byte[12];
        long[] counter = {0};
        String[] names = {"encrypt", "decrypt", "raw GCM encrypt, one key", "raw GCM encrypt, fresh key per record",
            "raw GCM encrypt, fresh keys, streaming", "raw GCM decrypt, one key",
            "raw GCM decrypt, fresh key per record"};
        double[] bestCpu = new double[names.length];
        double[] bestWall = new double[names.length];
        java.util.Arrays.fill(bestCpu, 1e9);
        java.util.Arrays.fill(bestWall, 1e9);
        // Decryption baselines need genuine ciphertext and tags: 1024 records under 1024 keys (4 MiB, so the
        // fresh-key variant really changes key every record) and one record under the fixed key.
        RawRecords recs = new RawRecords(1024);
        byte[] oneKeyCt = new byte[4096 + 16];
        byte[] k1 = new byte[16];
        new Random(9).nextBytes(k1);
        GCMParameterSpec zeroIv = new GCMParameterSpec(128, new byte[12]);
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k1, "AES"), zeroIv);
        gcm.doFinal(record, 0, 4096, oneKeyCt, 0);
        byte[] ring = new byte[16 * (4096 + 16)];
        try (PfKey key = PfKey.generate()) {
            try (FileChannel ch = FileChannel.open(enc, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE)) {
                ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/data", PfVersion.V2, n -> {});
            }
            Work[] work = {
                () -> {
                    try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.READ,
                            StandardOpenOption.WRITE)) {
                        ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/out", PfVersion.V2,
                                n -> {});
                    }
                },
                () -> {
                    try (FileChannel ch = FileChannel.open(enc)) {
                        ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key,
                                PathPolicy.expect("/bench/data"), "data.pf", n -> {});
                    }
                },
                () -> {
                    for (int i = 0; i < size / 4096; i++) {
                        long c = ++counter[0];
                        for (int b = 0; b < 8; b++) {
                            iv[b] = (byte) (c >>> (8 * b));
                        }
                        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), new GCMParameterSpec(128, iv));
                        gcm.doFinal(record, 0, 4096, ct, 0);
                    }
                },
                () -> {
                    for (int i = 0; i < size / 4096; i++) {
                        long c = ++counter[0];
                        for (int b = 0; b < 8; b++) {
                            k[b] = (byte) (c >>> (8 * b));
                        }
                        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), new GCMParameterSpec(128, iv));
                        gcm.doFinal(record, 0, 4096, ct, 0);
                    }
                },
                () -> {
                    // The same, reading the 64 MiB plaintext in order: adds the memory traffic the library has.
                    for (int i = 0; i < size / 4096; i++) {
                        long c = ++counter[0];
                        for (int b = 0; b < 8; b++) {
                            k[b] = (byte) (c >>> (8 * b));
                        }
                        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), new GCMParameterSpec(128, iv));
                        gcm.doFinal(plain, i * 4096, 4096, ring, (i & 15) * (4096 + 16));
                    }
                },
                () -> {
                    for (int i = 0; i < size / 4096; i++) {
                        gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(k1, "AES"), zeroIv);
                        gcm.doFinal(oneKeyCt, 0, 4096 + 16, ct, 0);
                    }
                },
                () -> {
                    for (int i = 0; i < size / 4096; i++) {
                        recs.decrypt(gcm, i & 1023, ct);
                    }
                }
            };
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < work.length; i++) {
                    Time t = time(work[i]);
                    if (r >= 2) { // the first rounds warm up the JIT
                        bestCpu[i] = Math.min(bestCpu[i], t.cpu());
                        bestWall[i] = Math.min(bestWall[i], t.wall());
                    }
                }
            }
        } finally {
            Files.deleteIfExists(enc);
            Files.deleteIfExists(out);
            Files.deleteIfExists(dir);
        }
        System.out.printf("%d MiB per run, best of %d rounds; load average %s%n", size >> 20, rounds - 2,
                Files.readString(Path.of("/proc/loadavg")).trim());
        for (int i = 0; i < names.length; i++) {
            System.out.printf("%-40s %7.2f GB/s per CPU-second   %7.2f GB/s wall-clock%n", names[i],
                    size / bestCpu[i] / 1e9, size / bestWall[i] / 1e9);
        }
        System.out.printf("encrypt / raw encrypt: %.0f%% of one key, %.0f%% of fresh keys, %.0f%% of fresh keys streaming%n",
                100 * bestCpu[2] / bestCpu[0], 100 * bestCpu[3] / bestCpu[0], 100 * bestCpu[4] / bestCpu[0]);
        System.out.printf("decrypt / raw decrypt: %.0f%% of one key, %.0f%% of fresh keys%n",
                100 * bestCpu[5] / bestCpu[1], 100 * bestCpu[6] / bestCpu[1]);
        System.out.printf("decrypt / raw encrypt: %.0f%% of one key, %.0f%% of fresh keys%n",
                100 * bestCpu[2] / bestCpu[1], 100 * bestCpu[3] / bestCpu[1]);
    }

    /** 4 KiB records each encrypted under its own key (zero IV, as the format does), for decryption baselines. */
    static final class RawRecords {
        final byte[][] keys;
        final byte[] cts;
        final GCMParameterSpec zeroIv = new GCMParameterSpec(128, new byte[12]);

        RawRecords(int n) throws Exception {
            keys = new byte[n][16];
            cts = new byte[n * (4096 + 16)];
            Random r = new Random(11);
            byte[] p = new byte[4096];
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            for (int i = 0; i < n; i++) {
                r.nextBytes(keys[i]);
                r.nextBytes(p);
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(keys[i], "AES"), zeroIv);
                c.doFinal(p, 0, 4096, cts, i * (4096 + 16));
            }
        }

        int decrypt(Cipher c, int i, byte[] out) throws Exception {
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(keys[i], "AES"), zeroIv);
            return c.doFinal(cts, i * (4096 + 16), 4096 + 16, out, 0);
        }
    }
}
