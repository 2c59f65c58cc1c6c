package dev.cloister.kbs;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The databases every store and end-to-end test runs on: a fresh SQLite file, and a fresh PostgreSQL database on
 * the server named by CLOISTER_TEST_PG_URL (scripts/pg-local starts one; .ci/run always sets it). In CI a missing
 * URL is a failure, not a skip; outside CI the PostgreSQL half is skipped.
 */
final class TestDatabases {
    static final String ENV = "CLOISTER_TEST_PG_URL";
    private static final AtomicInteger N = new AtomicInteger();

    private TestDatabases() {}

    static List<String> kinds() {
        List<String> k = new ArrayList<>();
        k.add("sqlite");
        String url = System.getenv(ENV);
        boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
        if (url != null && !url.isBlank()) {
            k.add("postgresql");
        } else if (ci) {
            throw new IllegalStateException(ENV + " is not set in CI: .ci/run must start PostgreSQL "
                    + "(scripts/pg-local) so that the PostgreSQL half of the suite runs");
        }
        return k;
    }

    /** A fresh, empty database of the given kind. */
    static String fresh(String kind, Path dir) throws SQLException {
        if (kind.equals("sqlite")) {
            return dir.resolve("kbs-" + N.incrementAndGet() + ".db").toString();
        }
        String url = System.getenv(ENV);
        String name = "kbs_t_" + ProcessHandle.current().pid() + "_" + N.incrementAndGet();
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name);
            s.execute("CREATE DATABASE " + name);
        }
        return withDatabase(url, name);
    }

    static String withDatabase(String url, String name) {
        int q = url.indexOf('?');
        String head = q < 0 ? url : url.substring(0, q);
        String tail = q < 0 ? "" : url.substring(q);
        return head.substring(0, head.lastIndexOf('/') + 1) + name + tail;
    }

    static String databaseName(String url) {
        int q = url.indexOf('?');
        String head = q < 0 ? url : url.substring(0, q);
        return head.substring(head.lastIndexOf('/') + 1);
    }

    /** Runs SQL on the PostgreSQL maintenance database (for outage tests). */
    static void pgAdmin(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(System.getenv(ENV)); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
