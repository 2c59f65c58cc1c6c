package dev.cloister.attestation;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.function.Consumer;

/** AssertJ check that a thrown {@link EvidenceException} carries the expected {@link ReasonCode}. */
public final class Reasons {
    private Reasons() {}

    /** For {@code assertThatThrownBy(...).satisfies(Reasons.is(code))}. */
    public static Consumer<Throwable> is(ReasonCode code) {
        return t -> {
            assertThat(t).isInstanceOf(EvidenceException.class);
            assertThat(((EvidenceException) t).reason()).as(t.getMessage()).isEqualTo(code);
        };
    }
}
