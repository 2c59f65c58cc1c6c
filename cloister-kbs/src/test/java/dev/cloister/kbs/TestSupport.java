package dev.cloister.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Simulated evidence for the broker's tests: an HMAC-authenticated JSON statement of SGX measurements, TCB status
 * and report data, and a verifier for it that behaves like DcapVerifier.withSimulation() (results are
 * simulated, collateral valid for 30 days, malformed input is BAD_INPUT, a bad MAC is DENIED).
 */
public final class TestSupport {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] KEY = "cloister kbs test evidence key (protects nothing)".getBytes(StandardCharsets.US_ASCII);
    private static final String MAGIC = "CLOISTER-TEST-EVIDENCE\n";

    private TestSupport() {}

    public static final byte[] MRENCLAVE = HexFormat.of().parseHex("11".repeat(32));
    public static final byte[] MRSIGNER = HexFormat.of().parseHex("22".repeat(32));

    public static SgxMeasurements good() {
        return sgx(MRENCLAVE, false, 3);
    }

    public static SgxMeasurements sgx(byte[] mrEnclave, boolean debug, int svn) {
        byte[] attrs = new byte[16];
        attrs[0] = (byte) (0x04 | (debug ? 0x02 : 0) | 0x01);
        return new SgxMeasurements(mrEnclave, MRSIGNER, 1, svn, attrs, debug);
    }

    /** The policy that accepts {@link #good()} as simulated evidence. */
    public static String allowPolicy() {
        return "E:" + HexFormat.of().formatHex(MRENCLAVE) + " S:" + HexFormat.of().formatHex(MRSIGNER)
                + " PROD:1 SVN:3 TCB:UpToDate SIM:ALLOW";
    }

    public static byte[][] quote(SgxMeasurements m, byte[] reportData, TcbStatus status, Instant at) {
        ObjectNode o = JSON.createObjectNode();
        o.put("mrEnclave", HexFormat.of().formatHex(m.mrEnclave()));
        o.put("mrSigner", HexFormat.of().formatHex(m.mrSigner()));
        o.put("prod", m.isvProdId());
        o.put("svn", m.isvSvn());
        o.put("attributes", HexFormat.of().formatHex(m.attributes()));
        o.put("debug", m.debug());
        o.put("tcb", status.intelName());
        o.put("reportData", HexFormat.of().formatHex(reportData));
        o.put("at", at.toString());
        byte[] body = (MAGIC + o).getBytes(StandardCharsets.UTF_8);
        byte[] mac = mac(body);
        byte[] q = Arrays.copyOf(body, body.length + 32);
        System.arraycopy(mac, 0, q, body.length, 32);
        return new byte[][] {q, null};
    }

    public static KbsClient.EvidenceSource source(SgxMeasurements m, TcbStatus status, Instant at) {
        return rd -> quote(m, rd, status, at);
    }

    public static EvidenceVerifier verifier() {
        return (evidence, collateral, at) -> {
            if (evidence.length < MAGIC.length() + 32
                    || !new String(evidence, 0, MAGIC.length(), StandardCharsets.UTF_8).equals(MAGIC)) {
                throw EvidenceException.malformed("not test evidence (bad magic)");
            }
            byte[] body = Arrays.copyOf(evidence, evidence.length - 32);
            byte[] mac = Arrays.copyOfRange(evidence, evidence.length - 32, evidence.length);
            JsonNode o;
            try {
                o = JSON.readTree(Arrays.copyOfRange(body, MAGIC.length(), body.length));
            } catch (IOException e) {
                throw EvidenceException.malformed("test evidence body is not JSON");
            }
            if (!MessageDigest.isEqual(mac(body), mac)) {
                throw EvidenceException.rejected("test evidence signature does not verify");
            }
            Instant issued = Instant.parse(o.get("at").asText());
            if (at.isAfter(issued.plus(Duration.ofDays(30)))) {
                throw EvidenceException.rejected("collateral expired");
            }
            var m = new SgxMeasurements(HexFormat.of().parseHex(o.get("mrEnclave").asText()),
                    HexFormat.of().parseHex(o.get("mrSigner").asText()), o.get("prod").asInt(), o.get("svn").asInt(),
                    HexFormat.of().parseHex(o.get("attributes").asText()), o.get("debug").asBoolean());
            return new VerifiedEvidence(TeeType.SGX, 3, TcbStatus.fromIntelName(o.get("tcb").asText()), List.of(), m,
                    HexFormat.of().parseHex(o.get("reportData").asText()), issued, issued.plus(Duration.ofDays(30)),
                    "Cloister simulation root", true);
        };
    }

    private static byte[] mac(byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(KEY, "HmacSHA256"));
            return mac.doFinal(body);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }
}
