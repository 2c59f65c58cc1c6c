package dev.cloister.cli.volume;

import dev.cloister.volume.VolumeVerifier;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Options the volume commands share. */
final class Options {
    private Options() {}

    /** The key file. */
    static final class Key {
        @Option(names = {"-k", "--key"}, required = true, paramLabel = "KEYFILE",
                description = "The volume's 16-byte wrap key (as written by 'cloister pf keygen').")
        Path keyFile;
    }

    /** Threads and the progress bar. */
    static final class Run {
        @Option(names = {"-j", "--jobs"}, paramLabel = "N",
                description = "Threads to use (files in parallel). Default: the number of cores.")
        Integer jobs;

        @Option(names = {"-q", "--quiet"}, description = "No progress bar (it is shown only on a terminal anyway).")
        boolean quiet;

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

    /** The state the volume must be in, as recorded elsewhere. */
    static final class Expect {
        @Option(names = "--expect-version", paramLabel = "V",
                description = "Refuse unless the volume is at exactly this version (an older one is a rollback).")
        Long version;

        @Option(names = "--expect-root", paramLabel = "HEX",
                description = "Refuse unless the volume's root digest is this (64 hex digits).")
        String root;

        VolumeVerifier.Expected expected(CommandLine.Model.CommandSpec spec) {
            if (version != null && version < 0) {
                throw new ParameterException(spec.commandLine(), "--expect-version must not be negative");
            }
            if (root != null && !root.matches("[0-9a-fA-F]{64}")) {
                throw new ParameterException(spec.commandLine(), "--expect-root must be 64 hex digits");
            }
            return new VolumeVerifier.Expected(version, root);
        }
    }
}
