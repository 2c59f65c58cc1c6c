package dev.cloister.cli.kbs;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code cloister kbs}: the key broker server, its administration, and the workload side of a release. */
@Command(
        name = "kbs",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        header = "Key broker: release keys only to attested workloads, by policy, with a tamper-evident audit log.",
        description = {
            "The broker stores secrets (Gramine encrypted-files keys, AES-256 keys, EC P-256 keys, or uploaded "
                    + "bytes), versioned and encrypted at rest under a master key. A workload receives a secret "
                    + "only when its attestation evidence verifies and satisfies the secret's policy; the secret "
                    + "is then sealed with HPKE to a key the evidence vouches for. Every release, denial and "
                    + "change is appended to a hash-chained audit log.",
            "",
            "Client commands talk to a running broker: --url (or CLOISTER_KBS_URL), --token (or "
                    + "CLOISTER_KBS_TOKEN) and --ca, the broker's certificate. Local commands (export, import, "
                    + "audit verify --db) open the database directly with the master key.",
            "",
            "API: docs/kbs-api.md. Design and measurements: docs/kbs.md."
        },
        subcommands = {
            CommandLine.HelpCommand.class,
            ServeCommand.class,
            NamespaceCommand.class,
            TokenCommand.class,
            SecretCommand.class,
            PolicyCommand.class,
            ReleaseCommand.class,
            AuditCommand.class,
            ExportCommand.class,
            ImportCommand.class,
            MasterCommand.class
        },
        footerHeading = "%nExit status:%n",
        footer = {
            "  0 success; 1 denied (authentication, evidence, policy, audit chain broken); 2 usage;",
            "  3 bad input or unknown secret; 4 broker or database unavailable; 70 internal error"
        })
public final class KbsCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing kbs command");
    }
}
