package dev.cloister.kbs.gramine;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The evidence in a Gramine RA-TLS certificate (docs: Gramine reference section 4.1) and the report data it must
 * carry. The TCG DICE tagged-evidence extension (OID 2.23.133.5.4.9, Gramine 1.8+) is preferred; the legacy
 * extension is read under the OID Gramine actually emits, 0.6.9.42.840.113741.1337.6 (the intended
 * 1.2.840.113741.1337.6 encoded with its tag and length as content).
 *
 * @param quote the SGX quote
 * @param expectedReportData the 64 bytes the quote must carry: SHA-256 of the claims (TCG) or of the
 *     SubjectPublicKeyInfo (legacy), then 32 zero bytes
 * @param tcg true when taken from the TCG extension
 */
public record RaTlsCertificate(byte[] quote, byte[] expectedReportData, boolean tcg) {
    /** The TCG DICE tagged-evidence OID. */
    public static final String TCG_OID = "2.23.133.5.4.9";
    /** The legacy Gramine quote OID as it appears on the wire. */
    public static final String LEGACY_OID = "0.6.9.42.840.113741.1337.6";
    /** CBOR tag of TCG tagged evidence. */
    public static final long CBOR_TAG = 60000;
    /** Largest evidence Gramine's own verifier accepts. */
    public static final int MAX_EVIDENCE = 8192;

    /**
     * Extracts the evidence; checks the key type, the CBOR shape and the public-key hash claim.
     *
     * @throws RaTlsException naming what is wrong
     */
    public static RaTlsCertificate parse(X509Certificate cert) throws RaTlsException {
        if (!(cert.getPublicKey() instanceof ECPublicKey ec)) {
            throw new RaTlsException("RA-TLS key must be EC P-256 or P-384, got " + cert.getPublicKey().getAlgorithm());
        }
        int bits = ec.getParams().getCurve().getField().getFieldSize();
        if (bits != 256 && bits != 384) {
            throw new RaTlsException("RA-TLS key must be EC P-256 or P-384, got a " + bits + "-bit curve");
        }
        byte[] spki = cert.getPublicKey().getEncoded();
        byte[] tcg = extension(cert, TCG_OID);
        if (tcg != null) {
            return parseTcg(tcg, spki);
        }
        byte[] legacy = extension(cert, LEGACY_OID);
        if (legacy != null) {
            return new RaTlsCertificate(legacy, pad(sha256(spki)), false);
        }
        throw new RaTlsException("certificate has neither the TCG evidence extension " + TCG_OID
                + " nor the legacy Gramine quote extension");
    }

    private static RaTlsCertificate parseTcg(byte[] cbor, byte[] spki) throws RaTlsException {
        if (cbor.length > MAX_EVIDENCE) {
            throw new RaTlsException("TCG evidence is " + cbor.length + " bytes, above Gramine's limit " + MAX_EVIDENCE);
        }
        Object top = Cbor.decode(cbor);
        if (!(top instanceof Cbor.Tagged t) || t.tag() != CBOR_TAG) {
            throw new RaTlsException("TCG evidence is not CBOR tag " + CBOR_TAG);
        }
        if (!(t.value() instanceof List<?> arr) || arr.size() != 2 || !(arr.get(0) instanceof byte[] quote)
                || !(arr.get(1) instanceof byte[] claimsBytes)) {
            throw new RaTlsException("TCG evidence is not [bstr quote, bstr claims]");
        }
        if (!(Cbor.decode(claimsBytes) instanceof Map<?, ?> claims)) {
            throw new RaTlsException("TCG claims are not a CBOR map");
        }
        Object ph = claims.get("pubkey-hash");
        if (!(ph instanceof byte[] entryBytes)) {
            throw new RaTlsException("TCG claims have no pubkey-hash byte string");
        }
        if (!(Cbor.decode(entryBytes) instanceof List<?> entry) || entry.size() != 2
                || !(entry.get(0) instanceof Long alg) || !(entry.get(1) instanceof byte[] hash)) {
            throw new RaTlsException("pubkey-hash is not [uint alg, bstr hash]");
        }
        String algName = switch (alg.intValue()) {
            case 1 -> "SHA-256";
            case 7 -> "SHA-384";
            case 8 -> "SHA-512";
            default -> throw new RaTlsException("pubkey-hash algorithm " + alg + " is not 1, 7 or 8");
        };
        if (!MessageDigest.isEqual(digest(algName, spki), hash)) {
            throw new RaTlsException("pubkey-hash claim does not match the certificate's public key");
        }
        return new RaTlsCertificate(quote, pad(sha256(claimsBytes)), true);
    }

    /** The extension's content (one OCTET STRING unwrapped), or null. */
    static byte[] extension(X509Certificate cert, String oid) throws RaTlsException {
        byte[] der = cert.getExtensionValue(oid);
        if (der == null) {
            return null;
        }
        // DER OCTET STRING: tag 04, then a short or long-form length.
        if (der.length < 2 || der[0] != 0x04) {
            throw new RaTlsException("extension " + oid + " is not an OCTET STRING");
        }
        int len;
        int off;
        int l0 = der[1] & 0xff;
        if (l0 < 0x80) {
            len = l0;
            off = 2;
        } else {
            int n = l0 & 0x7f;
            if (n < 1 || n > 3 || der.length < 2 + n) {
                throw new RaTlsException("extension " + oid + " has a bad length");
            }
            len = 0;
            for (int i = 0; i < n; i++) {
                len = (len << 8) | (der[2 + i] & 0xff);
            }
            off = 2 + n;
        }
        if (off + len != der.length) {
            throw new RaTlsException("extension " + oid + " length " + len + " does not match its " + (der.length - off)
                    + " bytes");
        }
        return Arrays.copyOfRange(der, off, der.length);
    }

    static byte[] pad(byte[] h32) {
        return Arrays.copyOf(h32, 64);
    }

    static byte[] sha256(byte[] b) {
        return digest("SHA-256", b);
    }

    private static byte[] digest(String alg, byte[] b) {
        try {
            return MessageDigest.getInstance(alg).digest(b);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
