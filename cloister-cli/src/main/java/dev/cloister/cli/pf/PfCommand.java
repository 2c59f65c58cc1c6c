package dev.cloister.cli.pf;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParameterException;

/** {@code cloister pf}: Gramine encrypted files ("protected files") outside the enclave. */
@Command(
        name = "pf",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Encrypt, decrypt and inspect Gramine encrypted files (protected files).",
        description = {
            "Gramine encrypted files carry data into and out of an enclave. Each file is bound to the path the "
                    + "enclave opens it under (the embedded path) and authenticated node by node with AES-128-GCM "
                    + "under a key derived from a 16-byte wrap key.",
            "",
            "Files written here are byte-compatible with Gramine: format v2 (Gramine 1.9 and later) by default, "
                    + "v1 (Gramine 1.8 and earlier) on request. Both formats are read."
        },
        subcommands = {CommandLine.HelpCommand.class, PfKeygen.class, PfEncrypt.class, PfDecrypt.class,
            PfInspect.class},
        footerHeading = "%nExit status:%n",
        footer = {
            "  0   success",
            "  1   authentication failed: wrong key, wrong embedded path, or a tampered file",
            "  2   usage error",
            "  3   bad input: not an encrypted file, truncated, wrong size, output exists",
            "",
            "A failing command leaves no output behind, not even a partial one."
        })
public final class PfCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command (keygen, encrypt, decrypt or inspect)");
    }
}
