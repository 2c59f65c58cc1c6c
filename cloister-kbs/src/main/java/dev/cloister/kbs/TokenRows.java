package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code tokens} table: bearer tokens stored as SHA-256 hashes, with role, namespace, expiry and revocation;
 * each row authenticated by its {@link RowMac}.
 */
final class TokenRows {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;
    private final RowMac mac;
    private final OneWayChanges oneWay;

    TokenRows(ConnectionPool db, Clock clock, AuditRows audit, RowMac mac, OneWayChanges oneWay) {
        this.oneWay = oneWay;
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.mac = mac;
    }

    /** One row of {@code tokens} as stored. */
    private record Row(String id, byte[] hash, String role, String ns, long created, Long expires, int revoked,
            byte[] mac) {
        static final String COLUMNS = "id, hash, role, namespace, created_at, expires_at, revoked, mac";

        static Row read(ResultSet rs) throws SQLException {
            long exp = rs.getLong(6);
            Long expires = rs.wasNull() ? null : exp;
            return new Row(rs.getString(1), rs.getBytes(2), rs.getString(3), rs.getString(4), rs.getLong(5), expires,
                    rs.getInt(7), rs.getBytes(8));
        }

        byte[] expected(RowMac m) {
            return m.token(id, hash, role, ns, created, expires, revoked);
        }

        String label() {
            return "token " + id;
        }

        boolean authentic(RowMac m) {
            return RowMac.check(mac, expected(m), label());
        }
    }

    KbsStore.IssuedToken create(String actor, Role role, String ns, Duration ttl) throws KbsException {
        if (role == Role.OWNER && ns == null) {
            throw KbsException.badRequest("an owner token needs a namespace");
        }
        if (role == Role.ADMIN && ns != null) {
            throw KbsException.badRequest("an admin token has no namespace");
        }
        if (ns != null) {
            KbsNames.checkNamespace(ns);
        }
        if (ttl != null && (ttl.isNegative() || ttl.isZero() || ttl.compareTo(KbsStore.MAX_TOKEN_TTL) > 0)) {
            throw KbsException.badRequest("a token's lifetime must be positive and at most "
                    + KbsStore.MAX_TOKEN_TTL.toDays() + " days, got " + ttl.toSeconds() + " s");
        }
        byte[] idb = new byte[6];
        RANDOM.nextBytes(idb);
        String id = HexFormat.of().formatHex(idb);
        byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        String token = "kbs_" + id + "_" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        long now = clock.millis();
        Long expires = ttl == null ? null : now + ttl.toMillis();
        db.tx(true, c -> {
            if (ns != null) {
                NamespaceRows.require(c, ns);
            }
            Row r = new Row(id, hash(token), role.label(), ns, now, expires, 0, null);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO tokens (" + Row.COLUMNS
                    + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setString(1, id);
                ps.setBytes(2, r.hash());
                ps.setString(3, r.role());
                ps.setString(4, ns);
                ps.setLong(5, now);
                if (expires == null) {
                    ps.setNull(6, Types.BIGINT);
                } else {
                    ps.setLong(6, expires);
                }
                ps.setInt(7, 0);
                ps.setBytes(8, r.expected(mac));
                ps.executeUpdate();
            }
            audit.append(c, actor, "token.create", ns, "token:" + id, "ok", "role " + role.label()
                    + (expires == null ? ", no expiry" : ", expires " + Instant.ofEpochMilli(expires)));
            return null;
        });
        return new KbsStore.IssuedToken(id, token, role, ns, expires == null ? null : Instant.ofEpochMilli(expires));
    }

    void revoke(String actor, String id) throws KbsException {
        db.tx(true, c -> {
            Row r = byId(c, id);
            if (r == null || r.revoked() != 0 || !r.authentic(mac)) {
                throw KbsException.notFound("no active token " + id);
            }
            Row revoked = new Row(r.id(), r.hash(), r.role(), r.ns(), r.created(), r.expires(), 1, null);
            try (PreparedStatement ps = c.prepareStatement("UPDATE tokens SET revoked = 1, mac = ? WHERE id = ?")) {
                ps.setBytes(1, revoked.expected(mac));
                ps.setString(2, id);
                ps.executeUpdate();
            }
            audit.append(c, actor, "token.revoke", null, "token:" + id, "ok", "");
            return null;
        });
    }

    private static Row byId(Connection c, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS + " FROM tokens WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Row.read(rs) : null;
            }
        }
    }

    /** Whether token {@code id} is authentic, not revoked and not expired (its approvals count). */
    boolean active(Connection c, String id) throws SQLException {
        Row r = byId(c, id);
        return r != null && r.revoked() == 0 && (r.expires() == null || clock.millis() < r.expires())
                && r.authentic(mac) && !oneWay.revoked(r.id());
    }

    /** Whether an authentic, active admin token exists (the server creates the first one when none does). */
    boolean hasAdmin() throws KbsException {
        long now = clock.millis();
        return db.tx(false, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS
                    + " FROM tokens WHERE role = 'admin' AND revoked = 0");
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Row r = Row.read(rs);
                    if ((r.expires() == null || now < r.expires()) && r.authentic(mac) && !oneWay.revoked(r.id())) {
                        return true;
                    }
                }
                return false;
            }
        });
    }

    List<Map<String, Object>> list() throws KbsException {
        long now = clock.millis();
        return db.tx(false, c -> {
            List<Map<String, Object>> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS
                    + " FROM tokens ORDER BY created_at, id");
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Row r = Row.read(rs);
                    if (!r.authentic(mac)) {
                        continue;
                    }
                    LinkedHashMap<String, Object> m = new LinkedHashMap<>();
                    m.put("id", r.id());
                    m.put("role", r.role());
                    m.put("namespace", r.ns());
                    m.put("created", Instant.ofEpochMilli(r.created()).toString());
                    m.put("expires", r.expires() == null ? null : Instant.ofEpochMilli(r.expires()).toString());
                    m.put("revoked", r.revoked() != 0);
                    m.put("expired", r.expires() != null && now >= r.expires());
                    out.add(m);
                }
            }
            return out;
        });
    }

    Principal authenticate(String token) throws KbsException {
        if (token == null || token.length() > 200 || !token.startsWith("kbs_")) {
            throw KbsException.unauthorized("missing or malformed bearer token");
        }
        byte[] h = hash(token);
        long now = clock.millis();
        return db.tx(false, c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS + " FROM tokens WHERE hash = ?")) {
                ps.setBytes(1, h);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw KbsException.unauthorized("unknown or revoked token");
                    }
                    Row r = Row.read(rs);
                    if (r.revoked() != 0 || !MessageDigest.isEqual(h, r.hash()) || !r.authentic(mac)) {
                        throw KbsException.unauthorized("unknown or revoked token");
                    }
                    if (oneWay.revoked(r.id())) {
                        RowMac.contradicted(r.label(), "revoked in the audit log, active in its row");
                        throw KbsException.unauthorized("unknown or revoked token");
                    }
                    if (r.expires() != null && now >= r.expires()) {
                        throw KbsException.unauthorized("token " + r.id() + " expired at "
                                + Instant.ofEpochMilli(r.expires()));
                    }
                    return new Principal(r.id(), Role.parse(r.role()), r.ns());
                }
            }
        });
    }

    /** Names every token row whose MAC does not match (for {@code audit verify}). */
    void verify(Connection c, List<String> problems) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS + " FROM tokens ORDER BY id");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                Row r = Row.read(rs);
                if (!RowMac.matches(r.mac(), r.expected(mac))) {
                    problems.add(r.label() + ": row does not match its MAC (added or changed outside the broker)");
                }
            }
        }
    }

    /** MACs the rows that have none (the schema upgrade at first start); returns how many. */
    int authenticateLegacy(Connection c) throws SQLException {
        List<Row> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS + " FROM tokens WHERE mac IS NULL");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rows.add(Row.read(rs));
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE tokens SET mac = ? WHERE id = ?")) {
            for (Row r : rows) {
                ps.setBytes(1, r.expected(mac));
                ps.setString(2, r.id());
                ps.executeUpdate();
            }
        }
        return rows.size();
    }

    static byte[] hash(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
