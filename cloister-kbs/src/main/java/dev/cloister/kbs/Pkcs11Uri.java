package dev.cloister.kbs;

import java.io.ByteArrayOutputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The subset of an RFC 7512 PKCS#11 URI the broker needs to find its master key:
 * {@code pkcs11:token=LABEL;object=LABEL[;type=secret-key]?module-path=LIB[&pin-source=file:PATH]}. Other path
 * attributes are refused rather than ignored (a URI that names a serial number must not quietly match another
 * token), and so is {@code pin-value}: a PIN in a URI given on a command line is visible to every user.
 *
 * @param module the PKCS#11 library, or null when the URI names none
 * @param token the token's label
 * @param object the key's label
 * @param pinFile the file the PIN is read from, or null
 */
public record Pkcs11Uri(Path module, String token, String object, Path pinFile) {
    /** Parses {@code uri}, refusing anything outside the subset with a message naming it. */
    public static Pkcs11Uri parse(String uri) throws KbsException {
        if (!uri.regionMatches(true, 0, "pkcs11:", 0, 7)) {
            throw KbsException.badRequest("a PKCS#11 URI starts with 'pkcs11:'");
        }
        String rest = uri.substring(7);
        int q = rest.indexOf('?');
        String path = q < 0 ? rest : rest.substring(0, q);
        String query = q < 0 ? "" : rest.substring(q + 1);
        String token = null;
        String object = null;
        for (String a : path.isEmpty() ? new String[0] : path.split(";", -1)) {
            String[] kv = pair(a, "path");
            switch (kv[0]) {
                case "token" -> token = once(token, kv);
                case "object" -> object = once(object, kv);
                case "type" -> {
                    if (!kv[1].equals("secret-key")) {
                        throw KbsException.badRequest("PKCS#11 URI: the master key is a secret key, not type=" + kv[1]);
                    }
                }
                default -> throw KbsException.badRequest("PKCS#11 URI: path attribute '" + kv[0]
                        + "' is not supported (token, object and type are)");
            }
        }
        Path module = null;
        Path pin = null;
        for (String a : query.isEmpty() ? new String[0] : query.split("&", -1)) {
            String[] kv = pair(a, "query");
            switch (kv[0]) {
                case "module-path" -> module = Path.of(once(module == null ? null : module.toString(), kv));
                case "pin-source" -> {
                    String v = once(pin == null ? null : pin.toString(), kv);
                    pin = Path.of(v.startsWith("file:") ? v.substring(5) : v);
                }
                case "pin-value" -> throw KbsException.badRequest("PKCS#11 URI: pin-value is refused, a PIN on a "
                        + "command line is visible to every user; use pin-source=file:PATH or the environment");
                default -> throw KbsException.badRequest("PKCS#11 URI: query attribute '" + kv[0]
                        + "' is not supported (module-path and pin-source are)");
            }
        }
        if (token == null || object == null) {
            throw KbsException.badRequest("PKCS#11 URI must name the token and the object (token=...;object=...)");
        }
        return new Pkcs11Uri(module, token, object, pin);
    }

    private static String[] pair(String a, String where) throws KbsException {
        int e = a.indexOf('=');
        if (e <= 0) {
            throw KbsException.badRequest("PKCS#11 URI: malformed " + where + " attribute '" + a + "'");
        }
        return new String[] {a.substring(0, e), decode(a.substring(e + 1))};
    }

    private static String once(String previous, String[] kv) throws KbsException {
        if (previous != null) {
            throw KbsException.badRequest("PKCS#11 URI: attribute '" + kv[0] + "' given twice");
        }
        if (kv[1].isEmpty()) {
            throw KbsException.badRequest("PKCS#11 URI: attribute '" + kv[0] + "' is empty");
        }
        return kv[1];
    }

    /** Percent-decoding as RFC 3986 has it ('+' stays '+'), the result strict UTF-8. */
    static String decode(String s) throws KbsException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length() || Character.digit(s.charAt(i + 1), 16) < 0
                        || Character.digit(s.charAt(i + 2), 16) < 0) {
                    throw KbsException.badRequest("PKCS#11 URI: bad percent-encoding in '" + s + "'");
                }
                out.write(Character.digit(s.charAt(i + 1), 16) * 16 + Character.digit(s.charAt(i + 2), 16));
                i += 2;
            } else if (c > 0x7e || c < 0x21) {
                throw KbsException.badRequest("PKCS#11 URI: character " + (int) c + " must be percent-encoded");
            } else {
                out.write(c);
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(out.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw KbsException.badRequest("PKCS#11 URI: '" + s + "' is not UTF-8 once decoded");
        }
    }
}
