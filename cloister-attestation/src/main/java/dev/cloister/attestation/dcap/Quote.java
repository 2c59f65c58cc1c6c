package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.TeeType;

/**
 * A DCAP ECDSA quote: SGX v3/v4/v5 or TDX v4/v5. Parsing follows the declared lengths and tolerates trailing bytes
 * after the signature data (real quotes are often padded to a buffer size); {@link #toBytes()} omits them.
 *
 * @param header the 48-byte header
 * @param bodyType 1 SGX enclave report, 2 TD report 1.0, 3 TD report 1.5 (the v5 descriptor, or implied)
 * @param body the attested report
 * @param signatureData signature, attestation key, QE report and PCK certification data
 */
public record Quote(QuoteHeader header, int bodyType, ReportBody body, EcdsaSignatureData signatureData) {
    /** Body type of an SGX enclave report. */
    public static final int BODY_SGX = 1;
    /** Body type of a TD report 1.0. */
    public static final int BODY_TD10 = 2;
    /** Body type of a TD report 1.5. */
    public static final int BODY_TD15 = 3;

    /** Upper bound on the declared signature data length: real ones are a few KiB. */
    static final long MAX_SIGNATURE_DATA = 1 << 20;

    public Quote {
        if (header == null || body == null || signatureData == null) {
            throw new IllegalArgumentException("header, body and signature data are required");
        }
        boolean sgxBody = body instanceof EnclaveReport;
        boolean ok = switch (bodyType) {
            case BODY_SGX -> sgxBody;
            case BODY_TD10 -> body instanceof TdReport t && !t.isV15();
            case BODY_TD15 -> body instanceof TdReport t && t.isV15();
            default -> false;
        };
        if (!ok) {
            throw new IllegalArgumentException("body type " + bodyType + " does not match the body");
        }
        if (header.version() < 5 && bodyType == BODY_TD15) {
            throw new IllegalArgumentException("TD report 1.5 needs a v5 quote");
        }
    }

    /** SGX or TDX, from the header's TEE type. */
    public TeeType teeType() {
        return header.teeType() == QuoteHeader.TEE_TDX ? TeeType.TDX : TeeType.SGX;
    }

    /** Number of bytes covered by the quote signature: header, descriptor (v5) and body. */
    public int signedLength() {
        return QuoteHeader.SIZE + (header.version() == 5 ? 6 : 0) + bodySize(bodyType);
    }

    static int bodySize(int bodyType) {
        return switch (bodyType) {
            case BODY_SGX -> EnclaveReport.SIZE;
            case BODY_TD10 -> TdReport.SIZE_10;
            default -> TdReport.SIZE_15;
        };
    }

    /**
     * Parses a quote.
     *
     * @throws EvidenceException {@code BAD_INPUT} naming the field when the bytes are not a supported quote
     */
    public static Quote parse(byte[] b) throws EvidenceException {
        if (b == null) {
            throw EvidenceException.malformed("quote is missing");
        }
        Le.Reader r = new Le.Reader(b);
        QuoteHeader h = QuoteHeader.read(r);
        int v = h.version();
        if (v < 3 || v > 5) {
            throw EvidenceException.malformed("unsupported quote version " + v + " (supported: 3, 4, 5)");
        }
        if (h.attestationKeyType() != QuoteHeader.KEY_ECDSA_P256) {
            throw EvidenceException.malformed("unsupported attestation key type " + h.attestationKeyType()
                    + " (supported: 2, ECDSA P-256)");
        }
        boolean tdx;
        if (h.teeType() == QuoteHeader.TEE_SGX) {
            tdx = false;
        } else if (h.teeType() == QuoteHeader.TEE_TDX) {
            tdx = true;
        } else {
            throw EvidenceException.malformed("unknown TEE type 0x" + Long.toHexString(h.teeType()));
        }
        if (v == 3 && tdx) {
            throw EvidenceException.malformed("a v3 quote must be SGX, TEE type is 0x81 (TDX)");
        }
        int bodyType;
        if (v == 5) {
            bodyType = r.u16("bodyDescriptor.type");
            long size = r.u32("bodyDescriptor.size");
            if (bodyType < 1 || bodyType > 3) {
                throw EvidenceException.malformed("unknown v5 body type " + bodyType);
            }
            if ((bodyType == BODY_SGX) == tdx) {
                throw EvidenceException.malformed("v5 body type " + bodyType + " does not fit TEE type "
                        + (tdx ? "TDX" : "SGX"));
            }
            if (size != bodySize(bodyType)) {
                throw EvidenceException.malformed("v5 body size " + size + " does not match body type " + bodyType
                        + " (" + bodySize(bodyType) + ")");
            }
        } else {
            bodyType = tdx ? BODY_TD10 : BODY_SGX;
        }
        ReportBody body = tdx ? TdReport.read(r, bodyType == BODY_TD15) : EnclaveReport.read(r, "body");
        long sigLen = r.u32("signatureData.size");
        if (sigLen > MAX_SIGNATURE_DATA) {
            throw EvidenceException.malformed("signatureData.size " + sigLen + " exceeds 1 MiB");
        }
        EcdsaSignatureData sig = EcdsaSignatureData.read(r.sub(sigLen, "signatureData"), v);
        return new Quote(h, bodyType, body, sig);
    }

    /** The quote's bytes without any trailing padding. */
    public byte[] toBytes() {
        Le.Writer w = new Le.Writer().bytes(header.toBytes());
        if (header.version() == 5) {
            w.u16(bodyType).u32(bodySize(bodyType));
        }
        byte[] sig = signatureData.toBytes(header.version());
        return w.bytes(body.toBytes()).u32(sig.length).bytes(sig).toBytes();
    }
}
