package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET /metrics}: Prometheus text for admin and global auditor tokens, counting what the broker answered. */
class MetricsTest {
    @TempDir Path tmp;

    @Test
    void countsRequestsReleasesNoncesAndAuditEntriesWithoutNamingTenants() throws Exception {
        try (LocalBroker broker = LocalBroker.start(tmp.resolve("b"), "lab")) {
            String admin = broker.store().createToken("local:test", Role.ADMIN, null).token();
            String auditor = broker.store().createToken("local:test", Role.AUDITOR, null).token();
            HttpClient http = HttpClient.newBuilder().sslContext(broker.clientContext()).build();
            broker.anonymous().nonce();
            assertThatThrownBy(() -> broker.anonymous().call("POST", "/v1/release",
                    com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode()))
                    .isInstanceOf(KbsException.class);
            // One key released to evidence the policy accepts, one denied to another enclave.
            broker.owner().storeSecret("lab", "k", SecretKind.AES256, new byte[32], false);
            broker.owner().setPolicy("lab", "k", TestSupport.allowPolicy());
            KbsClient workload = broker.anonymous();
            workload.release("lab", "k", null, HpkeSuite.X25519, TestSupport.source(TestSupport.good(),
                    dev.cloister.attestation.TcbStatus.UP_TO_DATE, java.time.Instant.now()));
            assertThatThrownBy(() -> workload.release("lab", "k", null, HpkeSuite.X25519, TestSupport.source(
                    TestSupport.sgx(new byte[32], false, 1), dev.cloister.attestation.TcbStatus.UP_TO_DATE,
                    java.time.Instant.now()))).isInstanceOf(KbsException.class);

            assertThat(get(http, broker.url(), null).statusCode()).isEqualTo(401);
            assertThat(get(http, broker.url(), broker.ownerToken()).statusCode()).isEqualTo(403);
            HttpResponse<String> r = get(http, broker.url(), admin);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type").orElseThrow()).startsWith("text/plain");
            assertThat(r.body())
                    .contains("cloister_kbs_requests_total{endpoint=\"nonce\",status=\"200\"} 3")
                    .contains("cloister_kbs_requests_total{endpoint=\"release\",status=\"400\"} 1")
                    .contains("cloister_kbs_requests_total{endpoint=\"release\",status=\"200\"} 1")
                    .contains("cloister_kbs_releases_total{channel=\"https\",outcome=\"released\"} 1")
                    .contains("cloister_kbs_releases_total{channel=\"https\",outcome=\"denied\"} 1")
                    .contains("cloister_kbs_requests_total{endpoint=\"metrics\",status=\"403\"} 1")
                    .contains("cloister_kbs_nonces_issued_total 3")
                    .contains("cloister_kbs_nonce_replay_window 2")
                    .containsPattern("cloister_kbs_connections_open [1-9]")
                    .contains("cloister_kbs_connections_refused_total 0")
                    .contains("cloister_kbs_tls_handshake_timeouts_total 0")
                    .contains("cloister_kbs_request_duration_seconds_bucket{endpoint=\"nonce\",le=\"10.0\"} 3")
                    .doesNotContain("lab");
            assertThat(r.body()).containsPattern("cloister_kbs_audit_entries_appended_total [1-9]");
            assertThat(get(http, broker.url(), auditor).statusCode()).isEqualTo(200);
        }
    }

    private static HttpResponse<String> get(HttpClient http, URI base, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve("/metrics"));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
