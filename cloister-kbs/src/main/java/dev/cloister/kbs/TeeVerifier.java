package dev.cloister.kbs;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.snp.SnpVerifier;
import java.time.Instant;
import java.util.Objects;

/**
 * The broker's evidence verifier for every TEE it accepts: AMD SEV-SNP reports (bare or Azure HCL-wrapped, as
 * {@link SnpVerifier#looksLikeReport} recognises them) go to the SEV-SNP verifier, everything else to the DCAP
 * verifier (SGX and TDX quotes). A policy still decides which TEE type it accepts: its constraints name
 * measurements of one kind, and evidence of another kind never satisfies them.
 */
public final class TeeVerifier implements EvidenceVerifier {
    private final EvidenceVerifier dcap;
    private final EvidenceVerifier snp;

    /**
     * @param dcap verifies SGX and TDX quotes
     * @param snp verifies SEV-SNP reports (with the VCEK, optionally its chain, as collateral)
     */
    public TeeVerifier(EvidenceVerifier dcap, EvidenceVerifier snp) {
        this.dcap = Objects.requireNonNull(dcap, "dcap");
        this.snp = Objects.requireNonNull(snp, "snp");
    }

    @Override
    public VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant at) throws EvidenceException {
        return evidence != null && SnpVerifier.looksLikeReport(evidence) ? snp.verify(evidence, collateral, at)
                : dcap.verify(evidence, collateral, at);
    }
}
