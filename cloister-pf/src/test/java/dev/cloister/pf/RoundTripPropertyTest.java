package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded property tests over plaintext sizes at every layout boundary: empty, the 3072 bytes inside the metadata
 * node, whole data nodes, a full MHT node (96 data nodes), and the first MHT node of the second tree level
 * (96 * 33 data nodes), each +-1, plus random sizes. Streaming and random-access paths must agree with each other
 * and with the plaintext.
 */
class RoundTripPropertyTest {
    static final int MD = 3072;
    static final int NODE = 4096;

    @TempDir
    Path dir;

    static Stream<Integer> sizes() {
        TreeSet<Integer> s = new TreeSet<>();
        for (int base : new int[] {0, MD, MD + NODE, MD + 2 * NODE, MD + 95 * NODE, MD + 96 * NODE, MD + 97 * NODE,
            MD + 96 * 2 * NODE, MD + 96 * 33 * NODE}) {
            for (int delta = -1; delta <= 1; delta++) {
                if (base + delta >= 0) {
                    s.add(base + delta);
                }
            }
        }
        s.add(1);
        for (int k = 1; k <= 4; k++) {
            s.add(k * NODE); // multiples of 4096 (they do not line up with data nodes: 3072 bytes are in node 0)
        }
        Random r = new Random(20261127);
        for (int i = 0; i < 4; i++) {
            s.add(r.nextInt(1_000_000));
        }
        return s.stream();
    }

    @ParameterizedTest(name = "{0} bytes")
    @MethodSource("sizes")
    void streamingRoundTripAndLayoutSize(int size) throws Exception {
        byte[] plain = Pf.random(size, size);
        Path f = dir.resolve("f.pf");
        PfVersion v = size % 2 == 0 ? PfVersion.V2 : PfVersion.V1;
        try (PfKey key = Pf.key(size)) {
            PfInfo info = Pf.encrypt(plain, f, key, "/data/f", v);
            assertThat(Files.size(f)).isEqualTo(Pf.expectedHostSize(size)).isEqualTo(info.hostSize());
            assertThat(info.plaintextSize()).isEqualTo(size);
            long dataNodes = size <= MD ? 0 : (size - MD + NODE - 1) / NODE;
            assertThat(info.dataNodes()).isEqualTo(dataNodes);
            assertThat(info.mhtNodes()).isEqualTo((dataNodes + 95) / 96);
            assertThat(Pf.decrypt(f, key, PathPolicy.expect("/data/f"))).isEqualTo(plain);
            // The random-access reader sees the same bytes.
            try (PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.expect("/data/f"), ProtectedFiles.Mode.READ, v)) {
                assertThat(ch.size()).isEqualTo(size);
                assertThat(Pf.readAll(ch, new Random(size))).isEqualTo(plain);
            }
        }
    }

    /**
     * The channel overloads (used by the command line for files) against the stream ones: a plaintext channel that
     * returns short reads and an output channel that takes short writes must give the same plaintext back.
     */
    @ParameterizedTest(name = "{0} bytes")
    @MethodSource("sizes")
    void channelOverloadsRoundTrip(int size) throws Exception {
        byte[] plain = Pf.random(size, size + 5);
        Path f = dir.resolve("ch.pf");
        Random r = new Random(size + 11L);
        try (PfKey key = Pf.key(size + 3)) {
            try (FileChannel out = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                PfInfo info = ProtectedFiles.encrypt(new Trickle(plain, r), out, key, "/data/ch", PfVersion.V2,
                        n -> {});
                assertThat(info.plaintextSize()).isEqualTo(size);
            }
            java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
            WritableByteChannel sink = new WritableByteChannel() {
                @Override
                public int write(ByteBuffer src) {
                    int n = Math.min(src.remaining(), 1 + r.nextInt(9000));
                    byte[] b = new byte[n];
                    src.get(b);
                    got.write(b, 0, n);
                    return n;
                }

                @Override
                public boolean isOpen() {
                    return true;
                }

                @Override
                public void close() {}
            };
            try (FileChannel in = FileChannel.open(f)) {
                ProtectedFiles.decrypt(in, sink, key, PathPolicy.expect("/data/ch"), "ch.pf", n -> {});
            }
            assertThat(got.toByteArray()).isEqualTo(plain);
            assertThat(Pf.decrypt(f, key, PathPolicy.expect("/data/ch"))).isEqualTo(plain);
        }
    }

    /** A readable channel over a byte array that hands out a random, often short, number of bytes per read. */
    private static final class Trickle implements ReadableByteChannel {
        private final byte[] data;
        private final Random r;
        private int pos;

        Trickle(byte[] data, Random r) {
            this.data = data;
            this.r = r;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (pos == data.length) {
                return -1;
            }
            int n = Math.min(Math.min(dst.remaining(), data.length - pos), 1 + r.nextInt(70_000));
            dst.put(data, pos, n);
            pos += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {}
    }

    @ParameterizedTest(name = "{0} bytes")
    @MethodSource("sizes")
    void channelWrittenFilesMatchStreamingOnes(int size) throws Exception {
        byte[] plain = Pf.random(size, size + 1);
        Path f = dir.resolve("c.pf");
        PfVersion v = size % 3 == 0 ? PfVersion.V1 : PfVersion.V2;
        Random r = new Random(size * 31L);
        try (PfKey key = Pf.key(size + 7)) {
            try (PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.expect("/c"), ProtectedFiles.Mode.CREATE_NEW, v)) {
                int pos = 0;
                while (pos < size) {
                    int n = Math.min(size - pos, 1 + r.nextInt(50_000));
                    ByteBuffer b = ByteBuffer.wrap(plain, pos, n);
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                    pos += n;
                }
            }
            assertThat(Files.size(f)).isEqualTo(Pf.expectedHostSize(size));
            assertThat(Pf.decrypt(f, key, PathPolicy.expect("/c"))).isEqualTo(plain);
            assertThat(ProtectedFiles.header(java.nio.channels.FileChannel.open(f), "c").version()).isEqualTo(v);
        }
    }

    /** Interleaved writes, truncates and appends at random offsets, checked against a plain byte array. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomOperationsMatchAByteArrayModel(long seed) throws Exception {
        Random r = new Random(seed);
        Path f = dir.resolve("m.pf");
        byte[] model = new byte[0];
        PfVersion v = seed % 2 == 0 ? PfVersion.V2 : PfVersion.V1;
        // Large enough to cross MHT node 0's 96 data nodes and to overflow the 48-node cache.
        int limit = seed % 3 == 0 ? 900_000 : 120_000;
        try (PfKey key = Pf.key(seed)) {
            PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.expect("/m"), ProtectedFiles.Mode.CREATE_NEW, v);
            try {
                for (int op = 0; op < 120; op++) {
                    int kind = r.nextInt(10);
                    if (kind < 5) { // write at a random offset, possibly past the end (zero-filled gap)
                        int at = r.nextInt(Math.max(1, Math.min(limit, model.length + 20_000)));
                        int len = 1 + r.nextInt(r.nextBoolean() ? 100 : 60_000);
                        byte[] data = Pf.random(len, r.nextLong());
                        ch.position(at).write(ByteBuffer.wrap(data));
                        if (at + len > model.length) {
                            model = java.util.Arrays.copyOf(model, at + len);
                        }
                        System.arraycopy(data, 0, model, at, len);
                        assertThat(ch.position()).isEqualTo(at + len);
                    } else if (kind < 7) { // truncate
                        int to = model.length == 0 ? 0 : r.nextInt(model.length + 1);
                        ch.truncate(to);
                        model = java.util.Arrays.copyOf(model, to);
                    } else if (kind < 8) { // append at the end
                        byte[] data = Pf.random(1 + r.nextInt(30_000), r.nextLong());
                        ch.position(ch.size()).write(ByteBuffer.wrap(data));
                        int old = model.length;
                        model = java.util.Arrays.copyOf(model, old + data.length);
                        System.arraycopy(data, 0, model, old, data.length);
                    } else if (kind < 9) { // random read
                        if (model.length > 0) {
                            int at = r.nextInt(model.length);
                            int len = Math.min(model.length - at, 1 + r.nextInt(20_000));
                            ByteBuffer b = ByteBuffer.allocate(len);
                            ch.position(at);
                            while (b.hasRemaining()) {
                                ch.read(b);
                            }
                            assertThat(b.array()).isEqualTo(java.util.Arrays.copyOfRange(model, at, at + len));
                        }
                    } else { // close and reopen (sometimes in append mode)
                        ch.close();
                        boolean append = r.nextBoolean();
                        ch = ProtectedFiles.open(f, key, PathPolicy.expect("/m"),
                                append ? ProtectedFiles.Mode.APPEND : ProtectedFiles.Mode.READ_WRITE, PfVersion.V2);
                        if (append) {
                            byte[] data = Pf.random(1 + r.nextInt(10_000), r.nextLong());
                            ch.position(0).write(ByteBuffer.wrap(data)); // append ignores the position
                            int old = model.length;
                            model = java.util.Arrays.copyOf(model, old + data.length);
                            System.arraycopy(data, 0, model, old, data.length);
                            assertThat(ch.position()).isEqualTo(model.length);
                            ch.close();
                            ch = ProtectedFiles.open(f, key, PathPolicy.expect("/m"), ProtectedFiles.Mode.READ_WRITE,
                                    PfVersion.V2);
                        }
                    }
                    assertThat(ch.size()).isEqualTo(model.length);
                }
            } finally {
                ch.close();
            }
            assertThat(Files.size(f)).isEqualTo(Pf.expectedHostSize(model.length));
            assertThat(Pf.decrypt(f, key, PathPolicy.expect("/m"))).isEqualTo(model);
            try (PfChannel back = ProtectedFiles.open(f, key, PathPolicy.expect("/m"), ProtectedFiles.Mode.READ, v)) {
                assertThat(Pf.readAll(back, r)).isEqualTo(model);
            }
            // Reopening keeps the original format.
            assertThat(ProtectedFiles.header(java.nio.channels.FileChannel.open(f), "m").version()).isEqualTo(v);
        }
    }

    static Stream<Long> seeds() {
        return Stream.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
    }
}
