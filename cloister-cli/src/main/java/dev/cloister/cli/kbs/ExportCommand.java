package dev.cloister.cli.kbs;

import dev.cloister.kbs.Backup;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.MasterKey;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code cloister kbs export}. */
@Command(name = "export", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Write an encrypted backup of the whole broker database.",
        description = "Secret values stay wrapped under the master key and the whole file is encrypted and "
                + "authenticated under --backup-key, so restoring needs both keys. The audit chain is kept whole.")
public final class ExportCommand implements Callable<Integer> {
    @Mixin
    LocalOptions local;

    @Option(names = "--backup-key", required = true, paramLabel = "FILE",
            description = "Backup key file, 32 bytes base64; created if missing.")
    Path backupKey;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The backup file to write.")
    Path out;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (KbsStore store = local.open(false)) {
            int rows = Backup.export(store, MasterKey.load(backupKey, true), out, force);
            spec.commandLine().getOut().println("exported " + rows + " rows to " + out);
        }
        return 0;
    }
}
