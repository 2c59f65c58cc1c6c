package dev.cloister.attestation;

/** The kind of trusted execution environment a piece of evidence comes from. */
public enum TeeType {
    /** Intel SGX enclave, evidence is a DCAP quote (v3 or v4). */
    SGX,
    /** Intel TDX trust domain, evidence is a DCAP quote (v4 or v5). */
    TDX,
    /** AMD SEV-SNP guest, evidence is an attestation report. */
    SEV_SNP
}
