package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SIGSTRUCT layout, signing (here and through openssl as a stand-in HSM), MRSIGNER, strict parsing. */
class SigstructTest {
    private static KeyPair key;

    @TempDir
    Path tmp;

    @BeforeAll
    static void generate() {
        key = SignerKeys.generate(new SecureRandom());
    }

    private static byte[] hash(int seed) {
        byte[] h = new byte[32];
        new Random(seed).nextBytes(h);
        return h;
    }

    @Test
    void unsignedLayoutMatchesTheReferenceOffsets() {
        byte[] mr = hash(1);
        byte[] b = Sigstruct.unsigned(mr, 0x1234, 0x0506, Optional.of(LocalDate.of(2023, 4, 14))).toBytes();
        assertThat(b).hasSize(1808);
        assertThat(HexFormat.of().formatHex(b, 0, 16)).isEqualTo("06000000e10000000000010000000000");
        assertThat(HexFormat.of().formatHex(b, 20, 24)).isEqualTo("14042320");
        assertThat(HexFormat.of().formatHex(b, 24, 40)).isEqualTo("01010000600000006000000001000000");
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(bb.getInt(512)).isEqualTo(3);
        assertThat(bb.getInt(904)).isEqualTo(0xffffffff);
        assertThat(bb.getLong(928)).isEqualTo(4L);
        assertThat(bb.getLong(936)).isEqualTo(3L);
        assertThat(bb.getLong(944)).isEqualTo(-1L);
        assertThat(bb.getLong(952)).isEqualTo(0xfffffffffff9ff1bL);
        assertThat(Arrays.copyOfRange(b, 960, 992)).isEqualTo(mr);
        assertThat(bb.getShort(1024)).isEqualTo((short) 0x1234);
        assertThat(bb.getShort(1026)).isEqualTo((short) 0x0506);
        assertThat(Sigstruct.unsigned(mr, 0, 0, Optional.empty()).toBytes()).satisfies(
                x -> assertThat(Arrays.copyOfRange(x, 20, 24)).containsOnly(0));
    }

    @Test
    void signVerifyRoundTripAndMrSigner() throws Exception {
        RSAPrivateCrtKey priv = (RSAPrivateCrtKey) key.getPrivate();
        RSAPublicKey pub = (RSAPublicKey) key.getPublic();
        Sigstruct s = Sigstruct.unsigned(hash(2), 1, 2, Optional.empty()).sign(priv, pub);
        s.verifySignature("s");
        byte[] bytes = s.toBytes();
        Sigstruct back = Sigstruct.parse(bytes);
        assertThat(back.toBytes()).isEqualTo(bytes);
        assertThat(back).isEqualTo(s);
        back.verifySignature("back");
        // MRSIGNER: SHA-256 of the modulus as 384 little-endian bytes, computed here independently.
        byte[] be = pub.getModulus().toByteArray();
        byte[] le = new byte[384];
        for (int i = 0; i < 384; i++) {
            le[i] = be[be.length - 1 - i];
        }
        assertThat(s.mrSigner()).isEqualTo(MessageDigest.getInstance("SHA-256").digest(le))
                .isEqualTo(Sigstruct.mrSigner(pub));
        assertThat(Arrays.copyOfRange(bytes, 128, 512)).isEqualTo(le);
        // Q1 and Q2 as the SDM defines them.
        BigInteger n = pub.getModulus();
        BigInteger sig = new BigInteger(1, Sigstruct.be(Arrays.copyOfRange(bytes, 516, 900)));
        assertThat(new BigInteger(1, Sigstruct.be(Arrays.copyOfRange(bytes, 1040, 1424))))
                .isEqualTo(sig.pow(2).divide(n));
        assertThat(new BigInteger(1, Sigstruct.be(Arrays.copyOfRange(bytes, 1424, 1808))))
                .isEqualTo(sig.pow(2).mod(n).multiply(sig).divide(n));
    }

    @Test
    void anyChangeToSignedFieldsOrSignatureFails() throws Exception {
        Sigstruct s = Sigstruct.unsigned(hash(3), 1, 2, Optional.empty())
                .sign((RSAPrivateCrtKey) key.getPrivate(), (RSAPublicKey) key.getPublic());
        byte[] good = s.toBytes();
        for (int off : new int[] {16, 40, 900, 929, 960, 991, 1025, 1026, 516, 700, 899, 1040, 1500, 200}) {
            byte[] bad = good.clone();
            bad[off] ^= 0x01;
            assertThatThrownBy(() -> Sigstruct.parse(bad).verifySignature("sig"))
                    .as("offset %d", off).isInstanceOf(BundleException.class)
                    .extracting(e -> ((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED);
        }
    }

    @Test
    void signingElsewhereWithOpensslGivesTheSameSigstruct() throws Exception {
        Path keyPem = tmp.resolve("k.pem");
        Files.write(keyPem, SignerKeys.privatePem(key));
        Sigstruct unsigned = Sigstruct.unsigned(hash(4), 9, 10, Optional.of(LocalDate.of(2026, 11, 27)));
        Path body = tmp.resolve("body.bin");
        Files.write(body, unsigned.body());
        Path sig = tmp.resolve("sig.bin");
        Sandbox.Run r = Sandbox.run("openssl", "dgst", "-sha256", "-sign", keyPem.toString(), "-out", sig.toString(),
                body.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        RSAPublicKey pub = SignerKeys.readPublic(SignerKeys.publicPem((RSAPublicKey) key.getPublic()), "pub");
        Sigstruct viaHsm = unsigned.withSignature(pub, Files.readAllBytes(sig));
        Sigstruct here = unsigned.sign(SignerKeys.readPrivate(Files.readAllBytes(keyPem), "k"), pub);
        assertThat(viaHsm.toBytes()).isEqualTo(here.toBytes());
        // A signature of something else is refused.
        byte[] wrong = Files.readAllBytes(sig);
        wrong[10] ^= 1;
        assertThatThrownBy(() -> unsigned.withSignature(pub, wrong)).isInstanceOf(BundleException.class)
                .hasMessageContaining("does not verify");
    }

    @Test
    void readsOpensslGeneratedKeysAndRefusesWrongOnes() throws Exception {
        Path pkcs1 = tmp.resolve("rsa.pem");
        Sandbox.Run r = Sandbox.run("openssl", "genrsa", "-traditional", "-3", "-out", pkcs1.toString(), "3072");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Files.readString(pkcs1)).contains("BEGIN RSA PRIVATE KEY");
        RSAPrivateCrtKey k = SignerKeys.readPrivate(Files.readAllBytes(pkcs1), "rsa.pem");
        assertThat(k.getPublicExponent()).isEqualTo(BigInteger.valueOf(3));
        Sigstruct.unsigned(hash(5), 0, 0, Optional.empty()).sign(k, SignerKeys.publicOf(k)).verifySignature("x");

        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        KeyPair small = g.generateKeyPair();
        assertThatThrownBy(() -> Sigstruct.unsigned(hash(6), 0, 0, Optional.empty())
                .sign((RSAPrivateCrtKey) small.getPrivate(), (RSAPublicKey) small.getPublic()))
                .hasMessageContaining("RSA-3072 with exponent 3").hasMessageContaining("2048 bits");
        assertThatThrownBy(() -> SignerKeys.readPrivate("hello".getBytes(), "junk.pem"))
                .hasMessageContaining("junk.pem");
    }

    @Test
    void strictParsingAndFuzz() throws Exception {
        byte[] good = Sigstruct.unsigned(hash(7), 1, 1, Optional.empty())
                .sign((RSAPrivateCrtKey) key.getPrivate(), (RSAPublicKey) key.getPublic()).toBytes();
        assertThatThrownBy(() -> Sigstruct.parse(Arrays.copyOf(good, 1807))).hasMessageContaining("1808");
        byte[] h = good.clone();
        h[0] = 7;
        assertThatThrownBy(() -> Sigstruct.parse(h)).hasMessageContaining("header");
        byte[] res = good.clone();
        res[50] = 1;
        assertThatThrownBy(() -> Sigstruct.parse(res)).hasMessageContaining("reserved field at offset 44");
        byte[] exp = good.clone();
        exp[512] = 5;
        assertThatThrownBy(() -> Sigstruct.parse(exp)).hasMessageContaining("exponent");
        Random rnd = new Random(7);
        for (int i = 0; i < 2000; i++) {
            byte[] b = good.clone();
            b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
            try {
                Sigstruct s = Sigstruct.parse(b);
                assertThat(s.toBytes()).isEqualTo(b);
                try {
                    s.verifySignature("f");
                } catch (BundleException e) {
                    assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED);
                }
            } catch (BundleException e) {
                assertThat(e.kind()).isEqualTo(CloisterException.Kind.BAD_INPUT);
            }
        }
    }
}
