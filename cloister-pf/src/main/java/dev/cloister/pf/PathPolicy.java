package dev.cloister.pf;

import java.util.Objects;

/**
 * How a reader treats the path embedded in an encrypted file. Gramine binds each file to the path it was written
 * for, so a file moved or swapped by the host is rejected; a reader must say which path it expects, or say
 * explicitly that it trusts whatever the file claims.
 */
public final class PathPolicy {
    private final String expected;

    private PathPolicy(String expected) {
        this.expected = expected;
    }

    /** Accept only a file bound to exactly {@code path} (the bytes Gramine would compare). */
    public static PathPolicy expect(String path) {
        return new PathPolicy(Objects.requireNonNull(path, "path"));
    }

    /** Accept any embedded path (the caller learns it from the result and takes responsibility). */
    public static PathPolicy trustEmbedded() {
        return new PathPolicy(null);
    }

    String expected() {
        return expected;
    }

    void check(MetadataNode md, String file) throws PfException {
        if (expected != null && !md.pathEquals(expected)) {
            throw new PfException(PfException.Reason.WRONG_PATH, file + " is bound to path '" + md.path()
                    + "', not the expected '" + expected + "' (moved or swapped file?)");
        }
    }

    @Override
    public String toString() {
        return expected == null ? "trust embedded path" : "expect '" + expected + "'";
    }
}
