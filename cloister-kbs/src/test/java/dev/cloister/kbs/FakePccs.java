package dev.cloister.kbs;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.cloister.attestation.dcap.Collateral;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A PCCS on the loopback interface answering the PCS v4 requests ({@code /sgx|tdx/certification/v4/tcb},
 * {@code .../qe/identity}, {@code /sgx/certification/v4/pckcrl}, {@code .../rootcacrl}) from one collateral, the
 * way a PCCS does: signed bodies as JSON, issuer chains URL-encoded in headers, the PCK CRL as DER and the root CA
 * CRL as hex.
 */
final class FakePccs implements AutoCloseable {
    private final HttpServer server;
    private volatile Collateral collateral;
    final AtomicInteger requests = new AtomicInteger();

    FakePccs(byte[] collateralJson) throws Exception {
        serve(collateralJson);
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    /** Answers from this collateral from now on. */
    void serve(byte[] collateralJson) throws Exception {
        collateral = Collateral.parse(collateralJson);
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        Collateral c = collateral;
        String path = ex.getRequestURI().getPath();
        HexFormat hex = HexFormat.of();
        if (path.matches("/(sgx|tdx)/certification/v4/tcb")) {
            reply(ex, ("{\"tcbInfo\":" + c.tcbInfo() + ",\"signature\":\"" + hex.formatHex(c.tcbInfoSignature())
                    + "\"}").getBytes(StandardCharsets.UTF_8), "TCB-Info-Issuer-Chain", c.tcbInfoIssuerChain());
        } else if (path.matches("/(sgx|tdx)/certification/v4/qe/identity")) {
            reply(ex, ("{\"enclaveIdentity\":" + c.qeIdentity() + ",\"signature\":\""
                    + hex.formatHex(c.qeIdentitySignature()) + "\"}").getBytes(StandardCharsets.UTF_8),
                    "SGX-Enclave-Identity-Issuer-Chain", c.qeIdentityIssuerChain());
        } else if (path.equals("/sgx/certification/v4/pckcrl")) {
            reply(ex, c.pckCrl(), "SGX-PCK-CRL-Issuer-Chain", c.pckCrlIssuerChain());
        } else if (path.equals("/sgx/certification/v4/rootcacrl")) {
            reply(ex, hex.formatHex(c.rootCaCrl()).getBytes(StandardCharsets.US_ASCII), null, null);
        } else {
            ex.sendResponseHeaders(404, -1);
            ex.close();
        }
    }

    private static void reply(HttpExchange ex, byte[] body, String header, String value) throws IOException {
        if (header != null) {
            ex.getResponseHeaders().add(header, URLEncoder.encode(value, StandardCharsets.UTF_8));
        }
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
