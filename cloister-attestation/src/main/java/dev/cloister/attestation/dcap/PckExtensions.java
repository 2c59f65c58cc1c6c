package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1Enumerated;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.x509.Extension;

/**
 * The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): the platform's TCB, PCE-ID and FMSPC.
 *
 * @param ppid 16 bytes (may be absent in unusual certificates, then empty)
 * @param components the 16 SGX TCB component SVNs
 * @param pceSvn the PCE security version
 * @param cpuSvn 16 bytes, an opaque encoding not used for matching
 * @param pceId 2 bytes
 * @param fmspc 6 bytes, the platform family
 * @param sgxType 0 standard, 1 scalable, 2 scalable with integrity
 */
public record PckExtensions(byte[] ppid, int[] components, int pceSvn, byte[] cpuSvn, byte[] pceId, byte[] fmspc,
        int sgxType) {
    static final ASN1ObjectIdentifier SGX = new ASN1ObjectIdentifier("1.2.840.113741.1.13.1");

    public PckExtensions {
        components = components.clone();
    }

    @Override public int[] components() { return components.clone(); }
    @Override public byte[] fmspc() { return fmspc.clone(); }
    @Override public byte[] pceId() { return pceId.clone(); }
    @Override public byte[] ppid() { return ppid.clone(); }
    @Override public byte[] cpuSvn() { return cpuSvn.clone(); }

    int component(int i) {
        return components[i];
    }

    static PckExtensions of(Cert pck) throws EvidenceException {
        Extension ext = pck.extension(SGX);
        if (ext == null) {
            throw EvidenceException.malformed("PCK certificate has no SGX extension (1.2.840.113741.1.13.1)");
        }
        try {
            ASN1Sequence seq = ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(ext.getExtnValue().getOctets()));
            byte[] ppid = new byte[0];
            byte[] pceId = null;
            byte[] fmspc = null;
            int sgxType = 0;
            int[] comps = null;
            int pceSvn = -1;
            byte[] cpuSvn = new byte[16];
            for (ASN1Encodable e : seq) {
                ASN1Sequence kv = ASN1Sequence.getInstance(e);
                String oid = ASN1ObjectIdentifier.getInstance(kv.getObjectAt(0)).getId();
                ASN1Encodable v = kv.getObjectAt(1);
                switch (oid) {
                    case "1.2.840.113741.1.13.1.1" -> ppid = ASN1OctetString.getInstance(v).getOctets();
                    case "1.2.840.113741.1.13.1.3" -> pceId = ASN1OctetString.getInstance(v).getOctets();
                    case "1.2.840.113741.1.13.1.4" -> fmspc = ASN1OctetString.getInstance(v).getOctets();
                    case "1.2.840.113741.1.13.1.5" -> sgxType = ASN1Enumerated.getInstance(v).intValueExact();
                    case "1.2.840.113741.1.13.1.2" -> {
                        comps = new int[16];
                        boolean[] seen = new boolean[16];
                        for (ASN1Encodable t : ASN1Sequence.getInstance(v)) {
                            ASN1Sequence tkv = ASN1Sequence.getInstance(t);
                            String toid = ASN1ObjectIdentifier.getInstance(tkv.getObjectAt(0)).getId();
                            String prefix = "1.2.840.113741.1.13.1.2.";
                            if (!toid.startsWith(prefix)) {
                                continue;
                            }
                            int idx = Integer.parseInt(toid.substring(prefix.length()));
                            if (idx >= 1 && idx <= 16) {
                                comps[idx - 1] = ASN1Integer.getInstance(tkv.getObjectAt(1)).intValueExact();
                                seen[idx - 1] = true;
                            } else if (idx == 17) {
                                pceSvn = ASN1Integer.getInstance(tkv.getObjectAt(1)).intValueExact();
                            } else if (idx == 18) {
                                cpuSvn = ASN1OctetString.getInstance(tkv.getObjectAt(1)).getOctets();
                            }
                        }
                        for (boolean s : seen) {
                            if (!s) {
                                throw EvidenceException.malformed("PCK SGX extension lacks a TCB component SVN");
                            }
                        }
                    }
                    default -> { }
                }
            }
            if (comps == null || pceSvn < 0 || pceId == null || pceId.length != 2 || fmspc == null
                    || fmspc.length != 6) {
                throw EvidenceException.malformed("PCK SGX extension lacks TCB, PCESVN, PCE-ID or FMSPC");
            }
            return new PckExtensions(ppid, comps, pceSvn, cpuSvn, pceId, fmspc, sgxType);
        } catch (java.io.IOException | RuntimeException e) {
            throw EvidenceException.malformed("PCK SGX extension is malformed: " + e.getMessage());
        }
    }
}
