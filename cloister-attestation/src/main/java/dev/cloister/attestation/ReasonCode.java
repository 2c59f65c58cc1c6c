package dev.cloister.attestation;

/**
 * Why evidence was not accepted, as a stable machine-readable code. Every {@link EvidenceException} carries one
 * and every denying {@link Verdict} says {@link #POLICY_DENIED}; {@code cloister attest verify --json} prints it
 * as {@code reason}. The names are an interface for scripts: they are never renamed or reused for another
 * meaning (new codes may be added). docs/attestation.md has the table of what each code covers.
 */
public enum ReasonCode {
    /** The evidence, collateral or a certificate in it cannot be parsed, or is a format this verifier refuses. */
    MALFORMED,
    /** Collateral could not be fetched or is missing from the offline cache (an environment problem). */
    COLLATERAL_UNAVAILABLE,
    /** The quote header's QE vendor ID is not Intel's {@code 939A7233F79C4CA9940A0DB3957F0607}. */
    QE_VENDOR_ID_MISMATCH,
    /** A certificate chain ends in a root this verifier does not trust, or chains end in different roots. */
    UNTRUSTED_ROOT,
    /** A certificate chain is broken: a bad link signature, a CA flag, an issuer name, a CN, a product. */
    CERTIFICATE_CHAIN_INVALID,
    /** A certificate of the chain is listed in a CRL. */
    CERTIFICATE_REVOKED,
    /** A CRL, the TCB Info or the QE Identity carries an invalid signature or comes from the wrong issuer. */
    COLLATERAL_SIGNATURE_INVALID,
    /** A certificate, CRL, TCB Info or QE Identity is past its validity at the verification time. */
    COLLATERAL_EXPIRED,
    /** A certificate, CRL, TCB Info or QE Identity is not yet valid at the verification time. */
    COLLATERAL_NOT_YET_VALID,
    /** The collateral is for another platform or TEE: FMSPC, PCE-ID, TCB Info or QE Identity id/version. */
    COLLATERAL_MISMATCH,
    /** TDX: the TDX module's MRSIGNERSEAM or SEAMATTRIBUTES, or its identity, do not match the TCB Info. */
    TDX_MODULE_MISMATCH,
    /** The QE report's signature by the PCK key is invalid. */
    QE_REPORT_SIGNATURE_INVALID,
    /** The QE report's REPORTDATA does not bind the attestation key and QE authentication data. */
    QE_REPORT_DATA_MISMATCH,
    /** The QE is not the one the QE Identity describes (MISCSELECT, ATTRIBUTES, MRSIGNER, ISVPRODID). */
    QE_IDENTITY_MISMATCH,
    /** The attestation key is not a valid P-256 point. */
    ATTESTATION_KEY_INVALID,
    /** The quote's or SEV-SNP report's own signature is invalid. */
    SIGNATURE_INVALID,
    /** No TCB level of the TCB Info (or QE Identity, or TDX module identity) matches the platform. */
    TCB_NOT_SUPPORTED,
    /** The platform's, TDX module's or QE's TCB status is Revoked. */
    TCB_REVOKED,
    /** SEV-SNP: the report's REPORTED_TCB differs from the TCB its VCEK/VLEK was issued for. */
    REPORTED_TCB_MISMATCH,
    /** SEV-SNP: CHIP_ID differs from the VCEK's hwID. */
    CHIP_ID_MISMATCH,
    /** SEV-SNP: the report's SIGNING_KEY field does not match the kind of certificate given (VCEK or VLEK). */
    SIGNING_KEY_MISMATCH,
    /** The evidence verified, and the owner's policy denied it. */
    POLICY_DENIED
}
