package dev.cloister.kbs;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The checks and the upgrade that span every authenticated table ({@link RowMac} knows the encoding, each
 * {@code *Rows} class its own rows): {@code audit verify}'s row report, and the one-time MACing of the rows a broker
 * from before row MACs left behind.
 */
final class RowAuthentication {
    private final ConnectionPool db;
    private final AuditRows audit;
    private final TokenRows tokens;
    private final SecretRows secrets;
    private final NamespaceRows namespaces;
    private final PolicyRows policies;

    RowAuthentication(ConnectionPool db, AuditRows audit, TokenRows tokens, SecretRows secrets,
            NamespaceRows namespaces, PolicyRows policies) {
        this.db = db;
        this.audit = audit;
        this.tokens = tokens;
        this.secrets = secrets;
        this.namespaces = namespaces;
        this.policies = policies;
    }

    /** One line per row that fails its MAC, is missing, or was put back against the audit log. */
    List<String> verify() throws KbsException {
        List<String> problems = new ArrayList<>();
        db.tx(false, c -> {
            tokens.verify(c, problems);
            secrets.verify(c, problems);
            namespaces.verify(c, problems);
            policies.verify(c, problems);
            oneWayChanges(c, problems);
            return null;
        });
        return problems;
    }

    /**
     * A row MAC cannot tell a row from an earlier authentic state of the same row (a revoked token's row put back
     * as it was before, MAC and all). Revocation and retirement only go one way and each is in the audit log, so the
     * log is checked against the rows: a token the log revoked must be revoked, a version it retired retired, and a
     * policy's version (which counts its changes) at least the number of changes the log records.
     */
    private static void oneWayChanges(Connection c, List<String> problems) throws SQLException {
        try (var ps = c.prepareStatement("SELECT a.seq, a.subject FROM audit a JOIN tokens t ON a.subject = "
                + "'token:' || t.id WHERE a.action = 'token.revoke' AND a.outcome = 'ok' AND t.revoked = 0 "
                + "ORDER BY a.seq"); var rs = ps.executeQuery()) {
            while (rs.next()) {
                problems.add("token " + rs.getString(2).substring("token:".length()) + ": revoked by audit entry "
                        + rs.getLong(1) + " but active in the database (row put back outside the broker)");
            }
        }
        try (var ps = c.prepareStatement("SELECT a.seq, a.namespace, a.subject FROM audit a JOIN secrets s ON "
                + "s.namespace = a.namespace AND a.subject = s.name || '@' || CAST(s.version AS VARCHAR(16)) "
                + "WHERE a.action = 'secret.retire' AND a.outcome = 'ok' AND s.state = 'active' ORDER BY a.seq");
                var rs = ps.executeQuery()) {
            while (rs.next()) {
                problems.add("secret " + rs.getString(2) + "/" + rs.getString(3) + ": retired by audit entry "
                        + rs.getLong(1) + " but active in the database (row put back outside the broker)");
            }
        }
        try (var ps = c.prepareStatement("SELECT p.namespace, p.name, p.version, (SELECT COUNT(*) FROM audit a WHERE "
                + "a.action = 'policy.set' AND a.outcome = 'ok' AND a.namespace = p.namespace AND a.subject = p.name) "
                + "FROM policies p ORDER BY p.namespace, p.name"); var rs = ps.executeQuery()) {
            while (rs.next()) {
                if (rs.getInt(3) < rs.getLong(4)) {
                    problems.add("policy of " + rs.getString(1) + "/" + rs.getString(2) + ": version " + rs.getInt(3)
                            + " but the audit log records " + rs.getLong(4) + " changes (an older policy put back "
                            + "outside the broker)");
                }
            }
        }
    }

    /** The audit action recording that the rows present at the upgrade to row MACs were MAC'd. */
    static final String ROWS_AUTHENTICATED = "store.rows-authenticated";

    /**
     * The upgrade to row MACs, once, in the start that applied the migration adding them: MACs every row that has
     * none and records it in the audit log. A database whose log already records it was made to look older (MAC
     * columns dropped, migration history edited) so that forged rows would be MAC'd: refused.
     */
    void upgrade() throws KbsException {
        db.tx(true, c -> {
            try (var ps = c.prepareStatement("SELECT seq FROM audit WHERE action = ?")) {
                ps.setString(1, ROWS_AUTHENTICATED);
                try (var rs = ps.executeQuery()) {
                    if (rs.next()) {
                        throw KbsException.denied("database " + db.describe() + " had its rows authenticated already "
                                + "(audit entry " + rs.getLong(1) + ") but its schema says otherwise: it was "
                                + "rolled back outside the broker; refusing to MAC its rows again");
                    }
                }
            }
            int n = authenticateLegacy(c);
            if (n > 0) {
                audit.append(c, "local:broker", ROWS_AUTHENTICATED, null, null, "ok", n + " rows authenticated "
                        + "(schema upgrade to row MACs)");
            }
            return null;
        });
    }

    /**
     * MACs every row without one and gives every namespace a rules row: for the upgrade and for restoring a backup
     * made before row MACs (whose rows the backup key authenticates). Never on a running database.
     */
    int authenticateLegacy(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO namespace_rules (namespace, policy_approvals) SELECT name, 1 FROM "
                    + "namespaces WHERE name NOT IN (SELECT namespace FROM namespace_rules)");
        }
        try (Statement s = c.createStatement()) {
            // As migration V3 does: a policy's version counts the changes the audit log records.
            s.executeUpdate("UPDATE policies SET version = CASE WHEN (SELECT COUNT(*) FROM audit a WHERE a.action = "
                    + "'policy.set' AND a.outcome = 'ok' AND a.namespace = policies.namespace AND a.subject = "
                    + "policies.name) > 1 THEN (SELECT COUNT(*) FROM audit a WHERE a.action = 'policy.set' AND "
                    + "a.outcome = 'ok' AND a.namespace = policies.namespace AND a.subject = policies.name) ELSE 1 END "
                    + "WHERE mac IS NULL");
        }
        return tokens.authenticateLegacy(c) + secrets.authenticateLegacy(c) + namespaces.authenticateLegacy(c)
                + policies.authenticateLegacy(c);
    }
}
