package dev.cloister.core;

import java.util.Objects;

/**
 * A failure that Cloister expects and can explain: a verdict that said no, input that is malformed, or an
 * environment that lacks something. Every module's typed errors extend this class so that the command line
 * maps them to one exit code each, in one place (see docs/cli.md).
 *
 * <p>Messages name the file, field or value at fault, and never contain secret material: they are shown to
 * users and may end up in logs.
 */
public class CloisterException extends Exception {
    private static final long serialVersionUID = 1L;

    /** What kind of failure this is; each kind has the exit code documented in docs/cli.md. */
    public enum Kind {
        /** A security verdict said no: authentication failed, evidence rejected, policy denied. */
        DENIED(1),
        /** Input is unreadable, malformed or the wrong size. */
        BAD_INPUT(3),
        /** Something outside the input is missing or unreachable: a tool, a service, a device. */
        ENVIRONMENT(4);

        private final int exitCode;

        Kind(int exitCode) {
            this.exitCode = exitCode;
        }

        /** The process exit code the {@code cloister} command uses for this kind. */
        public int exitCode() {
            return exitCode;
        }
    }

    private final Kind kind;

    public CloisterException(Kind kind, String message) {
        super(Objects.requireNonNull(message, "message"));
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public CloisterException(Kind kind, String message, Throwable cause) {
        super(Objects.requireNonNull(message, "message"), cause);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    /** The kind of failure, which decides the exit code. */
    public Kind kind() {
        return kind;
    }
}
