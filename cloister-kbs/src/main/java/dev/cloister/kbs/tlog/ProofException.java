package dev.cloister.kbs.tlog;

/** A proof, checkpoint or signed note that does not verify, or does not parse; the message says which and why. */
public final class ProofException extends Exception {
    private static final long serialVersionUID = 1L;

    /** A failure described by {@code message}. */
    public ProofException(String message) {
        super(message);
    }
}
