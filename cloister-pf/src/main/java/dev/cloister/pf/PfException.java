package dev.cloister.pf;

import dev.cloister.core.CloisterException;

/**
 * Why an encrypted file could not be read or written. Authentication failures (wrong key, wrong path, tampering)
 * are verdicts ({@link Kind#DENIED}); structural problems are bad input. Messages never contain key material or
 * plaintext.
 */
public final class PfException extends CloisterException {
    private static final long serialVersionUID = 1L;

    /** The precise reason. */
    public enum Reason {
        /** A node's GCM tag did not verify: wrong key, or the node was changed, moved or replaced. */
        AUTHENTICATION_FAILED(Kind.DENIED),
        /** The file authenticates but was bound to a different path. */
        WRONG_PATH(Kind.DENIED),
        /** The host file's size is not a positive multiple of 4096. */
        BAD_SIZE(Kind.BAD_INPUT),
        /** The file ends before the nodes its plaintext size needs. */
        TRUNCATED(Kind.BAD_INPUT),
        /** The file does not start with {@code GRAFS_PF}. */
        NOT_ENCRYPTED_FILE(Kind.BAD_INPUT),
        /** A format version this library does not know. */
        UNSUPPORTED_VERSION(Kind.BAD_INPUT),
        /** Gramine's pending-write flag is set: an interrupted write that needs Gramine's recovery file. */
        RECOVERY_NEEDED(Kind.BAD_INPUT),
        /** Authenticated metadata that is nevertheless inconsistent (size, path field). */
        BAD_METADATA(Kind.BAD_INPUT),
        /** A key of the wrong size, or a path that cannot be stored. */
        BAD_ARGUMENT(Kind.BAD_INPUT);

        private final Kind kind;

        Reason(Kind kind) {
            this.kind = kind;
        }
    }

    private final Reason reason;

    PfException(Reason reason, String message) {
        super(reason.kind, message);
        this.reason = reason;
    }

    /** The precise reason. */
    public Reason reason() {
        return reason;
    }
}
