package dev.cloister.attestation.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.Measurements;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.SnpMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.core.CloisterException;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PolicyTest {
    static final HexFormat HEX = HexFormat.of();
    static final Instant ISSUED = Instant.parse("2026-11-01T00:00:00Z");
    static final Instant NEXT = Instant.parse("2026-12-01T00:00:00Z");
    static final Instant AT = Instant.parse("2026-11-10T00:00:00Z");

    static byte[] fill(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    static String hex(int n, int v) {
        return HEX.formatHex(fill(n, v));
    }

    static SgxMeasurements sgx(int enclave, int signer, int prod, int svn, boolean debug) {
        byte[] attrs = new byte[16];
        attrs[0] = (byte) (debug ? 0x07 : 0x05);
        return new SgxMeasurements(fill(32, enclave), fill(32, signer), prod, svn, attrs, debug);
    }

    static byte[] tdAttrs(long v) {
        byte[] b = new byte[8];
        for (int i = 0; i < 8; i++) b[i] = (byte) (v >>> (8 * i));
        return b;
    }

    static TdxMeasurements tdx(long attrs, byte[] serviceTd) {
        return new TdxMeasurements(fill(48, 0x11), fill(48, 0x20), fill(48, 0x21), fill(48, 0x22), fill(48, 0x23),
                fill(48, 0x30), fill(48, 0x40), serviceTd, tdAttrs(attrs), new byte[16], (attrs & 1) != 0);
    }

    static final long SEPT = 1L << 28;

    static SnpMeasurements snp(long policy, long tcb, int vmpl) {
        return new SnpMeasurements(fill(48, 0x55), new byte[32], policy, tcb, vmpl, (policy & (1L << 19)) != 0);
    }

    static VerifiedEvidence ev(Measurements m, TcbStatus s, List<String> adv, byte[] rd, boolean sim) {
        return new VerifiedEvidence(m.teeType(), m.teeType() == TeeType.SEV_SNP ? 2 : 4, s, adv, m, rd, ISSUED, NEXT,
                sim ? "Cloister simulation root" : "Intel SGX Root CA", sim);
    }

    static VerifiedEvidence ev(Measurements m) {
        return ev(m, TcbStatus.UP_TO_DATE, List.of(), new byte[64], false);
    }

    static Verdict appraise(String policy, VerifiedEvidence e) throws PolicyException {
        return Policies.parse(policy).appraise(e, AT);
    }

    // ---- default policy

    @Test
    void defaultPolicyAcceptsUpToDateNonDebugRealEvidenceOfEveryType() {
        var p = Policies.defaultPolicy();
        assertThat(p.appraise(ev(sgx(1, 2, 1, 3, false)), AT).accepted()).isTrue();
        assertThat(p.appraise(ev(tdx(SEPT, new byte[48])), AT).accepted()).isTrue();
        assertThat(p.appraise(ev(snp(0x30000, 0, 0)), AT).accepted()).isTrue();
        assertThat(p.toText()).isEqualTo("TCB:UpToDate");
    }

    @Test
    void defaultPolicyDeniesDebugSimulatedOutdatedAdvisoriesAndListsEveryFailure() {
        var e = ev(sgx(1, 2, 1, 3, true), TcbStatus.OUT_OF_DATE, List.of("INTEL-SA-00615", "INTEL-SA-00289"),
                new byte[64], true);
        Verdict v = Policies.defaultPolicy().appraise(e, AT);
        assertThat(v.accepted()).isFalse();
        assertThat(v.reasons()).hasSize(5);
        assertThat(v.explanation())
                .contains("simulated evidence is not allowed (root: Cloister simulation root)")
                .contains("TCB status OutOfDate is not accepted (accepted: UpToDate)")
                .contains("advisory INTEL-SA-00289 is not accepted")
                .contains("advisory INTEL-SA-00615 is not accepted")
                .contains("debug mode");
    }

    @Test
    void simulatedEvidenceAcceptedOnlyWithSimAllow() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, false), TcbStatus.UP_TO_DATE, List.of(), new byte[64], true);
        assertThat(appraise("TCB:UpToDate", e).accepted()).isFalse();
        assertThat(appraise("SIM:ALLOW", e).accepted()).isTrue();
        assertThat(appraise("allow-simulated: true", e).accepted()).isTrue();
        assertThat(appraise("allow-simulated: false", e).accepted()).isFalse();
    }

    // ---- SGX constraints

    @Test
    void mrenclaveList() throws Exception {
        var e = ev(sgx(0xaa, 2, 1, 3, false));
        assertThat(appraise("E:" + hex(32, 0xaa), e).accepted()).isTrue();
        assertThat(appraise("E:" + hex(32, 0xbb) + "," + hex(32, 0xaa), e).accepted()).isTrue();
        assertThat(appraise("E:" + hex(32, 0xbb) + " E:" + hex(32, 0xaa), e).accepted()).isTrue();
        Verdict v = appraise("E:" + hex(32, 0xbb), e);
        assertThat(v.accepted()).isFalse();
        assertThat(v.reasons()).containsExactly("mrenclave " + hex(32, 0xaa) + " is not in the accepted list ["
                + hex(32, 0xbb) + "]");
    }

    @Test
    void mrsignerProdIdAndMinimumSvnFormTheUpgradePath() throws Exception {
        String p = "S:" + hex(32, 2) + " PROD:1 SVN:3";
        assertThat(appraise(p, ev(sgx(9, 2, 1, 3, false))).accepted()).isTrue();
        assertThat(appraise(p, ev(sgx(8, 2, 1, 7, false))).accepted()).as("newer SVN").isTrue();
        Verdict v = appraise(p, ev(sgx(9, 3, 2, 2, false)));
        assertThat(v.reasons()).containsExactly(
                "mrsigner " + hex(32, 3) + " is not the expected " + hex(32, 2),
                "isvProdId 2 is not the expected 1",
                "isvSvn 2 is below the minimum 3");
    }

    @Test
    void debugForbiddenByDefaultAllowedExplicitly() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, true));
        assertThat(appraise("TCB:UpToDate", e).explanation()).contains("SGX enclave runs in debug mode");
        assertThat(appraise("DEBUG:ALLOW", e).accepted()).isTrue();
        assertThat(appraise("allow-debug: true", e).accepted()).isTrue();
    }

    @Test
    void acceptedTcbStatuses() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, false), TcbStatus.SW_HARDENING_NEEDED, List.of(), new byte[64], false);
        assertThat(appraise("TCB:UpToDate", e).reasons())
                .containsExactly("TCB status SWHardeningNeeded is not accepted (accepted: UpToDate)");
        assertThat(appraise("TCB:UpToDate,SWHardeningNeeded", e).accepted()).isTrue();
        assertThat(appraise("TCB:uptodate,swhardeningneeded", e).accepted()).isTrue();
        assertThat(appraise("tcb-statuses: [UpToDate, SWHardeningNeeded]", e).accepted()).isTrue();
        var revoked = ev(sgx(1, 2, 1, 3, false), TcbStatus.REVOKED, List.of(), new byte[64], false);
        assertThat(appraise("TCB:UpToDate,SWHardeningNeeded,OutOfDate", revoked).accepted()).isFalse();
    }

    @Test
    void advisoryNotAcceptedIsDeniedEvenWhenOthersAre() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, false), TcbStatus.SW_HARDENING_NEEDED, List.of("INTEL-SA-00334", "INTEL-SA-00615"),
                new byte[64], false);
        Verdict v = appraise("TCB:SWHardeningNeeded ADV:INTEL-SA-00334", e);
        assertThat(v.reasons()).containsExactly("advisory INTEL-SA-00615 is not accepted");
        assertThat(appraise("TCB:SWHardeningNeeded ADV:INTEL-SA-00334,intel-sa-00615", e).accepted()).isTrue();
        assertThat(appraise("TCB:SWHardeningNeeded ADV:*", e).accepted()).isTrue();
    }

    @Test
    void maximumCollateralAge() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, false));
        assertThat(appraise("AGE:9d", e).accepted()).as("exactly 9 days old").isTrue();
        Verdict v = appraise("AGE:8d", e);
        assertThat(v.reasons()).containsExactly("collateral issued 2026-11-01T00:00:00Z is 9d old at "
                + "2026-11-10T00:00:00Z, more than the maximum 8d");
        assertThat(appraise("AGE:PT216H", e).accepted()).isTrue();
        assertThat(appraise("max-collateral-age: 215h", e).accepted()).isFalse();
    }

    @Test
    void expiredCollateralDeniedUnlessAllowed() throws Exception {
        var e = ev(sgx(1, 2, 1, 3, false));
        Instant late = NEXT.plusSeconds(60);
        assertThat(Policies.defaultPolicy().appraise(e, NEXT).accepted()).as("at next update").isTrue();
        Verdict v = Policies.defaultPolicy().appraise(e, late);
        assertThat(v.reasons()).containsExactly("collateral expired: its next update was due 2026-12-01T00:00:00Z,"
                + " appraised at 2026-12-01T00:01:00Z");
        assertThat(Policies.parse("EXPIRED:ALLOW").appraise(e, late).accepted()).isTrue();
    }

    @Test
    void expectedReportDataFullOrPrefix() throws Exception {
        byte[] rd = new byte[64];
        new Random(7).nextBytes(rd);
        var e = ev(sgx(1, 2, 1, 3, false), TcbStatus.UP_TO_DATE, List.of(), rd, false);
        assertThat(appraise("RD:" + HEX.formatHex(rd), e).accepted()).isTrue();
        assertThat(appraise("RD:" + HEX.formatHex(rd, 0, 32), e).accepted()).isTrue();
        byte[] other = rd.clone();
        other[63] ^= 1;
        Verdict v = appraise("RD:" + HEX.formatHex(other), e);
        assertThat(v.reasons()).containsExactly("report data " + HEX.formatHex(rd)
                + " does not start with the expected " + HEX.formatHex(other));
    }

    @Test
    void jobRecordClauseRequiresTheSecondHalfOfTheReportData() throws Exception {
        byte[] record = new byte[32];
        new Random(9).nextBytes(record);
        byte[] rd = new byte[64];
        new Random(8).nextBytes(rd);
        System.arraycopy(record, 0, rd, 32, 32);
        var bound = ev(sgx(1, 2, 1, 3, false), TcbStatus.UP_TO_DATE, List.of(), rd, false);
        assertThat(appraise("JOB:" + HEX.formatHex(record), bound).accepted()).isTrue();
        // YAML spelling, and the canonical text keeps the clause.
        assertThat(Policies.parse("job-record: \"" + HEX.formatHex(record) + "\"").toText())
                .isEqualTo("TCB:UpToDate JOB:" + HEX.formatHex(record));
        // One bit of the record hash differs: denied, naming both values.
        byte[] other = record.clone();
        other[31] ^= 1;
        Verdict v = appraise("JOB:" + HEX.formatHex(other), bound);
        assertThat(v.accepted()).isFalse();
        assertThat(v.explanation()).contains("job record " + HEX.formatHex(record)).contains(HEX.formatHex(other));
        // The old form (32 zero bytes after the binding) does not satisfy a JOB clause...
        byte[] old = Arrays.copyOf(rd, 64);
        Arrays.fill(old, 32, 64, (byte) 0);
        var unbound = ev(sgx(1, 2, 1, 3, false), TcbStatus.UP_TO_DATE, List.of(), old, false);
        assertThat(appraise("JOB:" + HEX.formatHex(record), unbound).accepted()).isFalse();
        // ...but stays valid under a policy without one.
        assertThat(appraise("E:" + hex(32, 1), unbound).accepted()).isTrue();
        assertBad("JOB:" + hex(31, 1), "value must be 32 bytes of hex, got 31");
        assertBad("JOB:" + hex(32, 1) + " JOB:" + hex(32, 2), "JOB is given twice");
    }

    // ---- TDX constraints

    @Test
    void tdxMeasurementRegisters() throws Exception {
        var e = ev(tdx(SEPT, new byte[48]));
        String ok = "MRTD:" + hex(48, 0x11) + " RTMR0:" + hex(48, 0x20) + " RTMR1:" + hex(48, 0x21) + " RTMR2:"
                + hex(48, 0x22) + " RTMR3:" + hex(48, 0x23) + " MRCONFIGID:" + hex(48, 0x30);
        assertThat(appraise(ok, e).accepted()).isTrue();
        String bad = "MRTD:" + hex(48, 0x12) + " RTMR0:" + hex(48, 0x1) + " RTMR1:" + hex(48, 0x1) + " RTMR2:"
                + hex(48, 0x1) + " RTMR3:" + hex(48, 0x1) + " MRCONFIGID:" + hex(48, 0x1);
        Verdict v = appraise(bad, e);
        assertThat(v.reasons()).hasSize(6);
        assertThat(v.reasons().get(0)).startsWith("mrtd " + hex(48, 0x11) + " is not in the accepted list");
        assertThat(v.reasons().get(1)).isEqualTo("rtmr0 " + hex(48, 0x20) + " is not the expected " + hex(48, 1));
        assertThat(v.reasons().get(4)).startsWith("rtmr3 " + hex(48, 0x23));
        assertThat(v.reasons().get(5)).startsWith("mrConfigId " + hex(48, 0x30));
    }

    @Test
    void tdxDebugAndSeptVeDisableByDefault() throws Exception {
        Verdict v = Policies.defaultPolicy().appraise(ev(tdx(1, new byte[48])), AT);
        assertThat(v.reasons()).containsExactly(
                "the TDX trust domain runs in debug mode, which is not allowed (the host can read its memory)",
                "tdAttributes 0x0000000000000001 have SEPT_VE_DISABLE (bit 28) clear; SEPTVE:ALLOW accepts that");
        assertThat(appraise("DEBUG:ALLOW SEPTVE:ALLOW", ev(tdx(1, new byte[48]))).accepted()).isTrue();
    }

    @Test
    void tdAttributesUnderMask() throws Exception {
        var e = ev(tdx(SEPT | (1L << 63), new byte[48]));
        assertThat(appraise("TDATTR:10000000/10000001", e).accepted()).isTrue();
        Verdict v = appraise("TDATTR:10000000", e);
        assertThat(v.reasons()).containsExactly("tdAttributes 0x8000000010000000 do not match 0x0000000010000000"
                + " under mask 0xffffffffffffffff");
        assertThat(appraise("td-attributes: 0x10000000", ev(tdx(SEPT, new byte[48]))).accepted()).isTrue();
    }

    @Test
    void mrServiceTdZeroByDefaultOrExpectedValue() throws Exception {
        var e = ev(tdx(SEPT, fill(48, 0x77)));
        assertThat(Policies.defaultPolicy().appraise(e, AT).explanation())
                .startsWith("mrServiceTd " + hex(48, 0x77) + " is not all zero");
        assertThat(appraise("MRSERVICETD:*", e).accepted()).isTrue();
        assertThat(appraise("MRSERVICETD:" + hex(48, 0x77), e).accepted()).isTrue();
        assertThat(appraise("MRSERVICETD:" + hex(48, 0x78), e).explanation())
                .isEqualTo("mrServiceTd " + hex(48, 0x77) + " is not the expected " + hex(48, 0x78));
    }

    // ---- SNP constraints

    @Test
    void snpMeasurementPolicyBitsMinimumTcbAndVmpl() throws Exception {
        long tcb = 0x4400000000000002L | (5L << 48); // bl 2, snp 5, ucode 0x44 (Milan layout)
        var e = ev(snp(0x30000, tcb, 1));
        String ok = "MEASUREMENT:" + hex(48, 0x55) + " SNPPOLICY:30000/f0000 MINTCB:4405000000000002 VMPL:1";
        assertThat(appraise(ok, e).accepted()).isTrue();
        Verdict v = appraise("MEASUREMENT:" + hex(48, 0x56) + " SNPPOLICY:0/10000 MINTCB:4406000000000003 VMPL:0", e);
        assertThat(v.reasons()).containsExactly(
                "measurement " + hex(48, 0x55) + " is not in the accepted list [" + hex(48, 0x56) + "]",
                "SNP guest policy 0x30000 does not match 0x0 under mask 0x10000",
                "SNP reported TCB 0x4405000000000002 is below the minimum 0x4406000000000003 (byte 0: 2 < 3, byte 6: 5 < 6)",
                "SNP report comes from VMPL 1, above the maximum 0");
    }

    @Test
    void snpHostData() throws Exception {
        var e = ev(snp(0x30000, 0, 0));
        assertThat(appraise("HOSTDATA:" + hex(32, 0), e).accepted()).isTrue();
        assertThat(appraise("snp-host-data: \"" + hex(32, 1) + "\"", e).reasons())
                .containsExactly("hostData " + hex(32, 0) + " is not the expected " + hex(32, 1));
        assertThat(appraise("HOSTDATA:" + hex(32, 0), ev(sgx(1, 2, 0, 0, false))).explanation())
                .contains("constrains SEV-SNP evidence only");
    }

    @Test
    void snpDebugPolicyBitIsDeniedByDefault() {
        Verdict v = Policies.defaultPolicy().appraise(ev(snp(0x30000 | (1L << 19), 0, 0)), AT);
        assertThat(v.reasons()).containsExactly(
                "the SEV-SNP guest runs in debug mode, which is not allowed (the host can read its memory)");
    }

    @Test
    void policyForOneTeeTypeDeniesTheOthers() throws Exception {
        Verdict v = appraise("S:" + hex(32, 2), ev(tdx(SEPT, new byte[48])));
        assertThat(v.reasons()).containsExactly(
                "the policy constrains SGX evidence only, but the evidence is the TDX trust domain");
        String both = "S:" + hex(32, 2) + " MRTD:" + hex(48, 0x11);
        assertThat(appraise(both, ev(tdx(SEPT, new byte[48]))).accepted()).isTrue();
        assertThat(appraise(both, ev(sgx(1, 2, 0, 0, false))).accepted()).isTrue();
        assertThat(appraise(both, ev(snp(0x30000, 0, 0))).explanation())
                .contains("constrains SGX and TDX evidence only");
    }

    // ---- parsing

    @Test
    void compactAndYamlGiveEqualPoliciesAndCanonicalTextRoundTrips() throws Exception {
        String compact = "S:" + hex(32, 0xAB).toUpperCase() + " PROD:1 SVN:3 E:" + hex(32, 2) + "," + hex(32, 1)
                + " TCB:SWHardeningNeeded,UpToDate ADV:INTEL-SA-00334 DEBUG:ALLOW SIM:ALLOW AGE:720h RD:00ff"
                + " MRTD:" + hex(48, 1) + " RTMR0:" + hex(48, 2) + " RTMR3:" + hex(48, 3) + " MRCONFIGID:" + hex(48, 4)
                + " TDATTR:10000000/f0000001 SEPTVE:ALLOW MRSERVICETD:* EXPIRED:ALLOW MEASUREMENT:" + hex(48, 5)
                + " SNPPOLICY:30000/30000 MINTCB:0x4405000000000002 VMPL:0 HOSTDATA:" + hex(32, 6);
        String yaml = """
                # an owner's policy
                mrsigner: "%s"
                isv-prod-id: 1
                min-isv-svn: 3
                mrenclave: ["%s", "%s"]
                tcb-statuses: [UpToDate, SWHardeningNeeded]
                accepted-advisories: [INTEL-SA-00334]
                allow-debug: true
                allow-simulated: true
                allow-expired-collateral: true
                max-collateral-age: 30d
                report-data: "00FF"
                mrtd: "%s"
                rtmr0: "%s"
                rtmr3: "%s"
                mr-config-id: "%s"
                td-attributes: "10000000/f0000001"
                allow-sept-ve: true
                mr-service-td: "*"
                snp-measurement: ["%s"]
                snp-policy: 30000/30000
                snp-min-tcb: "4405000000000002"
                snp-max-vmpl: 0
                snp-host-data: "%s"
                """.formatted(hex(32, 0xab), hex(32, 1), hex(32, 2), hex(48, 1), hex(48, 2), hex(48, 3), hex(48, 4),
                hex(48, 5), hex(32, 6));
        ConstraintPolicy a = Policies.parse(compact);
        ConstraintPolicy b = Policies.parse(yaml);
        assertThat(b).isEqualTo(a);
        String text = a.toText();
        assertThat(text).startsWith("E:" + hex(32, 1) + " E:" + hex(32, 2) + " S:" + hex(32, 0xab)
                + " PROD:1 SVN:3 TCB:UpToDate,SWHardeningNeeded ADV:INTEL-SA-00334 DEBUG:ALLOW SIM:ALLOW AGE:30d");
        assertThat(text).endsWith("SNPPOLICY:30000/30000 MINTCB:4405000000000002 VMPL:0 HOSTDATA:" + hex(32, 6));
        assertThat(Policies.parse(text)).isEqualTo(a);
        assertThat(Policies.parse(text).toText()).isEqualTo(text);
    }

    @Test
    void multiLineCompactPolicyFileAndEmptyText() throws Exception {
        assertThat(Policies.parse("PROD:1\nSVN:3\n")).isEqualTo(Policies.parse("PROD:1 SVN:3"));
        assertThat(Policies.parse("  ")).isEqualTo(Policies.defaultPolicy());
        assertThat(Policies.parse("DEBUG:DENY SIM:deny TCB:UpToDate")).isEqualTo(Policies.defaultPolicy());
    }

    @Test
    void badTokensAreNamed() {
        assertBad("E:abcd", "token 'E:abcd': value must be 32 bytes of hex, got 2");
        assertBad("S:zz", "token 'S:zz': 'zz' is not hex");
        assertBad("FOO:1", "token 'FOO:1': unknown constraint FOO");
        assertBad("PROD", "token 'PROD' is not KEY:VALUE");
        assertBad("MRCONFIGID:", "token 'MRCONFIGID:' has no value");
        assertBad("SVN:-1", "token 'SVN:-1': -1 is outside 0..65535");
        assertBad("SVN:x", "token 'SVN:x': 'x' is not a number");
        assertBad("SVN:1 SVN:2", "token 'SVN:2': SVN is given twice");
        assertBad("TCB:Fine", "token 'TCB:Fine': unknown TCB status 'Fine'");
        assertBad("ADV:a;b", "token 'ADV:a;b': 'a;b' is not an advisory ID");
        assertBad("AGE:soon", "token 'AGE:soon': 'soon' is not a duration");
        assertBad("AGE:0d", "token 'AGE:0d': the maximum age must be positive");
        assertBad("DEBUG:yes", "token 'DEBUG:yes': value must be ALLOW or DENY");
        assertBad("RD:" + hex(65, 1), "value must be 1 to 64 bytes of hex, got 65");
        assertBad("TDATTR:3/1", "token 'TDATTR:3/1': value sets bits outside the mask");
        assertBad("MINTCB:10000000000000000", "is not a hex number of at most 64 bits");
        assertBad("VMPL:4", "token 'VMPL:4': 4 is outside 0..3");
        assertBad("E:" + hex(32, 1) + ",", "has an empty list item");
        assertBad("colour: blue", "unknown key 'colour'");
        assertBad("allow-debug: yes please", "key 'allow-debug' must be true or false");
        assertBad("min-isv-svn: \"3\"", "key 'min-isv-svn' must be an integer");
        assertBad("mrsigner: [a, b]", "key 'mrsigner' takes one value, not a list");
        assertBad("mrenclave: []", "key 'mrenclave' has an empty list");
        assertBad("rtmr0: 12", "key 'rtmr0' must be a (quoted) string");
        assertBad("a: 1\na: 2", "policy YAML is malformed: Duplicate field 'a'");
        assertBad("- 1\n- 2", "policy YAML must be a mapping");
        assertBad("min-isv-svn: [", "policy YAML is malformed");
    }

    private static void assertBad(String text, String message) {
        assertThatThrownBy(() -> Policies.parse(text))
                .isInstanceOf(PolicyException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
    }

    @Test
    void fuzzedPolicyTextsParseOrFailCleanlyAndParsedOnesRoundTrip() {
        Random rnd = new Random(42);
        String[] seeds = {"E:" + hex(32, 1) + " S:" + hex(32, 2) + " PROD:1 SVN:3 TCB:UpToDate AGE:30d",
                "mrsigner: \"" + hex(32, 3) + "\"\nmin-isv-svn: 2\ntd-attributes: 0x10000000\n",
                "SNPPOLICY:30000/30000 MINTCB:4405000000000002 VMPL:0 ADV:INTEL-SA-1,*"};
        String alphabet = ":,/ \n\"[]{}-0123456789abcdefxEPSDTCBROVMG*#";
        int parsed = 0;
        for (int i = 0; i < 5000; i++) {
            StringBuilder s = new StringBuilder(seeds[rnd.nextInt(seeds.length)]);
            int edits = 1 + rnd.nextInt(4);
            for (int k = 0; k < edits; k++) {
                int pos = rnd.nextInt(s.length() + 1);
                switch (rnd.nextInt(3)) {
                    case 0 -> s.insert(pos, alphabet.charAt(rnd.nextInt(alphabet.length())));
                    case 1 -> { if (pos < s.length()) s.deleteCharAt(pos); }
                    default -> { if (pos < s.length()) s.setCharAt(pos, alphabet.charAt(rnd.nextInt(alphabet.length()))); }
                }
            }
            try {
                ConstraintPolicy p = Policies.parse(s.toString());
                parsed++;
                assertThat(Policies.parse(p.toText())).as("round trip of %s", s).isEqualTo(p);
            } catch (PolicyException e) {
                assertThat(e.getMessage()).startsWith("policy");
            }
        }
        assertThat(parsed).isPositive();
    }

    @Test
    void canonicalDurationForms() {
        assertThat(Policies.formatDuration(Duration.ofDays(30))).isEqualTo("30d");
        assertThat(Policies.formatDuration(Duration.ofHours(25))).isEqualTo("25h");
        assertThat(Policies.formatDuration(Duration.ofMinutes(90))).isEqualTo("90m");
        assertThat(Policies.formatDuration(Duration.ofSeconds(61))).isEqualTo("61s");
        assertThat(Policies.formatDuration(Duration.ofMillis(1500))).isEqualTo("PT1.5S");
    }
}
