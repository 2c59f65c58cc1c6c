package dev.cloister.cli.pf;

import dev.cloister.cli.Json;
import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PfKey;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister pf keygen}: a fresh wrap key. */
@Command(
        name = "keygen",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Generate a wrap key for encrypted files.",
        description = {
            "Writes 16 random bytes from the system's secure random generator to KEYFILE, in Gramine's wrap-key "
                    + "format (the raw bytes, as gramine-sgx-pf-crypt and the fs.mounts key 'file' expect), "
                    + "readable and writable by the owner only (mode 0600).",
            "",
            "An existing KEYFILE is never overwritten: losing a key loses every file encrypted with it."
        },
        footerHeading = "%nExamples:%n",
        footer = {"  cloister pf keygen wrap.key"})
public final class PfKeygen implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "KEYFILE", description = "Where to write the key (must not exist).")
    Path keyFile;

    @Option(names = "--json", description = "Print the result as one JSON document: {\"key_file\": PATH}.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (PfKey key = PfKey.generate()) {
            byte[] raw = key.toBytes();
            try {
                AtomicFiles.<RuntimeException>write(keyFile, false, ch -> {
                    ByteBuffer b = ByteBuffer.wrap(raw);
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                });
            } finally {
                Arrays.fill(raw, (byte) 0);
            }
        }
        Path abs = keyFile.toAbsolutePath().normalize();
        var out = spec.commandLine().getOut();
        if (json) {
            Json.print(out, Json.object().put("key_file", abs.toString()));
        } else {
            out.println("wrote a new 16-byte wrap key to " + abs + " (mode 0600)");
            out.flush();
        }
        return 0;
    }
}
