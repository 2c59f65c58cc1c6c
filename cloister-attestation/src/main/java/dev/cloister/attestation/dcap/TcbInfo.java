package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/**
 * Intel's TCB Info (the {@code tcbInfo} object of a PCS response): which TCB levels a platform family (FMSPC) has
 * and their status. Version 3 (SGX and TDX) and the older flat SGX version 2 are read.
 *
 * @param id "SGX" or "TDX" (version 2 has no id and is SGX)
 * @param version 2 or 3
 * @param issueDate when Intel issued it
 * @param nextUpdate when it lapses
 * @param fmspc 6 bytes
 * @param pceId 2 bytes
 * @param tcbType 0
 * @param tcbEvaluationDataNumber Intel's evaluation number
 * @param tdxModule the TDX module's expected signer and attributes (TDX only, else {@code null})
 * @param tdxModuleIdentities module identities by major version (TDX only)
 * @param tcbLevels levels in Intel's order (best first)
 */
public record TcbInfo(String id, int version, Instant issueDate, Instant nextUpdate, byte[] fmspc, byte[] pceId,
        int tcbType, int tcbEvaluationDataNumber, TdxModule tdxModule, List<TdxModuleIdentity> tdxModuleIdentities,
        List<TcbLevel> tcbLevels) {
    static final Set<String> STATUSES = Set.of("UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
            "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked");

    public TcbInfo {
        fmspc = Le.fixed(fmspc, 6, "fmspc");
        pceId = Le.fixed(pceId, 2, "pceId");
        tdxModuleIdentities = List.copyOf(tdxModuleIdentities);
        List<TcbLevel> sorted = new ArrayList<>(tcbLevels);
        sorted.sort(TcbLevel::compareDescending);
        tcbLevels = List.copyOf(sorted);
    }

    @Override public byte[] fmspc() { return fmspc.clone(); }
    @Override public byte[] pceId() { return pceId.clone(); }

    /**
     * The expected TDX module signer and attributes.
     *
     * @param mrSigner 48 bytes
     * @param attributes 8 bytes
     * @param attributesMask 8 bytes
     */
    public record TdxModule(byte[] mrSigner, byte[] attributes, byte[] attributesMask) {
        public TdxModule {
            mrSigner = Le.fixed(mrSigner, 48, "mrsigner");
            attributes = Le.fixed(attributes, 8, "attributes");
            attributesMask = Le.fixed(attributesMask, 8, "attributesMask");
        }

        @Override public byte[] mrSigner() { return mrSigner.clone(); }
        @Override public byte[] attributes() { return attributes.clone(); }
        @Override public byte[] attributesMask() { return attributesMask.clone(); }
    }

    /**
     * A TDX module identity ("TDX_01", "TDX_03", ...) with its own ISVSVN levels.
     *
     * @param id "TDX_%02X" of the module major version
     * @param module signer and attributes
     * @param tcbLevels levels, highest ISVSVN first
     */
    public record TdxModuleIdentity(String id, TdxModule module, List<EnclaveTcbLevel> tcbLevels) {
        public TdxModuleIdentity {
            List<EnclaveTcbLevel> l = new ArrayList<>(tcbLevels);
            l.sort((a, b) -> Integer.compare(b.isvSvn(), a.isvSvn()));
            tcbLevels = List.copyOf(l);
        }
    }

    static void checkStatus(String s, String field) throws EvidenceException {
        if (!STATUSES.contains(s)) {
            throw EvidenceException.malformed(field + " has unknown TCB status " + s);
        }
    }

    /** Parses the {@code tcbInfo} JSON text. */
    public static TcbInfo parse(String text) throws EvidenceException {
        String doc = "tcbInfo";
        JsonNode o = Json.tree(text, doc);
        int version = Json.integer(o, "version", doc, 2, 3);
        String id = version == 2 ? "SGX" : Json.str(o, "id", doc);
        if (!id.equals("SGX") && !id.equals("TDX")) {
            throw EvidenceException.malformed("tcbInfo.id must be SGX or TDX, got " + id);
        }
        boolean tdx = id.equals("TDX");
        TdxModule module = null;
        List<TdxModuleIdentity> identities = new ArrayList<>();
        if (tdx) {
            module = module(Json.node(o, "tdxModule", doc), doc + ".tdxModule");
            JsonNode ids = o.get("tdxModuleIdentities");
            if (ids != null && !ids.isNull()) {
                if (!ids.isArray()) {
                    throw EvidenceException.malformed("tcbInfo.tdxModuleIdentities must be an array");
                }
                for (JsonNode m : ids) {
                    String d = doc + ".tdxModuleIdentities";
                    List<EnclaveTcbLevel> levels = new ArrayList<>();
                    for (JsonNode l : Json.array(m, "tcbLevels", d)) {
                        levels.add(EnclaveTcbLevel.read(l, d + ".tcbLevels"));
                    }
                    identities.add(new TdxModuleIdentity(Json.str(m, "id", d), module(m, d), levels));
                }
            }
        }
        List<TcbLevel> levels = new ArrayList<>();
        for (JsonNode l : Json.array(o, "tcbLevels", doc)) {
            levels.add(level(l, version, tdx));
        }
        return new TcbInfo(id, version, Json.time(o, "issueDate", doc), Json.time(o, "nextUpdate", doc),
                Json.hex(o, "fmspc", doc, 6), Json.hex(o, "pceId", doc, 2),
                version == 3 ? Json.integer(o, "tcbType", doc, 0, 0) : 0,
                Json.integer(o, "tcbEvaluationDataNumber", doc, 0, Integer.MAX_VALUE), module, identities, levels);
    }

    private static TdxModule module(JsonNode m, String d) throws EvidenceException {
        return new TdxModule(Json.hex(m, "mrsigner", d, 48), Json.hex(m, "attributes", d, 8),
                Json.hex(m, "attributesMask", d, 8));
    }

    private static TcbLevel level(JsonNode l, int version, boolean tdx) throws EvidenceException {
        String d = "tcbInfo.tcbLevels";
        JsonNode tcb = Json.node(l, "tcb", d);
        int[] sgx = new int[16];
        int[] tdxc = null;
        if (version == 2) {
            for (int i = 0; i < 16; i++) {
                sgx[i] = Json.integer(tcb, String.format("sgxtcbcomp%02dsvn", i + 1), d + ".tcb", 0, 255);
            }
        } else {
            sgx = components(Json.array(tcb, "sgxtcbcomponents", d + ".tcb"), "SGX");
            if (tdx) {
                JsonNode t = tcb.get("tdxtcbcomponents");
                if (t == null || !t.isArray()) {
                    throw EvidenceException.malformed("TDX component count mismatch: tcbInfo level has no "
                            + "tdxtcbcomponents");
                }
                tdxc = components(t, "TDX");
            }
        }
        String status = Json.str(l, "tcbStatus", d);
        checkStatus(status, d + ".tcbStatus");
        return new TcbLevel(sgx, Json.integer(tcb, "pcesvn", d + ".tcb", 0, 0xffff), tdxc, Json.str(l, "tcbDate", d),
                status, Json.strings(l, "advisoryIDs", d));
    }

    private static int[] components(JsonNode a, String kind) throws EvidenceException {
        if (a.size() != 16) {
            throw EvidenceException.malformed(kind + " component count mismatch: tcbInfo level has " + a.size()
                    + ", expected 16");
        }
        int[] r = new int[16];
        for (int i = 0; i < 16; i++) {
            r[i] = Json.integer(a.get(i), "svn", "tcbInfo." + kind.toLowerCase() + "tcbcomponents[" + i + "]", 0, 255);
        }
        return r;
    }

    /** This TCB Info as compact version-3 JSON text (what the simulator signs). */
    public String toJson() {
        HexFormat hx = HexFormat.of().withUpperCase();
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("version", 3);
        o.put("issueDate", issueDate.toString());
        o.put("nextUpdate", nextUpdate.toString());
        o.put("fmspc", hx.formatHex(fmspc));
        o.put("pceId", hx.formatHex(pceId));
        o.put("tcbType", tcbType);
        o.put("tcbEvaluationDataNumber", tcbEvaluationDataNumber);
        if (tdxModule != null) {
            moduleJson(o.putObject("tdxModule"), tdxModule, hx);
            ArrayNode ids = o.putArray("tdxModuleIdentities");
            for (TdxModuleIdentity m : tdxModuleIdentities) {
                ObjectNode mo = ids.addObject();
                mo.put("id", m.id());
                moduleJson(mo, m.module(), hx);
                ArrayNode ls = mo.putArray("tcbLevels");
                m.tcbLevels().forEach(l -> ls.add(l.toJson()));
            }
        }
        ArrayNode levels = o.putArray("tcbLevels");
        for (TcbLevel l : tcbLevels) {
            ObjectNode lo = levels.addObject();
            ObjectNode tcb = lo.putObject("tcb");
            ArrayNode sgx = tcb.putArray("sgxtcbcomponents");
            for (int v : l.sgxComponents()) {
                sgx.addObject().put("svn", v);
            }
            tcb.put("pcesvn", l.pceSvn());
            if (l.hasTdx()) {
                ArrayNode t = tcb.putArray("tdxtcbcomponents");
                for (int v : l.tdxComponents()) {
                    t.addObject().put("svn", v);
                }
            }
            lo.put("tcbDate", l.tcbDate());
            lo.put("tcbStatus", l.tcbStatus());
            if (!l.advisoryIds().isEmpty()) {
                l.advisoryIds().forEach(lo.putArray("advisoryIDs")::add);
            }
        }
        return o.toString();
    }

    private static void moduleJson(ObjectNode o, TdxModule m, HexFormat hx) {
        o.put("mrsigner", hx.formatHex(m.mrSigner()));
        o.put("attributes", hx.formatHex(m.attributes()));
        o.put("attributesMask", hx.formatHex(m.attributesMask()));
    }
}
