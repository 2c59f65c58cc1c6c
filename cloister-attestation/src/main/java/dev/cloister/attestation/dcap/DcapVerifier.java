package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.Measurements;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;

/**
 * Verifies SGX and TDX DCAP quotes with Intel's semantics (the Quote Verification Library's checks, order and TCB
 * status merge): PCK chain to a pinned root, root and PCK CRLs, TCB Info and QE Identity signatures and validity,
 * QE report signature and binding, quote signature, FMSPC/PCE-ID match, TDX module identity, TCB level selection,
 * QE identity status and the TD 1.5 relaunch rule.
 *
 * <p>Unlike Intel's QvE, which only flags expired collateral, expired or not-yet-valid collateral and certificates
 * are a hard {@code DENIED} here: the verifier has no other channel to tell its caller. {@code Revoked} and "no
 * matching TCB level" are terminal, as in QvE.
 *
 * <p>Collateral and PCK chains whose signatures have been checked are cached by their exact bytes (bounded), so
 * repeated verification against the same collateral costs two ECDSA verifications; validity times and revocation
 * are still checked against {@code at} on every call. Instances are thread-safe.
 */
public final class DcapVerifier implements EvidenceVerifier {
    /** Name of the simulation root in results. */
    public static final String SIMULATION_ROOT_NAME = "Cloister simulation root";

    private static final int CACHE_LIMIT = 256;
    /** Intel's QE vendor ID, the only one a quote header may carry (Intel's QVL, {@code Quote::validate}). */
    private static final byte[] INTEL_QE_VENDOR_ID =
            java.util.HexFormat.of().parseHex("939A7233F79C4CA9940A0DB3957F0607");

    private final List<Anchor> anchors;
    private final boolean caching;
    private final CollateralSource source;
    /** Runs the collateral checks beside the calling thread's PCK chain and quote checks; null: one thread. */
    private final Executor executor;
    private final Map<BytesKey, VerifiedCollateral> collateralCache = new ConcurrentHashMap<>();
    private final Map<BytesKey, PckChain> chainCache = new ConcurrentHashMap<>();
    private final Map<ByteBuffer, P256.Key> attestationKeys = new ConcurrentHashMap<>();

    /** Where collateral comes from when the caller passes none (see {@link PcsCollateralProvider}). */
    @FunctionalInterface
    public interface CollateralSource {
        /** Collateral (QuoteCollateralV3 JSON) for a quote, valid at {@code at}. */
        byte[] collateralFor(CollateralRequest request, Instant at) throws EvidenceException;
    }

    private record Anchor(TrustAnchor anchor, Cert cert) {}

    private DcapVerifier(List<Anchor> anchors, boolean caching, CollateralSource source, Executor executor) {
        this.anchors = List.copyOf(anchors);
        this.caching = caching;
        this.source = source;
        this.executor = executor;
    }

    /** Trusts only Intel's production SGX Root CA; simulated evidence is denied ("unknown root"). */
    public static DcapVerifier intelRoot() {
        return withRoots(List.of(TrustAnchor.intel()));
    }

    /** Trusts Intel's root and the Cloister simulation root; simulated results say {@code simulated=true}. */
    public static DcapVerifier withSimulation() {
        return withRoots(List.of(TrustAnchor.intel(), dev.cloister.attestation.sim.Simulator.standard().trustAnchor()));
    }

    /** Trusts exactly the given roots (for test PKIs or private deployments); results name the root used. */
    public static DcapVerifier withRoots(List<TrustAnchor> roots) {
        List<Anchor> list = new ArrayList<>();
        for (TrustAnchor t : roots) {
            try {
                list.add(new Anchor(t, Cert.parse(t.certificateDer(), "trust anchor " + t.name())));
            } catch (EvidenceException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException("at least one trust anchor is required");
        }
        return new DcapVerifier(list, true, null, null);
    }

    /** A verifier with the same roots that checks every signature on every call (for measurements). */
    public DcapVerifier withoutCache() {
        return new DcapVerifier(anchors, false, source, executor);
    }

    /** A verifier with the same roots that asks {@code source} for collateral when none is passed. */
    public DcapVerifier withCollateralSource(CollateralSource s) {
        return new DcapVerifier(anchors, caching, Objects.requireNonNull(s, "source"), executor);
    }

    /**
     * A verifier with the same roots and caching that splits each verification in two: the collateral (its
     * chains, CRLs, TCB Info and QE Identity signatures) is checked on {@code e} while the calling thread checks
     * the PCK chain and the QE report and quote signatures. Every check still runs and the verdict, including which
     * failure is reported when several checks fail, is the single-threaded one; only latency changes.
     */
    public DcapVerifier withExecutor(Executor e) {
        return new DcapVerifier(anchors, caching, source, Objects.requireNonNull(e, "executor"));
    }

    @Override
    public VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant at) throws EvidenceException {
        Objects.requireNonNull(at, "at");
        Quote quote = Quote.parse(evidence);
        checkQeVendor(quote.header());
        Work work = new Work();
        CertificationData cd = quote.signatureData().qe().certificationData();
        if (executor != null && collateral != null && cd.type() == CertificationData.PCK_CHAIN) {
            return verifyInParallel(quote, evidence, cd, collateral, at, work);
        }
        PckChain chain;
        if (cd.type() == CertificationData.PCK_CHAIN) {
            chain = pckChain(cd.pckChainPem(), work);
        } else {
            // quotes carrying only the (encrypted) PPID need the PCK chain from the collateral
            String pem = collateral == null ? null : Collateral.parse(collateral).pckCertificateChain();
            if (pem == null) {
                cd.pckChainPem(); // throws, naming the certification data type
            }
            chain = pckChain(pem, work);
        }
        if (collateral == null) {
            if (source == null) {
                throw EvidenceException.malformed("no collateral given and no collateral source configured");
            }
            String ca = chain.ca.cn().contains("Platform") ? "platform" : "processor";
            collateral = source.collateralFor(new CollateralRequest(quote.teeType(), chain.ext.fmspc(), ca), at);
        }
        VerifiedCollateral vc = verifiedCollateral(collateral, work);
        checkSameRoot(chain, vc);
        return verify(quote, evidence, chain, vc, at, null);
    }

    /**
     * Intel's QVL accepts only quotes whose header names Intel's QE (the quoting enclave whose identity the QE
     * Identity collateral describes); a quote from another vendor's QE says nothing Intel's collateral can vouch
     * for. Checked first, as Intel does when it validates the quote's format, so the code is the same whatever else
     * is wrong with such a quote.
     */
    private static void checkQeVendor(QuoteHeader h) throws EvidenceException {
        byte[] vendor = h.qeVendorId();
        if (!java.security.MessageDigest.isEqual(vendor, INTEL_QE_VENDOR_ID)) {
            throw EvidenceException.rejected(ReasonCode.QE_VENDOR_ID_MISMATCH, "the quote's QE vendor ID "
                    + Bytes.hex(vendor).toUpperCase(java.util.Locale.ROOT) + " is not Intel's "
                    + Bytes.hex(INTEL_QE_VENDOR_ID).toUpperCase(java.util.Locale.ROOT));
        }
    }

    private static void checkSameRoot(PckChain chain, VerifiedCollateral vc) throws EvidenceException {
        if (chain.anchor != vc.anchor) {
            throw EvidenceException.rejected(ReasonCode.UNTRUSTED_ROOT,
                    "the quote's PCK chain ends in " + chain.anchor.anchor.name()
                    + " but the collateral is signed under " + vc.anchor.anchor.name());
        }
    }

    /** Outcomes of the quote's own signature checks, computed ahead on the calling thread. */
    private record QuoteSignatures(boolean qeReport, P256.Key attestationKey, boolean quote) {}

    private VerifiedEvidence verifyInParallel(Quote quote, byte[] evidence, CertificationData cd, byte[] collateral,
            Instant at, Work work) throws EvidenceException {
        // the collateral side gets its own Work: the maps are not thread-safe, and sharing would save one link check
        CompletableFuture<VerifiedCollateral> side = CompletableFuture.supplyAsync(() -> {
            try {
                return verifiedCollateral(collateral, new Work());
            } catch (EvidenceException e) {
                throw new CompletionException(e);
            }
        }, executor);
        PckChain chain;
        QuoteSignatures sigs;
        try {
            chain = pckChain(cd.pckChainPem(), work);
            sigs = quoteSignatures(quote, evidence, chain);
        } catch (EvidenceException | RuntimeException e) {
            side.cancel(false);
            throw e; // the single-threaded order also reports PCK chain failures before collateral ones
        }
        VerifiedCollateral vc;
        try {
            vc = side.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            if (e.getCause() instanceof EvidenceException ee) {
                throw ee;
            }
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
        checkSameRoot(chain, vc);
        return verify(quote, evidence, chain, vc, at, sigs);
    }

    private QuoteSignatures quoteSignatures(Quote q, byte[] raw, PckChain chain) {
        QeReportCertificationData qe = q.signatureData().qe();
        boolean qeOk = qeReportSigned(chain, qe.qeReport().toBytes(), qe.qeReportSignature());
        P256.Key ak = attestationKey(q.signatureData().attestationKey());
        boolean quoteOk = ak != null && Ecdsa.verifyRaw(ak, raw, 0, q.signedLength(), q.signatureData().signature());
        return new QuoteSignatures(qeOk, ak, quoteOk);
    }

    /** Whether the PCK signed the QE report (remembered per chain by the caching verifier). */
    private boolean qeReportSigned(PckChain chain, byte[] qeBytes, byte[] qeSig) {
        ByteBuffer qeKey = caching ? ByteBuffer.wrap(concat(qeBytes, qeSig)) : null;
        if (qeKey != null && chain.signedQeReports.contains(qeKey)) {
            return true;
        }
        if (!Ecdsa.verifyRaw(chain.leaf.key, qeBytes, qeSig)) {
            return false;
        }
        if (qeKey != null && chain.signedQeReports.size() < CACHE_LIMIT) {
            chain.signedQeReports.add(qeKey);
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------- collateral

    /** Collateral whose chains and signatures have been checked; times are checked per call. */
    private static final class VerifiedCollateral {
        Anchor anchor;
        TcbInfo tcbInfo;
        QeIdentity qeIdentity;
        Crl rootCrl;
        Crl pckCrl;
        Cert pckCrlIssuer;
        List<Cert> intermediates = new ArrayList<>();
        List<Interval> intervals = new ArrayList<>();
        Instant issued;
        Instant nextUpdate;
    }

    private record Interval(String what, Instant from, Instant to) {}

    /** A cache key over exact bytes; {@code Arrays.hashCode} is vectorized, unlike {@code ByteBuffer.hashCode}. */
    private static final class BytesKey {
        private final byte[] b;
        private final int hash;

        BytesKey(byte[] b) {
            this.b = b;
            this.hash = Arrays.hashCode(b);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BytesKey k && k.hash == hash && Arrays.equals(k.b, b);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /**
     * State of one verification: certificates parsed once even when several chains hold them, and each
     * (certificate, issuer) signature checked once.
     */
    private static final class Work {
        final Map<ByteBuffer, Cert> certs = new java.util.HashMap<>();
        final java.util.Set<List<Cert>> checkedLinks = new java.util.HashSet<>();
    }

    private VerifiedCollateral verifiedCollateral(byte[] bytes, Work work) throws EvidenceException {
        if (!caching) {
            return buildCollateral(bytes, work);
        }
        BytesKey key = new BytesKey(bytes);
        VerifiedCollateral vc = collateralCache.get(key);
        if (vc == null) {
            vc = buildCollateral(bytes, work);
            if (collateralCache.size() >= CACHE_LIMIT) {
                collateralCache.clear();
            }
            collateralCache.put(new BytesKey(bytes.clone()), vc);
        }
        return vc;
    }

    private VerifiedCollateral buildCollateral(byte[] bytes, Work work) throws EvidenceException {
        Collateral c = Collateral.parse(bytes);
        VerifiedCollateral vc = new VerifiedCollateral();
        List<Cert> tcbChain = Cert.parsePemChain(c.tcbInfoIssuerChain(), "tcb_info_issuer_chain", work.certs);
        List<Cert> qeChain = Cert.parsePemChain(c.qeIdentityIssuerChain(), "qe_identity_issuer_chain", work.certs);
        List<Cert> crlChain = Cert.parsePemChain(c.pckCrlIssuerChain(), "pck_crl_issuer_chain", work.certs);
        if (tcbChain.size() < 2) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "certificate chain is too short for TCB Info (" + tcbChain.size()
                    + " certificates)");
        }
        if (qeChain.size() < 2) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "certificate chain is too short for QE Identity (" + qeChain.size()
                    + " certificates)");
        }
        if (crlChain.size() < 2) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "certificate chain is too short for the PCK CRL (" + crlChain.size()
                    + " certificates)");
        }
        vc.anchor = anchorOf(tcbChain, "tcb_info_issuer_chain");
        checkSameAnchor(vc.anchor, anchorOf(qeChain, "qe_identity_issuer_chain"), "qe_identity_issuer_chain");
        checkSameAnchor(vc.anchor, anchorOf(crlChain, "pck_crl_issuer_chain"), "pck_crl_issuer_chain");
        checkChain(tcbChain, "tcb_info_issuer_chain", vc.intervals, vc.anchor, work);
        checkChain(qeChain, "qe_identity_issuer_chain", vc.intervals, vc.anchor, work);
        checkChain(crlChain, "pck_crl_issuer_chain", vc.intervals, vc.anchor, work);
        if (tcbChain.get(0).ca) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "CaUsedAsEndEntity: the TCB Info signer " + tcbChain.get(0).cn()
                    + " is a CA certificate");
        }
        if (qeChain.get(0).ca) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "CaUsedAsEndEntity: the QE Identity signer " + qeChain.get(0).cn()
                    + " is a CA certificate");
        }
        if (!crlChain.get(0).ca) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "the PCK CRL issuer " + crlChain.get(0).cn() + " is not a CA");
        }
        Cert root = vc.anchor.cert;
        vc.rootCrl = Crl.parse(c.rootCaCrl(), "root_ca_crl");
        if (!vc.rootCrl.issuedBy(root) || !vc.rootCrl.signedBy(vc.anchor.cert.signerKey())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "signature is invalid for the root CA CRL (issuer "
                    + vc.rootCrl.issuerCn + ")");
        }
        vc.intervals.add(new Interval("root CA CRL", vc.rootCrl.thisUpdate, vc.rootCrl.nextUpdate));
        vc.pckCrlIssuer = crlChain.get(0);
        vc.pckCrl = Crl.parse(c.pckCrl(), "pck_crl");
        if (!vc.pckCrl.issuedBy(vc.pckCrlIssuer) || !vc.pckCrl.signedBy(vc.pckCrlIssuer.signerKey())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "signature is invalid for the PCK CRL (issuer "
                    + vc.pckCrl.issuerCn + ")");
        }
        vc.intervals.add(new Interval("PCK CRL", vc.pckCrl.thisUpdate, vc.pckCrl.nextUpdate));
        for (List<Cert> ch : List.of(tcbChain, qeChain, crlChain)) {
            vc.intermediates.addAll(ch.subList(0, ch.size() - 1));
        }
        for (Cert i : vc.intermediates) {
            if (vc.rootCrl.revokes(i)) {
                throw EvidenceException.rejected(ReasonCode.CERTIFICATE_REVOKED,
                        "certificate " + i.cn() + " (serial " + i.serial.toString(16)
                        + ") is revoked by the root CA CRL");
            }
        }
        vc.tcbInfo = TcbInfo.parse(c.tcbInfo());
        if (!Ecdsa.verifyRaw(tcbChain.get(0).signerKey(), c.tcbInfo().getBytes(StandardCharsets.UTF_8),
                c.tcbInfoSignature())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "signature is invalid for tcb_info");
        }
        vc.intervals.add(new Interval("TCB Info", vc.tcbInfo.issueDate(), vc.tcbInfo.nextUpdate()));
        vc.qeIdentity = QeIdentity.parse(c.qeIdentity());
        if (!Ecdsa.verifyRaw(qeChain.get(0).signerKey(), c.qeIdentity().getBytes(StandardCharsets.UTF_8),
                c.qeIdentitySignature())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_SIGNATURE_INVALID,
                    "signature is invalid for qe_identity");
        }
        vc.intervals.add(new Interval("QE Identity", vc.qeIdentity.issueDate(), vc.qeIdentity.nextUpdate()));
        vc.issued = latest(vc.tcbInfo.issueDate(), vc.qeIdentity.issueDate(), vc.rootCrl.thisUpdate,
                vc.pckCrl.thisUpdate);
        vc.nextUpdate = earliest(vc.tcbInfo.nextUpdate(), vc.qeIdentity.nextUpdate(), vc.rootCrl.nextUpdate,
                vc.pckCrl.nextUpdate);
        return vc;
    }

    private static Instant latest(Instant... t) {
        return Arrays.stream(t).max(Instant::compareTo).orElseThrow();
    }

    private static Instant earliest(Instant... t) {
        return Arrays.stream(t).min(Instant::compareTo).orElseThrow();
    }

    private Anchor anchorOf(List<Cert> chain, String what) throws EvidenceException {
        Cert last = chain.get(chain.size() - 1);
        for (Anchor a : anchors) {
            if (a.cert.sameKey(last)) {
                return a;
            }
        }
        throw EvidenceException.rejected(ReasonCode.UNTRUSTED_ROOT, what + " ends in an unknown root (" + last.cn()
                + "): it is not a trusted root of this verifier");
    }

    private static void checkSameAnchor(Anchor a, Anchor b, String what) throws EvidenceException {
        if (a != b) {
            throw EvidenceException.rejected(ReasonCode.UNTRUSTED_ROOT,
                    what + " ends in " + b.anchor.name() + ", other collateral in "
                    + a.anchor.name());
        }
    }

    /** Signatures and CA flags along a chain ending in a pinned root; records validity intervals. */
    private static void checkChain(List<Cert> chain, String what, List<Interval> intervals, Anchor anchor, Work work)
            throws EvidenceException {
        for (int i = 0; i < chain.size(); i++) {
            Cert c = chain.get(i);
            intervals.add(new Interval(what + " certificate " + c.cn(), c.notBefore, c.notAfter));
            if (i == chain.size() - 1) {
                break; // the root's key is pinned; its self-signature adds nothing
            }
            Cert issuer = chain.get(i + 1);
            if (!issuer.ca) {
                throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                        what + ": issuer " + issuer.cn() + " is not a CA");
            }
            if (!c.issuedBy(issuer)) {
                throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                        what + ": " + c.cn() + " names another issuer than " + issuer.cn());
            }
            if (work.checkedLinks.contains(List.of(c, issuer))) {
                continue;
            }
            // the root's key is the pinned anchor's (same bytes: anchorOf compared the SPKI)
            P256.Key key = i + 1 == chain.size() - 1 ? anchor.cert.signerKey() : issuer.signerKey();
            if (c.signedBy(key)) {
                work.checkedLinks.add(List.of(c, issuer));
            } else {
                throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                        what + ": signature of " + c.cn() + " by " + issuer.cn()
                        + " is invalid");
            }
        }
    }

    private static void checkTimes(List<Interval> intervals, Instant at) throws EvidenceException {
        for (Interval i : intervals) {
            if (at.isBefore(i.from)) {
                throw EvidenceException.rejected(ReasonCode.COLLATERAL_NOT_YET_VALID,
                        i.what + " is not yet valid at " + at + " (issued " + i.from + ")");
            }
            if (!at.isBefore(i.to)) {
                throw EvidenceException.rejected(ReasonCode.COLLATERAL_EXPIRED,
                        i.what + " expired at " + i.to + " (verification time " + at + ")");
            }
        }
    }

    // ---------------------------------------------------------------------------------------- PCK chain

    private static final class PckChain {
        Anchor anchor;
        Cert leaf;
        Cert ca;
        PckExtensions ext;
        List<Interval> intervals = new ArrayList<>();
        /** QE reports (report ‖ signature) this PCK's signature was already verified on; a platform reuses one. */
        final java.util.Set<ByteBuffer> signedQeReports = ConcurrentHashMap.newKeySet();
    }

    private PckChain pckChain(String pem, Work work) throws EvidenceException {
        byte[] keyBytes = pem.getBytes(StandardCharsets.US_ASCII);
        if (!caching) {
            return buildChain(pem, work);
        }
        BytesKey key = new BytesKey(keyBytes);
        PckChain pc = chainCache.get(key);
        if (pc == null) {
            pc = buildChain(pem, work);
            if (chainCache.size() >= CACHE_LIMIT) {
                chainCache.clear();
            }
            chainCache.put(key, pc);
        }
        return pc;
    }

    private PckChain buildChain(String pem, Work work) throws EvidenceException {
        List<Cert> certs = Cert.parsePemChain(pem, "PCK certificate chain", work.certs);
        if (certs.size() != 3) {
            throw EvidenceException.malformed("the PCK certificate chain must hold exactly 3 certificates (PCK, "
                    + "PCK CA, root), it holds " + certs.size());
        }
        PckChain pc = new PckChain();
        pc.anchor = anchorOf(certs, "the quote's PCK certificate chain");
        checkChain(certs, "PCK certificate chain", pc.intervals, pc.anchor, work);
        pc.leaf = certs.get(0);
        pc.ca = certs.get(1);
        if (pc.leaf.ca) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "CaUsedAsEndEntity: the PCK certificate " + pc.leaf.cn() + " is a CA");
        }
        if (!pc.leaf.cn().contains("SGX PCK Certificate")) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_CHAIN_INVALID,
                    "the PCK leaf's subject CN \"" + pc.leaf.cn()
                    + "\" does not name an SGX PCK Certificate");
        }
        pc.ext = PckExtensions.of(pc.leaf);
        return pc;
    }

    // ---------------------------------------------------------------------------------------- quote checks

    private enum QeStatus { OK, OUT_OF_DATE, REVOKED }

    private VerifiedEvidence verify(Quote q, byte[] raw, PckChain chain, VerifiedCollateral vc, Instant at,
            QuoteSignatures pre) throws EvidenceException {
        checkTimes(vc.intervals, at);
        checkTimes(chain.intervals, at);
        TcbInfo tcb = vc.tcbInfo;
        QeIdentity qeId = vc.qeIdentity;
        boolean tdx = q.teeType() == TeeType.TDX;

        // B.2, B.3: the PCK CRL is the one of the PCK's issuing CA, and the PCK and its CA are not revoked
        String crlIssuerCn = vc.pckCrl.issuerCn;
        if (!crlIssuerCn.contains("CA") || !Arrays.equals(vc.pckCrl.issuerDer, chain.leaf.issuerDer)) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_MISMATCH,
                    "the PCK CRL is issued by " + crlIssuerCn + " but the PCK by "
                    + chain.leaf.issuerCn);
        }
        if (vc.pckCrl.revokes(chain.leaf)) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_REVOKED,
                    "the PCK certificate (serial " + chain.leaf.serial.toString(16)
                    + ") is revoked by the PCK CRL");
        }
        if (vc.rootCrl.revokes(chain.ca)) {
            throw EvidenceException.rejected(ReasonCode.CERTIFICATE_REVOKED,
                    "the PCK CA " + chain.ca.cn() + " is revoked by the root CA CRL");
        }
        // B.4, B.5
        if (tdx ? !(tcb.id().equals("TDX") && tcb.version() == 3) : !tcb.id().equals("SGX")) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_MISMATCH,
                    (tdx ? "TDX" : "SGX") + " quote with " + tcb.id() + " TCB Info v"
                    + tcb.version() + " in the collateral");
        }
        PckExtensions pck = chain.ext;
        if (!Arrays.equals(pck.fmspc(), tcb.fmspc())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_MISMATCH,
                    "FMSPC mismatch: PCK has " + Bytes.hex(pck.fmspc()) + ", TCB Info "
                    + Bytes.hex(tcb.fmspc()));
        }
        if (!Arrays.equals(pck.pceId(), tcb.pceId())) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_MISMATCH,
                    "PCE-ID mismatch: PCK has " + Bytes.hex(pck.pceId()) + ", TCB Info "
                    + Bytes.hex(tcb.pceId()));
        }
        // B.7: TDX module identity
        TcbInfo.TdxModuleIdentity moduleIdentity = null;
        if (tdx) {
            TdReport td = (TdReport) q.body();
            byte[] svn = td.teeTcbSvn();
            TcbInfo.TdxModule module = tcb.tdxModule();
            if (q.header().version() > 3 && svn[1] != 0) {
                String id = String.format("TDX_%02X", svn[1] & 0xff);
                moduleIdentity = tcb.tdxModuleIdentities().stream().filter(m -> m.id().equals(id)).findFirst()
                        .orElseThrow(() -> EvidenceException.rejected(ReasonCode.TDX_MODULE_MISMATCH,
                                "TDX module mismatch: TCB Info has no module "
                                + "identity " + id));
                module = moduleIdentity.module();
            }
            if (!Arrays.equals(td.mrSignerSeam(), module.mrSigner())) {
                throw EvidenceException.rejected(ReasonCode.TDX_MODULE_MISMATCH,
                        "TDX module mismatch: MRSIGNERSEAM " + Bytes.hex(td.mrSignerSeam())
                        + " is not the expected " + Bytes.hex(module.mrSigner()));
            }
            byte[] seamAttr = td.seamAttributes();
            if (!Arrays.equals(seamAttr, new byte[8]) || !Arrays.equals(seamAttr, module.attributes())) {
                throw EvidenceException.rejected(ReasonCode.TDX_MODULE_MISMATCH,
                        "TDX module mismatch: SEAMATTRIBUTES " + Bytes.hex(seamAttr)
                        + " must be zero and equal " + Bytes.hex(module.attributes()));
            }
        }
        // B.8, B.9: the QE report, signed by the PCK and binding the attestation key
        QeReportCertificationData qe = q.signatureData().qe();
        EnclaveReport qeReport = qe.qeReport();
        byte[] qeBytes = qeReport.toBytes();
        byte[] qeSig = qe.qeReportSignature();
        if (!(pre != null ? pre.qeReport() : qeReportSigned(chain, qeBytes, qeSig))) {
            throw EvidenceException.rejected(ReasonCode.QE_REPORT_SIGNATURE_INVALID,
                    "signature is invalid for the QE report in the quote");
        }
        byte[] attKey = q.signatureData().attestationKey();
        byte[] expected = Ecdsa.sha256(attKey, qe.qeAuthData());
        if (!java.security.MessageDigest.isEqual(expected, Arrays.copyOf(qeReport.reportData(), 32))) {
            throw EvidenceException.rejected(ReasonCode.QE_REPORT_DATA_MISMATCH,
                    "QE report hash mismatch: REPORTDATA does not bind the attestation key "
                    + "and QE authentication data");
        }
        // B.10: QE identity
        String wantId = tdx ? "TD_QE" : "QE";
        if (!qeId.id().equals(wantId) || qeId.version() != 2) {
            throw EvidenceException.rejected(ReasonCode.COLLATERAL_MISMATCH,
                    "unsupported QE Identity id/version for the quote's TEE type: "
                    + qeId.id() + " v" + qeId.version() + ", expected " + wantId + " v2");
        }
        QeStatus qeStatus = qeStatus(qeId, qeReport);
        // B.11, B.12: the quote signature by the attestation key
        P256.Key ak = pre != null ? pre.attestationKey() : attestationKey(attKey);
        if (ak == null) {
            throw EvidenceException.rejected(ReasonCode.ATTESTATION_KEY_INVALID,
                    "the attestation key is not a valid P-256 point");
        }
        if (!(pre != null ? pre.quote()
                : Ecdsa.verifyRaw(ak, raw, 0, q.signedLength(), q.signatureData().signature()))) {
            throw EvidenceException.rejected(ReasonCode.SIGNATURE_INVALID,
                    "the quote signature (enclave report signature) is invalid");
        }
        // B.13 / C: TCB level
        TcbLevel level;
        TcbStatus status;
        if (!tdx) {
            level = matchingLevel(tcb, pck, null, 0);
            if (level == null) {
                throw EvidenceException.rejected(ReasonCode.TCB_NOT_SUPPORTED,
                        "TCB not supported: no TCB level matches the platform (PCK SGX "
                        + "components " + Arrays.toString(pck.components()) + ", PCESVN " + pck.pceSvn() + ")");
            }
            status = converge(TcbStatus.fromIntelName(level.tcbStatus()), qeStatus);
        } else {
            TdReport td = (TdReport) q.body();
            byte[] svn = td.teeTcbSvn();
            TcbLevel sgxLevel = matchingLevel(tcb, pck, null, 0);
            if (sgxLevel == null) {
                throw EvidenceException.rejected(ReasonCode.TCB_NOT_SUPPORTED,
                        "TCB not supported: no TCB level matches the platform's SGX TCB "
                        + "(PCK SGX components " + Arrays.toString(pck.components()) + ", PCESVN " + pck.pceSvn()
                        + ")");
            }
            int from = svn[1] != 0 ? 2 : 0;
            level = matchingLevel(tcb, pck, svn, from);
            if (level == null) {
                throw EvidenceException.rejected(ReasonCode.TCB_NOT_SUPPORTED,
                        "TCB not supported: no TCB level matches TEE_TCB_SVN "
                        + Bytes.hex(svn));
            }
            TcbStatus levelStatus = TcbStatus.fromIntelName(level.tcbStatus());
            TcbStatus moduleStatus = null;
            if (!(q.header().version() > 3 && svn[1] == 0)) {
                moduleStatus = moduleStatus(moduleIdentity, svn);
            }
            TcbStatus tdxStatus = convergeModule(levelStatus, moduleStatus);
            status = tdxStatus;
            if (td.isV15()) {
                TcbStatus sgxStatus = TcbStatus.fromIntelName(sgxLevel.tcbStatus());
                TcbStatus relaunch = relaunch(tcb, td, qeStatus, sgxStatus, tdxStatus, moduleStatus);
                if (relaunch != null) {
                    status = relaunch;
                }
            }
            status = converge(status, qeStatus);
        }
        if (status == TcbStatus.REVOKED) {
            throw EvidenceException.rejected(ReasonCode.TCB_REVOKED,
                    "TCB status is Revoked" + (qeStatus == QeStatus.REVOKED
                    ? " (the QE's ISVSVN " + qeReport.isvSvn() + " is revoked)" : ""));
        }
        return new VerifiedEvidence(q.teeType(), q.header().version(), status, level.advisoryIds(),
                measurements(q), q.body().reportData(), vc.issued, vc.nextUpdate, vc.anchor.anchor.name(),
                vc.anchor.anchor.simulated());
    }

    /**
     * The attestation key as a curve point. A QE keeps its attestation key across quotes, so the caching verifier
     * keeps the key object, which earns a precomputed table for the next quotes of the same platform; the
     * non-caching verifier decodes it afresh, so a "full" verification never profits from a platform seen before.
     */
    private P256.Key attestationKey(byte[] raw) {
        if (!caching) {
            ECPublicKeyParameters p = Ecdsa.rawPublicKey(raw);
            return p == null ? null : P256.Key.oneOff(p);
        }
        ByteBuffer k = ByteBuffer.wrap(raw);
        P256.Key p = attestationKeys.get(k);
        if (p == null) {
            ECPublicKeyParameters params = Ecdsa.rawPublicKey(raw);
            if (params != null) {
                p = P256.Key.promotable(params);
                if (attestationKeys.size() >= CACHE_LIMIT) {
                    attestationKeys.clear();
                }
                attestationKeys.put(k, p);
            }
        }
        return p;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static QeStatus qeStatus(QeIdentity id, EnclaveReport r) throws EvidenceException {
        if ((r.miscSelect() & id.miscSelectMask()) != id.miscSelect()) {
            throw EvidenceException.rejected(ReasonCode.QE_IDENTITY_MISMATCH,
                    String.format("QE MISCSELECT mismatch: %08X masked with %08X is not %08X",
                    r.miscSelect(), id.miscSelectMask(), id.miscSelect()));
        }
        byte[] attr = r.attributes();
        byte[] mask = id.attributesMask();
        byte[] want = id.attributes();
        for (int i = 0; i < 16; i++) {
            if ((attr[i] & mask[i]) != want[i]) {
                throw EvidenceException.rejected(ReasonCode.QE_IDENTITY_MISMATCH,
                        "QE ATTRIBUTES mismatch: " + Bytes.hex(attr) + " masked with "
                        + Bytes.hex(mask) + " is not " + Bytes.hex(want));
            }
        }
        if (!Arrays.equals(r.mrSigner(), id.mrSigner())) {
            throw EvidenceException.rejected(ReasonCode.QE_IDENTITY_MISMATCH,
                    "QE MRSIGNER mismatch: " + Bytes.hex(r.mrSigner()) + ", expected "
                    + Bytes.hex(id.mrSigner()));
        }
        if (r.isvProdId() != id.isvProdId()) {
            throw EvidenceException.rejected(ReasonCode.QE_IDENTITY_MISMATCH,
                    "QE ISVPRODID mismatch: " + r.isvProdId() + ", expected "
                    + id.isvProdId());
        }
        for (EnclaveTcbLevel l : id.tcbLevels()) {
            if (l.isvSvn() <= r.isvSvn()) {
                return switch (l.tcbStatus()) {
                    case "UpToDate" -> QeStatus.OK;
                    case "Revoked" -> QeStatus.REVOKED;
                    default -> QeStatus.OUT_OF_DATE;
                };
            }
        }
        throw EvidenceException.rejected(ReasonCode.TCB_NOT_SUPPORTED,
                "QE TCB not supported: no QE Identity level for ISVSVN " + r.isvSvn());
    }

    /** The first level (in Intel's order) the platform meets; TDX components compared from {@code from}. */
    private static TcbLevel matchingLevel(TcbInfo tcb, PckExtensions pck, byte[] teeTcbSvn, int from) {
        outer:
        for (TcbLevel l : tcb.tcbLevels()) {
            for (int i = 0; i < 16; i++) {
                if (pck.component(i) < l.sgx(i)) {
                    continue outer;
                }
            }
            if (pck.pceSvn() < l.pceSvn()) {
                continue;
            }
            if (teeTcbSvn != null) {
                for (int i = from; i < 16; i++) {
                    if ((teeTcbSvn[i] & 0xff) < l.tdx(i)) {
                        continue outer;
                    }
                }
            }
            return l;
        }
        return null;
    }

    private static TcbStatus moduleStatus(TcbInfo.TdxModuleIdentity id, byte[] svn) throws EvidenceException {
        if (id == null) {
            return null;
        }
        for (EnclaveTcbLevel l : id.tcbLevels()) {
            if ((svn[0] & 0xff) >= l.isvSvn()) {
                return TcbStatus.fromIntelName(l.tcbStatus());
            }
        }
        throw EvidenceException.rejected(ReasonCode.TCB_NOT_SUPPORTED,
                "TCB not supported: TDX module " + id.id() + " has no level for SVN "
                + (svn[0] & 0xff));
    }

    private static TcbStatus convergeModule(TcbStatus level, TcbStatus module) {
        if (module == TcbStatus.OUT_OF_DATE) {
            if (level == TcbStatus.UP_TO_DATE || level == TcbStatus.SW_HARDENING_NEEDED) {
                return TcbStatus.OUT_OF_DATE;
            }
            if (level == TcbStatus.CONFIGURATION_NEEDED || level == TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED) {
                return TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED;
            }
        }
        if (module == TcbStatus.REVOKED) {
            return TcbStatus.REVOKED;
        }
        return level;
    }

    private static TcbStatus converge(TcbStatus platform, QeStatus qe) {
        return switch (qe) {
            case OK -> platform;
            case REVOKED -> TcbStatus.REVOKED;
            case OUT_OF_DATE -> switch (platform) {
                case UP_TO_DATE, SW_HARDENING_NEEDED -> TcbStatus.OUT_OF_DATE;
                case CONFIGURATION_NEEDED, CONFIGURATION_AND_SW_HARDENING_NEEDED ->
                        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED;
                default -> platform;
            };
        };
    }

    /** Intel's TD 1.5 relaunch rule; null when it does not apply. */
    private static TcbStatus relaunch(TcbInfo tcb, TdReport td, QeStatus qe, TcbStatus sgx, TcbStatus tdxStatus,
            TcbStatus module) {
        if (qe != QeStatus.OK) {
            return null;
        }
        boolean sgxOk = sgx == TcbStatus.UP_TO_DATE || sgx == TcbStatus.SW_HARDENING_NEEDED
                || sgx == TcbStatus.CONFIGURATION_NEEDED || sgx == TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED;
        boolean tdxOld = tdxStatus == TcbStatus.OUT_OF_DATE || tdxStatus == TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED;
        if (!sgxOk || !tdxOld || module != TcbStatus.OUT_OF_DATE) {
            return null;
        }
        byte[] svn2 = td.teeTcbSvn2();
        TcbLevel latest = tcb.tcbLevels().get(0);
        if (!latest.hasTdx()) {
            return null;
        }
        if (svn2[1] == 0) {
            if ((svn2[0] & 0xff) < latest.tdx(0) || (svn2[2] & 0xff) < latest.tdx(2)) {
                return null;
            }
        } else {
            String id = String.format("TDX_%02X", svn2[1] & 0xff);
            var mi = tcb.tdxModuleIdentities().stream().filter(m -> m.id().equals(id)).findFirst();
            if (mi.isEmpty() || mi.get().tcbLevels().isEmpty()
                    || (svn2[0] & 0xff) < mi.get().tcbLevels().get(0).isvSvn() || (svn2[2] & 0xff) < latest.tdx(2)) {
                return null;
            }
        }
        boolean config = sgx.intelName().contains("Configuration") || tdxStatus.intelName().contains("Configuration");
        return config ? TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED : TcbStatus.TD_RELAUNCH_ADVISED;
    }

    private static Measurements measurements(Quote q) {
        if (q.body() instanceof EnclaveReport e) {
            return new SgxMeasurements(e.mrEnclave(), e.mrSigner(), e.isvProdId(), e.isvSvn(), e.attributes(),
                    e.debug());
        }
        TdReport t = (TdReport) q.body();
        return new TdxMeasurements(t.mrTd(), t.rtmr0(), t.rtmr1(), t.rtmr2(), t.rtmr3(), t.mrConfigId(), t.mrOwner(),
                t.isV15() ? t.mrServiceTd() : new byte[48], t.tdAttributes(), t.teeTcbSvn(), t.debug());
    }

    /** Hex for messages. */
    static final class Bytes {
        private Bytes() {}

        static String hex(byte[] b) {
            return java.util.HexFormat.of().formatHex(b);
        }
    }
}
