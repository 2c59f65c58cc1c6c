package dev.cloister.cli;

/**
 * The exit codes every {@code cloister} command uses (docs/cli.md). Scripts depend on them: never reuse a code
 * for a different meaning.
 */
public final class ExitCodes {
    private ExitCodes() {}

    /** The command did what was asked. */
    public static final int OK = 0;
    /** A security verdict said no: authentication failed, evidence rejected, policy denied. */
    public static final int DENIED = 1;
    /** The command line is wrong: unknown option, missing parameter, bad combination. */
    public static final int USAGE = 2;
    /** Input is unreadable, malformed or the wrong size. */
    public static final int BAD_INPUT = 3;
    /** The environment lacks something: a tool, a service, a device. */
    public static final int ENVIRONMENT = 4;
    /** A bug in Cloister (sysexits' EX_SOFTWARE). */
    public static final int INTERNAL = 70;
}
