package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    void withPccsTheBrokerAsksItForCollateral(@org.junit.jupiter.api.io.TempDir java.nio.file.Path cache)
            throws Exception {
        assertThatThrownBy(() -> Verifiers.select(false, "pccs.local", cache))
                .hasMessage("--pccs 'pccs.local' is not an http(s) URL");
        var ev = dev.cloister.attestation.sim.Simulator.standard().sgxQuote(
                new dev.cloister.attestation.SgxMeasurements(new byte[32], new byte[32], 0, 0, new byte[] {5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}, false), new byte[64], dev.cloister.attestation.TcbStatus.UP_TO_DATE,
                Instant.now());
        // Nothing listens on port 1: the broker tried its PCCS (before, a quote without collateral was malformed).
        assertThatThrownBy(() -> Verifiers.select(true, "http://127.0.0.1:1", cache).verify(ev.quote(), null,
                Instant.now())).hasMessageContaining("GET http://127.0.0.1:1/sgx/certification/v4/tcb");
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
