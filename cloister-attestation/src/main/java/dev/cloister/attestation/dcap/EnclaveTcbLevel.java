package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import java.util.List;

/**
 * A TCB level of an enclave identity (QE Identity, TDX module identity): an ISVSVN threshold and its status.
 *
 * @param isvSvn the level applies to reports with ISVSVN at least this
 * @param tcbDate Intel's date string for the level
 * @param tcbStatus status name as Intel spells it (UpToDate, OutOfDate, Revoked)
 * @param advisoryIds advisories of this level
 */
public record EnclaveTcbLevel(int isvSvn, String tcbDate, String tcbStatus, List<String> advisoryIds) {
    public EnclaveTcbLevel {
        advisoryIds = List.copyOf(advisoryIds);
    }

    static EnclaveTcbLevel read(JsonNode n, String doc) throws EvidenceException {
        JsonNode tcb = Json.node(n, "tcb", doc);
        String status = Json.str(n, "tcbStatus", doc);
        TcbInfo.checkStatus(status, doc + ".tcbStatus");
        return new EnclaveTcbLevel(Json.integer(tcb, "isvsvn", doc + ".tcb", 0, 0xffff), Json.str(n, "tcbDate", doc),
                status, Json.strings(n, "advisoryIDs", doc));
    }

    ObjectNode toJson() {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.putObject("tcb").put("isvsvn", isvSvn);
        o.put("tcbDate", tcbDate);
        o.put("tcbStatus", tcbStatus);
        if (!advisoryIds.isEmpty()) {
            advisoryIds.forEach(o.putArray("advisoryIDs")::add);
        }
        return o;
    }
}
