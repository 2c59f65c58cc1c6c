package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;

/**
 * An SGX enclave report body (384 bytes): the body of SGX quotes and the format of the QE report. Reserved
 * regions are kept so that {@link #toBytes()} reproduces the input exactly (the bytes are signed).
 *
 * @param cpuSvn 16 bytes
 * @param miscSelect MISCSELECT
 * @param reserved1 12 bytes
 * @param isvExtProdId 16 bytes
 * @param attributes 16 bytes: flags (bit 1 DEBUG) then XFRM
 * @param mrEnclave 32 bytes
 * @param reserved2 32 bytes
 * @param mrSigner 32 bytes
 * @param reserved3 32 bytes
 * @param configId 64 bytes
 * @param isvProdId ISVPRODID
 * @param isvSvn ISVSVN
 * @param configSvn CONFIGSVN
 * @param reserved4 42 bytes
 * @param isvFamilyId 16 bytes
 * @param reportData 64 bytes
 */
public record EnclaveReport(byte[] cpuSvn, long miscSelect, byte[] reserved1, byte[] isvExtProdId, byte[] attributes,
        byte[] mrEnclave, byte[] reserved2, byte[] mrSigner, byte[] reserved3, byte[] configId, int isvProdId,
        int isvSvn, int configSvn, byte[] reserved4, byte[] isvFamilyId, byte[] reportData) implements ReportBody {
    /** Size of an enclave report in bytes. */
    public static final int SIZE = 384;

    public EnclaveReport {
        cpuSvn = Le.fixed(cpuSvn, 16, "cpuSvn");
        reserved1 = Le.fixed(reserved1, 12, "reserved1");
        isvExtProdId = Le.fixed(isvExtProdId, 16, "isvExtProdId");
        attributes = Le.fixed(attributes, 16, "attributes");
        mrEnclave = Le.fixed(mrEnclave, 32, "mrEnclave");
        reserved2 = Le.fixed(reserved2, 32, "reserved2");
        mrSigner = Le.fixed(mrSigner, 32, "mrSigner");
        reserved3 = Le.fixed(reserved3, 32, "reserved3");
        configId = Le.fixed(configId, 64, "configId");
        reserved4 = Le.fixed(reserved4, 42, "reserved4");
        isvFamilyId = Le.fixed(isvFamilyId, 16, "isvFamilyId");
        reportData = Le.fixed(reportData, 64, "reportData");
    }

    /** A report with the given identity and every other field zero (used by the simulator). */
    public static EnclaveReport of(byte[] cpuSvn, byte[] attributes, byte[] mrEnclave, byte[] mrSigner, int isvProdId,
            int isvSvn, byte[] reportData) {
        return new EnclaveReport(cpuSvn, 0, new byte[12], new byte[16], attributes, mrEnclave, new byte[32], mrSigner,
                new byte[32], new byte[64], isvProdId, isvSvn, 0, new byte[42], new byte[16], reportData);
    }

    @Override public byte[] cpuSvn() { return cpuSvn.clone(); }
    @Override public byte[] reserved1() { return reserved1.clone(); }
    @Override public byte[] isvExtProdId() { return isvExtProdId.clone(); }
    @Override public byte[] attributes() { return attributes.clone(); }
    @Override public byte[] mrEnclave() { return mrEnclave.clone(); }
    @Override public byte[] reserved2() { return reserved2.clone(); }
    @Override public byte[] mrSigner() { return mrSigner.clone(); }
    @Override public byte[] reserved3() { return reserved3.clone(); }
    @Override public byte[] configId() { return configId.clone(); }
    @Override public byte[] reserved4() { return reserved4.clone(); }
    @Override public byte[] isvFamilyId() { return isvFamilyId.clone(); }
    @Override public byte[] reportData() { return reportData.clone(); }

    /** The DEBUG bit of ATTRIBUTES. */
    public boolean debug() {
        return (attributes[0] & 0x02) != 0;
    }

    /** Parses exactly 384 bytes. */
    public static EnclaveReport parse(byte[] b) throws EvidenceException {
        Le.Reader r = new Le.Reader(b);
        EnclaveReport e = read(r, "report");
        r.expectEnd("enclave report");
        return e;
    }

    static EnclaveReport read(Le.Reader r, String f) throws EvidenceException {
        return new EnclaveReport(r.bytes(16, f + ".cpuSvn"), r.u32(f + ".miscSelect"), r.bytes(12, f + ".reserved1"),
                r.bytes(16, f + ".isvExtProdId"), r.bytes(16, f + ".attributes"), r.bytes(32, f + ".mrEnclave"),
                r.bytes(32, f + ".reserved2"), r.bytes(32, f + ".mrSigner"), r.bytes(32, f + ".reserved3"),
                r.bytes(64, f + ".configId"), r.u16(f + ".isvProdId"), r.u16(f + ".isvSvn"), r.u16(f + ".configSvn"),
                r.bytes(42, f + ".reserved4"), r.bytes(16, f + ".isvFamilyId"), r.bytes(64, f + ".reportData"));
    }

    @Override
    public byte[] toBytes() {
        return new Le.Writer().bytes(cpuSvn).u32(miscSelect).bytes(reserved1).bytes(isvExtProdId).bytes(attributes)
                .bytes(mrEnclave).bytes(reserved2).bytes(mrSigner).bytes(reserved3).bytes(configId).u16(isvProdId)
                .u16(isvSvn).u16(configSvn).bytes(reserved4).bytes(isvFamilyId).bytes(reportData).toBytes();
    }
}
