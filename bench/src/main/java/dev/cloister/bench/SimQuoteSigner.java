package dev.cloister.bench;

import dev.cloister.attestation.dcap.EnclaveReport;
import dev.cloister.attestation.dcap.Quote;
import dev.cloister.attestation.sim.Simulator;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.signers.ECDSASigner;
import org.bouncycastle.crypto.signers.HMacDSAKCalculator;
import org.bouncycastle.math.ec.ECPoint;

/**
 * What a simulated SGX workload does per release in the load test: takes one quote made by {@link Simulator}
 * (whose collateral is reused for its whole validity, as a real platform reuses its PCCS collateral), writes fresh
 * report data into it and signs it again with the simulation's attestation key. The QE report, PCK chain and
 * collateral stay byte-identical, so per release there is exactly one ECDSA signature, as on real hardware where
 * the quoting enclave signs each quote.
 *
 * <p>The attestation key is the standard simulation PKI's, derived from the public seed
 * {@link Simulator#STANDARD_SEED} the same way the simulator derives it (SHA-256 of seed and label, reduced into
 * [1, n-1]); the constructor checks the derived public key against the one in the template, so a change in the
 * simulator's derivation fails loudly instead of producing quotes the broker rejects. Signing uses BouncyCastle's
 * lightweight ECDSA on the custom secp256r1 curve, whose base-point multiplier is a fixed-point comb with a
 * precomputed table shared by all threads. Instances are not thread-safe (one per client thread).
 */
final class SimQuoteSigner {
    private static final X9ECParameters X9 = CustomNamedCurves.getByName("secp256r1");
    private static final ECDomainParameters DOMAIN = new ECDomainParameters(X9.getCurve(), X9.getG(), X9.getN(),
            X9.getH());

    private final byte[] template;
    private final int reportDataOffset;
    private final int signedLength;
    private final int signatureOffset;
    private final ECPrivateKeyParameters key;
    private final ECDSASigner signer = new ECDSASigner(new HMacDSAKCalculator(new SHA256Digest()));
    private final MessageDigest sha256;

    /**
     * @param templateQuote an SGX v3 quote from {@link Simulator#standard()}
     * @throws IllegalArgumentException when the template is not one this class can re-sign
     */
    SimQuoteSigner(byte[] templateQuote) throws Exception {
        Quote q = Quote.parse(templateQuote);
        if (q.bodyType() != Quote.BODY_SGX || q.header().version() != 3) {
            throw new IllegalArgumentException("template must be an SGX v3 quote");
        }
        template = templateQuote.clone();
        signedLength = q.signedLength();
        // The report data is the last 64 bytes of the SGX enclave report; the signature data starts with its u32
        // length, then the 64-byte r||s signature.
        reportDataOffset = signedLength - 64;
        signatureOffset = signedLength + 4;
        if (!Arrays.equals(Arrays.copyOfRange(template, reportDataOffset, signedLength),
                ((EnclaveReport) q.body()).reportData())
                || !Arrays.equals(Arrays.copyOfRange(template, signatureOffset, signatureOffset + 64),
                        q.signatureData().signature())) {
            throw new IllegalArgumentException("template quote layout is not the expected SGX v3 layout");
        }
        byte[] h = sha256((Simulator.STANDARD_SEED + "/attestation-key").getBytes(StandardCharsets.UTF_8));
        BigInteger n = DOMAIN.getN();
        BigInteger d = new BigInteger(1, h).mod(n.subtract(BigInteger.ONE)).add(BigInteger.ONE);
        ECPoint pub = DOMAIN.getG().multiply(d).normalize();
        byte[] raw = Arrays.copyOfRange(pub.getEncoded(false), 1, 65);
        if (!Arrays.equals(raw, q.signatureData().attestationKey())) {
            throw new IllegalArgumentException("the template's attestation key is not the standard simulation key");
        }
        key = new ECPrivateKeyParameters(d, DOMAIN);
        sha256 = MessageDigest.getInstance("SHA-256");
    }

    /** A copy of the template quote carrying {@code reportData64}, freshly signed. */
    byte[] quote(byte[] reportData64) {
        if (reportData64.length != 64) {
            throw new IllegalArgumentException("report data must be 64 bytes");
        }
        byte[] q = template.clone();
        System.arraycopy(reportData64, 0, q, reportDataOffset, 64);
        sha256.update(q, 0, signedLength);
        signer.init(true, key);
        BigInteger[] rs = signer.generateSignature(sha256.digest());
        put32(rs[0], q, signatureOffset);
        put32(rs[1], q, signatureOffset + 32);
        return q;
    }

    private static void put32(BigInteger v, byte[] out, int off) {
        byte[] b = v.toByteArray();
        int len = Math.min(b.length, 32);
        Arrays.fill(out, off, off + 32, (byte) 0);
        System.arraycopy(b, b.length - len, out, off + 32 - len, len);
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
