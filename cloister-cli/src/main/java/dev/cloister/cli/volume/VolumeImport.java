package dev.cloister.cli.volume;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.cli.Json;
import dev.cloister.cli.Progress;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.ProtectedFiles;
import dev.cloister.volume.Volume;
import dev.cloister.volume.VolumeImporter;
import java.io.BufferedInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister volume import}: a plaintext tree or a tar stream becomes a volume's next recorded state. */
@Command(name = "import", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Import a plaintext tree (or a tar stream on stdin) into a volume.",
        description = {
            "Encrypts every regular file under SRC (or, with SRC '-', every regular file of a tar stream on "
                    + "stdin: GNU, ustar or pax) into the volume DIR, which is created if missing and must "
                    + "otherwise be empty. Files are encrypted in parallel straight from disk, each into a "
                    + "temporary file renamed into place when complete; no plaintext is written. The new record "
                    + "(version + 1) is written last.",
            "",
            "Interrupted (killed, disk full, broken pipe)? Run the same command again: files already complete "
                    + "and authentic are kept, the rest are encrypted, then the record is written. The source must "
                    + "not change in between."
        },
        footerHeading = "%nExamples:%n",
        footer = {"  cloister volume import --key vol.key ./redis-data state-vol",
            "  ssh old-host tar -C /var/lib/redis -cf - . | cloister volume import --key vol.key - state-vol"})
public final class VolumeImport implements Callable<Integer> {
    @CommandLine.Mixin
    Options.Key key;

    @CommandLine.Mixin
    Options.Run run;

    @Option(names = "--prefix", paramLabel = "PREFIX",
            description = "For a new volume: the embedded-path prefix (default: " + Volume.DEFAULT_PREFIX + "). For an "
                    + "existing one it must match.")
    String prefix;

    @Option(names = "--json", description = "Print one JSON document: volume, source, id, version, prefix, files, "
            + "bytes, root, written, resumed, jobs, seconds.")
    boolean json;

    @Parameters(index = "0", paramLabel = "SRC", description = "The plaintext directory, or '-' for a tar stream on stdin.")
    String src;

    @Parameters(index = "1", paramLabel = "DIR", description = "The volume directory.")
    Path dir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int jobs = run.threads(spec);
        long start = System.nanoTime();
        boolean tar = src.equals("-");
        String effectivePrefix = prefix;
        if (effectivePrefix == null && !Files.exists(dir.resolve(Volume.RECORD))) {
            effectivePrefix = Volume.DEFAULT_PREFIX;
        }
        VolumeImporter.Result r;
        try (PfKey k = PfKey.read(key.keyFile)) {
            long total = tar ? -1 : size(Path.of(src));
            ProtectedFiles.prepareBulk(tar ? Long.MAX_VALUE / 2 : total);
            try (Progress progress = Progress.bytes("import", total, run.quiet || json)) {
                r = tar ? VolumeImporter.importTar(new BufferedInputStream(System.in, 1 << 20), dir, k, effectivePrefix,
                        jobs, progress::advance)
                        : VolumeImporter.importTree(Path.of(src), dir, k, effectivePrefix, jobs, progress::advance);
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        var out = spec.commandLine().getOut();
        if (json) {
            ObjectNode o = VolumeInspect.json(dir, r.record());
            o.put("source", tar ? "-" : Path.of(src).toAbsolutePath().normalize().toString());
            o.put("written", r.written());
            o.put("resumed", r.resumed());
            o.put("jobs", jobs);
            o.put("seconds", Math.round(secs * 1000) / 1000.0);
            Json.print(out, o);
        } else {
            out.printf("imported %,d files (%,d bytes; %d encrypted now, %d kept from an interrupted run) into %s "
                    + "with %d jobs in %.2f s (%,.0f MB/s): version %d, root %s%n", r.record().entries().size(),
                    r.bytes(), r.written(), r.resumed(), dir, jobs, secs, r.bytes() / Math.max(secs, 1e-9) / 1e6,
                    r.record().version(), r.record().rootHex());
        }
        out.flush();
        return 0;
    }

    private static long size(Path root) throws java.io.IOException {
        if (!Files.isDirectory(root)) {
            return 0; // the importer says what is wrong
        }
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
