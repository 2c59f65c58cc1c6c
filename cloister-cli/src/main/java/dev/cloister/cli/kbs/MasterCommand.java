package dev.cloister.cli.kbs;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.Pkcs11Kek;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code cloister kbs master}: the broker's master key. */
@Command(name = "master", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "The broker's master key (a file, or a key in a PKCS#11 token).",
        subcommands = {CommandLine.HelpCommand.class, MasterCommand.CreateHsmKey.class})
public final class MasterCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing kbs master command");
    }

    /** {@code cloister kbs master create-hsm-key}. */
    @Command(name = "create-hsm-key", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Generate the broker's master key inside a PKCS#11 token.",
            description = "Makes an AES-256 token object labelled --hsm-key in the token --hsm-token, sensitive and "
                    + "not extractable: its value never leaves the token, not even to this command. Then start the "
                    + "broker with the same --hsm-* options. Refused (exit 3) if the label is taken.",
            footer = {"%nExample:%n  cloister kbs master create-hsm-key --hsm-module /usr/lib/softhsm/libsofthsm2.so "
                    + "--hsm-token kbs --hsm-key kbs-master --hsm-pin-file pin"})
    static final class CreateHsmKey implements Callable<Integer> {
        @Mixin
        LocalOptions local;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws CloisterException {
            if (local.hsmModule == null || local.hsmToken == null || local.hsmKey == null) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--hsm-module, --hsm-token and --hsm-key are required");
            }
            char[] pin = local.hsmPin();
            try {
                Pkcs11Kek.generate(local.hsmModule, local.hsmToken, local.hsmKey, pin);
            } finally {
                java.util.Arrays.fill(pin, '\0');
            }
            spec.commandLine().getOut().println("created AES-256 key '" + local.hsmKey + "' in PKCS#11 token '"
                    + local.hsmToken + "' (not extractable)");
            return 0;
        }
    }
}
