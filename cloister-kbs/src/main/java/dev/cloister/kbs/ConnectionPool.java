package dev.cloister.kbs;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The store's JDBC connections and transactions. SQLite has one writer, so writes share one connection; in WAL
 * mode readers neither block nor wait for it, so reads (every release's secret and policy) get their own
 * connections instead of queueing behind the audit group commit's fsync. PostgreSQL uses one pool of 8 for both.
 * Writes are serialised by one fair lock: the audit chain needs each entry to see the one before it.
 */
final class ConnectionPool implements AutoCloseable {
    private static final int SQLITE_READERS = 2;

    /** One transaction's work. */
    @FunctionalInterface
    interface Work<T> {
        T run(Connection c) throws SQLException, KbsException;
    }

    /** Told when a writing transaction begins and when it has committed (the audit log counts its entries). */
    interface WriteListener {
        void begun();

        void committed();
    }

    private static final class Slot {
        Connection c;
        long epoch;

        Slot(Connection c, long epoch) {
            this.c = c;
            this.epoch = epoch;
        }
    }

    private final String url;
    /** The database password when not in the URL (from a file or the environment), or null. */
    private final String password;
    private final boolean sqlite;
    private final BlockingQueue<Slot> pool;
    /** Connections for read-only transactions: {@link #pool} itself, or separate ones for SQLite. */
    private final BlockingQueue<Slot> readers;
    /** Bumped on every database failure: pooled connections older than that are checked before reuse. */
    private final AtomicLong failureEpoch = new AtomicLong();
    private final ReentrantLock writeLock = new ReentrantLock(true);
    private volatile WriteListener listener;
    private volatile boolean closed;
    /** The first sign of a damaged database (SQLite CORRUPT/NOTADB, PostgreSQL XX001/XX002), or null. */
    private volatile String damage;

    ConnectionPool(String url, String password) throws KbsException {
        this.url = url;
        this.password = password;
        this.sqlite = url.startsWith("jdbc:sqlite:");
        int poolSize = sqlite ? 1 : 8;
        this.pool = new ArrayBlockingQueue<>(poolSize);
        this.readers = sqlite ? new ArrayBlockingQueue<>(SQLITE_READERS) : pool;
        for (int i = 0; i < poolSize; i++) {
            pool.add(new Slot(connect(), 0));
        }
        if (readers != pool) {
            for (int i = 0; i < SQLITE_READERS; i++) {
                readers.add(new Slot(connect(), 0));
            }
        }
    }

    String url() {
        return url;
    }

    boolean sqlite() {
        return sqlite;
    }

    void listener(WriteListener l) {
        this.listener = l;
    }

    /** The JDBC URL without credentials, for messages. */
    String describe() {
        return redact(url);
    }

    static String redact(String url) {
        return url.replaceAll("(?i)(password=)[^&]*", "$1***");
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
                if (password != null) {
                    props.setProperty("password", password);
                }
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

    /**
     * Runs {@code w} in one transaction; any failure rolls everything back. Only {@code write} work may write:
     * the rest runs on the read connections.
     */
    <T> T tx(boolean write, Work<T> w) throws KbsException {
        if (closed) {
            throw KbsException.unavailable("store " + describe() + " is closed", null);
        }
        if (write) {
            writeLock.lock();
        }
        BlockingQueue<Slot> q = write ? pool : readers;
        Slot slot;
        try {
            slot = q.poll(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (write) {
                writeLock.unlock();
            }
            throw KbsException.unavailable("interrupted waiting for a database connection", e);
        }
        if (slot == null) {
            if (write) {
                writeLock.unlock();
            }
            throw KbsException.unavailable("no database connection free within 30 s", null);
        }
        WriteListener l = write ? listener : null;
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
                if (l != null) {
                    l.begun();
                }
                T r = w.run(c);
                c.commit();
                if (l != null) {
                    l.committed();
                }
                c.setAutoCommit(true);
                return r;
            } catch (SQLException e) {
                noteDamage(e);
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
            if (write) {
                writeLock.unlock();
            }
        }
    }

    /** SQLite's SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), PostgreSQL's data_corrupted and index_corrupted. */
    private void noteDamage(SQLException e) {
        int code = e.getErrorCode() & 0xff;
        String state = e.getSQLState();
        if (sqlite && (code == 11 || code == 26) || "XX001".equals(state) || "XX002".equals(state)) {
            if (damage == null) {
                damage = e.getMessage();
            }
        }
    }

    String damage() {
        return damage;
    }

    boolean closed() {
        return closed;
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

    /** Marks the pool closed (new transactions fail) without closing connections yet. */
    void markClosed() {
        closed = true;
    }

    @Override
    public void close() {
        closed = true;
        Slot slot;
        while ((slot = pool.poll()) != null) {
            close(slot.c);
        }
        while ((slot = readers.poll()) != null) {
            close(slot.c);
        }
    }
}
