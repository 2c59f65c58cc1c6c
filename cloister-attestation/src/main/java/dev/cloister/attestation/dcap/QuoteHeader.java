package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;

/**
 * The 48-byte header every DCAP quote starts with.
 *
 * @param version 3 (SGX), 4 (TDX 1.0 or generic) or 5 (with a body descriptor)
 * @param attestationKeyType 2 for ECDSA P-256, the only type verified here
 * @param teeType 0 for SGX, 0x81 for TDX (reserved, zero, in v3)
 * @param qeSvn QE security version (v3; reserved later)
 * @param pceSvn PCE security version (v3; reserved later)
 * @param qeVendorId 16 bytes, Intel's QE vendor id in every real quote
 * @param userData 20 bytes; the first 16 identify the platform to the QE
 */
public record QuoteHeader(int version, int attestationKeyType, long teeType, int qeSvn, int pceSvn, byte[] qeVendorId,
        byte[] userData) {
    /** Size of the header in bytes. */
    public static final int SIZE = 48;
    /** TEE type of SGX enclaves. */
    public static final long TEE_SGX = 0;
    /** TEE type of TDX trust domains. */
    public static final long TEE_TDX = 0x81;
    /** ECDSA with P-256, the attestation key type of every DCAP quote verified here. */
    public static final int KEY_ECDSA_P256 = 2;

    public QuoteHeader {
        qeVendorId = Le.fixed(qeVendorId, 16, "qeVendorId");
        userData = Le.fixed(userData, 20, "userData");
    }

    @Override public byte[] qeVendorId() { return qeVendorId.clone(); }
    @Override public byte[] userData() { return userData.clone(); }

    /** Parses the first 48 bytes of {@code quote}. */
    public static QuoteHeader parse(byte[] quote) throws EvidenceException {
        return read(new Le.Reader(quote));
    }

    static QuoteHeader read(Le.Reader r) throws EvidenceException {
        return new QuoteHeader(r.u16("header.version"), r.u16("header.attestationKeyType"), r.u32("header.teeType"),
                r.u16("header.qeSvn"), r.u16("header.pceSvn"), r.bytes(16, "header.qeVendorId"),
                r.bytes(20, "header.userData"));
    }

    public byte[] toBytes() {
        return new Le.Writer().u16(version).u16(attestationKeyType).u32(teeType).u16(qeSvn).u16(pceSvn)
                .bytes(qeVendorId).bytes(userData).toBytes();
    }
}
