package dev.cloister.pf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * A 16-byte Gramine encrypted-files key (the "wrap key", a key-derivation key). The bytes are held privately and
 * wiped by {@link #close()}; use it in try-with-resources.
 */
public final class PfKey implements AutoCloseable {
    /** Key size in bytes. */
    public static final int SIZE = 16;

    private final byte[] key;
    private boolean closed;

    private PfKey(byte[] key) {
        this.key = key;
    }

    /** A copy of {@code bytes}, which must be exactly 16 bytes. The caller should wipe its own copy. */
    public static PfKey of(byte[] bytes) throws PfException {
        if (bytes == null || bytes.length != SIZE) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT,
                    "an encrypted-files key is exactly 16 bytes, not " + (bytes == null ? 0 : bytes.length));
        }
        return new PfKey(bytes.clone());
    }

    /** Reads a key file in Gramine's wrap-key format: exactly 16 raw bytes. */
    public static PfKey read(Path file) throws IOException, PfException {
        long size = Files.size(file);
        if (size != SIZE) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT,
                    "key file " + file + " has " + size + " bytes; a Gramine wrap key is exactly 16 raw bytes");
        }
        byte[] b = Files.readAllBytes(file);
        try {
            return of(b);
        } finally {
            Arrays.fill(b, (byte) 0);
        }
    }

    /** A fresh random key. */
    public static PfKey generate() {
        byte[] b = new byte[SIZE];
        new SecureRandom().nextBytes(b);
        return new PfKey(b);
    }

    /** The raw bytes, for writing a key file. The caller must wipe the copy. */
    public byte[] toBytes() {
        check();
        return key.clone();
    }

    byte[] raw() {
        check();
        return key;
    }

    private void check() {
        if (closed) {
            throw new IllegalStateException("key has been closed");
        }
    }

    @Override
    public void close() {
        Arrays.fill(key, (byte) 0);
        closed = true;
    }

    @Override
    public String toString() {
        return "PfKey[redacted]";
    }
}
