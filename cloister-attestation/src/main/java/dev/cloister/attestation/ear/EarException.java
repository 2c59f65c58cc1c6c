package dev.cloister.attestation.ear;

/** A token that is not a valid, current EAR from a trusted key. The message names the problem, never key material. */
public final class EarException extends Exception {
    public EarException(String message) {
        super(message);
    }
}
