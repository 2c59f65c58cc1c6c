package dev.cloister.kbs;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The audit table: a hash chain whose links are HMAC-SHA256 under the audit key. Changes append their entry inside
 * their own transaction ({@link #append}); decisions (releases, denials) are group-committed by {@link #record}.
 */
final class AuditRows implements ConnectionPool.WriteListener {
    private static final byte[] ZERO32 = new byte[32];

    private record Pending(String actor, String action, String ns, String subject, String outcome, String detail,
            CompletableFuture<AuditEntry> done) {}

    private final ConnectionPool db;
    private final Clock clock;
    private final byte[] auditKey;
    private final LinkedBlockingQueue<Pending> pending = new LinkedBlockingQueue<>();
    private volatile Thread committer;
    private final LongAdder appended = new LongAdder();
    /** Entries appended in the writing transaction under way (one at a time: the pool's write lock). */
    private int uncommitted;

    AuditRows(ConnectionPool db, Clock clock, byte[] auditKey) {
        this.db = db;
        this.clock = clock;
        this.auditKey = auditKey;
        db.listener(this);
    }

    @Override
    public void begun() {
        uncommitted = 0;
    }

    @Override
    public void committed() {
        appended.add(uncommitted);
    }

    long appended() {
        return appended.sum();
    }

    /** Appends a decision and returns once it is committed, group-committed with whatever else is waiting. */
    AuditEntry record(String actor, String action, String ns, String subject, String outcome, String detail)
            throws KbsException {
        var done = new CompletableFuture<AuditEntry>();
        startCommitter();
        pending.add(new Pending(actor, action, ns, subject, outcome, detail, done));
        try {
            return done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw KbsException.unavailable("interrupted waiting for the audit commit", e);
        } catch (ExecutionException e) {
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
        while (!db.closed()) {
            try {
                Pending first = pending.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.clear();
                batch.add(first);
                pending.drainTo(batch, 511);
                try {
                    List<AuditEntry> written = db.tx(true, c -> {
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

    /** Stops the group committer (the pool is marked closed first). */
    void stop() {
        Thread t = committer;
        if (t != null) {
            t.interrupt();
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Appends one entry inside the caller's writing transaction. */
    AuditEntry append(Connection c, String actor, String action, String ns, String subject, String outcome,
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
    List<AuditEntry> list(String ns, long afterSeq, int limit) throws KbsException {
        return db.tx(false, c -> {
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
    AuditReport verify() throws KbsException {
        List<String> problems = new ArrayList<>();
        long expected = 1;
        byte[] prev = ZERO32;
        long count = 0;
        long after = 0;
        while (true) {
            List<AuditEntry> page = list(null, after, 5000);
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
}
