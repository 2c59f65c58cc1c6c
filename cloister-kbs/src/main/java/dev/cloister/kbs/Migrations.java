package dev.cloister.kbs;

import java.util.Map;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The schema: Flyway SQL migrations in {@code db/migration} (portable between SQLite and PostgreSQL; the
 * {@code ${blob}} placeholder is BLOB or BYTEA), recorded in {@code kbs_schema_history}.
 */
final class Migrations {
    private Migrations() {}

    /** The migration that added row MACs: when it runs, the rows already there are MAC'd at once. */
    static final String ROW_MACS = "3";

    /** Brings the database at {@code url} to the newest schema; returns the versions applied now. */
    static java.util.Set<String> migrate(String url, String password) throws KbsException {
        boolean sqlite = url.startsWith("jdbc:sqlite:");
        try {
            var result = Flyway.configure()
                    .dataSource(url, null, password)
                    .locations("classpath:db/migration")
                    .placeholders(Map.of("blob", sqlite ? "BLOB" : "BYTEA"))
                    .table("kbs_schema_history")
                    .loggers("slf4j")
                    .load()
                    .migrate();
            java.util.Set<String> applied = new java.util.HashSet<>();
            result.migrations.forEach(m -> applied.add(m.version));
            return applied;
        } catch (FlywayException e) {
            throw KbsException.unavailable("database " + ConnectionPool.redact(url) + " migration failed: "
                    + e.getMessage(), e);
        }
    }
}
