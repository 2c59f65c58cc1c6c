package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.attestation.snp.SnpVerifier;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Releases to AMD SEV-SNP guests: the broker verifies SNP reports beside SGX and TDX quotes. */
class SnpReleaseTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Instant AT = Instant.parse("2026-11-27T12:00:00Z");

    @TempDir Path dir;
    private final TestClock clock = new TestClock(AT);
    private KbsStore store;
    private KbsServer server;
    private KbsClient admin;
    private KbsClient workload;
    private final byte[] value = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");

    private void start(EvidenceVerifier snp) throws Exception {
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), clock);
        KeyBroker broker = new KeyBroker(store, new TeeVerifier(TestSupport.verifier(), snp), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 1000));
        Tls tls = Tls.selfSigned(Instant.now());
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0);
        URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
        var ctx = Tls.clientContextTrusting(tls.chain()[0]);
        admin = new KbsClient(base, store.createToken("local:test", Role.ADMIN, null).token(), ctx);
        admin.createNamespace("snp");
        admin.storeSecret("snp", "k", SecretKind.PF_KEY, value, false);
        admin.setPolicy("snp", "k", "MEASUREMENT:" + HexFormat.of().formatHex(SnpTestPki.measurement())
                + " VMPL:0 DEBUG:ALLOW");
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
    }

    @Test
    void snpGuestWhosePolicyMatchesGetsTheKey() throws Exception {
        SnpTestPki pki = new SnpTestPki(AT);
        start(SnpVerifier.withRoot(pki.arkDer));
        byte[] chain = pki.chain();
        KbsClient.Released r = workload.release("snp", "k", null, HpkeSuite.X25519, rd -> {
            try {
                return new byte[][] {pki.report(rd), chain};
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertThat(r.value()).isEqualTo(value);
        List<JsonNode> audit = admin.audit(0, 100);
        assertThat(audit.get(audit.size() - 1).get("detail").asText()).startsWith("kem X25519; SEV_SNP measurement "
                + HexFormat.of().formatHex(SnpTestPki.measurement()));
        // SGX evidence does not satisfy an SNP policy (and still verifies: both kinds go through one broker).
        assertThatThrownBy(() -> workload.release("snp", "k", null, HpkeSuite.X25519,
                TestSupport.source(TestSupport.good(), dev.cloister.attestation.TcbStatus.UP_TO_DATE, AT)))
                .hasMessage(KeyBroker.RELEASE_DENIED);
    }

    @Test
    void aRealAmdReportIsVerifiedByTheBroker() throws Exception {
        start(SnpVerifier.amdRoots());
        // go-sev-guest's Milan report, signed by a real VCEK under AMD's ARK: it verifies, but its report data was
        // made for someone else's nonce and key, so the release is denied, with that reason in the audit log.
        // Before, the broker took it for a malformed DCAP quote (400) and never looked at it.
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        var kp = HpkeSuite.X25519.generateKeyPair();
        var req = KbsClient.releaseRequest("snp", "k", null, nonce, new byte[][] {
            SnpTestPki.resource("gsg_milan_report.bin"), SnpTestPki.resource("gsg_milan_vcek.der")},
                HpkeSuite.X25519, HpkeSuite.X25519.publicKey(kp));
        HttpResponse<byte[]> r = workload.send("POST", "/v1/release", JSON.writeValueAsBytes(req));
        assertThat(r.statusCode()).isEqualTo(403);
        List<JsonNode> audit = admin.audit(0, 100);
        assertThat(audit.get(audit.size() - 1).get("detail").asText())
                .startsWith("report data is not SHA-256(nonce || publicKey)");
    }
}
