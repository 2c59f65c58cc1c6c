package dev.cloister.cli.kbs;

import dev.cloister.core.CloisterException;
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

    KbsStore open(boolean create) throws CloisterException {
        return KbsStore.open(db(), masterKey(create), Clock.systemUTC());
    }
}
