package dev.cloister.attestation;

import dev.cloister.core.CloisterException;

/**
 * Evidence could not be verified: {@link Kind#DENIED} when it is well formed but a signature, chain, CRL, identity
 * or validity check failed; {@link Kind#BAD_INPUT} when it cannot be parsed. The message names the check and value.
 */
public final class EvidenceException extends CloisterException {
    private static final long serialVersionUID = 1L;

    public EvidenceException(Kind kind, String message) {
        super(kind, message);
    }

    public EvidenceException(Kind kind, String message, Throwable cause) {
        super(kind, message, cause);
    }

    /** A check failed on well-formed evidence. */
    public static EvidenceException rejected(String message) {
        return new EvidenceException(Kind.DENIED, message);
    }

    /** The evidence or collateral is malformed. */
    public static EvidenceException malformed(String message) {
        return new EvidenceException(Kind.BAD_INPUT, message);
    }
}
