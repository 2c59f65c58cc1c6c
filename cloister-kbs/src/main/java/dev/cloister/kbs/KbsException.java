package dev.cloister.kbs;

import dev.cloister.core.CloisterException;

/**
 * A failure of the key broker that maps to one HTTP status and one exit code. Messages never contain secret
 * material: they are returned to clients and written to the audit log.
 */
public final class KbsException extends CloisterException {
    private static final long serialVersionUID = 1L;

    private final int httpStatus;

    public KbsException(Kind kind, int httpStatus, String message) {
        super(kind, message);
        this.httpStatus = httpStatus;
    }

    public KbsException(Kind kind, int httpStatus, String message, Throwable cause) {
        super(kind, message, cause);
        this.httpStatus = httpStatus;
    }

    /** The HTTP status the server answers with. */
    public int httpStatus() {
        return httpStatus;
    }

    /** Malformed request: 400. */
    public static KbsException badRequest(String message) {
        return new KbsException(Kind.BAD_INPUT, 400, message);
    }

    /** Missing or unknown credentials: 401. */
    public static KbsException unauthorized(String message) {
        return new KbsException(Kind.DENIED, 401, message);
    }

    /** A verdict said no (role, evidence or policy): 403. */
    public static KbsException denied(String message) {
        return new KbsException(Kind.DENIED, 403, message);
    }

    /** Unknown secret, version, namespace or route: 404. */
    public static KbsException notFound(String message) {
        return new KbsException(Kind.BAD_INPUT, 404, message);
    }

    /** The request conflicts with the stored state: 409. */
    public static KbsException conflict(String message) {
        return new KbsException(Kind.BAD_INPUT, 409, message);
    }

    /** Too large: 413. */
    public static KbsException tooLarge(String message) {
        return new KbsException(Kind.BAD_INPUT, 413, message);
    }

    /** Rate limit hit: 429. */
    public static KbsException rateLimited(String message) {
        return new KbsException(Kind.ENVIRONMENT, 429, message);
    }

    /** The database (or another dependency) is unavailable: 503; nothing was applied. */
    public static KbsException unavailable(String message, Throwable cause) {
        return new KbsException(Kind.ENVIRONMENT, 503, message, cause);
    }
}
