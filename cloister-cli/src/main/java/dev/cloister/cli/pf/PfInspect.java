package dev.cloister.cli.pf;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.cli.Json;
import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfInfo;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.ProtectedFiles;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister pf inspect}: what an encrypted file is, with or without its key. */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Show the format, sizes and node counts of a Gramine encrypted file.",
        description = {
            "Without a key, reads only the plaintext header: format version, the pending-write flag, the file "
                    + "size, and the node counts that size implies. Nothing is authenticated.",
            "",
            "With --key, also authenticates the metadata node and the root of the Merkle tree, and reports the "
                    + "embedded path and the plaintext size (the data nodes themselves are not read; use decrypt "
                    + "to check every node)."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister pf inspect result.pf",
            "  cloister pf inspect --key wrap.key --json result.pf"
        })
public final class PfInspect implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "The encrypted file.")
    Path file;

    @Option(names = {"-k", "--key"}, paramLabel = "KEYFILE",
            description = "The wrap key: authenticate the metadata and report the embedded path and plaintext size.")
    Path keyFile;

    @Option(names = "--json", description = "Print one JSON document: file, format, minor_version, pending_write, "
            + "host_size, host_nodes, data_nodes, mht_nodes, authenticated, and with --key embedded_path and "
            + "plaintext_size.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ObjectNode o = Json.object();
        o.put("file", file.toString());
        try (FileChannel ch = FileChannel.open(file)) {
            ProtectedFiles.Header h = ProtectedFiles.header(ch, file.toString());
            long hostNodes = h.hostSize() / 4096;
            // Without the key, the counts follow from the layout: after node 0, one MHT node per 97.
            long rest = hostNodes - 1;
            long mht = (rest + 96) / 97;
            long data = rest - mht;
            o.put("format", h.version().name().toLowerCase(Locale.ROOT));
            o.put("minor_version", h.minorVersion());
            o.put("pending_write", h.pendingWrite());
            o.put("host_size", h.hostSize());
            o.put("host_nodes", hostNodes);
            o.put("data_nodes", data);
            o.put("mht_nodes", mht);
            o.put("authenticated", false);
            if (keyFile != null) {
                try (PfKey key = PfKey.read(keyFile)) {
                    PfInfo info = ProtectedFiles.inspect(ch, key, PathPolicy.trustEmbedded(), file.toString());
                    o.put("data_nodes", info.dataNodes());
                    o.put("mht_nodes", info.mhtNodes());
                    o.put("authenticated", true);
                    o.put("embedded_path", info.path());
                    o.put("plaintext_size", info.plaintextSize());
                }
            }
        }
        PrintWriter pw = spec.commandLine().getOut();
        if (json) {
            Json.print(pw, o);
            return 0;
        }
        pw.printf("file:           %s%n", file);
        pw.printf("format:         %s (minor %d)%s%n", o.get("format").asText(), o.get("minor_version").asInt(),
                o.get("format").asText().equals("v1") ? ", Gramine 1.8 and earlier" : ", Gramine 1.9 and later");
        pw.printf("pending write:  %s%n", o.get("pending_write").asBoolean() ? "yes (interrupted write)" : "no");
        pw.printf("host size:      %,d bytes (%,d nodes)%n", o.get("host_size").asLong(), o.get("host_nodes").asLong());
        pw.printf("data nodes:     %,d%n", o.get("data_nodes").asLong());
        pw.printf("MHT nodes:      %,d%n", o.get("mht_nodes").asLong());
        if (o.get("authenticated").asBoolean()) {
            pw.printf("embedded path:  %s%n", o.get("embedded_path").asText());
            pw.printf("plaintext size: %,d bytes%n", o.get("plaintext_size").asLong());
            pw.printf("metadata:       authenticated%n");
        } else {
            pw.printf("metadata:       not authenticated (no --key)%n");
        }
        pw.flush();
        return 0;
    }
}
