package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The {@code secrets} table: versioned secrets, each version's value sealed with AES-256-GCM under its own data key,
 * which the master key wraps; both bind the version's identity (namespace, name, version, kind) as associated data.
 */
final class SecretRows {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConnectionPool db;
    private final Clock clock;
    private final AuditRows audit;
    private final KeyEncryptionKey kek;

    SecretRows(ConnectionPool db, Clock clock, AuditRows audit, KeyEncryptionKey kek) {
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.kek = kek;
    }

    SecretInfo store(String actor, String ns, String name, SecretKind kind, byte[] value, boolean rotate)
            throws KbsException {
        KbsNames.checkNamespace(ns);
        KbsNames.checkSecretName(name);
        byte[] v = value == null ? kind.generate() : value.clone();
        kind.validate(v);
        return db.tx(true, c -> {
            NamespaceRows.require(c, ns);
            int latest = 0;
            SecretKind existingKind = null;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT version, kind FROM secrets WHERE namespace = ? AND name = ? ORDER BY version DESC")) {
                ps.setString(1, ns);
                ps.setString(2, name);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        latest = rs.getInt(1);
                        existingKind = SecretKind.valueOf(rs.getString(2));
                    }
                }
            }
            if (!rotate && latest > 0) {
                throw KbsException.conflict("secret " + ns + "/" + name + " exists (version " + latest
                        + "); rotate it to add a version");
            }
            if (rotate && latest == 0) {
                throw KbsException.notFound("no secret " + ns + "/" + name);
            }
            if (rotate && existingKind != kind) {
                throw KbsException.badRequest("secret " + ns + "/" + name + " is " + existingKind.label()
                        + ", not " + kind.label());
            }
            int version = latest + 1;
            Instant now = clock.instant();
            byte[] aad = aad(ns, name, version, kind);
            byte[] dek = new byte[32];
            RANDOM.nextBytes(dek);
            byte[] ct = seal(dek, v, aad);
            byte[] wrapped = kek.wrap(dek, aad);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO secrets (namespace, name, version, kind, "
                    + "state, wrapped_dek, ciphertext, created_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)")) {
                ps.setString(1, ns);
                ps.setString(2, name);
                ps.setInt(3, version);
                ps.setString(4, kind.name());
                ps.setBytes(5, wrapped);
                ps.setBytes(6, ct);
                ps.setLong(7, now.toEpochMilli());
                ps.executeUpdate();
            }
            audit.append(c, actor, rotate ? "secret.rotate" : value == null ? "secret.generate" : "secret.put", ns,
                    name + "@" + version, "ok", "kind " + kind.label());
            return new SecretInfo(ns, name, version, kind, true, now, null);
        });
    }

    void retire(String actor, String ns, String name, int version) throws KbsException {
        db.tx(true, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE secrets SET state = 'retired', retired_at = ? "
                    + "WHERE namespace = ? AND name = ? AND version = ? AND state = 'active'")) {
                ps.setLong(1, clock.millis());
                ps.setString(2, ns);
                ps.setString(3, name);
                ps.setInt(4, version);
                if (ps.executeUpdate() != 1) {
                    throw KbsException.notFound("no active version " + version + " of secret " + ns + "/" + name);
                }
            }
            audit.append(c, actor, "secret.retire", ns, name + "@" + version, "ok", "");
            return null;
        });
    }

    List<SecretInfo> list(String ns) throws KbsException {
        return db.tx(false, c -> {
            List<SecretInfo> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT namespace, name, version, kind, state, created_at, "
                    + "retired_at FROM secrets WHERE namespace = ? ORDER BY name, version")) {
                ps.setString(1, ns);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(info(rs));
                    }
                }
            }
            return out;
        });
    }

    private static SecretInfo info(ResultSet rs) throws SQLException {
        long retired = rs.getLong(7);
        boolean hasRetired = !rs.wasNull();
        return new SecretInfo(rs.getString(1), rs.getString(2), rs.getInt(3), SecretKind.valueOf(rs.getString(4)),
                rs.getString(5).equals("active"), Instant.ofEpochMilli(rs.getLong(6)),
                hasRetired ? Instant.ofEpochMilli(retired) : null);
    }

    /** Reads and decrypts the given version, or the newest active one when {@code version} is null. */
    KbsStore.SecretValue read(Connection c, String ns, String name, Integer version) throws SQLException,
            KbsException {
        String sql = "SELECT namespace, name, version, kind, state, created_at, retired_at, wrapped_dek, ciphertext "
                + "FROM secrets WHERE namespace = ? AND name = ? AND state = 'active'"
                + (version == null ? " ORDER BY version DESC" : " AND version = ?");
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, ns);
            ps.setString(2, name);
            if (version != null) {
                ps.setInt(3, version);
            }
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw KbsException.notFound("no " + (version == null ? "active secret" : "active version "
                            + version + " of secret") + " " + ns + "/" + name);
                }
                SecretInfo info = info(rs);
                byte[] aad = aad(ns, name, info.version(), info.kind());
                byte[] dek = kek.unwrap(rs.getBytes(8), aad);
                return new KbsStore.SecretValue(info, open(dek, rs.getBytes(9), aad));
            }
        }
    }

    private static byte[] aad(String ns, String name, int version, SecretKind kind) {
        return ("cloister-kbs secret\0" + ns + "\0" + name + "\0" + version + "\0" + kind.name())
                .getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] seal(byte[] dek, byte[] plain, byte[] aad) {
        try {
            byte[] iv = new byte[12];
            RANDOM.nextBytes(iv);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(dek, "AES"), new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            return MasterKey.concat(iv, c.doFinal(plain));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] open(byte[] dek, byte[] ct, byte[] aad) throws KbsException {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(dek, "AES"), new GCMParameterSpec(128, ct, 0, 12));
            c.updateAAD(aad);
            return c.doFinal(ct, 12, ct.length - 12);
        } catch (AEADBadTagException e) {
            throw KbsException.denied("stored secret does not authenticate (altered record)");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
