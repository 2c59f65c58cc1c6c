package dev.cloister.kbs;

import dev.cloister.kbs.tlog.NoteSigner;
import dev.cloister.kbs.tlog.ProofException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The keys a database carries in {@code kbs_meta}, each wrapped by the master key and made once per database (so a
 * restored backup keeps them): the audit chain's MAC key and the audit log's Ed25519 signing key with the log's
 * name. Also checks that the database was created under the master key it is opened with.
 */
final class StoreKeys {
    private static final SecureRandom RANDOM = new SecureRandom();

    final byte[] auditKey;
    final NoteSigner logSigner;

    private StoreKeys(byte[] auditKey, NoteSigner logSigner) {
        this.auditKey = auditKey;
        this.logSigner = logSigner;
    }

    static StoreKeys load(ConnectionPool db, KeyEncryptionKey kek) throws KbsException {
        byte[] auditKey = loadOrCreateAuditKey(db, kek);
        return new StoreKeys(auditKey, loadOrCreateLogSigner(db, kek));
    }

    private static byte[] loadOrCreateAuditKey(ConnectionPool db, KeyEncryptionKey kek) throws KbsException {
        byte[] aad = "cloister-kbs audit key".getBytes(StandardCharsets.US_ASCII);
        return db.tx(true, c -> {
            byte[] kekId = meta(c, "kek_id");
            if (kekId != null && !new String(kekId, StandardCharsets.UTF_8).equals(kek.id())) {
                throw KbsException.denied("database " + db.describe() + " was created under master key "
                        + new String(kekId, StandardCharsets.UTF_8) + ", not " + kek.id());
            }
            byte[] wrapped = meta(c, "audit_key");
            if (wrapped != null) {
                return kek.unwrap(wrapped, aad);
            }
            byte[] k = new byte[32];
            RANDOM.nextBytes(k);
            putMeta(c, "kek_id", kek.id().getBytes(StandardCharsets.UTF_8));
            putMeta(c, "audit_key", kek.wrap(k, aad));
            return k;
        });
    }

    /** The audit log's signing key: an Ed25519 seed wrapped by the master key, and the log's name ("origin"). */
    private static NoteSigner loadOrCreateLogSigner(ConnectionPool db, KeyEncryptionKey kek) throws KbsException {
        byte[] aad = "cloister-kbs log key".getBytes(StandardCharsets.US_ASCII);
        return db.tx(true, c -> {
            byte[] origin = meta(c, "log_origin");
            byte[] wrapped = meta(c, "log_key");
            try {
                if (origin != null && wrapped != null) {
                    byte[] seed = kek.unwrap(wrapped, aad);
                    try {
                        return NoteSigner.fromSeed(new String(origin, StandardCharsets.UTF_8), seed);
                    } finally {
                        Arrays.fill(seed, (byte) 0);
                    }
                }
                byte[] id = new byte[8];
                RANDOM.nextBytes(id);
                var signer = NoteSigner.generate("cloister-kbs/" + HexFormat.of().formatHex(id));
                byte[] seed = signer.seed();
                try {
                    putMeta(c, "log_origin", signer.name().getBytes(StandardCharsets.UTF_8));
                    putMeta(c, "log_key", kek.wrap(seed, aad));
                } finally {
                    Arrays.fill(seed, (byte) 0);
                }
                return signer;
            } catch (ProofException e) {
                throw KbsException.unavailable("the audit log key in " + db.describe() + " is damaged: "
                        + e.getMessage(), null);
            }
        });
    }

    static byte[] meta(Connection c, String k) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT v FROM kbs_meta WHERE k = ?")) {
            ps.setString(1, k);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getBytes(1) : null;
            }
        }
    }

    static void putMeta(Connection c, String k, byte[] v) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO kbs_meta (k, v) VALUES (?, ?)")) {
            ps.setString(1, k);
            ps.setBytes(2, v);
            ps.executeUpdate();
        }
    }
}
