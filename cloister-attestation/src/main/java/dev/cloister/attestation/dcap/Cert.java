package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Certificate;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;

/** A parsed X.509 certificate with the few facts verification needs; immutable. */
final class Cert {
    static final ASN1ObjectIdentifier ECDSA_SHA256 = new ASN1ObjectIdentifier("1.2.840.10045.4.3.2");

    final byte[] der;
    final Certificate cert;
    final X500Name subject;
    final X500Name issuer;
    final byte[] subjectDer;
    final byte[] issuerDer;
    final String cn;
    final String issuerCn;
    private final ASN1ObjectIdentifier sigAlg;
    private final byte[] signature;
    final BigInteger serial;
    final Instant notBefore;
    final Instant notAfter;
    final boolean ca;
    /** The subject key for one-off use (the PCK leaf signing its QE report). */
    final P256.Key key;
    private final ECPublicKeyParameters keyParams;
    private final byte[] point;
    final byte[] spki;
    private final int tbsOff;
    private final int tbsLen;

    private Cert(byte[] der, String what) throws EvidenceException {
        this.der = der;
        try {
            cert = Certificate.getInstance(der);
            spki = cert.getSubjectPublicKeyInfo().getEncoded("DER");
            // BouncyCastle parses lazily: force every field used later, so malformed input fails here, typed
            subject = cert.getSubject();
            issuer = cert.getIssuer();
            subjectDer = subject.getEncoded("DER");
            issuerDer = issuer.getEncoded("DER");
            cn = cn(subject);
            issuerCn = cn(issuer);
            serial = cert.getSerialNumber().getValue();
            notBefore = Times.x509(cert.getStartDate());
            notAfter = Times.x509(cert.getEndDate());
            Extensions ext = cert.getTBSCertificate().getExtensions();
            BasicConstraints bc = ext == null ? null : BasicConstraints.fromExtensions(ext);
            ca = bc != null && bc.isCA();
            sigAlg = cert.getSignatureAlgorithm().getAlgorithm();
            signature = cert.getSignature().getOctets();
            point = cert.getSubjectPublicKeyInfo().getPublicKeyData().getBytes();
            keyParams = Ecdsa.encodedPublicKey(point);
        } catch (RuntimeException | java.io.IOException e) {
            throw EvidenceException.malformed(what + " is not a well-formed X.509 certificate");
        }
        if (keyParams == null) {
            throw EvidenceException.malformed(what + " (" + cn + ") does not hold a P-256 public key");
        }
        key = P256.Key.oneOff(keyParams);
        int[] tbs = Der.firstInner(der);
        if (tbs == null) {
            throw EvidenceException.malformed(what + " is not DER encoded");
        }
        tbsOff = tbs[0];
        tbsLen = tbs[1];
    }

    static Cert parse(byte[] der, String what) throws EvidenceException {
        return new Cert(der, what);
    }

    /** Parses concatenated PEM certificates, in order. */
    static List<Cert> parsePemChain(String pem, String what) throws EvidenceException {
        return parsePemChain(pem, what, new java.util.HashMap<>());
    }

    /**
     * As {@link #parsePemChain(String, String)}, reusing certificates already parsed in {@code intern}: the same
     * certificate appears in several chains of one verification, and one object means one public-key
     * precomputation.
     */
    static List<Cert> parsePemChain(String pem, String what, java.util.Map<java.nio.ByteBuffer, Cert> intern)
            throws EvidenceException {
        List<Cert> out = new ArrayList<>();
        int i = 0;
        String begin = "-----BEGIN CERTIFICATE-----";
        String end = "-----END CERTIFICATE-----";
        while (true) {
            int a = pem.indexOf(begin, i);
            if (a < 0) {
                break;
            }
            int z = pem.indexOf(end, a);
            if (z < 0) {
                throw EvidenceException.malformed(what + " has an unterminated PEM certificate");
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(pem.substring(a + begin.length(), z));
            } catch (IllegalArgumentException e) {
                throw EvidenceException.malformed(what + " has invalid base64 in certificate " + (out.size() + 1));
            }
            java.nio.ByteBuffer key = java.nio.ByteBuffer.wrap(der);
            Cert c = intern.get(key);
            if (c == null) {
                c = parse(der, what + " certificate " + (out.size() + 1));
                intern.put(key, c);
            }
            out.add(c);
            i = z + end.length();
        }
        return out;
    }

    String cn() {
        return cn;
    }

    /** The first CN of a name; throws on malformed names (callers parse eagerly). */
    static String cn(X500Name name) {
        RDN[] rdns = name.getRDNs(BCStyle.CN);
        return rdns.length == 0 ? "" : IETFUtils.valueToString(rdns[0].getFirst().getValue());
    }

    /** Whether this certificate names {@code other} as its issuer (DER comparison of the names). */
    boolean issuedBy(Cert other) {
        return Arrays.equals(issuerDer, other.subjectDer);
    }

    Extension extension(ASN1ObjectIdentifier oid) {
        Extensions ext = cert.getTBSCertificate().getExtensions();
        return ext == null ? null : ext.getExtension(oid);
    }

    /**
     * The subject key as a CA or collateral signer: the process-wide object for these key bytes, which keeps
     * precomputed multiples once the key recurs (Intel's root, platform CA and TCB signing key recur in every
     * verification). Every signature is still verified.
     */
    P256.Key signerKey() {
        return P256.Key.shared(point, keyParams);
    }

    /** Whether {@code issuerKey} signed this certificate (ECDSA P-256 with SHA-256 only). */
    boolean signedBy(P256.Key issuerKey) {
        if (!ECDSA_SHA256.equals(sigAlg)) {
            return false;
        }
        return Ecdsa.verifyDer(issuerKey, der, tbsOff, tbsLen, signature);
    }

    boolean validAt(Instant at) {
        return !at.isBefore(notBefore) && !at.isAfter(notAfter);
    }

    boolean sameKey(Cert o) {
        return Arrays.equals(spki, o.spki);
    }
}
