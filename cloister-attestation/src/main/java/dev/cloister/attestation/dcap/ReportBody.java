package dev.cloister.attestation.dcap;

/** The attested body of a quote: an SGX enclave report or a TD report. */
public sealed interface ReportBody permits EnclaveReport, TdReport {
    /** The body's bytes exactly as they appear in the quote. */
    byte[] toBytes();

    /** The 64 bytes of REPORTDATA the TEE bound into the report. */
    byte[] reportData();
}
