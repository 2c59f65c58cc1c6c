package dev.cloister.attestation.ear;

import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Maps Cloister's appraisal (verified evidence plus a policy verdict) onto an EAR. The mapping is documented in
 * docs/attestation.md; it never makes a hardware claim for simulated evidence, and a simulated result is at best
 * {@link EarStatus#WARNING}.
 */
public final class Ears {
    /** AR4SI values Cloister uses; see docs/attestation.md. */
    static final int NO_CLAIM = 0;
    static final int AFFIRMING = 2;
    static final int WARNING = 32;
    static final int CONTRAINDICATED = 96;

    private Ears() {
    }

    /**
     * The EAR for one appraisal.
     *
     * @param evidence what the verifier established
     * @param verdict the policy's answer
     * @param policyId names the policy (e.g. {@code cloister:policy:sha256:<hex>} of its file)
     * @param verifierBuild e.g. {@code cloister-0.1.0}
     * @param now issue time
     * @param lifetime how long the result may be relied on
     */
    public static EarToken fromAppraisal(VerifiedEvidence evidence, Verdict verdict, String policyId,
            String verifierBuild, Instant now, Duration lifetime) {
        boolean sim = evidence.simulated();
        boolean debug = evidence.measurements().debug();
        TcbStatus tcb = evidence.tcbStatus();
        int hardware;
        if (sim) {
            hardware = NO_CLAIM;
        } else if (tcb == TcbStatus.REVOKED) {
            hardware = CONTRAINDICATED;
        } else if (tcb == TcbStatus.UP_TO_DATE) {
            hardware = AFFIRMING;
        } else {
            hardware = WARNING;
        }
        int identity = sim ? NO_CLAIM : AFFIRMING;
        int executables = verdict.accepted() ? AFFIRMING : NO_CLAIM;
        int configuration = debug ? CONTRAINDICATED : verdict.accepted() ? AFFIRMING : NO_CLAIM;
        int runtimeOpaque = debug ? CONTRAINDICATED : sim ? NO_CLAIM : AFFIRMING;
        TrustVector tv = new TrustVector(identity, configuration, executables, NO_CLAIM, hardware, runtimeOpaque,
                NO_CLAIM, NO_CLAIM);
        EarStatus status;
        if (!verdict.accepted()) {
            status = EarStatus.CONTRAINDICATED;
        } else {
            status = tv.worstTier();
            if (status.ordinal() < EarStatus.WARNING.ordinal() && sim) {
                status = EarStatus.WARNING;
            }
        }
        return new EarToken(now, now.plus(lifetime), verifierBuild, "cloister.dev", evidence.teeType().name(), status,
                tv, policyId, evidence.teeType(), tcb, sim, measurements(evidence), HexFormat.of()
                        .formatHex(evidence.reportData()), evidence.advisoryIds());
    }

    /** The measurement record's components as strings: bytes in hex, everything else via {@code toString}. */
    static Map<String, String> measurements(VerifiedEvidence evidence) {
        Record r = (Record) evidence.measurements();
        Map<String, String> m = new LinkedHashMap<>();
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            try {
                Object v = c.getAccessor().invoke(r);
                m.put(c.getName(), v instanceof byte[] b ? HexFormat.of().formatHex(b) : String.valueOf(v));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot read measurement " + c.getName(), e);
            }
        }
        return m;
    }
}
