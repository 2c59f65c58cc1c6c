package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The broker's anchor of its own log, and the checks of its database at start-up. */
class LogAnchorTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final MasterKey master = MasterKey.generate();
    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));

    private KbsStore open(String db, boolean allowRollback) throws KbsException {
        return KbsStore.open(db, master, clock, new KbsStore.Anchor(dir.resolve("log.anchor"), allowRollback));
    }

    private static void admin(String db, String... sql) throws Exception {
        try (Connection c = DriverManager.getConnection(db.startsWith("jdbc:") ? db : "jdbc:sqlite:" + db);
                Statement s = c.createStatement()) {
            for (String q : sql) {
                s.executeUpdate(q);
            }
        }
    }

    private static void entries(KbsStore s, String prefix, int n) throws KbsException {
        for (int i = 0; i < n; i++) {
            s.createNamespace("a", prefix + i);
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aLogCutShortIsRefusedUnlessAllowed(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = open(db, false)) {
            entries(s, "n", 6);
        }
        assertThat(Files.readString(dir.resolve("log.anchor"))).contains("\n6\n");
        admin(db, "DELETE FROM audit WHERE seq > 3");
        assertThatThrownBy(() -> open(db, false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("the audit log has 3 entries, fewer than the 6 of the checkpoint kept in")
                .hasMessageContaining("--allow-log-rollback");
        // A refused start leaves the anchor as it was: the next attempt is refused too.
        assertThatThrownBy(() -> open(db, false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("fewer than the 6");
        // 'kbs audit verify --db' reports the same without moving the anchor.
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(s.checkLogAnchor(dir.resolve("log.anchor"))).contains("fewer than the 6");
            assertThat(s.checkLogAnchor(dir.resolve("no-such.anchor"))).isNull();
        }
        assertThat(Files.readString(dir.resolve("log.anchor"))).contains("\n6\n");
        // Allowed explicitly: it starts (with a warning) and the anchor follows the log as it is now.
        try (KbsStore s = open(db, true)) {
            assertThat(s.audit(null, 0, 100)).hasSize(3);
        }
        try (KbsStore s = open(db, false)) {
            entries(s, "m", 1);
        }
    }

    @Test
    void anOlderCopyOfTheDatabaseRestoredIsRefusedAndSoIsAnotherHistory() throws Exception {
        Path db = dir.resolve("kbs.db");
        try (KbsStore s = open(db.toString(), false)) {
            entries(s, "n", 3);
        }
        Files.copy(db, dir.resolve("old.db"));
        try (KbsStore s = open(db.toString(), false)) {
            entries(s, "m", 3);
        }
        Files.copy(dir.resolve("old.db"), db, StandardCopyOption.REPLACE_EXISTING);
        assertThatThrownBy(() -> open(db.toString(), false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("the audit log has 3 entries, fewer than the 6 of the checkpoint");
        // The old copy grown past the anchor with other entries (the broker without its anchor): not an extension.
        try (KbsStore s = KbsStore.open(db.toString(), master, clock)) {
            entries(s, "x", 5);
        }
        assertThatThrownBy(() -> open(db.toString(), false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("the audit log of 8 entries does not extend the checkpoint of 6 entries");
        // Another broker's database at the same place: its log key does not verify the anchor.
        Files.delete(db);
        try (KbsStore s = KbsStore.open(db.toString(), master, clock)) {
            entries(s, "y", 9);
        }
        assertThatThrownBy(() -> open(db.toString(), false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("does not verify under this database's log key");
    }

    @Test
    void aZeroLengthDatabaseFileIsNotAFirstStart() throws Exception {
        Path db = dir.resolve("kbs.db");
        Files.createFile(db);
        assertThatThrownBy(() -> KbsStore.open(db.toString(), master, clock)).isInstanceOf(KbsException.class)
                .hasMessageContaining("is empty (zero length)");
        assertThat(Files.size(db)).isZero();
        // A lost database file with its anchor still there: the new database's log is not the anchored one.
        Files.delete(db);
        try (KbsStore s = open(db.toString(), false)) {
            entries(s, "n", 2);
        }
        for (String f : new String[] {"kbs.db", "kbs.db-wal", "kbs.db-shm"}) {
            Files.deleteIfExists(dir.resolve(f));
        }
        assertThatThrownBy(() -> open(db.toString(), false)).isInstanceOf(KbsException.class)
                .hasMessageContaining("does not verify under this database's log key");
    }

    @Test
    void aNewDatabaseIsPrivate() throws Exception {
        Path db = dir.resolve("state/kbs.db");
        try (KbsStore s = open(db.toString(), false)) {
            entries(s, "n", 1);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(db))).isEqualTo("rw-------");
            for (String f : new String[] {"kbs.db-wal", "kbs.db-shm"}) {
                Path p = db.resolveSibling(f);
                if (Files.exists(p)) {
                    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p))).isEqualTo("rw-------");
                }
            }
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(db.getParent())))
                .isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("log.anchor"))))
                .isEqualTo("rw-------");
    }

    @Test
    void aCorruptPageRefusesTheStart() throws Exception {
        Path db = dir.resolve("kbs.db");
        try (KbsStore s = KbsStore.open(db.toString(), master, clock)) {
            entries(s, "namespace-with-a-long-name-", 300);
        }
        long size = Files.size(db);
        assertThat(size).isGreaterThan(16 * 4096);
        try (RandomAccessFile f = new RandomAccessFile(db.toFile(), "rw")) {
            for (long page = 3; page * 4096 < size; page += 4) {
                f.seek(page * 4096);
                f.write(new byte[] {(byte) 0xff, (byte) 0xff, 0x13, 0x37, (byte) 0xff, (byte) 0xff, 0x00, 0x01});
            }
        }
        assertThatThrownBy(() -> KbsStore.open(db.toString(), master, clock)).isInstanceOf(KbsException.class)
                .hasMessageContaining("is damaged (PRAGMA quick_check:");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aDamagedLogMakesHealthFail(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            entries(s, "n", 4);
            s.health();
            admin(db, "DELETE FROM audit WHERE seq = 2");
            assertThatThrownBy(s::prepareLog).isInstanceOf(KbsException.class);
            assertThatThrownBy(s::health).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(503))
                    .hasMessageContaining("damaged: audit entry 2 is missing");
        }
    }
}
