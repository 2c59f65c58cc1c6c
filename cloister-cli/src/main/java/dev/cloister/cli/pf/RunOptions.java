package dev.cloister.cli.pf;

import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** The options {@code pf encrypt} and {@code pf decrypt} share: threads, replacing OUT, the progress bar. */
final class RunOptions {
    @Option(names = {"-j", "--jobs"}, paramLabel = "N",
            description = "Threads to use: the files of a directory are processed in parallel, and a single file "
                    + "of 4 MiB or more is split among the threads, 384 KiB of nodes at a time. "
                    + "Default: the number of cores.")
    Integer jobs;

    @Option(names = {"-f", "--force"}, description = "Replace an existing OUT file.")
    boolean force;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar (it is shown only on a terminal anyway).")
    boolean quiet;

    /** The number of threads: {@code --jobs}, checked, or the number of cores. */
    int threads(CommandLine.Model.CommandSpec spec) {
        if (jobs == null) {
            return Runtime.getRuntime().availableProcessors();
        }
        if (jobs < 1 || jobs > 1024) {
            throw new ParameterException(spec.commandLine(), "--jobs must be between 1 and 1024, not " + jobs);
        }
        return jobs;
    }
}
