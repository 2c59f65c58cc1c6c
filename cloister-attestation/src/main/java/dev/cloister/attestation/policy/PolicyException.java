package dev.cloister.attestation.policy;

import dev.cloister.core.CloisterException;

/** A policy text could not be read; the message names the token or YAML key at fault and what was wrong. */
public final class PolicyException extends CloisterException {
    private static final long serialVersionUID = 1L;

    public PolicyException(String message) {
        super(Kind.BAD_INPUT, message);
    }

    public PolicyException(String message, Throwable cause) {
        super(Kind.BAD_INPUT, message, cause);
    }
}
