package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import java.math.BigInteger;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CertificateList;
import org.bouncycastle.asn1.x509.TBSCertList;

/** A parsed X.509 CRL: issuer, validity and revoked serial numbers; immutable. */
final class Crl {
    final byte[] der;
    final X500Name issuer;
    final byte[] issuerDer;
    final String issuerCn;
    private final org.bouncycastle.asn1.ASN1ObjectIdentifier sigAlg;
    private final byte[] signature;
    final Instant thisUpdate;
    final Instant nextUpdate;
    private final Set<BigInteger> revoked = new HashSet<>();
    private final CertificateList list;
    private final int tbsOff;
    private final int tbsLen;

    private Crl(byte[] der, String what) throws EvidenceException {
        this.der = der;
        try {
            list = CertificateList.getInstance(der);
            issuer = list.getIssuer();
            issuerDer = issuer.getEncoded("DER");
            issuerCn = Cert.cn(issuer);
            sigAlg = list.getSignatureAlgorithm().getAlgorithm();
            signature = list.getSignature().getOctets();
            thisUpdate = Times.x509(list.getThisUpdate());
            if (list.getNextUpdate() == null) {
                throw EvidenceException.malformed(what + " has no nextUpdate");
            }
            nextUpdate = Times.x509(list.getNextUpdate());
            for (TBSCertList.CRLEntry e : list.getRevokedCertificates()) {
                revoked.add(e.getUserCertificate().getValue());
            }
        } catch (RuntimeException | java.io.IOException e) {
            throw EvidenceException.malformed(what + " is not a well-formed X.509 CRL");
        }
        int[] tbs = Der.firstInner(der);
        if (tbs == null) {
            throw EvidenceException.malformed(what + " is not DER encoded");
        }
        tbsOff = tbs[0];
        tbsLen = tbs[1];
    }

    static Crl parse(byte[] der, String what) throws EvidenceException {
        return new Crl(der, what);
    }

    boolean signedBy(P256.Key key) {
        if (!Cert.ECDSA_SHA256.equals(sigAlg)) {
            return false;
        }
        return Ecdsa.verifyDer(key, der, tbsOff, tbsLen, signature);
    }

    boolean issuedBy(Cert c) {
        return java.util.Arrays.equals(issuerDer, c.subjectDer);
    }

    boolean revokes(Cert c) {
        return revoked.contains(c.serial);
    }
}
