package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;

/**
 * A TD report body: 1.0 (584 bytes) or 1.5 (648 bytes, adding TEE_TCB_SVN_2 and MRSERVICETD).
 *
 * @param teeTcbSvn 16 bytes; [0] module SVN, [1] module major version
 * @param mrSeam 48 bytes
 * @param mrSignerSeam 48 bytes, zero for Intel's modules
 * @param seamAttributes 8 bytes, must be zero
 * @param tdAttributes 8 bytes; bit 0 DEBUG
 * @param xfam 8 bytes
 * @param mrTd 48 bytes
 * @param mrConfigId 48 bytes
 * @param mrOwner 48 bytes
 * @param mrOwnerConfig 48 bytes
 * @param rtmr0 48 bytes
 * @param rtmr1 48 bytes
 * @param rtmr2 48 bytes
 * @param rtmr3 48 bytes
 * @param reportData 64 bytes
 * @param teeTcbSvn2 16 bytes in TD report 1.5, {@code null} in 1.0
 * @param mrServiceTd 48 bytes in TD report 1.5, {@code null} in 1.0
 */
public record TdReport(byte[] teeTcbSvn, byte[] mrSeam, byte[] mrSignerSeam, byte[] seamAttributes,
        byte[] tdAttributes, byte[] xfam, byte[] mrTd, byte[] mrConfigId, byte[] mrOwner, byte[] mrOwnerConfig,
        byte[] rtmr0, byte[] rtmr1, byte[] rtmr2, byte[] rtmr3, byte[] reportData, byte[] teeTcbSvn2,
        byte[] mrServiceTd) implements ReportBody {
    /** Size of a TD report 1.0. */
    public static final int SIZE_10 = 584;
    /** Size of a TD report 1.5. */
    public static final int SIZE_15 = 648;

    public TdReport {
        teeTcbSvn = Le.fixed(teeTcbSvn, 16, "teeTcbSvn");
        mrSeam = Le.fixed(mrSeam, 48, "mrSeam");
        mrSignerSeam = Le.fixed(mrSignerSeam, 48, "mrSignerSeam");
        seamAttributes = Le.fixed(seamAttributes, 8, "seamAttributes");
        tdAttributes = Le.fixed(tdAttributes, 8, "tdAttributes");
        xfam = Le.fixed(xfam, 8, "xfam");
        mrTd = Le.fixed(mrTd, 48, "mrTd");
        mrConfigId = Le.fixed(mrConfigId, 48, "mrConfigId");
        mrOwner = Le.fixed(mrOwner, 48, "mrOwner");
        mrOwnerConfig = Le.fixed(mrOwnerConfig, 48, "mrOwnerConfig");
        rtmr0 = Le.fixed(rtmr0, 48, "rtmr0");
        rtmr1 = Le.fixed(rtmr1, 48, "rtmr1");
        rtmr2 = Le.fixed(rtmr2, 48, "rtmr2");
        rtmr3 = Le.fixed(rtmr3, 48, "rtmr3");
        reportData = Le.fixed(reportData, 64, "reportData");
        if ((teeTcbSvn2 == null) != (mrServiceTd == null)) {
            throw new IllegalArgumentException("teeTcbSvn2 and mrServiceTd are both present (TD 1.5) or both absent");
        }
        if (teeTcbSvn2 != null) {
            teeTcbSvn2 = Le.fixed(teeTcbSvn2, 16, "teeTcbSvn2");
            mrServiceTd = Le.fixed(mrServiceTd, 48, "mrServiceTd");
        }
    }

    @Override public byte[] teeTcbSvn() { return teeTcbSvn.clone(); }
    @Override public byte[] mrSeam() { return mrSeam.clone(); }
    @Override public byte[] mrSignerSeam() { return mrSignerSeam.clone(); }
    @Override public byte[] seamAttributes() { return seamAttributes.clone(); }
    @Override public byte[] tdAttributes() { return tdAttributes.clone(); }
    @Override public byte[] xfam() { return xfam.clone(); }
    @Override public byte[] mrTd() { return mrTd.clone(); }
    @Override public byte[] mrConfigId() { return mrConfigId.clone(); }
    @Override public byte[] mrOwner() { return mrOwner.clone(); }
    @Override public byte[] mrOwnerConfig() { return mrOwnerConfig.clone(); }
    @Override public byte[] rtmr0() { return rtmr0.clone(); }
    @Override public byte[] rtmr1() { return rtmr1.clone(); }
    @Override public byte[] rtmr2() { return rtmr2.clone(); }
    @Override public byte[] rtmr3() { return rtmr3.clone(); }
    @Override public byte[] reportData() { return reportData.clone(); }
    @Override public byte[] teeTcbSvn2() { return teeTcbSvn2 == null ? null : teeTcbSvn2.clone(); }
    @Override public byte[] mrServiceTd() { return mrServiceTd == null ? null : mrServiceTd.clone(); }

    /** True for a TD report 1.5. */
    public boolean isV15() {
        return teeTcbSvn2 != null;
    }

    /** The DEBUG bit of TD_ATTRIBUTES. */
    public boolean debug() {
        return (tdAttributes[0] & 0x01) != 0;
    }

    /** Parses exactly 584 (1.0) or 648 (1.5) bytes. */
    public static TdReport parse(byte[] b) throws EvidenceException {
        if (b.length != SIZE_10 && b.length != SIZE_15) {
            throw EvidenceException.malformed("TD report must be 584 or 648 bytes, got " + b.length);
        }
        Le.Reader r = new Le.Reader(b);
        TdReport t = read(r, b.length == SIZE_15);
        r.expectEnd("TD report");
        return t;
    }

    static TdReport read(Le.Reader r, boolean v15) throws EvidenceException {
        String f = "tdReport";
        return new TdReport(r.bytes(16, f + ".teeTcbSvn"), r.bytes(48, f + ".mrSeam"), r.bytes(48, f + ".mrSignerSeam"),
                r.bytes(8, f + ".seamAttributes"), r.bytes(8, f + ".tdAttributes"), r.bytes(8, f + ".xfam"),
                r.bytes(48, f + ".mrTd"), r.bytes(48, f + ".mrConfigId"), r.bytes(48, f + ".mrOwner"),
                r.bytes(48, f + ".mrOwnerConfig"), r.bytes(48, f + ".rtmr0"), r.bytes(48, f + ".rtmr1"),
                r.bytes(48, f + ".rtmr2"), r.bytes(48, f + ".rtmr3"), r.bytes(64, f + ".reportData"),
                v15 ? r.bytes(16, f + ".teeTcbSvn2") : null, v15 ? r.bytes(48, f + ".mrServiceTd") : null);
    }

    @Override
    public byte[] toBytes() {
        Le.Writer w = new Le.Writer().bytes(teeTcbSvn).bytes(mrSeam).bytes(mrSignerSeam).bytes(seamAttributes)
                .bytes(tdAttributes).bytes(xfam).bytes(mrTd).bytes(mrConfigId).bytes(mrOwner).bytes(mrOwnerConfig)
                .bytes(rtmr0).bytes(rtmr1).bytes(rtmr2).bytes(rtmr3).bytes(reportData);
        if (teeTcbSvn2 != null) {
            w.bytes(teeTcbSvn2).bytes(mrServiceTd);
        }
        return w.toBytes();
    }
}
