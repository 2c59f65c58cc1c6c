package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.core.CloisterException.Kind;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The PCS/PCCS provider against a local HTTP server that answers like Intel's PCS v4, with the real responses
 * Automata's tests captured in June 2025 (bodies byte for byte, issuer chains in headers).
 */
class PcsCollateralProviderTest {
    static final byte[] QUOTE = TestData.bytes("automata/quote_v4_tdx_00806f050000.bin");
    static final Instant AT = Instant.ofEpochSecond(1749095100);

    HttpServer server;
    String base;
    final AtomicInteger requests = new AtomicInteger();
    final Map<String, Integer> failures = new ConcurrentHashMap<>();
    @TempDir
    Path cache;

    static String pem(String file) {
        return "-----BEGIN CERTIFICATE-----\n" + Base64.getMimeEncoder().encodeToString(TestData.bytes(file))
                + "\n-----END CERTIFICATE-----\n";
    }

    @BeforeEach
    void start() throws IOException {
        String root = pem("automata/certs/intel_sgx_root_ca.der");
        String signing = URLEncoder.encode(pem("automata/certs/intel_sgx_tcb_signing.der") + root,
                StandardCharsets.UTF_8);
        String platform = URLEncoder.encode(pem("automata/certs/intel_sgx_pck_platform_ca.der") + root,
                StandardCharsets.UTF_8);
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            requests.incrementAndGet();
            String path = ex.getRequestURI().getPath();
            String query = ex.getRequestURI().getQuery();
            if (failures.containsKey(path)) {
                reply(ex, failures.get(path), new byte[0], null, null);
                return;
            }
            switch (path) {
                case "/tdx/certification/v4/tcb" -> {
                    if (!"fmspc=00806F050000".equals(query)) {
                        reply(ex, 404, new byte[0], null, null);
                    } else {
                        reply(ex, 200, TestData.bytes("automata/pcs_0625/tcbinfov3_00806f050000.json"),
                                "TCB-Info-Issuer-Chain", signing);
                    }
                }
                case "/tdx/certification/v4/qe/identity" -> reply(ex, 200, TestData.bytes("automata/pcs_0625/qe_td.json"),
                        "SGX-Enclave-Identity-Issuer-Chain", signing);
                case "/sgx/certification/v4/pckcrl" -> {
                    if (!"ca=platform&encoding=der".equals(query)) {
                        reply(ex, 400, new byte[0], null, null);
                    } else {
                        reply(ex, 200, TestData.bytes("automata/pcs_0625/platform_crl_0625.der"),
                                "SGX-PCK-CRL-Issuer-Chain", platform);
                    }
                }
                // PCCS answers the root CA CRL as hex text
                case "/sgx/certification/v4/rootcacrl" -> reply(ex, 200, HexFormat.of().formatHex(
                        TestData.bytes("automata/certs/intel_sgx_root_ca_crl.der")).getBytes(), null, null);
                default -> reply(ex, 404, new byte[0], null, null);
            }
        });
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    static void reply(HttpExchange ex, int code, byte[] body, String header, String value) throws IOException {
        if (header != null) {
            ex.getResponseHeaders().add(header, value);
        }
        ex.sendResponseHeaders(code, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        }
        ex.close();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void fetchesAssemblesCachesAndVerifies() throws Exception {
        DcapVerifier v = DcapVerifier.intelRoot().withCollateralSource(PcsCollateralProvider.online(base, cache));
        VerifiedEvidence e = v.verify(QUOTE, null, AT);
        assertThat(e.tcbStatus()).isEqualTo(TcbStatus.OUT_OF_DATE);
        assertThat(e.advisoryIds()).containsExactly("INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986");
        assertThat(requests.get()).isEqualTo(4);
        Path file = cache.resolve("tdx-00806F050000-platform.json");
        assertThat(file).exists();
        // the signed text was cut out exactly: same as the hand-assembled collateral of the shared test data
        Collateral mine = Collateral.parse(Files.readAllBytes(file));
        Collateral theirs = Collateral.parse(TestData.bytes("automata/collateral_v4_tdx_0625_assembled.json"));
        assertThat(mine.tcbInfo()).isEqualTo(theirs.tcbInfo());
        assertThat(mine.qeIdentity()).isEqualTo(theirs.qeIdentity());

        // second verification comes from the cache
        v.verify(QUOTE, null, AT.plusSeconds(3600));
        assertThat(requests.get()).isEqualTo(4);
        // so does an offline provider
        DcapVerifier off = DcapVerifier.intelRoot().withCollateralSource(PcsCollateralProvider.offline(cache));
        assertThat(off.verify(QUOTE, null, AT).tcbStatus()).isEqualTo(TcbStatus.OUT_OF_DATE);
        assertThat(requests.get()).isEqualTo(4);
    }

    @Test
    void staleCacheIsRefetchedOnlineAndRefusedOffline() throws Exception {
        PcsCollateralProvider online = PcsCollateralProvider.online(base, cache);
        CollateralRequest req = new CollateralRequest(TeeType.TDX, HexFormat.of().parseHex("00806F050000"), "platform");
        online.collateralFor(req, AT);
        Instant later = Instant.parse("2025-08-01T00:00:00Z"); // after every nextUpdate of June's collateral
        assertThatThrownBy(() -> PcsCollateralProvider.offline(cache).collateralFor(req, later))
                .isInstanceOfSatisfying(EvidenceException.class, e -> {
                    assertThat(e.kind()).isEqualTo(Kind.ENVIRONMENT);
                    assertThat(e.reason()).isEqualTo(dev.cloister.attestation.ReasonCode.COLLATERAL_UNAVAILABLE);
                })
                .hasMessageContaining("offline: no cached collateral valid at " + later);
        online.collateralFor(req, later); // the server only has June's: fetched again, still stale, returned anyway
        assertThat(requests.get()).isEqualTo(8);
    }

    @Test
    void offlineWithoutCacheAndServerErrorsAreEnvironmentErrors() {
        CollateralRequest req = new CollateralRequest(TeeType.TDX, HexFormat.of().parseHex("00806F050000"), "platform");
        assertThatThrownBy(() -> PcsCollateralProvider.offline(cache).collateralFor(req, AT))
                .isInstanceOfSatisfying(EvidenceException.class, e -> {
                    assertThat(e.kind()).isEqualTo(Kind.ENVIRONMENT);
                    assertThat(e.reason()).isEqualTo(dev.cloister.attestation.ReasonCode.COLLATERAL_UNAVAILABLE);
                });
        failures.put("/tdx/certification/v4/qe/identity", 503);
        assertThatThrownBy(() -> PcsCollateralProvider.online(base, cache).collateralFor(req, AT))
                .isInstanceOfSatisfying(EvidenceException.class, e -> {
                    assertThat(e.kind()).isEqualTo(Kind.ENVIRONMENT);
                    assertThat(e.reason()).isEqualTo(dev.cloister.attestation.ReasonCode.COLLATERAL_UNAVAILABLE);
                })
                .hasMessageContaining("HTTP 503");
        CollateralRequest other = new CollateralRequest(TeeType.TDX, new byte[6], "platform");
        assertThatThrownBy(() -> PcsCollateralProvider.online(base, null).collateralFor(other, AT))
                .hasMessageContaining("HTTP 404");
        assertThat(cache).isEmptyDirectory();
    }

    @Test
    void noSourceAndNoCollateralIsBadInput() {
        assertThatThrownBy(() -> DcapVerifier.intelRoot().verify(QUOTE, null, AT))
                .isInstanceOfSatisfying(EvidenceException.class, e -> assertThat(e.kind()).isEqualTo(Kind.BAD_INPUT));
    }

    @Test
    void crlBodiesInEveryEncoding() throws Exception {
        byte[] der = TestData.bytes("automata/certs/intel_sgx_root_ca_crl.der");
        assertThat(PcsCollateralProvider.crlBytes(der, "x")).isEqualTo(der);
        assertThat(PcsCollateralProvider.crlBytes(HexFormat.of().formatHex(der).getBytes(), "x")).isEqualTo(der);
        String pem = "-----BEGIN X509 CRL-----\n" + Base64.getMimeEncoder().encodeToString(der) + "\n-----END X509 CRL-----\n";
        assertThat(PcsCollateralProvider.crlBytes(pem.getBytes(), "x")).isEqualTo(der);
        assertThatThrownBy(() -> PcsCollateralProvider.crlBytes("zz".getBytes(), "x")).hasMessageContaining("neither");
    }
}
