package dev.cloister.kbs;

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Release policies ({@code policies}: one text per secret, versioned) and their multi-party changes: proposals
 * ({@code policy_proposals}) and approvals ({@code policy_approvals}), applied in the transaction of the last
 * approval the namespace's rules require. Every row is authenticated by its {@link RowMac}; an altered policy reads
 * as no policy (no release), an altered proposal as no proposal, an altered approval as no approval.
 */
final class PolicyRows {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;
    private final RowMac mac;
    private final NamespaceRows namespaces;
    private final TokenRows tokens;
    private final SecretRows secrets;

    /** How long a proposal waits for its approvals before it expires. */
    static final java.time.Duration PROPOSAL_TTL = java.time.Duration.ofDays(7);

    private final OneWayChanges oneWay;

    PolicyRows(ConnectionPool db, Clock clock, AuditRows audit, RowMac mac, NamespaceRows namespaces,
            TokenRows tokens, SecretRows secrets, OneWayChanges oneWay) {
        this.secrets = secrets;
        this.oneWay = oneWay;
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.mac = mac;
        this.namespaces = namespaces;
        this.tokens = tokens;
    }

    /** One row of {@code policies} as stored. */
    private record Policy(String ns, String name, String text, long updated, int version, byte[] mac) {
        static final String COLUMNS = "namespace, name, text, updated_at, version, mac";

        static Policy read(ResultSet rs) throws SQLException {
            return new Policy(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getInt(5),
                    rs.getBytes(6));
        }

        byte[] expected(RowMac m) {
            return m.policy(ns, name, text, updated, version);
        }

        String label() {
            return "policy of " + ns + "/" + name;
        }
    }

    /** One row of {@code policy_proposals} as stored. */
    private record Proposal(String id, String ns, String name, String text, long created, String state,
            int baseVersion, Long expires, byte[] mac) {
        static final String COLUMNS = "id, namespace, name, text, created_at, state, base_version, expires_at, mac";

        static Proposal read(ResultSet rs) throws SQLException {
            long e = rs.getLong(8);
            Long expires = rs.wasNull() ? null : e;
            return new Proposal(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getLong(5),
                    rs.getString(6), rs.getInt(7), expires, rs.getBytes(9));
        }

        byte[] expected(RowMac m) {
            return m.proposal(id, ns, name, text, created, state, baseVersion, expires);
        }

        String label() {
            return "policy proposal " + id + " (" + ns + "/" + name + ")";
        }
    }

    void set(String actor, String ns, String name, String text) throws KbsException {
        KbsNames.checkNamespace(ns);
        KbsNames.checkSecretName(name);
        db.tx(true, c -> {
            NamespaceRows.require(c, ns);
            requireSecret(c, ns, name);
            apply(c, actor, ns, name, text, "");
            return null;
        });
    }

    /** A policy governs a secret: setting one for a secret that does not exist is a 404, not a dormant rule. */
    private void requireSecret(Connection c, String ns, String name) throws SQLException, KbsException {
        if (!secrets.exists(c, ns, name)) {
            throw KbsException.notFound("no secret " + ns + "/" + name);
        }
    }

    /** The version of the current policy (0: none; -1: its row fails its MAC, so no proposal matches it). */
    private int currentVersion(Connection c, String ns, String name) throws SQLException {
        Policy p = row(c, ns, name);
        if (p == null) {
            return 0;
        }
        return authentic(p) ? p.version() : -1;
    }

    /** Whether the row passes its MAC and is not older than the changes the audit log records. */
    private boolean authentic(Policy p) {
        if (!RowMac.check(p.mac(), p.expected(mac), p.label())) {
            return false;
        }
        if (p.version() < oneWay.policyChanges(p.ns(), p.name())) {
            RowMac.contradicted(p.label(), "version " + p.version() + ", but the audit log records "
                    + oneWay.policyChanges(p.ns(), p.name()) + " changes");
            return false;
        }
        return true;
    }

    private void apply(Connection c, String actor, String ns, String name, String text, String how)
            throws SQLException {
        Policy old = row(c, ns, name);
        Policy p = new Policy(ns, name, text, clock.millis(), old == null ? 1 : old.version() + 1, null);
        String sql = old == null
                ? "INSERT INTO policies (text, updated_at, version, mac, namespace, name) VALUES (?, ?, ?, ?, ?, ?)"
                : "UPDATE policies SET text = ?, updated_at = ?, version = ?, mac = ? WHERE namespace = ? AND name = ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, text);
            ps.setLong(2, p.updated());
            ps.setInt(3, p.version());
            ps.setBytes(4, p.expected(mac));
            ps.setString(5, ns);
            ps.setString(6, name);
            ps.executeUpdate();
        }
        audit.append(c, actor, "policy.set", ns, name, "ok", text + how);
    }

    private static Policy row(Connection c, String ns, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Policy.COLUMNS
                + " FROM policies WHERE namespace = ? AND name = ?")) {
            ps.setString(1, ns);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Policy.read(rs) : null;
            }
        }
    }

    String text(String ns, String name) throws KbsException {
        return db.tx(false, c -> text(c, ns, name));
    }

    /** The policy text of a secret, or null when there is none or its row fails its MAC. */
    String text(Connection c, String ns, String name) throws SQLException {
        Policy p = row(c, ns, name);
        return p != null && authentic(p) ? p.text() : null;
    }

    PolicyProposal propose(String actor, String tokenId, String ns, String name, String text) throws KbsException {
        KbsNames.checkNamespace(ns);
        KbsNames.checkSecretName(name);
        return db.tx(true, c -> {
            NamespaceRows.require(c, ns);
            requireSecret(c, ns, name);
            int required = namespaces.policyApprovals(c, ns);
            if (required <= 1) {
                apply(c, actor, ns, name, text, "");
                return new PolicyProposal("-", ns, name, text, "applied", List.of(tokenId), 1);
            }
            byte[] raw = new byte[8];
            RANDOM.nextBytes(raw);
            String id = HexFormat.of().formatHex(raw);
            long now = clock.millis();
            Proposal p = new Proposal(id, ns, name, text, now, "pending", currentVersion(c, ns, name),
                    now + PROPOSAL_TTL.toMillis(), null);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO policy_proposals (" + Proposal.COLUMNS
                    + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setString(1, id);
                ps.setString(2, ns);
                ps.setString(3, name);
                ps.setString(4, text);
                ps.setLong(5, p.created());
                ps.setString(6, p.state());
                ps.setInt(7, p.baseVersion());
                if (p.expires() == null) {
                    ps.setNull(8, Types.BIGINT);
                } else {
                    ps.setLong(8, p.expires());
                }
                ps.setBytes(9, p.expected(mac));
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
            Proposal row = proposalRow(c, ns, id);
            if (expired(row)) {
                throw KbsException.conflict("proposal " + id + " expired at "
                        + java.time.Instant.ofEpochMilli(row.expires()) + "; propose the change again");
            }
            int current = currentVersion(c, ns, row.name());
            if (current != row.baseVersion()) {
                // Applying it would silently replace a policy its approvers never saw.
                throw KbsException.conflict("the policy of " + ns + "/" + row.name() + " changed since proposal "
                        + id + " was made (it amends version " + row.baseVersion() + ", the policy is now "
                        + (current < 0 ? "unauthentic" : "version " + current) + "); propose the change again");
            }
            addApproval(c, id, tokenId);
            PolicyProposal now = proposal(c, ns, id);
            audit.append(c, actor, "policy.approve", ns, p.name(), "ok", "proposal " + id + " ("
                    + now.approvers().size() + " of " + now.required() + " approvals)");
            if (now.approvers().size() >= now.required()) {
                apply(c, actor, ns, p.name(), p.text(), " (proposal " + id + ", approved by "
                        + String.join(", ", now.approvers().stream().map(t -> "token:" + t).toList()) + ")");
                setState(c, proposalRow(c, ns, id), "applied");
                now = proposal(c, ns, id);
            }
            return now;
        });
    }

    private void setState(Connection c, Proposal p, String state) throws SQLException {
        Proposal n = new Proposal(p.id(), p.ns(), p.name(), p.text(), p.created(), state, p.baseVersion(),
                p.expires(), null);
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE policy_proposals SET state = ?, mac = ? WHERE id = ?")) {
            ps.setString(1, state);
            ps.setBytes(2, n.expected(mac));
            ps.setString(3, p.id());
            ps.executeUpdate();
        }
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
                PolicyProposal p = proposal(c, ns, id);
                if (p != null) {
                    out.add(p);
                }
            }
            return out;
        });
    }

    private void addApproval(Connection c, String id, String tokenId) throws SQLException {
        long at = clock.millis();
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO policy_approvals (proposal_id, token_id, approved_at, mac) VALUES (?, ?, ?, ?)")) {
            ps.setString(1, id);
            ps.setString(2, tokenId);
            ps.setLong(3, at);
            ps.setBytes(4, mac.approval(id, tokenId, at));
            ps.executeUpdate();
        }
    }

    private static Proposal proposalRow(Connection c, String ns, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Proposal.COLUMNS
                + " FROM policy_proposals WHERE id = ? AND namespace = ?")) {
            ps.setString(1, id);
            ps.setString(2, ns);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Proposal.read(rs) : null;
            }
        }
    }

    /** A proposal with its counted approvals, or null when there is none or its row fails its MAC. */
    private PolicyProposal proposal(Connection c, String ns, String id) throws SQLException, KbsException {
        Proposal p = proposalRow(c, ns, id);
        if (p == null || !RowMac.check(p.mac(), p.expected(mac), p.label())) {
            return null;
        }
        List<String> approvers = new ArrayList<>();
        List<String[]> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT token_id, approved_at, mac FROM policy_approvals "
                + "WHERE proposal_id = ? ORDER BY approved_at, token_id")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String token = rs.getString(1);
                    // Approvals that fail their MAC, and those of tokens revoked, expired or altered since, do not
                    // count.
                    if (RowMac.check(rs.getBytes(3), mac.approval(id, token, rs.getLong(2)),
                            "approval of proposal " + id + " by token " + token)) {
                        rows.add(new String[] {token});
                    }
                }
            }
        }
        for (String[] r : rows) {
            if (tokens.active(c, r[0])) {
                approvers.add(r[0]);
            }
        }
        String state = p.state();
        if (state.equals("pending") && expired(p)) {
            state = "expired";
        } else if (state.equals("pending") && currentVersion(c, ns, p.name()) != p.baseVersion()) {
            state = "stale";
        }
        return new PolicyProposal(id, ns, p.name(), p.text(), state, approvers, namespaces.policyApprovals(c, ns));
    }

    private boolean expired(Proposal p) {
        return p.expires() != null && clock.millis() >= p.expires();
    }

    /** Names every policy, proposal and approval row whose MAC does not match (for {@code audit verify}). */
    void verify(Connection c, List<String> problems) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Policy.COLUMNS
                + " FROM policies ORDER BY namespace, name"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                Policy p = Policy.read(rs);
                if (!RowMac.matches(p.mac(), p.expected(mac))) {
                    problems.add(p.label() + ": row does not match its MAC (added or changed outside the broker)");
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Proposal.COLUMNS
                + " FROM policy_proposals ORDER BY id"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                Proposal p = Proposal.read(rs);
                if (!RowMac.matches(p.mac(), p.expected(mac))) {
                    problems.add(p.label() + ": row does not match its MAC (added or changed outside the broker)");
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT proposal_id, token_id, approved_at, mac "
                + "FROM policy_approvals ORDER BY proposal_id, token_id"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                if (!RowMac.matches(rs.getBytes(4), mac.approval(rs.getString(1), rs.getString(2), rs.getLong(3)))) {
                    problems.add("approval of proposal " + rs.getString(1) + " by token " + rs.getString(2)
                            + ": row does not match its MAC (added or changed outside the broker)");
                }
            }
        }
    }

    /** MACs the rows that have none (the schema upgrade at first start); returns how many. */
    int authenticateLegacy(Connection c) throws SQLException {
        int n = 0;
        List<Policy> policies = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Policy.COLUMNS
                + " FROM policies WHERE mac IS NULL"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                policies.add(Policy.read(rs));
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE policies SET mac = ? WHERE namespace = ? AND name = ?")) {
            for (Policy p : policies) {
                ps.setBytes(1, p.expected(mac));
                ps.setString(2, p.ns());
                ps.setString(3, p.name());
                n += ps.executeUpdate();
            }
        }
        List<Proposal> proposals = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Proposal.COLUMNS
                + " FROM policy_proposals WHERE mac IS NULL"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                proposals.add(Proposal.read(rs));
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE policy_proposals SET mac = ? WHERE id = ?")) {
            for (Proposal p : proposals) {
                ps.setBytes(1, p.expected(mac));
                ps.setString(2, p.id());
                n += ps.executeUpdate();
            }
        }
        List<String[]> approvals = new ArrayList<>();
        List<Long> at = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT proposal_id, token_id, approved_at FROM "
                + "policy_approvals WHERE mac IS NULL"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                approvals.add(new String[] {rs.getString(1), rs.getString(2)});
                at.add(rs.getLong(3));
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE policy_approvals SET mac = ? WHERE proposal_id = ? AND token_id = ?")) {
            for (int i = 0; i < approvals.size(); i++) {
                ps.setBytes(1, mac.approval(approvals.get(i)[0], approvals.get(i)[1], at.get(i)));
                ps.setString(2, approvals.get(i)[0]);
                ps.setString(3, approvals.get(i)[1]);
                n += ps.executeUpdate();
            }
        }
        return n;
    }
}
