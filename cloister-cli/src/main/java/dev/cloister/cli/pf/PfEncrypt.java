package dev.cloister.cli.pf;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.cli.Json;
import dev.cloister.cli.Progress;
import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PfInfo;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister pf encrypt}: plaintext file or tree to Gramine encrypted files. */
@Command(
        name = "encrypt",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Encrypt a file or a directory tree into Gramine encrypted files.",
        description = {
            "Encrypts IN into OUT with a key derived from the wrap key in KEYFILE, binding the result to an "
                    + "embedded path. Gramine opens an encrypted file only under the exact path it was bound to, "
                    + "so the embedded path must be where the enclave will see the file: by default the absolute, "
                    + "normalized OUT path; set --path when the file will live elsewhere (on the enclave host, "
                    + "or under a mount point inside the enclave).",
            "",
            "If IN is a directory, every regular file in it is encrypted to the same relative place under OUT "
                    + "and bound to its own path under --path (or under OUT). Files are encrypted in parallel "
                    + "(--jobs); a single large file is split among the threads. Symbolic links and special files are refused; empty directories are not copied.",
            "",
            "OUT appears only when complete: a failure leaves no output. An existing OUT is an error unless "
                    + "--force is given (for single files only)."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister pf encrypt --key wrap.key input.csv input.csv.pf",
            "  cloister pf encrypt --key wrap.key --path /enclave/data/input.csv input.csv /srv/input.csv.pf",
            "  cloister pf encrypt --key wrap.key --path /enclave/data --jobs 2 datadir/ datadir.pf/",
            "  cloister pf encrypt --key wrap.key --format v1 input.csv input.pf    # for Gramine 1.8 and earlier"
        })
public final class PfEncrypt implements Callable<Integer> {
    /** The format to write; lower case on the command line, as in the documentation. */
    enum Format {
        v1(PfVersion.V1),
        v2(PfVersion.V2);

        final PfVersion version;

        Format(PfVersion version) {
            this.version = version;
        }
    }

    @Option(names = {"-k", "--key"}, required = true, paramLabel = "KEYFILE",
            description = "The 16-byte wrap key (as written by 'cloister pf keygen').")
    Path keyFile;

    @Option(names = {"-p", "--path"}, paramLabel = "EMBEDDED",
            description = "The path the enclave will open the file under; for a directory, the directory under "
                    + "which each file's relative path is appended. Default: the absolute normalized OUT path.")
    String embedded;

    @Option(names = "--format", paramLabel = "v1|v2", defaultValue = "v2",
            description = "Format version: v2 for Gramine 1.9 and later, v1 for Gramine 1.8 and earlier. "
                    + "Default: ${DEFAULT-VALUE}.")
    Format format;

    @CommandLine.Mixin
    RunOptions run;

    @Option(names = "--json", description = "Print the result as one JSON document: input, output, format, "
            + "files (each with embedded_path, plaintext_size, host_size), total bytes, seconds.")
    boolean json;

    @Parameters(index = "0", paramLabel = "IN", description = "The plaintext file or directory.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The encrypted file or directory to create.")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int threads = run.threads(spec);
        Path outAbs = out.toAbsolutePath().normalize();
        String base = embedded != null ? embedded : outAbs.toString();
        long start = System.nanoTime();
        List<Result> results;
        try (PfKey key = PfKey.read(keyFile)) {
            if (Files.isDirectory(in)) {
                List<Trees.Entry> entries = Trees.list(in);
                long total = entries.stream().mapToLong(Trees.Entry::size).sum();
                Engine.prepare(total, spec.commandLine().getErr());
                try (Progress progress = Progress.bytes("encrypt", total, run.quiet || json)) {
                    results = Trees.run(entries, out, threads, (e, target) -> {
                        String path = Trees.join(base, e.relative());
                        try (FileChannel is = FileChannel.open(e.source());
                                FileChannel ch = FileChannel.open(target, StandardOpenOption.CREATE_NEW,
                                        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                            PfInfo info = ProtectedFiles.encrypt(is, ch, key, path, format.version, progress::advance);
                            return new Result(e.relative(), info);
                        }
                    });
                }
            } else {
                long total = Files.size(in);
                Engine.prepare(total, spec.commandLine().getErr());
                PfInfo[] info = new PfInfo[1];
                try (Progress progress = Progress.bytes("encrypt", total, run.quiet || json);
                        FileChannel is = FileChannel.open(in)) {
                    AtomicFiles.write(out, run.force, ch -> info[0] =
                            ProtectedFiles.encrypt(is, ch, key, base, format.version, threads, progress::advance));
                }
                results = List.of(new Result(null, info[0]));
            }
        }
        report(spec.commandLine().getOut(), json, "encrypted", in, outAbs, results, threads, System.nanoTime() - start);
        return 0;
    }

    /** One processed file, for the report. */
    record Result(String relative, PfInfo info) {}

    static void report(PrintWriter pw, boolean json, String verb, Path in, Path out, List<Result> results, int jobs,
            long nanos) {
        long bytes = results.stream().mapToLong(r -> r.info().plaintextSize()).sum();
        double secs = nanos / 1e9;
        if (json) {
            ObjectNode o = Json.object();
            o.put("input", in.toAbsolutePath().normalize().toString());
            o.put("output", out.toString());
            o.put("directory", results.size() != 1 || results.get(0).relative() != null);
            o.put("jobs", jobs);
            o.put("plaintext_bytes", bytes);
            o.put("seconds", Math.round(secs * 1000) / 1000.0);
            ArrayNode files = o.putArray("files");
            for (Result r : results) {
                ObjectNode f = files.addObject();
                if (r.relative() != null) {
                    f.put("file", r.relative());
                }
                f.put("format", r.info().version().name().toLowerCase(java.util.Locale.ROOT));
                f.put("embedded_path", r.info().path());
                f.put("plaintext_size", r.info().plaintextSize());
                f.put("host_size", r.info().hostSize());
            }
            Json.print(pw, o);
            return;
        }
        if (results.size() == 1 && results.get(0).relative() == null) {
            PfInfo i = results.get(0).info();
            pw.printf("%s %s -> %s (%s, %,d bytes, embedded path %s) in %.2f s%n", verb, in, out,
                    i.version().name().toLowerCase(java.util.Locale.ROOT), i.plaintextSize(), i.path(), secs);
        } else {
            pw.printf("%s %d files (%,d bytes) %s -> %s with %d jobs in %.2f s (%,.0f MB/s)%n", verb, results.size(),
                    bytes, in, out, jobs, secs, bytes / Math.max(secs, 1e-9) / 1e6);
        }
        pw.flush();
    }
}
