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
}
