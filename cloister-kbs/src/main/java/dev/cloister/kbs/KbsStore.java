package dev.cloister.kbs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Statement;
import java.time.Clock;
import java.util.List;
import java.util.Map;

/**
 * The broker's state in SQLite or PostgreSQL through plain JDBC, behind one facade. Every change and its audit entry
 * commit in one transaction, so a crash or a database failure never leaves one without the other; a failed
 * transaction surfaces as {@link KbsException#unavailable} (503).
 *
 * <p>Where things are: {@link ConnectionPool} (connections, transactions), {@link Migrations} (schema),
 * {@link StoreKeys} (keys kept in {@code kbs_meta}), {@link KbsNames} (name rules), {@link NamespaceRows},
 * {@link TokenRows}, {@link SecretRows}, {@link PolicyRows} (policies, proposals, approvals), {@link AuditRows}
 * (the MAC-chained audit table) and {@link TransparencyLog} (Merkle tree, signed checkpoints, proofs).
 */
public final class KbsStore implements AutoCloseable {
    private final ConnectionPool db;
    private final KeyEncryptionKey kek;
    private final Clock clock;
    private final AuditRows audit;
    private final TransparencyLog log;
    private final NamespaceRows namespaces;
    private final TokenRows tokens;
    private final SecretRows secrets;
    private final PolicyRows policies;
    private final RowAuthentication rows;

    /** The audit action recording that the rows present at the upgrade to row MACs were MAC'd. */
    static final String ROWS_AUTHENTICATED = RowAuthentication.ROWS_AUTHENTICATED;

    /**
     * How a broker keeps its log anchored (see {@link LogAnchor}).
     *
     * @param file where the last signed checkpoint is kept, outside the database
     * @param allowRollback warn instead of refusing to start when the log does not extend it
     */
    public record Anchor(Path file, boolean allowRollback) {}

    private final LogAnchor anchor;
    private Thread anchorer;

    private KbsStore(String url, String password, KeyEncryptionKey kek, Clock clock, Anchor anchorOptions)
            throws KbsException {
        this.kek = kek;
        this.clock = clock;
        if (url.startsWith("jdbc:sqlite:")) {
            Integrity.checkSqlite(url);
        }
        boolean rowMacsNew = Migrations.migrate(url, password).contains(Migrations.ROW_MACS);
        this.db = new ConnectionPool(url, password);
        StoreKeys keys;
        try {
            keys = StoreKeys.load(db, kek);
        } catch (KbsException | RuntimeException e) {
            db.close();
            throw e;
        }
        this.audit = new AuditRows(db, clock, keys.auditKey);
        OneWayChanges oneWay = new OneWayChanges();
        this.log = new TransparencyLog(audit, keys.logSigner, oneWay);
        RowMac mac = RowMac.of(kek);
        this.namespaces = new NamespaceRows(db, clock, audit, mac);
        this.tokens = new TokenRows(db, clock, audit, mac, oneWay);
        this.secrets = new SecretRows(db, clock, audit, kek, mac, oneWay);
        this.policies = new PolicyRows(db, clock, audit, mac, namespaces, tokens, secrets, oneWay);
        this.rows = new RowAuthentication(db, audit, tokens, secrets, namespaces, policies);
        this.anchor = anchorOptions == null ? null : new LogAnchor(anchorOptions.file(), anchorOptions.allowRollback());
        try {
            if (rowMacsNew) {
                rows.upgrade();
            }
            if (anchor != null) {
                anchor.checkAtStart(log);
                log.anchor(anchor);
                anchorer = Thread.ofVirtual().name("kbs-log-anchor").start(this::anchorLoop);
            }
        } catch (KbsException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Moves the anchor to the log as it is every few seconds, so that a rollback loses at most that much. */
    private void anchorLoop() {
        while (!db.closed()) {
            try {
                Thread.sleep(ANCHOR_INTERVAL_MS);
                log.checkpoint();
            } catch (InterruptedException e) {
                return;
            } catch (KbsException | RuntimeException e) {
                // The log's damage is kept for health(); the next round tries again.
            }
        }
    }

    private static final long ANCHOR_INTERVAL_MS = 5_000;

    /**
     * Opens (creating and migrating if needed) the store at {@code db}: a file path for SQLite, or a
     * {@code jdbc:postgresql://} or {@code jdbc:sqlite:} URL.
     */
    public static KbsStore open(String db, KeyEncryptionKey kek, Clock clock) throws KbsException {
        return open(db, kek, clock, null);
    }

    /**
     * Like {@link #open(String, KeyEncryptionKey, Clock)}, with the audit log anchored in a file outside the
     * database ({@code anchor} null: none): refuses to open a log that does not extend the anchored checkpoint.
     */
    public static KbsStore open(String db, KeyEncryptionKey kek, Clock clock, Anchor anchor) throws KbsException {
        return open(db, null, kek, clock, anchor);
    }

    /**
     * Like {@link #open(String, KeyEncryptionKey, Clock, Anchor)} with the PostgreSQL password given apart from the
     * URL ({@code password} null: none, or in the URL), so that it need not appear on a command line.
     */
    public static KbsStore open(String db, String password, KeyEncryptionKey kek, Clock clock, Anchor anchor)
            throws KbsException {
        String url;
        if (db.startsWith("jdbc:postgresql:")) {
            url = db;
        } else if (db.startsWith("jdbc:sqlite:")) {
            String path = db.substring("jdbc:sqlite:".length());
            url = path.contains("?") || path.contains(":memory:") || path.startsWith("file:") ? db
                    : "jdbc:sqlite:" + Integrity.prepareSqliteFile(Path.of(path));
        } else if (db.startsWith("jdbc:")) {
            throw KbsException.badRequest("unsupported database URL " + ConnectionPool.redact(db)
                    + " (use a file path, jdbc:sqlite: or jdbc:postgresql:)");
        } else {
            url = "jdbc:sqlite:" + Integrity.prepareSqliteFile(Path.of(db));
        }
        return new KbsStore(url, url.startsWith("jdbc:postgresql:") ? password : null, kek, clock, anchor);
    }

    /** The JDBC URL without credentials, for messages. */
    public String describe() {
        return db.describe();
    }

    static String redact(String url) {
        return ConnectionPool.redact(url);
    }

    /** The clock this store stamps records with. */
    public Clock clock() {
        return clock;
    }

    /** Runs {@code w} in one transaction (see {@link ConnectionPool#tx}); for {@link Backup}. */
    <T> T tx(boolean write, ConnectionPool.Work<T> w) throws KbsException {
        return db.tx(write, w);
    }

    // ---- names and namespaces -----------------------------------------------------------------------------------

    /** Checks a namespace name (see {@link KbsNames#checkNamespace}). */
    public static String checkNamespace(String ns) throws KbsException {
        return KbsNames.checkNamespace(ns);
    }

    /** Checks a secret name (see {@link KbsNames#checkSecretName}). */
    public static String checkSecretName(String name) throws KbsException {
        return KbsNames.checkSecretName(name);
    }

    /** Creates a namespace. */
    public void createNamespace(String actor, String ns) throws KbsException {
        namespaces.create(actor, ns);
    }

    /** The namespaces, sorted. */
    public List<String> namespaces() throws KbsException {
        return namespaces.list();
    }

    // ---- tokens -------------------------------------------------------------------------------------------------

    /** A new token: its public id and the bearer value, shown once and stored only as a hash; null expiry: never. */
    public record IssuedToken(String id, String token, Role role, String namespace, java.time.Instant expires) {}

    /** A token's lifetime unless another is asked for. */
    public static final java.time.Duration DEFAULT_TOKEN_TTL = java.time.Duration.ofDays(90);

    /** The longest lifetime a token may be given. */
    public static final java.time.Duration MAX_TOKEN_TTL = java.time.Duration.ofDays(3650);

    /** Issues a token valid for {@link #DEFAULT_TOKEN_TTL}; owners need a namespace, which must exist. */
    public IssuedToken createToken(String actor, Role role, String ns) throws KbsException {
        return tokens.create(actor, role, ns, DEFAULT_TOKEN_TTL);
    }

    /** Issues a token valid for {@code ttl} (at most {@link #MAX_TOKEN_TTL}; null: the default). */
    public IssuedToken createToken(String actor, Role role, String ns, java.time.Duration ttl) throws KbsException {
        return tokens.create(actor, role, ns, ttl == null ? DEFAULT_TOKEN_TTL : ttl);
    }

    /** Revokes a token by id. */
    public void revokeToken(String actor, String id) throws KbsException {
        tokens.revoke(actor, id);
    }

    /** Whether any active admin token exists (the server creates the first one). */
    public boolean hasAdminToken() throws KbsException {
        return tokens.hasAdmin();
    }

    /** Token metadata: id, role, namespace, created, expires, revoked, expired. */
    public List<Map<String, Object>> listTokens() throws KbsException {
        return tokens.list();
    }

    /**
     * Looks up a bearer token. The lookup is by SHA-256 of the token, so timing reveals nothing about the stored
     * values; the hash is then compared again in constant time.
     *
     * @throws KbsException 401 when unknown or revoked
     */
    public Principal authenticate(String token) throws KbsException {
        return tokens.authenticate(token);
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
        return secrets.store(actor, ns, name, kind, value, rotate);
    }

    /** Retires one version: it can no longer be released. */
    public void retire(String actor, String ns, String name, int version) throws KbsException {
        secrets.retire(actor, ns, name, version);
    }

    /** Every version of every secret in a namespace, by name then version. */
    public List<SecretInfo> list(String ns) throws KbsException {
        return secrets.list(ns);
    }

    /**
     * Reads and decrypts a secret: the given version, or the newest active one when {@code version} is null.
     *
     * @throws KbsException 404 when there is no such (active) version
     */
    public SecretValue read(String ns, String name, Integer version) throws KbsException {
        return db.tx(false, c -> secrets.read(c, ns, name, version));
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
        return db.tx(false, c -> {
            SecretValue v = secrets.read(c, ns, name, version);
            return new Releasable(v, policies.text(c, ns, name));
        });
    }

    // ---- policies and their multi-party control -----------------------------------------------------------------

    /** Most approvals a namespace may require. */
    public static final int MAX_APPROVALS = NamespaceRows.MAX_APPROVALS;

    /**
     * Sets the policy text of a secret (all its versions) directly, whatever the namespace's approval rules: for
     * local administration with the master key. The caller has parsed it already.
     */
    public void setPolicy(String actor, String ns, String name, String text) throws KbsException {
        policies.set(actor, ns, name, text);
    }

    /** The policy text of a secret, or null. */
    public String policy(String ns, String name) throws KbsException {
        return policies.text(ns, name);
    }

    /** Sets how many approvals (distinct tokens) a policy change in {@code ns} needs; 1 means none beyond the setter. */
    public void setPolicyApprovals(String actor, String ns, int approvals) throws KbsException {
        namespaces.setPolicyApprovals(actor, ns, approvals);
    }

    /** How many approvals a policy change in {@code ns} needs (1 unless set). */
    public int policyApprovals(String ns) throws KbsException {
        return namespaces.policyApprovals(ns);
    }

    /**
     * Proposes a policy change, approved by the proposing token; applies it at once when the namespace needs only
     * that one approval. The caller has parsed the text already.
     */
    public PolicyProposal proposePolicy(String actor, String tokenId, String ns, String name, String text)
            throws KbsException {
        return policies.propose(actor, tokenId, ns, name, text);
    }

    /**
     * Adds {@code tokenId}'s approval to a pending proposal; applies the policy in the same transaction when the
     * approvals of tokens not revoked reach the namespace's requirement.
     */
    public PolicyProposal approvePolicy(String actor, String tokenId, String ns, String id) throws KbsException {
        return policies.approve(actor, tokenId, ns, id);
    }

    /** The pending proposals of {@code ns}, oldest first. */
    public List<PolicyProposal> proposals(String ns) throws KbsException {
        return policies.proposals(ns);
    }

    // ---- audit --------------------------------------------------------------------------------------------------

    /** Audit entries this store object has committed, decisions and changes alike (for metrics). */
    public long auditEntriesAppended() {
        return audit.appended();
    }

    /**
     * Appends a decision (release or denial) to the audit log and returns once it is committed. Concurrent calls
     * are group-committed: one transaction (one fsync) carries every entry waiting at that moment, so throughput
     * does not stop at one disk flush per release. Each caller still gets its answer only after the commit.
     */
    public AuditEntry record(String actor, String action, String ns, String subject, String outcome, String detail)
            throws KbsException {
        return audit.record(actor, action, ns, subject, outcome, detail);
    }

    /** Audit entries after {@code afterSeq}, oldest first, at most {@code limit}; {@code ns} null for all. */
    public List<AuditEntry> audit(String ns, long afterSeq, int limit) throws KbsException {
        return audit.list(ns, afterSeq, limit);
    }

    /**
     * Checks the whole chain: sequence numbers 1..n without gaps, each entry's prevHash equal to the previous
     * hash, and each MAC recomputed under the audit key (see {@link AuditRows#verify}); then every token, secret,
     * policy, namespace rules, proposal and approval row against its {@link RowMac}, naming each that fails.
     */
    public AuditReport verifyAudit() throws KbsException {
        AuditReport chain = audit.verify();
        List<String> problems = new java.util.ArrayList<>(chain.problems());
        problems.addAll(rows.verify());
        return new AuditReport(chain.entries(), problems);
    }

    /**
     * Checks the audit log against the checkpoint kept in {@code anchorFile} without moving it (for {@code kbs audit
     * verify --db}): why the log does not extend it, or null when it does or the file does not exist.
     */
    public String checkLogAnchor(Path anchorFile) throws KbsException {
        return new LogAnchor(anchorFile, false).problem(log);
    }

    /** One audit entry by sequence number, or null. */
    public AuditEntry auditEntry(long seq) throws KbsException {
        List<AuditEntry> one = audit.list(null, seq - 1, 1);
        return one.isEmpty() || one.getFirst().seq() != seq ? null : one.getFirst();
    }

    // ---- transparency: signed checkpoints and proofs over the audit log --------------------------------------

    /**
     * The audit log's verifier key, {@code <origin>+<key id>+<public key>} (C2SP signed-note form). Clients pin it
     * from a trusted channel and then check checkpoints and proofs without trusting the broker.
     */
    public String logVerifierKey() {
        return log.verifierKey();
    }

    /**
     * A signed checkpoint of the whole audit log as committed now: C2SP tlog-checkpoint text (origin, size, RFC 9162
     * Merkle root of the entries' leaf data) signed as a note. A leaf's data is {@link AuditEntry#canonical()}.
     */
    public String checkpoint() throws KbsException {
        return log.checkpoint();
    }

    /**
     * Reads the audit log into the Merkle tree now (a broker calls this on a background thread at start-up), so
     * that the first checkpoint asked for does not pay for it: about 6 CPU-seconds per million entries here.
     */
    public void prepareLog() throws KbsException {
        log.prepare();
    }

    /** The inclusion proof of audit entry {@code seq} in the log of its first {@code size} entries. */
    public List<byte[]> inclusionProof(long seq, long size) throws KbsException {
        return log.inclusionProof(seq, size);
    }

    /** Proof that the log of {@code newSize} entries extends the log of {@code oldSize} entries. */
    public List<byte[]> consistencyProof(long oldSize, long newSize) throws KbsException {
        return log.consistencyProof(oldSize, newSize);
    }

    // ---- maintenance --------------------------------------------------------------------------------------------

    /** Runs raw SQL for tests and maintenance tools that must bypass the API (e.g. tamper tests). */
    public int executeRaw(String sql) throws KbsException {
        return db.tx(false, c -> {
            try (Statement s = c.createStatement()) {
                return s.executeUpdate(sql);
            }
        });
    }

    /**
     * Whether the broker can serve: the database answers, and neither it nor the audit log showed damage (a
     * corrupt page, missing log entries).
     *
     * @throws KbsException 503 naming the problem
     */
    public void health() throws KbsException {
        String d = db.damage() != null ? db.damage() : log.damage();
        if (d != null) {
            throw KbsException.unavailable("the broker's database is damaged: " + d, null);
        }
        db.tx(false, c -> {
            try (Statement s = c.createStatement(); var rs = s.executeQuery("SELECT 1")) {
                return rs.next();
            }
        });
    }

    @Override
    public void close() {
        // Only a store whose start passed the anchor check moves the anchor (log.anchor is set after it): a refused
        // start must leave the anchor as it was.
        if (anchorer != null && !db.closed()) {
            try {
                log.checkpoint();
            } catch (KbsException | RuntimeException e) {
                // Closing anyway: the anchor stays at the last checkpoint that could be kept.
            }
        }
        Thread a = anchorer;
        if (a != null) {
            a.interrupt();
        }
        db.markClosed();
        audit.stop();
        db.close();
    }

    /** For {@link Backup}: MACs the rows of a backup made before row MACs. */
    int authenticateLegacy(java.sql.Connection c) throws java.sql.SQLException {
        return rows.authenticateLegacy(c);
    }

    /** For {@link Backup}: the key-encryption key. */
    /**
     * Re-wraps every secret version and the store's own keys under {@code to} and re-authenticates every row with
     * its row key, in one transaction, audited (see {@code MasterRotation}); returns how many secret versions were
     * re-wrapped. Only with no broker running on the database: this store, and any other process on it, still holds
     * the old key, so close it afterwards and open the database with {@code to}.
     *
     * @throws KbsException DENIED when a row fails its check under the current key; nothing is changed on any error
     */
    public int rotateMasterKey(String actor, KeyEncryptionKey to) throws KbsException {
        return MasterRotation.run(db, clock, audit, rows, kek, to, actor);
    }

    KeyEncryptionKey kek() {
        return kek;
    }
}
