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
    private final RowMac mac;

    NamespaceRows(ConnectionPool db, Clock clock, AuditRows audit, RowMac mac) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.mac = mac;
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
            putRules(c, ns, 1);
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
            putRules(c, ns, approvals);
            audit.append(c, actor, "namespace.rules", ns, null, "ok", "policy approvals " + approvals);
            return null;
        });
    }

    /** Writes the rules row of {@code ns} (replacing any), with its MAC. */
    private void putRules(Connection c, String ns, int approvals) throws SQLException {
        try (PreparedStatement del = c.prepareStatement("DELETE FROM namespace_rules WHERE namespace = ?");
                PreparedStatement ins = c.prepareStatement(
                        "INSERT INTO namespace_rules (namespace, policy_approvals, mac) VALUES (?, ?, ?)")) {
            del.setString(1, ns);
            del.executeUpdate();
            ins.setString(1, ns);
            ins.setInt(2, approvals);
            ins.setBytes(3, mac.rules(ns, approvals));
            ins.executeUpdate();
        }
    }

    int policyApprovals(String ns) throws KbsException {
        return db.tx(false, c -> policyApprovals(c, ns));
    }

    /**
     * How many approvals a policy change in {@code ns} needs. Every namespace has an authenticated rules row; one
     * that is missing or fails its MAC refuses every policy change in the namespace (fail closed: reading it as
     * "1" would let whoever deleted it skip the other approvers).
     */
    int policyApprovals(Connection c, String ns) throws SQLException, KbsException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT policy_approvals, mac FROM namespace_rules WHERE namespace = ?")) {
            ps.setString(1, ns);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    int n = rs.getInt(1);
                    if (RowMac.check(rs.getBytes(2), mac.rules(ns, n), "namespace rules of " + ns)) {
                        return n;
                    }
                } else {
                    RowMac.check(null, mac.rules(ns, 1), "namespace rules of " + ns + " (missing)");
                }
            }
        }
        throw KbsException.denied("the rules of namespace " + ns + " do not authenticate (changed outside the "
                + "broker); no policy change until an admin sets them again");
    }

    /** Names every namespace whose rules row is missing or does not match its MAC (for {@code audit verify}). */
    void verify(Connection c, List<String> problems) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT n.name, r.policy_approvals, r.mac FROM namespaces n "
                + "LEFT JOIN namespace_rules r ON r.namespace = n.name ORDER BY n.name");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                String ns = rs.getString(1);
                int n = rs.getInt(2);
                boolean missing = rs.wasNull();
                if (missing) {
                    problems.add("namespace rules of " + ns + ": row missing (deleted outside the broker)");
                } else if (!RowMac.matches(rs.getBytes(3), mac.rules(ns, n))) {
                    problems.add("namespace rules of " + ns + ": row does not match its MAC (changed outside the "
                            + "broker)");
                }
            }
        }
    }

    /** MACs the rules rows that have none (the schema upgrade at first start); returns how many. */
    int authenticateLegacy(Connection c) throws SQLException {
        List<String> names = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT namespace, policy_approvals FROM namespace_rules WHERE mac IS NULL");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                names.add(rs.getString(1));
                counts.add(rs.getInt(2));
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE namespace_rules SET mac = ? WHERE namespace = ?")) {
            for (int i = 0; i < names.size(); i++) {
                ps.setBytes(1, mac.rules(names.get(i), counts.get(i)));
                ps.setString(2, names.get(i));
                ps.executeUpdate();
            }
        }
        return names.size();
    }
}
