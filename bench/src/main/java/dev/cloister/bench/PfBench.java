package dev.cloister.bench;

import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.Provider;
import java.security.Security;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Single-thread throughput of the encrypted-files library against raw JDK AES-GCM, in one run so the ratio is
 * meaningful on a shared machine. Every benchmark counts one operation per 4 KiB of plaintext, so
 * {@code ops/s * 4096} is bytes per second and the scores compare directly.
 *
 * <p>I/O-free: the plaintext is in memory, the encrypted file in /dev/shm (tmpfs), the decrypted output is
 * discarded; the {@code ...Memory} variants replace the tmpfs file by a {@link MemoryChannel} (no kernel at all),
 * to tell the library's own cost from tmpfs's. {@code engine} selects the AES-GCM implementation of both the
 * library ({@code cloister.pf.engine}) and the raw baselines: {@code jdk} (SunJCE: the reference of the 60 %
 * target) or {@code accp} (Amazon Corretto Crypto Provider). Run: {@code bench/run.sh PfBench}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx256m", "--enable-native-access=ALL-UNNAMED"})
@Threads(1)
public class PfBench {
    /** 64 MiB of plaintext: large enough that the per-file metadata cost is noise. */
    static final int SIZE = 64 << 20;
    static final int RECORDS = SIZE / 4096;

    /** Room for the encrypted form of {@code size} plaintext bytes (data nodes, 1/96 MHT nodes, node 0). */
    static int hostCapacity(int size) {
        return size + size / 64 + (1 << 20);
    }

    @Param({"accp", "jdk"})
    public String engine;
    MemoryChannel memory;

    byte[] plain;
    PfKey key;
    Path dir;
    Path encrypted;
    Path scratch;

    Cipher gcm;
    byte[] record = new byte[4096];
    byte[] out = new byte[4096 + 16];
    byte[] keyBytes = new byte[16];
    byte[] iv = new byte[12];
    long counter;
    PfCpuTime.RawRecords records;
    byte[] oneKeyCt = new byte[4096 + 16];
    byte[] oneKey = new byte[16];
    int next;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        System.setProperty("cloister.pf.engine", engine);
        Provider provider = engine.equals("accp")
                ? com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider.INSTANCE
                : Security.getProvider("SunJCE");
        plain = new byte[SIZE];
        new Random(42).nextBytes(plain);
        key = PfKey.generate();
        Path shm = Path.of("/dev/shm");
        dir = Files.createTempDirectory(Files.isDirectory(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir")),
                "pfbench");
        encrypted = dir.resolve("data.pf");
        scratch = dir.resolve("out.pf");
        try (FileChannel ch = FileChannel.open(encrypted, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/data", PfVersion.V2, n -> {});
        }
        memory = new MemoryChannel(new byte[hostCapacity(SIZE)], 0);
        ProtectedFiles.encrypt(new ByteArrayInputStream(plain), memory, key, "/bench/mem", PfVersion.V2, n -> {});
        gcm = Cipher.getInstance("AES/GCM/NoPadding", provider);
        new Random(7).nextBytes(keyBytes);
        new Random(8).nextBytes(record);
        records = new PfCpuTime.RawRecords(1024);
        new Random(9).nextBytes(oneKey);
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(oneKey, "AES"), new GCMParameterSpec(128, new byte[12]));
        gcm.doFinal(record, 0, record.length, oneKeyCt, 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(encrypted);
        Files.deleteIfExists(scratch);
        Files.deleteIfExists(dir);
        key.close();
    }

    /** The library's streaming encryption of 64 MiB into a file in /dev/shm. */
    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public long encrypt() throws Exception {
        try (FileChannel ch = FileChannel.open(scratch, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            // Overwritten in place (same size every time): measures encryption, not tmpfs page allocation.
            return ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "/bench/out", PfVersion.V2,
                    n -> {}).hostSize();
        }
    }

    /** The library's streaming encryption of 64 MiB into memory: its own cost, without tmpfs. */
    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public long encryptMemory() throws Exception {
        memory.truncate(0);
        return ProtectedFiles.encrypt(new ByteArrayInputStream(plain), memory, key, "/bench/mem", PfVersion.V2,
                n -> {}).hostSize();
    }

    /** The library's streaming decryption of 64 MiB from memory into a null stream, without tmpfs. */
    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public long decryptMemory() throws Exception {
        memory.position(0);
        return ProtectedFiles.decrypt(memory, OutputStream.nullOutputStream(), key, PathPolicy.expect("/bench/mem"),
                "memory", n -> {}).plaintextSize();
    }

    /** The library's streaming decryption (every node authenticated) of 64 MiB from /dev/shm. */
    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public long decrypt() throws Exception {
        try (FileChannel ch = FileChannel.open(encrypted)) {
            return ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key, PathPolicy.expect("/bench/data"),
                    "data.pf", n -> {}).plaintextSize();
        }
    }

    /** Raw AES-128-GCM over one 4 KiB record with one fixed key and a fresh IV: the ceiling. */
    @Benchmark
    public int rawGcmEncrypt4k() throws Exception {
        long c = ++counter;
        for (int i = 0; i < 8; i++) {
            iv[i] = (byte) (c >>> (8 * i));
        }
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(keyBytes, "AES"), new GCMParameterSpec(128, iv));
        return gcm.doFinal(record, 0, record.length, out, 0);
    }

    /**
     * Raw AES-128-GCM over one 4 KiB record with a fresh key per record, as the format requires (every node
     * gets its own key, so the AES key schedule and GHASH key are recomputed per record).
     */
    @Benchmark
    public int rawGcmEncrypt4kFreshKey() throws Exception {
        long c = ++counter;
        for (int i = 0; i < 8; i++) {
            keyBytes[i] = (byte) (c >>> (8 * i));
        }
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(keyBytes, "AES"), new GCMParameterSpec(128, iv));
        return gcm.doFinal(record, 0, record.length, out, 0);
    }

    /** Raw AES-128-GCM decryption (with tag check) of one 4 KiB record under one fixed key. */
    @Benchmark
    public int rawGcmDecrypt4k() throws Exception {
        gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(oneKey, "AES"), records.zeroIv);
        return gcm.doFinal(oneKeyCt, 0, oneKeyCt.length, out, 0);
    }

    /** Raw AES-128-GCM decryption of 4 KiB records each under its own key (1024 records, cycled). */
    @Benchmark
    public int rawGcmDecrypt4kFreshKey() throws Exception {
        next = (next + 1) & 1023;
        return records.decrypt(gcm, next, out);
    }
}
