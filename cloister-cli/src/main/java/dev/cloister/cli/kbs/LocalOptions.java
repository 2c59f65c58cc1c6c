package dev.cloister.cli.kbs;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.MasterKey;
import java.nio.file.Path;
import java.time.Clock;
import picocli.CommandLine.Option;

/** The broker's database and master key, for commands that work on them directly. */
public final class LocalOptions {
    @Option(names = "--db", paramLabel = "PATH|URL",
            description = "SQLite file or jdbc:postgresql://host:port/db?user=..&password=.. "
                    + "(default: ~/.cloister/kbs.db).")
    String db;

    @Option(names = "--master-key", paramLabel = "FILE",
            description = "Master key file, 32 bytes base64 (default: $CLOISTER_KBS_MASTER_KEY if set, else "
                    + "~/.cloister/kbs-master.key).")
    Path masterKey;

    @Option(names = "--log-anchor", paramLabel = "FILE",
            description = "Where the broker keeps its last signed audit-log checkpoint, outside the database "
                    + "(default: next to an SQLite database as DB.anchor; for PostgreSQL "
                    + "~/.cloister/kbs-log-<hash of the URL>.anchor).")
    Path logAnchor;

    @Option(names = "--allow-log-rollback",
            description = "Start even when the audit log does not extend the anchored checkpoint (cut off, or an "
                    + "older database restored): warn instead of refusing.")
    boolean allowLogRollback;

    static Path home() {
        return Path.of(System.getProperty("user.home"), ".cloister");
    }

    String db() {
        return db != null ? db : home().resolve("kbs.db").toString();
    }

    MasterKey masterKey(boolean create) throws CloisterException {
        if (masterKey == null && System.getenv(MasterKey.ENV) != null) {
            return MasterKey.load(null, false);
        }
        return MasterKey.load(masterKey != null ? masterKey : home().resolve("kbs-master.key"), create);
    }

    /**
     * Opens the database; with {@code create} false (commands that read or export an existing broker) neither the
     * master key nor an SQLite database is made, so a mistyped path is an error, not a new empty broker.
     */
    KbsStore open(boolean create) throws CloisterException {
        String d = db();
        if (!create && !d.startsWith("jdbc:postgresql:")) {
            Path file = Path.of(d.startsWith("jdbc:sqlite:") ? d.substring("jdbc:sqlite:".length()) : d);
            if (!java.nio.file.Files.isRegularFile(file)) {
                throw KbsException.badRequest("no broker database at " + file + " (pass --db, or start one with "
                        + "'cloister kbs serve')");
            }
        }
        return KbsStore.open(d, masterKey(create), Clock.systemUTC());
    }

    /** The file the broker's log anchor is kept in (see {@code --log-anchor}). */
    Path anchorFile() {
        if (logAnchor != null) {
            return logAnchor;
        }
        String d = db();
        if (d.startsWith("jdbc:postgresql:")) {
            try {
                byte[] h = java.security.MessageDigest.getInstance("SHA-256")
                        .digest(d.replaceAll("(?i)(password=)[^&]*", "$1").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return home().resolve("kbs-log-" + java.util.HexFormat.of().formatHex(h, 0, 4) + ".anchor");
            } catch (java.security.GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }
        String file = d.startsWith("jdbc:sqlite:") ? d.substring("jdbc:sqlite:".length()) : d;
        return Path.of(file + ".anchor");
    }

    /** Opens the database for a broker: created if new, its audit log checked against and kept in the anchor. */
    KbsStore openAnchored() throws CloisterException {
        return KbsStore.open(db(), masterKey(true), Clock.systemUTC(),
                new KbsStore.Anchor(anchorFile(), allowLogRollback));
    }
}
