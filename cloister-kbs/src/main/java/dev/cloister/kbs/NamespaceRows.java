package dev.cloister.kbs;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/** The {@code namespaces} table and each namespace's rules ({@code namespace_rules}: approvals per policy change). */
final class NamespaceRows {
    /** Most approvals a namespace may require. */
    static final int MAX_APPROVALS = 16;

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;

    NamespaceRows(ConnectionPool db, Clock clock, AuditRows audit) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
    }

    void create(String actor, String ns) throws KbsException {
        KbsNames.checkNamespace(ns);
        db.tx(true, c -> {
            if (exists(c, ns)) {
                throw KbsException.conflict("namespace " + ns + " exists");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO namespaces (name, created_at) VALUES (?, ?)")) {
                ps.setString(1, ns);
                ps.setLong(2, clock.millis());
                ps.executeUpdate();
            }
            audit.append(c, actor, "namespace.create", ns, null, "ok", "");
            return null;
        });
    }

    List<String> list() throws KbsException {
        return db.tx(false, c -> {
            List<String> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT name FROM namespaces ORDER BY name");
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
            return out;
        });
    }

    static boolean exists(Connection c, String ns) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM namespaces WHERE name = ?")) {
            ps.setString(1, ns);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** Throws 404 unless {@code ns} exists. */
    static void require(Connection c, String ns) throws SQLException, KbsException {
        if (!exists(c, ns)) {
            throw KbsException.notFound("no namespace " + ns);
        }
    }

    void setPolicyApprovals(String actor, String ns, int approvals) throws KbsException {
        KbsNames.checkNamespace(ns);
        if (approvals < 1 || approvals > MAX_APPROVALS) {
            throw KbsException.badRequest("policy approvals must be 1.." + MAX_APPROVALS + ", got " + approvals);
        }
        db.tx(true, c -> {
            require(c, ns);
            try (PreparedStatement del = c.prepareStatement("DELETE FROM namespace_rules WHERE namespace = ?");
                    PreparedStatement ins = c.prepareStatement(
                            "INSERT INTO namespace_rules (namespace, policy_approvals) VALUES (?, ?)")) {
                del.setString(1, ns);
                del.executeUpdate();
                ins.setString(1, ns);
                ins.setInt(2, approvals);
                ins.executeUpdate();
            }
            audit.append(c, actor, "namespace.rules", ns, null, "ok", "policy approvals " + approvals);
            return null;
        });
    }

    int policyApprovals(String ns) throws KbsException {
        return db.tx(false, c -> policyApprovals(c, ns));
    }

    /** How many approvals a policy change in {@code ns} needs (1 unless set). */
    static int policyApprovals(Connection c, String ns) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT policy_approvals FROM namespace_rules WHERE namespace = ?")) {
            ps.setString(1, ns);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : 1;
            }
        }
    }
}
