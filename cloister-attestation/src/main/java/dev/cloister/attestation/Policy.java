package dev.cloister.attestation;

import java.time.Instant;

/**
 * An owner's rule for which verified evidence is acceptable: measurements, signer and minimum SVN, TCB statuses,
 * advisories, debug, collateral age, report data, and whether simulated evidence is allowed (never by default).
 * Implementations are immutable and thread-safe.
 */
public interface Policy {
    /**
     * Appraises evidence at a given time (never a hidden clock).
     *
     * @return the verdict; a denial lists every constraint that failed, with the value seen
     */
    Verdict appraise(VerifiedEvidence evidence, Instant at);

    /** The canonical text form, which {@code Policies.parse} reads back to an equal policy. */
    String toText();
}
