package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every file written by Gramine 1.8 (v1) and 1.9 (v2) decrypts, and only with the right key and path. */
class GramineVectorsTest {
    static Stream<Vectors.Vector> vectors() throws Exception {
        return Vectors.all().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void decryptsToThePlaintext(Vectors.Vector v) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PfInfo info;
        try (PfKey key = Vectors.key(); FileChannel in = FileChannel.open(v.pf())) {
            info = ProtectedFiles.decrypt(in, out, key, PathPolicy.expect(v.path()), v.name(), n -> {});
        }
        assertThat(info.plaintextSize()).isEqualTo(v.size());
        assertThat(info.version()).isEqualTo(v.version());
        assertThat(info.path()).isEqualTo(v.path());
        assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(out.toByteArray())))
                .isEqualTo(v.sha256());
        assertThat(out.toByteArray()).isEqualTo(Files.readAllBytes(v.plain()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void randomAccessReadsTheSameBytes(Vectors.Vector v) throws Exception {
        byte[] plain = Files.readAllBytes(v.plain());
        try (PfKey key = Vectors.key();
                PfChannel ch = ProtectedFiles.open(v.pf(), key, PathPolicy.expect(v.path()), ProtectedFiles.Mode.READ,
                        PfVersion.V2)) {
            assertThat(ch.size()).isEqualTo(v.size());
            java.util.Random r = new java.util.Random(v.size());
            for (int i = 0; i < 50 && plain.length > 0; i++) {
                int pos = r.nextInt(plain.length);
                int len = Math.min(1 + r.nextInt(9000), plain.length - pos);
                ByteBuffer b = ByteBuffer.allocate(len);
                ch.position(pos);
                while (b.hasRemaining() && ch.read(b) > 0) {
                    // keep reading
                }
                assertThat(b.array()).isEqualTo(java.util.Arrays.copyOfRange(plain, pos, pos + len));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void aDifferentPathIsRejected(Vectors.Vector v) throws Exception {
        try (PfKey key = Vectors.key(); FileChannel in = FileChannel.open(v.pf())) {
            assertThatThrownBy(() -> ProtectedFiles.decrypt(in, new ByteArrayOutputStream(), key,
                            PathPolicy.expect(v.path() + "x"), v.name(), n -> {}))
                    .isInstanceOfSatisfying(PfException.class,
                            e -> assertThat(e.reason()).isEqualTo(PfException.Reason.WRONG_PATH))
                    .hasMessageContaining(v.path());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void aWrongKeyIsRejected(Vectors.Vector v) throws Exception {
        byte[] k = Files.readAllBytes(Vectors.dir().resolve("wrap.key"));
        k[15] ^= 1;
        try (PfKey key = PfKey.of(k); FileChannel in = FileChannel.open(v.pf())) {
            assertThatThrownBy(() -> ProtectedFiles.decrypt(in, new ByteArrayOutputStream(), key,
                            PathPolicy.trustEmbedded(), v.name(), n -> {}))
                    .isInstanceOfSatisfying(PfException.class,
                            e -> assertThat(e.reason()).isEqualTo(PfException.Reason.AUTHENTICATION_FAILED))
                    .hasMessageContaining("metadata node");
        }
    }
}
