package dev.cloister.attestation.snp;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.SnpMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1String;
import org.bouncycastle.asn1.DERSequence;

/**
 * Verifies AMD SEV-SNP attestation reports: the report's ECDSA P-384 signature with the VCEK or VLEK, that key's
 * certificate chain through the ASK (or ASVK for VLEK) to an AMD Root Key pinned here for Milan, Genoa and Turin,
 * the validity of every certificate at the given time, the VCEK's TCB extensions against REPORTED_TCB, and the
 * VCEK's hwID against CHIP_ID.
 *
 * <p>Collateral is PEM (one or more certificates) or one DER certificate: the VCEK/VLEK, optionally followed by the
 * ASK/ASVK and ARK. When the chain is not supplied, the product chains AMD's KDS serves (bundled, see
 * resources/dev/cloister/attestation/snp/README.txt) are used. Either way the ARK's public key must be one of the
 * pinned keys: a chain that merely looks right is not trusted.
 *
 * <p>Evidence is the raw 1184-byte report, or an Azure HCL report ({@code HCLA} header) with the SNP report at
 * offset 0x20.
 */
public final class SnpVerifier implements EvidenceVerifier {

    /**
     * SHA-256 of the SubjectPublicKeyInfo of AMD's ARKs, the trust anchors. Taken from the ARK certificates in
     * google/go-sev-guest verify/trust/ask_ark_*.pem and cross-checked against virtee/sev tests/certs_data and
     * canvasxyz/teekit sample chains (same keys in all three).
     */
    static final Map<String, String> PINNED_ARK_SPKI_SHA256 = Map.of(
            "Milan", "9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9",
            "Genoa", "429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831",
            "Turin", "4f125410563a2ab9a50356f9243f6fe0b6f73de98603f53f90339c70e9d7ad08");

    private static final String OID_PREFIX = "1.3.6.1.4.1.3704.1.";
    private static final String OID_PRODUCT = OID_PREFIX + "2";
    private static final String OID_BL = OID_PREFIX + "3.1";
    private static final String OID_TEE = OID_PREFIX + "3.2";
    private static final String OID_SNP = OID_PREFIX + "3.3";
    private static final String OID_UCODE = OID_PREFIX + "3.8";
    private static final String OID_FMC = OID_PREFIX + "3.9";
    private static final String OID_HWID = OID_PREFIX + "4";
    private static final String OID_CSP = OID_PREFIX + "5";
    private static final HexFormat HEX = HexFormat.of();
    /**
     * BouncyCastle for the report's P-384 signature: several times faster than the JDK's provider for this curve
     * on this machine (see docs/attestation.md). Used directly, never registered globally.
     */
    private static final java.security.Provider BC = new org.bouncycastle.jce.provider.BouncyCastleProvider();

    private static final List<X509Certificate> BUILTIN = loadBuiltin();

    private static final int MAX_CACHED_CHAINS = 1024;

    /** Trust anchor name to SPKI SHA-256 (hex). */
    private final Map<String, String> pins;
    /** Whether the anchors are AMD's own; otherwise results name the explicit root. */
    private final boolean amd;
    /**
     * Digests of chains whose signatures already verified. Signatures do not depend on time, so this saves three
     * RSA-4096 verifications per report; validity periods are still checked at every call.
     */
    private final Map<String, PublicKey> verifiedChains = new java.util.concurrent.ConcurrentHashMap<>();

    private SnpVerifier(Map<String, String> pins, boolean amd) {
        this.pins = Map.copyOf(pins);
        this.amd = amd;
    }

    /** A verifier trusting AMD's production ARKs for Milan, Genoa and Turin. */
    public static SnpVerifier amdRoots() {
        return new SnpVerifier(PINNED_ARK_SPKI_SHA256, true);
    }

    /**
     * A verifier trusting only the given self-signed root instead of AMD's (a test PKI, or a root the caller
     * pinned out of band). Results name it: {@code explicit root <CN> (SPKI SHA-256 <hex>)}. The product layout of
     * REPORTED_TCB is then taken from the VCEK's product-name extension (Milan when absent).
     *
     * @throws EvidenceException {@code BAD_INPUT} when the certificate is unreadable or not self-signed
     */
    public static SnpVerifier withRoot(byte[] rootCertificate) throws EvidenceException {
        List<X509Certificate> certs = parseCertificates(rootCertificate);
        if (certs.size() != 1) {
            throw EvidenceException.malformed("the explicit root must be one certificate, got " + certs.size());
        }
        X509Certificate root = certs.get(0);
        try {
            root.verify(root.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw EvidenceException.malformed("the explicit root " + cn(root) + " is not self-signed");
        }
        String spki = spkiSha256(root);
        return new SnpVerifier(Map.of("explicit root " + cn(root) + " (SPKI SHA-256 " + spki + ")", spki), false);
    }

    @Override
    public VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant at) throws EvidenceException {
        Objects.requireNonNull(at, "at");
        SnpReport report = SnpReport.parse(unwrap(evidence));
        if (collateral == null || collateral.length == 0) {
            throw EvidenceException.malformed("SEV-SNP verification needs the VCEK or VLEK certificate as collateral"
                    + " (PEM or DER, optionally with the ASK/ARK chain); this verifier does not fetch from AMD KDS");
        }
        List<java.security.cert.X509CRL> crls = new ArrayList<>();
        List<X509Certificate> supplied = parseCertificates(withoutCrls(collateral, crls));
        X509Certificate leaf = leaf(supplied);
        X509Certificate ask = issuerOf(leaf, supplied, "VCEK/VLEK");
        X509Certificate ark = issuerOf(ask, supplied, "ASK/ASVK");
        String anchor = pinnedAnchor(ark);
        String leafProductName = extensionString(leaf, OID_PRODUCT);
        String product = amd ? anchor : productOf(leafProductName);

        boolean vlek = ask.getSubjectX500Principal().getName().contains("SEV-VLEK-")
                || leaf.getExtensionValue(OID_CSP) != null;
        String leafName = vlek ? "VLEK" : "VCEK";
        int wantKey = vlek ? SnpReport.SIGNING_KEY_VLEK : SnpReport.SIGNING_KEY_VCEK;
        if (report.signingKey() != wantKey) {
            throw EvidenceException.rejected(ReasonCode.SIGNING_KEY_MISMATCH,
                    "SEV-SNP report says it is signed by signing key " + report.signingKey()
                    + " but the collateral is a " + leafName);
        }
        String chainKey = chainDigest(leaf, ask, ark);
        PublicKey leafKey = verifiedChains.get(chainKey);
        if (leafKey == null) {
            checkSigned(ark, ark, cn(ark) + " self-signature");
            checkSigned(ask, ark, (vlek ? "ASVK" : "ASK") + " signature by " + cn(ark));
            checkSigned(leaf, ask, leafName + " signature by " + cn(ask));
            leafKey = bcKey(leaf);
            if (verifiedChains.size() < MAX_CACHED_CHAINS) {
                verifiedChains.put(chainKey, leafKey);
            }
        }
        for (X509Certificate c : List.of(ark, ask, leaf)) {
            checkValid(c, at);
        }
        for (java.security.cert.X509CRL crl : crls) {
            checkCrl(crl, ark, ask, leaf, at);
        }
        if (amd && leafProductName != null && !leafProductName.startsWith(product)) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    leafName + " is for product " + leafProductName + " but chains to ARK-"
                    + product);
        }
        verifyReportSignature(report, leafKey, leafName);
        checkTcb(report, leaf, product, leafName);
        if (!vlek) {
            checkChipId(report, leaf, product);
        }

        Instant issued = latest(leaf, ask, ark);
        Instant next = earliestExpiry(leaf, ask, ark);
        for (java.security.cert.X509CRL crl : crls) {
            issued = max(issued, crl.getThisUpdate().toInstant());
            if (crl.getNextUpdate() != null && crl.getNextUpdate().toInstant().isBefore(next)) {
                next = crl.getNextUpdate().toInstant();
            }
        }
        SnpMeasurements m = new SnpMeasurements(report.measurement(), report.hostData(), report.policy(),
                report.reportedTcb(), report.vmpl(), report.debug());
        return new VerifiedEvidence(TeeType.SEV_SNP, report.version(), TcbStatus.UP_TO_DATE, List.of(), m,
                report.reportData(), issued, next, amd ? "AMD ARK-" + product : anchor, false);
    }

    /** Strips an Azure HCL wrapper; anything else is taken as a bare report. */
    static byte[] unwrap(byte[] evidence) throws EvidenceException {
        if (evidence == null) {
            throw EvidenceException.malformed("SEV-SNP report is missing");
        }
        if (evidence.length >= 0x20 + SnpReport.SIZE && evidence[0] == 'H' && evidence[1] == 'C'
                && evidence[2] == 'L' && evidence[3] == 'A') {
            return Arrays.copyOfRange(evidence, 0x20, 0x20 + SnpReport.SIZE);
        }
        return evidence;
    }

    /** Whether these bytes look like an SNP report (bare or HCL-wrapped), for the command line's auto-detection. */
    public static boolean looksLikeReport(byte[] evidence) {
        try {
            SnpReport.parse(unwrap(evidence));
            return true;
        } catch (EvidenceException e) {
            return false;
        }
    }

    private static final String CRL_BEGIN = "-----BEGIN X509 CRL-----";
    private static final String CRL_END = "-----END X509 CRL-----";

    /**
     * Moves PEM CRL blocks (e.g. AMD KDS {@code /vcek/v1/{product}/crl}, converted to PEM) into {@code crls} and
     * returns the rest of the collateral.
     */
    static byte[] withoutCrls(byte[] collateral, List<java.security.cert.X509CRL> crls) throws EvidenceException {
        String text = new String(collateral, StandardCharsets.ISO_8859_1);
        if (!text.contains(CRL_BEGIN)) {
            return collateral;
        }
        StringBuilder rest = new StringBuilder();
        int pos = 0;
        while (true) {
            int b = text.indexOf(CRL_BEGIN, pos);
            if (b < 0) {
                rest.append(text, pos, text.length());
                break;
            }
            int e = text.indexOf(CRL_END, b);
            if (e < 0) {
                throw EvidenceException.malformed("SEV-SNP collateral has a CRL without its END line");
            }
            rest.append(text, pos, b);
            e += CRL_END.length();
            try {
                crls.add((java.security.cert.X509CRL) CertificateFactory.getInstance("X.509")
                        .generateCRL(new ByteArrayInputStream(text.substring(b, e).getBytes(StandardCharsets.ISO_8859_1))));
            } catch (java.security.cert.CRLException | CertificateException | RuntimeException ex) {
                throw EvidenceException.malformed("SEV-SNP collateral has an unreadable CRL: " + ex.getMessage());
            }
            pos = e;
        }
        return rest.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A CRL from the chain's ARK (revoking ASKs) or ASK (revoking VCEKs): signed, current, and not listing ours. */
    private static void checkCrl(java.security.cert.X509CRL crl, X509Certificate ark, X509Certificate ask,
            X509Certificate leaf, Instant at) throws EvidenceException {
        X509Certificate issuer;
        X509Certificate subject;
        if (crl.getIssuerX500Principal().equals(ark.getSubjectX500Principal())) {
            issuer = ark;
            subject = ask;
        } else if (crl.getIssuerX500Principal().equals(ask.getSubjectX500Principal())) {
            issuer = ask;
            subject = leaf;
        } else {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "CRL issued by " + cn(crl.getIssuerX500Principal())
                    + " does not belong to this chain (" + cn(ark) + ", " + cn(ask) + ")");
        }
        try {
            crl.verify(issuer.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "CRL of " + cn(issuer) + " has an invalid signature");
        }
        if (crl.getThisUpdate().toInstant().isAfter(at)) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_NOT_YET_VALID,
                    "CRL of " + cn(issuer) + " is not valid before "
                    + crl.getThisUpdate().toInstant() + " (checked at " + at + ")");
        }
        if (crl.getNextUpdate() != null && crl.getNextUpdate().toInstant().isBefore(at)) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_EXPIRED,
                    "CRL of " + cn(issuer) + " expired " + crl.getNextUpdate().toInstant()
                    + " (checked at " + at + ")");
        }
        if (crl.isRevoked(subject)) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_REVOKED,
                    cn(subject) + " certificate (serial " + subject.getSerialNumber().toString(16)
                    + ") is revoked by the " + cn(issuer) + " CRL");
        }
    }

    private static Instant max(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }

    static List<X509Certificate> parseCertificates(byte[] collateral) throws EvidenceException {
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            Collection<? extends java.security.cert.Certificate> certs =
                    cf.generateCertificates(new ByteArrayInputStream(collateral));
            List<X509Certificate> out = new ArrayList<>();
            for (var c : certs) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw EvidenceException.malformed("SEV-SNP collateral holds no certificate");
            }
            return out;
        } catch (CertificateException | RuntimeException e) {
            throw new EvidenceException(EvidenceException.Kind.BAD_INPUT,
                    "SEV-SNP collateral is not a PEM or DER certificate: " + e.getMessage(), e);
        }
    }

    private static X509Certificate leaf(List<X509Certificate> certs) throws EvidenceException {
        List<X509Certificate> ec = certs.stream().filter(c -> c.getPublicKey() instanceof ECPublicKey).toList();
        if (ec.size() != 1) {
            throw EvidenceException.malformed("SEV-SNP collateral must hold exactly one VCEK/VLEK (EC P-384)"
                    + " certificate, found " + ec.size());
        }
        return ec.get(0);
    }

    private static X509Certificate issuerOf(X509Certificate cert, List<X509Certificate> supplied, String what)
            throws EvidenceException {
        // A chain in the collateral is used as given (so a wrong product chain fails); a bare VCEK/VLEK is
        // completed from AMD's bundled product chains. Either way the ARK must be pinned.
        List<X509Certificate> pool = supplied.size() > 1 ? supplied : BUILTIN;
        X500Principal issuer = cert.getIssuerX500Principal();
        for (X509Certificate c : pool) {
            if (c.getSubjectX500Principal().equals(issuer)) {
                return c;
            }
        }
        throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                "no certificate for the issuer of the " + what + " (" + cn(issuer)
                + ") in " + (pool == BUILTIN ? "AMD's product chains" : "the collateral's chain"));
    }

    private String pinnedAnchor(X509Certificate ark) throws EvidenceException {
        String spki = spkiSha256(ark);
        for (var e : pins.entrySet()) {
            if (MessageDigest.isEqual(e.getValue().getBytes(StandardCharsets.US_ASCII),
                    spki.getBytes(StandardCharsets.US_ASCII))) {
                return e.getKey();
            }
        }
        throw EvidenceException.rejected(ReasonCode.UNTRUSTED_ROOT,
                "unknown root: " + cn(ark) + " (SPKI SHA-256 " + spki + ") is not "
                + (amd ? "a pinned AMD ARK for Milan, Genoa or Turin" : "the explicit root"));
    }

    private static String spkiSha256(X509Certificate c) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(c.getPublicKey().getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }

    private static String productOf(String leafProductName) {
        for (String p : List.of("Milan", "Genoa", "Turin")) {
            if (leafProductName != null && leafProductName.startsWith(p)) {
                return p;
            }
        }
        return "Milan";
    }

    /** The VCEK's key as a BouncyCastle key, which keeps its precomputed multiples across verifications. */
    private static PublicKey bcKey(X509Certificate leaf) throws EvidenceException {
        try {
            return java.security.KeyFactory.getInstance("EC", BC)
                    .generatePublic(new java.security.spec.X509EncodedKeySpec(leaf.getPublicKey().getEncoded()));
        } catch (GeneralSecurityException e) {
            throw EvidenceException.malformed(cn(leaf) + " public key is not a usable EC key: " + e.getMessage());
        }
    }

    private static String chainDigest(X509Certificate... certs) throws EvidenceException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (X509Certificate c : certs) {
                byte[] der = c.getEncoded();
                md.update(java.nio.ByteBuffer.allocate(4).putInt(der.length).array());
                md.update(der);
            }
            return HEX.formatHex(md.digest());
        } catch (GeneralSecurityException e) {
            throw EvidenceException.malformed("SEV-SNP certificate cannot be encoded: " + e.getMessage());
        }
    }

    private static void checkSigned(X509Certificate cert, X509Certificate issuer, String what)
            throws EvidenceException {
        try {
            cert.verify(issuer.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    what + " does not verify (" + cn(cert) + ")");
        }
    }

    private static void checkValid(X509Certificate c, Instant at) throws EvidenceException {
        try {
            c.checkValidity(Date.from(at));
        } catch (CertificateExpiredException e) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_EXPIRED,
                    cn(c) + " certificate expired " + c.getNotAfter().toInstant()
                    + " (checked at " + at + ")");
        } catch (CertificateNotYetValidException e) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_NOT_YET_VALID,
                    cn(c) + " certificate is not valid before "
                    + c.getNotBefore().toInstant() + " (checked at " + at + ")");
        }
    }

    private static void verifyReportSignature(SnpReport report, PublicKey key, String leafName)
            throws EvidenceException {
        byte[] signed = Arrays.copyOf(report.toBytes(), SnpReport.SIGNED_LENGTH);
        BigInteger r = new BigInteger(1, reverse(report.signatureR()));
        BigInteger s = new BigInteger(1, reverse(report.signatureS()));
        boolean ok;
        try {
            byte[] der = new DERSequence(new org.bouncycastle.asn1.ASN1Encodable[] {new ASN1Integer(r),
                    new ASN1Integer(s)}).getEncoded();
            Signature sig = Signature.getInstance("SHA384withECDSA", BC);
            sig.initVerify(key);
            sig.update(signed);
            ok = sig.verify(der);
        } catch (GeneralSecurityException | IOException e) {
            ok = false;
        }
        if (!ok) {
            throw EvidenceException.rejected(ReasonCode.SIGNATURE_INVALID,
                    "SEV-SNP report signature does not verify with the " + leafName);
        }
    }

    private static void checkTcb(SnpReport report, X509Certificate leaf, String product, String leafName)
            throws EvidenceException {
        long tcb = report.reportedTcb();
        boolean turin = product.equals("Turin");
        int[] idx = turin ? new int[] {1, 2, 3, 7} : new int[] {0, 1, 6, 7};
        String[] oids = {OID_BL, OID_TEE, OID_SNP, OID_UCODE};
        String[] names = {"bootloader", "tee", "snp", "microcode"};
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            compareSpl(leaf, oids[i], names[i], (int) (tcb >>> (8 * idx[i])) & 0xff, bad);
        }
        if (turin) {
            compareSpl(leaf, OID_FMC, "fmc", (int) tcb & 0xff, bad);
        }
        if (!bad.isEmpty()) {
            throw EvidenceException.rejected(ReasonCode.REPORTED_TCB_MISMATCH,
                    String.format("SEV-SNP REPORTED_TCB 0x%016x does not match the %s: %s",
                    tcb, leafName, String.join(", ", bad)));
        }
    }

    private static void compareSpl(X509Certificate leaf, String oid, String name, int reported, List<String> bad)
            throws EvidenceException {
        Long certified = extensionInteger(leaf, oid);
        if (certified == null) {
            bad.add(name + " SPL missing from the certificate");
        } else if (certified != reported) {
            bad.add(name + " " + reported + " != certified " + certified);
        }
    }

    private static void checkChipId(SnpReport report, X509Certificate leaf, String product) throws EvidenceException {
        byte[] chip = report.chipId();
        if (MessageDigest.isEqual(chip, new byte[chip.length])) {
            // MASK_CHIP_ID: the firmware zeroes CHIP_ID; the VCEK signature already binds the chip.
            return;
        }
        byte[] hwid = extensionOctets(leaf, OID_HWID);
        if (hwid == null) {
            throw EvidenceException.rejected(ReasonCode.CHIP_ID_MISMATCH,
                    "VCEK has no hwID extension to compare with CHIP_ID");
        }
        byte[] want = product.equals("Turin") ? Arrays.copyOf(chip, Math.min(hwid.length, chip.length)) : chip;
        if (!MessageDigest.isEqual(hwid, want)) {
            throw EvidenceException.rejected(ReasonCode.CHIP_ID_MISMATCH,
                    "SEV-SNP CHIP_ID " + HEX.formatHex(chip) + " is not the VCEK's hwID "
                    + HEX.formatHex(hwid));
        }
    }

    /** The value inside an extension's OCTET STRING wrapper, as an ASN.1 object, or null when absent. */
    private static ASN1Primitive extension(X509Certificate c, String oid) throws EvidenceException {
        byte[] ext = c.getExtensionValue(oid);
        if (ext == null) {
            return null;
        }
        try {
            byte[] inner = ASN1OctetString.getInstance(ext).getOctets();
            return ASN1Primitive.fromByteArray(inner);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static Long extensionInteger(X509Certificate c, String oid) throws EvidenceException {
        byte[] ext = c.getExtensionValue(oid);
        if (ext == null) {
            return null;
        }
        ASN1Primitive p = extension(c, oid);
        if (p instanceof ASN1Integer i) {
            return i.getValue().longValueExact();
        }
        // Some early certificates hold the SPL as a bare byte rather than a DER INTEGER.
        byte[] inner = ASN1OctetString.getInstance(ext).getOctets();
        if (inner.length == 1) {
            return (long) (inner[0] & 0xff);
        }
        throw EvidenceException.malformed(cn(c) + " extension " + oid + " is not an integer");
    }

    private static String extensionString(X509Certificate c, String oid) throws EvidenceException {
        ASN1Primitive p = extension(c, oid);
        return p instanceof ASN1String s ? s.getString() : null;
    }

    private static byte[] extensionOctets(X509Certificate c, String oid) {
        byte[] ext = c.getExtensionValue(oid);
        if (ext == null) {
            return null;
        }
        byte[] inner = ASN1OctetString.getInstance(ext).getOctets();
        try {
            ASN1Primitive p = ASN1Primitive.fromByteArray(inner);
            if (p instanceof ASN1OctetString os) {
                return os.getOctets();
            }
        } catch (IOException | RuntimeException e) {
            // not DER: the raw bytes are the id
        }
        return inner;
    }

    private static Instant latest(X509Certificate... certs) {
        return Arrays.stream(certs).map(c -> c.getNotBefore().toInstant()).max(Instant::compareTo).orElseThrow();
    }

    private static Instant earliestExpiry(X509Certificate... certs) {
        return Arrays.stream(certs).map(c -> c.getNotAfter().toInstant()).min(Instant::compareTo).orElseThrow();
    }

    private static byte[] reverse(byte[] b) {
        byte[] r = new byte[b.length];
        for (int i = 0; i < b.length; i++) {
            r[i] = b[b.length - 1 - i];
        }
        return r;
    }

    private static String cn(X509Certificate c) {
        return cn(c.getSubjectX500Principal());
    }

    private static String cn(X500Principal p) {
        for (String part : p.getName(X500Principal.RFC2253).split(",")) {
            if (part.startsWith("CN=")) {
                return part.substring(3);
            }
        }
        return p.getName();
    }

    private static List<X509Certificate> loadBuiltin() {
        List<X509Certificate> out = new ArrayList<>();
        for (String p : List.of("milan", "genoa", "turin")) {
            for (String k : List.of("vcek", "vlek")) {
                String name = "ask_ark_" + p + "_" + k + ".pem";
                try (InputStream in = SnpVerifier.class.getResourceAsStream(name)) {
                    if (in == null) {
                        throw new IllegalStateException("missing resource " + name);
                    }
                    out.addAll(parseCertificates(in.readAllBytes()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (EvidenceException e) {
                    throw new IllegalStateException("bundled chain " + name + " is unreadable", e);
                }
            }
        }
        return List.copyOf(out);
    }
}
