package dev.cloister.kbs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * What is checked about a database before the broker uses it: an SQLite file is made private (mode 600 in a folder
 * others cannot read), a zero-length file is refused rather than taken for a first start, and the file must pass
 * {@code PRAGMA quick_check}. (PostgreSQL: a corrupt page is an error on read with data checksums on, which the
 * connection pool notes for {@link KbsStore#health}.)
 */
final class Integrity {
    private Integrity() {}

    /** Creates the folder (700) and the file (600) of a new SQLite database; refuses a zero-length one. */
    static Path prepareSqliteFile(Path file) throws KbsException {
        Path p = file.toAbsolutePath();
        try {
            if (Files.exists(p)) {
                Path wal = p.resolveSibling(p.getFileName() + "-wal");
                // An empty file with a write-ahead log holding its pages is recoverable; SQLite replays it.
                boolean walHolds = Files.isRegularFile(wal) && Files.size(wal) > 0;
                if (Files.isRegularFile(p) && Files.size(p) == 0 && !walHolds) {
                    throw KbsException.badRequest("database file " + p + " is empty (zero length): that is not a "
                            + "new database but a lost one; restore it from a backup, or delete the file to start a "
                            + "new broker");
                }
                return p;
            }
            Path dir = p.getParent();
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                        PosixFilePermissions.fromString("rwx------")));
            }
            Files.createFile(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            return p;
        } catch (IOException e) {
            throw KbsException.unavailable("cannot create database file " + p + ": " + e.getMessage(), e);
        }
    }

    /** Runs {@code PRAGMA quick_check} on the SQLite database at {@code url}; refuses a damaged one. */
    static void checkSqlite(String url) throws KbsException {
        List<String> problems = new ArrayList<>();
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("PRAGMA quick_check(5)")) {
            while (rs.next()) {
                String r = rs.getString(1);
                if (!"ok".equals(r)) {
                    problems.add(r);
                }
            }
        } catch (SQLException e) {
            problems.add(e.getMessage());
        }
        if (!problems.isEmpty()) {
            throw KbsException.unavailable("database " + ConnectionPool.redact(url) + " is damaged (PRAGMA "
                    + "quick_check: " + String.join("; ", problems) + "); restore it from a backup", null);
        }
    }
}
