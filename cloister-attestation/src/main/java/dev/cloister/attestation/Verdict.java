package dev.cloister.attestation;

import java.util.List;

/**
 * A policy's answer about one piece of verified evidence.
 *
 * @param accepted true only when every constraint held
 * @param reasons one line per failed constraint, naming the constraint and the value seen (e.g.
 *     {@code isvSvn 2 is below the minimum 3}); empty when accepted
 */
public record Verdict(boolean accepted, List<String> reasons) {
    public Verdict {
        reasons = List.copyOf(reasons);
        if (accepted && !reasons.isEmpty()) {
            throw new IllegalArgumentException("an accepting verdict has no reasons");
        }
        if (!accepted && reasons.isEmpty()) {
            throw new IllegalArgumentException("a denial must say why");
        }
    }

    public static Verdict accept() {
        return new Verdict(true, List.of());
    }

    public static Verdict deny(List<String> reasons) {
        return new Verdict(false, reasons);
    }

    /** {@link ReasonCode#POLICY_DENIED} for a denial, null when accepted: the one code a policy gives. */
    public ReasonCode reason() {
        return accepted ? null : ReasonCode.POLICY_DENIED;
    }

    /** The reasons joined for a one-line error message. */
    public String explanation() {
        return accepted ? "accepted" : String.join("; ", reasons);
    }
}
