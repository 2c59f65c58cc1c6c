package dev.cloister.pf;

/** The on-disk format version of a Gramine encrypted file. */
public enum PfVersion {
    /** Format 1: written by Gramine 1.0 to 1.8; the only one those versions read. */
    V1(1),
    /** Format 2: written by Gramine 1.9 and later (adds a feature-flags byte to the header). */
    V2(2);

    private final int major;

    PfVersion(int major) {
        this.major = major;
    }

    /** The {@code major_version} byte. */
    public int major() {
        return major;
    }

    /** Offset of the encrypted metadata within the metadata node. */
    int encryptedOffset() {
        return this == V1 ? 58 : 59;
    }

    static PfVersion ofMajor(int major) {
        return switch (major) {
            case 1 -> V1;
            case 2 -> V2;
            default -> null;
        };
    }
}
