package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import java.nio.charset.StandardCharsets;

/**
 * Certification data: a {@code u16} type, a {@code u32} size and the data. Type 5 carries the PCK certificate chain
 * (PEM); type 6 wraps the QE report in v4/v5 quotes. Other types (PPID forms, bare PCK leaf, platform manifest)
 * cannot be verified offline and are rejected where a chain is needed.
 *
 * @param type certification data type, 1 to 7
 * @param data the payload
 */
public record CertificationData(int type, byte[] data) {
    /** PCK certificate chain, PEM. */
    public static final int PCK_CHAIN = 5;
    /** QE report certification data (v4 and later). */
    public static final int QE_REPORT = 6;

    public CertificationData {
        if (data == null) {
            throw new IllegalArgumentException("certification data is missing");
        }
        data = data.clone();
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    /** The PEM text of the PCK chain; only for type 5. */
    public String pckChainPem() throws EvidenceException {
        if (type != PCK_CHAIN) {
            throw EvidenceException.malformed("certification data type " + type + " (" + typeName(type)
                    + ") is not supported: only type 5 (PCK certificate chain) can be verified, or another type "
                    + "with a pck_certificate_chain in the collateral");
        }
        return new String(data, StandardCharsets.US_ASCII);
    }

    static String typeName(int type) {
        return switch (type) {
            case 1 -> "PPID in clear text";
            case 2 -> "PPID encrypted with RSA-2048-OAEP";
            case 3 -> "PPID encrypted with RSA-3072-OAEP";
            case 4 -> "PCK leaf certificate";
            case 5 -> "PCK certificate chain";
            case 6 -> "QE report certification data";
            case 7 -> "platform manifest";
            default -> "unknown";
        };
    }

    /** Parses exactly one certification data structure covering all of {@code b}. */
    public static CertificationData parse(byte[] b) throws EvidenceException {
        Le.Reader r = new Le.Reader(b);
        CertificationData c = read(r, "certificationData");
        r.expectEnd("certification data");
        return c;
    }

    static CertificationData read(Le.Reader r, String f) throws EvidenceException {
        int type = r.u16(f + ".type");
        long size = r.u32(f + ".size");
        if (type < 1 || type > 7) {
            throw EvidenceException.malformed(f + ".type " + type + " is not a defined certification data type");
        }
        return new CertificationData(type, r.bytes(checkedSize(size, r, f), f + ".data"));
    }

    private static int checkedSize(long size, Le.Reader r, String f) throws EvidenceException {
        if (size > r.remaining()) {
            throw EvidenceException.malformed(f + ".size " + size + " exceeds the " + r.remaining() + " bytes left");
        }
        return (int) size;
    }

    public byte[] toBytes() {
        return new Le.Writer().u16(type).u32(data.length).bytes(data).toBytes();
    }
}
