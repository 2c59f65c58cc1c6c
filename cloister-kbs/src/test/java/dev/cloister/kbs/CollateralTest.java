package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.dcap.PcsCollateralProvider;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.attestation.snp.SnpVerifier;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which collateral decides: with a PCCS ({@code kbs serve --pccs}) the newer of the broker's and the workload's,
 * and without one the workload's, bounded by the policy's maximum collateral age (7 days unless it says otherwise).
 */
class CollateralTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;
    private TestClock clock;
    private KbsStore store;
    private KbsServer server;
    private KbsClient admin;
    private KbsClient workload;
    private FakePccs pccs;

    private void start(Instant now, EvidenceVerifier verifier, String policy) throws Exception {
        clock = new TestClock(now);
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), clock);
        KeyBroker broker = new KeyBroker(store, verifier, Policies::parse, new NonceStore(Duration.ofMinutes(2), 1000));
        Tls tls = Tls.selfSigned(Instant.now());
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0);
        URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
        var ctx = Tls.clientContextTrusting(tls.chain()[0]);
        admin = new KbsClient(base, store.createToken("local:test", Role.ADMIN, null).token(), ctx);
        admin.createNamespace("alice");
        admin.storeSecret("alice", "pf", SecretKind.PF_KEY, new byte[16], false);
        admin.setPolicy("alice", "pf", policy);
        workload = new KbsClient(base, null, ctx);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (store != null) {
            store.close();
        }
        if (pccs != null) {
            pccs.close();
        }
    }

    private static final Instant T = Instant.parse("2026-11-27T12:00:00Z");

    /** The broker's verifier fetching from the fake PCCS (no cache: every release asks it). */
    private EvidenceVerifier withPccs(byte[] served) throws Exception {
        pccs = new FakePccs(served);
        DcapVerifier dcap = DcapVerifier.withSimulation();
        return new TeeVerifier(dcap, dcap.withCollateralSource(PcsCollateralProvider.online(pccs.url(), null)),
                SnpVerifier.amdRoots());
    }

    private static byte[] collateral(TcbStatus status, Instant issued) {
        return Simulator.standard().sgxQuote(TestSupport.good(), new byte[64], status, issued).collateral();
    }

    /** A release with a quote made now and the collateral given (null: none sent). */
    private KbsClient.Released release(byte[] collateral) throws Exception {
        return workload.release("alice", "pf", null, HpkeSuite.X25519, rd -> new byte[][] {
            TestSupport.quote(TestSupport.good(), rd, TcbStatus.UP_TO_DATE, clock.instant())[0], collateral});
    }

    private String lastDetail() throws Exception {
        List<JsonNode> a = admin.audit(0, 1000);
        return a.get(a.size() - 1).get("detail").asText();
    }

    @Test
    void theBrokersNewerCollateralBeatsTheWorkloadsOlderOne() throws Exception {
        // The workload holds on to collateral from before a TCB recovery; the PCCS has today's, which says OutOfDate.
        start(T, withPccs(collateral(TcbStatus.OUT_OF_DATE, T.minus(Duration.ofHours(12)))),
                TestSupport.allowPolicy());
        assertThatThrownBy(() -> release(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofDays(3)))))
                .hasMessage(KeyBroker.RELEASE_DENIED);
        assertThat(lastDetail()).contains("TCB status OutOfDate is not accepted");
        assertThat(pccs.requests.get()).isEqualTo(4);
    }

    @Test
    void theWorkloadsNewerCollateralBeatsTheBrokersOlderOne() throws Exception {
        start(T, withPccs(collateral(TcbStatus.OUT_OF_DATE, T.minus(Duration.ofDays(5)))), TestSupport.allowPolicy());
        assertThat(release(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofHours(1)))).version()).isEqualTo(1);
    }

    @Test
    void withoutCollateralFromTheWorkloadTheBrokerFetchesItAndAnUnreachablePccsFallsBack() throws Exception {
        start(T, withPccs(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofHours(1)))), TestSupport.allowPolicy());
        assertThat(release(null).version()).isEqualTo(1);
        pccs.close();
        // PCCS down: the workload's collateral is used, within the policy's maximum age.
        assertThat(release(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofDays(2)))).version()).isEqualTo(1);
        assertThatThrownBy(() -> release(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofDays(8)))))
                .hasMessage(KeyBroker.RELEASE_DENIED);
        pccs = null;
    }

    @Test
    void collateralOlderThanSevenDaysIsDeniedUnlessThePolicySaysOtherwise() throws Exception {
        start(T, new TeeVerifier(DcapVerifier.withSimulation(), SnpVerifier.amdRoots()), TestSupport.allowPolicy());
        byte[] old = collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofDays(8)));
        // Before, any collateral still before its next update (30 days) was accepted.
        assertThatThrownBy(() -> release(old)).hasMessage(KeyBroker.RELEASE_DENIED);
        assertThat(lastDetail()).contains("more than the maximum 7d");
        assertThat(release(collateral(TcbStatus.UP_TO_DATE, T.minus(Duration.ofDays(6)))).version()).isEqualTo(1);
        admin.setPolicy("alice", "pf", TestSupport.allowPolicy() + " AGE:10d");
        assertThat(release(old).version()).isEqualTo(1);
    }

    @Test
    void aRealTdxQuoteIsVerifiedWithCollateralFromThePccs() throws Exception {
        byte[] quote;
        byte[] served;
        try (InputStream q = getClass().getResourceAsStream("/dcap/quote_v4_tdx_00806f050000.bin");
                InputStream c = getClass().getResourceAsStream("/dcap/collateral_v4_tdx_0625_assembled.json")) {
            quote = q.readAllBytes();
            served = c.readAllBytes();
        }
        pccs = new FakePccs(served);
        DcapVerifier intel = DcapVerifier.intelRoot();
        start(Instant.ofEpochSecond(1749095100), new TeeVerifier(intel,
                intel.withCollateralSource(PcsCollateralProvider.online(pccs.url(), null)), SnpVerifier.amdRoots()),
                "MRTD:" + "00".repeat(48));
        // Intel's collateral of June 2025 as Intel's PCS served it, from the PCCS; the workload sends none. The quote
        // verifies, and is denied because its report data was made for someone else's nonce and key (before, the
        // broker without a collateral source refused it as malformed).
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        var req = KbsClient.releaseRequest("alice", "pf", null, nonce, new byte[][] {quote, null}, HpkeSuite.X25519,
                HpkeSuite.X25519.publicKey(HpkeSuite.X25519.generateKeyPair()));
        HttpResponse<byte[]> r = workload.send("POST", "/v1/release", JSON.writeValueAsBytes(req));
        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(lastDetail()).startsWith("report data is not SHA-256(nonce || publicKey)");
        assertThat(pccs.requests.get()).isEqualTo(4);
    }
}
