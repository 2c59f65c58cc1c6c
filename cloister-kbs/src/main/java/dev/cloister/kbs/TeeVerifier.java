package dev.cloister.kbs;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.snp.SnpVerifier;
import dev.cloister.core.CloisterException;
import java.time.Instant;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's evidence verifier for every TEE it accepts: AMD SEV-SNP reports (bare or Azure HCL-wrapped, as
 * {@link SnpVerifier#looksLikeReport} recognises them) go to the SEV-SNP verifier, everything else to the DCAP
 * verifier (SGX and TDX quotes). A policy still decides which TEE type it accepts: its constraints name
 * measurements of one kind, and evidence of another kind never satisfies them.
 *
 * <p>With a collateral source of its own (a PCCS, {@code kbs serve --pccs}), the broker does not simply trust the
 * collateral a workload sends: it verifies the quote with the collateral it fetched itself as well and keeps the
 * verdict of the newer collateral (by its issue date). An old collateral sent by the workload, from before a TCB
 * recovery or a revocation, therefore loses to the broker's. When the broker cannot fetch (PCCS unreachable), the
 * workload's collateral is used: the policy's maximum collateral age ({@link KeyBroker#DEFAULT_MAX_COLLATERAL_AGE}
 * unless the policy says otherwise) bounds how old that may be.
 */
public final class TeeVerifier implements EvidenceVerifier {
    private static final Logger LOG = LoggerFactory.getLogger(TeeVerifier.class);

    private final EvidenceVerifier dcap;
    private final EvidenceVerifier dcapFetching;
    private final EvidenceVerifier snp;

    /**
     * @param dcap verifies SGX and TDX quotes with the collateral given
     * @param snp verifies SEV-SNP reports (with the VCEK, optionally its chain, as collateral)
     */
    public TeeVerifier(EvidenceVerifier dcap, EvidenceVerifier snp) {
        this(dcap, null, snp);
    }

    /**
     * @param dcapFetching verifies SGX and TDX quotes with collateral it fetches itself when given none (a
     *     {@code DcapVerifier} with a collateral source), or null when the broker has no source of its own
     */
    public TeeVerifier(EvidenceVerifier dcap, EvidenceVerifier dcapFetching, EvidenceVerifier snp) {
        this.dcap = Objects.requireNonNull(dcap, "dcap");
        this.dcapFetching = dcapFetching;
        this.snp = Objects.requireNonNull(snp, "snp");
    }

    @Override
    public VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant at) throws EvidenceException {
        if (evidence != null && SnpVerifier.looksLikeReport(evidence)) {
            return snp.verify(evidence, collateral, at);
        }
        if (dcapFetching == null) {
            return dcap.verify(evidence, collateral, at);
        }
        if (collateral == null) {
            return dcapFetching.verify(evidence, null, at);
        }
        // Both, and the newer collateral's verdict wins. The workload's collateral must verify on its own (a
        // request with forged collateral is refused, not quietly repaired).
        VerifiedEvidence supplied = dcap.verify(evidence, collateral, at);
        VerifiedEvidence fetched;
        try {
            fetched = dcapFetching.verify(evidence, null, at);
        } catch (EvidenceException e) {
            if (e.kind() != CloisterException.Kind.ENVIRONMENT) {
                throw e; // the broker's own collateral rejects the quote (e.g. a revoked PCK): that stands
            }
            LOG.warn("cannot fetch collateral ({}); using the workload's, issued {}", e.getMessage(),
                    supplied.collateralIssued());
            return supplied;
        }
        return supplied.collateralIssued().isAfter(fetched.collateralIssued()) ? supplied : fetched;
    }
}
