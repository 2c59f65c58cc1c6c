package dev.cloister.cli;

import dev.cloister.core.CloisterException;
import java.io.FileNotFoundException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code cloister} command. Each capability adds one subcommand here; the conventions they all follow
 * (exit codes, one-line errors on stderr, {@code --json} on stdout) live in this class and docs/cli.md.
 */
@Command(
        name = "cloister",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        usageHelpAutoWidth = true,
        exitCodeOnInvalidInput = ExitCodes.USAGE,
        exitCodeOnExecutionException = ExitCodes.INTERNAL,
        sortOptions = false,
        header = "Run unmodified programs in attested enclaves and prove what ran.",
        description = {
            "Cloister packages programs into signed Gramine enclave bundles, encrypts data so that only an "
                    + "attested enclave running that exact bundle can read it, releases keys by policy from a key "
                    + "broker, and returns outputs only their owner can read.",
            "",
            "Without SGX hardware the simulation backend runs the same flow with simulated evidence, which "
                    + "every verifier rejects unless a policy explicitly allows simulation."
        },
        footerHeading = "%nExit status:%n",
        footer = {
            "  0   success",
            "  1   a security verdict said no (authentication, evidence or policy)",
            "  2   usage error",
            "  3   bad input (unreadable, malformed, wrong size)",
            "  4   environment problem (missing dependency, service unreachable,",
            "      a pipeline step that was killed, lost or timed out)",
            "  5   a pipeline step's program failed ('cloister pipeline logs' says why)",
            "  70  internal error (a bug: please report it with the output of --verbose)",
            "",
            "See 'cloister help COMMAND' for a command's options, and docs/cli.md for the conventions."
        })
public final class Cloister implements Runnable {
    /**
     * The subcommands, in the order help lists them. Not in the annotation: picocli would then introspect every
     * command's options on every run, which costs a cold JVM a quarter to half a second; {@link #commandLine(String...)}
     * builds only the one a run names.
     */
    private static final java.util.List<Class<?>> SUBCOMMANDS = java.util.List.of(CommandLine.HelpCommand.class,
            dev.cloister.cli.bundle.BuildCommand.class,
            dev.cloister.cli.bundle.BundleCommand.class,
            dev.cloister.cli.pf.PfCommand.class,
            dev.cloister.cli.volume.VolumeCommand.class,
            dev.cloister.cli.job.JobCommand.class,
            dev.cloister.cli.job.WorkerCommand.class,
            dev.cloister.cli.job.DemoCommand.class,
            dev.cloister.cli.pipeline.PipelineCommand.class,
            dev.cloister.cli.attest.AttestCommand.class,
            dev.cloister.cli.kbs.KbsCommand.class);

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Log debug messages and print stack traces of errors to stderr.")
    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        // No subcommand: show what there is, as git does, and fail as a usage error.
        throw new ParameterException(spec.commandLine(), "missing command");
    }

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns the exit code, without exiting (for tests and embedding). */
    public static int execute(String... args) {
        if (hasVerbose(args)) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "debug");
        }
        if (unknownCommand(args) != null) {
            // "cloister no-such-command --help" must not print the top-level help and succeed: drop the help
            // request, so the unknown command is the usage error it is (exit 2, naming it, with suggestions).
            args = java.util.Arrays.stream(args).filter(a -> !a.equals("-h") && !a.equals("--help"))
                    .toArray(String[]::new);
        }
        return commandLine(args).execute(args);
    }

    /** The first argument that stands where a command goes but names none; null if there is no such argument. */
    static String unknownCommand(String... args) {
        for (String a : args) {
            if (a.equals("--")) {
                return null;
            }
            if (a.startsWith("-")) {
                continue;
            }
            for (Class<?> c : SUBCOMMANDS) {
                Command command = c.getAnnotation(Command.class);
                if (command.name().equals(a) || java.util.Arrays.asList(command.aliases()).contains(a)) {
                    return null;
                }
            }
            return a;
        }
        return null;
    }

    /** The configured command line with every subcommand, with the project's error conventions. */
    public static CommandLine commandLine() {
        return build(SUBCOMMANDS);
    }

    /**
     * The command line for running {@code args}: when they name a subcommand (the first argument that is not an
     * option; the top level's options take no values), only that subcommand's tree is built. Anything else (no
     * subcommand, {@code help}, a mistyped name that needs suggestions) gets the whole tree.
     */
    public static CommandLine commandLine(String... args) {
        for (String a : args) {
            if (a.equals("--")) {
                break;
            }
            if (a.startsWith("-")) {
                continue;
            }
            for (Class<?> c : SUBCOMMANDS) {
                Command command = c.getAnnotation(Command.class);
                if (c != CommandLine.HelpCommand.class && (command.name().equals(a)
                        || java.util.Arrays.asList(command.aliases()).contains(a))) {
                    return build(java.util.List.of(c));
                }
            }
            break;
        }
        return commandLine();
    }

    private static CommandLine build(java.util.List<Class<?>> subcommands) {
        CommandLine cl = new CommandLine(new Cloister());
        for (Class<?> c : subcommands) {
            cl.addSubcommand(new CommandLine(c));
        }
        shareVersion(cl);
        cl.setParameterExceptionHandler(Cloister::onUsageError);
        cl.setExecutionExceptionHandler(Cloister::onFailure);
        return cl;
    }

    private static boolean hasVerbose(String[] args) {
        for (String a : args) {
            if (a.equals("-v") || a.equals("--verbose")) {
                return true;
            }
            if (a.equals("--")) {
                break;
            }
        }
        return false;
    }

    private static int onUsageError(ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        String message = ex.getMessage();
        if (ex instanceof CommandLine.UnmatchedArgumentException u && cl.getParent() == null
                && !u.getUnmatched().isEmpty() && !u.getUnmatched().get(0).startsWith("-")) {
            message = "unknown command '" + u.getUnmatched().get(0) + "'";
        }
        err.println("cloister: " + message);
        CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
        err.println("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return ExitCodes.USAGE;
    }

    private static int onFailure(Exception ex, CommandLine cl, ParseResult parsed) {
        PrintWriter err = cl.getErr();
        boolean verbose = parsed.hasMatchedOption("--verbose")
                || (parsed.subcommand() != null && anyVerbose(parsed));
        int code;
        String message;
        if (ex instanceof CloisterException ce) {
            code = ce.kind().exitCode();
            message = ce.getMessage();
        } else if (ex instanceof NoSuchFileException e) {
            code = ExitCodes.BAD_INPUT;
            message = "no such file: " + e.getFile();
        } else if (ex instanceof FileNotFoundException e) {
            code = ExitCodes.BAD_INPUT;
            message = e.getMessage();
        } else if (ex instanceof AccessDeniedException e) {
            code = ExitCodes.BAD_INPUT;
            message = "permission denied: " + e.getFile();
        } else if (ex instanceof FileAlreadyExistsException e) {
            code = ExitCodes.BAD_INPUT;
            message = "output already exists: " + e.getFile() + " (remove it first or pass --force)";
        } else if (ex instanceof java.io.IOException e) {
            code = ExitCodes.BAD_INPUT;
            message = "I/O error: " + e.getMessage();
        } else {
            code = ExitCodes.INTERNAL;
            message = "internal error: " + ex + " (a bug; rerun with --verbose and report the stack trace)";
        }
        err.println("cloister: " + message);
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    private static boolean anyVerbose(ParseResult parsed) {
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    /** Every subcommand's {@code --version} prints the same as {@code cloister --version}. */
    private static void shareVersion(CommandLine cl) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().versionProvider() == null) {
                sub.getCommandSpec().versionProvider(new VersionProvider());
            }
            shareVersion(sub);
        }
    }
}
