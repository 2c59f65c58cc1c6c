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
    private final RowMac mac;
    private final OneWayChanges oneWay;

    SecretRows(ConnectionPool db, Clock clock, AuditRows audit, KeyEncryptionKey kek, RowMac mac,
            OneWayChanges oneWay) {
        this.oneWay = oneWay;
        this.db = db;
        this.clock = clock;
        this.audit = audit;
        this.kek = kek;
        this.mac = mac;
    }

    /** One row of {@code secrets} as stored. */
    private record Row(String ns, String name, int version, String kind, String state, long created, Long retired,
            byte[] wrapped, byte[] ciphertext, byte[] mac) {
        static final String COLUMNS = "namespace, name, version, kind, state, created_at, retired_at, wrapped_dek, "
                + "ciphertext, mac";

        static Row read(ResultSet rs) throws SQLException {
            long r = rs.getLong(7);
            Long retired = rs.wasNull() ? null : r;
            return new Row(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getString(4), rs.getString(5),
                    rs.getLong(6), retired, rs.getBytes(8), rs.getBytes(9), rs.getBytes(10));
        }

        byte[] expected(RowMac m) {
            return m.secret(ns, name, version, kind, state, created, retired, wrapped, ciphertext);
        }

        String label() {
            return "secret " + ns + "/" + name + "@" + version;
        }

        boolean authentic(RowMac m) {
            return RowMac.check(mac, expected(m), label());
        }

        SecretInfo info() {
            return new SecretInfo(ns, name, version, SecretKind.valueOf(kind), state.equals("active"),
                    Instant.ofEpochMilli(created), retired == null ? null : Instant.ofEpochMilli(retired));
        }
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
            Row row = new Row(ns, name, version, kind.name(), "active", now.toEpochMilli(), null, wrapped, ct, null);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO secrets (namespace, name, version, kind, "
                    + "state, wrapped_dek, ciphertext, created_at, mac) VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?)")) {
                ps.setString(1, ns);
                ps.setString(2, name);
                ps.setInt(3, version);
                ps.setString(4, kind.name());
                ps.setBytes(5, wrapped);
                ps.setBytes(6, ct);
                ps.setLong(7, now.toEpochMilli());
                ps.setBytes(8, row.expected(mac));
                ps.executeUpdate();
            }
            audit.append(c, actor, rotate ? "secret.rotate" : value == null ? "secret.generate" : "secret.put", ns,
                    name + "@" + version, "ok", "kind " + kind.label());
            return new SecretInfo(ns, name, version, kind, true, now, null);
        });
    }

    void retire(String actor, String ns, String name, int version) throws KbsException {
        db.tx(true, c -> {
            Row r = null;
            for (Row x : versions(c, ns, name)) {
                if (x.version() == version) {
                    r = x;
                }
            }
            if (r == null || !r.state().equals("active") || !r.authentic(mac)) {
                throw KbsException.notFound("no active version " + version + " of secret " + ns + "/" + name);
            }
            long now = clock.millis();
            Row retired = new Row(ns, name, version, r.kind(), "retired", r.created(), now, r.wrapped(),
                    r.ciphertext(), null);
            try (PreparedStatement ps = c.prepareStatement("UPDATE secrets SET state = 'retired', retired_at = ?, "
                    + "mac = ? WHERE namespace = ? AND name = ? AND version = ?")) {
                ps.setLong(1, now);
                ps.setBytes(2, retired.expected(mac));
                ps.setString(3, ns);
                ps.setString(4, name);
                ps.setInt(5, version);
                ps.executeUpdate();
            }
            audit.append(c, actor, "secret.retire", ns, name + "@" + version, "ok", "");
            return null;
        });
    }

    /** Every version of a secret as stored, newest first, authentic or not. */
    private static List<Row> versions(Connection c, String ns, String name) throws SQLException {
        List<Row> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS
                + " FROM secrets WHERE namespace = ? AND name = ? ORDER BY version DESC")) {
            ps.setString(1, ns);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(Row.read(rs));
                }
            }
        }
        return out;
    }

    /** Whether any authentic version of the secret exists (a policy may only be set on an existing secret). */
    boolean exists(Connection c, String ns, String name) throws SQLException {
        for (Row r : versions(c, ns, name)) {
            if (r.authentic(mac)) {
                return true;
            }
        }
        return false;
    }

    /** Every authentic version of every secret in a namespace, by name then version; altered rows are left out. */
    List<SecretInfo> list(String ns) throws KbsException {
        return db.tx(false, c -> {
            List<SecretInfo> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS
                    + " FROM secrets WHERE namespace = ? ORDER BY name, version")) {
                ps.setString(1, ns);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Row r = Row.read(rs);
                        if (r.authentic(mac)) {
                            out.add(r.info());
                        }
                    }
                }
            }
            return out;
        });
    }

    /**
     * Reads and decrypts the given version, or the newest active one when {@code version} is null. A version whose
     * row fails its MAC is absent; when the newest active one is asked for, any altered row newer than the one
     * found refuses the read (a version retired by an edit must not hand out the one before it).
     */
    KbsStore.SecretValue read(Connection c, String ns, String name, Integer version) throws SQLException,
            KbsException {
        Row found = null;
        for (Row r : versions(c, ns, name)) {
            if (version != null && r.version() != version) {
                continue;
            }
            if (!r.authentic(mac)) {
                break;
            }
            if (r.state().equals("active") && oneWay.retired(ns, name, r.version())) {
                // Put back from a copy made before its retirement: authentic, but the log says otherwise.
                RowMac.contradicted(r.label(), "retired in the audit log, active in its row");
                break;
            }
            if (r.state().equals("active")) {
                found = r;
                break;
            }
            if (version != null) {
                break;
            }
        }
        if (found == null) {
            throw KbsException.notFound("no " + (version == null ? "active secret" : "active version "
                    + version + " of secret") + " " + ns + "/" + name);
        }
        SecretInfo info = found.info();
        byte[] aad = aad(ns, name, info.version(), info.kind());
        byte[] dek = kek.unwrap(found.wrapped(), aad);
        return new KbsStore.SecretValue(info, open(dek, found.ciphertext(), aad));
    }

    /** Names every secret row whose MAC does not match (for {@code audit verify}). */
    void verify(Connection c, List<String> problems) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS
                + " FROM secrets ORDER BY namespace, name, version");
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
        try (PreparedStatement ps = c.prepareStatement("SELECT " + Row.COLUMNS + " FROM secrets WHERE mac IS NULL");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rows.add(Row.read(rs));
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE secrets SET mac = ? WHERE namespace = ? AND name = ? AND version = ?")) {
            for (Row r : rows) {
                ps.setBytes(1, r.expected(mac));
                ps.setString(2, r.ns());
                ps.setString(3, r.name());
                ps.setInt(4, r.version());
                ps.executeUpdate();
            }
        }
        return rows.size();
    }

    static byte[] aad(String ns, String name, int version, SecretKind kind) {
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
