package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Everything besides the quote that DCAP verification needs, in the QuoteCollateralV3 JSON layout (as used by
 * Phala's dcap-qvl and the project's test data): issuer chains as PEM, CRLs as hex DER, and the TCB Info and QE
 * Identity as the exact signed JSON text with hex r||s signatures. The signed text is kept verbatim: re-serializing
 * it would break the signature.
 *
 * @param pckCrlIssuerChain PEM chain of the PCK CRL issuer (PCK Processor/Platform CA, root)
 * @param rootCaCrl DER of the root CA CRL
 * @param pckCrl DER of the PCK CRL
 * @param tcbInfoIssuerChain PEM chain of the TCB Info signer (TCB Signing, root)
 * @param tcbInfo the exact {@code tcbInfo} JSON text that was signed
 * @param tcbInfoSignature 64 bytes r||s over {@code tcbInfo}
 * @param qeIdentityIssuerChain PEM chain of the QE Identity signer
 * @param qeIdentity the exact {@code enclaveIdentity} JSON text that was signed
 * @param qeIdentitySignature 64 bytes r||s over {@code qeIdentity}
 * @param pckCertificateChain optional PEM PCK chain (for quotes without one), or {@code null}
 */
public record Collateral(String pckCrlIssuerChain, byte[] rootCaCrl, byte[] pckCrl, String tcbInfoIssuerChain,
        String tcbInfo, byte[] tcbInfoSignature, String qeIdentityIssuerChain, String qeIdentity,
        byte[] qeIdentitySignature, String pckCertificateChain) {
    public Collateral {
        for (Object o : new Object[] {pckCrlIssuerChain, rootCaCrl, pckCrl, tcbInfoIssuerChain, tcbInfo,
                tcbInfoSignature, qeIdentityIssuerChain, qeIdentity, qeIdentitySignature}) {
            if (o == null) {
                throw new IllegalArgumentException("every collateral field except pckCertificateChain is required");
            }
        }
        rootCaCrl = rootCaCrl.clone();
        pckCrl = pckCrl.clone();
        tcbInfoSignature = tcbInfoSignature.clone();
        qeIdentitySignature = qeIdentitySignature.clone();
    }

    @Override public byte[] rootCaCrl() { return rootCaCrl.clone(); }
    @Override public byte[] pckCrl() { return pckCrl.clone(); }
    @Override public byte[] tcbInfoSignature() { return tcbInfoSignature.clone(); }
    @Override public byte[] qeIdentitySignature() { return qeIdentitySignature.clone(); }

    /** Parses QuoteCollateralV3 JSON. CRLs may be hex DER (the layout's form) or PEM. */
    public static Collateral parse(byte[] json) throws EvidenceException {
        if (json == null) {
            throw EvidenceException.malformed("collateral is missing");
        }
        String doc = "collateral";
        JsonNode o = Json.tree(new String(json, StandardCharsets.UTF_8), doc);
        return new Collateral(Json.str(o, "pck_crl_issuer_chain", doc), crl(Json.str(o, "root_ca_crl", doc),
                "collateral.root_ca_crl"), crl(Json.str(o, "pck_crl", doc), "collateral.pck_crl"),
                Json.str(o, "tcb_info_issuer_chain", doc), Json.str(o, "tcb_info", doc),
                Json.hexValue(Json.str(o, "tcb_info_signature", doc), "collateral.tcb_info_signature", 64),
                Json.str(o, "qe_identity_issuer_chain", doc), Json.str(o, "qe_identity", doc),
                Json.hexValue(Json.str(o, "qe_identity_signature", doc), "collateral.qe_identity_signature", 64),
                Json.optStr(o, "pck_certificate_chain", doc));
    }

    private static byte[] crl(String s, String field) throws EvidenceException {
        String t = s.strip();
        if (t.startsWith("-----BEGIN")) {
            int a = t.indexOf('\n');
            int z = t.indexOf("-----END");
            if (a < 0 || z < a) {
                throw EvidenceException.malformed(field + " is not a PEM CRL");
            }
            try {
                return Base64.getMimeDecoder().decode(t.substring(a, z));
            } catch (IllegalArgumentException e) {
                throw EvidenceException.malformed(field + " has invalid base64");
            }
        }
        return Json.hexValue(t, field, -1);
    }

    /** The QuoteCollateralV3 JSON (CRLs and signatures as lowercase hex). */
    public byte[] toBytes() {
        HexFormat hx = HexFormat.of();
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("pck_crl_issuer_chain", pckCrlIssuerChain);
        o.put("root_ca_crl", hx.formatHex(rootCaCrl));
        o.put("pck_crl", hx.formatHex(pckCrl));
        o.put("tcb_info_issuer_chain", tcbInfoIssuerChain);
        o.put("tcb_info", tcbInfo);
        o.put("tcb_info_signature", hx.formatHex(tcbInfoSignature));
        o.put("qe_identity_issuer_chain", qeIdentityIssuerChain);
        o.put("qe_identity", qeIdentity);
        o.put("qe_identity_signature", hx.formatHex(qeIdentitySignature));
        if (pckCertificateChain != null) {
            o.put("pck_certificate_chain", pckCertificateChain);
        }
        try {
            return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize collateral", e);
        }
    }
}
