package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every kind of tampering the host can do is caught, by both readers, with the typed reason: a flipped byte in
 * any node, swapped nodes, truncation, an extra node, a wrong key, a wrong path.
 */
class TamperTest {
    /** 2 MHT nodes, 101 data nodes: the second MHT node and its children are covered too. */
    static final int SIZE = 3072 + 100 * 4096 + 1234;
    static final String PATH = "/enclave/tamper";

    @TempDir
    Path dir;

    byte[] plain;
    PfKey key;

    @BeforeEach
    void setUp() throws Exception {
        plain = Pf.random(SIZE, 1);
        key = Pf.key(2);
    }

    private byte[] encrypted(PfVersion v) throws Exception {
        Path f = dir.resolve("orig.pf");
        Pf.encrypt(plain, f, key, PATH, v);
        return Files.readAllBytes(f);
    }

    /** What the streaming reader says about {@code bytes}; null if it decrypted them to the plaintext. */
    private PfException.Reason streaming(byte[] bytes, PfKey k, PathPolicy policy) throws Exception {
        Path f = dir.resolve("t.pf");
        Files.write(f, bytes);
        Throwable t = catchThrowable(() -> {
            byte[] out = Pf.decrypt(f, k, policy);
            assertThat(out).isEqualTo(plain);
        });
        return reason(t);
    }

    /** What the random-access reader says when reading everything. */
    private PfException.Reason channel(byte[] bytes, PfKey k, PathPolicy policy) throws Exception {
        Path f = dir.resolve("t.pf");
        Files.write(f, bytes);
        Throwable t = catchThrowable(() -> {
            try (PfChannel ch = ProtectedFiles.open(f, k, policy, ProtectedFiles.Mode.READ, PfVersion.V2)) {
                assertThat(Pf.readAll(ch, new Random(3))).isEqualTo(plain);
            }
        });
        return reason(t);
    }

    private static PfException.Reason reason(Throwable t) {
        if (t == null) {
            return null;
        }
        if (t instanceof IOException && t.getCause() instanceof PfException pe) {
            return pe.reason();
        }
        if (t instanceof PfException pe) {
            return pe.reason();
        }
        throw new AssertionError("not a typed error", t);
    }

    @ParameterizedTest
    @EnumSource(PfVersion.class)
    void flippingAnyByteOfAnyNodeIsCaught(PfVersion v) throws Exception {
        byte[] good = encrypted(v);
        int nodes = good.length / 4096;
        assertThat(nodes).isEqualTo(1 + 2 + 101);
        Random r = new Random(v.ordinal());
        int encOff = v == PfVersion.V1 ? 58 : 59;
        for (int node = 0; node < nodes; node++) {
            // First and last byte of every node and a random one; in node 0 also every header field and both
            // ends of the encrypted part.
            int[] offsets = node == 0 ? new int[] {0, 7, 8, 9, 10, 41, 42, 57, 58, encOff, encOff + 3883, encOff + 3884,
                4095, r.nextInt(4096), r.nextInt(4096)} : new int[] {0, 4095, r.nextInt(4096)};
            for (int off : offsets) {
                byte[] bad = good.clone();
                int pos = node * 4096 + off;
                bad[pos] ^= (byte) (1 + r.nextInt(255));
                PfException.Reason got = node % 7 == 0 || node < 3 ? channel(bad, key, PathPolicy.expect(PATH))
                        : streaming(bad, key, PathPolicy.expect(PATH));
                assertThat(got).as("node %d offset %d", node, off).isIn(expected(node, off, encOff));
            }
        }
    }

    /** What a flip at {@code off} of {@code node} must produce. */
    private static PfException.Reason[] expected(int node, int off, int encOff) {
        if (node > 0) {
            return new PfException.Reason[] {PfException.Reason.AUTHENTICATION_FAILED};
        }
        if (off < 8) {
            return new PfException.Reason[] {PfException.Reason.NOT_ENCRYPTED_FILE};
        }
        if (off == 8) { // 2 -> 1 (or 1 -> 2) moves the encrypted part by a byte: then its tag fails
            return new PfException.Reason[] {PfException.Reason.UNSUPPORTED_VERSION,
                PfException.Reason.AUTHENTICATION_FAILED, PfException.Reason.BAD_METADATA};
        }
        if (off == 9) {
            return new PfException.Reason[] {PfException.Reason.UNSUPPORTED_VERSION};
        }
        if (off == 58 && encOff == 59) {
            return new PfException.Reason[] {PfException.Reason.RECOVERY_NEEDED, PfException.Reason.UNSUPPORTED_VERSION};
        }
        if (off >= encOff + 3884) {
            return new PfException.Reason[] {PfException.Reason.BAD_METADATA};
        }
        return new PfException.Reason[] {PfException.Reason.AUTHENTICATION_FAILED};
    }

    @Test
    void swappingNodesIsCaught() throws Exception {
        byte[] good = encrypted(PfVersion.V2);
        int[][] pairs = {{2, 3}, {2, 97}, {1, 98}, {98, 99}, {50, 100}, {1, 2}, {103, 2}};
        for (int[] p : pairs) {
            byte[] bad = good.clone();
            System.arraycopy(good, p[0] * 4096, bad, p[1] * 4096, 4096);
            System.arraycopy(good, p[1] * 4096, bad, p[0] * 4096, 4096);
            assertThat(streaming(bad, key, PathPolicy.expect(PATH))).as("swap %s", Arrays.toString(p))
                    .isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
            assertThat(channel(bad, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
        }
        // Replaying an older version of a node (same position, earlier encryption) is also caught.
        byte[] older = encrypted(PfVersion.V2);
        byte[] newer = encrypted(PfVersion.V2);
        byte[] bad = newer.clone();
        System.arraycopy(older, 40 * 4096, bad, 40 * 4096, 4096);
        assertThat(streaming(bad, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
    }

    @Test
    void truncatingIsCaught() throws Exception {
        byte[] good = encrypted(PfVersion.V2);
        for (int cut : new int[] {1, 100, 4095, 4096, 8192, 4096 * 50, good.length - 4096, good.length - 1}) {
            byte[] bad = Arrays.copyOf(good, good.length - cut);
            PfException.Reason expected = bad.length % 4096 != 0 || bad.length == 0 ? PfException.Reason.BAD_SIZE
                    : PfException.Reason.TRUNCATED;
            assertThat(streaming(bad, key, PathPolicy.expect(PATH))).as("cut %d", cut).isEqualTo(expected);
            assertThat(channel(bad, key, PathPolicy.expect(PATH))).as("cut %d", cut).isEqualTo(expected);
        }
        assertThat(streaming(new byte[0], key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.BAD_SIZE);
    }

    @Test
    void extendingIsCaught() throws Exception {
        byte[] good = encrypted(PfVersion.V2);
        // An extra node copied from the file itself, an extra zero node, and a stray partial node.
        byte[] copy = Arrays.copyOf(good, good.length + 4096);
        System.arraycopy(good, 5 * 4096, copy, good.length, 4096);
        byte[] zeros = Arrays.copyOf(good, good.length + 4096);
        byte[] partial = Arrays.copyOf(good, good.length + 10);
        assertThat(streaming(copy, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.BAD_SIZE);
        assertThat(streaming(zeros, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.BAD_SIZE);
        assertThat(streaming(partial, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.BAD_SIZE);
        assertThat(channel(copy, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.BAD_SIZE);
        // Appending another file's nodes to a short file (its size field still says short) is caught the same way.
        byte[] small = Arrays.copyOf(good, 4096);
        assertThat(streaming(small, key, PathPolicy.expect(PATH))).isEqualTo(PfException.Reason.TRUNCATED);
    }

    @Test
    void wrongKeyAndWrongPathAreCaught() throws Exception {
        byte[] good = encrypted(PfVersion.V2);
        for (int bit = 0; bit < 128; bit += 17) {
            byte[] k = key.toBytes();
            k[bit / 8] ^= (byte) (1 << (bit % 8));
            try (PfKey wrong = PfKey.of(k)) {
                assertThat(streaming(good, wrong, PathPolicy.trustEmbedded()))
                        .isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
                assertThat(channel(good, wrong, PathPolicy.expect(PATH)))
                        .isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
            }
        }
        for (String other : new String[] {PATH + "x", PATH.substring(1), PATH + "/", "/enclave/Tamper", ""}) {
            assertThat(streaming(good, key, PathPolicy.expect(other))).as(other)
                    .isEqualTo(PfException.Reason.WRONG_PATH);
            assertThat(channel(good, key, PathPolicy.expect(other))).isEqualTo(PfException.Reason.WRONG_PATH);
        }
        assertThat(streaming(good, key, PathPolicy.expect(PATH))).isNull();
        assertThat(streaming(good, key, PathPolicy.trustEmbedded())).isNull();
    }

    @Test
    void aFailedReadReleasesNoPlaintextOfTheBadNode() throws Exception {
        byte[] good = encrypted(PfVersion.V2);
        byte[] bad = good.clone();
        bad[10 * 4096 + 7] ^= 1; // data node 8
        Path f = dir.resolve("t.pf");
        Files.write(f, bad);
        try (PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.expect(PATH), ProtectedFiles.Mode.READ,
                PfVersion.V2)) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            ch.position(3072 + 8 * 4096L);
            Throwable t = catchThrowable(() -> ch.read(b));
            assertThat(reason(t)).isEqualTo(PfException.Reason.AUTHENTICATION_FAILED);
            assertThat(t).hasMessageContaining("data node 8").hasMessageContaining("physical node 10");
            assertThat(b.position()).isZero();
            assertThat(b.array()).isEqualTo(new byte[4096]);
            // Nodes before it still read fine.
            ByteBuffer ok = ByteBuffer.allocate(100);
            ch.position(0).read(ok);
            assertThat(ok.array()).isEqualTo(Arrays.copyOf(plain, 100));
        }
    }
}
