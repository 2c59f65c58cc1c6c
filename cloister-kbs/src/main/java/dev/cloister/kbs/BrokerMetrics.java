package dev.cloister.kbs;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Set;

/**
 * The broker's Prometheus metrics, served at {@code GET /metrics}. Labels are bounded and name no tenant: the
 * endpoint (the first path segment, from a fixed list), the HTTP status, a release's channel and outcome.
 */
public final class BrokerMetrics {
    /** The endpoints that get their own label; anything else counts as {@code other}. */
    static final Set<String> ENDPOINTS = Set.of("health", "nonce", "release", "namespaces", "tokens", "secrets",
            "policies", "audit", "metrics");

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Counter requests;
    private final Histogram duration;

    /** Metrics over {@code broker}'s nonce store and audit log. */
    public BrokerMetrics(KeyBroker broker) {
        requests = Counter.builder().name("cloister_kbs_requests_total")
                .help("HTTP requests answered, by endpoint and status code").labelNames("endpoint", "status")
                .register(registry);
        duration = Histogram.builder().name("cloister_kbs_request_duration_seconds")
                .help("Time from reading a request to having written the answer, by endpoint").labelNames("endpoint")
                .classicOnly().classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
                .register(registry);
        CounterWithCallback.builder().name("cloister_kbs_releases_total")
                .help("Key release decisions: released (key sent) or denied (evidence or policy refused), over the "
                        + "HTTPS API or Gramine's RA-TLS secret provisioning")
                .labelNames("channel", "outcome")
                .callback(cb -> broker.releaseDecisions().forEach((k, v) -> {
                    String[] f = k.split(" ");
                    cb.call(v, f[0].equals("release") ? "https" : "gramine", f[1].equals("ok") ? "released" : "denied");
                })).register(registry);
        // Nonces are stateless (MAC'd and time-stamped): the broker holds none it has issued, only used ones.
        CounterWithCallback.builder().name("cloister_kbs_nonces_issued_total")
                .help("Release nonces issued by this broker process (they cost it no memory)")
                .callback(cb -> cb.call(broker.nonces().issued())).register(registry);
        GaugeWithCallback.builder().name("cloister_kbs_nonce_replay_window")
                .help("Used release nonces held until they expire, to refuse replays")
                .callback(cb -> cb.call(broker.nonces().replayWindow())).register(registry);
        CounterWithCallback.builder().name("cloister_kbs_release_refusals_unaudited_total")
                .help("Release requests refused before any attested workload was involved (malformed, bad or expired "
                        + "nonce, evidence that does not verify, replay window share full, RA-TLS handshake "
                        + "refused); counted here instead of the audit log")
                .labelNames("reason")
                .callback(cb -> broker.unauditedRefusals().forEach((k, v) -> cb.call(v, k))).register(registry);
        CounterWithCallback.builder().name("cloister_kbs_audit_entries_appended_total")
                .help("Audit entries this broker process has committed")
                .callback(cb -> cb.call(broker.store().auditEntriesAppended())).register(registry);
    }

    /** Adds the transport's connection counts. */
    void transport(HttpsTransport t) {
        GaugeWithCallback.builder().name("cloister_kbs_connections_open")
                .help("TLS connections open").callback(cb -> cb.call(t.openConnections())).register(registry);
        CounterWithCallback.builder().name("cloister_kbs_connections_refused_total")
                .help("Connections closed on accept because their client address held the most allowed")
                .callback(cb -> cb.call(t.refused.sum())).register(registry);
        CounterWithCallback.builder().name("cloister_kbs_tls_handshake_timeouts_total")
                .help("Connections closed because their TLS handshake did not finish in time")
                .callback(cb -> cb.call(t.handshakeTimeouts.sum())).register(registry);
    }

    /** Counts one answered request. */
    void request(String endpoint, int status, long nanos) {
        String e = ENDPOINTS.contains(endpoint) ? endpoint : "other";
        requests.labelValues(e, Integer.toString(status)).inc();
        duration.labelValues(e).observe(nanos / 1e9);
    }

    /** The content type of {@link #scrape()}. */
    String contentType() {
        return writer.getContentType();
    }

    /** The current values in the Prometheus text format. */
    byte[] scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
