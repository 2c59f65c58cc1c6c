package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.Random;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.signers.ECDSASigner;
import org.bouncycastle.crypto.signers.HMacDSAKCalculator;
import org.bouncycastle.math.ec.ECPoint;
import org.junit.jupiter.api.Test;

/**
 * Cloister's P-256 ECDSA verification against BouncyCastle's {@link ECDSASigner} as the oracle: valid signatures,
 * mutated ones, and the degenerate scalars an attacker controls (the attestation key and the signature are
 * theirs), on every path (one-off keys by wNAF, promoted keys by fixed-window tables).
 */
class P256Test {
    private static final BigInteger N = Ecdsa.DOMAIN.getN();

    private static boolean oracle(ECPublicKeyParameters pub, byte[] hash, BigInteger r, BigInteger s) {
        ECDSASigner v = new ECDSASigner();
        v.init(false, pub);
        return v.verifySignature(hash, r, s);
    }

    private static BigInteger[] sign(BigInteger d, byte[] hash) {
        ECDSASigner s = new ECDSASigner(new HMacDSAKCalculator(new SHA256Digest()));
        s.init(true, new ECPrivateKeyParameters(d, Ecdsa.DOMAIN));
        return s.generateSignature(hash);
    }

    private static ECPublicKeyParameters pub(BigInteger d) {
        ECPoint q = Ecdsa.DOMAIN.getG().multiply(d).normalize();
        return new ECPublicKeyParameters(q, Ecdsa.DOMAIN);
    }

    /** The three kinds of key objects, the promoted one forced past its threshold. */
    private static P256.Key[] keys(ECPublicKeyParameters p) {
        P256.Key promoted = P256.Key.promotable(p);
        byte[] h = new byte[32];
        for (int i = 0; i < P256.PROMOTE_AFTER; i++) {
            P256.verify(promoted, h, BigInteger.ONE, BigInteger.ONE);
        }
        assertThat(promoted.hasTable()).isTrue();
        return new P256.Key[] {P256.Key.oneOff(p), P256.Key.promotable(p), promoted};
    }

    private static void agree(P256.Key[] ks, ECPublicKeyParameters p, byte[] hash, BigInteger r, BigInteger s,
            String what) {
        boolean want = oracle(p, hash, r, s);
        for (P256.Key k : ks) {
            assertThat(P256.verify(k, hash, r, s)).as(what + " (table " + k.hasTable() + ")").isEqualTo(want);
        }
    }

    @Test
    void agreesWithBouncyCastleOnValidAndMutatedSignatures() {
        Random rnd = new Random(256);
        int valid = 0;
        for (int i = 0; i < 12; i++) {
            BigInteger d = new BigInteger(256, rnd).mod(N.subtract(BigInteger.ONE)).add(BigInteger.ONE);
            ECPublicKeyParameters p = pub(d);
            P256.Key[] ks = keys(p);
            for (int j = 0; j < 4; j++) {
                byte[] hash = new byte[32];
                rnd.nextBytes(hash);
                BigInteger[] rs = sign(d, hash);
                BigInteger r = rs[0];
                BigInteger s = rs[1];
                for (P256.Key k : ks) {
                    assertThat(P256.verify(k, hash, r, s)).as("valid signature " + i + "/" + j).isTrue();
                    valid++;
                }
                agree(ks, p, hash, r, N.subtract(s), "(r, n-s)");
                byte[] h2 = hash.clone();
                h2[rnd.nextInt(32)] ^= (byte) (1 << rnd.nextInt(8));
                agree(ks, p, h2, r, s, "flipped hash bit");
                agree(ks, p, hash, r.add(BigInteger.ONE).mod(N), s, "r+1");
                agree(ks, p, hash, r, s.add(BigInteger.ONE).mod(N), "s+1");
                agree(ks, p, hash, s, r, "r and s swapped");
                agree(ks, p, hash, r, s.multiply(BigInteger.TWO).mod(N), "2s");
            }
        }
        assertThat(valid).isEqualTo(12 * 4 * 3);
    }

    @Test
    void rejectsOutOfRangeScalarsAndWrongKeys() {
        BigInteger d = BigInteger.valueOf(123456789);
        ECPublicKeyParameters p = pub(d);
        byte[] hash = Ecdsa.sha256("message".getBytes());
        BigInteger[] rs = sign(d, hash);
        for (P256.Key k : keys(p)) {
            assertThat(P256.verify(k, hash, rs[0], rs[1])).isTrue();
            assertThat(P256.verify(k, hash, BigInteger.ZERO, rs[1])).isFalse();
            assertThat(P256.verify(k, hash, rs[0], BigInteger.ZERO)).isFalse();
            assertThat(P256.verify(k, hash, rs[0].add(N), rs[1])).isFalse();
            assertThat(P256.verify(k, hash, rs[0], rs[1].add(N))).isFalse();
            assertThat(P256.verify(k, hash, N, rs[1])).isFalse();
            assertThat(P256.verify(k, hash, rs[0].negate(), rs[1])).isFalse();
            assertThat(P256.verify(k, Arrays.copyOf(hash, 31), rs[0], rs[1])).isFalse();
        }
        for (P256.Key other : keys(pub(d.add(BigInteger.ONE)))) {
            assertThat(P256.verify(other, hash, rs[0], rs[1])).isFalse();
        }
    }

    @Test
    void handlesZeroMessageScalarAndHashesAboveTheOrder() {
        BigInteger d = new BigInteger("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", 16);
        ECPublicKeyParameters p = pub(d);
        P256.Key[] ks = keys(p);
        // e = 0 and e = n: u1 = 0, so R = u2·Q alone
        for (byte[] hash : new byte[][] {new byte[32], toBytes32(N), toBytes32(N.add(BigInteger.ONE)),
            toBytes32(BigInteger.TWO.pow(256).subtract(BigInteger.ONE))}) {
            BigInteger[] rs = sign(d, hash);
            for (P256.Key k : ks) {
                assertThat(P256.verify(k, hash, rs[0], rs[1])).isTrue();
            }
            agree(ks, p, hash, rs[0], rs[1].add(BigInteger.ONE), "mutated s");
        }
    }

    /**
     * Key = G and e = r make u1 = u2, so the sum u1·G + u2·Q is a doubling in disguise; key = -G makes it the
     * point at infinity, which must be rejected whatever r is.
     */
    @Test
    void degenerateSumsAreExact() {
        Random rnd = new Random(7);
        ECPublicKeyParameters g = pub(BigInteger.ONE);
        ECPublicKeyParameters minusG = pub(N.subtract(BigInteger.ONE));
        P256.Key[] ks = keys(g);
        P256.Key[] mk = keys(minusG);
        for (int i = 0; i < 6; i++) {
            BigInteger k = new BigInteger(255, rnd).add(BigInteger.ONE);
            BigInteger r = Ecdsa.DOMAIN.getG().multiply(k).normalize().getAffineXCoord().toBigInteger().mod(N);
            byte[] hash = toBytes32(r);
            // d = 1: s = k^-1 (e + r) = k^-1 · 2r
            BigInteger s = k.modInverse(N).multiply(r.multiply(BigInteger.TWO)).mod(N);
            for (P256.Key key : ks) {
                assertThat(P256.verify(key, hash, r, s)).isTrue();
            }
            agree(ks, g, hash, r, s.add(BigInteger.ONE), "u1 = u2, mutated");
            // d = n-1: u1·G + u2·(-G) with u1 = u2 is infinity
            for (P256.Key key : mk) {
                assertThat(P256.verify(key, hash, r, s)).isFalse();
            }
            agree(mk, minusG, hash, r, s, "infinity");
        }
    }

    @Test
    void sharedKeysEarnTablesOnlyWhenTheyRecur() {
        ECPublicKeyParameters p = pub(BigInteger.valueOf(987654321));
        byte[] enc = p.getQ().getEncoded(false);
        P256.Key a = P256.Key.shared(enc, p);
        assertThat(P256.Key.shared(enc.clone(), p)).isSameAs(a);
        byte[] hash = Ecdsa.sha256("x".getBytes());
        BigInteger[] rs = sign(BigInteger.valueOf(987654321), hash);
        for (int i = 1; i < P256.PROMOTE_AFTER; i++) {
            assertThat(P256.verify(a, hash, rs[0], rs[1])).isTrue();
            assertThat(a.hasTable()).isFalse();
        }
        assertThat(P256.verify(a, hash, rs[0], rs[1])).isTrue();
        assertThat(a.hasTable()).isTrue();
        P256.Key once = P256.Key.oneOff(p);
        for (int i = 0; i < 5; i++) {
            assertThat(P256.verify(once, hash, rs[0], rs[1])).isTrue();
        }
        assertThat(once.hasTable()).isFalse();
    }

    private static byte[] toBytes32(BigInteger v) {
        byte[] b = v.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(32, b.length);
        System.arraycopy(b, b.length - n, out, 32 - n, n);
        return out;
    }
}
