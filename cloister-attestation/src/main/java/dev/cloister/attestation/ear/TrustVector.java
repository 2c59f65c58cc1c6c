package dev.cloister.attestation.ear;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The AR4SI trustworthiness vector carried in {@code ear.trustworthiness-vector}. Each claim is an integer in
 * -128..127; 0 means the verifier makes no claim. See docs/attestation.md for how Cloister fills it.
 */
public record TrustVector(int instanceIdentity, int configuration, int executables, int fileSystem, int hardware,
        int runtimeOpaque, int storageOpaque, int sourcedData) {
    /** The claim names in the order the draft lists them. */
    public static final String[] NAMES = {"instance-identity", "configuration", "executables", "file-system",
        "hardware", "runtime-opaque", "storage-opaque", "sourced-data"};

    public TrustVector {
        for (int v : new int[] {instanceIdentity, configuration, executables, fileSystem, hardware, runtimeOpaque,
            storageOpaque, sourcedData}) {
            if (v < -128 || v > 127) {
                throw new IllegalArgumentException("trustworthiness claim out of range -128..127: " + v);
            }
        }
    }

    /** The claims as the JSON object of the token, omitting claims that are 0 (no claim), as the draft allows. */
    public Map<String, Object> toClaims() {
        int[] v = values();
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < v.length; i++) {
            if (v[i] != 0) {
                m.put(NAMES[i], v[i]);
            }
        }
        return m;
    }

    /**
     * Parses the JSON object of a token strictly: unknown names and non-integer values are refused.
     *
     * @throws IllegalArgumentException naming the bad claim
     */
    public static TrustVector fromClaims(Map<String, Object> m) {
        int[] v = new int[NAMES.length];
        for (Map.Entry<String, Object> e : m.entrySet()) {
            int idx = java.util.Arrays.asList(NAMES).indexOf(e.getKey());
            if (idx < 0) {
                throw new IllegalArgumentException("unknown trustworthiness claim: " + e.getKey());
            }
            if (!(e.getValue() instanceof Number n) || n.doubleValue() != n.longValue()
                    || n.longValue() < -128 || n.longValue() > 127) {
                throw new IllegalArgumentException("trustworthiness claim " + e.getKey() + " is not an integer in -128..127");
            }
            v[idx] = n.intValue();
        }
        return new TrustVector(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    }

    /** The claims in {@link #NAMES} order. */
    public int[] values() {
        return new int[] {instanceIdentity, configuration, executables, fileSystem, hardware, runtimeOpaque,
            storageOpaque, sourcedData};
    }

    /** The worst tier among the claims ({@link EarStatus#NONE} when no claim is made). */
    public EarStatus worstTier() {
        EarStatus worst = EarStatus.NONE;
        for (int v : values()) {
            EarStatus t = EarStatus.tierOf(v);
            if (t.ordinal() > worst.ordinal()) {
                worst = t;
            }
        }
        return worst;
    }
}
