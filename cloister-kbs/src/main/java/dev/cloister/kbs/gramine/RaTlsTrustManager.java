package dev.cloister.kbs.gramine;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.core.CloisterException;
import java.security.MessageDigest;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.net.ssl.X509TrustManager;

/**
 * A JSSE trust manager for Gramine RA-TLS peers (either side): a single self-signed certificate whose quote
 * verifies, carries the certificate key's binding in its report data, and comes from a properly initialised
 * 64-bit SGX enclave (INIT and MODE64BIT set, PROVISION_KEY and EINITTOKEN_KEY clear). An optional
 * {@link Check} then decides on the verified evidence (a policy). Trust comes from the quote, not from the
 * self-signature; TLS's proof of possession ties the key to the handshake.
 */
public final class RaTlsTrustManager implements X509TrustManager {
    /** A decision on verified evidence; throws to reject. */
    @FunctionalInterface
    public interface Check {
        void check(VerifiedEvidence evidence) throws CertificateException;
    }

    private final EvidenceVerifier verifier;
    private final java.util.function.Function<byte[], byte[]> collateral;
    private final Clock clock;
    private final Check check;
    private final Map<String, VerifiedEvidence> recent = new LinkedHashMap<>(64, 0.75f, false) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, VerifiedEvidence> e) {
            return size() > 1024;
        }
    };

    /**
     * @param collateral finds the collateral for a quote (e.g. from a PCCS cache), or null to let the verifier
     *     look it up itself; RA-TLS certificates carry no collateral
     * @param check decides on the verified evidence, or null to accept any that verifies
     */
    public RaTlsTrustManager(EvidenceVerifier verifier, java.util.function.Function<byte[], byte[]> collateral,
            Clock clock, Check check) {
        this.verifier = verifier;
        this.collateral = collateral;
        this.clock = clock;
        this.check = check;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        verify(chain);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }

    /**
     * The evidence verified for {@code cert} in a recent handshake, removed from the cache; null when none.
     * Lets the protocol layer act on what the handshake established without verifying twice.
     */
    public VerifiedEvidence take(X509Certificate cert) {
        synchronized (recent) {
            return recent.remove(fingerprint(cert));
        }
    }

    /** Runs every check on a peer chain and returns the verified evidence. */
    public VerifiedEvidence verify(X509Certificate[] chain) throws CertificateException {
        if (chain == null || chain.length != 1) {
            throw new RaTlsException("RA-TLS peer must present exactly one self-signed certificate, got "
                    + (chain == null ? 0 : chain.length));
        }
        RaTlsCertificate c = RaTlsCertificate.parse(chain[0]);
        VerifiedEvidence ev;
        try {
            ev = verifier.verify(c.quote(), collateral == null ? null : collateral.apply(c.quote()),
                    clock.instant());
        } catch (EvidenceException e) {
            throw new RaTlsException((e.kind() == CloisterException.Kind.BAD_INPUT ? "malformed quote: "
                    : "quote rejected: ") + e.getMessage(), e);
        }
        if (!MessageDigest.isEqual(ev.reportData(), c.expectedReportData())) {
            throw new RaTlsException("quote report data does not bind the certificate's key ("
                    + (c.tcg() ? "SHA-256 of the TCG claims" : "SHA-256 of the public key") + ")");
        }
        if (ev.measurements() instanceof SgxMeasurements m) {
            byte flags = m.attributes()[0];
            if ((flags & 0x01) == 0) {
                throw new RaTlsException("enclave attributes lack INIT");
            }
            if ((flags & 0x04) == 0) {
                throw new RaTlsException("enclave attributes lack MODE64BIT");
            }
            if ((flags & 0x10) != 0) {
                throw new RaTlsException("enclave has PROVISION_KEY access");
            }
            if ((flags & 0x20) != 0) {
                throw new RaTlsException("enclave has EINITTOKEN_KEY access");
            }
        } else {
            throw new RaTlsException("RA-TLS evidence must be an SGX quote, got " + ev.teeType());
        }
        if (check != null) {
            check.check(ev);
        }
        synchronized (recent) {
            recent.put(fingerprint(chain[0]), ev);
        }
        return ev;
    }

    private static String fingerprint(X509Certificate cert) {
        try {
            return Base64.getEncoder().encodeToString(RaTlsCertificate.sha256(cert.getEncoded()));
        } catch (CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }
}
