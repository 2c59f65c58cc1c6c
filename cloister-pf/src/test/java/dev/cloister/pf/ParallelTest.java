package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The multi-threaded paths for one large file write exactly the bytes the single-threaded path writes (given the
 * same node keys), read back what was written, and fail as the single-threaded paths do.
 */
class ParallelTest {
    @TempDir Path tmp;

    private static final String PATH = "/enclave/data/big.bin";
    private static final long MHT_GROUP = (long) Layout.DATA_PER_MHT * Layout.NODE;

    /** Node keys that depend only on the node's number, like Gramine's files re-encrypted in ByteExactTest. */
    static final class KeysByNumber implements Crypto.KeySource {
        private static byte[] derive(String what, long n, int len) {
            try {
                byte[] d = MessageDigest.getInstance("SHA-256").digest((what + n).getBytes());
                return java.util.Arrays.copyOf(d, len);
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new AssertionError(e);
            }
        }

        @Override
        public void dataKey(long d, byte[] out) {
            System.arraycopy(derive("data", d, 16), 0, out, 0, 16);
        }

        @Override
        public void mhtKey(long m, byte[] out) {
            System.arraycopy(derive("mht", m, 16), 0, out, 0, 16);
        }

        @Override
        public void nonce(byte[] out) {
            System.arraycopy(derive("nonce", 0, 32), 0, out, 0, 32);
        }
    }

    private PfKey key() throws Exception {
        byte[] k = new byte[16];
        new Random(7).nextBytes(k);
        return PfKey.of(k);
    }

    private Path plain(long size, long seed) throws Exception {
        byte[] b = new byte[(int) size];
        new Random(seed).nextBytes(b);
        return Files.write(tmp.resolve("plain-" + size + "-" + seed), b);
    }

    private static FileChannel create(Path p) throws Exception {
        return FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /** Sizes on every boundary the parallel split meets: none, part of, one and many MHT groups; a second MHT level. */
    @ParameterizedTest
    @ValueSource(longs = {0, 3072, 3073, 3072 + 4096 * 96, 3072 + 4096 * 96 + 1, 3072 + 4096 * 97 - 5,
            3072 + 4096L * 96 * 33, 3072 + 4096L * 96 * 33 + 4096, 5_000_000})
    void sameBytesAsOneThreadAndReadsBack(long size) throws Exception {
        Path in = plain(size, size);
        try (PfKey key = key()) {
            Path one = tmp.resolve("one.pf");
            try (FileChannel i = FileChannel.open(in); FileChannel o = create(one)) {
                ProtectedFiles.encrypt(Files.newInputStream(in), o, key, PATH, PfVersion.V2, new KeysByNumber());
            }
            for (int threads : new int[] {2, 3}) {
                Path many = tmp.resolve("many" + threads + ".pf");
                try (FileChannel i = FileChannel.open(in); FileChannel o = create(many)) {
                    ProtectedFiles.encrypt(i, o, key, PATH, PfVersion.V2, threads, KeysByNumber::new);
                    assertThat(i.position()).isEqualTo(size);
                }
                assertThat(Files.readAllBytes(many)).as("%d threads", threads).isEqualTo(Files.readAllBytes(one));

                Path back = tmp.resolve("back" + threads);
                try (FileChannel i = FileChannel.open(one); FileChannel o = create(back)) {
                    PfInfo info = PfStreams.decryptParallel(i, o, key, PathPolicy.expect(PATH), "one.pf", threads,
                            n -> {});
                    assertThat(info.plaintextSize()).isEqualTo(size);
                    assertThat(o.position()).isEqualTo(size);
                }
                assertThat(Files.mismatch(back, in)).isEqualTo(-1L);
            }
        }
    }

    @Test
    void testsBelowUseFilesLargeEnoughForThreads() {
        assertThat(12 * MHT_GROUP).isGreaterThan(ProtectedFiles.PARALLEL_MIN_BYTES);
    }

    @Test
    void publicPathsRoundTripAndReportEveryByte() throws Exception {
        long size = 3 * MHT_GROUP * 7 + 12345;
        Path in = plain(size, 1);
        Path enc = tmp.resolve("enc.pf");
        Path back = tmp.resolve("back");
        AtomicLong seen = new AtomicLong();
        try (PfKey key = key()) {
            try (FileChannel i = FileChannel.open(in); FileChannel o = create(enc)) {
                ProtectedFiles.encrypt(i, o, key, PATH, PfVersion.V1, 2, seen::addAndGet);
            }
            assertThat(seen.get()).isEqualTo(size);
            seen.set(0);
            try (FileChannel i = FileChannel.open(enc); FileChannel o = create(back)) {
                ProtectedFiles.decrypt(i, o, key, PathPolicy.expect(PATH), "enc.pf", 2, seen::addAndGet);
            }
            assertThat(seen.get()).isEqualTo(size);
            assertThat(Files.mismatch(back, in)).isEqualTo(-1L);
            assertThat(ProtectedFiles.header(FileChannel.open(enc), "enc.pf").version()).isEqualTo(PfVersion.V1);
        }
    }

    @Test
    void aTamperedNodeFailsWithItsNumber() throws Exception {
        long size = 12 * MHT_GROUP; // above PARALLEL_MIN_BYTES, so the threaded path runs
        Path in = plain(size, 2);
        Path enc = tmp.resolve("enc.pf");
        try (PfKey key = key()) {
            try (FileChannel i = FileChannel.open(in); FileChannel o = create(enc)) {
                ProtectedFiles.encrypt(i, o, key, PATH, PfVersion.V2, 2, n -> {});
            }
            long d = 300; // in MHT group 3
            try (FileChannel ch = FileChannel.open(enc, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
                ByteBuffer b = ByteBuffer.allocate(1);
                long pos = Layout.physicalOfData(d) * Layout.NODE + 100;
                ch.read(b, pos);
                b.put(0, (byte) (b.get(0) ^ 1)).rewind();
                ch.write(b, pos);
            }
            try (FileChannel i = FileChannel.open(enc); FileChannel o = create(tmp.resolve("out"))) {
                assertThatThrownBy(() -> ProtectedFiles.decrypt(i, o, key, PathPolicy.expect(PATH), "enc.pf", 2,
                        n -> {}))
                        .isInstanceOfSatisfying(PfException.class, e -> assertThat(e.reason())
                                .isEqualTo(PfException.Reason.AUTHENTICATION_FAILED))
                        .hasMessageContaining("data node " + d);
            }
            try (FileChannel i = FileChannel.open(enc); FileChannel o = create(tmp.resolve("out2"))) {
                assertThatThrownBy(() -> ProtectedFiles.decrypt(i, o, key, PathPolicy.expect("/elsewhere"), "enc.pf",
                        2, n -> {}))
                        .isInstanceOf(PfException.class);
            }
        }
    }

    /** A change to the input file, made at the first progress report: after the first 3072 bytes, before any node. */
    interface Change {
        void apply() throws java.io.IOException;
    }

    private static java.util.function.LongConsumer once(Change change) {
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        return n -> {
            if (done.compareAndSet(false, true)) {
                try {
                    change.apply();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
    }

    @Test
    void anInputThatShrinksOrGrowsWhileReadIsAnError() throws Exception {
        long size = 12 * MHT_GROUP;
        try (PfKey key = key()) {
            Path in = plain(size, 3);
            try (FileChannel i = FileChannel.open(in, StandardOpenOption.READ, StandardOpenOption.WRITE);
                    FileChannel o = create(tmp.resolve("a.pf"))) {
                assertThatThrownBy(() -> ProtectedFiles.encrypt(i, o, key, PATH, PfVersion.V2, 2,
                        once(() -> i.truncate(size / 2))))
                        .isInstanceOf(PfException.class).hasMessageContaining("shrank");
            }
            Path in2 = plain(size, 4);
            try (FileChannel i = FileChannel.open(in2, StandardOpenOption.READ, StandardOpenOption.WRITE);
                    FileChannel o = create(tmp.resolve("b.pf"))) {
                assertThatThrownBy(() -> ProtectedFiles.encrypt(i, o, key, PATH, PfVersion.V2, 2,
                        once(() -> i.write(ByteBuffer.wrap(new byte[10]), size))))
                        .isInstanceOf(PfException.class).hasMessageContaining("changed size");
            }
        }
    }
}
