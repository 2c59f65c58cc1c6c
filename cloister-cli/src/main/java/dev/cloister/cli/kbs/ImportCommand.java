package dev.cloister.cli.kbs;

import dev.cloister.kbs.Backup;
import dev.cloister.kbs.MasterKey;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code cloister kbs import}. */
@Command(name = "import", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Restore an encrypted backup into an empty database (SQLite or PostgreSQL).",
        description = "Needs the master key the backup was made under and the backup key. Refuses a database "
                + "that already holds namespaces, tokens, secrets or audit entries.")
public final class ImportCommand implements Callable<Integer> {
    @Mixin
    LocalOptions local;

    @Option(names = "--backup-key", required = true, paramLabel = "FILE", description = "Backup key file.")
    Path backupKey;

    @Option(names = "--in", required = true, paramLabel = "FILE", description = "The backup file.")
    Path in;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int rows = Backup.restore(local.db(), local.password(), local.masterKey(false), MasterKey.load(backupKey, false), in,
                Clock.systemUTC());
        spec.commandLine().getOut().println("restored " + rows + " rows into " + local.db());
        return 0;
    }
}
