package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;

/**
 * The Quoting Enclave's part of the signature data: its report, the PCK's signature over that report, the QE
 * authentication data, and the certification data that leads to the PCK (type 5 in every quote verified here).
 *
 * @param qeReport the QE's enclave report; REPORTDATA[0..32] = SHA-256(attestation key || QE auth data)
 * @param qeReportSignature 64 bytes r||s, by the PCK key over the 384-byte QE report
 * @param qeAuthData authentication data, up to 65535 bytes
 * @param certificationData the inner certification data
 */
public record QeReportCertificationData(EnclaveReport qeReport, byte[] qeReportSignature, byte[] qeAuthData,
        CertificationData certificationData) {
    public QeReportCertificationData {
        qeReportSignature = Le.fixed(qeReportSignature, 64, "qeReportSignature");
        if (qeAuthData == null || qeAuthData.length > 0xffff) {
            throw new IllegalArgumentException("qeAuthData must be present and at most 65535 bytes");
        }
        qeAuthData = qeAuthData.clone();
    }

    @Override public byte[] qeReportSignature() { return qeReportSignature.clone(); }
    @Override public byte[] qeAuthData() { return qeAuthData.clone(); }

    /** Parses exactly the bytes given (the payload of a type-6 certification data). */
    public static QeReportCertificationData parse(byte[] b) throws EvidenceException {
        Le.Reader r = new Le.Reader(b);
        QeReportCertificationData q = read(r);
        r.expectEnd("QE report certification data");
        return q;
    }

    static QeReportCertificationData read(Le.Reader r) throws EvidenceException {
        EnclaveReport report = EnclaveReport.read(r, "qeReport");
        byte[] sig = r.bytes(64, "qeReportSignature");
        int authLen = r.u16("qeAuthData.size");
        byte[] auth = r.bytes(authLen, "qeAuthData");
        CertificationData cert = CertificationData.read(r, "pckCertificationData");
        return new QeReportCertificationData(report, sig, auth, cert);
    }

    public byte[] toBytes() {
        return new Le.Writer().bytes(qeReport.toBytes()).bytes(qeReportSignature).u16(qeAuthData.length)
                .bytes(qeAuthData).bytes(certificationData.toBytes()).toBytes();
    }
}
