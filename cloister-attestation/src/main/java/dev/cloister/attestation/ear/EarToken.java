package dev.cloister.attestation.ear;

import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One EAT Attestation Result (draft-ietf-rats-ear) with one submodule, plus Cloister's extension claims. Immutable;
 * {@link EarSigner} turns it into an ES256 JWT and {@link EarVerifier} back. Times have second precision, as JWT
 * {@code iat}/{@code exp} do.
 *
 * @param issuedAt {@code iat}
 * @param expiresAt {@code exp}: relying parties must not use the result after it
 * @param verifierBuild {@code ear.verifier-id.build}
 * @param verifierDeveloper {@code ear.verifier-id.developer}
 * @param submod the submodule name (Cloister uses the TEE type, e.g. {@code SGX})
 * @param status {@code ear.status} of the submodule
 * @param trustVector {@code ear.trustworthiness-vector}
 * @param policyId {@code ear.appraisal-policy-id}
 * @param tee extension {@code cloister.tee}
 * @param tcbStatus extension {@code cloister.tcb-status} (Intel's spelling on the wire)
 * @param simulated extension {@code cloister.simulated}: evidence from Cloister's simulation issuer
 * @param measurements extension {@code cloister.measurements}: name to value (bytes as lowercase hex, numbers and
 *     booleans in decimal / {@code true}/{@code false})
 * @param reportDataHex extension {@code cloister.report-data}, 128 hex digits
 * @param advisoryIds extension {@code cloister.advisory-ids}
 */
public record EarToken(Instant issuedAt, Instant expiresAt, String verifierBuild, String verifierDeveloper,
        String submod, EarStatus status, TrustVector trustVector, String policyId, TeeType tee, TcbStatus tcbStatus,
        boolean simulated, Map<String, String> measurements, String reportDataHex, List<String> advisoryIds) {
    /** The {@code eat_profile} value of the EAR draft. */
    public static final String PROFILE = "tag:github.com,2023:veraison/ear";

    public EarToken {
        issuedAt = Instant.ofEpochSecond(Objects.requireNonNull(issuedAt, "issuedAt").getEpochSecond());
        expiresAt = Instant.ofEpochSecond(Objects.requireNonNull(expiresAt, "expiresAt").getEpochSecond());
        if (!expiresAt.isAfter(issuedAt)) {
            throw new IllegalArgumentException("exp must be after iat");
        }
        Objects.requireNonNull(verifierBuild, "verifierBuild");
        Objects.requireNonNull(verifierDeveloper, "verifierDeveloper");
        Objects.requireNonNull(submod, "submod");
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(trustVector, "trustVector");
        Objects.requireNonNull(policyId, "policyId");
        Objects.requireNonNull(tee, "tee");
        Objects.requireNonNull(tcbStatus, "tcbStatus");
        measurements = Map.copyOf(new TreeMap<>(measurements));
        if (!reportDataHex.matches("[0-9a-f]{128}")) {
            throw new IllegalArgumentException("report data must be 128 lowercase hex digits");
        }
        advisoryIds = List.copyOf(advisoryIds);
    }
}
