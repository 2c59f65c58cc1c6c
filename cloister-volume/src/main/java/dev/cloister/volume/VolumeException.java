package dev.cloister.volume;

import dev.cloister.core.CloisterException;

/**
 * Why a state volume could not be created, imported, read or verified. A verdict (a record or file that does not
 * authenticate, a rollback) is {@link Kind#DENIED}; a malformed record or unusable input is {@link Kind#BAD_INPUT}.
 * Messages never contain key material or plaintext.
 */
public final class VolumeException extends CloisterException {
    private static final long serialVersionUID = 1L;

    public VolumeException(Kind kind, String message) {
        super(kind, message);
    }

    public VolumeException(Kind kind, String message, Throwable cause) {
        super(kind, message, cause);
    }

    static VolumeException bad(String message) {
        return new VolumeException(Kind.BAD_INPUT, message);
    }
}
