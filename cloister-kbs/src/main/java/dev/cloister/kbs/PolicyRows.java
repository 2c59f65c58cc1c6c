package dev.cloister.kbs;

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Release policies ({@code policies}: one text per secret) and their multi-party changes: proposals
 * ({@code policy_proposals}) and approvals ({@code policy_approvals}), applied in the transaction of the last
 * approval the namespace's rules require.
 */
final class PolicyRows {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;

    PolicyRows(ConnectionPool db, Clock clock, AuditRows audit) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
    }

    void set(String actor, String ns, String name, String text) throws KbsException {
        KbsNames.checkNamespace(ns);
        KbsNames.checkSecretName(name);
        db.tx(true, c -> {
            NamespaceRows.require(c, ns);
            apply(c, actor, ns, name, text, "");
            return null;
        });
    }

    private void apply(Connection c, String actor, String ns, String name, String text, String how)
            throws SQLException {
        String old = text(c, ns, name);
        String sql = old == null
                ? "INSERT INTO policies (text, updated_at, namespace, name) VALUES (?, ?, ?, ?)"
                : "UPDATE policies SET text = ?, updated_at = ? WHERE namespace = ? AND name = ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, text);
            ps.setLong(2, clock.millis());
            ps.setString(3, ns);
            ps.setString(4, name);
            ps.executeUpdate();
        }
        audit.append(c, actor, "policy.set", ns, name, "ok", text + how);
    }

    String text(String ns, String name) throws KbsException {
        return db.tx(false, c -> text(c, ns, name));
    }

    /** The policy text of a secret, or null. */
    String text(Connection c, String ns, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT text FROM policies WHERE namespace = ? AND name = ?")) {
            ps.setString(1, ns);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    PolicyProposal propose(String actor, String tokenId, String ns, String name, String text) throws KbsException {
        KbsNames.checkNamespace(ns);
        KbsNames.checkSecretName(name);
        return db.tx(true, c -> {
            NamespaceRows.require(c, ns);
            int required = NamespaceRows.policyApprovals(c, ns);
            if (required <= 1) {
                apply(c, actor, ns, name, text, "");
                return new PolicyProposal("-", ns, name, text, "applied", List.of(tokenId), 1);
            }
            byte[] raw = new byte[8];
            RANDOM.nextBytes(raw);
            String id = HexFormat.of().formatHex(raw);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO policy_proposals (id, namespace, name, text, "
                    + "created_at, state) VALUES (?, ?, ?, ?, ?, 'pending')")) {
                ps.setString(1, id);
                ps.setString(2, ns);
                ps.setString(3, name);
                ps.setString(4, text);
                ps.setLong(5, clock.millis());
                ps.executeUpdate();
            }
            addApproval(c, id, tokenId);
            audit.append(c, actor, "policy.propose", ns, name, "ok", "proposal " + id + " (1 of " + required
                    + " approvals): " + text);
            return proposal(c, ns, id);
        });
    }

    PolicyProposal approve(String actor, String tokenId, String ns, String id) throws KbsException {
        KbsNames.checkNamespace(ns);
        return db.tx(true, c -> {
            PolicyProposal p = proposal(c, ns, id);
            if (p == null) {
                throw KbsException.notFound("no proposal " + id + " in " + ns);
            }
            if (p.applied()) {
                throw KbsException.conflict("proposal " + id + " was applied already");
            }
            if (p.approvers().contains(tokenId)) {
                throw KbsException.conflict("this token approved proposal " + id + " already; another must");
            }
            addApproval(c, id, tokenId);
            PolicyProposal now = proposal(c, ns, id);
            audit.append(c, actor, "policy.approve", ns, p.name(), "ok", "proposal " + id + " ("
                    + now.approvers().size() + " of " + now.required() + " approvals)");
            if (now.approvers().size() >= now.required()) {
                apply(c, actor, ns, p.name(), p.text(), " (proposal " + id + ", approved by "
                        + String.join(", ", now.approvers().stream().map(t -> "token:" + t).toList()) + ")");
                try (PreparedStatement ps = c.prepareStatement(
                        "UPDATE policy_proposals SET state = 'applied' WHERE id = ?")) {
                    ps.setString(1, id);
                    ps.executeUpdate();
                }
                now = proposal(c, ns, id);
            }
            return now;
        });
    }

    List<PolicyProposal> proposals(String ns) throws KbsException {
        KbsNames.checkNamespace(ns);
        return db.tx(false, c -> {
            NamespaceRows.require(c, ns);
            List<String> ids = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id FROM policy_proposals WHERE namespace = ? AND "
                    + "state = 'pending' ORDER BY created_at, id")) {
                ps.setString(1, ns);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        ids.add(rs.getString(1));
                    }
                }
            }
            List<PolicyProposal> out = new ArrayList<>();
            for (String id : ids) {
                out.add(proposal(c, ns, id));
            }
            return out;
        });
    }

    private void addApproval(Connection c, String id, String tokenId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO policy_approvals (proposal_id, token_id, approved_at) VALUES (?, ?, ?)")) {
            ps.setString(1, id);
            ps.setString(2, tokenId);
            ps.setLong(3, clock.millis());
            ps.executeUpdate();
        }
    }

    private static PolicyProposal proposal(Connection c, String ns, String id) throws SQLException {
        String name;
        String text;
        String state;
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT name, text, state FROM policy_proposals WHERE id = ? AND namespace = ?")) {
            ps.setString(1, id);
            ps.setString(2, ns);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                name = rs.getString(1);
                text = rs.getString(2);
                state = rs.getString(3);
            }
        }
        List<String> approvers = new ArrayList<>();
        // Approvals of tokens revoked since do not count.
        try (PreparedStatement ps = c.prepareStatement("SELECT a.token_id FROM policy_approvals a JOIN tokens t ON "
                + "t.id = a.token_id WHERE a.proposal_id = ? AND t.revoked = 0 ORDER BY a.approved_at, a.token_id")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    approvers.add(rs.getString(1));
                }
            }
        }
        return new PolicyProposal(id, ns, name, text, state, approvers, NamespaceRows.policyApprovals(c, ns));
    }
}
