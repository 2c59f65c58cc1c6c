package dev.cloister.bundle;

import dev.cloister.core.CloisterException;

/**
 * A failure while building, reading, verifying or signing a bundle. The kind decides the exit code: a file that
 * does not match its recorded hash or a bad signature is {@link Kind#DENIED}; unusable inputs (missing entrypoint,
 * non-ELF binary, missing library, escaping path, symlink loop, malformed record) are {@link Kind#BAD_INPUT}.
 */
public final class BundleException extends CloisterException {
    private static final long serialVersionUID = 1L;

    public BundleException(Kind kind, String message) {
        super(kind, message);
    }

    public BundleException(Kind kind, String message, Throwable cause) {
        super(kind, message, cause);
    }

    static BundleException badInput(String message) {
        return new BundleException(Kind.BAD_INPUT, message);
    }

    static BundleException denied(String message) {
        return new BundleException(Kind.DENIED, message);
    }
}
