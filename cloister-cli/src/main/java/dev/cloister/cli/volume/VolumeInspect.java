package dev.cloister.cli.volume;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.cli.Json;
import dev.cloister.volume.Volume;
import dev.cloister.volume.VolumeRecord;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister volume inspect}: what the record claims, without the key. */
@Command(name = "inspect", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Show what a volume's record claims (no key needed).",
        description = "Prints the volume's id, version, embedded-path prefix, file count, total size and root "
                + "digest as its record states them. Without the key nothing is authenticated: use 'verify' to "
                + "check the record and every file.",
        footerHeading = "%nExamples:%n",
        footer = {"  cloister volume inspect state-vol", "  cloister volume inspect --json state-vol"})
public final class VolumeInspect implements Callable<Integer> {
    @Option(names = "--json", description = "Print one JSON document: volume, id, version, prefix, files, bytes, "
            + "root, import_pending, authenticated (false).")
    boolean json;

    @Parameters(index = "0", paramLabel = "DIR", description = "The volume directory.")
    Path dir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        VolumeRecord r = Volume.readUnauthenticated(dir);
        boolean pending = Volume.importPending(dir);
        var out = spec.commandLine().getOut();
        if (json) {
            ObjectNode o = json(dir, r);
            o.put("import_pending", pending);
            o.put("authenticated", false);
            Json.print(out, o);
        } else {
            out.printf("volume   %s%nid       %s%nversion  %d%nprefix   %s%nfiles    %,d%nbytes    %,d%nroot     %s%n",
                    dir, r.id(), r.version(), r.prefix(), r.entries().size(), r.totalBytes(), r.rootHex());
            if (pending) {
                out.println("import   incomplete: rerun 'cloister volume import' to finish it");
            }
            out.println("(as recorded; not authenticated without the key: use 'cloister volume verify')");
        }
        out.flush();
        return 0;
    }

    static ObjectNode json(Path dir, VolumeRecord r) {
        ObjectNode o = Json.object();
        o.put("volume", dir.toAbsolutePath().normalize().toString());
        o.put("id", r.id());
        o.put("version", r.version());
        o.put("prefix", r.prefix());
        o.put("files", r.entries().size());
        o.put("bytes", r.totalBytes());
        o.put("root", r.rootHex());
        return o;
    }
}
