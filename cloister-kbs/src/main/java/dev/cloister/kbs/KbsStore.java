package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The broker's state in SQLite or PostgreSQL through plain JDBC: namespaces, hashed tokens, versioned secrets
 * encrypted under per-version data keys wrapped by a {@link KeyEncryptionKey}, policies, and the hash-chained
 * audit log. Every change and its audit entry commit in one transaction, so a crash or a database failure never
 * leaves one without the other; a failed transaction surfaces as {@link KbsException#unavailable} (503).
 */
public final class KbsStore implements AutoCloseable {
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final Pattern SECRET_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] ZERO32 = new byte[32];

    private final String url;
    private final boolean sqlite;
    private final KeyEncryptionKey kek;
    private final Clock clock;
    private final BlockingQueue<Slot> pool;
    /** Bumped on every database failure: pooled connections older than that are checked before reuse. */
    private final java.util.concurrent.atomic.AtomicLong failureEpoch = new java.util.concurrent.atomic.AtomicLong();

    private static final class Slot {
        Connection c;
        long epoch;

        Slot(Connection c, long epoch) {
            this.c = c;
            this.epoch = epoch;
        }
    }
    private final int poolSize;
    private static final int SQLITE_READERS = 2;
    /** Connections for read-only transactions: {@link #pool} itself, or separate ones for SQLite. */
    private final BlockingQueue<Slot> readers;
    private final ReentrantLock auditLock = new ReentrantLock(true);
    private final byte[] auditKey;
    private final dev.cloister.kbs.tlog.NoteSigner logSigner;
    /** Leaf hashes of the audit entries read so far, filled on the first checkpoint or proof asked for. */
    private final dev.cloister.kbs.tlog.MerkleTree tree = new dev.cloister.kbs.tlog.MerkleTree();

    private KbsStore(String url, KeyEncryptionKey kek, Clock clock) throws KbsException {
        this.url = url;
        this.sqlite = url.startsWith("jdbc:sqlite:");
        this.kek = kek;
        this.clock = clock;
        this.poolSize = sqlite ? 1 : 8;
        this.pool = new ArrayBlockingQueue<>(poolSize);
        // SQLite has one writer, so writes share one connection; in WAL mode readers neither block nor wait for it,
        // so reads (every release's secret and policy) get their own connections instead of queueing behind the
        // audit group commit's fsync.
        this.readers = sqlite ? new ArrayBlockingQueue<>(SQLITE_READERS) : pool;
        migrate();
        for (int i = 0; i < poolSize; i++) {
            pool.add(new Slot(connect(), 0));
        }
        if (readers != pool) {
            for (int i = 0; i < SQLITE_READERS; i++) {
                readers.add(new Slot(connect(), 0));
            }
        }
        this.auditKey = loadOrCreateAuditKey();
        this.logSigner = loadOrCreateLogSigner();
    }

    /**
     * Opens (creating and migrating if needed) the store at {@code db}: a file path for SQLite, or a
     * {@code jdbc:postgresql://} or {@code jdbc:sqlite:} URL.
     */
    public static KbsStore open(String db, KeyEncryptionKey kek, Clock clock) throws KbsException {
        String url;
        if (db.startsWith("jdbc:postgresql:") || db.startsWith("jdbc:sqlite:")) {
            url = db;
        } else if (db.startsWith("jdbc:")) {
            throw KbsException.badRequest("unsupported database URL " + redact(db)
                    + " (use a file path, jdbc:sqlite: or jdbc:postgresql:)");
        } else {
            Path p = Path.of(db).toAbsolutePath();
            try {
                Files.createDirectories(p.getParent());
            } catch (java.io.IOException e) {
                throw KbsException.unavailable("cannot create directory for " + p + ": " + e.getMessage(), e);
            }
            url = "jdbc:sqlite:" + p;
        }
        return new KbsStore(url, kek, clock);
    }

    /** The JDBC URL without credentials, for messages. */
    public String describe() {
        return redact(url);
    }

    static String redact(String url) {
        return url.replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    /** The clock this store stamps records with. */
    public Clock clock() {
        return clock;
    }

    private Connection connect() throws KbsException {
        try {
            Properties props = new Properties();
            if (sqlite) {
                // WAL with synchronous=FULL: a commit is on disk when executeUpdate/commit returns, so an
                // acknowledged write survives SIGKILL and power loss; busy_timeout waits out other processes.
                props.setProperty("journal_mode", "WAL");
                props.setProperty("synchronous", "FULL");
                props.setProperty("busy_timeout", "5000");
                props.setProperty("foreign_keys", "true");
            } else {
                props.setProperty("connectTimeout", "5");
                props.setProperty("socketTimeout", "30");
                props.setProperty("tcpKeepAlive", "true");
            }
            Connection c = DriverManager.getConnection(url, props);
            c.setAutoCommit(true);
            if (sqlite) {
                try (Statement s = c.createStatement()) {
                    s.execute("PRAGMA journal_mode=WAL");
                    s.execute("PRAGMA synchronous=FULL");
                    s.execute("PRAGMA busy_timeout=5000");
                }
            }
            return c;
        } catch (SQLException e) {
            throw KbsException.unavailable("database " + describe() + " unavailable: " + e.getMessage(), e);
        }
    }

    private void migrate() throws KbsException {
        try {
            Flyway.configure()
                    .dataSource(url, null, null)
                    .locations("classpath:db/migration")
                    .placeholders(Map.of("blob", sqlite ? "BLOB" : "BYTEA"))
                    .table("kbs_schema_history")
                    .loggers("slf4j")
                    .load()
                    .migrate();
        } catch (FlywayException e) {
            throw KbsException.unavailable("database " + describe() + " migration failed: " + e.getMessage(), e);
        }
    }

    @FunctionalInterface
    interface Work<T> {
        T run(Connection c) throws SQLException, KbsException;
    }

    /**
     * Runs {@code w} in one transaction; any failure rolls everything back. Only {@code audited} work may write:
     * the rest runs on the read connections.
     */
    <T> T tx(boolean audited, Work<T> w) throws KbsException {
        if (closed) {
            throw KbsException.unavailable("store " + describe() + " is closed", null);
        }
        if (audited) {
            auditLock.lock();
        }
        BlockingQueue<Slot> q = audited ? pool : readers;
        Slot slot;
        try {
            slot = q.poll(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (audited) {
                auditLock.unlock();
            }
            throw KbsException.unavailable("interrupted waiting for a database connection", e);
        }
        if (slot == null) {
            if (audited) {
                auditLock.unlock();
            }
            throw KbsException.unavailable("no database connection free within 30 s", null);
        }
        try {
            long epoch = failureEpoch.get();
            if (slot.c == null || slot.epoch < epoch && !valid(slot.c)) {
                close(slot.c);
                slot.c = null;
                slot.c = connect();
            }
            slot.epoch = epoch;
            Connection c = slot.c;
            try {
                c.setAutoCommit(false);
                if (audited) {
                    uncommitted = 0;
                }
                T r = w.run(c);
                c.commit();
                if (audited) {
                    appended.add(uncommitted);
                }
                c.setAutoCommit(true);
                return r;
            } catch (SQLException e) {
                failureEpoch.incrementAndGet();
                rollback(c);
                close(c);
                slot.c = null;
                throw KbsException.unavailable("database " + describe() + " failed; nothing was applied: "
                        + e.getMessage(), e);
            } catch (KbsException | RuntimeException e) {
                rollback(c);
                try {
                    c.setAutoCommit(true);
                } catch (SQLException ignored) {
                    close(c);
                    slot.c = null;
                }
                throw e;
            }
        } finally {
            if (closed) {
                // close() has drained the queues already: a connection handed back now would never be closed.
                close(slot.c);
                slot.c = null;
            } else {
                q.add(slot);
            }
            if (audited) {
                auditLock.unlock();
            }
        }
    }

    private static boolean valid(Connection c) {
        try {
            return c.isValid(2);
        } catch (SQLException e) {
            return false;
        }
    }

    private static void close(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // Discarding a broken connection.
            }
        }
    }

    private static void rollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // The connection is closed after a SQL failure anyway.
        }
    }

    // ---- meta and keys ------------------------------------------------------------------------------------------

    private byte[] loadOrCreateAuditKey() throws KbsException {
        byte[] aad = "cloister-kbs audit key".getBytes(StandardCharsets.US_ASCII);
        return tx(true, c -> {
            byte[] kekId = meta(c, "kek_id");
            if (kekId != null && !new String(kekId, StandardCharsets.UTF_8).equals(kek.id())) {
                throw KbsException.denied("database " + describe() + " was created under master key "
                        + new String(kekId, StandardCharsets.UTF_8) + ", not " + kek.id());
            }
            byte[] wrapped = meta(c, "audit_key");
            if (wrapped != null) {
                return kek.unwrap(wrapped, aad);
            }
            byte[] k = new byte[32];
            RANDOM.nextBytes(k);
            putMeta(c, "kek_id", kek.id().getBytes(StandardCharsets.UTF_8));
            putMeta(c, "audit_key", kek.wrap(k, aad));
            return k;
        });
    }

    /**
     * The audit log's signing key: an Ed25519 seed wrapped by the master key, and the log's name ("origin"), made
     * once per database (so a restored backup keeps them).
     */
    private dev.cloister.kbs.tlog.NoteSigner loadOrCreateLogSigner() throws KbsException {
        byte[] aad = "cloister-kbs log key".getBytes(StandardCharsets.US_ASCII);
        return tx(true, c -> {
            byte[] origin = meta(c, "log_origin");
            byte[] wrapped = meta(c, "log_key");
            try {
                if (origin != null && wrapped != null) {
                    byte[] seed = kek.unwrap(wrapped, aad);
                    try {
                        return dev.cloister.kbs.tlog.NoteSigner.fromSeed(new String(origin, StandardCharsets.UTF_8),
                                seed);
                    } finally {
                        java.util.Arrays.fill(seed, (byte) 0);
                    }
                }
                byte[] id = new byte[8];
                RANDOM.nextBytes(id);
                var signer = dev.cloister.kbs.tlog.NoteSigner.generate("cloister-kbs/" + HexFormat.of().formatHex(id));
                byte[] seed = signer.seed();
                try {
                    putMeta(c, "log_origin", signer.name().getBytes(StandardCharsets.UTF_8));
                    putMeta(c, "log_key", kek.wrap(seed, aad));
                } finally {
                    java.util.Arrays.fill(seed, (byte) 0);
                }
                return signer;
            } catch (dev.cloister.kbs.tlog.ProofException e) {
                throw KbsException.unavailable("the audit log key in " + describe() + " is damaged: " + e.getMessage(),
                        null);
            }
        });
    }

    private static byte[] meta(Connection c, String k) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT v FROM kbs_meta WHERE k = ?")) {
            ps.setString(1, k);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getBytes(1) : null;
            }
        }
    }

    private static void putMeta(Connection c, String k, byte[] v) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO kbs_meta (k, v) VALUES (?, ?)")) {
            ps.setString(1, k);
            ps.setBytes(2, v);
            ps.executeUpdate();
        }
    }

    // ---- namespaces ---------------------------------------------------------------------------------------------

    /** Checks a namespace name: lower-case letters, digits, {@code . _ -}, at most 64. */
    public static String checkNamespace(String ns) throws KbsException {
        if (ns == null || !NAME.matcher(ns).matches()) {
            throw KbsException.badRequest("bad namespace name '" + ns + "' (lower-case letters, digits, . _ -; "
                    + "at most 64)");
        }
        return ns;
    }

    /** Checks a secret name: letters, digits, {@code . _ -}, at most 128. */
    public static String checkSecretName(String name) throws KbsException {
        if (name == null || !SECRET_NAME.matcher(name).matches() || name.contains("..")) {
            throw KbsException.badRequest("bad secret name '" + name + "' (letters, digits, . _ -; at most 128)");
        }
        return name;
    }

    /** Creates a namespace. */
    public void createNamespace(String actor, String ns) throws KbsException {
        checkNamespace(ns);
        tx(true, c -> {
            if (namespaceExists(c, ns)) {
                throw KbsException.conflict("namespace " + ns + " exists");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO namespaces (name, created_at) VALUES (?, ?)")) {
                ps.setString(1, ns);
                ps.setLong(2, clock.millis());
                ps.executeUpdate();
            }
            append(c, actor, "namespace.create", ns, null, "ok", "");
            return null;
        });
    }

    /** The namespaces, sorted. */
    public List<String> namespaces() throws KbsException {
        return tx(false, c -> {
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

    private static boolean namespaceExists(Connection c, String ns) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM namespaces WHERE name = ?")) {
            ps.setString(1, ns);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    // ---- tokens -------------------------------------------------------------------------------------------------

    /** A new token: its public id and the bearer value, shown once and stored only as a hash. */
    public record IssuedToken(String id, String token, Role role, String namespace) {}

    /** Issues a token; owners need a namespace, which must exist. */
    public IssuedToken createToken(String actor, Role role, String ns) throws KbsException {
        if (role == Role.OWNER && ns == null) {
            throw KbsException.badRequest("an owner token needs a namespace");
        }
        if (role == Role.ADMIN && ns != null) {
            throw KbsException.badRequest("an admin token has no namespace");
        }
        if (ns != null) {
            checkNamespace(ns);
        }
        byte[] idb = new byte[6];
        RANDOM.nextBytes(idb);
        String id = HexFormat.of().formatHex(idb);
        byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        String token = "kbs_" + id + "_" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        tx(true, c -> {
            if (ns != null && !namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO tokens (id, hash, role, namespace, created_at, revoked) VALUES (?, ?, ?, ?, ?, 0)")) {
                ps.setString(1, id);
                ps.setBytes(2, tokenHash(token));
                ps.setString(3, role.label());
                ps.setString(4, ns);
                ps.setLong(5, clock.millis());
                ps.executeUpdate();
            }
            append(c, actor, "token.create", ns, "token:" + id, "ok", "role " + role.label());
            return null;
        });
        return new IssuedToken(id, token, role, ns);
    }

    /** Revokes a token by id. */
    public void revokeToken(String actor, String id) throws KbsException {
        tx(true, c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0")) {
                ps.setString(1, id);
                if (ps.executeUpdate() != 1) {
                    throw KbsException.notFound("no active token " + id);
                }
            }
            append(c, actor, "token.revoke", null, "token:" + id, "ok", "");
            return null;
        });
    }

    /** Whether any active admin token exists (the server creates the first one). */
    public boolean hasAdminToken() throws KbsException {
        return tx(false, c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT 1 FROM tokens WHERE role = 'admin' AND revoked = 0");
                    ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        });
    }

    /** Token metadata: id, role, namespace, revoked. */
    public List<Map<String, Object>> listTokens() throws KbsException {
        return tx(false, c -> {
            List<Map<String, Object>> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id, role, namespace, created_at, revoked FROM tokens ORDER BY created_at, id");
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    java.util.LinkedHashMap<String, Object> m = new java.util.LinkedHashMap<>();
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

    /**
     * Looks up a bearer token. The lookup is by SHA-256 of the token, so timing reveals nothing about the stored
     * values; the hash is then compared again in constant time.
     *
     * @throws KbsException 401 when unknown or revoked
     */
    public Principal authenticate(String token) throws KbsException {
        if (token == null || token.length() > 200 || !token.startsWith("kbs_")) {
            throw KbsException.unauthorized("missing or malformed bearer token");
        }
        byte[] h = tokenHash(token);
        return tx(false, c -> {
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

    private static byte[] tokenHash(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- secrets ------------------------------------------------------------------------------------------------

    /** A decrypted secret version. */
    public record SecretValue(SecretInfo info, byte[] value) {}

    /**
     * Stores a new secret (version 1), or with {@code rotate} a new version of an existing one.
     *
     * @param value the value, or null to generate one of {@code kind}
     * @return the stored version's metadata
     */
    public SecretInfo storeSecret(String actor, String ns, String name, SecretKind kind, byte[] value, boolean rotate)
            throws KbsException {
        checkNamespace(ns);
        checkSecretName(name);
        byte[] v = value == null ? kind.generate() : value.clone();
        kind.validate(v);
        return tx(true, c -> {
            if (!namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
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
            append(c, actor, rotate ? "secret.rotate" : value == null ? "secret.generate" : "secret.put", ns,
                    name + "@" + version, "ok", "kind " + kind.label());
            return new SecretInfo(ns, name, version, kind, true, now, null);
        });
    }

    /** Retires one version: it can no longer be released. */
    public void retire(String actor, String ns, String name, int version) throws KbsException {
        tx(true, c -> {
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
            append(c, actor, "secret.retire", ns, name + "@" + version, "ok", "");
            return null;
        });
    }

    /** Every version of every secret in a namespace, by name then version. */
    public List<SecretInfo> list(String ns) throws KbsException {
        return tx(false, c -> {
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

    /**
     * Reads and decrypts a secret: the given version, or the newest active one when {@code version} is null.
     *
     * @throws KbsException 404 when there is no such (active) version
     */
    public SecretValue read(String ns, String name, Integer version) throws KbsException {
        return tx(false, c -> read(c, ns, name, version));
    }

    /** A secret version with the policy text that governs it (null when none is set). */
    public record Releasable(SecretValue secret, String policy) {}

    /**
     * {@link #read} and {@link #policy} in one transaction, for a release: one connection hand-off instead of two
     * on the path every release takes, and the policy seen is the one current with the secret read.
     *
     * @throws KbsException 404 when there is no such (active) version
     */
    public Releasable readForRelease(String ns, String name, Integer version) throws KbsException {
        return tx(false, c -> {
            SecretValue v = read(c, ns, name, version);
            return new Releasable(v, policy(c, ns, name));
        });
    }

    private SecretValue read(Connection c, String ns, String name, Integer version) throws SQLException,
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
                return new SecretValue(info, open(dek, rs.getBytes(9), aad));
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
        } catch (javax.crypto.AEADBadTagException e) {
            throw KbsException.denied("stored secret does not authenticate (altered record)");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- policies -----------------------------------------------------------------------------------------------

    /**
     * Sets the policy text of a secret (all its versions) directly, whatever the namespace's approval rules: for
     * local administration with the master key. The caller has parsed it already.
     */
    public void setPolicy(String actor, String ns, String name, String text) throws KbsException {
        checkNamespace(ns);
        checkSecretName(name);
        tx(true, c -> {
            if (!namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
            applyPolicy(c, actor, ns, name, text, "");
            return null;
        });
    }

    private void applyPolicy(Connection c, String actor, String ns, String name, String text, String how)
            throws SQLException {
        String old = policy(c, ns, name);
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
        append(c, actor, "policy.set", ns, name, "ok", text + how);
    }

    // ---- multi-party control of policies ---------------------------------------------------------------------

    /** Most approvals a namespace may require. */
    public static final int MAX_APPROVALS = 16;

    /** Sets how many approvals (distinct tokens) a policy change in {@code ns} needs; 1 means none beyond the setter. */
    public void setPolicyApprovals(String actor, String ns, int approvals) throws KbsException {
        checkNamespace(ns);
        if (approvals < 1 || approvals > MAX_APPROVALS) {
            throw KbsException.badRequest("policy approvals must be 1.." + MAX_APPROVALS + ", got " + approvals);
        }
        tx(true, c -> {
            if (!namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
            try (PreparedStatement del = c.prepareStatement("DELETE FROM namespace_rules WHERE namespace = ?");
                    PreparedStatement ins = c.prepareStatement(
                            "INSERT INTO namespace_rules (namespace, policy_approvals) VALUES (?, ?)")) {
                del.setString(1, ns);
                del.executeUpdate();
                ins.setString(1, ns);
                ins.setInt(2, approvals);
                ins.executeUpdate();
            }
            append(c, actor, "namespace.rules", ns, null, "ok", "policy approvals " + approvals);
            return null;
        });
    }

    /** How many approvals a policy change in {@code ns} needs (1 unless set). */
    public int policyApprovals(String ns) throws KbsException {
        return tx(false, c -> policyApprovals(c, ns));
    }

    private static int policyApprovals(Connection c, String ns) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT policy_approvals FROM namespace_rules WHERE namespace = ?")) {
            ps.setString(1, ns);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : 1;
            }
        }
    }

    /**
     * Proposes a policy change, approved by the proposing token; applies it at once when the namespace needs only
     * that one approval. The caller has parsed the text already.
     */
    public PolicyProposal proposePolicy(String actor, String tokenId, String ns, String name, String text)
            throws KbsException {
        checkNamespace(ns);
        checkSecretName(name);
        return tx(true, c -> {
            if (!namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
            int required = policyApprovals(c, ns);
            if (required <= 1) {
                applyPolicy(c, actor, ns, name, text, "");
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
            append(c, actor, "policy.propose", ns, name, "ok", "proposal " + id + " (1 of " + required
                    + " approvals): " + text);
            return proposal(c, ns, id);
        });
    }

    /**
     * Adds {@code tokenId}'s approval to a pending proposal; applies the policy in the same transaction when the
     * approvals of tokens not revoked reach the namespace's requirement.
     */
    public PolicyProposal approvePolicy(String actor, String tokenId, String ns, String id) throws KbsException {
        checkNamespace(ns);
        return tx(true, c -> {
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
            append(c, actor, "policy.approve", ns, p.name(), "ok", "proposal " + id + " (" + now.approvers().size()
                    + " of " + now.required() + " approvals)");
            if (now.approvers().size() >= now.required()) {
                applyPolicy(c, actor, ns, p.name(), p.text(), " (proposal " + id + ", approved by "
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

    /** The pending proposals of {@code ns}, oldest first. */
    public List<PolicyProposal> proposals(String ns) throws KbsException {
        checkNamespace(ns);
        return tx(false, c -> {
            if (!namespaceExists(c, ns)) {
                throw KbsException.notFound("no namespace " + ns);
            }
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
        return new PolicyProposal(id, ns, name, text, state, approvers, policyApprovals(c, ns));
    }

    /** The policy text of a secret, or null. */
    public String policy(String ns, String name) throws KbsException {
        return tx(false, c -> policy(c, ns, name));
    }

    private static String policy(Connection c, String ns, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT text FROM policies WHERE namespace = ? AND name = ?")) {
            ps.setString(1, ns);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    // ---- audit --------------------------------------------------------------------------------------------------

    private record Pending(String actor, String action, String ns, String subject, String outcome, String detail,
            java.util.concurrent.CompletableFuture<AuditEntry> done) {}

    private final java.util.concurrent.LinkedBlockingQueue<Pending> pending = new java.util.concurrent.LinkedBlockingQueue<>();
    private volatile Thread committer;
    private final java.util.concurrent.atomic.LongAdder appended = new java.util.concurrent.atomic.LongAdder();
    /** Entries appended in the audited transaction under way (one at a time: {@link #auditLock}). */
    private int uncommitted;

    /** Audit entries this store object has committed, decisions and changes alike (for metrics). */
    public long auditEntriesAppended() {
        return appended.sum();
    }

    /**
     * Appends a decision (release or denial) to the audit log and returns once it is committed. Concurrent calls
     * are group-committed: one transaction (one fsync) carries every entry waiting at that moment, so throughput
     * does not stop at one disk flush per release. Each caller still gets its answer only after the commit.
     */
    public AuditEntry record(String actor, String action, String ns, String subject, String outcome, String detail)
            throws KbsException {
        var done = new java.util.concurrent.CompletableFuture<AuditEntry>();
        startCommitter();
        pending.add(new Pending(actor, action, ns, subject, outcome, detail, done));
        try {
            return done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw KbsException.unavailable("interrupted waiting for the audit commit", e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof KbsException k) {
                throw k;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    private void startCommitter() {
        if (committer == null) {
            synchronized (pending) {
                if (committer == null) {
                    committer = Thread.ofVirtual().name("kbs-audit-committer").start(this::commitLoop);
                }
            }
        }
    }

    private void commitLoop() {
        List<Pending> batch = new ArrayList<>();
        while (!closed) {
            try {
                Pending first = pending.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.clear();
                batch.add(first);
                pending.drainTo(batch, 511);
                try {
                    List<AuditEntry> written = tx(true, c -> {
                        List<AuditEntry> out = new ArrayList<>();
                        for (Pending p : batch) {
                            out.add(append(c, p.actor(), p.action(), p.ns(), p.subject(), p.outcome(), p.detail()));
                        }
                        return out;
                    });
                    for (int i = 0; i < batch.size(); i++) {
                        batch.get(i).done().complete(written.get(i));
                    }
                } catch (KbsException | RuntimeException e) {
                    batch.forEach(p -> p.done().completeExceptionally(e));
                }
            } catch (InterruptedException e) {
                break;
            }
        }
        Pending p;
        while ((p = pending.poll()) != null) {
            p.done().completeExceptionally(KbsException.unavailable("store closed", null));
        }
    }

    private AuditEntry append(Connection c, String actor, String action, String ns, String subject, String outcome,
            String detail) throws SQLException {
        long seq = 0;
        byte[] prev = ZERO32;
        try (PreparedStatement ps = c.prepareStatement("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
                ResultSet rs = ps.executeQuery()) {
            if (rs.next()) {
                seq = rs.getLong(1);
                prev = rs.getBytes(2);
            }
        }
        uncommitted++;
        AuditEntry draft = new AuditEntry(seq + 1, Instant.ofEpochMilli(clock.millis()), actor, action, ns, subject,
                outcome, detail == null ? "" : detail, prev, null);
        AuditEntry e = new AuditEntry(draft.seq(), draft.at(), actor, action, ns, subject, draft.outcome(),
                draft.detail(), prev, chainMac(prev, draft));
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO audit (seq, at, actor, action, namespace, subject, "
                + "outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setLong(1, e.seq());
            ps.setLong(2, e.at().toEpochMilli());
            ps.setString(3, e.actor());
            ps.setString(4, e.action());
            ps.setString(5, e.namespace());
            ps.setString(6, e.subject());
            ps.setString(7, e.outcome());
            ps.setString(8, e.detail());
            ps.setBytes(9, e.prevHash());
            ps.setBytes(10, e.hash());
            ps.executeUpdate();
        }
        return e;
    }

    private byte[] chainMac(byte[] prev, AuditEntry e) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(auditKey, "HmacSHA256"));
            mac.update(prev);
            return mac.doFinal(e.canonical());
        } catch (GeneralSecurityException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** Audit entries after {@code afterSeq}, oldest first, at most {@code limit}; {@code ns} null for all. */
    public List<AuditEntry> audit(String ns, long afterSeq, int limit) throws KbsException {
        return tx(false, c -> {
            List<AuditEntry> out = new ArrayList<>();
            String sql = "SELECT seq, at, actor, action, namespace, subject, outcome, detail, prev_hash, hash FROM audit "
                    + "WHERE seq > ?" + (ns == null ? "" : " AND namespace = ?") + " ORDER BY seq LIMIT ?";
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                int i = 1;
                ps.setLong(i++, afterSeq);
                if (ns != null) {
                    ps.setString(i++, ns);
                }
                ps.setInt(i, limit);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new AuditEntry(rs.getLong(1), Instant.ofEpochMilli(rs.getLong(2)), rs.getString(3),
                                rs.getString(4), rs.getString(5), rs.getString(6), rs.getString(7), rs.getString(8),
                                rs.getBytes(9), rs.getBytes(10)));
                    }
                }
            }
            return out;
        });
    }

    /**
     * Checks the whole chain: sequence numbers 1..n without gaps, each entry's prevHash equal to the previous
     * hash, and each MAC recomputed under the audit key. An edit breaks a MAC; a deletion or a reordering
     * breaks the sequence or a link; recomputing the chain needs the audit key, which only the master key unwraps.
     */
    public AuditReport verifyAudit() throws KbsException {
        List<String> problems = new ArrayList<>();
        long expected = 1;
        byte[] prev = ZERO32;
        long count = 0;
        long after = 0;
        while (true) {
            List<AuditEntry> page = audit(null, after, 5000);
            if (page.isEmpty()) {
                break;
            }
            for (AuditEntry e : page) {
                count++;
                if (e.seq() != expected) {
                    problems.add("entry " + e.seq() + ": expected sequence number " + expected
                            + " (entries missing or reordered)");
                }
                if (!MessageDigest.isEqual(prev, e.prevHash())) {
                    problems.add("entry " + e.seq() + ": does not link to the entry before it (removed or reordered)");
                }
                if (!MessageDigest.isEqual(chainMac(e.prevHash(), e), e.hash())) {
                    problems.add("entry " + e.seq() + ": content does not match its MAC (edited)");
                }
                prev = e.hash();
                expected = e.seq() + 1;
                after = e.seq();
            }
        }
        return new AuditReport(count, problems);
    }

    // ---- transparency: signed checkpoints and proofs over the audit log --------------------------------------

    /**
     * The audit log's verifier key, {@code <origin>+<key id>+<public key>} (C2SP signed-note form). Clients pin it
     * from a trusted channel and then check checkpoints and proofs without trusting the broker.
     */
    public String logVerifierKey() {
        return logSigner.verifierKey();
    }

    /**
     * A signed checkpoint of the whole audit log as committed now: C2SP tlog-checkpoint text (origin, size, RFC 9162
     * Merkle root of the entries' leaf data) signed as a note. A leaf's data is {@link AuditEntry#canonical()}.
     */
    public String checkpoint() throws KbsException {
        synchronized (tree) {
            syncTree();
            long n = tree.size();
            return logSigner.sign(new dev.cloister.kbs.tlog.Checkpoint(logSigner.name(), n, tree.root(n)).toText());
        }
    }

    /**
     * Reads the audit log into the Merkle tree now (a broker calls this on a background thread at start-up), so
     * that the first checkpoint asked for does not pay for it: about 6 CPU-seconds per million entries here.
     */
    public void prepareLog() throws KbsException {
        synchronized (tree) {
            syncTree();
        }
    }

    /** The inclusion proof of audit entry {@code seq} in the log of its first {@code size} entries. */
    public List<byte[]> inclusionProof(long seq, long size) throws KbsException {
        synchronized (tree) {
            syncTree();
            if (size < 1 || size > tree.size() || seq < 1 || seq > size) {
                throw KbsException.badRequest("no entry " + seq + " in a log of " + size + " entries (the log has "
                        + tree.size() + ")");
            }
            return tree.inclusionProof(seq - 1, size);
        }
    }

    /** Proof that the log of {@code newSize} entries extends the log of {@code oldSize} entries. */
    public List<byte[]> consistencyProof(long oldSize, long newSize) throws KbsException {
        synchronized (tree) {
            syncTree();
            if (oldSize < 1 || oldSize > newSize || newSize > tree.size()) {
                throw KbsException.badRequest("no consistency proof from " + oldSize + " to " + newSize
                        + " entries (the log has " + tree.size() + ")");
            }
            return tree.consistencyProof(oldSize, newSize);
        }
    }

    /** One audit entry by sequence number, or null. */
    public AuditEntry auditEntry(long seq) throws KbsException {
        List<AuditEntry> one = audit(null, seq - 1, 1);
        return one.isEmpty() || one.getFirst().seq() != seq ? null : one.getFirst();
    }

    /** Reads the entries committed since the last call into the tree; a gap means rows were removed. */
    private void syncTree() throws KbsException {
        while (true) {
            List<AuditEntry> page = audit(null, tree.size(), 5000);
            if (page.isEmpty()) {
                return;
            }
            for (AuditEntry e : page) {
                if (e.seq() != tree.size() + 1) {
                    throw KbsException.unavailable("the audit log is damaged: entry " + (tree.size() + 1)
                            + " is missing; no checkpoint is signed over it", null);
                }
                tree.append(dev.cloister.kbs.tlog.MerkleTree.leafHash(e.canonical()));
            }
        }
    }

    // ---- backup -------------------------------------------------------------------------------------------------

    /** Runs raw SQL for tests and maintenance tools that must bypass the API (e.g. tamper tests). */
    public int executeRaw(String sql) throws KbsException {
        return tx(false, c -> {
            try (Statement s = c.createStatement()) {
                return s.executeUpdate(sql);
            }
        });
    }

    private volatile boolean closed;

    @Override
    public void close() {
        closed = true;
        Thread t = committer;
        if (t != null) {
            t.interrupt();
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Slot slot;
        while ((slot = pool.poll()) != null) {
            close(slot.c);
        }
        while ((slot = readers.poll()) != null) {
            close(slot.c);
        }
    }

    /** For {@link Backup}: the key-encryption key and the connection work helper. */
    KeyEncryptionKey kek() {
        return kek;
    }

    byte[] auditKeyForBackup() {
        return auditKey.clone();
    }
}
