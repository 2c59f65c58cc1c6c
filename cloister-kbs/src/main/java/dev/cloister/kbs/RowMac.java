package dev.cloister.kbs;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The authentication of the broker's security-relevant rows, in one place: tokens, secret versions, policies,
 * namespace rules, policy proposals and approvals each carry an HMAC-SHA256 in their {@code mac} column, under a
 * key derived from the master key ({@link KeyEncryptionKey#deriveKey}), so whoever can write the database but has
 * not the master key cannot add, change or swap such a row unnoticed.
 *
 * <p>The MAC covers a canonical, versioned encoding: the label {@code cloister-kbs row v1}, the table, then every
 * column that decides anything (the row's identity - namespace, name, version, id - included, so a row moved to
 * another secret or token fails), each as a type tag, a 4-byte length and the bytes (strings UTF-8, integers 8-byte
 * big-endian, null a tag alone). A row whose MAC fails is treated as absent and logged at ERROR, naming the row.
 */
final class RowMac {
    private static final Logger LOG = LoggerFactory.getLogger(RowMac.class);
    /** What the master key derives the row key for; a new encoding gets a new label. */
    static final String LABEL = "cloister-kbs row mac v1";
    private static final byte[] PREFIX = "cloister-kbs row v1".getBytes(StandardCharsets.US_ASCII);

    private final SecretKeySpec key;

    RowMac(byte[] key) {
        this.key = new SecretKeySpec(key, "HmacSHA256");
    }

    static RowMac of(KeyEncryptionKey kek) throws KbsException {
        return new RowMac(kek.deriveKey(LABEL));
    }

    byte[] token(String id, byte[] hash, String role, String ns, long created, Long expires, int revoked) {
        return mac("tokens", id, hash, role, ns, created, expires, (long) revoked);
    }

    byte[] secret(String ns, String name, int version, String kind, String state, long created, Long retired,
            byte[] wrappedDek, byte[] ciphertext) {
        return mac("secrets", ns, name, (long) version, kind, state, created, retired, wrappedDek, ciphertext);
    }

    byte[] policy(String ns, String name, String text, long updated, int version) {
        return mac("policies", ns, name, text, updated, (long) version);
    }

    byte[] rules(String ns, int policyApprovals) {
        return mac("namespace_rules", ns, (long) policyApprovals);
    }

    byte[] proposal(String id, String ns, String name, String text, long created, String state, int baseVersion,
            Long expires) {
        return mac("policy_proposals", id, ns, name, text, created, state, (long) baseVersion, expires);
    }

    byte[] approval(String proposalId, String tokenId, long approvedAt) {
        return mac("policy_approvals", proposalId, tokenId, approvedAt);
    }

    /**
     * Whether {@code stored} is the MAC {@code expected} (constant time); when not, logs an ERROR naming {@code row}
     * (never a value).
     */
    static boolean check(byte[] stored, byte[] expected, String row) {
        if (stored != null && MessageDigest.isEqual(stored, expected)) {
            return true;
        }
        LOG.error("{} does not match its MAC (changed outside the broker?): treated as absent", row);
        return false;
    }

    /** Logs at ERROR that an authentic {@code row} is refused because the audit log contradicts it ({@code why}). */
    static void contradicted(String row, String why) {
        LOG.error("{}: {} (put back outside the broker?): treated as absent", row, why);
    }

    /** Like {@link #check} without the log line, for {@code audit verify}. */
    static boolean matches(byte[] stored, byte[] expected) {
        return stored != null && MessageDigest.isEqual(stored, expected);
    }

    private byte[] mac(String table, Object... fields) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        field(out, PREFIX);
        field(out, table.getBytes(StandardCharsets.US_ASCII));
        for (Object f : fields) {
            switch (f) {
                case null -> out.write(0);
                case String s -> {
                    out.write(1);
                    field(out, s.getBytes(StandardCharsets.UTF_8));
                }
                case Long l -> {
                    out.write(2);
                    field(out, ByteBuffer.allocate(8).putLong(l).array());
                }
                case byte[] b -> {
                    out.write(3);
                    field(out, b);
                }
                default -> throw new IllegalArgumentException("no row encoding for " + f.getClass());
            }
        }
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(key);
            return m.doFinal(out.toByteArray());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA256 unavailable", e);
        }
    }

    private static void field(ByteArrayOutputStream out, byte[] b) {
        out.writeBytes(ByteBuffer.allocate(4).putInt(b.length).array());
        out.writeBytes(b);
    }
}
