package dev.cloister.cli.pf;

import dev.cloister.cli.Progress;
import dev.cloister.core.AtomicFiles;
import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfInfo;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.ProtectedFiles;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister pf decrypt}: Gramine encrypted files back to plaintext, path checked. */
@Command(
        name = "decrypt",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Decrypt a Gramine encrypted file or directory tree.",
        description = {
            "Authenticates and decrypts IN into OUT with the wrap key in KEYFILE. Every node is authenticated; "
                    + "a wrong key, a tampered, truncated, extended or spliced file fails, and so does a file "
                    + "bound to a path other than the expected one (--path): a host that swaps two encrypted "
                    + "files is caught. --trust-embedded-path accepts whatever path the file names instead; "
                    + "exactly one of the two must be given.",
            "",
            "If IN is a directory, each file is expected to be bound to its own relative path under --path. "
                    + "Files are decrypted in parallel (--jobs); a single large file is split among the threads.",
            "",
            "Plaintext is written to OUT only: to a hidden temporary file or directory beside OUT (mode 0600 or "
                    + "0700), renamed into place when everything authenticated. On failure no output is left."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister pf decrypt --key wrap.key --path /enclave/out/result.csv result.pf result.csv",
            "  cloister pf decrypt --key wrap.key --trust-embedded-path result.pf result.csv",
            "  cloister pf decrypt --key wrap.key --path /enclave/data datadir.pf/ datadir/"
        })
public final class PfDecrypt implements Callable<Integer> {
    @Option(names = {"-k", "--key"}, required = true, paramLabel = "KEYFILE",
            description = "The 16-byte wrap key the file was encrypted with.")
    Path keyFile;

    /** Exactly one way to treat the embedded path. */
    static final class PathChoice {
        @Option(names = {"--path", "-p"}, paramLabel = "EXPECTED", required = true,
                description = "The path the file must be bound to (for a directory, the base path under which "
                        + "each file's relative path is expected).")
        String expected;

        @Option(names = "--trust-embedded-path", required = true,
                description = "Accept any embedded path (it is reported). Only for files whose origin you trust.")
        boolean trust;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    PathChoice path;

    @CommandLine.Mixin
    RunOptions run;

    @Option(names = "--json", description = "Print the result as one JSON document: input, output, files (each "
            + "with format, embedded_path, plaintext_size, host_size), total bytes, seconds.")
    boolean json;

    @Parameters(index = "0", paramLabel = "IN", description = "The encrypted file or directory.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The plaintext file or directory to create.")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        int threads = run.threads(spec);
        Path outAbs = out.toAbsolutePath().normalize();
        long start = System.nanoTime();
        List<PfEncrypt.Result> results;
        try (PfKey key = PfKey.read(keyFile)) {
            if (Files.isDirectory(in)) {
                List<Trees.Entry> entries = Trees.list(in);
                long total = entries.stream().mapToLong(Trees.Entry::size).sum();
                Engine.prepare(total, spec.commandLine().getErr());
                try (Progress progress = Progress.bytes("decrypt", total, run.quiet || json)) {
                    results = Trees.run(entries, out, threads, (e, target) -> {
                        PathPolicy policy = path.trust ? PathPolicy.trustEmbedded()
                                : PathPolicy.expect(Trees.join(path.expected, e.relative()));
                        try (FileChannel ch = FileChannel.open(e.source());
                                FileChannel os = FileChannel.open(target, StandardOpenOption.CREATE_NEW,
                                        StandardOpenOption.WRITE)) {
                            restrict(target);
                            PfInfo info = ProtectedFiles.decrypt(ch, os, key, policy, e.source().toString(),
                                    progress::advance);
                            return new PfEncrypt.Result(e.relative(), info);
                        }
                    });
                }
            } else {
                PathPolicy policy = path.trust ? PathPolicy.trustEmbedded() : PathPolicy.expect(path.expected);
                PfInfo[] info = new PfInfo[1];
                try (FileChannel ch = FileChannel.open(in);
                        Progress progress = Progress.bytes("decrypt", ch.size(), run.quiet || json)) {
                    Engine.prepare(ch.size(), spec.commandLine().getErr());
                    AtomicFiles.write(out, run.force, target -> info[0] =
                            ProtectedFiles.decrypt(ch, target, key, policy, in.toString(), threads,
                                    progress::advance));
                }
                results = List.of(new PfEncrypt.Result(null, info[0]));
            }
        }
        PfEncrypt.report(spec.commandLine().getOut(), json, "decrypted", in, outAbs, results, threads,
                System.nanoTime() - start);
        return 0;
    }

    private static void restrict(Path p) throws java.io.IOException {
        try {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            // Not a POSIX file system: the hidden 0700 directory still keeps others out until the rename.
        }
    }
}
