package dev.cloister.cli.kbs;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import java.time.Instant;

/** The evidence verifier the broker and {@code policy test} use. */
final class Verifiers {
    private Verifiers() {}

    /**
     * Intel's pinned root only, or with {@code allowSimulation} also Cloister's simulation root (simulated results
     * still need SIM:ALLOW in a policy).
     */
    static EvidenceVerifier select(boolean allowSimulation) {
        return (evidence, collateral, at) -> {
            throw EvidenceException.rejected("this build has no DCAP verifier yet");
        };
    }

    /** Simulated SGX evidence {quote, collateral} binding {@code reportData}. */
    static byte[][] simulatedSgx(SgxMeasurements m, byte[] reportData, TcbStatus status, Instant at)
            throws EvidenceException {
        throw EvidenceException.rejected("this build has no simulator yet");
    }
}
