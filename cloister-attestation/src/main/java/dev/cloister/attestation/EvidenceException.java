package dev.cloister.attestation;

import dev.cloister.core.CloisterException;
import java.util.Objects;

/**
 * Evidence could not be verified: {@link Kind#DENIED} when it is well formed but a signature, chain, CRL, identity
 * or validity check failed; {@link Kind#BAD_INPUT} when it cannot be parsed. The message names the check and value;
 * {@link #reason()} says which check as a stable code for scripts.
 */
public final class EvidenceException extends CloisterException {
    private static final long serialVersionUID = 1L;

    private final ReasonCode reason;

    /** A failure with an explicit code. */
    public EvidenceException(Kind kind, ReasonCode reason, String message) {
        super(kind, message);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    /** A failure with an explicit code and the exception behind it. */
    public EvidenceException(Kind kind, ReasonCode reason, String message, Throwable cause) {
        super(kind, message, cause);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    /**
     * Malformed input ({@link Kind#BAD_INPUT}, code {@link ReasonCode#MALFORMED}) or an unavailable collateral
     * source ({@link Kind#ENVIRONMENT}, {@link ReasonCode#COLLATERAL_UNAVAILABLE}). A denial must name its check:
     * use {@link #rejected(ReasonCode, String)}.
     */
    public EvidenceException(Kind kind, String message) {
        this(kind, implied(kind), message);
    }

    /** As {@link #EvidenceException(Kind, String)}, with the exception behind it. */
    public EvidenceException(Kind kind, String message, Throwable cause) {
        this(kind, implied(kind), message, cause);
    }

    private static ReasonCode implied(Kind kind) {
        return switch (kind) {
            case BAD_INPUT -> ReasonCode.MALFORMED;
            case ENVIRONMENT -> ReasonCode.COLLATERAL_UNAVAILABLE;
            case DENIED -> throw new IllegalArgumentException("a denial needs a ReasonCode");
        };
    }

    /** A check failed on well-formed evidence. */
    public static EvidenceException rejected(ReasonCode reason, String message) {
        return new EvidenceException(Kind.DENIED, reason, message);
    }

    /** The evidence or collateral is malformed. */
    public static EvidenceException malformed(String message) {
        return new EvidenceException(Kind.BAD_INPUT, ReasonCode.MALFORMED, message);
    }

    /** Which check failed, stable across releases. */
    public ReasonCode reason() {
        return reason;
    }
}
