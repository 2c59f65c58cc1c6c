package dev.cloister.attestation.sim;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.signers.ECDSASigner;
import org.bouncycastle.crypto.signers.HMacDSAKCalculator;
import org.bouncycastle.math.ec.ECPoint;
import org.bouncycastle.operator.ContentSigner;

/**
 * Deterministic P-256 keys and RFC 6979 signatures: the same seed always yields the same keys, certificates and
 * quotes, so the simulation PKI can be published and reproduced. None of this is secret.
 */
final class SimKeys {
    static final X9ECParameters X9 = CustomNamedCurves.getByName("secp256r1");
    static final ECDomainParameters DOMAIN = new ECDomainParameters(X9.getCurve(), X9.getG(), X9.getN(), X9.getH());

    private SimKeys() {}

    /** A key pair derived from {@code seed} and {@code label}. */
    record Key(ECPrivateKeyParameters priv, ECPoint pub) {
        /** Uncompressed x||y, 64 bytes. */
        byte[] raw() {
            byte[] enc = pub.getEncoded(false);
            byte[] r = new byte[64];
            System.arraycopy(enc, 1, r, 0, 64);
            return r;
        }

        SubjectPublicKeyInfo spki() {
            return new SubjectPublicKeyInfo(new AlgorithmIdentifier(X9ObjectIdentifiers.id_ecPublicKey,
                    X9ObjectIdentifiers.prime256v1), pub.getEncoded(false));
        }

        /** r||s over SHA-256 of data. */
        byte[] signRaw(byte[] data) {
            BigInteger[] rs = sign(data);
            byte[] out = new byte[64];
            copy32(rs[0], out, 0);
            copy32(rs[1], out, 32);
            return out;
        }

        BigInteger[] sign(byte[] data) {
            ECDSASigner s = new ECDSASigner(new HMacDSAKCalculator(new SHA256Digest()));
            s.init(true, priv);
            return s.generateSignature(sha256(data));
        }

        ContentSigner contentSigner() {
            return new ContentSigner() {
                private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

                @Override
                public AlgorithmIdentifier getAlgorithmIdentifier() {
                    return new AlgorithmIdentifier(X9ObjectIdentifiers.ecdsa_with_SHA256);
                }

                @Override
                public OutputStream getOutputStream() {
                    return buf;
                }

                @Override
                public byte[] getSignature() {
                    BigInteger[] rs = sign(buf.toByteArray());
                    ASN1EncodableVector v = new ASN1EncodableVector();
                    v.add(new ASN1Integer(rs[0]));
                    v.add(new ASN1Integer(rs[1]));
                    try {
                        return new DERSequence(v).getEncoded("DER");
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                }
            };
        }
    }

    static Key derive(String seed, String label) {
        BigInteger n = DOMAIN.getN();
        byte[] h = sha256((seed + "/" + label).getBytes(StandardCharsets.UTF_8));
        BigInteger d = new BigInteger(1, h).mod(n.subtract(BigInteger.ONE)).add(BigInteger.ONE);
        return new Key(new ECPrivateKeyParameters(d, DOMAIN), DOMAIN.getG().multiply(d).normalize());
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void copy32(BigInteger v, byte[] out, int off) {
        byte[] b = v.toByteArray();
        int len = Math.min(b.length, 32);
        System.arraycopy(b, b.length - len, out, off + 32 - len, len);
    }
}
