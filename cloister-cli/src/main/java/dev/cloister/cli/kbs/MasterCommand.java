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
        subcommands = {CommandLine.HelpCommand.class, MasterCommand.CreateHsmKey.class, MasterCommand.Rotate.class})
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

    /** {@code cloister kbs master rotate}. */
    @Command(name = "rotate", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Move the broker's database to a new master key (a key file, or a key in a PKCS#11 token).",
            description = {
                "Opens the database with the current key (--master-key or the --hsm-* options, as for kbs serve), "
                        + "checks every authenticated row, then in one transaction re-wraps every secret version's "
                        + "data key and the broker's own keys under the new key, authenticates every row under the "
                        + "new key's row key and records the rotation in the audit log. A failure or a crash at any "
                        + "point leaves the database as it was, under the current key; run the same command again.",
                "",
                "Run it with the broker stopped (every process on the database holds the old key), then start the "
                        + "broker with the new key. The new key file is created if missing (mode 600) and kept if "
                        + "the rotation fails, so a rerun uses the same key."
            },
            footer = {"%nExample:%n  cloister kbs master rotate --db kbs.db --master-key old.key --to-hsm-uri "
                    + "'pkcs11:token=kbs;object=kbs-master?module-path=/usr/lib/softhsm/libsofthsm2.so'"})
    static final class Rotate implements Callable<Integer> {
        @Mixin
        LocalOptions local;

        @CommandLine.Option(names = "--to-master-key", paramLabel = "FILE",
                description = "The new master key file (32 bytes base64; created if missing).")
        java.nio.file.Path toFile;

        @CommandLine.Option(names = "--to-hsm-uri", paramLabel = "URI",
                description = "The new master key in a PKCS#11 token, as an RFC 7512 URI (module-path required; PIN "
                        + "from pin-source=file:PATH or $" + Pkcs11Kek.PIN_ENV + ").")
        String toUri;

        @CommandLine.Option(names = "--json", description = "Print the result as JSON.")
        boolean json;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws CloisterException {
            if ((toFile == null) == (toUri == null)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "give the new key: --to-master-key FILE or --to-hsm-uri URI");
            }
            dev.cloister.kbs.KeyEncryptionKey to;
            if (toFile != null) {
                to = dev.cloister.kbs.MasterKey.load(toFile, true);
            } else {
                LocalOptions target = new LocalOptions();
                target.hsmUri = toUri;
                to = target.masterKey(false);
            }
            try (dev.cloister.kbs.KbsStore store = local.open(false)) {
                int n = store.rotateMasterKey("local:" + System.getProperty("user.name"), to);
                if (json) {
                    var o = dev.cloister.cli.Json.object();
                    o.put("database", store.describe());
                    o.put("secretVersions", n);
                    o.put("masterKey", to.id());
                    dev.cloister.cli.Json.print(spec.commandLine().getOut(), o);
                } else {
                    spec.commandLine().getOut().println("re-wrapped " + n + " secret version(s); " + store.describe()
                            + " is now under master key " + to.id() + ": start the broker with the new key");
                }
            }
            return 0;
        }
    }
}
