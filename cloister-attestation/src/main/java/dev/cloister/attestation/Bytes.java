package dev.cloister.attestation;

import java.security.MessageDigest;
import java.util.HexFormat;

/** Byte-array helpers shared by the records of this package. */
final class Bytes {
    private Bytes() {}

    /** A copy of {@code b}, which must be exactly {@code length} bytes; the message names {@code field}. */
    static byte[] copyOfLength(byte[] b, int length, String field) {
        if (b == null) {
            throw new IllegalArgumentException(field + " is missing");
        }
        if (b.length != length) {
            throw new IllegalArgumentException(field + " must be " + length + " bytes, got " + b.length);
        }
        return b.clone();
    }

    /** Constant-time equality, for values a caller must not learn about byte by byte. */
    static boolean equal(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
