package dev.cloister.attestation.ear;

import java.util.Arrays;

/**
 * The AR4SI trust tiers EAR uses for {@code ear.status}, and for classifying each trustworthiness-vector claim by
 * its value range (draft-ietf-rats-ar4si: -1..1 none, 2..31 affirming, 32..95 warning, 96..127 contraindicated).
 * Declared from best to worst, so {@code ordinal()} orders severity after {@link #NONE}.
 */
public enum EarStatus {
    NONE("none"),
    AFFIRMING("affirming"),
    WARNING("warning"),
    CONTRAINDICATED("contraindicated");

    private final String wire;

    EarStatus(String wire) {
        this.wire = wire;
    }

    /** The spelling in {@code ear.status}. */
    public String wire() {
        return wire;
    }

    /** @throws IllegalArgumentException naming the unknown status */
    public static EarStatus fromWire(String s) {
        return Arrays.stream(values()).filter(v -> v.wire.equals(s)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown ear.status: " + s));
    }

    /** The tier a trustworthiness claim value falls in. */
    public static EarStatus tierOf(int claim) {
        if (claim >= 96) {
            return CONTRAINDICATED;
        }
        if (claim >= 32) {
            return WARNING;
        }
        if (claim >= 2) {
            return AFFIRMING;
        }
        return NONE;
    }
}
