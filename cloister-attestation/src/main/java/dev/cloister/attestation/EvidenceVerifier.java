package dev.cloister.attestation;

import java.time.Instant;

/**
 * Checks evidence (an SGX or TDX DCAP quote, or an SEV-SNP report) with its collateral and returns what it proves.
 * This is the seam the key broker and the worker use; it never consults a hidden clock.
 */
public interface EvidenceVerifier {
    /**
     * Verifies evidence.
     *
     * @param evidence raw quote or report bytes
     * @param collateral the collateral document (QuoteCollateralV3 JSON for DCAP; for SNP the VCEK/VLEK and chain as
     *     PEM), or {@code null} to let the verifier fetch or look it up
     * @param at the time at which certificates, CRLs and collateral must be valid
     * @throws EvidenceException {@code BAD_INPUT} when malformed, {@code DENIED} when any check fails
     */
    VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant at) throws EvidenceException;
}
