package dev.cloister.attestation;

/**
 * The identity of a TDX trust domain from its TD report.
 *
 * @param mrTd 48-byte measurement of the initial TD contents
 * @param rtmr0 48-byte runtime measurement register 0 (firmware)
 * @param rtmr1 48-byte RTMR1 (OS loader, kernel)
 * @param rtmr2 48-byte RTMR2 (OS, applications)
 * @param rtmr3 48-byte RTMR3 (workload-defined)
 * @param mrConfigId 48-byte configuration id set by the host
 * @param mrOwner 48-byte owner id set by the host
 * @param mrServiceTd 48-byte MR_SERVICETD (all zero in TD report 1.0)
 * @param tdAttributes 8-byte TD_ATTRIBUTES
 * @param teeTcbSvn 16-byte TEE_TCB_SVN
 * @param debug the DEBUG bit of the TD attributes
 */
public record TdxMeasurements(byte[] mrTd, byte[] rtmr0, byte[] rtmr1, byte[] rtmr2, byte[] rtmr3, byte[] mrConfigId,
        byte[] mrOwner, byte[] mrServiceTd, byte[] tdAttributes, byte[] teeTcbSvn, boolean debug)
        implements Measurements {
    public TdxMeasurements {
        mrTd = Bytes.copyOfLength(mrTd, 48, "mrTd");
        rtmr0 = Bytes.copyOfLength(rtmr0, 48, "rtmr0");
        rtmr1 = Bytes.copyOfLength(rtmr1, 48, "rtmr1");
        rtmr2 = Bytes.copyOfLength(rtmr2, 48, "rtmr2");
        rtmr3 = Bytes.copyOfLength(rtmr3, 48, "rtmr3");
        mrConfigId = Bytes.copyOfLength(mrConfigId, 48, "mrConfigId");
        mrOwner = Bytes.copyOfLength(mrOwner, 48, "mrOwner");
        mrServiceTd = Bytes.copyOfLength(mrServiceTd, 48, "mrServiceTd");
        tdAttributes = Bytes.copyOfLength(tdAttributes, 8, "tdAttributes");
        teeTcbSvn = Bytes.copyOfLength(teeTcbSvn, 16, "teeTcbSvn");
    }

    @Override public byte[] mrTd() { return mrTd.clone(); }
    @Override public byte[] rtmr0() { return rtmr0.clone(); }
    @Override public byte[] rtmr1() { return rtmr1.clone(); }
    @Override public byte[] rtmr2() { return rtmr2.clone(); }
    @Override public byte[] rtmr3() { return rtmr3.clone(); }
    @Override public byte[] mrConfigId() { return mrConfigId.clone(); }
    @Override public byte[] mrOwner() { return mrOwner.clone(); }
    @Override public byte[] mrServiceTd() { return mrServiceTd.clone(); }
    @Override public byte[] tdAttributes() { return tdAttributes.clone(); }
    @Override public byte[] teeTcbSvn() { return teeTcbSvn.clone(); }

    @Override
    public TeeType teeType() {
        return TeeType.TDX;
    }
}
