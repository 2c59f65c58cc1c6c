package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;

/**
 * The ECDSA P-256 signature data that follows the body. Version 3 lays the QE parts out directly; versions 4 and
 * 5 wrap them in certification data of type 6. Both decode to the same record; {@link #toBytes(int)} re-encodes
 * for a given quote version.
 *
 * @param signature 64 bytes r||s by the attestation key over header (+ descriptor) + body
 * @param attestationKey 64 bytes x||y of the P-256 attestation key
 * @param qe the QE report, its signature, auth data and PCK certification data
 */
public record EcdsaSignatureData(byte[] signature, byte[] attestationKey, QeReportCertificationData qe) {
    public EcdsaSignatureData {
        signature = Le.fixed(signature, 64, "signature");
        attestationKey = Le.fixed(attestationKey, 64, "attestationKey");
    }

    @Override public byte[] signature() { return signature.clone(); }
    @Override public byte[] attestationKey() { return attestationKey.clone(); }

    /** Parses exactly {@code b} as the signature data of a quote of {@code version}. */
    public static EcdsaSignatureData parse(byte[] b, int version) throws EvidenceException {
        return read(new Le.Reader(b), version);
    }

    static EcdsaSignatureData read(Le.Reader r, int version) throws EvidenceException {
        byte[] sig = r.bytes(64, "signatureData.signature");
        byte[] key = r.bytes(64, "signatureData.attestationKey");
        QeReportCertificationData qe;
        if (version == 3) {
            qe = QeReportCertificationData.read(r);
        } else {
            int type = r.u16("signatureData.certificationData.type");
            if (type != CertificationData.QE_REPORT) {
                throw EvidenceException.malformed("signatureData.certificationData.type is " + type + " ("
                        + CertificationData.typeName(type) + "); a v" + version
                        + " quote needs type 6 (QE report certification data)");
            }
            long size = r.u32("signatureData.certificationData.size");
            Le.Reader inner = r.sub(size, "signatureData.certificationData.data");
            qe = QeReportCertificationData.read(inner);
            inner.expectEnd("QE report certification data");
        }
        r.expectEnd("signature data");
        return new EcdsaSignatureData(sig, key, qe);
    }

    /** Encodes for a quote of {@code version} (3: flat; 4 and 5: wrapped in type 6). */
    public byte[] toBytes(int version) {
        Le.Writer w = new Le.Writer().bytes(signature).bytes(attestationKey);
        byte[] qeBytes = qe.toBytes();
        if (version == 3) {
            w.bytes(qeBytes);
        } else {
            w.u16(CertificationData.QE_REPORT).u32(qeBytes.length).bytes(qeBytes);
        }
        return w.toBytes();
    }
}
