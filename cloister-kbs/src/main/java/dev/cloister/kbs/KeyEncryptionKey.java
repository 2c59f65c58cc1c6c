package dev.cloister.kbs;

/**
 * Wraps the per-secret data keys. This is the seam for a KMS or HSM: the broker only ever hands it 32-byte data
 * keys with associated data naming what they protect, and never needs the master key itself.
 */
public interface KeyEncryptionKey {
    /** Encrypts and authenticates {@code dataKey}, binding {@code aad}. */
    byte[] wrap(byte[] dataKey, byte[] aad) throws KbsException;

    /**
     * Reverses {@link #wrap}.
     *
     * @throws KbsException DENIED when the wrapped key or its associated data was altered, or the key is another
     */
    byte[] unwrap(byte[] wrapped, byte[] aad) throws KbsException;

    /**
     * A 32-byte key for one purpose ({@code label}), derived from this key and the same on every call: the broker's
     * row MACs use it, so a database administrator can neither read nor replace it.
     */
    byte[] deriveKey(String label) throws KbsException;

    /** A non-secret identifier of the key (a fingerprint), stored so that a wrong master key is detected early. */
    String id();
}
