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
import java.security.Provider;
import java.security.Security;
import java.util.ArrayList;
import java.util.List;
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
 * <p>The library runs on each AES-GCM engine ({@code cloister.pf.engine} = {@code accp}, then {@code jdk}), each
 * to and from a file in /dev/shm and to and from memory ({@link MemoryChannel}: no kernel), against raw AES-GCM
 * over 4 KiB records from the JDK's SunJCE (the reference of the 60 % target) and from ACCP.
 *
 * <p>Run: {@code java -Xmx256m --enable-native-access=ALL-UNNAMED -cp bench/target/cloister-bench.jar
 * dev.cloister.bench.PfCpuTime [rounds]}.
 */
public final class PfCpuTime {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final String ENGINE = "cloister.pf.engine";

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

    /** The Amazon Corretto Crypto Provider, as the library loads it (not installed JVM-wide). */
    static Provider accp() {
        return com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider.INSTANCE;
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 12;
        int size = PfBench.SIZE;
        byte[] plain = new byte[size];
        new Random(42).nextBytes(plain);
        Path dir = Files.createTempDirectory(Path.of("/dev/shm"), "pfcpu");
        Path enc = dir.resolve("data.pf");
        Path out = dir.resolve("out.pf");
        MemoryChannel memory = new MemoryChannel(new byte[PfBench.hostCapacity(size)], 0);
        String loadBefore = Files.readString(Path.of("/proc/loadavg")).trim();
        long processCpu0 = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
        long wall0 = System.nanoTime();
        List<String> names = new ArrayList<>();
        List<Work> work = new ArrayList<>();
        try (PfKey key = PfKey.generate()) {
            try (FileChannel ch = FileChannel.open(enc, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE)) {
                ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/data", PfVersion.V2, n -> {});
            }
            for (String engine : new String[] {"accp", "jdk"}) {
                names.add("library encrypt, memory -> /dev/shm file [" + engine + "]");
                work.add(() -> {
                    System.setProperty(ENGINE, engine);
                    try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.READ,
                            StandardOpenOption.WRITE)) {
                        ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/out", PfVersion.V2,
                                n -> {});
                    }
                });
                names.add("library decrypt, /dev/shm file -> null [" + engine + "]");
                work.add(() -> {
                    System.setProperty(ENGINE, engine);
                    try (FileChannel ch = FileChannel.open(enc)) {
                        ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key,
                                PathPolicy.expect("/bench/data"), "data.pf", n -> {});
                    }
                });
                names.add("library encrypt, memory -> memory [" + engine + "]");
                work.add(() -> {
                    System.setProperty(ENGINE, engine);
                    memory.truncate(0);
                    ProtectedFiles.encrypt(new ByteArrayInputStream(plain), memory, key, "/bench/mem", PfVersion.V2,
                            n -> {});
                });
                names.add("library decrypt, memory -> null [" + engine + "]");
                work.add(() -> {
                    System.setProperty(ENGINE, engine);
                    memory.position(0);
                    ProtectedFiles.decrypt(memory, OutputStream.nullOutputStream(), key,
                            PathPolicy.expect("/bench/mem"), "memory", n -> {});
                });
            }
            for (Provider p : new Provider[] {Security.getProvider("SunJCE"), accp()}) {
                Raw raw = new Raw(p, plain);
                String tag = p.getName().startsWith("Amazon") ? "ACCP" : "JDK";
                names.add("raw " + tag + " GCM encrypt, 4 KiB, one key");
                work.add(raw::encryptOneKey);
                names.add("raw " + tag + " GCM encrypt, 4 KiB, fresh key per record");
                work.add(raw::encryptFreshKeys);
                names.add("raw " + tag + " GCM encrypt, fresh keys, streaming 64 MiB");
                work.add(raw::encryptStreaming);
                names.add("raw " + tag + " GCM decrypt, 4 KiB, one key");
                work.add(raw::decryptOneKey);
                names.add("raw " + tag + " GCM decrypt, 4 KiB, fresh key per record");
                work.add(raw::decryptFreshKeys);
            }
            double[] bestCpu = new double[work.size()];
            double[] bestWall = new double[work.size()];
            java.util.Arrays.fill(bestCpu, 1e9);
            java.util.Arrays.fill(bestWall, 1e9);
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < work.size(); i++) {
                    Time t = time(work.get(i));
                    if (r >= 2) { // the first rounds warm up the JIT
                        bestCpu[i] = Math.min(bestCpu[i], t.cpu());
                        bestWall[i] = Math.min(bestWall[i], t.wall());
                    }
                }
            }
            System.clearProperty(ENGINE);
            long processCpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                    .getProcessCpuTime() - processCpu0;
            System.out.printf("%s UTC; %d MiB per run, best of %d rounds; ACCP %s%n", java.time.Instant.now(),
                    size >> 20, rounds - 2, accp().getVersionStr());
            System.out.printf("load average before: %s; after: %s; process %.1f CPU-s in %.1f s wall%n", loadBefore,
                    Files.readString(Path.of("/proc/loadavg")).trim(), processCpu / 1e9, (System.nanoTime() - wall0) / 1e9);
            double[] gbs = new double[work.size()];
            for (int i = 0; i < work.size(); i++) {
                gbs[i] = size / bestCpu[i] / 1e9;
                System.out.printf("%-58s %6.2f GB/s per CPU-second  %6.2f GB/s wall%n", names.get(i), gbs[i],
                        size / bestWall[i] / 1e9);
            }
            ratios(names, gbs);
        } finally {
            Files.deleteIfExists(enc);
            Files.deleteIfExists(out);
            Files.deleteIfExists(dir);
        }
    }

    private static void ratios(List<String> names, double[] gbs) {
        java.util.function.ToDoubleFunction<String> g = prefix -> {
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).startsWith(prefix)) {
                    return gbs[i];
                }
            }
            throw new IllegalArgumentException(prefix);
        };
        System.out.println("Shares (GB per CPU-second of the library / of raw GCM):");
        String[][] paths = {
            {"/dev/shm", "library encrypt, memory -> /dev/shm file [", "library decrypt, /dev/shm file -> null ["},
            {"memory", "library encrypt, memory -> memory [", "library decrypt, memory -> null ["}};
        for (String engine : new String[] {"accp", "jdk"}) {
            for (String[] where : paths) {
                double e = g.applyAsDouble(where[1] + engine);
                double d = g.applyAsDouble(where[2] + engine);
                System.out.printf("  [%s, %s] encrypt: %.0f%% of raw JDK one key, %.0f%% of raw JDK fresh keys, %.0f%% of"
                        + " raw ACCP fresh keys;  decrypt: %.0f%% of raw JDK one key, %.0f%% of raw JDK fresh keys, %.0f%%"
                        + " of raw ACCP fresh keys%n", engine, where[0],
                        100 * e / g.applyAsDouble("raw JDK GCM encrypt, 4 KiB, one key"),
                        100 * e / g.applyAsDouble("raw JDK GCM encrypt, 4 KiB, fresh"),
                        100 * e / g.applyAsDouble("raw ACCP GCM encrypt, 4 KiB, fresh"),
                        100 * d / g.applyAsDouble("raw JDK GCM decrypt, 4 KiB, one key"),
                        100 * d / g.applyAsDouble("raw JDK GCM decrypt, 4 KiB, fresh"),
                        100 * d / g.applyAsDouble("raw ACCP GCM decrypt, 4 KiB, fresh"));
            }
        }
    }

    /** Raw AES-128-GCM over 4 KiB records on one provider, each kind over 64 MiB. */
    static final class Raw {
        final Cipher gcm;
        final byte[] plain;
        final byte[] record = new byte[4096];
        final byte[] ct = new byte[4096 + 16];
        final byte[] k = new byte[16];
        final byte[] iv = new byte[12];
        final byte[] ring = new byte[16 * (4096 + 16)];
        final RawRecords recs;
        final byte[] oneKey = new byte[16];
        final byte[] oneKeyCt = new byte[4096 + 16];
        long counter;

        Raw(Provider p, byte[] plain) throws Exception {
            this.plain = plain;
            gcm = Cipher.getInstance("AES/GCM/NoPadding", p);
            recs = new RawRecords(1024);
            new Random(9).nextBytes(oneKey);
            gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(oneKey, "AES"), recs.zeroIv);
            gcm.doFinal(record, 0, 4096, oneKeyCt, 0);
        }

        int records() {
            return plain.length / 4096;
        }

        void encryptOneKey() throws Exception {
            for (int i = 0; i < records(); i++) {
                long c = ++counter;
                for (int b = 0; b < 8; b++) {
                    iv[b] = (byte) (c >>> (8 * b));
                }
                gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), new GCMParameterSpec(128, iv));
                gcm.doFinal(record, 0, 4096, ct, 0);
            }
        }

        void encryptFreshKeys() throws Exception {
            for (int i = 0; i < records(); i++) {
                long c = ++counter;
                for (int b = 0; b < 8; b++) {
                    k[b] = (byte) (c >>> (8 * b));
                }
                gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), recs.zeroIv);
                gcm.doFinal(record, 0, 4096, ct, 0);
            }
        }

        /** Fresh keys, reading the 64 MiB plaintext in order: adds the memory traffic the library has. */
        void encryptStreaming() throws Exception {
            for (int i = 0; i < records(); i++) {
                long c = ++counter;
                for (int b = 0; b < 8; b++) {
                    k[b] = (byte) (c >>> (8 * b));
                }
                gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(k, "AES"), recs.zeroIv);
                gcm.doFinal(plain, i * 4096, 4096, ring, (i & 15) * (4096 + 16));
            }
        }

        void decryptOneKey() throws Exception {
            SecretKeySpec key = new SecretKeySpec(oneKey, "AES");
            for (int i = 0; i < records(); i++) {
                gcm.init(Cipher.DECRYPT_MODE, key, recs.zeroIv);
                gcm.doFinal(oneKeyCt, 0, 4096 + 16, ct, 0);
            }
        }

        void decryptFreshKeys() throws Exception {
            for (int i = 0; i < records(); i++) {
                recs.decrypt(gcm, i & 1023, ct);
            }
        }
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
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", Security.getProvider("SunJCE"));
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
