package dev.cloister.attestation;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Evidence whose signatures, certificate chains and collateral have been checked. It says who the TEE is and how
 * current its platform is; whether that is acceptable is a separate question for a {@link Policy}.
 *
 * @param teeType SGX, TDX or SEV-SNP
 * @param version quote version (3, 4, 5) or SNP report version
 * @param tcbStatus merged platform and QE status per Intel's rules (SNP: {@code UP_TO_DATE} when the reported TCB
 *     meets the certificate's)
 * @param advisoryIds Intel security advisories that apply to the selected TCB level, sorted
 * @param measurements the TEE's identity
 * @param reportData the 64 bytes the TEE bound into the evidence (nonce and key hash in Cloister's protocols)
 * @param collateralIssued the latest issue date among the collateral used (TCB Info, QE Identity, CRLs)
 * @param collateralNextUpdate the earliest next-update among the collateral: after it the verdict lapses
 * @param rootUsed which trust anchor the chain ended in, e.g. {@code Intel SGX Root CA} or
 *     {@code Cloister simulation root}
 * @param simulated true when the evidence was produced by Cloister's simulation issuer, never real hardware
 */
public record VerifiedEvidence(TeeType teeType, int version, TcbStatus tcbStatus, List<String> advisoryIds,
        Measurements measurements, byte[] reportData, Instant collateralIssued, Instant collateralNextUpdate,
        String rootUsed, boolean simulated) {
    public VerifiedEvidence {
        Objects.requireNonNull(teeType, "teeType");
        Objects.requireNonNull(tcbStatus, "tcbStatus");
        advisoryIds = List.copyOf(advisoryIds).stream().sorted().toList();
        Objects.requireNonNull(measurements, "measurements");
        if (measurements.teeType() != teeType) {
            throw new IllegalArgumentException("measurements are " + measurements.teeType() + ", evidence is " + teeType);
        }
        reportData = Bytes.copyOfLength(reportData, 64, "reportData");
        Objects.requireNonNull(collateralIssued, "collateralIssued");
        Objects.requireNonNull(collateralNextUpdate, "collateralNextUpdate");
        Objects.requireNonNull(rootUsed, "rootUsed");
    }

    @Override
    public byte[] reportData() {
        return reportData.clone();
    }
}
