package dev.cloister.attestation.policy;

import dev.cloister.attestation.Measurements;
import dev.cloister.attestation.Policy;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.SnpMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A policy made of independent constraints, as read by {@link Policies#parse}. Hex values are held as lowercase
 * strings and lists are sorted and de-duplicated, so two policies that mean the same thing are {@code equals} and
 * have the same {@link #toText()}. A {@code null} component means "not constrained".
 *
 * <p>Constraints that name TEE-specific values (SGX: E, S, PROD, SVN; TDX: MRTD, RTMRn, MRCONFIGID, TDATTR,
 * MRSERVICETD; SNP: MEASUREMENT, SNPPOLICY, MINTCB, VMPL, HOSTDATA) also say which TEE types the policy is
 * about: evidence of a type the policy has no such constraint for is denied when any other type is constrained,
 * so an SGX policy never accepts a TDX quote by accident.
 *
 * @param mrEnclaves accepted MRENCLAVE values (32-byte hex); empty means any
 * @param mrSigner required MRSIGNER (32-byte hex)
 * @param isvProdId required ISVPRODID
 * @param minIsvSvn minimum ISVSVN (the upgrade path: newer enclaves of the same signer stay accepted)
 * @param allowDebug accept debug-mode TEEs (never by default: the host can read their memory)
 * @param tcbStatuses accepted TCB statuses, in enum order; never empty
 * @param acceptedAdvisories advisory IDs the owner accepts, sorted; {@code "*"} accepts any
 * @param maxCollateralAge how old the newest collateral may be at appraisal time
 * @param allowExpiredCollateral accept evidence appraised after its collateral's next-update date
 * @param reportData expected report data (hex, 1 to 64 bytes, compared with the start of the 64 bytes)
 * @param allowSimulated accept evidence from Cloister's simulation issuer (never by default)
 * @param mrTds accepted MRTD values (48-byte hex); empty means any
 * @param rtmr0 required RTMR0 (48-byte hex)
 * @param rtmr1 required RTMR1
 * @param rtmr2 required RTMR2
 * @param rtmr3 required RTMR3
 * @param mrConfigId required MRCONFIGID (48-byte hex)
 * @param tdAttributesValue required TD_ATTRIBUTES bits (read as a little-endian u64) under the mask
 * @param tdAttributesMask which TD_ATTRIBUTES bits {@code tdAttributesValue} fixes; null with the value
 * @param allowSeptVe accept TDs with SEPT_VE_DISABLE (bit 28) clear, which lets the host inject #VE
 * @param mrServiceTd required MR_SERVICETD (48-byte hex), {@code "*"} for any; null requires all zero
 * @param snpMeasurements accepted SNP launch measurements (48-byte hex); empty means any
 * @param snpPolicyValue required SNP guest policy bits under the mask
 * @param snpPolicyMask which guest policy bits {@code snpPolicyValue} fixes; null with the value
 * @param snpMinTcb minimum REPORTED_TCB, compared byte by byte (each byte is one SPL in every AMD layout)
 * @param snpMaxVmpl highest VMPL the report may come from (0 is the most privileged)
 * @param snpHostData required SNP HOST_DATA (32-byte hex), the host-supplied value bound at launch
 * @param jobRecord required second half of the report data (32-byte hex): the SHA-256 of the job record the
 *     enclave ran, which Cloister's launchers put there (report data = SHA-256(nonce || key) || record hash)
 */
public record ConstraintPolicy(
        List<String> mrEnclaves, String mrSigner, Integer isvProdId, Integer minIsvSvn,
        boolean allowDebug, List<TcbStatus> tcbStatuses, List<String> acceptedAdvisories,
        Duration maxCollateralAge, boolean allowExpiredCollateral, String reportData, boolean allowSimulated,
        List<String> mrTds, String rtmr0, String rtmr1, String rtmr2, String rtmr3, String mrConfigId,
        Long tdAttributesValue, Long tdAttributesMask, boolean allowSeptVe, String mrServiceTd,
        List<String> snpMeasurements, Long snpPolicyValue, Long snpPolicyMask, Long snpMinTcb, Integer snpMaxVmpl,
        String snpHostData, String jobRecord)
        implements Policy {

    /** TD_ATTRIBUTES.DEBUG. */
    static final long TD_DEBUG = 1L;
    /** TD_ATTRIBUTES.SEPT_VE_DISABLE: when clear, the host can make the TD take #VE on EPT violations. */
    static final long TD_SEPT_VE_DISABLE = 1L << 28;

    private static final HexFormat HEX = HexFormat.of();

    public ConstraintPolicy {
        mrEnclaves = sortedDistinct(mrEnclaves);
        acceptedAdvisories = sortedDistinct(acceptedAdvisories);
        mrTds = sortedDistinct(mrTds);
        snpMeasurements = sortedDistinct(snpMeasurements);
        tcbStatuses = Objects.requireNonNull(tcbStatuses, "tcbStatuses").stream().distinct().sorted().toList();
        if (tcbStatuses.isEmpty()) {
            throw new IllegalArgumentException("a policy must accept at least one TCB status");
        }
        if ((tdAttributesValue == null) != (tdAttributesMask == null)) {
            throw new IllegalArgumentException("TD attributes value and mask go together");
        }
        if ((snpPolicyValue == null) != (snpPolicyMask == null)) {
            throw new IllegalArgumentException("SNP policy value and mask go together");
        }
    }

    private static List<String> sortedDistinct(List<String> l) {
        return l == null ? List.of() : l.stream().distinct().sorted().toList();
    }

    boolean constrainsSgx() {
        return !mrEnclaves.isEmpty() || mrSigner != null || isvProdId != null || minIsvSvn != null;
    }

    boolean constrainsTdx() {
        return !mrTds.isEmpty() || rtmr0 != null || rtmr1 != null || rtmr2 != null || rtmr3 != null
                || mrConfigId != null || tdAttributesMask != null || mrServiceTd != null;
    }

    boolean constrainsSnp() {
        return !snpMeasurements.isEmpty() || snpPolicyMask != null || snpMinTcb != null || snpMaxVmpl != null
                || snpHostData != null;
    }

    @Override
    public Verdict appraise(VerifiedEvidence ev, Instant at) {
        Objects.requireNonNull(ev, "evidence");
        Objects.requireNonNull(at, "at");
        List<String> r = new ArrayList<>();
        if (ev.simulated() && !allowSimulated) {
            r.add("simulated evidence is not allowed (root: " + ev.rootUsed() + "); only SIM:ALLOW accepts it");
        }
        if (!tcbStatuses.contains(ev.tcbStatus())) {
            r.add("TCB status " + ev.tcbStatus().intelName() + " is not accepted (accepted: "
                    + tcbStatuses.stream().map(TcbStatus::intelName).collect(Collectors.joining(",")) + ")");
        }
        if (!acceptedAdvisories.contains("*")) {
            for (String adv : ev.advisoryIds()) {
                if (!acceptedAdvisories.contains(adv)) {
                    r.add("advisory " + adv + " is not accepted");
                }
            }
        }
        if (ev.measurements().debug() && !allowDebug) {
            r.add(teeName(ev.teeType()) + " runs in debug mode, which is not allowed (the host can read its memory)");
        }
        if (maxCollateralAge != null) {
            Duration age = Duration.between(ev.collateralIssued(), at);
            if (age.compareTo(maxCollateralAge) > 0) {
                r.add("collateral issued " + ev.collateralIssued() + " is " + Policies.formatDuration(age)
                        + " old at " + at + ", more than the maximum " + Policies.formatDuration(maxCollateralAge));
            }
        }
        if (!allowExpiredCollateral && at.isAfter(ev.collateralNextUpdate())) {
            r.add("collateral expired: its next update was due " + ev.collateralNextUpdate() + ", appraised at " + at);
        }
        if (reportData != null) {
            byte[] want = HEX.parseHex(reportData);
            byte[] seen = java.util.Arrays.copyOf(ev.reportData(), want.length);
            if (!MessageDigest.isEqual(want, seen)) {
                r.add("report data " + HEX.formatHex(ev.reportData()) + " does not start with the expected "
                        + reportData);
            }
        }
        if (jobRecord != null) {
            byte[] want = HEX.parseHex(jobRecord);
            byte[] seen = java.util.Arrays.copyOfRange(ev.reportData(), 32, 64);
            if (!MessageDigest.isEqual(want, seen)) {
                r.add("the evidence is bound to job record " + HEX.formatHex(seen) + ", not the registered "
                        + jobRecord + " (the record the enclave ran differs from the one the owner submitted)");
            }
        }
        checkTeeScope(ev.teeType(), r);
        Measurements m = ev.measurements();
        switch (m) {
            case SgxMeasurements s -> appraiseSgx(s, r);
            case TdxMeasurements t -> appraiseTdx(t, r);
            case SnpMeasurements s -> appraiseSnp(s, r);
        }
        return r.isEmpty() ? Verdict.accept() : Verdict.deny(r);
    }

    private void checkTeeScope(TeeType type, List<String> r) {
        List<String> scoped = new ArrayList<>();
        if (constrainsSgx()) scoped.add("SGX");
        if (constrainsTdx()) scoped.add("TDX");
        if (constrainsSnp()) scoped.add("SEV-SNP");
        boolean covered = switch (type) {
            case SGX -> constrainsSgx();
            case TDX -> constrainsTdx();
            case SEV_SNP -> constrainsSnp();
        };
        if (!scoped.isEmpty() && !covered) {
            r.add("the policy constrains " + String.join(" and ", scoped) + " evidence only, but the evidence is "
                    + teeName(type));
        }
    }

    private void appraiseSgx(SgxMeasurements m, List<String> r) {
        if (!mrEnclaves.isEmpty() && !containsHex(mrEnclaves, m.mrEnclave())) {
            r.add("mrenclave " + HEX.formatHex(m.mrEnclave()) + " is not in the accepted list " + mrEnclaves);
        }
        if (mrSigner != null && !equalHex(mrSigner, m.mrSigner())) {
            r.add("mrsigner " + HEX.formatHex(m.mrSigner()) + " is not the expected " + mrSigner);
        }
        if (isvProdId != null && m.isvProdId() != isvProdId) {
            r.add("isvProdId " + m.isvProdId() + " is not the expected " + isvProdId);
        }
        if (minIsvSvn != null && m.isvSvn() < minIsvSvn) {
            r.add("isvSvn " + m.isvSvn() + " is below the minimum " + minIsvSvn);
        }
    }

    private void appraiseTdx(TdxMeasurements m, List<String> r) {
        if (!mrTds.isEmpty() && !containsHex(mrTds, m.mrTd())) {
            r.add("mrtd " + HEX.formatHex(m.mrTd()) + " is not in the accepted list " + mrTds);
        }
        expect48("rtmr0", rtmr0, m.rtmr0(), r);
        expect48("rtmr1", rtmr1, m.rtmr1(), r);
        expect48("rtmr2", rtmr2, m.rtmr2(), r);
        expect48("rtmr3", rtmr3, m.rtmr3(), r);
        expect48("mrConfigId", mrConfigId, m.mrConfigId(), r);
        long attrs = le64(m.tdAttributes());
        if (!allowSeptVe && (attrs & TD_SEPT_VE_DISABLE) == 0) {
            r.add(String.format("tdAttributes 0x%016x have SEPT_VE_DISABLE (bit 28) clear; SEPTVE:ALLOW accepts that",
                    attrs));
        }
        if (tdAttributesMask != null && (attrs & tdAttributesMask) != tdAttributesValue) {
            r.add(String.format("tdAttributes 0x%016x do not match 0x%016x under mask 0x%016x", attrs,
                    tdAttributesValue, tdAttributesMask));
        }
        if (mrServiceTd == null) {
            if (!MessageDigest.isEqual(m.mrServiceTd(), new byte[48])) {
                r.add("mrServiceTd " + HEX.formatHex(m.mrServiceTd())
                        + " is not all zero (a service TD is bound; MRSERVICETD:* or its value accepts it)");
            }
        } else if (!mrServiceTd.equals("*")) {
            expect48("mrServiceTd", mrServiceTd, m.mrServiceTd(), r);
        }
    }

    private void appraiseSnp(SnpMeasurements m, List<String> r) {
        if (!snpMeasurements.isEmpty() && !containsHex(snpMeasurements, m.measurement())) {
            r.add("measurement " + HEX.formatHex(m.measurement()) + " is not in the accepted list " + snpMeasurements);
        }
        if (snpPolicyMask != null && (m.policy() & snpPolicyMask) != snpPolicyValue) {
            r.add(String.format("SNP guest policy 0x%x does not match 0x%x under mask 0x%x", m.policy(),
                    snpPolicyValue, snpPolicyMask));
        }
        if (snpMinTcb != null) {
            List<String> low = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                int seen = (int) (m.reportedTcb() >>> (8 * i)) & 0xff;
                int min = (int) (snpMinTcb >>> (8 * i)) & 0xff;
                if (seen < min) {
                    low.add("byte " + i + ": " + seen + " < " + min);
                }
            }
            if (!low.isEmpty()) {
                r.add(String.format("SNP reported TCB 0x%016x is below the minimum 0x%016x (%s)", m.reportedTcb(),
                        snpMinTcb, String.join(", ", low)));
            }
        }
        if (snpMaxVmpl != null && m.vmpl() > snpMaxVmpl) {
            r.add("SNP report comes from VMPL " + m.vmpl() + ", above the maximum " + snpMaxVmpl);
        }
        if (snpHostData != null && !equalHex(snpHostData, m.hostData())) {
            r.add("hostData " + HEX.formatHex(m.hostData()) + " is not the expected " + snpHostData);
        }
    }

    private static void expect48(String name, String want, byte[] seen, List<String> r) {
        if (want != null && !equalHex(want, seen)) {
            r.add(name + " " + HEX.formatHex(seen) + " is not the expected " + want);
        }
    }

    private static boolean containsHex(List<String> accepted, byte[] seen) {
        boolean found = false;
        for (String a : accepted) {
            found |= equalHex(a, seen);
        }
        return found;
    }

    private static boolean equalHex(String want, byte[] seen) {
        return MessageDigest.isEqual(HEX.parseHex(want), seen);
    }

    static long le64(byte[] b) {
        long v = 0;
        for (int i = b.length - 1; i >= 0; i--) {
            v = (v << 8) | (b[i] & 0xff);
        }
        return v;
    }

    private static String teeName(TeeType t) {
        return switch (t) {
            case SGX -> "the SGX enclave";
            case TDX -> "the TDX trust domain";
            case SEV_SNP -> "the SEV-SNP guest";
        };
    }

    @Override
    public String toText() {
        List<String> t = new ArrayList<>();
        mrEnclaves.forEach(e -> t.add("E:" + e));
        if (mrSigner != null) t.add("S:" + mrSigner);
        if (isvProdId != null) t.add("PROD:" + isvProdId);
        if (minIsvSvn != null) t.add("SVN:" + minIsvSvn);
        t.add("TCB:" + tcbStatuses.stream().map(TcbStatus::intelName).collect(Collectors.joining(",")));
        if (!acceptedAdvisories.isEmpty()) t.add("ADV:" + String.join(",", acceptedAdvisories));
        if (allowDebug) t.add("DEBUG:ALLOW");
        if (allowSimulated) t.add("SIM:ALLOW");
        if (maxCollateralAge != null) t.add("AGE:" + Policies.formatDuration(maxCollateralAge));
        if (allowExpiredCollateral) t.add("EXPIRED:ALLOW");
        if (reportData != null) t.add("RD:" + reportData);
        mrTds.forEach(v -> t.add("MRTD:" + v));
        if (rtmr0 != null) t.add("RTMR0:" + rtmr0);
        if (rtmr1 != null) t.add("RTMR1:" + rtmr1);
        if (rtmr2 != null) t.add("RTMR2:" + rtmr2);
        if (rtmr3 != null) t.add("RTMR3:" + rtmr3);
        if (mrConfigId != null) t.add("MRCONFIGID:" + mrConfigId);
        if (tdAttributesMask != null) t.add("TDATTR:" + maskText(tdAttributesValue, tdAttributesMask));
        if (allowSeptVe) t.add("SEPTVE:ALLOW");
        if (mrServiceTd != null) t.add("MRSERVICETD:" + mrServiceTd);
        snpMeasurements.forEach(v -> t.add("MEASUREMENT:" + v));
        if (snpPolicyMask != null) t.add("SNPPOLICY:" + maskText(snpPolicyValue, snpPolicyMask));
        if (snpMinTcb != null) t.add(String.format("MINTCB:%016x", snpMinTcb));
        if (snpMaxVmpl != null) t.add("VMPL:" + snpMaxVmpl);
        if (snpHostData != null) t.add("HOSTDATA:" + snpHostData);
        if (jobRecord != null) t.add("JOB:" + jobRecord);
        return String.join(" ", t);
    }

    private static String maskText(long value, long mask) {
        return mask == -1L ? String.format("%x", value) : String.format("%x/%x", value, mask);
    }

    @Override
    public String toString() {
        return toText();
    }
}
