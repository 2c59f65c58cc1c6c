package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The {@code tokens} table: bearer tokens stored as SHA-256 hashes, with role, namespace and revocation. */
final class TokenRows {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;

    TokenRows(ConnectionPool db, Clock clock, AuditRows audit) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
    }

    KbsStore.IssuedToken create(String actor, Role role, String ns) throws KbsException {
        if (role == Role.OWNER && ns == null) {
            throw KbsException.badRequest("an owner token needs a namespace");
        }
        if (role == Role.ADMIN && ns != null) {
            throw KbsException.badRequest("an admin token has no namespace");
        }
        if (ns != null) {
            KbsNames.checkNamespace(ns);
        }
        byte[] idb = new byte[6];
        RANDOM.nextBytes(idb);
        String id = HexFormat.of().formatHex(idb);
        byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        String token = "kbs_" + id + "_" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        db.tx(true, c -> {
            if (ns != null) {
                NamespaceRows.require(c, ns);
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO tokens (id, hash, role, namespace, created_at, revoked) VALUES (?, ?, ?, ?, ?, 0)")) {
                ps.setString(1, id);
                ps.setBytes(2, hash(token));
                ps.setString(3, role.label());
                ps.setString(4, ns);
                ps.setLong(5, clock.millis());
                ps.executeUpdate();
            }
            audit.append(c, actor, "token.create", ns, "token:" + id, "ok", "role " + role.label());
            return null;
        });
        return new KbsStore.IssuedToken(id, token, role, ns);
    }

    void revoke(String actor, String id) throws KbsException {
        db.tx(true, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0")) {
                ps.setString(1, id);
                if (ps.executeUpdate() != 1) {
                    throw KbsException.notFound("no active token " + id);
                }
            }
            audit.append(c, actor, "token.revoke", null, "token:" + id, "ok", "");
            return null;
        });
    }

    boolean hasAdmin() throws KbsException {
        return db.tx(false, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT 1 FROM tokens WHERE role = 'admin' AND revoked = 0");
                    ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        });
    }

    List<Map<String, Object>> list() throws KbsException {
        return db.tx(false, c -> {
            List<Map<String, Object>> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id, role, namespace, created_at, revoked FROM tokens ORDER BY created_at, id");
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    LinkedHashMap<String, Object> m = new LinkedHashMap<>();
                    m.put("id", rs.getString(1));
                    m.put("role", rs.getString(2));
                    m.put("namespace", rs.getString(3));
                    m.put("created", Instant.ofEpochMilli(rs.getLong(4)).toString());
                    m.put("revoked", rs.getInt(5) != 0);
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
        return db.tx(false, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id, role, namespace, revoked, hash FROM tokens WHERE hash = ?")) {
                ps.setBytes(1, h);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next() || rs.getInt(4) != 0 || !MessageDigest.isEqual(h, rs.getBytes(5))) {
                        throw KbsException.unauthorized("unknown or revoked token");
                    }
                    return new Principal(rs.getString(1), Role.parse(rs.getString(2)), rs.getString(3));
                }
            }
        });
    }

    static byte[] hash(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
