package dev.cloister.attestation.dcap;

import java.math.BigInteger;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.math.ec.ECPoint;

/**
 * ECDSA P-256 with SHA-256: signature decoding and hashing; the curve work is {@link P256}'s, on BouncyCastle's
 * P-256 field arithmetic, which is several times faster than the JDK provider for verification, the bulk of DCAP
 * verification time.
 */
final class Ecdsa {
    static final X9ECParameters X9 = CustomNamedCurves.getByName("secp256r1");
    static final ECDomainParameters DOMAIN = new ECDomainParameters(X9.getCurve(), X9.getG(), X9.getN(), X9.getH());

    private Ecdsa() {}

    static byte[] sha256(byte[]... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (byte[] p : parts) {
                md.update(p);
            }
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
    }

    static byte[] sha256(byte[] b, int off, int len) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(b, off, len);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from the JDK", e);
        }
    }

    /** A public key from 64 bytes x||y, or null when it is not a valid point on P-256. */
    static ECPublicKeyParameters rawPublicKey(byte[] xy) {
        if (xy.length != 64) {
            return null;
        }
        byte[] enc = new byte[65];
        enc[0] = 4;
        System.arraycopy(xy, 0, enc, 1, 64);
        return encodedPublicKey(enc);
    }

    /** A public key from an uncompressed or compressed SEC1 point, or null when invalid. */
    static ECPublicKeyParameters encodedPublicKey(byte[] enc) {
        try {
            ECPoint p = DOMAIN.getCurve().decodePoint(enc);
            if (p.isInfinity() || !p.isValid()) {
                return null;
            }
            return new ECPublicKeyParameters(p, DOMAIN);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** Verifies a 64-byte r||s signature over the SHA-256 of {@code data[off, off+len)}. */
    static boolean verifyRaw(P256.Key key, byte[] data, int off, int len, byte[] rs) {
        if (rs == null || rs.length != 64) {
            return false;
        }
        BigInteger r = new BigInteger(1, java.util.Arrays.copyOfRange(rs, 0, 32));
        BigInteger s = new BigInteger(1, java.util.Arrays.copyOfRange(rs, 32, 64));
        return verify(key, sha256(data, off, len), r, s);
    }

    static boolean verifyRaw(P256.Key key, byte[] data, byte[] rs) {
        return verifyRaw(key, data, 0, data.length, rs);
    }

    /** Verifies a DER SEQUENCE{r, s} signature over the SHA-256 of {@code data[off, off+len)}. */
    static boolean verifyDer(P256.Key key, byte[] data, int off, int len, byte[] der) {
        BigInteger r;
        BigInteger s;
        try {
            ASN1Sequence seq = ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(der));
            if (seq.size() != 2) {
                return false;
            }
            r = ASN1Integer.getInstance(seq.getObjectAt(0)).getPositiveValue();
            s = ASN1Integer.getInstance(seq.getObjectAt(1)).getPositiveValue();
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
        return verify(key, sha256(data, off, len), r, s);
    }

    private static boolean verify(P256.Key key, byte[] hash, BigInteger r, BigInteger s) {
        return P256.verify(key, hash, r, s);
    }
}
