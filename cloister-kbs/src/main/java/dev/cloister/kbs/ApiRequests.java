package dev.cloister.kbs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/**
 * Strict reading of API requests for {@link KbsServer}: bodies (one bounded JSON object with only the fields an
 * endpoint takes), fields, path segments and query parameters, each refused with a 400 naming the problem.
 */
final class ApiRequests {
    private static final Base64.Decoder B64D = Base64.getDecoder();
    private static final int MAX_BODY = KbsServer.MAX_BODY;

    private ApiRequests() {}

    /** Largest nesting of objects and arrays in a request; no request of the API nests deeper than 2. */
    static final int MAX_DEPTH = 16;

    /**
     * Strict limits on what the parser accepts, so that no request body costs more than its size to parse: depth
     * (deep nesting used to end in a 500 and a stack trace), string, number and document length.
     */
    static final ObjectMapper JSON = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH).maxStringLength(MAX_BODY).maxDocumentLength(MAX_BODY)
                    .maxNumberLength(32).maxNameLength(256).build())
            .build());

    static String required(Map<String, String> q, String name) throws KbsException {
        String v = q.get(name);
        if (v == null) {
            throw KbsException.badRequest("missing query parameter " + name);
        }
        return v;
    }


    /**
     * Reads a JSON object body whose fields are all among {@code allowed}: an unknown field is an error naming it
     * (a misspelt optional field must not be silently ignored), as is any trailing content.
     */
    static JsonNode readJson(HttpsTransport.Exchange x, String... allowed) throws KbsException, IOException {
        String ct = x.header("Content-Type");
        if (ct != null && !ct.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            throw KbsException.badRequest("Content-Type must be application/json, got " + ct);
        }
        byte[] body;
        try (InputStream in = x.body()) {
            body = in.readNBytes(MAX_BODY + 1);
        }
        if (body.length > MAX_BODY) {
            throw KbsException.tooLarge("request body exceeds " + MAX_BODY + " bytes");
        }
        JsonNode j;
        try (com.fasterxml.jackson.core.JsonParser parser = JSON.createParser(body)) {
            j = JSON.readTree(parser);
            if (j != null && parser.nextToken() != null) {
                throw KbsException.badRequest("malformed JSON: content after the request object");
            }
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw KbsException.badRequest("malformed JSON" + (at == null ? "" : " at line " + at.getLineNr()
                    + " column " + at.getColumnNr()) + ": " + e.getOriginalMessage());
        }
        if (j == null || !j.isObject()) {
            throw KbsException.badRequest("request body must be a JSON object");
        }
        java.util.Set<String> ok = java.util.Set.of(allowed);
        for (java.util.Iterator<String> it = j.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!ok.contains(f)) {
                throw KbsException.badRequest("unknown field '" + f + "'" + (ok.isEmpty() ? ""
                        : " (expected " + String.join(", ", new java.util.TreeSet<>(ok)) + ")"));
            }
        }
        return j;
    }

    static String text(JsonNode j, String field) throws KbsException {
        JsonNode v = j.get(field);
        if (v == null || v.isNull()) {
            throw KbsException.badRequest("field '" + field + "' is missing");
        }
        if (!v.isTextual()) {
            throw KbsException.badRequest("field '" + field + "' must be a string");
        }
        return v.asText();
    }

    static byte[] b64(JsonNode j, String field) throws KbsException {
        String s = text(j, field);
        try {
            return B64D.decode(s);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("field '" + field + "' is not base64");
        }
    }

    static int positiveInt(JsonNode j, String field) throws KbsException {
        JsonNode v = j.get(field);
        if (!v.isInt() || v.asInt() < 1) {
            throw KbsException.badRequest("field '" + field + "' must be a positive integer");
        }
        return v.asInt();
    }

    static int parseVersion(String s) throws KbsException {
        long v = parseLong(s, "version");
        if (v < 1 || v > Integer.MAX_VALUE) {
            throw KbsException.badRequest("version must be a positive integer, got " + s);
        }
        return (int) v;
    }

    static long parseLong(String s, String what) throws KbsException {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw KbsException.badRequest(what + " must be an integer, got '" + s + "'");
        }
    }

    static String decode(String s) throws KbsException {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("malformed percent-encoding in the request");
        }
    }

    static Map<String, String> query(HttpsTransport.Exchange x) throws KbsException {
        String q = x.rawQuery;
        java.util.Map<String, String> m = new java.util.HashMap<>();
        if (q != null) {
            for (String kv : q.split("&")) {
                int i = kv.indexOf('=');
                if (i > 0) {
                    m.put(decode(kv.substring(0, i)), decode(kv.substring(i + 1)));
                }
            }
        }
        return m;
    }
}
