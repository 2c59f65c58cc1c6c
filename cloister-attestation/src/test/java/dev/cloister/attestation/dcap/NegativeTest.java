package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.SimulationSpec;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.core.CloisterException.Kind;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.UnaryOperator;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The negative-case checklist of the attestation reference (section 3.2, after dcap-qvl's conformance generator),
 * built with a test PKI that only this verifier trusts: every signature, chain, CRL, identity, TCB and format case.
 */
class NegativeTest {
    static final Instant AT = Instant.parse("2026-05-01T00:00:00Z");
    static final Simulator PKI = Simulator.fromSeed("cloister negative tests", "Cloister test root");
    static final DcapVerifier V = DcapVerifier.withRoots(List.of(PKI.trustAnchor()));
    /** The same checks split over two threads (no cache): every case must give the single-threaded verdict. */
    static final DcapVerifier PARALLEL = V.withoutCache().withExecutor(Executors.newFixedThreadPool(1, r -> {
        Thread t = new Thread(r, "negative-test collateral");
        t.setDaemon(true);
        return t;
    }));

    /** Asserts that the parallel verifier agrees: same status, or the same failure kind and message. */
    static void sameInParallel(byte[] quote, byte[] collateral) {
        Object seq;
        Object par;
        try {
            seq = V.verify(quote, collateral, AT).tcbStatus();
        } catch (EvidenceException e) {
            seq = e.kind() + " " + e.reason() + ": " + e.getMessage();
        }
        try {
            par = PARALLEL.verify(quote, collateral, AT).tcbStatus();
        } catch (EvidenceException e) {
            par = e.kind() + " " + e.reason() + ": " + e.getMessage();
        }
        assertThat(par).isEqualTo(seq);
    }

    static byte[] fill(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    static SgxMeasurements sgxM() {
        byte[] attr = new byte[16];
        attr[0] = 0x05;
        return new SgxMeasurements(fill(32, 0xA1), fill(32, 0xB2), 1, 2, attr, false);
    }

    static TdxMeasurements tdxM(int svn0, int major, int svn2) {
        byte[] attr = new byte[8];
        attr[3] = 0x10;
        byte[] svn = new byte[16];
        svn[0] = (byte) svn0;
        svn[1] = (byte) major;
        svn[2] = (byte) svn2;
        return new TdxMeasurements(fill(48, 1), fill(48, 2), fill(48, 3), fill(48, 4), fill(48, 5), fill(48, 6),
                fill(48, 7), new byte[48], attr, svn, false);
    }

    static SimulationSpec sgx() {
        return SimulationSpec.sgx(sgxM(), AT);
    }

    static SimulationSpec tdx() {
        return SimulationSpec.tdx(tdxM(5, 1, 2), AT);
    }

    static VerifiedEvidence ok(SimulationSpec s) throws EvidenceException {
        SimulatedEvidence e = PKI.issue(s);
        sameInParallel(e.quote(), e.collateral());
        return V.verify(e.quote(), e.collateral(), AT);
    }

    /**
     * The code each denial below must carry, by the message fragment the case checks: every negative case gives
     * its stable {@link ReasonCode}, not only its prose (a case whose fragment is missing here fails).
     */
    static final Map<String, ReasonCode> EXPECTED = Map.ofEntries(
            Map.entry("TCB Info expired", ReasonCode.COLLATERAL_EXPIRED),
            Map.entry("QE Identity expired", ReasonCode.COLLATERAL_EXPIRED),
            Map.entry("TCB Info is not yet valid", ReasonCode.COLLATERAL_NOT_YET_VALID),
            Map.entry("QE Identity is not yet valid", ReasonCode.COLLATERAL_NOT_YET_VALID),
            Map.entry("SGX quote with TDX TCB Info", ReasonCode.COLLATERAL_MISMATCH),
            Map.entry("TDX quote with SGX TCB Info", ReasonCode.COLLATERAL_MISMATCH),
            Map.entry("FMSPC mismatch", ReasonCode.COLLATERAL_MISMATCH),
            Map.entry("PCE-ID mismatch", ReasonCode.COLLATERAL_MISMATCH),
            Map.entry("unsupported QE Identity id/version", ReasonCode.COLLATERAL_MISMATCH),
            Map.entry("TCB not supported", ReasonCode.TCB_NOT_SUPPORTED),
            Map.entry("no TCB level matches TEE_TCB_SVN", ReasonCode.TCB_NOT_SUPPORTED),
            Map.entry("TDX module TDX_01 has no level", ReasonCode.TCB_NOT_SUPPORTED),
            Map.entry("QE TCB not supported", ReasonCode.TCB_NOT_SUPPORTED),
            Map.entry("TCB status is Revoked", ReasonCode.TCB_REVOKED),
            Map.entry("Revoked", ReasonCode.TCB_REVOKED),
            Map.entry("no module identity TDX_01", ReasonCode.TDX_MODULE_MISMATCH),
            Map.entry("MRSIGNERSEAM", ReasonCode.TDX_MODULE_MISMATCH),
            Map.entry("SEAMATTRIBUTES", ReasonCode.TDX_MODULE_MISMATCH),
            Map.entry("too short for TCB Info", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("too short for QE Identity", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("too short for the PCK CRL", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("CaUsedAsEndEntity", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("CaUsedAsEndEntity: the QE Identity signer", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("does not name an SGX PCK Certificate", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("signature of Cloister Simulated SGX PCK Platform CA", ReasonCode.CERTIFICATE_CHAIN_INVALID),
            Map.entry("unknown root", ReasonCode.UNTRUSTED_ROOT),
            Map.entry("revoked by the PCK CRL", ReasonCode.CERTIFICATE_REVOKED),
            Map.entry("revoked by the root CA CRL", ReasonCode.CERTIFICATE_REVOKED),
            Map.entry("signature is invalid for the root CA CRL", ReasonCode.COLLATERAL_SIGNATURE_INVALID),
            Map.entry("signature is invalid for the PCK CRL", ReasonCode.COLLATERAL_SIGNATURE_INVALID),
            Map.entry("signature is invalid for tcb_info", ReasonCode.COLLATERAL_SIGNATURE_INVALID),
            Map.entry("signature is invalid for qe_identity", ReasonCode.COLLATERAL_SIGNATURE_INVALID),
            Map.entry("quote signature", ReasonCode.SIGNATURE_INVALID),
            Map.entry("QE report hash mismatch", ReasonCode.QE_REPORT_DATA_MISMATCH),
            Map.entry("signature is invalid for the QE report", ReasonCode.QE_REPORT_SIGNATURE_INVALID),
            Map.entry("QE MRSIGNER mismatch", ReasonCode.QE_IDENTITY_MISMATCH),
            Map.entry("QE ISVPRODID mismatch", ReasonCode.QE_IDENTITY_MISMATCH),
            Map.entry("QE MISCSELECT mismatch", ReasonCode.QE_IDENTITY_MISMATCH),
            Map.entry("QE ATTRIBUTES mismatch", ReasonCode.QE_IDENTITY_MISMATCH),
            Map.entry("is not Intel's 939A7233F79C4CA9940A0DB3957F0607", ReasonCode.QE_VENDOR_ID_MISMATCH));

    static ReasonCode expected(String message) {
        ReasonCode c = EXPECTED.get(message);
        assertThat(c).as("expected ReasonCode for the case \"%s\"", message).isNotNull();
        return c;
    }

    static AbstractThrowableAssert<?, ?> denied(byte[] quote, byte[] collateral, String message) {
        sameInParallel(quote, collateral);
        return assertThatThrownBy(() -> V.verify(quote, collateral, AT))
                .isInstanceOfSatisfying(EvidenceException.class, e -> {
                    assertThat(e.kind()).isEqualTo(Kind.DENIED);
                    assertThat(e.reason()).as(e.getMessage()).isEqualTo(expected(message));
                })
                .hasMessageContaining(message);
    }

    static AbstractThrowableAssert<?, ?> malformed(byte[] quote, byte[] collateral, String message) {
        sameInParallel(quote, collateral);
        return assertThatThrownBy(() -> V.verify(quote, collateral, AT))
                .isInstanceOfSatisfying(EvidenceException.class, e -> {
                    assertThat(e.kind()).isEqualTo(Kind.BAD_INPUT);
                    assertThat(e.reason()).isEqualTo(ReasonCode.MALFORMED);
                })
                .hasMessageContaining(message);
    }

    static void denied(SimulationSpec s, String message) {
        SimulatedEvidence e = PKI.issue(s);
        denied(e.quote(), e.collateral(), message);
    }

    static TcbInfo withLevels(TcbInfo t, List<TcbLevel> levels) {
        return new TcbInfo(t.id(), t.version(), t.issueDate(), t.nextUpdate(), t.fmspc(), t.pceId(), t.tcbType(),
                t.tcbEvaluationDataNumber(), t.tdxModule(), t.tdxModuleIdentities(), levels);
    }

    static TcbInfo withDates(TcbInfo t, Instant issue, Instant next) {
        return new TcbInfo(t.id(), t.version(), issue, next, t.fmspc(), t.pceId(), t.tcbType(),
                t.tcbEvaluationDataNumber(), t.tdxModule(), t.tdxModuleIdentities(), t.tcbLevels());
    }

    static QeIdentity qe(QeIdentity q, String id, long misc, long miscMask, byte[] attr, byte[] attrMask,
            byte[] mrSigner, int prodId, List<EnclaveTcbLevel> levels, Instant issue, Instant next) {
        return new QeIdentity(id, q.version(), issue, next, q.tcbEvaluationDataNumber(), misc, miscMask, attr,
                attrMask, mrSigner, prodId, levels);
    }

    static UnaryOperator<QeIdentity> qeEdit(java.util.function.Function<QeIdentity, QeIdentity> f) {
        return f::apply;
    }

    static Collateral coll(SimulatedEvidence e) throws EvidenceException {
        return Collateral.parse(e.collateral());
    }

    static Collateral with(Collateral c, String field, Object value) {
        return new Collateral(
                field.equals("pckCrlIssuerChain") ? (String) value : c.pckCrlIssuerChain(),
                field.equals("rootCaCrl") ? (byte[]) value : c.rootCaCrl(),
                field.equals("pckCrl") ? (byte[]) value : c.pckCrl(),
                field.equals("tcbInfoIssuerChain") ? (String) value : c.tcbInfoIssuerChain(),
                field.equals("tcbInfo") ? (String) value : c.tcbInfo(),
                field.equals("tcbInfoSignature") ? (byte[]) value : c.tcbInfoSignature(),
                field.equals("qeIdentityIssuerChain") ? (String) value : c.qeIdentityIssuerChain(),
                field.equals("qeIdentity") ? (String) value : c.qeIdentity(),
                field.equals("qeIdentitySignature") ? (byte[]) value : c.qeIdentitySignature(),
                c.pckCertificateChain());
    }

    static byte[] flip(byte[] b, int off) {
        byte[] c = b.clone();
        c[off] ^= 0x01;
        return c;
    }

    @Nested
    class Positive {
        @Test
        void validSgxV3AndTdxV4() throws Exception {
            assertThat(ok(sgx()).tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
            VerifiedEvidence t = ok(tdx());
            assertThat(t.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
            assertThat(t.rootUsed()).isEqualTo("Cloister test root");
            assertThat(t.simulated()).isTrue();
        }

        @Test
        void sgxV4IsAcceptedAsIntelDoes() throws Exception {
            // Intel's QVL allows SGX in v4 quotes; dcap-qvl does not (reference section 4.1)
            assertThat(ok(sgx().quoteVersion(4)).version()).isEqualTo(4);
        }

        @Test
        void componentSvnsAllHigherMatchTheLevel() throws Exception {
            VerifiedEvidence v = ok(sgx().editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(new int[16], 0, null,
                    "2024-01-01T00:00:00Z", "UpToDate", List.of())))));
            assertThat(v.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        }

        @Test
        void pksAndKlTdAttributesAreNotTheVerifiersBusiness() throws Exception {
            TdxMeasurements m = tdxM(5, 0, 2);
            byte[] attr = m.tdAttributes();
            attr[3] |= (byte) 0xC0; // PKS (bit 30) and KL (bit 31)
            TdxMeasurements m2 = new TdxMeasurements(m.mrTd(), m.rtmr0(), m.rtmr1(), m.rtmr2(), m.rtmr3(),
                    m.mrConfigId(), m.mrOwner(), m.mrServiceTd(), attr, m.teeTcbSvn(), false);
            VerifiedEvidence v = ok(SimulationSpec.tdx(m2, AT));
            assertThat(((TdxMeasurements) v.measurements()).tdAttributes()).isEqualTo(attr);
        }

        @Test
        void debugIsReportedForPolicyToDecide() throws Exception {
            byte[] attr = new byte[16];
            attr[0] = 0x07;
            SgxMeasurements m = new SgxMeasurements(fill(32, 1), fill(32, 2), 1, 1, attr, true);
            assertThat(ok(SimulationSpec.sgx(m, AT)).measurements().debug()).isTrue();
            TdxMeasurements t = tdxM(5, 0, 2);
            byte[] ta = t.tdAttributes();
            ta[0] = 1;
            TdxMeasurements t2 = new TdxMeasurements(t.mrTd(), t.rtmr0(), t.rtmr1(), t.rtmr2(), t.rtmr3(),
                    t.mrConfigId(), t.mrOwner(), t.mrServiceTd(), ta, t.teeTcbSvn(), true);
            assertThat(ok(SimulationSpec.tdx(t2, AT)).measurements().debug()).isTrue();
        }
    }

    @Nested
    class Format {
        @Test
        void garbageAndTruncation() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            malformed(fill(100, 0xFF), e.collateral(), "unsupported quote version");
            malformed(new byte[4], e.collateral(), "header");
            malformed(Arrays.copyOf(e.quote(), 1000), e.collateral(), "signatureData");
            malformed(Arrays.copyOf(e.quote(), e.quote().length - 1), e.collateral(), "signatureData");
        }

        @ParameterizedTest
        @ValueSource(ints = {0, 1, 2, 6, 255})
        void unsupportedVersions(int v) throws Exception {
            byte[] q = PKI.issue(sgx()).quote();
            q[0] = (byte) v;
            malformed(q, PKI.issue(sgx()).collateral(), "unsupported quote version " + v);
        }

        @ParameterizedTest
        @ValueSource(ints = {0, 1, 3, 255})
        void unsupportedKeyTypes(int t) throws Exception {
            byte[] q = PKI.issue(sgx()).quote();
            q[2] = (byte) t;
            malformed(q, PKI.issue(sgx()).collateral(), "unsupported attestation key type " + t);
        }

        @Test
        void v5HeaderWithV3SignatureLayout() throws Exception {
            SimulatedEvidence e = PKI.issue(SimulationSpec.tdx(tdxM(5, 0, 2), AT).quoteVersion(5));
            Quote q = Quote.parse(e.quote());
            byte[] head = Arrays.copyOf(e.quote(), q.signedLength());
            byte[] sig = q.signatureData().toBytes(3);
            byte[] bad = new Le.Writer().bytes(head).u32(sig.length).bytes(sig).toBytes();
            malformed(bad, e.collateral(), "type");
        }

        @Test
        void v3TdxAndBodyTypeMismatch() throws Exception {
            SimulatedEvidence e = PKI.issue(tdx());
            byte[] q = e.quote();
            q[0] = 3;
            malformed(q, e.collateral(), "v3 quote must be SGX");
            SimulatedEvidence v5 = PKI.issue(tdx().quoteVersion(5));
            byte[] q5 = v5.quote();
            q5[48] = 1; // body type SGX in a TDX quote
            malformed(q5, v5.collateral(), "does not fit TEE type");
        }

        @Test
        void certificationDataTypesOtherThanFiveAreRejectedClearly() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Quote q = Quote.parse(e.quote());
            for (int type : new int[] {1, 2, 3, 4, 7}) {
                QeReportCertificationData qe = q.signatureData().qe();
                Quote other = new Quote(q.header(), q.bodyType(), q.body(), new EcdsaSignatureData(
                        q.signatureData().signature(), q.signatureData().attestationKey(),
                        new QeReportCertificationData(qe.qeReport(), qe.qeReportSignature(), qe.qeAuthData(),
                                new CertificationData(type, new byte[64]))));
                malformed(other.toBytes(), e.collateral(), "certification data type " + type);
            }
        }

        @Test
        void otherCertificationTypesWithThePckChainInTheCollateral() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Quote q = Quote.parse(e.quote());
            QeReportCertificationData qe = q.signatureData().qe();
            String pem = qe.certificationData().pckChainPem();
            Quote type3 = new Quote(q.header(), q.bodyType(), q.body(), new EcdsaSignatureData(
                    q.signatureData().signature(), q.signatureData().attestationKey(),
                    new QeReportCertificationData(qe.qeReport(), qe.qeReportSignature(), qe.qeAuthData(),
                            new CertificationData(3, new byte[390]))));
            Collateral c = coll(e);
            Collateral withChain = new Collateral(c.pckCrlIssuerChain(), c.rootCaCrl(), c.pckCrl(),
                    c.tcbInfoIssuerChain(), c.tcbInfo(), c.tcbInfoSignature(), c.qeIdentityIssuerChain(),
                    c.qeIdentity(), c.qeIdentitySignature(), pem);
            assertThat(V.verify(type3.toBytes(), withChain.toBytes(), AT).tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
            malformed(type3.toBytes(), e.collateral(), "certification data type 3");
            // a type-5 quote uses its own chain even when the collateral has one
            assertThat(V.verify(e.quote(), withChain.toBytes(), AT).tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        }

        @Test
        void pckChainMustHaveThreeCertificates() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Quote q = Quote.parse(e.quote());
            QeReportCertificationData qe = q.signatureData().qe();
            String pem = qe.certificationData().pckChainPem();
            String two = pem.substring(0, pem.lastIndexOf("-----BEGIN"));
            Quote other = new Quote(q.header(), q.bodyType(), q.body(), new EcdsaSignatureData(
                    q.signatureData().signature(), q.signatureData().attestationKey(),
                    new QeReportCertificationData(qe.qeReport(), qe.qeReportSignature(), qe.qeAuthData(),
                            new CertificationData(5, two.getBytes()))));
            malformed(other.toBytes(), e.collateral(), "exactly 3 certificates");
        }

        @Test
        void trailingBytesAreTolerated() throws Exception {
            SimulatedEvidence e = PKI.issue(tdx());
            byte[] padded = Arrays.copyOf(e.quote(), e.quote().length + 3065);
            assertThat(V.verify(padded, e.collateral(), AT).tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        }
    }

    @Nested
    class Tcb {
        @Test
        void tcbInfoExpiredAndNotYetValid() {
            denied(sgx().editTcbInfo(t -> withDates(t, t.issueDate().minusSeconds(86400 * 60),
                    t.issueDate().minusSeconds(86400 * 30))), "TCB Info expired");
            denied(sgx().editTcbInfo(t -> withDates(t, Instant.parse("2999-01-01T00:00:00Z"), t.nextUpdate())),
                    "TCB Info is not yet valid");
        }

        @Test
        void tcbInfoForTheOtherTeeType() throws Exception {
            SimulatedEvidence s = PKI.issue(sgx());
            SimulatedEvidence t = PKI.issue(tdx());
            denied(s.quote(), t.collateral(), "SGX quote with TDX TCB Info");
            denied(t.quote(), s.collateral(), "TDX quote with SGX TCB Info");
        }

        @Test
        void invalidTcbJsonAndMissingTdxComponents() throws Exception {
            SimulatedEvidence t = PKI.issue(tdx());
            Collateral c = coll(t);
            malformed(t.quote(), with(c, "tcbInfo", "{not json").toBytes(), "tcbInfo is not valid JSON");
            ObjectMapper om = new ObjectMapper();
            ObjectNode o = (ObjectNode) om.readTree(c.tcbInfo());
            for (var l : o.get("tcbLevels")) {
                ((ObjectNode) l.get("tcb")).remove("tdxtcbcomponents");
            }
            malformed(t.quote(), with(c, "tcbInfo", o.toString()).toBytes(), "TDX component count mismatch");
            ObjectNode o2 = (ObjectNode) om.readTree(c.tcbInfo());
            ((ArrayNode) o2.get("tcbLevels").get(0).get("tcb").get("sgxtcbcomponents")).remove(0);
            malformed(t.quote(), with(c, "tcbInfo", o2.toString()).toBytes(), "SGX component count mismatch");
        }

        @Test
        void noMatchingLevel() {
            int[] high = new int[16];
            high[0] = 9;
            denied(sgx().editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(high, 0, null, "2024-01-01T00:00:00Z",
                    "UpToDate", List.of())))), "TCB not supported");
            denied(sgx().pceSvn(3).editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(new int[16], 4, null,
                    "2024-01-01T00:00:00Z", "UpToDate", List.of())))), "TCB not supported");
            denied(sgx().editTcbInfo(t -> withLevels(t, List.of())), "TCB not supported");
            int[] tdxHigh = new int[16];
            tdxHigh[2] = 9;
            denied(tdx().editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(t.tcbLevels().get(0).sgxComponents(),
                    0, tdxHigh, "2024-01-01T00:00:00Z", "UpToDate", List.of())))), "no TCB level matches TEE_TCB_SVN");
        }

        @Test
        void fmspcAndPceIdMismatch() {
            denied(sgx().editTcbInfo(t -> new TcbInfo(t.id(), 3, t.issueDate(), t.nextUpdate(),
                    HexFormat.of().parseHex("FFFFFFFFFFFF"), t.pceId(), 0, 17, null, List.of(), t.tcbLevels())),
                    "FMSPC mismatch");
            denied(sgx().editTcbInfo(t -> new TcbInfo(t.id(), 3, t.issueDate(), t.nextUpdate(), t.fmspc(),
                    new byte[] {0, 1}, 0, 17, null, List.of(), t.tcbLevels())), "PCE-ID mismatch");
        }

        @Test
        void revokedPlatformIsTerminal() {
            denied(sgx().status(TcbStatus.REVOKED), "TCB status is Revoked");
            denied(tdx().status(TcbStatus.REVOKED), "TCB status is Revoked");
        }

        @Test
        void tdxComponentsOneAndZeroAreSkippedWhenTheModuleHasAMajorVersion() throws Exception {
            // Intel compares TEE_TCB_SVN from index 2 when [1] > 0 (the module is judged by its identity)
            int[] need = new int[16];
            need[0] = 99;
            need[1] = 99;
            need[2] = 2;
            VerifiedEvidence v = ok(tdx().editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(
                    t.tcbLevels().get(0).sgxComponents(), 0, need, "2024-01-01T00:00:00Z", "UpToDate", List.of())))));
            assertThat(v.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
            denied(SimulationSpec.tdx(tdxM(5, 0, 2), AT).editTcbInfo(t -> withLevels(t, List.of(new TcbLevel(
                    t.tcbLevels().get(0).sgxComponents(), 0, need, "2024-01-01T00:00:00Z", "UpToDate", List.of())))),
                    "no TCB level matches TEE_TCB_SVN");
        }
    }

    @Nested
    class TdxModule {
        static TcbInfo withModule(TcbInfo t, TcbInfo.TdxModule m, List<TcbInfo.TdxModuleIdentity> ids) {
            return new TcbInfo(t.id(), 3, t.issueDate(), t.nextUpdate(), t.fmspc(), t.pceId(), 0, 17, m, ids,
                    t.tcbLevels());
        }

        @Test
        void missingModuleIdentity() {
            denied(tdx().editTcbInfo(t -> withModule(t, t.tdxModule(), List.of())), "no module identity TDX_01");
        }

        @Test
        void moduleSignerMismatch() {
            TcbInfo.TdxModule other = new TcbInfo.TdxModule(fill(48, 1), new byte[8], fill(8, 0xFF));
            denied(SimulationSpec.tdx(tdxM(5, 0, 2), AT).editTcbInfo(t -> withModule(t, other, List.of())),
                    "MRSIGNERSEAM");
            denied(tdx().editTcbInfo(t -> withModule(t, t.tdxModule(), List.of(new TcbInfo.TdxModuleIdentity(
                    "TDX_01", other, t.tdxModuleIdentities().get(0).tcbLevels())))), "MRSIGNERSEAM");
        }

        @Test
        void moduleOutOfDateConverges() throws Exception {
            UnaryOperator<TcbInfo> old = t -> withModule(t, t.tdxModule(), List.of(new TcbInfo.TdxModuleIdentity(
                    "TDX_01", t.tdxModule(), List.of(new EnclaveTcbLevel(7, "2025-01-01T00:00:00Z", "UpToDate",
                            List.of()), new EnclaveTcbLevel(3, "2024-01-01T00:00:00Z", "OutOfDate", List.of())))));
            assertThat(ok(tdx().editTcbInfo(old)).tcbStatus()).isEqualTo(TcbStatus.OUT_OF_DATE);
            assertThat(ok(tdx().status(TcbStatus.CONFIGURATION_NEEDED).editTcbInfo(old)).tcbStatus())
                    .isEqualTo(TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED);
            UnaryOperator<TcbInfo> revoked = t -> withModule(t, t.tdxModule(), List.of(new TcbInfo.TdxModuleIdentity(
                    "TDX_01", t.tdxModule(), List.of(new EnclaveTcbLevel(3, "2024-01-01T00:00:00Z", "Revoked",
                            List.of())))));
            denied(tdx().editTcbInfo(revoked), "Revoked");
            UnaryOperator<TcbInfo> tooNew = t -> withModule(t, t.tdxModule(), List.of(new TcbInfo.TdxModuleIdentity(
                    "TDX_01", t.tdxModule(), List.of(new EnclaveTcbLevel(9, "2025-01-01T00:00:00Z", "UpToDate",
                            List.of())))));
            denied(tdx().editTcbInfo(tooNew), "TDX module TDX_01 has no level");
        }

        @Test
        void tdRelaunchAdvisedForTd15() throws Exception {
            // launched on module SVN 3 (OutOfDate), since updated to SVN 7 (TEE_TCB_SVN_2)
            byte[] svn2 = new byte[16];
            svn2[0] = 7;
            svn2[1] = 1;
            svn2[2] = 3;
            UnaryOperator<TcbInfo> info = t -> {
                int[] sgxC = t.tcbLevels().get(0).sgxComponents();
                int[] latest = new int[16];
                latest[2] = 3;
                int[] older = new int[16];
                older[2] = 2;
                return new TcbInfo(t.id(), 3, t.issueDate(), t.nextUpdate(), t.fmspc(), t.pceId(), 0, 17,
                        t.tdxModule(), List.of(new TcbInfo.TdxModuleIdentity("TDX_01", t.tdxModule(), List.of(
                                new EnclaveTcbLevel(7, "2025-01-01T00:00:00Z", "UpToDate", List.of()),
                                new EnclaveTcbLevel(3, "2024-01-01T00:00:00Z", "OutOfDate", List.of())))),
                        List.of(new TcbLevel(sgxC, 0, latest, "2025-01-01T00:00:00Z", "UpToDate", List.of()),
                                new TcbLevel(sgxC, 0, older, "2024-01-01T00:00:00Z", "OutOfDate",
                                        List.of("INTEL-SA-01111"))));
            };
            SimulationSpec td15 = SimulationSpec.tdx(tdxM(3, 1, 2), AT).quoteVersion(5).teeTcbSvn2(svn2)
                    .editTcbInfo(info);
            VerifiedEvidence v = ok(td15);
            assertThat(v.tcbStatus()).isEqualTo(TcbStatus.TD_RELAUNCH_ADVISED);
            // not updated since launch: no relaunch helps
            SimulationSpec stale = SimulationSpec.tdx(tdxM(3, 1, 2), AT).quoteVersion(5).editTcbInfo(info);
            assertThat(ok(stale).tcbStatus()).isEqualTo(TcbStatus.OUT_OF_DATE);
            // TD report 1.0 has no TEE_TCB_SVN_2
            assertThat(ok(SimulationSpec.tdx(tdxM(3, 1, 2), AT).editTcbInfo(info)).tcbStatus())
                    .isEqualTo(TcbStatus.OUT_OF_DATE);
        }

        @Test
        void seamAttributesMustBeZero() throws Exception {
            SimulatedEvidence e = PKI.issue(tdx());
            byte[] q = e.quote();
            q[48 + 112] = 1; // SEAMATTRIBUTES; the quote signature then fails too, but the module check comes first
            denied(q, e.collateral(), "SEAMATTRIBUTES");
        }
    }

    @Nested
    class Chains {
        @Test
        void shortOrUnparsableChains() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Collateral c = coll(e);
            denied(e.quote(), with(c, "tcbInfoIssuerChain", "\n").toBytes(), "too short for TCB Info");
            denied(e.quote(), with(c, "tcbInfoIssuerChain", "not a pem").toBytes(), "too short for TCB Info");
            denied(e.quote(), with(c, "qeIdentityIssuerChain", "\n").toBytes(), "too short for QE Identity");
            denied(e.quote(), with(c, "pckCrlIssuerChain", "\n").toBytes(), "too short for the PCK CRL");
            malformed(e.quote(), with(c, "tcbInfoIssuerChain", "-----BEGIN CERTIFICATE-----\nAAAA\n"
                    + "-----END CERTIFICATE-----\n").toBytes(), "not a well-formed X.509 certificate");
        }

        @Test
        void caUsedAsEndEntity() throws Exception {
            denied(sgx().tcbSignerIsCa(), "CaUsedAsEndEntity");
            SimulatedEvidence good = PKI.issue(sgx());
            Collateral caSigned = coll(PKI.issue(sgx().tcbSignerIsCa()));
            denied(good.quote(), with(coll(good), "qeIdentityIssuerChain", caSigned.qeIdentityIssuerChain()).toBytes(),
                    "CaUsedAsEndEntity: the QE Identity signer");
        }

        @Test
        void unknownRootAndMixedRoots() throws Exception {
            SimulatedEvidence std = Simulator.standard().issue(sgx());
            denied(std.quote(), std.collateral(), "unknown root");
            SimulatedEvidence ours = PKI.issue(sgx());
            Collateral mixed = with(coll(ours), "qeIdentityIssuerChain", coll(std).qeIdentityIssuerChain());
            DcapVerifier both = DcapVerifier.withRoots(List.of(PKI.trustAnchor(), Simulator.standard().trustAnchor()));
            assertThatThrownBy(() -> both.verify(ours.quote(), mixed.toBytes(), AT))
                    .hasMessageContaining("qe_identity_issuer_chain ends in Cloister simulation root")
                    .satisfies(e -> assertThat(((EvidenceException) e).reason()).isEqualTo(ReasonCode.UNTRUSTED_ROOT));
            assertThatThrownBy(() -> both.verify(ours.quote(), std.collateral(), AT))
                    .hasMessageContaining("collateral is signed under")
                    .satisfies(e -> assertThat(((EvidenceException) e).reason()).isEqualTo(ReasonCode.UNTRUSTED_ROOT));
        }

        @Test
        void pckLeafMustBeAPckCertificate() {
            denied(sgx().pckCommonName("Some Other Certificate"), "does not name an SGX PCK Certificate");
        }

        @Test
        void forgedChainSignatureIsDenied() throws Exception {
            // a PCK chain from another PKI whose root has the same name, with this PKI's root appended
            SimulatedEvidence e = PKI.issue(sgx());
            Quote q = Quote.parse(e.quote());
            String own = q.signatureData().qe().certificationData().pckChainPem();
            String foreign = Quote.parse(Simulator.fromSeed("another seed", "Cloister test root").issue(sgx()).quote())
                    .signatureData().qe()
                    .certificationData().pckChainPem();
            int cut = foreign.lastIndexOf("-----BEGIN");
            String forged = foreign.substring(0, cut) + own.substring(own.lastIndexOf("-----BEGIN"));
            QeReportCertificationData qe = q.signatureData().qe();
            Quote other = new Quote(q.header(), q.bodyType(), q.body(), new EcdsaSignatureData(
                    q.signatureData().signature(), q.signatureData().attestationKey(),
                    new QeReportCertificationData(qe.qeReport(), qe.qeReportSignature(), qe.qeAuthData(),
                            new CertificationData(5, forged.getBytes()))));
            denied(other.toBytes(), e.collateral(), "signature of Cloister Simulated SGX PCK Platform CA");
        }
    }

    @Nested
    class Crls {
        @Test
        void revokedPckPckCaAndTcbSigner() {
            denied(sgx().revokePck(), "revoked by the PCK CRL");
            denied(sgx().revokePckCa(), "revoked by the root CA CRL");
            denied(sgx().revokeTcbSigner(), "revoked by the root CA CRL");
        }

        @Test
        void tamperedCrls() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Collateral c = coll(e);
            byte[] root = c.rootCaCrl();
            denied(e.quote(), with(c, "rootCaCrl", flip(root, root.length - 5)).toBytes(),
                    "signature is invalid for the root CA CRL");
            byte[] pck = c.pckCrl();
            denied(e.quote(), with(c, "pckCrl", flip(pck, pck.length - 5)).toBytes(),
                    "signature is invalid for the PCK CRL");
            denied(e.quote(), with(c, "pckCrl", root).toBytes(), "signature is invalid for the PCK CRL");
            malformed(e.quote(), with(c, "pckCrl", new byte[] {0x30, 0x00}).toBytes(), "pck_crl");
        }

        @Test
        void crlsExpire() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx().validity(java.time.Duration.ofDays(1)));
            assertThatThrownBy(() -> V.verify(e.quote(), e.collateral(), AT.plusSeconds(86400 + 60)))
                    .hasMessageContaining("expired")
                    .satisfies(x -> assertThat(((EvidenceException) x).reason())
                            .isEqualTo(ReasonCode.COLLATERAL_EXPIRED));
        }
    }

    @Nested
    class Signatures {
        @Test
        void collateralSignatures() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            Collateral c = coll(e);
            denied(e.quote(), with(c, "tcbInfoSignature", new byte[64]).toBytes(), "signature is invalid for tcb_info");
            denied(e.quote(), with(c, "tcbInfo", c.tcbInfo().replace("\"pcesvn\":13", "\"pcesvn\":12")).toBytes(),
                    "signature is invalid for tcb_info");
            denied(e.quote(), with(c, "qeIdentitySignature", flip(c.qeIdentitySignature(), 3)).toBytes(),
                    "signature is invalid for qe_identity");
            denied(e.quote(), with(c, "qeIdentity", c.qeIdentity().replace("\"isvprodid\":1", "\"isvprodid\":2"))
                    .toBytes(), "signature is invalid for qe_identity");
        }

        @Test
        void quoteSignatureQeReportAndBinding() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            byte[] q = e.quote();
            int sig = 48 + 384 + 4;
            denied(flip(q, 48 + 320), e.collateral(), "quote signature");      // report data
            denied(flip(q, 30), e.collateral(), "quote signature");            // header user data
            denied(flip(q, sig), e.collateral(), "quote signature");           // the signature itself
            denied(flip(q, sig + 64), e.collateral(), "QE report hash mismatch"); // attestation key
            denied(flip(q, sig + 128 + 100), e.collateral(), "signature is invalid for the QE report");
            denied(flip(q, sig + 128 + 384 + 5), e.collateral(), "signature is invalid for the QE report");
            denied(flip(q, sig + 128 + 384 + 64 + 2 + 3), e.collateral(), "QE report hash mismatch"); // auth data
            byte[] rd = new byte[64];
            denied(sgx().editQeReport(r -> EnclaveReport.of(r.cpuSvn(), r.attributes(), r.mrEnclave(), r.mrSigner(),
                    r.isvProdId(), r.isvSvn(), rd)), "QE report hash mismatch");
        }

        @Test
        void tdxOffsetsFromTheReference() throws Exception {
            SimulatedEvidence e = PKI.issue(SimulationSpec.tdx(tdxM(5, 0, 2), AT));
            byte[] q = e.quote();
            denied(flip(q, 568), e.collateral(), "quote signature");
            denied(flip(q, 636), e.collateral(), "quote signature");
            denied(flip(q, 700), e.collateral(), "QE report hash mismatch");
        }
    }

    @Nested
    class QeIdentityChecks {
        @Test
        void expiredAndFuture() {
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), q.tcbLevels(), AT.minusSeconds(86400 * 40),
                    AT.minusSeconds(86400 * 10))), "QE Identity expired");
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), q.tcbLevels(), AT.plusSeconds(3600),
                    q.nextUpdate())), "QE Identity is not yet valid");
        }

        @Test
        void invalidJson() throws Exception {
            SimulatedEvidence e = PKI.issue(sgx());
            malformed(e.quote(), with(coll(e), "qeIdentity", "[]").toBytes(), "qeIdentity is not a JSON object");
            malformed(e.quote(), with(coll(e), "qeIdentity", "{\"id\":\"QE\"}").toBytes(), "qeIdentity.tcbLevels is missing");
        }

        @Test
        void mismatches() {
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), fill(32, 9), q.isvProdId(), q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "QE MRSIGNER mismatch");
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), 999, q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "QE ISVPRODID mismatch");
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), 0xFFFFFFFFL, 0xFFFFFFFFL, q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "QE MISCSELECT mismatch");
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), fill(16, 0xFF),
                    fill(16, 0xFF), q.mrSigner(), q.isvProdId(), q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "QE ATTRIBUTES mismatch");
            // a debug QE: identity mask covers bit 1
            denied(sgx().editQeReport(r -> {
                byte[] a = r.attributes();
                a[0] |= 0x02;
                return EnclaveReport.of(r.cpuSvn(), a, r.mrEnclave(), r.mrSigner(), r.isvProdId(), r.isvSvn(),
                        r.reportData());
            }), "QE ATTRIBUTES mismatch");
        }

        @Test
        void wrongIdentityForTeeType() {
            denied(tdx().editQeIdentity(q -> qe(q, "QE", q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "unsupported QE Identity id/version");
            denied(sgx().editQeIdentity(q -> qe(q, "TD_QE", q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), q.tcbLevels(), q.issueDate(), q.nextUpdate())),
                    "unsupported QE Identity id/version");
        }

        @Test
        void qeTcbStatusMerge() throws Exception {
            // QE OutOfDate merges per Intel: UpToDate -> OutOfDate, ConfigurationNeeded -> OutOfDateConfigurationNeeded
            assertThat(ok(sgx().qeSvn(5)).tcbStatus()).isEqualTo(TcbStatus.OUT_OF_DATE);
            assertThat(ok(sgx().qeSvn(5).status(TcbStatus.SW_HARDENING_NEEDED)).tcbStatus())
                    .isEqualTo(TcbStatus.OUT_OF_DATE);
            assertThat(ok(sgx().qeSvn(5).status(TcbStatus.CONFIGURATION_NEEDED)).tcbStatus())
                    .isEqualTo(TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED);
            assertThat(ok(tdx().qeSvn(5).status(TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED)).tcbStatus())
                    .isEqualTo(TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED);
            // advisories are the matched platform level's only (Intel's QvE sa_list)
            assertThat(ok(sgx().qeSvn(5).status(TcbStatus.SW_HARDENING_NEEDED)).advisoryIds())
                    .containsExactly("INTEL-SA-00615");
        }

        @Test
        void revokedOrUnsupportedQe() {
            denied(sgx().editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(), q.attributes(),
                    q.attributesMask(), q.mrSigner(), q.isvProdId(), List.of(new EnclaveTcbLevel(8,
                            "2024-01-01T00:00:00Z", "Revoked", List.of())), q.issueDate(), q.nextUpdate())),
                    "Revoked");
            denied(sgx().qeSvn(5).editQeIdentity(q -> qe(q, q.id(), q.miscSelect(), q.miscSelectMask(),
                    q.attributes(), q.attributesMask(), q.mrSigner(), q.isvProdId(), List.of(new EnclaveTcbLevel(8,
                            "2024-01-01T00:00:00Z", "UpToDate", List.of())), q.issueDate(), q.nextUpdate())),
                    "QE TCB not supported");
        }
    }

    @Nested
    class QeVendor {
        static final byte[] OTHER_VENDOR = HexFormat.of().parseHex("00112233445566778899AABBCCDDEEFF");

        @Test
        void aCorrectlySignedQuoteFromAnotherQeVendorIsDenied() throws Exception {
            // everything else about this quote is valid and signed: only the vendor ID is wrong
            SimulatedEvidence e = PKI.issue(sgx().qeVendorId(OTHER_VENDOR));
            denied(e.quote(), e.collateral(), "is not Intel's 939A7233F79C4CA9940A0DB3957F0607")
                    .hasMessageContaining("00112233445566778899AABBCCDDEEFF");
            SimulatedEvidence t = PKI.issue(tdx().quoteVersion(5).qeVendorId(OTHER_VENDOR));
            denied(t.quote(), t.collateral(), "is not Intel's 939A7233F79C4CA9940A0DB3957F0607");
        }

        @Test
        void onlyOneBitOfTheVendorIdChangedIsDenied() {
            for (int bit = 0; bit < 128; bit += 17) {
                byte[] vendor = HexFormat.of().parseHex("939A7233F79C4CA9940A0DB3957F0607");
                vendor[bit / 8] ^= (byte) (1 << (bit % 8));
                SimulatedEvidence e = PKI.issue(sgx().qeVendorId(vendor));
                denied(e.quote(), e.collateral(), "is not Intel's 939A7233F79C4CA9940A0DB3957F0607");
            }
        }
    }
}
