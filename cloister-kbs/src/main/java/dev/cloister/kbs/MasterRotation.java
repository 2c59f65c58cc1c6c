package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Moves a database from one master key to another (a key file to a PKCS#11 token, or one key to a fresh one): every
 * secret version's data key and the audit and log keys are re-wrapped under the new key, and every authenticated row
 * gets a MAC under the new key's row key (which is derived from the master key). All in one transaction, so a crash
 * or a failure at any row leaves the database exactly as it was, readable under the old key, and running it again
 * does the whole rotation; the rotation is an audit entry of that same transaction. Rows that fail their MAC under
 * the old key refuse the rotation (MACing them under the new key would launder a forgery).
 */
final class MasterRotation {
    /** The audit action of a rotation. */
    static final String ACTION = "store.master-rotated";

    private MasterRotation() {
    }

    static int run(ConnectionPool db, Clock clock, AuditRows audit, RowAuthentication rows, KeyEncryptionKey from,
            KeyEncryptionKey to, String actor) throws KbsException {
        if (to.id().equals(from.id())) {
            throw KbsException.badRequest("the new master key is the current one (" + from.id() + ")");
        }
        List<String> problems = rows.verify();
        if (!problems.isEmpty()) {
            throw KbsException.denied(problems.size() + " row(s) fail their check under the current master key, "
                    + "first: " + problems.get(0) + "; run 'kbs audit verify' and repair before rotating");
        }
        RowMac mac = RowMac.of(to);
        OneWayChanges oneWay = new OneWayChanges();
        NamespaceRows namespaces = new NamespaceRows(db, clock, audit, mac);
        TokenRows tokens = new TokenRows(db, clock, audit, mac, oneWay);
        SecretRows secrets = new SecretRows(db, clock, audit, to, mac, oneWay);
        PolicyRows policies = new PolicyRows(db, clock, audit, mac, namespaces, tokens, secrets, oneWay);
        return db.tx(true, c -> {
            int n = rewrapSecrets(c, from, to);
            try (Statement s = c.createStatement()) {
                for (String t : List.of("tokens", "secrets", "policies", "namespace_rules", "policy_proposals",
                        "policy_approvals")) {
                    s.executeUpdate("UPDATE " + t + " SET mac = NULL");
                }
            }
            tokens.authenticateLegacy(c);
            secrets.authenticateLegacy(c);
            namespaces.authenticateLegacy(c);
            policies.authenticateLegacy(c); // policies, proposals and approvals
            rewrapMeta(c, "audit_key", "cloister-kbs audit key", from, to);
            rewrapMeta(c, "log_key", "cloister-kbs log key", from, to);
            try (PreparedStatement ps = c.prepareStatement("UPDATE kbs_meta SET v = ? WHERE k = 'kek_id'")) {
                ps.setBytes(1, to.id().getBytes(StandardCharsets.UTF_8));
                ps.executeUpdate();
            }
            audit.append(c, actor, ACTION, null, null, "ok", "master key " + from.id() + " replaced by " + to.id()
                    + ": " + n + " secret version(s) re-wrapped, every row re-authenticated");
            return n;
        });
    }

    private static int rewrapSecrets(Connection c, KeyEncryptionKey from, KeyEncryptionKey to)
            throws SQLException, KbsException {
        record Wrapped(String ns, String name, int version, String kind, byte[] wrapped) {}
        List<Wrapped> all = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT namespace, name, version, kind, wrapped_dek FROM secrets");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                all.add(new Wrapped(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getString(4), rs.getBytes(5)));
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE secrets SET wrapped_dek = ? WHERE namespace = ? AND name = ? AND version = ?")) {
            for (Wrapped w : all) {
                byte[] aad = SecretRows.aad(w.ns(), w.name(), w.version(), SecretKind.valueOf(w.kind()));
                byte[] dek = from.unwrap(w.wrapped(), aad);
                try {
                    ps.setBytes(1, to.wrap(dek, aad));
                } finally {
                    Arrays.fill(dek, (byte) 0);
                }
                ps.setString(2, w.ns());
                ps.setString(3, w.name());
                ps.setInt(4, w.version());
                ps.executeUpdate();
            }
        }
        return all.size();
    }

    private static void rewrapMeta(Connection c, String key, String aadText, KeyEncryptionKey from,
            KeyEncryptionKey to) throws SQLException, KbsException {
        byte[] aad = aadText.getBytes(StandardCharsets.US_ASCII);
        byte[] wrapped = StoreKeys.meta(c, key);
        if (wrapped == null) {
            return;
        }
        byte[] k = from.unwrap(wrapped, aad);
        try (PreparedStatement ps = c.prepareStatement("UPDATE kbs_meta SET v = ? WHERE k = ?")) {
            ps.setBytes(1, to.wrap(k, aad));
            ps.setString(2, key);
            ps.executeUpdate();
        } finally {
            Arrays.fill(k, (byte) 0);
        }
    }
}
