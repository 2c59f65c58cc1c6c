package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The 10 real DCAP cases of the shared manifest, at their fixed times, with Intel's semantics. */
class ManifestTest {
    record Case(String id, String quote, String collateral, Instant at, Instant windowEnd, String intel,
            List<String> advisories) {
        @Override
        public String toString() {
            return id;
        }
    }

    static Stream<Case> cases() throws IOException {
        JsonNode m = new ObjectMapper().readTree(TestData.bytes("manifest.json"));
        List<Case> out = new ArrayList<>();
        for (JsonNode c : m.get("dcap_cases")) {
            String intel = c.get("intel_semantics").asText().split("[ (]")[0];
            List<String> adv = new ArrayList<>();
            JsonNode peer = c.get("peer_expect");
            if (peer.get("ok").asBoolean() && peer.get("status").asText().equals(intel)) {
                peer.get("advisory_ids").forEach(a -> adv.add(a.asText()));
            }
            out.add(new Case(c.get("id").asText(), c.get("quote").asText(), c.get("collateral").asText(),
                    Instant.ofEpochSecond(c.get("now").asLong()), Instant.parse(c.get("valid_window").get(1).asText()),
                    intel, adv));
        }
        assertThat(out).hasSize(10);
        return out.stream();
    }

    private static final DcapVerifier VERIFIER = DcapVerifier.intelRoot();

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void verdictAtFixedTime(Case c) throws Exception {
        byte[] quote = TestData.bytes(c.quote());
        byte[] coll = TestData.bytes(c.collateral());
        if (c.intel().equals("TCB_NOT_SUPPORTED")) {
            assertThatThrownBy(() -> VERIFIER.verify(quote, coll, c.at()))
                    .isInstanceOfSatisfying(EvidenceException.class,
                            e -> {
                                assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED);
                                assertThat(e.reason()).isEqualTo(ReasonCode.TCB_NOT_SUPPORTED);
                            })
                    .hasMessageContaining("TCB not supported");
            return;
        }
        VerifiedEvidence v = VERIFIER.verify(quote, coll, c.at());
        assertThat(v.tcbStatus()).isEqualTo(TcbStatus.fromIntelName(c.intel()));
        assertThat(v.advisoryIds()).containsExactlyInAnyOrderElementsOf(c.advisories());
        assertThat(v.rootUsed()).isEqualTo("Intel SGX Root CA");
        assertThat(v.simulated()).isFalse();
        assertThat(v.collateralNextUpdate()).isAfter(c.at());
        assertThat(v.collateralIssued()).isBeforeOrEqualTo(c.at());
    }

    /** Collateral checked on another thread, nothing cached: the same verdicts and results. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void parallelVerificationGivesTheSameResult(Case c) throws Exception {
        byte[] quote = TestData.bytes(c.quote());
        byte[] coll = TestData.bytes(c.collateral());
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(1);
        try {
            DcapVerifier parallel = DcapVerifier.intelRoot().withoutCache().withExecutor(pool);
            for (Instant at : List.of(c.at(), c.windowEnd().plusSeconds(60))) {
                Object seq;
                Object par;
                try {
                    seq = VERIFIER.verify(quote, coll, at);
                } catch (EvidenceException e) {
                    seq = e.getMessage();
                }
                try {
                    par = parallel.verify(quote, coll, at);
                } catch (EvidenceException e) {
                    par = e.getMessage();
                }
                assertThat(par).usingRecursiveComparison().isEqualTo(seq);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void failsAMinuteAfterCollateralExpiry(Case c) {
        byte[] quote = TestData.bytes(c.quote());
        byte[] coll = TestData.bytes(c.collateral());
        assertThatThrownBy(() -> VERIFIER.verify(quote, coll, c.windowEnd().plusSeconds(60)))
                .isInstanceOfSatisfying(EvidenceException.class,
                        e -> {
                            assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED);
                            assertThat(e.reason()).isEqualTo(ReasonCode.COLLATERAL_EXPIRED);
                        })
                .hasMessageContaining("expired");
    }

    /**
     * A real quote whose header names another QE vendor is refused for that reason (Intel's rule), before the
     * signature check that the change also breaks: at its fixed time, with its real collateral.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void realQuoteWithAnotherQeVendorIdIsRefused(Case c) throws Exception {
        byte[] quote = TestData.bytes(c.quote());
        assertThat(Quote.parse(quote).header().qeVendorId())
                .isEqualTo(java.util.HexFormat.of().parseHex("939A7233F79C4CA9940A0DB3957F0607"));
        for (int offset : new int[] {12, 20, 27}) {
            byte[] bad = quote.clone();
            bad[offset] ^= 0x40; // header bytes 12..27 are the QE vendor ID
            assertThatThrownBy(() -> VERIFIER.verify(bad, TestData.bytes(c.collateral()), c.at()))
                    .isInstanceOfSatisfying(EvidenceException.class, e -> {
                        assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED);
                        assertThat(e.reason()).isEqualTo(ReasonCode.QE_VENDOR_ID_MISMATCH);
                    })
                    .hasMessageContaining("QE vendor ID");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void quoteRoundTripsByteExact(Case c) throws Exception {
        byte[] quote = TestData.bytes(c.quote());
        byte[] again = Quote.parse(quote).toBytes();
        assertThat(again).isEqualTo(java.util.Arrays.copyOf(quote, again.length));
        assertThat(Quote.parse(again)).usingRecursiveComparison().isEqualTo(Quote.parse(quote));
    }
}
