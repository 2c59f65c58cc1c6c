package dev.cloister.kbs;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * One row of the hash-chained audit log.
 *
 * @param seq position, 1, 2, ... without gaps
 * @param at when it happened
 * @param actor {@code token:<id>}, {@code workload:<address>} or {@code local:<user>}
 * @param action e.g. {@code release}, {@code secret.put}, {@code policy.set}
 * @param namespace the namespace concerned, or null
 * @param subject the secret (name and version) or token concerned, or null
 * @param outcome {@code ok} or {@code denied}
 * @param detail the policy explanation of a denial, or other non-secret detail
 * @param prevHash the previous entry's hash (32 zero bytes for the first)
 * @param hash HMAC-SHA256 under the audit key of prevHash and the canonical encoding of the fields above
 */
public record AuditEntry(long seq, Instant at, String actor, String action, String namespace, String subject,
        String outcome, String detail, byte[] prevHash, byte[] hash) {

    /** The bytes the chain MAC covers after prevHash: each field length-prefixed, so fields cannot shift. */
    public byte[] canonical() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        putLong(out, seq);
        putLong(out, at.toEpochMilli());
        for (String s : new String[] {actor, action, namespace, subject, outcome, detail}) {
            if (s == null) {
                putLong(out, -1);
            } else {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                putLong(out, b.length);
                out.writeBytes(b);
            }
        }
        return out.toByteArray();
    }

    private static void putLong(ByteArrayOutputStream out, long v) {
        for (int i = 7; i >= 0; i--) {
            out.write((int) (v >>> (8 * i)));
        }
    }
}
