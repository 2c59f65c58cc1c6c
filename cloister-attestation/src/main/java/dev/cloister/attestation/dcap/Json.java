package dev.cloister.attestation.dcap;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.attestation.EvidenceException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Strict field access on Jackson trees; every error names the document and field. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Json() {}

    static JsonNode tree(String text, String doc) throws EvidenceException {
        try {
            JsonNode n = MAPPER.readTree(text);
            if (n == null || !n.isObject()) {
                throw EvidenceException.malformed(doc + " is not a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw EvidenceException.malformed(doc + " is not valid JSON: " + e.getOriginalMessage());
        }
    }

    static JsonNode node(JsonNode o, String f, String doc) throws EvidenceException {
        JsonNode n = o.get(f);
        if (n == null || n.isNull()) {
            throw EvidenceException.malformed(doc + "." + f + " is missing");
        }
        return n;
    }

    static String str(JsonNode o, String f, String doc) throws EvidenceException {
        JsonNode n = node(o, f, doc);
        if (!n.isTextual()) {
            throw EvidenceException.malformed(doc + "." + f + " must be a string");
        }
        return n.textValue();
    }

    static String optStr(JsonNode o, String f, String doc) throws EvidenceException {
        JsonNode n = o.get(f);
        return n == null || n.isNull() ? null : str(o, f, doc);
    }

    static int integer(JsonNode o, String f, String doc, int min, int max) throws EvidenceException {
        JsonNode n = node(o, f, doc);
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < min || n.intValue() > max) {
            throw EvidenceException.malformed(doc + "." + f + " must be an integer in [" + min + ", " + max + "], got "
                    + n);
        }
        return n.intValue();
    }

    static byte[] hex(JsonNode o, String f, String doc, int len) throws EvidenceException {
        String s = str(o, f, doc);
        return hexValue(s, doc + "." + f, len);
    }

    static byte[] hexValue(String s, String field, int len) throws EvidenceException {
        if (len >= 0 && s.length() != 2 * len) {
            throw EvidenceException.malformed(field + " must be " + len + " bytes of hex, got " + s.length()
                    + " characters");
        }
        try {
            return HexFormat.of().parseHex(s);
        } catch (IllegalArgumentException e) {
            throw EvidenceException.malformed(field + " is not hex");
        }
    }

    static Instant time(JsonNode o, String f, String doc) throws EvidenceException {
        String s = str(o, f, doc);
        try {
            return Times.iso(s);
        } catch (DateTimeParseException e) {
            throw EvidenceException.malformed(doc + "." + f + " is not an ISO-8601 UTC time: " + s);
        }
    }

    static JsonNode array(JsonNode o, String f, String doc) throws EvidenceException {
        JsonNode n = node(o, f, doc);
        if (!n.isArray()) {
            throw EvidenceException.malformed(doc + "." + f + " must be an array");
        }
        return n;
    }

    static List<String> strings(JsonNode o, String f, String doc) throws EvidenceException {
        JsonNode n = o.get(f);
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw EvidenceException.malformed(doc + "." + f + " must be an array");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isTextual()) {
                throw EvidenceException.malformed(doc + "." + f + " must hold strings");
            }
            out.add(e.textValue());
        }
        return List.copyOf(out);
    }
}
