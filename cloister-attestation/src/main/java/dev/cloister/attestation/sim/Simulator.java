package dev.cloister.attestation.sim;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.dcap.CertificationData;
import dev.cloister.attestation.dcap.Collateral;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.dcap.EcdsaSignatureData;
import dev.cloister.attestation.dcap.EnclaveReport;
import dev.cloister.attestation.dcap.EnclaveTcbLevel;
import dev.cloister.attestation.dcap.QeIdentity;
import dev.cloister.attestation.dcap.QeReportCertificationData;
import dev.cloister.attestation.dcap.Quote;
import dev.cloister.attestation.dcap.QuoteHeader;
import dev.cloister.attestation.dcap.ReportBody;
import dev.cloister.attestation.dcap.TcbInfo;
import dev.cloister.attestation.dcap.TcbLevel;
import dev.cloister.attestation.dcap.TdReport;
import dev.cloister.attestation.dcap.TrustAnchor;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Enumerated;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.X509v3CertificateBuilder;

/**
 * Issues structurally real DCAP evidence without SGX or TDX hardware: SGX v3 and TDX v4/v5 quotes with a type-5
 * PCK certificate chain, and QuoteCollateralV3 collateral (CRLs, TCB Info, QE Identity) signed under a simulation
 * PKI. {@link #standard()} derives that PKI deterministically from a constant, published seed: anyone can
 * reproduce its keys, so simulated evidence <b>protects nothing</b> and proves nothing. It exists for development
 * and tests on machines without a TEE. {@link DcapVerifier#withSimulation()} accepts it, marks it
 * {@code simulated=true}, and no policy accepts it unless it says {@code allow-simulated}.
 */
public final class Simulator {
    /** The public seed of the standard simulation PKI. Knowing it is enough to forge any simulated evidence. */
    public static final String STANDARD_SEED = "cloister-dcap-simulation-v1: public seed, protects nothing";

    private static final byte[] INTEL_QE_VENDOR = HexFormat.of().parseHex("939A7233F79C4CA9940A0DB3957F0607");
    private static final Instant NOT_BEFORE = Instant.parse("2000-01-01T00:00:00Z");
    private static final Instant NOT_AFTER = Instant.parse("2099-12-31T23:59:59Z");
    private static final String ORG = "O=Cloister simulation (public keys; protects nothing)";

    private static volatile Simulator standard;

    private final String seed;
    private final String rootName;
    private final SimKeys.Key rootKey;
    private final SimKeys.Key caKey;
    private final SimKeys.Key tcbKey;
    private final SimKeys.Key pckKey;
    private final SimKeys.Key attestationKey;
    private final X509CertificateHolder root;
    private final X509CertificateHolder ca;
    private final X509CertificateHolder tcbSigner;
    private final X509CertificateHolder tcbSignerCa;
    private final byte[] qeMrSigner;
    private final byte[] qeMrEnclave;

    private Simulator(String seed, String rootName) {
        this.seed = seed;
        this.rootName = rootName;
        rootKey = SimKeys.derive(seed, "root");
        caKey = SimKeys.derive(seed, "pck-ca");
        tcbKey = SimKeys.derive(seed, "tcb-signing");
        pckKey = SimKeys.derive(seed, "pck");
        attestationKey = SimKeys.derive(seed, "attestation-key");
        X500Name rootDn = name(rootName);
        root = cert(rootDn, rootDn, rootKey, rootKey, 1, 1, null);
        ca = cert(name("Cloister Simulated SGX PCK Platform CA"), rootDn, caKey, rootKey, 2, 0, null);
        tcbSigner = cert(name("Cloister Simulated SGX TCB Signing"), rootDn, tcbKey, rootKey, 3, -1, null);
        tcbSignerCa = cert(name("Cloister Simulated SGX TCB Signing"), rootDn, tcbKey, rootKey, 4, 0, null);
        qeMrSigner = SimKeys.sha256((seed + "/qe-mrsigner").getBytes(StandardCharsets.UTF_8));
        qeMrEnclave = SimKeys.sha256((seed + "/qe-mrenclave").getBytes(StandardCharsets.UTF_8));
    }

    /** The standard simulation PKI (root "Cloister simulation root"), from {@link #STANDARD_SEED}. */
    public static Simulator standard() {
        Simulator s = standard;
        if (s == null) {
            synchronized (Simulator.class) {
                s = standard;
                if (s == null) {
                    s = new Simulator(STANDARD_SEED, DcapVerifier.SIMULATION_ROOT_NAME);
                    standard = s;
                }
            }
        }
        return s;
    }

    /** A separate PKI from another seed: a test PKI whose root a verifier trusts only when told to. */
    public static Simulator fromSeed(String seed, String rootName) {
        return new Simulator(seed, rootName);
    }

    /** The root certificate of this PKI as a trust anchor (marked simulated). */
    public TrustAnchor trustAnchor() {
        return new TrustAnchor(rootName, rootDer(), true);
    }

    /** DER of the root certificate. */
    public byte[] rootDer() {
        return encoded(root);
    }

    /**
     * An SGX v3 quote for {@code m}, with collateral giving {@code status}, valid 30 days from {@code at}. When
     * {@code m.debug()} is true the quote's ATTRIBUTES carry the DEBUG flag even if {@code m.attributes()} lacks it.
     */
    public SimulatedEvidence sgxQuote(SgxMeasurements m, byte[] reportData64, TcbStatus status, Instant at) {
        return issue(SimulationSpec.sgx(m, at).reportData(reportData64).status(status));
    }

    /**
     * A TDX quote for {@code m} (v4 with TD report 1.0; v5 with TD report 1.5 when MR_SERVICETD is non-zero), with
     * collateral giving {@code status}, valid 30 days from {@code at}.
     */
    public SimulatedEvidence tdxQuote(TdxMeasurements m, byte[] reportData64, TcbStatus status, Instant at) {
        return issue(SimulationSpec.tdx(m, at).reportData(reportData64).status(status));
    }

    /**
     * The same SGX evidence bound to other report data: the quote's report data is replaced and the quote signed
     * again with the attestation key, while the QE report, PCK chain and collateral stay byte for byte the same.
     * This is what a real platform does for each new quote (its collateral is reused until it expires), and it costs
     * one signature instead of a new PKI's worth, which is what makes several key releases per enclave cheap.
     *
     * @throws IllegalArgumentException if {@code evidence} is not an SGX quote this simulator issued
     */
    public SimulatedEvidence rebind(SimulatedEvidence evidence, byte[] reportData64) {
        Quote q;
        try {
            q = Quote.parse(evidence.quote());
        } catch (dev.cloister.attestation.EvidenceException e) {
            throw new IllegalArgumentException("not a quote: " + e.getMessage(), e);
        }
        if (!(q.body() instanceof EnclaveReport r)
                || !java.util.Arrays.equals(q.signatureData().attestationKey(), attestationKey.raw())) {
            throw new IllegalArgumentException("rebind takes an SGX quote issued by this simulator");
        }
        EnclaveReport body = EnclaveReport.of(r.cpuSvn(), r.attributes(), r.mrEnclave(), r.mrSigner(), r.isvProdId(),
                r.isvSvn(), reportData64);
        Quote unsigned = new Quote(q.header(), q.bodyType(), body,
                new EcdsaSignatureData(new byte[64], q.signatureData().attestationKey(), q.signatureData().qe()));
        byte[] signed = java.util.Arrays.copyOf(unsigned.toBytes(), unsigned.signedLength());
        Quote quote = new Quote(q.header(), q.bodyType(), body, new EcdsaSignatureData(attestationKey.signRaw(signed),
                q.signatureData().attestationKey(), q.signatureData().qe()));
        return new SimulatedEvidence(quote.toBytes(), evidence.collateral());
    }

    /** Evidence exactly as {@code spec} describes. */
    public SimulatedEvidence issue(SimulationSpec spec) {
        boolean tdx = spec.tdx != null;
        int version = spec.quoteVersion != 0 ? spec.quoteVersion
                : !tdx ? 3 : java.util.Arrays.equals(spec.tdx.mrServiceTd(), new byte[48]) ? 4 : 5;
        if (version < 3 || version > 5 || (tdx && version == 3)) {
            throw new IllegalArgumentException("quote version " + version + " is not possible for "
                    + (tdx ? "TDX" : "SGX"));
        }
        Instant at = spec.at.truncatedTo(ChronoUnit.SECONDS);
        Instant until = at.plus(spec.validity);
        byte[] cpuSvn = new byte[16];
        for (int i = 0; i < 16; i++) {
            cpuSvn[i] = (byte) spec.pckComponents[i];
        }
        X509CertificateHolder pck = pckCert(spec, cpuSvn);

        // body
        ReportBody body;
        int bodyType;
        if (!tdx) {
            SgxMeasurements m = spec.sgx;
            byte[] attributes = m.attributes();
            if (m.debug()) {
                attributes[0] |= 0x02; // the DEBUG flag, so that debug=true measurements give debug evidence
            }
            body = EnclaveReport.of(cpuSvn, attributes, m.mrEnclave(), m.mrSigner(), m.isvProdId(), m.isvSvn(),
                    spec.reportData);
            bodyType = Quote.BODY_SGX;
        } else {
            TdxMeasurements m = spec.tdx;
            boolean v15 = version == 5;
            if (!v15 && !java.util.Arrays.equals(m.mrServiceTd(), new byte[48])) {
                throw new IllegalArgumentException("a v4 quote (TD report 1.0) cannot carry MR_SERVICETD");
            }
            byte[] mrSeam = java.util.Arrays.copyOf(SimKeys.sha256((seed + "/mrseam").getBytes(StandardCharsets.UTF_8)),
                    48);
            byte[] svn2 = spec.teeTcbSvn2 != null ? spec.teeTcbSvn2 : m.teeTcbSvn();
            byte[] tdAttributes = m.tdAttributes();
            if (m.debug()) {
                tdAttributes[0] |= 0x01; // the DEBUG flag, so that debug=true measurements give debug evidence
            }
            body = new TdReport(m.teeTcbSvn(), mrSeam, new byte[48], new byte[8], tdAttributes,
                    HexFormat.of().parseHex("e71a060000000000"), m.mrTd(), m.mrConfigId(), m.mrOwner(), new byte[48],
                    m.rtmr0(), m.rtmr1(), m.rtmr2(), m.rtmr3(), spec.reportData, v15 ? svn2 : null,
                    v15 ? m.mrServiceTd() : null);
            bodyType = v15 ? Quote.BODY_TD15 : Quote.BODY_TD10;
        }
        QuoteHeader header = new QuoteHeader(version, QuoteHeader.KEY_ECDSA_P256,
                tdx ? QuoteHeader.TEE_TDX : QuoteHeader.TEE_SGX, version == 3 ? spec.qeSvn : 0,
                version == 3 ? spec.pceSvn : 0, spec.qeVendorId != null ? spec.qeVendorId : INTEL_QE_VENDOR,
                new byte[20]);

        // QE report binding the attestation key, signed by the PCK
        byte[] attKey = attestationKey.raw();
        byte[] auth = new byte[32];
        for (int i = 0; i < 32; i++) {
            auth[i] = (byte) i;
        }
        byte[] qeRd = new byte[64];
        byte[] bind = SimKeys.sha256(concat(attKey, auth));
        System.arraycopy(bind, 0, qeRd, 0, 32);
        byte[] qeAttr = HexFormat.of().parseHex("1100000000000000e700000000000000");
        EnclaveReport qeReport = spec.qeReportEditor.apply(EnclaveReport.of(cpuSvn, qeAttr, qeMrEnclave, qeMrSigner,
                tdx ? 2 : 1, spec.qeSvn, qeRd));
        byte[] qeSig = pckKey.signRaw(qeReport.toBytes());
        String chainPem = pem(pck) + pem(ca) + pem(root);
        CertificationData cd = new CertificationData(CertificationData.PCK_CHAIN,
                chainPem.getBytes(StandardCharsets.US_ASCII));
        QeReportCertificationData qe = new QeReportCertificationData(qeReport, qeSig, auth, cd);

        // sign header (+ descriptor) + body with the attestation key
        Quote unsigned = new Quote(header, bodyType, body, new EcdsaSignatureData(new byte[64], attKey, qe));
        byte[] unsignedBytes = unsigned.toBytes();
        byte[] signed = java.util.Arrays.copyOf(unsignedBytes, unsigned.signedLength());
        Quote quote = new Quote(header, bodyType, body,
                new EcdsaSignatureData(attestationKey.signRaw(signed), attKey, qe));

        // collateral
        TcbInfo tcbInfo = spec.tcbInfoEditor.apply(tcbInfo(spec, tdx, at, until));
        QeIdentity qeIdentity = spec.qeIdentityEditor.apply(new QeIdentity(tdx ? "TD_QE" : "QE", 2, at, until, 17, 0,
                0xFFFFFFFFL, HexFormat.of().parseHex("11000000000000000000000000000000"),
                HexFormat.of().parseHex("FBFFFFFFFFFFFFFF0000000000000000"), qeMrSigner, tdx ? 2 : 1,
                List.of(new EnclaveTcbLevel(8, "2024-03-13T00:00:00Z", "UpToDate", List.of()),
                        new EnclaveTcbLevel(0, "2018-01-04T00:00:00Z", "OutOfDate", List.of("INTEL-SA-00202")))));
        String tcbText = tcbInfo.toJson();
        String qeText = qeIdentity.toJson();
        X509CertificateHolder signer = spec.tcbSignerIsCa ? tcbSignerCa : tcbSigner;
        List<BigInteger> rootRevoked = new ArrayList<>();
        if (spec.revokePckCa) {
            rootRevoked.add(ca.getSerialNumber());
        }
        if (spec.revokeTcbSigner) {
            rootRevoked.add(signer.getSerialNumber());
        }
        byte[] rootCrl = crl(root.getSubject(), rootKey, at, until, rootRevoked);
        byte[] pckCrl = crl(ca.getSubject(), caKey, at, until,
                spec.revokePck ? List.of(pck.getSerialNumber()) : List.of());
        Collateral c = new Collateral(pem(ca) + pem(root), rootCrl, pckCrl, pem(signer) + pem(root), tcbText,
                tcbKey.signRaw(tcbText.getBytes(StandardCharsets.UTF_8)), pem(signer) + pem(root), qeText,
                tcbKey.signRaw(qeText.getBytes(StandardCharsets.UTF_8)), null);
        return new SimulatedEvidence(quote.toBytes(), c.toBytes());
    }

    private static TcbInfo tcbInfo(SimulationSpec spec, boolean tdx, Instant at, Instant until) {
        int[] tdxComps = null;
        List<TcbInfo.TdxModuleIdentity> ids = new ArrayList<>();
        TcbInfo.TdxModule module = null;
        if (tdx) {
            byte[] svn = spec.tdx.teeTcbSvn();
            tdxComps = new int[16];
            for (int i = 0; i < 16; i++) {
                tdxComps[i] = svn[i] & 0xff;
            }
            module = new TcbInfo.TdxModule(new byte[48], new byte[8], HexFormat.of().parseHex("FFFFFFFFFFFFFFFF"));
            if (svn[1] != 0) {
                ids.add(new TcbInfo.TdxModuleIdentity(String.format("TDX_%02X", svn[1] & 0xff), module,
                        List.of(new EnclaveTcbLevel(svn[0] & 0xff, "2024-03-13T00:00:00Z", "UpToDate", List.of()))));
            }
        }
        List<TcbLevel> levels = new ArrayList<>();
        String status = spec.status.intelName();
        List<String> advisories = advisories(spec.status);
        if (spec.status != TcbStatus.UP_TO_DATE) {
            // a newer level the platform has not reached, as in Intel's real TCB Info
            levels.add(new TcbLevel(spec.pckComponents, spec.pceSvn + 1, tdxComps, "2025-05-14T00:00:00Z", "UpToDate",
                    List.of()));
        }
        levels.add(new TcbLevel(spec.pckComponents, spec.pceSvn, tdxComps, "2024-03-13T00:00:00Z", status,
                advisories));
        return new TcbInfo(tdx ? "TDX" : "SGX", 3, at, until, spec.fmspc, spec.pceId, 0, 17, module, ids, levels);
    }

    private static List<String> advisories(TcbStatus s) {
        return switch (s) {
            case UP_TO_DATE -> List.of();
            case SW_HARDENING_NEEDED -> List.of("INTEL-SA-00615");
            case CONFIGURATION_NEEDED -> List.of("INTEL-SA-00289");
            case CONFIGURATION_AND_SW_HARDENING_NEEDED -> List.of("INTEL-SA-00289", "INTEL-SA-00615");
            default -> List.of("INTEL-SA-00837", "INTEL-SA-00960");
        };
    }

    private X509CertificateHolder pckCert(SimulationSpec spec, byte[] cpuSvn) {
        ASN1EncodableVector tcb = new ASN1EncodableVector();
        String p = "1.2.840.113741.1.13.1";
        for (int i = 0; i < 16; i++) {
            tcb.add(kv(p + ".2." + (i + 1), new ASN1Integer(spec.pckComponents[i])));
        }
        tcb.add(kv(p + ".2.17", new ASN1Integer(spec.pceSvn)));
        tcb.add(kv(p + ".2.18", new DEROctetString(cpuSvn)));
        ASN1EncodableVector ext = new ASN1EncodableVector();
        ext.add(kv(p + ".1", new DEROctetString(java.util.Arrays.copyOf(
                SimKeys.sha256((seed + "/ppid").getBytes(StandardCharsets.UTF_8)), 16))));
        ext.add(kv(p + ".2", new DERSequence(tcb)));
        ext.add(kv(p + ".3", new DEROctetString(spec.pceId)));
        ext.add(kv(p + ".4", new DEROctetString(spec.fmspc)));
        ext.add(kv(p + ".5", new ASN1Enumerated(0)));
        return cert(name(spec.pckCommonName), ca.getSubject(), pckKey, caKey, 100, -1, new DERSequence(ext));
    }

    private static DERSequence kv(String oid, org.bouncycastle.asn1.ASN1Encodable v) {
        return new DERSequence(new org.bouncycastle.asn1.ASN1Encodable[] {new ASN1ObjectIdentifier(oid), v});
    }

    private static X500Name name(String cn) {
        return new X500Name("CN=" + cn.replace(",", "\\,") + "," + ORG + ",C=ZZ");
    }

    /** pathLen -1: end entity; else a CA with that path length. */
    private static X509CertificateHolder cert(X500Name subject, X500Name issuer, SimKeys.Key key, SimKeys.Key signer,
            long serial, int pathLen, DERSequence sgxExt) {
        X509v3CertificateBuilder b = new X509v3CertificateBuilder(issuer, BigInteger.valueOf(serial),
                Date.from(NOT_BEFORE), Date.from(NOT_AFTER), subject, key.spki());
        try {
            if (pathLen >= 0) {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(pathLen));
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
                b.addExtension(Extension.keyUsage, true,
                        new KeyUsage(KeyUsage.digitalSignature | KeyUsage.nonRepudiation));
            }
            if (sgxExt != null) {
                b.addExtension(new ASN1ObjectIdentifier("1.2.840.113741.1.13.1"), false, sgxExt);
            }
        } catch (CertIOException e) {
            throw new IllegalStateException(e);
        }
        return b.build(signer.contentSigner());
    }

    private static byte[] crl(X500Name issuer, SimKeys.Key key, Instant from, Instant until, List<BigInteger> revoked) {
        X509v2CRLBuilder b = new X509v2CRLBuilder(issuer, Date.from(from));
        b.setNextUpdate(Date.from(until));
        for (BigInteger s : revoked) {
            b.addCRLEntry(s, Date.from(from), 0);
        }
        try {
            return b.build(key.contentSigner()).getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] encoded(X509CertificateHolder h) {
        try {
            return h.getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String pem(X509CertificateHolder h) {
        return "-----BEGIN CERTIFICATE-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'})
                .encodeToString(encoded(h)) + "\n-----END CERTIFICATE-----\n";
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
