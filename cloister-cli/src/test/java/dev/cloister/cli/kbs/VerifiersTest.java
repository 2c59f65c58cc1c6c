package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import java.io.InputStream;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The verifier 'kbs serve' gives the broker. */
class VerifiersTest {
    private static byte[] res(String name) throws Exception {
        try (InputStream in = VerifiersTest.class.getResourceAsStream("/attest/" + name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void theBrokerAcceptsSevSnpEvidence() throws Exception {
        // Before, 'kbs serve' verified DCAP quotes only and refused every SEV-SNP report as a malformed quote.
        for (boolean sim : new boolean[] {false, true}) {
            VerifiedEvidence ev = Verifiers.select(sim).verify(res("gsg_milan_report.bin"),
                    res("gsg_milan_vcek.der"), Instant.parse("2026-11-27T00:00:00Z"));
            assertThat(ev.teeType()).isEqualTo(TeeType.SEV_SNP);
            assertThat(ev.simulated()).isFalse();
        }
    }
}
