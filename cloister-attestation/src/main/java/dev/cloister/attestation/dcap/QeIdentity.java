package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Intel's QE Identity (the {@code enclaveIdentity} object): what a genuine Quoting Enclave's report looks like and
 * the status of each QE ISVSVN.
 *
 * @param id "QE" (SGX), "TD_QE" (TDX) or "QVE"
 * @param version 2
 * @param issueDate when Intel issued it
 * @param nextUpdate when it lapses
 * @param tcbEvaluationDataNumber Intel's evaluation number
 * @param miscSelect expected MISCSELECT after masking
 * @param miscSelectMask mask for MISCSELECT
 * @param attributes 16 bytes expected ATTRIBUTES after masking
 * @param attributesMask 16 bytes
 * @param mrSigner 32 bytes
 * @param isvProdId expected ISVPRODID
 * @param tcbLevels levels, highest ISVSVN first
 */
public record QeIdentity(String id, int version, Instant issueDate, Instant nextUpdate, int tcbEvaluationDataNumber,
        long miscSelect, long miscSelectMask, byte[] attributes, byte[] attributesMask, byte[] mrSigner, int isvProdId,
        List<EnclaveTcbLevel> tcbLevels) {
    public QeIdentity {
        attributes = Le.fixed(attributes, 16, "attributes");
        attributesMask = Le.fixed(attributesMask, 16, "attributesMask");
        mrSigner = Le.fixed(mrSigner, 32, "mrsigner");
        List<EnclaveTcbLevel> l = new ArrayList<>(tcbLevels);
        l.sort((a, b) -> Integer.compare(b.isvSvn(), a.isvSvn()));
        tcbLevels = List.copyOf(l);
    }

    @Override public byte[] attributes() { return attributes.clone(); }
    @Override public byte[] attributesMask() { return attributesMask.clone(); }
    @Override public byte[] mrSigner() { return mrSigner.clone(); }

    /** Parses the {@code enclaveIdentity} JSON text. */
    public static QeIdentity parse(String text) throws EvidenceException {
        String doc = "qeIdentity";
        JsonNode o = Json.tree(text, doc);
        List<EnclaveTcbLevel> levels = new ArrayList<>();
        for (JsonNode l : Json.array(o, "tcbLevels", doc)) {
            levels.add(EnclaveTcbLevel.read(l, doc + ".tcbLevels"));
        }
        return new QeIdentity(Json.str(o, "id", doc), Json.integer(o, "version", doc, 1, 2),
                Json.time(o, "issueDate", doc), Json.time(o, "nextUpdate", doc),
                Json.integer(o, "tcbEvaluationDataNumber", doc, 0, Integer.MAX_VALUE), u32(o, "miscselect"),
                u32(o, "miscselectMask"), Json.hex(o, "attributes", doc, 16), Json.hex(o, "attributesMask", doc, 16),
                Json.hex(o, "mrsigner", doc, 32), Json.integer(o, "isvprodid", doc, 0, 0xffff), levels);
    }

    private static long u32(JsonNode o, String f) throws EvidenceException {
        byte[] b = Json.hex(o, f, "qeIdentity", 4);
        // Intel writes MISCSELECT as the big-endian hex of the 32-bit value
        return (b[0] & 0xffL) << 24 | (b[1] & 0xffL) << 16 | (b[2] & 0xffL) << 8 | (b[3] & 0xffL);
    }

    /** This identity as compact JSON text (what the simulator signs). */
    public String toJson() {
        HexFormat hx = HexFormat.of().withUpperCase();
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("version", version);
        o.put("issueDate", issueDate.toString());
        o.put("nextUpdate", nextUpdate.toString());
        o.put("tcbEvaluationDataNumber", tcbEvaluationDataNumber);
        o.put("miscselect", String.format("%08X", miscSelect));
        o.put("miscselectMask", String.format("%08X", miscSelectMask));
        o.put("attributes", hx.formatHex(attributes));
        o.put("attributesMask", hx.formatHex(attributesMask));
        o.put("mrsigner", hx.formatHex(mrSigner));
        o.put("isvprodid", isvProdId);
        ArrayNode ls = o.putArray("tcbLevels");
        tcbLevels.forEach(l -> ls.add(l.toJson()));
        return o.toString();
    }
}
